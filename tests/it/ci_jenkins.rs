//! Jenkins (`wfapi`) provider: each request asserted exactly against a recorder serving documented
//! bodies (tests/fixtures/ci/jenkins), the CSRF crumb dance, bad input as typed errors, and the
//! flow against the simulated Jenkins (crumbs required).
#![allow(clippy::unwrap_used)] // tests may unwrap
use super::ci_support::{Recorder, Reply, fixture, lines};
use shipdeck::backend::ci::{self, CiConfig, CiError, CiProvider, ProviderKind, jenkins::Jenkins};
use shipdeck::model::pipeline::{RunRef, StageStatus};
use std::collections::BTreeMap;
use std::time::Duration;

const BASIC: &str = "Basic ZGVwbG95OjExYWEyMmJi"; // deploy:11aa22bb

fn provider(url: &str, dir: &tempfile::TempDir) -> Jenkins {
    let tok = dir.path().join("token");
    std::fs::write(&tok, "11aa22bb").unwrap();
    let mut cfg = CiConfig::new(ProviderKind::Jenkins, url);
    cfg.job = Some("{app}".into());
    cfg.user = Some("deploy".into());
    cfg.token_file = Some(tok);
    Jenkins::new(&cfg, BTreeMap::new()).unwrap()
}

fn run(branch: &str, id: &str) -> RunRef {
    RunRef {
        app: "web".into(),
        branch: branch.into(),
        id: id.into(),
    }
}

#[tokio::test]
async fn latest_run_requests_and_parsing() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        "/job/web/job/master/wfapi/runs",
        Reply::json(200, &fixture("ci/jenkins/runs_master.json")),
    );
    rec.on(
        "GET",
        "/job/web/job/master/12/wfapi/changesets",
        Reply::json(200, &fixture("ci/jenkins/changesets.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let j = provider(&rec.url, &dir);
    let p = j.latest_run("web", "master").await.unwrap().unwrap();
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            "GET /job/web/job/master/wfapi/runs",
            "GET /job/web/job/master/12/wfapi/changesets"
        ]
    );
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some(BASIC));
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(r.body, "");
    }
    assert_eq!(p.run_id, "12");
    assert_eq!(p.number, Some(12));
    assert_eq!(p.status, StageStatus::WaitingApproval);
    let chips: Vec<_> = p
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.status, s.duration))
        .collect();
    assert_eq!(
        chips,
        vec![
            ("test", StageStatus::Success, Some(Duration::from_secs(20))),
            ("build", StageStatus::Success, Some(Duration::from_secs(40))),
            ("push", StageStatus::Success, Some(Duration::from_secs(10))),
            ("approve production", StageStatus::WaitingApproval, None),
        ]
    );
    assert_eq!(p.commit.short_sha(), "9e01bbf");
    assert_eq!(p.commit.author, "chen");
    assert_eq!(p.commit.message, "perf: cache product lookups");
    assert_eq!(p.started.unwrap().as_millisecond(), 1795860000000);
    assert_eq!(p.url, Some(format!("{}/job/web/job/master/12/", rec.url)));

    // A run's commit never changes: the next poll asks only for the runs.
    j.latest_run("web", "master").await.unwrap();
    assert_eq!(
        lines(&rec.take()),
        vec!["GET /job/web/job/master/wfapi/runs"]
    );
}

#[tokio::test]
async fn branch_names_are_encoded_twice_and_folders_nest() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        "/job/shop/job/web/job/feature%252Fx/wfapi/runs",
        Reply::json(200, "[]"),
    );
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("token");
    std::fs::write(&tok, "11aa22bb").unwrap();
    let mut cfg = CiConfig::new(ProviderKind::Jenkins, &rec.url);
    cfg.job = Some("shop/{app}".into());
    cfg.user = Some("deploy".into());
    cfg.token_file = Some(tok);
    let j = Jenkins::new(&cfg, BTreeMap::new()).unwrap();
    assert_eq!(j.latest_run("web", "feature/x").await.unwrap(), None);
    assert_eq!(
        lines(&rec.take()),
        vec!["GET /job/shop/job/web/job/feature%252Fx/wfapi/runs"]
    );
}

#[tokio::test]
async fn run_detail_with_stage_nodes_and_console_tail() {
    let rec = Recorder::start().await;
    let p = "/job/web/job/develop/7";
    rec.on(
        "GET",
        &format!("{p}/wfapi/describe"),
        Reply::json(200, &fixture("ci/jenkins/describe_failed.json")),
    );
    rec.on(
        "GET",
        &format!("{p}/wfapi/changesets"),
        Reply::json(200, "[]"),
    );
    rec.on(
        "GET",
        &format!("{p}/execution/node/6/wfapi/describe"),
        Reply::json(200, &fixture("ci/jenkins/node_6.json")),
    );
    rec.on(
        "GET",
        &format!("{p}/execution/node/11/wfapi/describe"),
        Reply::json(200, &fixture("ci/jenkins/node_11.json")),
    );
    rec.on(
        "GET",
        &format!("{p}/consoleText"),
        Reply::text(200, &fixture("ci/jenkins/console_failed.txt")),
    );
    let dir = tempfile::tempdir().unwrap();
    let j = provider(&rec.url, &dir);
    let d = ci::run_detail(&j, &run("develop", "7")).await.unwrap();
    assert_eq!(
        lines(&rec.take()),
        vec![
            format!("GET {p}/wfapi/describe"),
            format!("GET {p}/wfapi/changesets"),
            format!("GET {p}/execution/node/6/wfapi/describe"),
            format!("GET {p}/execution/node/11/wfapi/describe"),
            format!("GET {p}/consoleText"),
        ]
    );
    assert_eq!(d.pipeline.status, StageStatus::Failed);
    assert_eq!(
        d.jobs[0].steps[0].name,
        "Shell Script: cargo test --workspace"
    );
    assert_eq!(d.jobs[1].status, StageStatus::Failed);
    assert_eq!(d.jobs[1].duration, Some(Duration::from_millis(40900)));
    let tail = d.log_tail.unwrap();
    assert_eq!(tail.job, "build");
    assert_eq!(tail.step.as_deref(), Some("Shell Script: docker build ."));
    assert_eq!(
        tail.lines.last().map(String::as_str),
        Some("Finished: FAILURE")
    );
    assert!(tail.lines.iter().any(|l| l.starts_with("error[E0308]")));
}

#[tokio::test]
async fn approve_fetches_a_crumb_when_refused_then_reuses_it() {
    let rec = Recorder::start().await;
    let p = "/job/web/job/master/12";
    rec.on(
        "GET",
        &format!("{p}/wfapi/pendingInputActions"),
        Reply::json(200, &fixture("ci/jenkins/pending_input.json")),
    );
    let refused = Reply::text(403, &fixture("ci/jenkins/no_crumb_403.html"));
    rec.on(
        "POST",
        &format!("{p}/input/Production/proceedEmpty"),
        refused,
    );
    rec.on(
        "POST",
        &format!("{p}/input/Production/proceedEmpty"),
        Reply::text(200, ""),
    );
    rec.on(
        "GET",
        "/crumbIssuer/api/json",
        Reply::json(200, &fixture("ci/jenkins/crumb.json")).header(
            "set-cookie",
            "JSESSIONID.abc123=node01xyz; Path=/; HttpOnly",
        ),
    );
    rec.on("POST", &format!("{p}/stop"), Reply::text(200, ""));
    rec.on(
        "POST",
        "/job/web/job/master/build",
        Reply::text(201, "").header("location", "/queue/item/5/"),
    );
    let dir = tempfile::tempdir().unwrap();
    let j = provider(&rec.url, &dir);
    let r = run("master", "12");
    let gates = j.pending_approvals(&r).await.unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(gates[0].id, "Production");
    assert_eq!(gates[0].message, "Deploy web to production?");
    j.approve(&gates[0]).await.unwrap();
    j.cancel(&r).await.unwrap();
    j.rerun(&r).await.unwrap();
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {p}/wfapi/pendingInputActions"),
            format!("POST {p}/input/Production/proceedEmpty"),
            "GET /crumbIssuer/api/json".to_string(),
            format!("POST {p}/input/Production/proceedEmpty"),
            format!("POST {p}/stop"),
            "POST /job/web/job/master/build".to_string(),
        ]
    );
    assert_eq!(reqs[1].header("jenkins-crumb"), None);
    for r in &reqs[3..] {
        assert_eq!(
            r.header("jenkins-crumb"),
            Some("4f1d0c2b9a8e7d6c5b4a39281706f5e4")
        );
        assert_eq!(r.header("cookie"), Some("JSESSIONID.abc123=node01xyz"));
        assert_eq!(r.header("authorization"), Some(BASIC));
        assert_eq!(r.body, "");
    }
}

#[tokio::test]
async fn no_crumb_issuer_means_the_refusal_stands() {
    let rec = Recorder::start().await;
    rec.on(
        "POST",
        "/job/web/job/master/3/stop",
        Reply::text(403, "No valid crumb was included in the request"),
    );
    rec.on(
        "GET",
        "/crumbIssuer/api/json",
        Reply::text(404, "Not Found"),
    );
    let dir = tempfile::tempdir().unwrap();
    let j = provider(&rec.url, &dir);
    assert!(
        matches!(j.cancel(&run("master", "3")).await, Err(CiError::Forbidden(m)) if m.contains("crumb"))
    );
    assert_eq!(
        lines(&rec.take()),
        vec![
            "POST /job/web/job/master/3/stop",
            "GET /crumbIssuer/api/json"
        ]
    );
}

#[tokio::test]
async fn bad_input_becomes_typed_errors() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let j = provider(&rec.url, &dir);
    let runs = fixture("ci/jenkins/runs_master.json");
    rec.on(
        "GET",
        "/job/web/job/master/wfapi/runs",
        Reply::json(200, &runs[..runs.len() - 40]),
    );
    assert!(matches!(
        j.latest_run("web", "master").await,
        Err(CiError::Decode(_))
    ));
    rec.on(
        "GET",
        "/job/web/job/develop/wfapi/runs",
        Reply::text(401, "<html>Unauthorized</html>"),
    );
    assert!(matches!(
        j.latest_run("web", "develop").await,
        Err(CiError::Unauthorized(_))
    ));
    rec.on(
        "GET",
        "/job/web/job/develop/99/wfapi/describe",
        Reply::text(404, "<html>Not Found</html>"),
    );
    assert!(matches!(
        ci::run_detail(&j, &run("develop", "99")).await,
        Err(CiError::NotFound(_))
    ));
    rec.on(
        "GET",
        "/job/web/job/staging/wfapi/runs",
        Reply::text(503, "busy").header("retry-after", "5"),
    );
    assert!(matches!(
        j.latest_run("web", "staging").await,
        Err(CiError::Http {
            status: Some(503),
            ..
        })
    ));
    // Not a build number: refused before any request.
    rec.take();
    assert!(matches!(
        ci::run_detail(&j, &run("develop", "../x")).await,
        Err(CiError::NotFound(_))
    ));
    assert!(rec.take().is_empty());
}

mod sim {
    use super::super::ci_support::{RecordingHook, manual_clock, secs};
    use shipdeck::backend::ci::{CiProvider, jenkins::Jenkins};
    use shipdeck::demo::ci::{CiEngine, CiServeOptions, CiSimOptions, start_ci_with};
    use shipdeck::model::pipeline::StageStatus;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn approval_through_the_crumb_then_production_deploys() {
        let (clock, clockfn) = manual_clock();
        let hook = Arc::new(RecordingHook::default());
        let opts = CiSimOptions {
            fail_test_pct: 0,
            fail_build_pct: 0,
            // No new commits mid-test: runs are looked at by branch.
            commit_every: jiff::SignedDuration::from_hours(1),
            ..CiSimOptions::default()
        };
        let engine = CiEngine::new(opts, clockfn, hook.clone(), None);
        let servers = start_ci_with(
            engine,
            CiServeOptions {
                jenkins_require_crumb: true,
                ..CiServeOptions::default()
            },
        )
        .await
        .unwrap();
        let mut cfg = servers.jenkins_config();
        cfg.user = Some("deploy".into());
        let j = Jenkins::new(&cfg, BTreeMap::new()).unwrap();
        clock.advance(secs(200));
        let p = j.latest_run("api", "master").await.unwrap().unwrap();
        assert_eq!(p.status, StageStatus::WaitingApproval);
        assert_eq!(p.stages.last().unwrap().name, "approve production");
        assert_eq!(p.commit.sha.len(), 40);
        let gates = j.pending_approvals(&p.run_ref()).await.unwrap();
        assert_eq!(gates.len(), 1);
        j.approve(&gates[0]).await.unwrap();
        clock.advance(secs(20));
        let p = j.latest_run("api", "master").await.unwrap().unwrap();
        assert_eq!(p.status, StageStatus::Success);
        assert_eq!(p.stages.last().unwrap().name, "deploy production");
        assert!(
            hook.calls
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.0 == "api" && c.1 == "master")
        );
        // A new build of the branch (re-run) starts a new number.
        j.rerun(&p.run_ref()).await.unwrap();
        let next = j.latest_run("api", "master").await.unwrap().unwrap();
        assert_eq!(next.number, p.number.map(|n| n + 1));
        assert_eq!(next.commit, p.commit);
        j.cancel(&next.run_ref()).await.unwrap();
        let stopped = j.latest_run("api", "master").await.unwrap().unwrap();
        assert_eq!(stopped.status, StageStatus::Cancelled);
    }
}
