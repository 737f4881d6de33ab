//! `run`: executes a confirmed preview's steps in order with progress events, cancellable between
//! steps, journalled before and after each step; then verify, the Kubernetes Event and Slack.
use super::audit::{self, AuditRecord};
use super::plan::StepCtx;
use super::preview::Preview;
use super::verify::VerifyReport;
use super::{OpError, Request};
use serde::Serialize;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The user's answer to the preview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// What was typed when the preview asked for the app name (protected environments).
    pub typed_name: Option<String>,
    /// The typed reason overriding failed checks; audited.
    pub override_reason: Option<String>,
}

/// Progress of a running operation, in order: Started, then per step Step → Progress* → StepDone,
/// then Verify* and exactly one Finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum OpEvent {
    Started {
        op_id: String,
        summary: String,
        total: usize,
    },
    Step {
        index: usize,
        total: usize,
        name: String,
        description: String,
    },
    Progress {
        index: usize,
        message: String,
        ready: Option<i32>,
        desired: Option<i32>,
    },
    StepDone {
        index: usize,
        name: String,
        message: String,
        /// Nothing needed doing, or skipped because the journal says it was done (`--resume`).
        already: bool,
        elapsed_ms: u64,
    },
    Finished(Box<Outcome>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutcomeStatus {
    Done,
    /// Nothing to do (rollback to the current template, ...).
    NoOp,
    /// Done, but verify found the error ratio or p99 worse than before.
    Regressed,
    Failed {
        error: OpError,
    },
    Cancelled,
    /// Refused by a rail before any step ran.
    Refused {
        error: OpError,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub op_id: String,
    pub request: Request,
    #[serde(flatten)]
    pub status: OutcomeStatus,
    /// One line for people.
    pub message: String,
    /// Names of the steps that took effect (or were already in effect), in order.
    pub steps_done: Vec<String>,
    pub steps_total: usize,
    pub verify: Option<VerifyReport>,
    /// After a regression: the one-key rollback.
    pub suggested_rollback: Option<Request>,
    pub elapsed_ms: u64,
}

impl Outcome {
    /// PRODUCT.md §5 exit codes (a regression is a failure for scripts: 1).
    pub fn exit_code(&self) -> u8 {
        match &self.status {
            OutcomeStatus::Done | OutcomeStatus::NoOp => 0,
            OutcomeStatus::Regressed => 1,
            OutcomeStatus::Failed { error } | OutcomeStatus::Refused { error } => {
                error.exit_code().max(1)
            }
            OutcomeStatus::Cancelled => 4,
        }
    }

    pub fn status_word(&self) -> &'static str {
        match &self.status {
            OutcomeStatus::Done => "done",
            OutcomeStatus::NoOp => "no-op",
            OutcomeStatus::Regressed => "regressed",
            OutcomeStatus::Failed { .. } => "failed",
            OutcomeStatus::Cancelled => "cancelled",
            OutcomeStatus::Refused { .. } => "refused",
        }
    }
}

/// Checks the confirmation against the preview: hard failures refuse, overridable failures need a
/// reason, a protected environment needs the app name typed.
pub fn gate(preview: &Preview, confirm: &Confirmation) -> Result<(), OpError> {
    let hard = preview.hard_failures();
    if let Some(c) = hard.first() {
        return Err(OpError::Refused(format!("{}: {}", c.title, c.detail)));
    }
    let failed = preview.failed_checks();
    let reason = confirm
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if !failed.is_empty() && reason.is_none() {
        let list: Vec<String> = failed
            .iter()
            .map(|c| format!("{} ({})", c.title, c.detail))
            .collect();
        return Err(OpError::Refused(format!(
            "{}; override with a typed reason (--reason) to proceed",
            list.join("; ")
        )));
    }
    if let Some(name) = &preview.confirm_name
        && confirm.typed_name.as_deref().map(str::trim) != Some(name.as_str())
    {
        return Err(OpError::Cancelled(format!(
            "protected environment: type `{name}` to confirm"
        )));
    }
    Ok(())
}

/// Runs the confirmed preview. Never panics on backend errors: every failure is an `Outcome`.
/// Sends `OpEvent`s to `sink` (a closed receiver is fine) and always ends with `Finished`.
pub async fn run(
    preview: Preview,
    confirm: Confirmation,
    sink: mpsc::Sender<OpEvent>,
    cancel: CancellationToken,
) -> Outcome {
    let started = Instant::now();
    let ctx = preview.ctx.clone();
    let plan = &preview.plan;
    let total = plan.steps.len();
    let mut outcome = Outcome {
        op_id: plan.op_id.clone(),
        request: plan.request.clone(),
        status: OutcomeStatus::Done,
        message: String::new(),
        steps_done: vec![],
        steps_total: total,
        verify: None,
        suggested_rollback: None,
        elapsed_ms: 0,
    };
    let journal = audit::Journal::new(ctx.journal_path());
    // Lines that could not be written (disk full, ...): said in the outcome's message.
    let mut journal_errors: Vec<String> = vec![];
    let base = AuditRecord::base(&ctx, plan);
    let override_reason = confirm
        .override_reason
        .clone()
        .filter(|r| !r.trim().is_empty() && preview.needs_override());

    if let Err(error) = gate(&preview, &confirm) {
        let refused = matches!(error, OpError::Refused(_));
        outcome.message = error.to_string();
        outcome.status = if refused {
            OutcomeStatus::Refused { error }
        } else {
            OutcomeStatus::Cancelled
        };
        let mut rec = base.clone().phase("refused");
        rec.checks = Some(preview.checks.clone());
        rec.message = Some(outcome.message.clone());
        note_journal(&mut journal_errors, journal.append(&rec));
        return finish(outcome, started, &sink).await;
    }

    let _locks = match super::lock::acquire_all(&ctx, plan) {
        Ok(l) => l,
        Err(error) => {
            outcome.message = error.to_string();
            let mut rec = base.clone().phase("refused");
            rec.message = Some(outcome.message.clone());
            rec.error = Some(error.clone());
            note_journal(&mut journal_errors, journal.append(&rec));
            outcome.status = OutcomeStatus::Refused { error };
            return finish(outcome, started, &sink).await;
        }
    };

    let mut rec = base.clone().phase("start");
    rec.plan = Some(plan.summary());
    rec.checks = Some(preview.checks.clone());
    rec.override_reason = override_reason.clone();
    if let Err(e) = journal.append(&rec) {
        // Never mutate without a journal line: refuse.
        outcome.message = e.to_string();
        outcome.status = OutcomeStatus::Failed { error: e };
        return finish(outcome, started, &sink).await;
    }
    let _ = sink
        .send(OpEvent::Started {
            op_id: plan.op_id.clone(),
            summary: plan.request.summary(),
            total,
        })
        .await;

    // Where the "before" window of verify ends: now, on Prometheus's clock.
    let mut verify_spec = plan.verify.clone();
    if let Some(spec) = verify_spec.as_mut()
        && spec.started_at.is_none()
        && !preview.noop
    {
        spec.started_at = super::verify_prom::mark_start(&ctx).await;
    }

    let done_before = match &plan.resume_of {
        Some(id) => audit::completed_steps(&ctx.journal_path(), id).unwrap_or_default(),
        None => Default::default(),
    };

    // The last step's own words (a pull request's number and URL) for `finish_note` plans.
    let mut last_step_message: Option<String> = None;
    if preview.noop {
        outcome.status = OutcomeStatus::NoOp;
        outcome.message = preview
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| "nothing to do".into());
    } else {
        for (index, step) in plan.steps.iter().enumerate() {
            if cancel.is_cancelled() {
                outcome.status = OutcomeStatus::Cancelled;
                outcome.message = cancelled_message(&outcome.steps_done, plan);
                break;
            }
            let _ = sink
                .send(OpEvent::Step {
                    index,
                    total,
                    name: step.name.clone(),
                    description: step.description.clone(),
                })
                .await;
            if done_before.contains(&step.name) {
                let mut rec = base.clone().phase("step_skipped");
                rec.step = Some(audit::StepRef::of(index, step));
                rec.result = Some("already".into());
                rec.message = Some("done in an earlier run (journal)".into());
                note_journal(&mut journal_errors, journal.append(&rec));
                outcome.steps_done.push(step.name.clone());
                let _ = sink
                    .send(OpEvent::StepDone {
                        index,
                        name: step.name.clone(),
                        message: "done in an earlier run".into(),
                        already: true,
                        elapsed_ms: 0,
                    })
                    .await;
                continue;
            }
            let mut rec = base.clone().phase("step_begin");
            rec.step = Some(audit::StepRef::of(index, step));
            rec.detail = Some(step.detail.clone());
            if let Err(e) = journal.append(&rec) {
                outcome.message = e.to_string();
                outcome.status = OutcomeStatus::Failed { error: e };
                break;
            }
            let step_started = Instant::now();
            let cx = StepCtx {
                ctx: ctx.clone(),
                op_id: plan.op_id.clone(),
                index,
                total,
                cancel: cancel.clone(),
                sink: sink.clone(),
            };
            let result = step.exec.run(&cx).await;
            let elapsed_ms = step_started.elapsed().as_millis() as u64;
            let mut rec = base.clone().phase("step_end");
            rec.step = Some(audit::StepRef::of(index, step));
            rec.duration_ms = Some(elapsed_ms);
            match result {
                Ok(out) => {
                    rec.result = Some(if out.already { "already" } else { "ok" }.into());
                    rec.message = Some(out.message.clone());
                    if !out.detail.is_null() {
                        rec.detail = Some(out.detail.clone());
                    }
                    note_journal(&mut journal_errors, journal.append(&rec));
                    outcome.steps_done.push(step.name.clone());
                    last_step_message = Some(out.message.clone());
                    let _ = sink
                        .send(OpEvent::StepDone {
                            index,
                            name: step.name.clone(),
                            message: out.message,
                            already: out.already,
                            elapsed_ms,
                        })
                        .await;
                }
                Err(OpError::Cancelled(why)) => {
                    rec.result = Some("cancelled".into());
                    rec.message = Some(why);
                    note_journal(&mut journal_errors, journal.append(&rec));
                    outcome.status = OutcomeStatus::Cancelled;
                    outcome.message = cancelled_message(&outcome.steps_done, plan);
                    break;
                }
                Err(error) => {
                    rec.result = Some("failed".into());
                    rec.message = Some(error.to_string());
                    rec.error = Some(error.clone());
                    note_journal(&mut journal_errors, journal.append(&rec));
                    outcome.message = format!(
                        "step {}/{} ({}) failed: {error}{}",
                        index + 1,
                        total,
                        step.name,
                        done_so_far(&outcome.steps_done)
                    );
                    outcome.status = OutcomeStatus::Failed { error };
                    break;
                }
            }
        }
    }

    let rollout_failed = matches!(
        &outcome.status,
        OutcomeStatus::Failed {
            error: OpError::RolloutFailed(_)
        }
    );
    if rollout_failed {
        outcome.suggested_rollback = super::verify::rollback_for(&plan.request);
    }
    if outcome.status == OutcomeStatus::Done || rollout_failed {
        if !rollout_failed {
            outcome.message = match (&plan.finish_note, &last_step_message) {
                (Some(note), Some(last)) => {
                    format!("{}: done; {last}; {note}", plan.request.summary())
                }
                (Some(note), None) => format!("{}: done; {note}", plan.request.summary()),
                _ => format!("{}: done", plan.request.summary()),
            };
        }
        if let Some(spec) = &verify_spec {
            let cx = StepCtx {
                ctx: ctx.clone(),
                op_id: plan.op_id.clone(),
                index: total,
                total,
                cancel: cancel.clone(),
                sink: sink.clone(),
            };
            let report = super::verify::verify(&cx, spec).await;
            let mut rec = base.clone().phase("verify");
            rec.detail = serde_json::to_value(&report).ok();
            rec.result = Some(report.verdict.as_str().into());
            rec.message = Some(report.summary.clone());
            note_journal(&mut journal_errors, journal.append(&rec));
            if report.verdict == super::verify::Verdict::Regressed {
                outcome.message = if rollout_failed {
                    format!(
                        "{}; verification found a regression: {}",
                        outcome.message, report.summary
                    )
                } else {
                    format!(
                        "{}: done, but verification found a regression: {}",
                        plan.request.summary(),
                        report.summary
                    )
                };
                outcome.status = OutcomeStatus::Regressed;
                outcome.suggested_rollback = super::verify::rollback_for(&plan.request);
            } else if rollout_failed {
                outcome.message = format!("{}; {}", outcome.message, report.summary);
            } else {
                outcome.message = format!("{}: done; {}", plan.request.summary(), report.summary);
            }
            outcome.verify = Some(report);
        }
    }

    outcome.elapsed_ms = started.elapsed().as_millis() as u64;
    let mut rec = base.phase("finish");
    rec.result = Some(outcome.status_word().into());
    rec.message = Some(outcome.message.clone());
    rec.duration_ms = Some(outcome.elapsed_ms);
    rec.override_reason = override_reason;
    if let OutcomeStatus::Failed { error } = &outcome.status {
        rec.error = Some(error.clone());
    }
    note_journal(&mut journal_errors, journal.append(&rec));
    if let Some(first) = journal_errors.first() {
        outcome.message = format!(
            "{} (journal: {} line(s) not written: {first})",
            outcome.message,
            journal_errors.len()
        );
    }
    if outcome.status != OutcomeStatus::NoOp {
        super::audit::record_events(&ctx, plan, &outcome).await;
    }
    super::notify::notify(&ctx, &outcome).await;
    finish(outcome, started, &sink).await
}

fn note_journal(errors: &mut Vec<String>, r: Result<(), OpError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "audit journal write failed");
        errors.push(e.to_string());
    }
}

async fn finish(mut outcome: Outcome, started: Instant, sink: &mpsc::Sender<OpEvent>) -> Outcome {
    outcome.elapsed_ms = started.elapsed().as_millis() as u64;
    let _ = sink
        .send(OpEvent::Finished(Box::new(outcome.clone())))
        .await;
    outcome
}

fn done_so_far(done: &[String]) -> String {
    if done.is_empty() {
        "; no step took effect".into()
    } else {
        format!("; done before it: {}", done.join(", "))
    }
}

fn cancelled_message(done: &[String], plan: &super::Plan) -> String {
    let left: Vec<&str> = plan
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !done.iter().any(|d| d == n))
        .collect();
    let done_text = if done.is_empty() {
        "no step was done".to_string()
    } else {
        format!("done: {}", done.join(", "))
    };
    format!(
        "cancelled between steps; {done_text}; not done: {}",
        if left.is_empty() {
            "-".to_string()
        } else {
            left.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_json_is_flat_and_stable() {
        let o = Outcome {
            op_id: "op".into(),
            request: Request::ExpireSilence { id: "s1".into() },
            status: OutcomeStatus::Failed {
                error: OpError::Conflict {
                    object: "deployment/web in shop-blue".into(),
                    expected: "12".into(),
                },
            },
            message: "m".into(),
            steps_done: vec![],
            steps_total: 1,
            verify: None,
            suggested_rollback: None,
            elapsed_ms: 3,
        };
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({
                "op_id": "op",
                "request": {"op": "expire_silence", "id": "s1"},
                "status": "failed",
                "error": {"kind": "conflict", "detail": {"object": "deployment/web in shop-blue", "expected": "12"}},
                "message": "m",
                "steps_done": [],
                "steps_total": 1,
                "verify": null,
                "suggested_rollback": null,
                "elapsed_ms": 3,
            })
        );
        assert_eq!(o.exit_code(), 1);
    }
}
