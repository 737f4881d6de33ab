//! The `approve` operation: the app's CI gate waiting for a person (GitHub pending deployment,
//! Jenkins input, GitLab manual job), approved through the configured `CiProvider`.
use super::plan::{Plan, Step, StepCtx, StepExec, StepOutput, new_op_id};
use super::preview::Check;
use super::{OpContext, OpError, Preview, Request};
use crate::backend::ci::CiProvider;
use crate::model::pipeline::Approval;
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;

/// Finds the gate: on the environment's branch first, then the other CI branches; a gate named
/// like the environment wins.
pub async fn find_gate(
    ci: &dyn CiProvider,
    ctx: &OpContext,
    app: &str,
    env: &str,
) -> Result<Option<Approval>, OpError> {
    let mut branches: Vec<String> = ctx.env(env)?.branch.iter().cloned().collect();
    if let Some(cfg) = &ctx.config.ci {
        for b in &cfg.branches {
            if !branches.contains(b) {
                branches.push(b.clone());
            }
        }
    }
    let mut fallback = None;
    for (i, branch) in branches.iter().enumerate() {
        let Some(run) = ci
            .latest_run(app, branch)
            .await
            .map_err(|e| OpError::backend("ci", e))?
        else {
            continue;
        };
        let gates = ci
            .pending_approvals(&run.run_ref())
            .await
            .map_err(|e| OpError::backend("ci", e))?;
        if let Some(g) = gates.iter().find(|g| g.name.eq_ignore_ascii_case(env)) {
            return Ok(Some(g.clone()));
        }
        if i == 0 && fallback.is_none() {
            fallback = gates.into_iter().next();
        }
    }
    Ok(fallback)
}

struct ApproveGate {
    gate: Approval,
}

impl StepExec for ApproveGate {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let ci = cx.ctx.require_ci()?;
            // Idempotent: a gate no longer pending was approved (by us or someone else).
            let pending = ci
                .pending_approvals(&self.gate.run)
                .await
                .map_err(|e| OpError::backend("ci", e))?;
            if !pending.iter().any(|g| g.id == self.gate.id) {
                return Ok(StepOutput::already(format!(
                    "gate {} is no longer pending",
                    self.gate.name
                )));
            }
            ci.approve(&self.gate)
                .await
                .map_err(|e| OpError::backend("ci", e))?;
            Ok(StepOutput::done(format!(
                "approved {} of run {} ({})",
                self.gate.name, self.gate.run.id, self.gate.run.branch
            )))
        })
    }
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Approve { app, env } = &request else {
        return Err(OpError::Usage("approve: wrong request".into()));
    };
    let ci = ctx.ci()?.ok_or_else(|| {
        OpError::Usage("approve needs a [ci] section in the configuration".into())
    })?;
    let gate = find_gate(ci.as_ref(), &ctx, app, env)
        .await?
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "no CI gate of {app} is waiting for approval for {env}"
            ))
        })?;
    let mut plan = Plan::new(request.clone(), new_op_id(&ctx, &request));
    plan.locks.push((app.clone(), env.clone()));
    let mut preview = Preview::new(ctx.clone(), plan);
    preview.checks.push(super::checks::read_only(&ctx, env));
    preview.checks.push(super::checks::lock(&ctx, app, env));
    preview
        .checks
        .extend(super::checks::protected(&ctx, env, app));
    preview.checks.push(Check::pass(
        "gate",
        format!("gate waiting ({:?})", ci.kind()),
        format!("{}: {}", gate.name, gate.message),
    ));
    preview.confirm_name = super::checks::confirm_name(&ctx, env, app);
    preview.notes.push(format!(
        "approve `{}` of {app} run {} on {}",
        gate.name, gate.run.id, gate.run.branch
    ));
    preview.plan.steps.push(Step::new(
        "approve-gate",
        format!(
            "Approve gate {} of {app} (run {} on {})",
            gate.name, gate.run.id, gate.run.branch
        ),
        json!({"run": gate.run.id, "branch": gate.run.branch, "gate": gate.id, "name": gate.name}),
        ApproveGate { gate },
    ));
    Ok(preview)
}
