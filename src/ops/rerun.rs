//! The `rerun` operation: run the app's latest pipeline on a branch again through the configured
//! `CiProvider` (the console's `R`). One step; the preview names the run it re-runs.
use super::plan::{Plan, Step, StepCtx, StepExec, StepOutput, new_op_id};
use super::preview::Check;
use super::{OpContext, OpError, Preview, Request};
use crate::model::pipeline::RunRef;
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;

struct RerunRun {
    run: RunRef,
}

impl StepExec for RerunRun {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let ci = cx.ctx.require_ci()?;
            ci.rerun(&self.run)
                .await
                .map_err(|e| OpError::backend("ci", e))?;
            Ok(StepOutput::done(format!(
                "re-ran run {} of {} on {}",
                self.run.id, self.run.app, self.run.branch
            )))
        })
    }
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Rerun { app, branch } = &request else {
        return Err(OpError::Usage("rerun: wrong request".into()));
    };
    let ci = ctx
        .ci()?
        .ok_or_else(|| OpError::Usage("re-run needs a [ci] section in the configuration".into()))?;
    let run = ci
        .latest_run(app, branch)
        .await
        .map_err(|e| OpError::backend("ci", e))?
        .ok_or_else(|| OpError::NotFound(format!("no run of {app} on {branch}")))?;
    let mut plan = Plan::new(request.clone(), new_op_id(&ctx, &request));
    plan.steps.push(Step::new(
        "rerun-pipeline",
        format!("Re-run run {} of {app} on {branch}", run.run_id),
        json!({"run": run.run_id, "branch": branch}),
        RerunRun { run: run.run_ref() },
    ));
    let mut preview = Preview::new(ctx.clone(), plan);
    // A pipeline has no environment: only the global read-only rail applies.
    let ro = ctx.read_only || ctx.config.read_only;
    preview.checks.push(if ro {
        Check::fail(
            "read-only",
            "writable",
            "shipdeck runs read-only (--read-only or read_only = true)",
        )
    } else {
        Check::pass("read-only", "writable", "mutations allowed")
    });
    // The CI refuses to re-run a run that is still going: say so before anything is sent.
    let finished = run.status.is_finished();
    preview.checks.push(Check::new(
        "run-finished",
        "run finished",
        if finished {
            super::CheckStatus::Pass
        } else {
            super::CheckStatus::Fail
        },
        format!("run {} is {:?}", run.run_id, run.status),
    ));
    preview.notes.push(format!(
        "run {}{} of {app} on {branch}: {:?}",
        run.run_id,
        run.number.map(|n| format!(" (#{n})")).unwrap_or_default(),
        run.status
    ));
    Ok(preview)
}
