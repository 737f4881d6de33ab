//! GitLab provider: each request asserted exactly against a recorder serving documented bodies
//! (tests/fixtures/ci/gitlab): pipelines by ref, jobs grouped into stages, manual jobs as gates
//! (play), retry, cancel, trace tail, and bad input as typed errors.
#![allow(clippy::unwrap_used)] // tests may unwrap
use super::ci_support::{Recorder, Reply, fixture, lines};
use shipdeck::backend::ci::{self, CiConfig, CiError, CiProvider, ProviderKind, gitlab::Gitlab};
use shipdeck::model::pipeline::{RunRef, StageStatus};
use std::collections::BTreeMap;
use std::time::Duration;

const P: &str = "/api/v4/projects/shop%2Fweb";

fn provider(url: &str, dir: &tempfile::TempDir) -> Gitlab {
    let tok = dir.path().join("token");
    std::fs::write(&tok, "glpat-abc\n").unwrap();
    let mut cfg = CiConfig::new(ProviderKind::Gitlab, url);
    cfg.project = Some("shop/{app}".into());
    cfg.token_file = Some(tok);
    Gitlab::new(&cfg, BTreeMap::new()).unwrap()
}

fn run(branch: &str, id: &str) -> RunRef {
    RunRef {
        app: "web".into(),
        branch: branch.into(),
        id: id.into(),
    }
}

#[tokio::test]
async fn latest_pipeline_with_stages_and_manual_gate() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        &format!("{P}/pipelines?ref=master&per_page=1"),
        Reply::json(200, &fixture("ci/gitlab/pipelines_master.json")),
    );
    rec.on(
        "GET",
        &format!("{P}/pipelines/47/jobs?per_page=100"),
        Reply::json(200, &fixture("ci/gitlab/jobs_master.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let g = provider(&rec.url, &dir);
    let p = g.latest_run("web", "master").await.unwrap().unwrap();
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {P}/pipelines?ref=master&per_page=1"),
            format!("GET {P}/pipelines/47/jobs?per_page=100")
        ]
    );
    for r in &reqs {
        assert_eq!(r.header("private-token"), Some("glpat-abc"));
        assert_eq!(r.header("authorization"), None);
    }
    assert_eq!(p.run_id, "47");
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
            ("test", StageStatus::Success, Some(Duration::from_secs(28))),
            ("build", StageStatus::Success, Some(Duration::from_secs(70))),
            ("deploy", StageStatus::WaitingApproval, None),
        ]
    );
    assert_eq!(p.commit.author, "Ana Lima");
    assert_eq!(p.commit.title(), "feat: add order export");

    let gates = g.pending_approvals(&p.run_ref()).await.unwrap();
    assert_eq!(gates.len(), 1, "the optional manual job is not a gate");
    assert_eq!(
        (gates[0].id.as_str(), gates[0].name.as_str()),
        ("8", "deploy production")
    );
    rec.on(
        "POST",
        &format!("{P}/jobs/8/play"),
        Reply::json(200, r#"{"id":8,"status":"pending"}"#),
    );
    rec.on(
        "POST",
        &format!("{P}/pipelines/47/retry"),
        Reply::json(201, r#"{"id":47,"status":"pending"}"#),
    );
    rec.on(
        "POST",
        &format!("{P}/pipelines/47/cancel"),
        Reply::json(200, r#"{"id":47,"status":"canceled"}"#),
    );
    rec.take();
    g.approve(&gates[0]).await.unwrap();
    g.rerun(&p.run_ref()).await.unwrap();
    g.cancel(&p.run_ref()).await.unwrap();
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("POST {P}/jobs/8/play"),
            format!("POST {P}/pipelines/47/retry"),
            format!("POST {P}/pipelines/47/cancel")
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.body.is_empty() && r.header("private-token") == Some("glpat-abc"))
    );
}

#[tokio::test]
async fn failed_pipeline_detail_with_trace_tail() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        &format!("{P}/pipelines/48"),
        Reply::json(200, &fixture("ci/gitlab/pipeline_failed.json")),
    );
    rec.on(
        "GET",
        &format!("{P}/pipelines/48/jobs?per_page=100"),
        Reply::json(200, &fixture("ci/gitlab/jobs_failed.json")),
    );
    rec.on(
        "GET",
        &format!("{P}/jobs/21/trace"),
        Reply::text(200, &fixture("ci/gitlab/trace_failed.txt")),
    );
    let dir = tempfile::tempdir().unwrap();
    let g = provider(&rec.url, &dir);
    let d = ci::run_detail(&g, &run("develop", "48")).await.unwrap();
    assert_eq!(
        lines(&rec.take()),
        vec![
            format!("GET {P}/pipelines/48"),
            format!("GET {P}/pipelines/48/jobs?per_page=100"),
            format!("GET {P}/jobs/21/trace"),
        ]
    );
    assert_eq!(d.pipeline.status, StageStatus::Failed);
    assert_eq!(d.pipeline.commit.author, "Bo");
    assert_eq!(d.jobs[0].name, "test: unit");
    assert_eq!(d.jobs[0].duration, Some(Duration::from_secs(30)));
    let tail = d.log_tail.unwrap();
    assert_eq!(tail.job, "test: unit");
    // Section markers before a carriage return are not what a terminal shows.
    assert!(
        tail.lines.iter().all(|l| !l.contains("section_")),
        "{:?}",
        tail.lines
    );
    assert!(
        tail.lines
            .last()
            .unwrap()
            .contains("ERROR: Job failed: exit code 101")
    );
}

#[tokio::test]
async fn bad_input_becomes_typed_errors() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let g = provider(&rec.url, &dir);
    rec.on(
        "GET",
        &format!("{P}/pipelines?ref=develop&per_page=1"),
        Reply::json(401, &fixture("ci/gitlab/error_401.json")),
    );
    assert_eq!(
        g.latest_run("web", "develop").await,
        Err(CiError::Unauthorized("401 Unauthorized".into()))
    );
    rec.on(
        "GET",
        &format!("{P}/pipelines/404"),
        Reply::json(404, &fixture("ci/gitlab/error_404_object.json")),
    );
    assert_eq!(
        ci::run_detail(&g, &run("develop", "404")).await,
        Err(CiError::NotFound(
            r#"{"base":["404 Pipeline Not Found"]}"#.into()
        ))
    );
    rec.on(
        "GET",
        &format!("{P}/pipelines?ref=staging&per_page=1"),
        Reply::json(200, "[{\"id\": 1, \"sha\": "),
    );
    assert!(matches!(
        g.latest_run("web", "staging").await,
        Err(CiError::Decode(_))
    ));
    rec.on(
        "POST",
        &format!("{P}/jobs/5/play"),
        Reply::json(400, &fixture("ci/gitlab/play_400.json")),
    );
    let gate = shipdeck::model::pipeline::Approval {
        run: run("master", "47"),
        id: "5".into(),
        name: "unit".into(),
        message: String::new(),
    };
    assert!(
        matches!(g.approve(&gate).await, Err(CiError::Http { status: Some(400), message }) if message.contains("Unplayable"))
    );
    rec.on(
        "GET",
        &format!("{P}/pipelines?ref=master&per_page=1"),
        Reply::json(429, r#"{"message":"Retry later"}"#).header("retry-after", "7"),
    );
    assert_eq!(
        g.latest_run("web", "master").await,
        Err(CiError::RateLimited {
            retry_after: Duration::from_secs(7)
        })
    );
}

mod sim {
    use super::super::ci_support::{RecordingHook, manual_clock, secs};
    use shipdeck::backend::ci::{self, CiError, CiProvider, gitlab::Gitlab};
    use shipdeck::demo::ci::{CiSimOptions, start_ci_and_registry};
    use shipdeck::model::pipeline::StageStatus;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn manual_job_played_as_approval_then_production_deploys() {
        let (clock, clockfn) = manual_clock();
        let hook = Arc::new(RecordingHook::default());
        let opts = CiSimOptions {
            fail_test_pct: 0,
            fail_build_pct: 0,
            // No new commits mid-test: runs are looked at by branch.
            commit_every: jiff::SignedDuration::from_hours(1),
            ..CiSimOptions::default()
        };
        let (servers, _reg) = start_ci_and_registry(opts, clockfn, hook.clone())
            .await
            .unwrap();
        let g = Gitlab::new(&servers.gitlab_config(), BTreeMap::new()).unwrap();
        clock.advance(secs(200));
        let p = g.latest_run("worker", "master").await.unwrap().unwrap();
        assert_eq!(p.status, StageStatus::WaitingApproval);
        let stages: Vec<_> = p
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.status))
            .collect();
        assert_eq!(
            stages,
            vec![
                ("test", StageStatus::Success),
                ("build", StageStatus::Success),
                ("deploy", StageStatus::WaitingApproval)
            ]
        );
        let d = ci::run_detail(&g, &p.run_ref()).await.unwrap();
        assert_eq!(d.approvals.len(), 1);
        assert_eq!(d.approvals[0].name, "deploy production");
        // Playing a job that is not manual is refused.
        let mut wrong = d.approvals[0].clone();
        wrong.id = d.jobs[0].id.clone();
        assert!(matches!(
            g.approve(&wrong).await,
            Err(CiError::Http {
                status: Some(400),
                ..
            })
        ));
        g.approve(&d.approvals[0]).await.unwrap();
        clock.advance(secs(20));
        let p = g.latest_run("worker", "master").await.unwrap().unwrap();
        assert_eq!(p.status, StageStatus::Success);
        assert!(
            hook.calls
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.0 == "worker" && c.1 == "master")
        );
        // (A newer commit may have started meanwhile: look at this pipeline by id.)
        g.rerun(&p.run_ref()).await.unwrap();
        assert_eq!(
            g.run_jobs(&p.run_ref()).await.unwrap().0.status,
            StageStatus::Running
        );
        g.cancel(&p.run_ref()).await.unwrap();
        assert_eq!(
            g.run_jobs(&p.run_ref()).await.unwrap().0.status,
            StageStatus::Cancelled
        );
        assert!(matches!(
            ci::run_detail(
                &g,
                &shipdeck::model::pipeline::RunRef {
                    id: "999".into(),
                    ..p.run_ref()
                }
            )
            .await,
            Err(CiError::NotFound(_))
        ));
    }
}
