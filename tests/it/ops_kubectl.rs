//! kubectl cross-check: from the same starting state (two demos with the same seed), `shipdeck
//! rollback` through the engine and `kubectl rollout undo` leave the same Deployment template and
//! annotations and the same `kubectl rollout history`.
use crate::kubectl_rollout::Sim;
use crate::ops_support::{confirm, prepare, run};
use shipdeck::config::Config;
use shipdeck::ops::{Identity, OpContext, OutcomeStatus, Request};
use std::sync::Arc;

fn ctx(s: &Sim) -> Arc<OpContext> {
    let config = Config::load(&s.dir.path().join("config.toml")).unwrap();
    Arc::new(
        OpContext::new(config, false)
            .with_data_dir(s.dir.path().join("data"))
            .with_identity(Identity {
                user: "ana".into(),
                host: "deck".into(),
            }),
    )
}

async fn history(s: &Sim) -> String {
    let out = s
        .k(&["rollout", "history", "deploy/web", "-n", "shop-blue"])
        .await;
    out.ok().to_string()
}

async fn shipdeck_undo(s: &Sim, to_revision: Option<i64>) {
    let p = prepare(
        ctx(s),
        Request::Rollback {
            app: "web".into(),
            env: "production".into(),
            to_revision,
        },
    )
    .await;
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
}

async fn kubectl_undo(s: &Sim, to_revision: Option<i64>) {
    let mut args = vec!["rollout", "undo", "deploy/web", "-n", "shop-blue"];
    let rev = to_revision.map(|r| format!("--to-revision={r}"));
    if let Some(r) = &rev {
        args.push(r);
    }
    let out = s.k(&args).await;
    assert!(out.ok().contains("rolled back"), "{}", out.ok());
    let st = s
        .k(&[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "shop-blue",
            "--timeout=60s",
        ])
        .await;
    assert!(st.ok().contains("successfully rolled out"), "{}", st.ok());
}

/// kubectl encodes Go structs, so its body carries `creationTimestamp: null` and `resources: {}`
/// that a real API server normalises away on storage (the simulated one stores bodies as sent):
/// compare with nulls and empty objects removed.
fn normalise(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalise(v)))
                .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

fn state(s: &Sim) -> (serde_json::Value, serde_json::Value) {
    let d = s.deploy("shop-blue", "web");
    (
        normalise(&d["spec"]["template"]),
        d["metadata"]["annotations"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipdeck_rollback_matches_kubectl_rollout_undo() {
    let ours = Sim::start(40.0).await;
    let theirs = Sim::start(40.0).await;
    assert_eq!(state(&ours), state(&theirs), "same starting state");
    assert_eq!(history(&ours).await, history(&theirs).await);

    shipdeck_undo(&ours, None).await;
    kubectl_undo(&theirs, None).await;
    assert_eq!(
        state(&ours),
        state(&theirs),
        "after undo to the previous revision"
    );
    let h = history(&ours).await;
    assert_eq!(h, history(&theirs).await);
    assert!(h.contains("REVISION"), "{h}");

    shipdeck_undo(&ours, Some(1)).await;
    kubectl_undo(&theirs, Some(1)).await;
    assert_eq!(state(&ours), state(&theirs), "after undo --to-revision=1");
    assert_eq!(history(&ours).await, history(&theirs).await);
    let image = state(&ours).0["spec"]["containers"][0]["image"].clone();
    assert_eq!(image, "registry.local/shop/web:1.3.0");
}
