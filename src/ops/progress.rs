//! `OpProgress`: a running operation folded from its `OpEvent`s, for the console's operations pane
//! (step, progress bar, result) — and `spawn`, which starts a run the console can cancel.
use super::Preview;
use super::runner::{Confirmation, OpEvent, Outcome};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpProgress {
    pub op_id: String,
    pub summary: String,
    pub total: usize,
    /// The step running (0-based), if any.
    pub step: Option<usize>,
    pub step_description: String,
    /// The last progress line of the step ("2 of 3 updated replicas are available").
    pub message: String,
    pub ready: Option<i32>,
    pub desired: Option<i32>,
    /// Steps finished, in order.
    pub done: Vec<String>,
    pub outcome: Option<Outcome>,
}

impl OpProgress {
    pub fn apply(&mut self, ev: &OpEvent) {
        match ev {
            OpEvent::Started {
                op_id,
                summary,
                total,
            } => {
                self.op_id = op_id.clone();
                self.summary = summary.clone();
                self.total = *total;
            }
            OpEvent::Step {
                index,
                total,
                description,
                ..
            } => {
                self.step = Some(*index);
                self.total = *total;
                self.step_description = description.clone();
                self.message.clear();
                self.ready = None;
                self.desired = None;
            }
            OpEvent::Progress {
                message,
                ready,
                desired,
                ..
            } => {
                self.message = message.clone();
                if ready.is_some() || desired.is_some() {
                    self.ready = *ready;
                    self.desired = *desired;
                }
            }
            OpEvent::StepDone { name, message, .. } => {
                self.done.push(name.clone());
                self.message = message.clone();
            }
            OpEvent::Finished(o) => {
                if self.op_id.is_empty() {
                    self.op_id = o.op_id.clone();
                    self.summary = o.request.summary();
                }
                self.outcome = Some((**o).clone());
                self.step = None;
            }
        }
    }

    /// 0.0..=1.0 for a progress bar: finished steps plus the running step's replica fraction.
    pub fn fraction(&self) -> f64 {
        if self.outcome.is_some() {
            return 1.0;
        }
        if self.total == 0 {
            return 0.0;
        }
        let within = match (self.ready, self.desired) {
            (Some(r), Some(d)) if d > 0 && self.step.is_some() => {
                (r.max(0) as f64 / d as f64).min(1.0)
            }
            _ => 0.0,
        };
        ((self.done.len() as f64 + within) / self.total as f64).min(1.0)
    }

    pub fn finished(&self) -> bool {
        self.outcome.is_some()
    }
}

/// A run started in the background: its events, its cancel token and its outcome.
pub struct RunHandle {
    pub events: mpsc::Receiver<OpEvent>,
    pub cancel: CancellationToken,
    pub task: JoinHandle<Outcome>,
}

/// Starts `run` on the runtime; `cancel.cancel()` stops it between steps.
pub fn spawn(preview: Preview, confirm: Confirmation) -> RunHandle {
    let (tx, rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(super::run(preview, confirm, tx, cancel.clone()));
    RunHandle {
        events: rx,
        cancel,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_events() {
        let mut p = OpProgress::default();
        p.apply(&OpEvent::Started {
            op_id: "op".into(),
            summary: "rollback web in production".into(),
            total: 2,
        });
        p.apply(&OpEvent::Step {
            index: 0,
            total: 2,
            name: "patch-deployment".into(),
            description: "Roll back".into(),
        });
        p.apply(&OpEvent::StepDone {
            index: 0,
            name: "patch-deployment".into(),
            message: "patched".into(),
            already: false,
            elapsed_ms: 5,
        });
        p.apply(&OpEvent::Step {
            index: 1,
            total: 2,
            name: "wait-rollout".into(),
            description: "Wait".into(),
        });
        p.apply(&OpEvent::Progress {
            index: 1,
            message: "1 of 2 updated replicas are available".into(),
            ready: Some(1),
            desired: Some(2),
        });
        assert_eq!(p.step, Some(1));
        assert!((p.fraction() - 0.75).abs() < 1e-9);
        assert!(!p.finished());
    }
}
