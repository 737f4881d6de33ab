//! Engine flows beyond rollback: promote's exact requests, the critical-alert rail and its audited
//! override, approve through the simulated GitHub, silences through the simulated Alertmanager,
//! the app × environment lock, and the Slack webhook (escaping, no retry on permanent errors).
use crate::ops_support::{Estate, confirm, prepare, run, shape};
use serde_json::{Value, json};
use shipdeck::ops::{Confirmation, OpError, OutcomeStatus, PatchChange, Request};
use std::sync::Arc;

const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

fn promote_web() -> Request {
    Request::Promote {
        app: "web".into(),
        from: None,
        to: "production".into(),
        reason: Some("release 1.4.2".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_makes_exactly_these_requests() {
    let mut e = Estate::start(40.0).await;
    let ctx = e.ctx();
    let rv = e.deploy("shop-blue", "web")["metadata"]["resourceVersion"].clone();
    e.demo.kube_server().start_recording();
    let p = prepare(ctx.clone(), promote_web()).await;
    assert!(p.failed_checks().is_empty(), "{:?}", p.checks);
    let image = p.images[0].to.clone();
    assert!(
        image.starts_with("registry.local/shop/web:1.4.2@sha256:"),
        "{image}"
    );
    assert_eq!(p.images[0].from, "registry.local/shop/web:1.4.1");
    let body = json!({
        "metadata": {"annotations": {"kubernetes.io/change-cause": "shipdeck promote from staging by ana: release 1.4.2"}, "resourceVersion": rv},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
    });
    let mut dry_body = body.clone();
    dry_body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let smp = Some("application/strategic-merge-patch+json".to_string());
    let got: Vec<_> = e.recorded().iter().map(shape).collect();
    assert_eq!(
        got,
        vec![
            (
                "GET".into(),
                "/apis/apps/v1/namespaces/shop-green/deployments/web".into(),
                None,
                Value::Null
            ),
            (
                "GET".into(),
                "/api/v1/namespaces/shop-green/pods".into(),
                None,
                Value::Null
            ),
            (
                "GET".into(),
                "/apis/apps/v1/namespaces/shop-blue/deployments/web".into(),
                None,
                Value::Null
            ),
            (
                "POST".into(),
                SSAR.into(),
                Some("application/json".into()),
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {},
                       "spec": {"resourceAttributes": {"namespace": "shop-blue", "verb": "patch", "group": "apps", "resource": "deployments", "name": "web"}}})
            ),
            (
                "PATCH".into(),
                "/apis/apps/v1/namespaces/shop-blue/deployments/web".into(),
                smp.clone(),
                dry_body
            ),
        ]
    );
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let ran = e.recorded();
    assert_eq!(
        shape(&ran[1]),
        (
            "PATCH".into(),
            "/apis/apps/v1/namespaces/shop-blue/deployments/web".into(),
            smp,
            body
        )
    );
    assert_eq!(
        ran[1].query.trim_start_matches('&'),
        "fieldManager=shipdeck"
    );
    let d = e.deploy("shop-blue", "web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        image.as_str()
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "shipdeck promote from staging by ana: release 1.4.2"
    );
    let last = ran.last().unwrap();
    assert_eq!(last.body["reason"], "ShipdeckPromote");
    assert!(
        last.body["message"]
            .as_str()
            .unwrap()
            .contains("promote web staging → production by ana@deck")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_alert_refuses_promote_unless_a_reason_is_typed() {
    let e = Estate::start(40.0).await;
    let world: Arc<dyn shipdeck::demo::traffic::TrafficSource> = Arc::new(e.demo.world().clone());
    let am =
        shipdeck::demo::alertmanager::start_alertmanager(world, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let client = shipdeck::backend::alertmanager::AlertmanagerClient::with_timeout(
        &am.url(),
        std::time::Duration::from_secs(5),
    );
    let now = e.demo.world().now();
    client
        .post_alerts(&json!([{
            "labels": {"alertname": "HighErrorRate", "app": "web", "namespace": "shop-blue", "severity": "critical"},
            "startsAt": now.to_string(),
            "endsAt": now.checked_add(jiff::SignedDuration::from_hours(1)).unwrap().to_string(),
        }]))
        .await
        .unwrap();
    let mut config = e.config.clone();
    config.alertmanager = Some(shipdeck::backend::alertmanager::AlertmanagerConfig::new(
        am.url(),
    ));
    let ctx = e.ctx_with(config, false);
    let mut p = None;
    // The injected alert is "unprocessed" for a moment; poll until the check sees it.
    for _ in 0..50 {
        let pr = prepare(ctx.clone(), promote_web()).await;
        if pr.failed_checks().iter().any(|c| c.id == "alerts") {
            p = Some(pr);
            break;
        }
        am.sync();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let p = p.expect("the alert check failed");
    let alerts = p.checks.iter().find(|c| c.id == "alerts").unwrap();
    assert!(
        alerts.overridable && alerts.detail.contains("HighErrorRate"),
        "{alerts:?}"
    );
    let (outcome, _) = run(p, confirm("web")).await;
    assert!(matches!(outcome.status, OutcomeStatus::Refused { .. }));
    assert!(outcome.message.contains("--reason"), "{}", outcome.message);

    let p = prepare(ctx.clone(), promote_web()).await;
    let (outcome, _) = run(
        p,
        Confirmation {
            typed_name: Some("web".into()),
            override_reason: Some("hotfix for the alert itself".into()),
        },
    )
    .await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let ops = shipdeck::ops::audit::summaries(
        &shipdeck::ops::audit::read(&e.data_dir().join("audit.jsonl")).unwrap(),
        Some("web"),
    );
    assert_eq!(
        ops.last().unwrap().override_reason.as_deref(),
        Some("hotfix for the alert itself")
    );
    assert_eq!(ops[0].result, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_create_and_expire_through_alertmanager() {
    let e = Estate::start(40.0).await;
    let world: Arc<dyn shipdeck::demo::traffic::TrafficSource> = Arc::new(e.demo.world().clone());
    let am =
        shipdeck::demo::alertmanager::start_alertmanager(world, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let mut config = e.config.clone();
    config.alertmanager = Some(shipdeck::backend::alertmanager::AlertmanagerConfig::new(
        am.url(),
    ));
    let ctx = Arc::new(
        shipdeck::ops::OpContext::new(config, false)
            .with_data_dir(e.data_dir())
            .with_clock(shipdeck::clock::Clock::fixed(e.demo.world().now())),
    );
    let p = prepare(
        ctx.clone(),
        Request::Silence {
            app: "web".into(),
            alert: Some("HighErrorRate".into()),
            duration_secs: 7200,
            comment: "deploy <window> & more".into(),
        },
    )
    .await;
    assert!(
        p.render_text(200)
            .contains("alertname=\"HighErrorRate\", app=\"web\"} for 2h")
    );
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let client = shipdeck::backend::alertmanager::AlertmanagerClient::with_timeout(
        &am.url(),
        std::time::Duration::from_secs(5),
    );
    let silences = client.silences(&[]).await.unwrap();
    assert_eq!(silences.len(), 1);
    let s = &silences[0];
    assert_eq!(s.comment, "deploy <window> & more");
    assert_eq!(s.matchers.len(), 2);
    // Alertmanager moves a start in its past to its now: at most 2h, about 2h.
    let secs = s.ends_at.duration_since(s.starts_at).as_secs();
    assert!((7100..=7200).contains(&secs), "{secs}");
    let id = s.id.clone();
    let p = prepare(ctx.clone(), Request::ExpireSilence { id: id.clone() }).await;
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert_eq!(
        client.silence(&id).await.unwrap().status.state,
        shipdeck::model::alerts::SilenceState::Expired
    );
    // Again: already expired, nothing done twice.
    let p = prepare(ctx.clone(), Request::ExpireSilence { id: id.clone() }).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let outcome = shipdeck::ops::run(p, Confirmation::default(), tx, Default::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done);
    let mut already = false;
    while let Ok(ev) = rx.try_recv() {
        if let shipdeck::ops::OpEvent::StepDone { already: a, .. } = ev {
            already = a;
        }
    }
    assert!(already);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_the_production_gate_through_jenkins() {
    use crate::ci_support::{manual_clock, secs};
    use shipdeck::demo::ci::{CiSimOptions, NoDeploy, start_ci_and_registry};
    let e = Estate::start(40.0).await;
    let (clock, clockfn) = manual_clock();
    let opts = CiSimOptions {
        fail_test_pct: 0,
        fail_build_pct: 0,
        ..CiSimOptions::default()
    };
    let (servers, _registry) = start_ci_and_registry(opts, clockfn, Arc::new(NoDeploy))
        .await
        .unwrap();
    clock.advance(secs(200));
    let mut config = e.config.clone();
    config.ci = Some(servers.jenkins_config());
    let ctx = e.ctx_with(config, false);
    let req = Request::Approve {
        app: "api".into(),
        env: "production".into(),
    };
    let p = prepare(ctx.clone(), req.clone()).await;
    assert_eq!(p.plan.steps[0].name, "approve-gate");
    let (outcome, _) = run(p, confirm("api")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let err = shipdeck::ops::prepare(ctx, req).await.unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_the_production_gate_through_github() {
    use crate::ci_support::{manual_clock, secs};
    use shipdeck::demo::ci::{CiSimOptions, NoDeploy, start_ci_and_registry};
    let e = Estate::start(40.0).await;
    let (clock, clockfn) = manual_clock();
    let opts = CiSimOptions {
        fail_test_pct: 0,
        fail_build_pct: 0,
        ..CiSimOptions::default()
    };
    let (servers, _registry) = start_ci_and_registry(opts, clockfn, Arc::new(NoDeploy))
        .await
        .unwrap();
    clock.advance(secs(200));
    let mut config = e.config.clone();
    config.ci = Some(servers.github_config());
    let ctx = e.ctx_with(config, false);
    let p = prepare(
        ctx.clone(),
        Request::Approve {
            app: "web".into(),
            env: "production".into(),
        },
    )
    .await;
    assert_eq!(p.plan.steps.len(), 1);
    assert!(
        p.render_text(200)
            .contains("Approve gate production of web"),
        "{}",
        p.render_text(200)
    );
    assert_eq!(p.confirm_name.as_deref(), Some("web"));
    // Protected: the wrong name is not a confirmation.
    let (outcome, _) = run(p, confirm("api")).await;
    assert_eq!(outcome.status, OutcomeStatus::Cancelled);
    let p = prepare(
        ctx.clone(),
        Request::Approve {
            app: "web".into(),
            env: "production".into(),
        },
    )
    .await;
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let gh = ctx.ci().unwrap().unwrap();
    let run_ = gh.latest_run("web", "master").await.unwrap().unwrap();
    assert!(
        gh.pending_approvals(&run_.run_ref())
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing waits any more: a clear error.
    let err = shipdeck::ops::prepare(
        ctx.clone(),
        Request::Approve {
            app: "web".into(),
            env: "production".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpError::NotFound(_)), "{err}");
    assert!(
        err.to_string().contains("no CI gate of web is waiting"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_operation_per_app_and_environment() {
    let e = Estate::start(40.0).await;
    let ctx = e.ctx();
    let req = Request::Patch {
        app: "api".into(),
        env: "staging".into(),
        change: PatchChange::Restart,
    };
    let first = prepare(ctx.clone(), req.clone()).await;
    let second = prepare(ctx.clone(), req.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = tokio::spawn(shipdeck::ops::run(
        first,
        Confirmation::default(),
        tx,
        Default::default(),
    ));
    // Wait until the first holds the lock (it is running its first step).
    while let Some(ev) = rx.recv().await {
        if matches!(ev, shipdeck::ops::OpEvent::Step { .. }) {
            break;
        }
    }
    let (outcome, _) = run(second, Confirmation::default()).await;
    match &outcome.status {
        OutcomeStatus::Refused {
            error: OpError::Locked(m),
        } => {
            assert!(
                m.contains("another operation is running on api in staging"),
                "{m}"
            )
        }
        other => panic!("expected the lock to refuse, got {other:?}"),
    }
    let p3 = prepare(ctx.clone(), req.clone()).await;
    assert!(
        p3.failed_checks().iter().any(|c| c.id == "lock"),
        "the preview shows the lock"
    );
    while rx.recv().await.is_some() {}
    assert_eq!(task.await.unwrap().status, OutcomeStatus::Done);
    let p4 = prepare(ctx.clone(), req).await;
    assert!(p4.failed_checks().is_empty(), "released after the run");
}

#[tokio::test]
async fn slack_escapes_and_does_not_retry_permanent_errors() {
    use axum::routing::post;
    use std::sync::Mutex;
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new()
        .route(
            "/ok",
            post({
                let s = s2.clone();
                move |body: axum::Json<Value>| async move {
                    s.lock().unwrap().push(("ok".into(), body.0));
                    "ok"
                }
            }),
        )
        .route(
            "/gone",
            post({
                let s = s2.clone();
                move |body: axum::Json<Value>| async move {
                    s.lock().unwrap().push(("gone".into(), body.0));
                    (axum::http::StatusCode::NOT_FOUND, "channel_not_found")
                }
            }),
        )
        .route(
            "/busy",
            post({
                let s = s2.clone();
                move |body: axum::Json<Value>| async move {
                    let n = {
                        let mut g = s.lock().unwrap();
                        g.push(("busy".into(), body.0));
                        g.iter().filter(|(k, _)| k == "busy").count()
                    };
                    if n < 2 {
                        (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "0")],
                            "rate_limited",
                        )
                            .into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            }),
        );
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    use shipdeck::ops::notify::{SendResult, escape, send};
    let text = format!("done: {}", escape("web <b> & co"));
    assert_eq!(
        send(&format!("http://{addr}/ok"), &text).await,
        SendResult::Sent
    );
    assert_eq!(
        send(&format!("http://{addr}/gone"), &text).await,
        SendResult::Permanent("404 channel_not_found".into())
    );
    assert_eq!(
        send(&format!("http://{addr}/busy"), &text).await,
        SendResult::Sent
    );
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["ok", "gone", "busy", "busy"],
        "404 not retried, 429 retried"
    );
    assert_eq!(seen[0].1, json!({"text": "done: web &lt;b&gt; &amp; co"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_image_checks_the_registry_and_notifies_slack() {
    use axum::routing::post;
    use std::sync::Mutex;
    let e = Estate::start(40.0).await;
    let reg = shipdeck::demo::registry::start_registry(&[("shop/web", &["1.4.2", "1.4.3"])])
        .await
        .unwrap();
    // A Slack webhook recorder; the URL comes from a file, as a secret would.
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::Json<Value>| async move {
            s2.lock().unwrap().push(body.0);
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let hook_file = e.dir.path().join("slack-webhook");
    std::fs::write(&hook_file, format!("http://{addr}/hook\n")).unwrap();

    let mut config = e.config.clone();
    config.registry = Some(shipdeck::backend::registry::RegistryConfig::new(reg.url()));
    config.slack = Some(shipdeck::ops::notify::SlackConfig {
        webhook_env: None,
        webhook_file: Some(hook_file),
        on_success: true,
    });
    let ctx = e.ctx_with(config, false);
    let patch = |tag: &str| Request::Patch {
        app: "web".into(),
        env: "staging".into(),
        change: PatchChange::Image(tag.into()),
    };
    // A tag the registry does not have: an overridable failed check.
    let p = prepare(ctx.clone(), patch("9.9.9")).await;
    let c = p.checks.iter().find(|c| c.id == "registry-tag").unwrap();
    assert!(
        c.overridable && c.detail.contains("shop/web has no tag 9.9.9"),
        "{c:?}"
    );
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.exit_code(), 3);
    assert!(seen.lock().unwrap().is_empty(), "refusals are not notified");

    // A tag it has: the digest is shown, the rollout runs, Slack hears about it.
    let p = prepare(ctx.clone(), patch("1.4.3")).await;
    assert!(p.failed_checks().is_empty(), "{:?}", p.checks);
    let digest = reg.registry().digest("shop/web", "1.4.3").unwrap();
    assert_eq!(p.images[0].digest.as_deref(), Some(digest.as_str()));
    assert_eq!(p.images[0].to, "registry.local/shop/web:1.4.3");
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let d = e.deploy("shop-green", "web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/web:1.4.3"
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "shipdeck set image 1.4.3 by ana"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let text = seen[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            ":white_check_mark: shipdeck done: patch web in staging: image 1.4.3 by ana@deck"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_refuses_a_source_still_rolling_out() {
    let e = Estate::start(40.0).await;
    // Staging's api is mid-rollout when the world starts; pause the clock so it stays so.
    e.demo.world().pause();
    let ctx = e.ctx();
    let p = prepare(
        ctx.clone(),
        Request::Promote {
            app: "api".into(),
            from: None,
            to: "production".into(),
            reason: None,
        },
    )
    .await;
    let rollout = p.checks.iter().find(|c| c.id == "source-rollout").unwrap();
    assert_eq!(
        rollout.status,
        shipdeck::ops::CheckStatus::Fail,
        "{rollout:?}"
    );
    assert!(rollout.overridable);
    assert!(
        p.render_text(200)
            .contains("[FAIL] source rollout complete (staging)")
    );
    let (outcome, _) = run(p, confirm("api")).await;
    assert!(
        matches!(outcome.status, OutcomeStatus::Refused { .. }),
        "{outcome:?}"
    );
    assert!(
        outcome
            .message
            .contains("source rollout complete (staging)"),
        "{}",
        outcome.message
    );
    e.demo.world().resume();
}
