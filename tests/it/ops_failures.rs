//! Failure tests of the engine: 403 on the access review, 409 when the Deployment changed after
//! the preview, the API server down mid-rollout (back in time, and gone for good), a regression
//! found by verify after a bad image, cancellation — each with a clear message and a whole journal.
use crate::ops_support::{Estate, confirm, prepare, run};
use shipdeck::demo::kube_api::{KubeApiOptions, KubeApiServer};
use shipdeck::ops::audit;
use shipdeck::ops::{Confirmation, OpError, OpEvent, OutcomeStatus, PatchChange, Request};
use std::time::Duration;

fn phases(e: &Estate, op_id: &str) -> Vec<(String, Option<String>)> {
    audit::read(&e.data_dir().join("audit.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r.op_id == op_id)
        .map(|r| (r.phase, r.result))
        .collect()
}

fn s(p: &str, r: Option<&str>) -> (String, Option<String>) {
    (p.to_string(), r.map(str::to_string))
}

async fn kube_client(url: &str) -> kube::Client {
    shipdeck::install_crypto();
    let cfg = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_review_denied_refuses_without_writing() {
    let e = Estate::start(40.0).await;
    // A second API server on the same store that denies patching Deployments.
    let denied = KubeApiServer::start(
        e.demo.store().clone(),
        KubeApiOptions {
            denied: vec![("patch".into(), "deployments".into())],
            ..KubeApiOptions::default()
        },
    )
    .await
    .unwrap();
    denied.start_recording();
    let ctx = e.ctx();
    ctx.set_kube("staging", kube_client(&denied.url()).await)
        .await;
    let p = prepare(
        ctx,
        Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Restart,
        },
    )
    .await;
    let access = p.checks.iter().find(|c| c.id == "access").unwrap();
    assert!(!access.overridable);
    assert!(access.detail.contains("denied"), "{access:?}");
    assert!(
        p.render_text(200)
            .contains("[FAIL] may patch deployments in shop-green")
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n == "no server-side dry-run: the access review denied the write"),
        "{:?}",
        p.notes
    );
    let (outcome, _) = run(
        p,
        Confirmation {
            typed_name: None,
            // A reason cannot override an access denial.
            override_reason: Some("I know".into()),
        },
    )
    .await;
    assert!(
        matches!(outcome.status, OutcomeStatus::Refused { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_code(), 3);
    assert!(
        outcome.message.contains("may patch deployments"),
        "{}",
        outcome.message
    );
    let writes: Vec<String> = denied
        .take_recorded()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.line())
        .collect();
    assert_eq!(
        writes,
        vec!["POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews".to_string()],
        "only the access review was sent: no dry-run, no write"
    );
    assert_eq!(phases(&e, &outcome.op_id), vec![s("refused", None)]);
    assert!(
        e.deploy("shop-green", "web")["spec"]["template"]["metadata"]["annotations"]
            ["kubectl.kubernetes.io/restartedAt"]
            .is_null()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_after_preview_is_a_conflict_not_an_overwrite() {
    let e = Estate::start(40.0).await;
    let ctx = e.ctx();
    let p = prepare(
        ctx.clone(),
        Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Image("1.9.9".into()),
        },
    )
    .await;
    // Someone else changes the Deployment in between.
    let client = ctx.kube("staging").await.unwrap();
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "shop-green");
    api.patch(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let (outcome, _) = run(p, Confirmation::default()).await;
    match &outcome.status {
        OutcomeStatus::Failed {
            error: OpError::Conflict { object, .. },
        } => assert_eq!(object, "deployment/web in shop-green"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        outcome.message.contains("changed since the preview"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("no step took effect"),
        "{}",
        outcome.message
    );
    let d = e.deploy("shop-green", "web");
    assert_eq!(d["spec"]["replicas"], 5, "their change kept");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"], "registry.local/shop/web:1.4.2",
        "ours not written"
    );
    assert_eq!(
        phases(&e, &outcome.op_id),
        vec![
            s("start", None),
            s("step_begin", None),
            s("step_end", Some("failed")),
            s("finish", Some("failed")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_down_mid_rollout() {
    let mut e = Estate::start(8.0).await;
    let mut config = e.config.clone();
    config.ops.api_unreachable_secs = 3;
    let ctx = e.ctx_with(config, false);

    // 1. Down briefly: the wait resumes when the server is back and the rollout completes.
    let p = prepare(
        ctx.clone(),
        Request::Rollback {
            app: "web".into(),
            env: "staging".into(),
            to_revision: None,
        },
    )
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = tokio::spawn(shipdeck::ops::run(
        p,
        Confirmation::default(),
        tx,
        tokio_util::sync::CancellationToken::new(),
    ));
    while let Some(ev) = rx.recv().await {
        if matches!(&ev, OpEvent::Step { name, .. } if name == "wait-rollout") {
            break;
        }
    }
    e.demo.kube_server().stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.demo.kube_server().restart().await.unwrap();
    let mut saw_unreachable = false;
    while let Some(ev) = rx.recv().await {
        if let OpEvent::Progress { message, .. } = &ev {
            saw_unreachable |= message.contains("API server unreachable");
        }
    }
    let outcome = task.await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert!(
        saw_unreachable,
        "progress said the API server was unreachable"
    );

    // 2. Down for good: the step fails after the grace with a clear message; journal complete.
    let p = prepare(
        ctx.clone(),
        Request::Rollback {
            app: "web".into(),
            env: "staging".into(),
            to_revision: None,
        },
    )
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = tokio::spawn(shipdeck::ops::run(
        p,
        Confirmation::default(),
        tx,
        tokio_util::sync::CancellationToken::new(),
    ));
    while let Some(ev) = rx.recv().await {
        if matches!(&ev, OpEvent::Step { name, .. } if name == "wait-rollout") {
            break;
        }
    }
    e.demo.kube_server().stop().await;
    while rx.recv().await.is_some() {}
    let outcome = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap();
    e.demo.kube_server().restart().await.unwrap();
    assert!(
        matches!(outcome.status, OutcomeStatus::Failed { .. }),
        "{outcome:?}"
    );
    assert!(
        outcome.message.contains("API server unreachable"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("done before it: patch-deployment"),
        "{}",
        outcome.message
    );
    assert_eq!(
        phases(&e, &outcome.op_id),
        vec![
            s("start", None),
            s("step_begin", None),
            s("step_end", Some("ok")),
            s("step_begin", None),
            s("step_end", Some("failed")),
            s("finish", Some("failed")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_before_a_step_says_what_was_done() {
    let e = Estate::start(40.0).await;
    let p = prepare(
        e.ctx(),
        Request::Patch {
            app: "api".into(),
            env: "develop".into(),
            change: PatchChange::Pause,
        },
    )
    .await;
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let (tx, _rx) = tokio::sync::mpsc::channel(256);
    let outcome = shipdeck::ops::run(p, Confirmation::default(), tx, cancel).await;
    assert_eq!(outcome.status, OutcomeStatus::Cancelled);
    assert_eq!(outcome.exit_code(), 4);
    assert!(
        outcome.message.contains("no step was done"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("not done: patch-deployment"),
        "{}",
        outcome.message
    );
    assert!(e.deploy("shop-develop", "api")["spec"]["paused"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_image_regression_is_flagged_and_rolled_back() {
    let e = Estate::start(20.0).await;
    let world: std::sync::Arc<dyn shipdeck::demo::traffic::TrafficSource> =
        std::sync::Arc::new(e.demo.world().clone());
    let prom = shipdeck::demo::prometheus::start_prometheus(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = e.config.clone();
    config.prometheus = Some(shipdeck::backend::prometheus::PrometheusConfig::new(
        prom.url(),
    ));
    config.ops.verify_window_secs = 60;
    let ctx = e.ctx_with(config, false);
    // Let Prometheus gather a healthy "before" window.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = prepare(
        ctx.clone(),
        Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Image("1.4.3-bad".into()),
        },
    )
    .await;
    assert!(p.plan.verify.is_some());
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(
        outcome.status,
        OutcomeStatus::Regressed,
        "{}",
        outcome.message
    );
    let report = outcome.verify.clone().unwrap();
    assert!(
        report.error_ratio_after.unwrap() > report.error_ratio_before.unwrap() + 0.02,
        "{report:?}"
    );
    assert!(
        outcome.message.contains("regression"),
        "{}",
        outcome.message
    );
    let rollback = outcome.suggested_rollback.clone().unwrap();
    assert_eq!(
        rollback,
        Request::Rollback {
            app: "web".into(),
            env: "staging".into(),
            to_revision: None
        }
    );
    // The one-key rollback.
    let p = prepare(ctx.clone(), rollback).await;
    let (back, _) = run(p, confirm("web")).await;
    assert!(
        matches!(back.status, OutcomeStatus::Done | OutcomeStatus::Regressed),
        "{}",
        back.message
    );
    assert_eq!(
        e.deploy("shop-green", "web")["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/web:1.4.2"
    );
    let ops = audit::summaries(
        &audit::read(&e.data_dir().join("audit.jsonl")).unwrap(),
        None,
    );
    assert_eq!(ops[0].result, "regressed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_image_verifies_healthy() {
    let e = Estate::start(20.0).await;
    let world: std::sync::Arc<dyn shipdeck::demo::traffic::TrafficSource> =
        std::sync::Arc::new(e.demo.world().clone());
    let prom = shipdeck::demo::prometheus::start_prometheus(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = e.config.clone();
    config.prometheus = Some(shipdeck::backend::prometheus::PrometheusConfig::new(
        prom.url(),
    ));
    config.ops.verify_window_secs = 60;
    let ctx = e.ctx_with(config, false);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = prepare(
        ctx,
        Request::Patch {
            app: "web".into(),
            env: "develop".into(),
            change: PatchChange::Image("1.5.2".into()),
        },
    )
    .await;
    let (outcome, events) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let report = outcome.verify.clone().unwrap();
    assert_eq!(
        report.verdict,
        shipdeck::ops::verify::Verdict::Healthy,
        "{report:?}"
    );
    assert!(
        report.error_ratio_before.is_some() && report.p99_after.is_some(),
        "{report:?}"
    );
    assert!(outcome.suggested_rollback.is_none());
    assert!(
        events.iter().any(|ev| matches!(ev, OpEvent::Progress { message, .. } if message.starts_with("verifying web in develop"))),
        "verify reports its progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_waiting_for_a_rollout() {
    let e = Estate::start(40.0).await;
    let p = prepare(
        e.ctx(),
        Request::Rollback {
            app: "worker".into(),
            env: "production".into(),
            to_revision: None,
        },
    )
    .await;
    // The world stands still: the rollout cannot finish.
    e.demo.world().pause();
    let mut h = shipdeck::ops::spawn(p, confirm("worker"));
    let mut progress = shipdeck::ops::OpProgress::default();
    while let Some(ev) = h.events.recv().await {
        progress.apply(&ev);
        if matches!(&ev, OpEvent::Step { name, .. } if name == "wait-rollout") {
            h.cancel.cancel();
        }
    }
    let outcome = h.task.await.unwrap();
    e.demo.world().resume();
    assert_eq!(outcome.status, OutcomeStatus::Cancelled);
    assert_eq!(outcome.steps_done, vec!["patch-deployment"]);
    assert!(
        outcome
            .message
            .contains("done: patch-deployment; not done: wait-rollout"),
        "{}",
        outcome.message
    );
    assert!(progress.finished());
    assert_eq!(progress.done, vec!["patch-deployment"]);
    assert_eq!(
        phases(&e, &outcome.op_id),
        vec![
            s("start", None),
            s("step_begin", None),
            s("step_end", Some("ok")),
            s("step_begin", None),
            s("step_end", Some("cancelled")),
            s("finish", Some("cancelled")),
        ]
    );
}
