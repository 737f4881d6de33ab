//! Sunset end to end against the simulated estate (see `sunset_support`): happy path with every
//! write in order, Cloudflare 1056, registry 405, read-only refusal, cancel between steps, and a
//! run killed between steps then resumed from the journal.
use crate::sunset_support::*;
use serde_json::{Value, json};
use shipdeck::demo::cloudflare::Fault;
use shipdeck::ops::audit::AuditRecord;
use shipdeck::ops::{OpEvent, OutcomeStatus, Request};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunset_removes_everything_in_order_and_reports() {
    let e = estate(true).await;
    // Not the app's routing: a TXT record at the same name stays.
    e.cf.add_record("worker.shop.example", "TXT", "verification=abc");
    let (record, access) = ids(&e);
    let digests = worker_digests(&e);
    let preview = e.prepare(false).await;
    assert_eq!(preview.confirm_name.as_deref(), Some(APP));
    assert!(preview.failed_checks().is_empty(), "{:?}", preview.checks);
    let reviews: Vec<&str> = preview
        .checks
        .iter()
        .filter(|c| c.id == "access")
        .map(|c| c.title.as_str())
        .collect();
    assert_eq!(reviews.len(), 12, "{reviews:?}");
    assert!(reviews.contains(&"may patch deployments/scale in shop-blue (production)"));
    assert!(reviews.contains(&"may delete ingresses in shop-develop (develop)"));
    let del: Vec<(String, String, String)> = preview
        .deletions
        .iter()
        .map(|o| (o.system.clone(), o.kind.clone(), o.scope.clone()))
        .collect();
    assert_eq!(
        del.iter().filter(|d| d.0 == "cloudflare").count(),
        3,
        "{del:?}"
    );
    assert_eq!(
        del.iter().filter(|d| d.0 == "kubernetes").count(),
        7,
        "{del:?}"
    );
    assert_eq!(
        del.iter().filter(|d| d.0 == "registry").count(),
        4,
        "{del:?}"
    );
    let names: Vec<&str> = preview.plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "cloudflare-tunnel-rule",
            "cloudflare-dns-record",
            "cloudflare-access-app",
            "scale-down-develop",
            "delete-workloads-develop",
            "scale-down-staging",
            "delete-workloads-staging",
            "scale-down-production",
            "delete-workloads-production",
            "silence-alerts",
            "mark-retired",
            "registry-tags",
            "report",
        ]
    );
    e.take_log();
    let (out, events) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_eq!(out.steps_done.len(), 13);
    let log = e.take_log();
    assert_eq!(
        writes(&log),
        expected_writes(&e, &digests, &record, &access)
    );
    assert_eq!(
        collapse(&log),
        expected_requests(&e, &digests, &record, &access)
    );
    let body_of = |prefix: &str| -> Value {
        let (_, _, b) = log.iter().find(|(_, l, _)| l.starts_with(prefix)).unwrap();
        serde_json::from_str(b).unwrap()
    };
    let event = body_of("POST /api/v1/namespaces/shop-blue/events");
    assert_eq!(event["reason"], "ShipdeckSunset");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["involvedObject"]["name"], "worker");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("sunset worker by ana@bastion"),
        "{event}"
    );
    let silence = body_of("POST /api/v2/silences");
    assert_eq!(
        silence["matchers"],
        json!([{"name": "app", "value": "worker", "isRegex": false, "isEqual": true}])
    );
    assert_eq!(silence["createdBy"], "ana");
    assert!(
        silence["comment"]
            .as_str()
            .unwrap()
            .contains("worker is retired")
    );
    let span = silence["endsAt"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
        - silence["startsAt"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
    assert_eq!(span, 3650 * 86_400);
    for (s, l, b) in log
        .iter()
        .filter(|(s, l, _)| s == "kube" && l.starts_with("DELETE "))
    {
        let body: Value = serde_json::from_str(b).unwrap();
        assert_eq!(body, json!({"propagationPolicy": "Background"}), "{s} {l}");
    }
    // The tunnel PUT keeps the catch-all last.
    let put = log.iter().find(|(_, l, _)| l.starts_with("PUT ")).unwrap();
    let body: Value = serde_json::from_str(&put.2).unwrap();
    assert_eq!(
        body["config"]["ingress"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &json!({"service": "http_status:404"})
    );
    let scale = log
        .iter()
        .find(|(_, l, _)| l.starts_with("PATCH "))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&scale.2).unwrap(),
        json!({"spec": {"replicas": 0}})
    );
    assert_all_gone(&e).await;
    let txt: Vec<String> =
        e.cf.dns_records()
            .into_iter()
            .filter(|r| r.name == "worker.shop.example")
            .map(|r| r.kind)
            .collect();
    assert_eq!(txt, vec!["TXT"]);
    // Every step's last message; the report says complete.
    let last = events
        .iter()
        .rev()
        .find_map(|ev| match ev {
            OpEvent::StepDone { name, message, .. } if name == "report" => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(last.contains("sunset of worker complete"), "{last}");
    // Journal: begin and end for each step, then finish.
    let j = e.journal();
    let begins = j.iter().filter(|r| r.phase == "step_begin").count();
    let ends = j
        .iter()
        .filter(|r| r.phase == "step_end" && r.result.as_deref() == Some("ok"))
        .count();
    assert_eq!((begins, ends), (13, 13));
    assert_eq!(j.last().unwrap().phase, "finish");

    // Once more: nothing left, a no-op preview.
    let again = e.prepare(false).await;
    assert!(again.noop, "{:?}", again.deletions);
    assert!(again.deletions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_1056_fails_the_first_step_and_resume_finishes() {
    let e = estate(true).await;
    e.cf.inject(Fault::bad_tunnel_config());
    let preview = e.prepare(false).await;
    e.take_log();
    let (out, _) = run(preview).await;
    match &out.status {
        OutcomeStatus::Failed { error } => {
            let m = error.to_string();
            assert!(m.contains("1056") && m.contains("was not changed"), "{m}");
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(out.exit_code(), 1);
    assert!(out.steps_done.is_empty());
    let w = writes(&e.take_log());
    let (events, w): (Vec<_>, Vec<_>) = w.into_iter().partition(|(_, l)| l.contains("/events"));
    assert_eq!(w.len(), 1, "only the refused PUT: {w:?}");
    assert_eq!(
        events.len(),
        3,
        "a ShipdeckSunset Event per namespace: {events:?}"
    );
    assert_eq!(e.cf.ingress().len(), 4, "tunnel unchanged");
    assert_eq!(e.kube_left().len(), 7, "nothing else touched");

    let preview = e.prepare(true).await;
    let first = out.op_id.clone();
    assert_eq!(preview.plan.resume_of.as_deref(), Some(first.as_str()));
    let (out, _) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_all_gone(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_405_says_deletion_is_disabled() {
    let e = estate(false).await;
    let preview = e.prepare(false).await;
    let (out, _) = run(preview).await;
    let OutcomeStatus::Failed { error } = &out.status else {
        panic!("{:?}", out.status);
    };
    let m = error.to_string();
    assert!(m.contains("registry deletion disabled"), "{m}");
    assert!(out.message.contains("registry-tags"), "{}", out.message);
    assert_eq!(
        out.steps_done.len(),
        11,
        "everything before the registry step"
    );
    assert_eq!(e.reg.registry().tags("shop/worker").len(), 4);
    let j = e.journal();
    let failed = j
        .iter()
        .find(|r| r.phase == "step_end" && r.result.as_deref() == Some("failed"))
        .unwrap();
    assert_eq!(failed.step.as_ref().unwrap().name, "registry-tags");
    assert_eq!(e.kube_left(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_steps_then_resume_does_nothing_twice() {
    let e = estate(true).await;
    let digests = worker_digests(&e);
    let (record, access) = ids(&e);
    let preview = e.prepare(false).await;
    let first = preview.op_id().to_string();
    e.take_log();
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(shipdeck::ops::run(
        preview,
        confirm(),
        tx,
        CancellationToken::new(),
    ));
    // Kill the run as soon as the DNS step (index 1) reports done.
    while let Some(ev) = rx.recv().await {
        if matches!(ev, OpEvent::StepDone { index: 1, .. }) {
            task.abort();
            break;
        }
    }
    assert!(task.await.unwrap_err().is_cancelled());
    let j = e.journal();
    assert!(
        j.iter().all(|r| r.phase != "finish"),
        "killed: no finish line"
    );
    let done_first: Vec<String> = j
        .iter()
        .filter(|r| r.op_id == first && r.phase == "step_end")
        .map(|r| r.step.as_ref().unwrap().name.clone())
        .collect();
    assert!(done_first.len() >= 2, "{done_first:?}");

    let preview = e.prepare(true).await;
    assert_eq!(preview.plan.resume_of.as_deref(), Some(first.as_str()));
    let second = preview.op_id().to_string();
    let (out, events) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_all_gone(&e).await;
    // Steps the first run finished were skipped, not redone.
    for name in &done_first {
        assert!(
            events.iter().any(|ev| matches!(ev, OpEvent::StepDone { name: n, already: true, message, .. } if n == name && message.contains("earlier run"))),
            "{name} not skipped"
        );
    }
    // Across both runs every write happened exactly once: the same list as an uninterrupted run.
    assert_eq!(
        writes(&e.take_log()),
        expected_writes(&e, &digests, &record, &access)
    );
    // The journal is complete: each step ended once with ok/already across the two runs, the
    // resumed run records the skipped ones and finishes.
    let j = e.journal();
    let names: Vec<String> = sunset_step_names();
    for name in &names {
        let ended: Vec<&AuditRecord> = j
            .iter()
            .filter(|r| r.phase == "step_end" && r.step.as_ref().is_some_and(|s| &s.name == name))
            .collect();
        assert!(
            ended
                .iter()
                .all(|r| matches!(r.result.as_deref(), Some("ok") | Some("already"))),
            "{name}: {ended:?}"
        );
        // A step killed in the middle may find its effect in place on resume ("already").
        let ok = ended
            .iter()
            .filter(|r| r.result.as_deref() == Some("ok"))
            .count();
        assert!(!ended.is_empty() && ok <= 1, "{name}: {ended:?}");
    }
    let fin = j.last().unwrap();
    assert_eq!(
        (fin.op_id.as_str(), fin.phase.as_str()),
        (second.as_str(), "finish")
    );
    assert_eq!(fin.result.as_deref(), Some("done"));
    // Nothing left to resume.
    let err = shipdeck::ops::prepare(
        e.ctx(),
        Request::Sunset {
            app: APP.into(),
            resume: true,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_before_any_write() {
    let e = estate(true).await;
    let ctx = std::sync::Arc::new(
        shipdeck::ops::OpContext::new(e.config.clone(), true)
            .with_data_dir(e.data.path().join("data")),
    );
    let req = Request::Sunset {
        app: APP.into(),
        resume: false,
    };
    let preview = shipdeck::ops::prepare(ctx, req).await.unwrap();
    let hard: Vec<&str> = preview
        .hard_failures()
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(hard, vec!["read-only"; 3]);
    e.take_log();
    let (out, _) = run(preview).await;
    assert!(
        matches!(out.status, OutcomeStatus::Refused { .. }),
        "{:?}",
        out.status
    );
    assert_eq!(out.exit_code(), 3);
    assert_eq!(writes(&e.take_log()), vec![]);
    assert_eq!(e.kube_left().len(), 7);
    assert_eq!(e.journal().last().unwrap().phase, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_between_steps_says_what_was_done_and_resume_continues() {
    let e = estate(true).await;
    let preview = e.prepare(false).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(shipdeck::ops::run(preview, confirm(), tx, cancel.clone()));
    let mut seen = vec![];
    while let Some(ev) = rx.recv().await {
        if let OpEvent::StepDone { index: 2, .. } = ev {
            cancel.cancel();
        }
        seen.push(ev);
    }
    let out = task.await.unwrap();
    assert_eq!(out.status, OutcomeStatus::Cancelled, "{}", out.message);
    assert_eq!(out.exit_code(), 4);
    // The runner looks at the token before each step: the cancel lands before the next one
    // that had not started yet.
    let names = sunset_step_names();
    let n = out.steps_done.len();
    assert!((3..names.len()).contains(&n), "{:?}", out.steps_done);
    assert_eq!(out.steps_done, names[..n].to_vec());
    assert!(
        out.message.contains(&format!("not done: {}", names[n])),
        "{}",
        out.message
    );
    assert!(
        e.journal()
            .iter()
            .all(|r| r.step.as_ref().is_none_or(|s| names[..n].contains(&s.name)))
    );
    let (out, _) = run(e.prepare(true).await).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_all_gone(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_lists_every_object_and_its_json_is_stable() {
    let e = estate(true).await;
    let preview = e.prepare(false).await;
    let v = preview.to_json();
    assert_eq!(
        v["request"],
        json!({"op": "sunset", "app": "worker", "resume": false})
    );
    assert_eq!(v["confirm_name"], "worker");
    let dels = v["deletions"].as_array().unwrap();
    let find = |kind: &str| -> Vec<String> {
        dels.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| {
                format!(
                    "{} | {}",
                    d["name"].as_str().unwrap(),
                    d["scope"].as_str().unwrap()
                )
            })
            .collect()
    };
    let seed = e.cf.seed();
    assert_eq!(
        find("tunnel_ingress"),
        vec![format!("worker.shop.example | tunnel {}", seed.tunnel_id)]
    );
    assert_eq!(
        find("dns_record"),
        vec![format!(
            "CNAME worker.shop.example → {}.cfargotunnel.com | zone shop.example",
            seed.tunnel_id
        )]
    );
    assert_eq!(
        find("access_app"),
        vec![format!(
            "worker (production) (worker.shop.example) | account {}",
            seed.account_id
        )]
    );
    assert_eq!(
        find("deployment"),
        vec![
            "worker | shop-develop in develop",
            "worker | shop-green in staging",
            "worker | shop-blue in production"
        ]
    );
    assert_eq!(find("ingress"), vec!["worker | shop-blue in production"]);
    let digests = worker_digests(&e);
    assert_eq!(
        find("tag"),
        vec![
            format!("1.0.0 @ {} | shop/worker", digests[0]),
            format!("1.0.1 @ {} | shop/worker", digests[1]),
            format!("1.1.0 @ {} | shop/worker", digests[2]),
            format!("latest @ {} | shop/worker", digests[2]),
        ]
    );
    // The preview wrote nothing.
    assert_eq!(writes(&e.take_log()), vec![]);
    let text = preview.render_text(100);
    assert!(text.contains("worker.shop.example"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_cloudflare_token_is_a_configuration_error() {
    let mut e = estate(true).await;
    e.config.cloudflare.as_mut().unwrap().token_env = Some("SHIPDECK_TEST_NO_SUCH_TOKEN".into());
    let err = shipdeck::ops::prepare(
        e.ctx(),
        Request::Sunset {
            app: APP.into(),
            resume: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("SHIPDECK_TEST_NO_SUCH_TOKEN"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_a_usage_error() {
    let e = estate(true).await;
    let err = shipdeck::ops::prepare(
        e.ctx(),
        Request::Sunset {
            app: "wrker".into(),
            resume: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("unknown app `wrker`"), "{err}");
    assert_eq!(writes(&e.take_log()), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locally_configured_tunnel_is_refused_in_the_preview() {
    let mut e = estate(true).await;
    e.cf.make_tunnel_local();
    let preview = e.prepare(false).await;
    let hard: Vec<String> = preview
        .hard_failures()
        .iter()
        .map(|c| c.detail.clone())
        .collect();
    assert_eq!(hard.len(), 1, "{hard:?}");
    assert!(hard[0].contains("source: local"), "{hard:?}");
    e.take_log();
    let (out, _) = run(preview).await;
    assert!(matches!(out.status, OutcomeStatus::Refused { .. }));
    assert_eq!(writes(&e.take_log()), vec![]);
    // The documented way out: no tunnel for this app.
    let cf = e.config.cloudflare.as_mut().unwrap();
    cf.edge.insert(
        APP.into(),
        shipdeck::backend::cloudflare::EdgeConfig {
            tunnel_id: Some(String::new()),
            ..Default::default()
        },
    );
    let preview = e.prepare(false).await;
    assert!(preview.failed_checks().is_empty(), "{:?}", preview.checks);
    assert_eq!(preview.plan.steps[0].name, "cloudflare-dns-record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_sources_are_left_out_with_a_warning() {
    let mut e = estate(true).await;
    e.config.cloudflare = None;
    e.config.alertmanager = None;
    let preview = e.prepare(false).await;
    let warns: Vec<&str> = preview
        .checks
        .iter()
        .filter(|c| c.status == shipdeck::ops::CheckStatus::Warn)
        .map(|c| c.detail.as_str())
        .collect();
    assert_eq!(
        warns,
        vec![
            "no [cloudflare] configured: edge entries are not touched",
            "no [alertmanager] configured: alerts are not silenced"
        ]
    );
    let names: Vec<&str> = preview.plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"scale-down-develop"));
    assert!(!names.contains(&"silence-alerts"));
    let (out, _) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_eq!(e.kube_left(), Vec::<String>::new());
    assert_eq!(e.cf.ingress().len(), 4, "Cloudflare untouched");
}
