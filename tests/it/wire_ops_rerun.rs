//! The `rerun` operation (the console's `R`) through the simulated GitHub: the preview names the
//! run, running it asks the CI to re-run that run, read-only refuses, a branch without runs is a
//! clear error.
use crate::ops_support::{Estate, prepare, run};
use shipdeck::ops::{Confirmation, OpError, OutcomeStatus, Request};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_the_latest_run_of_a_branch() {
    use crate::ci_support::{manual_clock, secs};
    use shipdeck::demo::ci::{CiSimOptions, NoDeploy, start_ci_and_registry};
    let e = Estate::start(40.0).await;
    let (clock, clockfn) = manual_clock();
    let (servers, _registry) =
        start_ci_and_registry(CiSimOptions::default(), clockfn, Arc::new(NoDeploy))
            .await
            .unwrap();
    // Long enough for develop's first run to finish (master's waits for its production gate).
    clock.advance(secs(3600));
    let mut config = e.config.clone();
    config.ci = Some(servers.github_config());
    let ctx = e.ctx_with(config.clone(), false);
    let req = Request::Rerun {
        app: "web".into(),
        branch: "develop".into(),
    };
    let p = prepare(ctx.clone(), req.clone()).await;
    assert_eq!(p.plan.steps.len(), 1);
    let text = p.render_text(200);
    assert!(
        text.contains("Re-run run ") && text.contains("of web on develop"),
        "{text}"
    );
    assert!(p.failed_checks().is_empty(), "{:?}", p.checks);
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert_eq!(outcome.steps_done, vec!["rerun-pipeline".to_string()]);
    // A run still going (master waits for its production gate) is refused before any request.
    let p = prepare(
        ctx.clone(),
        Request::Rerun {
            app: "web".into(),
            branch: "master".into(),
        },
    )
    .await;
    assert_eq!(p.hard_failures()[0].id, "run-finished", "{:?}", p.checks);
    // Read-only: a hard failure, refused whatever is typed.
    let ro = e.ctx_with(config, true);
    let p = prepare(ro, req).await;
    assert!(p.hard_failures().iter().any(|c| c.id == "read-only"));
    let (outcome, _) = run(p, Confirmation::default()).await;
    assert!(matches!(outcome.status, OutcomeStatus::Refused { .. }));
    // No run on the branch.
    let err = shipdeck::ops::prepare(
        ctx,
        Request::Rerun {
            app: "web".into(),
            branch: "no-such-branch".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpError::NotFound(_)), "{err}");
}
