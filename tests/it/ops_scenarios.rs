//! Scenario tests of the engine against the simulated estate: every request each operation makes,
//! exactly (method, path, content type, body), in order, including refusals.
use crate::ops_support::{Estate, confirm, prepare, run, shape};
use serde_json::{Value, json};
use shipdeck::ops::{OutcomeStatus, Request};

const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
const BLUE_WEB: &str = "/apis/apps/v1/namespaces/shop-blue/deployments/web";

fn ssar(ns: &str, verb: &str, resource: &str, sub: Option<&str>, name: &str) -> Value {
    let mut attrs =
        json!({"namespace": ns, "verb": verb, "group": "apps", "resource": resource, "name": name});
    if let Some(s) = sub {
        attrs["subresource"] = s.into();
    }
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {"resourceAttributes": attrs}})
}

/// The ReplicaSet of `deploy` with this revision, from the store.
fn rs_of_revision(e: &Estate, ns: &str, app: &str, rev: i64) -> Value {
    let (list, _) = e
        .demo
        .store()
        .list(shipdeck::demo::store::Kind::ReplicaSet, Some(ns));
    list.into_iter()
        .find(|rs| {
            rs["metadata"]["labels"]["app"] == app
                && rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .is_some_and(|r| r == rev.to_string())
        })
        .expect("replica set of revision")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_makes_exactly_kubectls_requests() {
    let mut e = Estate::start(40.0).await;
    let ctx = e.ctx();
    let before = e.deploy("shop-blue", "web");
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let rev: i64 = before["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    e.demo.kube_server().start_recording();
    let preview = prepare(
        ctx.clone(),
        Request::Rollback {
            app: "web".into(),
            env: "production".into(),
            to_revision: None,
        },
    )
    .await;
    assert!(!preview.noop);
    assert_eq!(preview.confirm_name.as_deref(), Some("web"));
    assert!(preview.failed_checks().is_empty(), "{:?}", preview.checks);
    let text = preview.render_text(120);
    assert!(text.contains("Template diff"), "{text}");
    assert!(text.contains("1.4.0"), "{text}");

    // The patch kubectl would send, from the previous revision's ReplicaSet.
    let rs = rs_of_revision(&e, "shop-blue", "web", rev - 1);
    let mut template = rs["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    let mut annotations = serde_json::Map::new();
    for (k, v) in before["metadata"]["annotations"].as_object().unwrap() {
        if shipdeck::ops::rollback::ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in rs["metadata"]["annotations"].as_object().unwrap() {
        if !shipdeck::ops::rollback::ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let patch = json!([
        {"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    // The preview's dry-run carries no precondition; the write leads with the previewed one.
    let dry_patch = json!(patch.as_array().unwrap()[1..]);
    let jp = Some("application/json-patch+json".to_string());
    let prepared: Vec<_> = e.recorded();
    let shapes: Vec<_> = prepared.iter().map(shape).collect();
    assert_eq!(
        shapes,
        vec![
            (
                "POST".into(),
                SSAR.into(),
                Some("application/json".into()),
                ssar("shop-blue", "patch", "deployments", None, "web")
            ),
            ("GET".into(), BLUE_WEB.into(), None, Value::Null),
            (
                "GET".into(),
                "/apis/apps/v1/namespaces/shop-blue/replicasets".into(),
                None,
                Value::Null
            ),
            ("PATCH".into(), BLUE_WEB.into(), jp.clone(), dry_patch),
        ]
    );
    assert_eq!(
        prepared[2].query.trim_start_matches('&'),
        "labelSelector=app%3Dweb"
    );
    assert_eq!(
        prepared[3].query.trim_start_matches('&'),
        "dryRun=All&fieldManager=shipdeck"
    );

    let (outcome, events) = run(preview, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert_eq!(outcome.steps_done, vec!["patch-deployment", "wait-rollout"]);
    assert!(matches!(
        events.last(),
        Some(shipdeck::ops::OpEvent::Finished(_))
    ));
    let ran = e.recorded();
    let lines: Vec<String> = ran
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        shape(&ran[0]),
        ("GET".into(), BLUE_WEB.into(), None, Value::Null)
    );
    assert_eq!(shape(&ran[1]), ("PATCH".into(), BLUE_WEB.into(), jp, patch));
    assert_eq!(
        ran[1].query.trim_start_matches('&'),
        "fieldManager=shipdeck"
    );
    // The rollout wait: a list then a watch of the one Deployment.
    assert_eq!(
        ran[2].path,
        "/apis/apps/v1/namespaces/shop-blue/deployments"
    );
    assert!(
        ran[2].query.contains("fieldSelector=metadata.name%3Dweb"),
        "{}",
        ran[2].query
    );
    let n = ran.len();
    // The Event: read the uid, then POST the Event.
    assert_eq!(lines[n - 2], format!("GET {BLUE_WEB}"), "{lines:#?}");
    assert_eq!(ran[n - 1].method, "POST");
    assert_eq!(ran[n - 1].path, "/api/v1/namespaces/shop-blue/events");
    assert_eq!(ran[n - 1].body["reason"], "ShipdeckRollback");
    assert_eq!(ran[n - 1].body["source"]["component"], "shipdeck");
    assert_eq!(ran[n - 1].body["involvedObject"]["name"], "web");
    for r in &ran[3..n - 2] {
        assert_eq!(r.method, "GET", "only the watch between: {lines:#?}");
    }
    let after = e.deploy("shop-blue", "web");
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        template["spec"]["containers"][0]["image"]
    );
}

fn fixed_ctx(e: &Estate) -> std::sync::Arc<shipdeck::ops::OpContext> {
    std::sync::Arc::new(
        shipdeck::ops::OpContext::new(e.config.clone(), false)
            .with_data_dir(e.data_dir())
            .with_clock(shipdeck::clock::Clock::fixed(
                "2026-11-27T19:00:00Z".parse().unwrap(),
            )),
    )
}

const GREEN_WEB: &str = "/apis/apps/v1/namespaces/shop-green/deployments/web";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_scale_make_exactly_these_requests() {
    use shipdeck::ops::PatchChange;
    let mut e = Estate::start(40.0).await;
    let ctx = fixed_ctx(&e);
    let smp = Some("application/strategic-merge-patch+json".to_string());
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-27T19:00:00Z"}}}}});
    e.demo.kube_server().start_recording();
    let p = prepare(
        ctx.clone(),
        Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Restart,
        },
    )
    .await;
    let rv = e.deploy("shop-green", "web")["metadata"]["resourceVersion"].clone();
    assert_eq!(
        e.recorded().iter().map(shape).collect::<Vec<_>>(),
        vec![
            ("GET".into(), GREEN_WEB.into(), None, Value::Null),
            (
                "POST".into(),
                SSAR.into(),
                Some("application/json".into()),
                ssar("shop-green", "patch", "deployments", None, "web")
            ),
            (
                "PATCH".into(),
                GREEN_WEB.into(),
                smp.clone(),
                restart.clone()
            ),
        ]
    );
    let (outcome, _) = run(p, Default::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let ran = e.recorded();
    let mut with_rv = restart.clone();
    with_rv["metadata"] = json!({"resourceVersion": rv});
    assert_eq!(
        shape(&ran[0]),
        ("GET".into(), GREEN_WEB.into(), None, Value::Null)
    );
    assert_eq!(
        shape(&ran[1]),
        ("PATCH".into(), GREEN_WEB.into(), smp, with_rv)
    );
    assert_eq!(ran.last().unwrap().body["reason"], "ShipdeckPatch");
    assert_eq!(
        e.deploy("shop-green", "web")["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2026-11-27T19:00:00Z"
    );

    // Scale: the scale subresource, merge patch.
    let p = prepare(
        ctx.clone(),
        Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Replicas(5),
        },
    )
    .await;
    let rv = e.deploy("shop-green", "web")["metadata"]["resourceVersion"].clone();
    let mp = Some("application/merge-patch+json".to_string());
    let scale_path = format!("{GREEN_WEB}/scale");
    assert_eq!(
        e.recorded().iter().map(shape).collect::<Vec<_>>(),
        vec![
            ("GET".into(), GREEN_WEB.into(), None, Value::Null),
            (
                "POST".into(),
                SSAR.into(),
                Some("application/json".into()),
                ssar("shop-green", "patch", "deployments", Some("scale"), "web")
            ),
            (
                "PATCH".into(),
                scale_path.clone(),
                mp.clone(),
                json!({"spec": {"replicas": 5}})
            ),
        ]
    );
    assert!(
        p.render_text(200)
            .contains("replicas 3 → 5 (server dry-run)")
    );
    let (outcome, _) = run(p, Default::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let ran = e.recorded();
    assert_eq!(
        shape(&ran[1]),
        (
            "PATCH".into(),
            scale_path,
            mp,
            json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 5}})
        )
    );
    assert_eq!(e.deploy("shop-green", "web")["spec"]["replicas"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_send_no_write() {
    use shipdeck::ops::{OpError, PatchChange};
    let mut e = Estate::start(40.0).await;
    let ctx = e.ctx();
    // Pause api in develop, then a rollback is refused (kubectl: resume it first).
    let p = prepare(
        ctx.clone(),
        Request::Patch {
            app: "api".into(),
            env: "develop".into(),
            change: PatchChange::Pause,
        },
    )
    .await;
    assert_eq!(p.plan.steps.len(), 1, "pause does not wait for a rollout");
    let (outcome, _) = run(p, Default::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert_eq!(e.deploy("shop-develop", "api")["spec"]["paused"], true);

    e.demo.kube_server().start_recording();
    let p = prepare(
        ctx.clone(),
        Request::Rollback {
            app: "api".into(),
            env: "develop".into(),
            to_revision: None,
        },
    )
    .await;
    let lines: Vec<String> = e.recorded().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        vec![
            format!("POST {SSAR}"),
            "GET /apis/apps/v1/namespaces/shop-develop/deployments/api".to_string(),
            "GET /apis/apps/v1/namespaces/shop-develop/replicasets?&labelSelector=app%3Dapi"
                .to_string(),
        ],
        "no dry-run for a refused rollback"
    );
    let (outcome, _) = run(
        p,
        shipdeck::ops::Confirmation {
            typed_name: None,
            override_reason: Some("please".into()),
        },
    )
    .await;
    match &outcome.status {
        OutcomeStatus::Refused {
            error: OpError::Refused(m),
        } => assert!(m.contains("resume it first"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(e.recorded().is_empty(), "nothing sent by a refused run");

    // Read-only: the preview reads, the run refuses without a request.
    let ro = e.ctx_with(e.config.clone(), true);
    let p = prepare(
        ro,
        Request::Patch {
            app: "api".into(),
            env: "develop".into(),
            change: PatchChange::Resume,
        },
    )
    .await;
    let ro_check = p.checks.iter().find(|c| c.id == "read-only").unwrap();
    assert_eq!(ro_check.status, shipdeck::ops::CheckStatus::Fail);
    e.recorded();
    let (outcome, _) = run(p, Default::default()).await;
    assert_eq!(outcome.exit_code(), 3);
    assert!(outcome.message.contains("read-only"), "{}", outcome.message);
    assert!(e.recorded().is_empty());
    assert_eq!(e.deploy("shop-develop", "api")["spec"]["paused"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_the_current_revision_is_a_no_op() {
    let mut e = Estate::start(40.0).await;
    let ctx = e.ctx();
    let rev: i64 = e.deploy("shop-blue", "web")["metadata"]["annotations"]
        ["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    e.demo.kube_server().start_recording();
    let p = prepare(
        ctx.clone(),
        Request::Rollback {
            app: "web".into(),
            env: "production".into(),
            to_revision: Some(rev),
        },
    )
    .await;
    assert!(p.noop);
    assert!(p.plan.steps.is_empty());
    assert!(
        p.render_text(200).contains(&format!(
            "skipped rollback (current template already matches revision {rev})"
        )),
        "{}",
        p.render_text(200)
    );
    e.recorded();
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::NoOp);
    assert_eq!(outcome.exit_code(), 0);
    assert!(
        e.recorded().iter().all(|r| r.method != "PATCH"),
        "a no-op patches nothing"
    );
    let err = shipdeck::ops::prepare(
        ctx,
        Request::Rollback {
            app: "web".into(),
            env: "production".into(),
            to_revision: Some(99),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not found: unable to find specified revision 99 in history"
    );
    assert_eq!(err.exit_code(), 1);
}
