//! GitHub Actions provider: each request asserted exactly against a recorder serving documented
//! response bodies (tests/fixtures/ci/github), bad input as typed errors, and the whole flow against
//! the simulated GitHub Actions server.
#![allow(clippy::unwrap_used)] // tests may unwrap
use super::ci_support::{Recorder, Reply, fixture, lines};
use shipdeck::backend::ci::{self, CiConfig, CiError, CiProvider, ProviderKind, github::Github};
use shipdeck::model::pipeline::{RunRef, StageStatus};
use std::collections::BTreeMap;
use std::time::Duration;

fn provider(url: &str, dir: &tempfile::TempDir) -> Github {
    let tok = dir.path().join("token");
    std::fs::write(&tok, "ghp_test123\n").unwrap();
    let mut cfg = CiConfig::new(ProviderKind::Github, url);
    cfg.repo = Some("shop/{app}".into());
    cfg.token_file = Some(tok);
    Github::new(&cfg, BTreeMap::new()).unwrap()
}

fn run_ref(id: &str) -> RunRef {
    RunRef {
        app: "web".into(),
        branch: "staging".into(),
        id: id.into(),
    }
}

const RUNS_DEVELOP: &str = "/repos/shop/web/actions/runs?branch=develop&per_page=1";
const JOBS_DEVELOP: &str = "/repos/shop/web/actions/runs/30433642/jobs?per_page=100";

#[tokio::test]
async fn latest_run_requests_and_parsing() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        RUNS_DEVELOP,
        Reply::json(200, &fixture("ci/github/runs_develop.json")),
    );
    rec.on(
        "GET",
        JOBS_DEVELOP,
        Reply::json(200, &fixture("ci/github/jobs_develop.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    let p = gh.latest_run("web", "develop").await.unwrap().unwrap();

    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![format!("GET {RUNS_DEVELOP}"), format!("GET {JOBS_DEVELOP}")]
    );
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer ghp_test123"));
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert!(r.header("user-agent").unwrap().starts_with("shipdeck/"));
        assert_eq!(r.header("if-none-match"), None);
        assert_eq!(r.body, "");
    }
    assert_eq!(p.run_id, "30433642");
    assert_eq!(p.number, Some(562));
    assert_eq!(p.status, StageStatus::Running);
    assert_eq!(p.commit.short_sha(), "a1f3c2d");
    assert_eq!(p.commit.author, "Ana Lima");
    assert_eq!(p.commit.title(), "fix: rounding in cart totals");
    let chips: Vec<_> = p
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        chips,
        vec![
            ("test", StageStatus::Success),
            ("build", StageStatus::Running),
            ("deploy develop", StageStatus::Queued)
        ]
    );
    assert_eq!(p.stages[0].duration, Some(Duration::from_secs(42)));
    assert_eq!(
        p.stages[1].duration, None,
        "running stages carry only their start"
    );
    assert!(p.stages[1].started.is_some());
    assert_eq!(
        p.url.as_deref(),
        Some("https://github.com/shop/web/actions/runs/30433642")
    );
}

#[tokio::test]
async fn branch_without_runs_is_none() {
    let rec = Recorder::start().await;
    let uri = "/repos/shop/web/actions/runs?branch=master&per_page=1";
    rec.on(
        "GET",
        uri,
        Reply::json(200, &fixture("ci/github/runs_empty.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        provider(&rec.url, &dir)
            .latest_run("web", "master")
            .await
            .unwrap(),
        None
    );
    assert_eq!(lines(&rec.take()), vec![format!("GET {uri}")]);
}

#[tokio::test]
async fn idle_polling_is_conditional_and_reuses_the_cached_body() {
    let rec = Recorder::start().await;
    let runs = fixture("ci/github/runs_develop.json");
    let jobs = fixture("ci/github/jobs_develop.json");
    rec.on(
        "GET",
        RUNS_DEVELOP,
        Reply::json(200, &runs).header("etag", "W/\"r1\""),
    );
    rec.on(
        "GET",
        RUNS_DEVELOP,
        Reply::text(304, "").header("etag", "W/\"r1\""),
    );
    rec.on(
        "GET",
        JOBS_DEVELOP,
        Reply::json(200, &jobs).header("etag", "W/\"j1\""),
    );
    rec.on(
        "GET",
        JOBS_DEVELOP,
        Reply::text(304, "").header("etag", "W/\"j1\""),
    );
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    let first = gh.latest_run("web", "develop").await.unwrap();
    rec.take();
    let second = gh.latest_run("web", "develop").await.unwrap();
    let reqs = rec.take();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("if-none-match"), Some("W/\"r1\""));
    assert_eq!(reqs[1].header("if-none-match"), Some("W/\"j1\""));
    assert_eq!(first, second);
}

#[tokio::test]
async fn run_detail_with_failing_step_log_tail_through_the_redirect() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        "/repos/shop/web/actions/runs/30433700",
        Reply::json(200, &fixture("ci/github/run_failed.json")),
    );
    rec.on(
        "GET",
        "/repos/shop/web/actions/runs/30433700/jobs?per_page=100",
        Reply::json(200, &fixture("ci/github/jobs_failed.json")),
    );
    rec.on(
        "GET",
        "/repos/shop/web/actions/jobs/399445001/logs",
        Reply::text(302, "").header(
            "location",
            // Another host name for the same loopback server: the redirect leaves the API host.
            &format!(
                "{}/blob/logs/399445001.txt?sig=x",
                rec.url.replace("127.0.0.1", "localhost")
            ),
        ),
    );
    rec.on(
        "GET",
        "/blob/logs/399445001.txt?sig=x",
        Reply::text(200, &fixture("ci/github/job_failed.log")),
    );
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    let d = ci::run_detail(&gh, &run_ref("30433700")).await.unwrap();
    let reqs = rec.take();
    assert_eq!(reqs[2].header("authorization"), Some("Bearer ghp_test123"));
    assert_eq!(
        reqs[3].header("authorization"),
        None,
        "the token never leaves the API host"
    );
    assert_eq!(
        lines(&reqs),
        vec![
            "GET /repos/shop/web/actions/runs/30433700",
            "GET /repos/shop/web/actions/runs/30433700/jobs?per_page=100",
            "GET /repos/shop/web/actions/jobs/399445001/logs",
            "GET /blob/logs/399445001.txt?sig=x",
        ]
    );
    assert_eq!(d.pipeline.status, StageStatus::Failed);
    assert_eq!(d.jobs.len(), 2);
    assert_eq!(d.jobs[0].steps[1].name, "Run cargo test");
    assert_eq!(d.jobs[0].steps[1].status, StageStatus::Failed);
    assert_eq!(d.jobs[0].steps[1].duration, Some(Duration::from_secs(28)));
    assert_eq!(d.jobs[1].status, StageStatus::Skipped);
    let tail = d.log_tail.unwrap();
    assert_eq!(tail.job, "test");
    assert_eq!(tail.step.as_deref(), Some("Run cargo test"));
    assert_eq!(tail.lines.len(), 5);
    assert_eq!(tail.lines[0], "##[group]Run cargo test");
    assert_eq!(
        tail.lines[4],
        "##[error]Process completed with exit code 101."
    );
    assert!(d.approvals.is_empty());
}

#[tokio::test]
async fn pending_deployment_approve_rerun_cancel() {
    let rec = Recorder::start().await;
    let base = "/repos/shop/web/actions/runs/30433800";
    rec.on(
        "GET",
        &format!("{base}/pending_deployments"),
        Reply::json(200, &fixture("ci/github/pending_deployments.json")),
    );
    rec.on(
        "POST",
        &format!("{base}/pending_deployments"),
        Reply::json(200, "[]"),
    );
    rec.on("POST", &format!("{base}/rerun"), Reply::json(201, "{}"));
    rec.on("POST", &format!("{base}/cancel"), Reply::json(202, "{}"));
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    let run = run_ref("30433800");
    let gates = gh.pending_approvals(&run).await.unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(gates[0].id, "161088068");
    assert_eq!(gates[0].name, "production");
    gh.approve(&gates[0]).await.unwrap();
    gh.rerun(&run).await.unwrap();
    gh.cancel(&run).await.unwrap();
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {base}/pending_deployments"),
            format!("POST {base}/pending_deployments"),
            format!("POST {base}/rerun"),
            format!("POST {base}/cancel"),
        ]
    );
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"environment_ids": [161088068], "state": "approved", "comment": "Approved with shipdeck"})
    );
    assert_eq!(reqs[2].body, "");
    assert_eq!(reqs[3].body, "");
    assert_eq!(reqs[3].header("authorization"), Some("Bearer ghp_test123"));
}

#[tokio::test]
async fn bad_input_becomes_typed_errors() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    // Truncated JSON.
    let runs = fixture("ci/github/runs_develop.json");
    rec.on(
        "GET",
        RUNS_DEVELOP,
        Reply::json(200, &runs[..runs.len() / 2]),
    );
    assert!(matches!(
        gh.latest_run("web", "develop").await,
        Err(CiError::Decode(_))
    ));
    // Wrong shape.
    let uri = "/repos/shop/web/actions/runs?branch=staging&per_page=1";
    rec.on(
        "GET",
        uri,
        Reply::json(200, r#"{"workflow_runs": [{"id": "not a number"}]}"#),
    );
    assert!(matches!(
        gh.latest_run("web", "staging").await,
        Err(CiError::Decode(_))
    ));
    // 401.
    let uri = "/repos/shop/api/actions/runs?branch=develop&per_page=1";
    rec.on(
        "GET",
        uri,
        Reply::json(401, &fixture("ci/github/error_401.json")),
    );
    assert_eq!(
        gh.latest_run("api", "develop").await,
        Err(CiError::Unauthorized("Bad credentials".into()))
    );
    // 404 for a deleted run.
    rec.on(
        "GET",
        "/repos/shop/web/actions/runs/1",
        Reply::json(404, &fixture("ci/github/error_404.json")),
    );
    assert_eq!(
        ci::run_detail(&gh, &run_ref("1")).await,
        Err(CiError::NotFound("Not Found".into()))
    );
    // 409 when cancelling a finished run.
    rec.on(
        "POST",
        "/repos/shop/web/actions/runs/2/cancel",
        Reply::json(
            409,
            r#"{"message":"Cannot cancel a workflow run that is completed."}"#,
        ),
    );
    assert!(matches!(
        gh.cancel(&run_ref("2")).await,
        Err(CiError::Conflict(_))
    ));
    rec.take();
}

#[tokio::test]
async fn rate_limits_are_honoured_without_hammering() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = provider(&rec.url, &dir);
    rec.on(
        "GET",
        RUNS_DEVELOP,
        Reply::json(429, &fixture("ci/github/error_429.json")).header("retry-after", "30"),
    );
    assert_eq!(
        gh.latest_run("web", "develop").await,
        Err(CiError::RateLimited {
            retry_after: Duration::from_secs(30)
        })
    );
    assert_eq!(rec.take().len(), 1);
    // Until the time has passed, calls fail fast and send nothing.
    let again = gh.latest_run("web", "staging").await;
    assert!(
        matches!(again, Err(CiError::RateLimited { retry_after }) if retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(25))
    );
    assert!(rec.take().is_empty());

    // Primary limit: a successful answer with remaining 0 stops calls until the reset.
    let gh = provider(&rec.url, &dir);
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 120;
    let uri = "/repos/shop/web/actions/runs?branch=master&per_page=1";
    rec.on(
        "GET",
        uri,
        Reply::json(200, &fixture("ci/github/runs_empty.json"))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    assert_eq!(gh.latest_run("web", "master").await, Ok(None));
    assert!(
        matches!(gh.latest_run("web", "master").await, Err(CiError::RateLimited { retry_after }) if retry_after > Duration::from_secs(100))
    );
    assert_eq!(rec.take().len(), 1);
    // A 403 with remaining 0 is a rate limit too, not "forbidden".
    let gh = provider(&rec.url, &dir);
    let uri = "/repos/shop/worker/actions/runs?branch=develop&per_page=1";
    rec.on(
        "GET",
        uri,
        Reply::json(403, r#"{"message":"API rate limit exceeded"}"#)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    assert!(matches!(
        gh.latest_run("worker", "develop").await,
        Err(CiError::RateLimited { .. })
    ));
}

#[tokio::test]
async fn unreachable_and_timeout_are_typed() {
    // A listener that accepts and never answers → timeout.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut socks = Vec::new();
        loop {
            let (s, _) = l.accept().await.unwrap();
            socks.push(s);
        }
    });
    let mut cfg = CiConfig::new(ProviderKind::Github, &url);
    cfg.repo = Some("shop/{app}".into());
    cfg.timeout_secs = 1;
    let gh = Github::new(&cfg, BTreeMap::new()).unwrap();
    assert_eq!(gh.latest_run("web", "develop").await, Err(CiError::Timeout));
    hold.abort();
    // Nothing listening → an HTTP error saying so.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let mut cfg = CiConfig::new(ProviderKind::Github, &url);
    cfg.repo = Some("shop/{app}".into());
    let gh = Github::new(&cfg, BTreeMap::new()).unwrap();
    assert!(matches!(
        gh.latest_run("web", "develop").await,
        Err(CiError::Http { status: None, .. })
    ));
}

mod sim {
    use super::super::ci_support::{RecordingHook, manual_clock, secs};
    use shipdeck::backend::ci::{self, CiProvider, github::Github};
    use shipdeck::backend::registry::{RegistryClient, RegistryConfig};
    use shipdeck::demo::ci::{CiSimOptions, start_ci_and_registry};
    use shipdeck::model::pipeline::StageStatus;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn pipelines_advance_push_deploy_and_wait_for_approval() {
        let (clock, clockfn) = manual_clock();
        let hook = Arc::new(RecordingHook::default());
        let opts = CiSimOptions {
            fail_test_pct: 0,
            fail_build_pct: 0,
            // No new commits mid-test: runs are looked at by branch.
            commit_every: jiff::SignedDuration::from_hours(1),
            ..CiSimOptions::default()
        };
        let (servers, registry) = start_ci_and_registry(opts, clockfn, hook.clone())
            .await
            .unwrap();
        let gh = Github::new(&servers.github_config(), BTreeMap::new()).unwrap();

        clock.advance(secs(200));
        let master = gh.latest_run("web", "master").await.unwrap().unwrap();
        assert_eq!(master.status, StageStatus::WaitingApproval);
        let names: Vec<_> = master.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["test", "build", "push", "deploy production"]);
        assert_eq!(master.stages[3].status, StageStatus::WaitingApproval);
        let develop = gh.latest_run("web", "develop").await.unwrap().unwrap();
        assert_eq!(develop.status, StageStatus::Success);
        assert_eq!(
            develop.stages.last().unwrap().duration,
            Some(std::time::Duration::from_secs(15))
        );

        // Develop and staging deployed the pushed image on their own.
        let tag = &develop.commit.sha[..7];
        let image = format!("{}/shop/web:{tag}", registry.host());
        assert!(hook.calls.lock().unwrap().contains(&(
            "web".into(),
            "develop".into(),
            image.clone()
        )));
        assert!(!hook.calls.lock().unwrap().iter().any(|c| c.1 == "master"));
        let client = RegistryClient::new(&RegistryConfig::new(registry.url())).unwrap();
        assert!(
            client
                .tags("shop/web")
                .await
                .unwrap()
                .contains(&tag.to_string())
        );

        let detail = ci::run_detail(&gh, &master.run_ref()).await.unwrap();
        assert_eq!(detail.approvals.len(), 1);
        assert_eq!(detail.approvals[0].name, "production");
        assert_eq!(detail.jobs[0].steps.len(), 3);
        gh.approve(&detail.approvals[0]).await.unwrap();
        clock.advance(secs(16));
        let master = gh.latest_run("web", "master").await.unwrap().unwrap();
        assert_eq!(master.status, StageStatus::Success);
        let prod = format!("{}/shop/web:{}", registry.host(), &master.commit.sha[..7]);
        assert!(
            hook.calls
                .lock()
                .unwrap()
                .contains(&("web".into(), "master".into(), prod))
        );
        // Approving again: nothing is waiting any more.
        assert!(gh.approve(&detail.approvals[0]).await.is_err());
    }

    #[tokio::test]
    async fn the_ticker_deploys_without_anyone_asking() {
        let (clock, clockfn) = manual_clock();
        let hook = Arc::new(RecordingHook::default());
        let opts = CiSimOptions {
            apps: vec!["web".into()],
            fail_test_pct: 0,
            fail_build_pct: 0,
            ..CiSimOptions::default()
        };
        let (servers, registry) = start_ci_and_registry(opts, clockfn, hook.clone())
            .await
            .unwrap();
        let tags_before = registry.registry().tags("shop/web").len();
        // New commits run test → build → push → deploy; no request is made.
        clock.advance(secs(600));
        let develop_deploys = || {
            let calls = hook.calls.lock().unwrap();
            calls
                .iter()
                .filter(|c| c.1 == "develop")
                .map(|c| c.2.clone())
                .collect::<Vec<_>>()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // The first run's deploy, then a new commit's.
        while develop_deploys().len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no deploy happened on its own"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let develop = servers.engine().runs("web", "develop");
        let newest = develop_deploys().last().unwrap().clone();
        assert!(
            develop
                .iter()
                .any(|r| r.number >= 2 && r.image.as_deref() == Some(newest.as_str()))
        );
        assert!(
            registry.registry().tags("shop/web").len() > tags_before,
            "a new tag was pushed"
        );
    }

    #[tokio::test]
    async fn failed_run_log_tail_rerun_and_cancel() {
        let (clock, clockfn) = manual_clock();
        let opts = CiSimOptions {
            apps: vec!["web".into()],
            fail_test_pct: 100,
            // No new commits mid-test: runs are looked at by branch.
            commit_every: jiff::SignedDuration::from_hours(1),
            ..CiSimOptions::default()
        };
        let (servers, _registry) =
            start_ci_and_registry(opts, clockfn, Arc::new(shipdeck::demo::ci::NoDeploy))
                .await
                .unwrap();
        let gh = Github::new(&servers.github_config(), BTreeMap::new()).unwrap();
        clock.advance(secs(60));
        let run = gh.latest_run("web", "staging").await.unwrap().unwrap();
        assert_eq!(run.status, StageStatus::Failed);
        assert_eq!(run.stages[1].status, StageStatus::Skipped);
        let d = ci::run_detail(&gh, &run.run_ref()).await.unwrap();
        let tail = d.log_tail.unwrap();
        assert_eq!(tail.job, "test");
        assert!(
            tail.lines.iter().any(|l| l.contains("FAILED")),
            "{:?}",
            tail.lines
        );
        gh.rerun(&run.run_ref()).await.unwrap();
        let again = gh.latest_run("web", "staging").await.unwrap().unwrap();
        assert_eq!(again.run_id, run.run_id);
        assert_eq!(again.status, StageStatus::Running);
        gh.cancel(&run.run_ref()).await.unwrap();
        let cancelled = gh.latest_run("web", "staging").await.unwrap().unwrap();
        assert_eq!(cancelled.status, StageStatus::Cancelled);
        assert!(matches!(
            gh.cancel(&run.run_ref()).await,
            Err(shipdeck::backend::ci::CiError::Conflict(_))
        ));
    }
}

mod poller {
    use super::super::ci_support::{manual_clock, secs};
    use shipdeck::backend::ci::{self, CiConfig, ProviderKind};
    use shipdeck::backend::pipelines::{PipelineEvent, PollerOptions, spawn_pipelines_poller};
    use shipdeck::demo::ci::{CiSimOptions, NoDeploy, start_ci_and_registry};
    use shipdeck::model::pipeline::StageStatus;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use tokio_util::sync::CancellationToken;

    fn opts() -> PollerOptions {
        PollerOptions {
            branches: ["develop", "staging", "master"].map(String::from).to_vec(),
            interval: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn sends_only_changes_and_the_open_run_detail() {
        let (clock, clockfn) = manual_clock();
        let sim = CiSimOptions {
            fail_test_pct: 0,
            fail_build_pct: 0,
            ..CiSimOptions::default()
        };
        let (servers, _reg) = start_ci_and_registry(sim, clockfn, Arc::new(NoDeploy))
            .await
            .unwrap();
        let provider = ci::provider(&servers.github_config(), BTreeMap::new()).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let h = spawn_pipelines_poller(provider, opts(), tx, cancel.clone());
        // Nothing is polled before an app is selected.
        assert!(
            timeout(Duration::from_millis(150), rx.recv())
                .await
                .is_err()
        );
        h.select("web");
        let Some(PipelineEvent::Runs { app, pipelines }) =
            timeout(Duration::from_secs(5), rx.recv()).await.unwrap()
        else {
            panic!("expected runs");
        };
        assert_eq!(app, "web");
        let branches: Vec<_> = pipelines.iter().map(|p| p.branch.as_str()).collect();
        assert_eq!(branches, vec!["develop", "staging", "master"]);
        // Several polls with nothing changed: no message.
        assert!(
            timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err()
        );
        clock.advance(secs(300));
        let Some(PipelineEvent::Runs {
            pipelines: later, ..
        }) = timeout(Duration::from_secs(5), rx.recv()).await.unwrap()
        else {
            panic!("expected runs");
        };
        assert_ne!(later, pipelines);
        let master = later.iter().find(|p| p.branch == "master").unwrap();
        assert_eq!(master.status, StageStatus::WaitingApproval);
        h.open(master.run_ref());
        // Runs may still settle (a stage finishing on the next advance); the detail follows.
        let (run, detail) = timeout(Duration::from_secs(5), async {
            loop {
                match rx.recv().await.unwrap() {
                    PipelineEvent::Detail { run, detail } => break (run, detail),
                    PipelineEvent::Runs { .. } => continue,
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(run, master.run_ref());
        assert_eq!(detail.approvals.len(), 1);
        h.close();
        cancel.cancel();
    }

    #[tokio::test]
    async fn every_watched_app_is_polled_in_turn() {
        let (_clock, clockfn) = manual_clock();
        let (servers, _reg) =
            start_ci_and_registry(CiSimOptions::default(), clockfn, Arc::new(NoDeploy))
                .await
                .unwrap();
        let provider = ci::provider(&servers.github_config(), BTreeMap::new()).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let h = spawn_pipelines_poller(provider, opts(), tx, cancel.clone());
        h.watch_apps(vec!["web".into(), "api".into(), "worker".into()]);
        let mut seen = std::collections::BTreeSet::new();
        timeout(Duration::from_secs(5), async {
            while seen.len() < 3 {
                if let Some(PipelineEvent::Runs { app, pipelines }) = rx.recv().await {
                    assert_eq!(pipelines.len(), 3);
                    seen.insert(app);
                }
            }
        })
        .await
        .unwrap();
        cancel.cancel();
    }

    #[tokio::test]
    async fn a_rate_limit_stops_polling_until_retry_after() {
        use super::super::ci_support::{Recorder, Reply};
        let rec = Recorder::start().await;
        rec.on(
            "GET",
            "/repos/shop/web/actions/runs?branch=develop&per_page=1",
            Reply::json(429, r#"{"message":"secondary rate limit"}"#).header("retry-after", "30"),
        );
        let mut cfg = CiConfig::new(ProviderKind::Github, &rec.url);
        cfg.repo = Some("shop/{app}".into());
        let provider = ci::provider(&cfg, BTreeMap::new()).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let h = spawn_pipelines_poller(provider, opts(), tx, cancel.clone());
        h.select("web");
        let ev = timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ev,
            PipelineEvent::Failed {
                app: "web".into(),
                error: "rate limited, retry in 30s".into()
            }
        );
        // Six intervals later: still only the one request.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rec.take().len(), 1);
        cancel.cancel();
    }

    #[tokio::test]
    async fn failures_arrive_as_events_with_the_error_text() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let mut cfg = CiConfig::new(ProviderKind::Github, &url);
        cfg.repo = Some("shop/{app}".into());
        let provider = ci::provider(&cfg, BTreeMap::new()).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let h = spawn_pipelines_poller(provider, opts(), tx, cancel.clone());
        h.select("web");
        let ev = timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ev,
            PipelineEvent::Failed {
                app: "web".into(),
                error: "HTTP error: unreachable".into()
            }
        );
        cancel.cancel();
    }
}
