//! The console's side of the mutation engine: action keys → `ops::Request` →
//! `Command::PrepareOp`, the preview modal (confirm with `y`/Enter, the app name typed for a
//! protected environment, a typed reason to override failed checks) → `Command::RunOp`, and the
//! Operations pane's running and recent operations folded from `OpEvent`s.
use crate::action::Action;
use crate::app::{App, Pane};
use crate::msg::{Command, OpPreview};
use crate::ops::{Confirmation, OpEvent, OpProgress, OutcomeStatus, Request};
use jiff::Timestamp;
use std::collections::VecDeque;

mod modal;
mod pick;
#[cfg(test)]
mod pick_tests;
mod runner;

pub use runner::OpsRunner;

/// Operations kept in the pane (running ones are never dropped).
pub const RECENT_MAX: usize = 20;
/// Default silence duration offered by the form.
pub const SILENCE_DEFAULT: &str = "2h";

/// The patch menu's entries, in order (keys `1`–`5` pick one).
pub const PATCH_ITEMS: [&str; 5] = [
    "set image tag",
    "restart",
    "scale (replicas)",
    "pause rollout",
    "resume rollout",
];

#[derive(Debug, Default)]
pub struct Ops {
    pub modal: Option<OpModal>,
    /// Newest first.
    pub runs: VecDeque<RunEntry>,
    /// The selected operation in the Operations pane.
    pub cursor: usize,
    next_run: u64,
    /// `q` was pressed once while an operation ran.
    quit_armed: bool,
}

/// One operation started from the console.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub run: u64,
    pub request: Request,
    pub progress: OpProgress,
    pub started: Timestamp,
    pub cancel_requested: bool,
}

impl RunEntry {
    pub fn running(&self) -> bool {
        !self.progress.finished()
    }

    pub fn regressed(&self) -> bool {
        matches!(
            self.progress.outcome.as_ref().map(|o| &o.status),
            Some(OutcomeStatus::Regressed)
        )
    }
}

/// Where the preview modal's confirmation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A check no reason can override failed: only Esc.
    Refused,
    /// Overridable checks failed: type a reason (audited).
    Reason,
    /// Protected environment: type the app name.
    Name,
    /// `y`/Enter runs, `n`/Esc cancels.
    Confirm,
}

/// What a one-line text field is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    PatchImage {
        app: String,
        env: String,
    },
    PatchReplicas {
        app: String,
        env: String,
    },
    SilenceDuration {
        app: String,
        alert: Option<String>,
    },
    SilenceComment {
        app: String,
        alert: Option<String>,
        duration_secs: u64,
    },
}

impl Field {
    pub fn label(&self) -> String {
        match self {
            Field::PatchImage { app, env } => format!("image tag for {app} in {env}"),
            Field::PatchReplicas { app, env } => format!("replicas for {app} in {env}"),
            Field::SilenceDuration { app, alert } => match alert {
                Some(a) => format!("silence {a} of {app} for (30m, 2h, 1d)"),
                None => format!("silence {app} for (30m, 2h, 1d)"),
            },
            Field::SilenceComment { .. } => "comment".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum OpModal {
    /// Waiting for `Msg::OpPrepared`.
    Preparing {
        request: Request,
        rule: Option<String>,
    },
    /// `prepare` failed (usage, unknown environment, API down...).
    Failed { request: Request, message: String },
    Preview {
        preview: OpPreview,
        rule: Option<String>,
        scroll: usize,
        stage: Stage,
        reason: String,
        name: String,
        /// Why the last Enter did not confirm ("type `web` exactly").
        error: Option<String>,
    },
    /// The patch menu.
    Patch {
        app: String,
        env: String,
        cursor: usize,
    },
    /// The registry's tags for `set image tag` (`tags` is `None` while they load).
    Tags {
        app: String,
        env: String,
        repository: String,
        tags: Option<Result<Vec<String>, String>>,
        cursor: usize,
    },
    /// One operation's details (Enter in the Operations pane): steps done, the result's message,
    /// verification; `r` on a regressed one prepares its rollback.
    Details { run: u64 },
    /// A one-line text field (image tag, replicas, silence duration and comment).
    Input {
        field: Field,
        text: String,
        error: Option<String>,
    },
}

impl Ops {
    /// The operation the pane's cursor is on.
    pub fn selected(&self) -> Option<&RunEntry> {
        self.runs.get(self.cursor)
    }

    pub fn running(&self) -> impl Iterator<Item = &RunEntry> {
        self.runs.iter().filter(|r| r.running())
    }
}

/// The first stage of a fresh preview.
fn first_stage(p: &crate::ops::Preview) -> Stage {
    if !p.hard_failures().is_empty() {
        Stage::Refused
    } else if p.needs_override() {
        Stage::Reason
    } else if p.confirm_name.is_some() {
        Stage::Name
    } else {
        Stage::Confirm
    }
}

impl App {
    fn ops_selected(&self) -> Option<(String, String)> {
        Some((
            self.releases.selected_app()?.to_string(),
            self.releases.selected_env()?.to_string(),
        ))
    }

    /// An action key (`p`, `r`, `u`, `S`, `s`, `a`, `R`, `x`) with no modal open.
    pub(in crate::app) fn op_key(&mut self, action: Action) -> Vec<Command> {
        self.ops.quit_armed = false;
        let what = action.name().replace('_', " ");
        if self.read_only {
            self.notify(format!("read-only: {what} is refused"));
            return Vec::new();
        }
        if action == Action::CancelOp {
            return self.cancel_op();
        }
        // On a regressed operation in the Operations pane, `r` is its one-key rollback.
        if action == Action::Rollback
            && self.focus == Pane::Operations
            && let Some(entry) = self.ops.selected()
        {
            let suggested = entry
                .progress
                .outcome
                .as_ref()
                .and_then(|o| o.suggested_rollback.clone());
            match suggested {
                Some(req) => return self.prepare_op(req, Some("suggested by verify".into())),
                None if entry.regressed() => {}
                None => {
                    self.notify("r on an operation rolls back a regressed one; this one is not");
                    return Vec::new();
                }
            }
        }
        // In the detail with a history row picked, `r` rolls back to that revision.
        if action == Action::Rollback
            && let Some(cmds) = self.rollback_picked()
        {
            return cmds;
        }
        let Some((app, env)) = self.ops_selected() else {
            self.notify(format!("{what}: select an app first"));
            return Vec::new();
        };
        match action {
            Action::Promote => match self.promote_request(&app, &env) {
                Some((req, rule)) => self.prepare_op(req, Some(rule)),
                None => {
                    self.notify(format!(
                        "promote: {env} has no promotion source and no environment promotes from it"
                    ));
                    Vec::new()
                }
            },
            Action::Rollback => self.prepare_op(
                Request::Rollback {
                    app,
                    env,
                    to_revision: None,
                },
                None,
            ),
            Action::Patch => {
                self.ops.modal = Some(OpModal::Patch {
                    app,
                    env,
                    cursor: 0,
                });
                self.dirty = true;
                Vec::new()
            }
            Action::Sunset => self.prepare_op(Request::Sunset { app, resume: false }, None),
            Action::Rerun => match self.rerun_branch(&env) {
                Some(branch) => self.prepare_op(Request::Rerun { app, branch }, None),
                None => {
                    self.notify(format!("re-run: {env} has no branch configured"));
                    Vec::new()
                }
            },
            Action::Approve => self.prepare_op(Request::Approve { app, env }, None),
            Action::Silence => {
                // A highlighted alert that is already silenced: `s` expires its silence.
                if let Some(id) = self.selected_alert_silence() {
                    return self.prepare_op(Request::ExpireSilence { id }, None);
                }
                self.ops.modal = Some(OpModal::Input {
                    field: Field::SilenceDuration {
                        app,
                        alert: self.selected_alert_name(),
                    },
                    text: SILENCE_DEFAULT.into(),
                    error: None,
                });
                self.dirty = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// `q`: with an operation running, the first press warns (quitting stops it mid-step; the
    /// journal keeps what was done) and a second press quits.
    pub(in crate::app) fn quit_guarded(&mut self) -> Vec<Command> {
        let running = self.ops.running().count();
        if running == 0 || self.ops.quit_armed {
            return vec![Command::Quit];
        }
        self.ops.quit_armed = true;
        self.notify(format!(
            "{running} operation(s) running: q again quits and stops them mid-step (x cancels cleanly)"
        ));
        Vec::new()
    }

    /// Enter in the Operations pane: the selected operation's details.
    pub(in crate::app) fn open_op(&mut self) -> Vec<Command> {
        if let Some(run) = self.ops.selected().map(|r| r.run) {
            self.ops.modal = Some(OpModal::Details { run });
            self.dirty = true;
        }
        Vec::new()
    }

    /// The branch `R` re-runs: the highlighted row of the Pipelines pane when it has focus, else
    /// the selected environment's branch.
    fn rerun_branch(&self, env: &str) -> Option<String> {
        if self.focus == Pane::Pipelines {
            let branches = crate::app::monitor::Overview::branches(&self.config);
            if let Some(b) = branches.get(self.overview.branch_row) {
                return Some(b.clone());
            }
        }
        self.config.environment(env)?.branch.clone()
    }

    /// The highlighted alert when the Alerts pane has focus.
    fn selected_alert(&self) -> Option<&crate::model::alerts::Alert> {
        if self.focus != Pane::Alerts {
            return None;
        }
        let snap = self.overview.alerts.as_ref()?.value.as_ref()?;
        let visible = crate::ui::alerts::visible_alerts(snap, self.overview_app());
        visible.get(self.overview.alert_row).copied()
    }

    /// The alert to prefill a silence with: the highlighted one when the Alerts pane has focus.
    fn selected_alert_name(&self) -> Option<String> {
        let name = self.selected_alert()?.label("alertname");
        (!name.is_empty()).then(|| name.to_string())
    }

    /// The silence of the highlighted alert, when it is silenced.
    fn selected_alert_silence(&self) -> Option<String> {
        self.selected_alert()?.status.silenced_by.first().cloned()
    }

    /// Promote into the selected environment from its `promote_from`; when it has none, promote
    /// the selected environment into the one that promotes from it. The rule goes in the title.
    pub fn promote_request(&self, app: &str, env: &str) -> Option<(Request, String)> {
        let cfg = &self.config;
        if let Some(src) = cfg.environment(env).and_then(|e| e.promote_from.clone()) {
            let rule = format!("into the selected {env}, from its source {src}");
            return Some((
                Request::Promote {
                    app: app.into(),
                    from: Some(src),
                    to: env.into(),
                    reason: None,
                },
                rule,
            ));
        }
        let next = cfg
            .environments
            .iter()
            .find(|e| e.promote_from.as_deref() == Some(env))?;
        let rule = format!(
            "{env} has no source: into {}, which promotes from it",
            next.name
        );
        Some((
            Request::Promote {
                app: app.into(),
                from: Some(env.into()),
                to: next.name.clone(),
                reason: None,
            },
            rule,
        ))
    }

    fn prepare_op(&mut self, request: Request, rule: Option<String>) -> Vec<Command> {
        // `read_only = true` on the target environment refuses as `--read-only` does: no prepare.
        if let Some(env) = request.target_env()
            && self.config.environment(env).is_some_and(|e| e.read_only)
        {
            self.ops.modal = None;
            self.notify(format!(
                "read-only: {env} is read_only in the configuration; {} is refused",
                request.kind().as_str()
            ));
            return Vec::new();
        }
        self.ops.modal = Some(OpModal::Preparing {
            request: request.clone(),
            rule,
        });
        self.dirty = true;
        vec![Command::PrepareOp(request)]
    }

    /// `x`: cancel the selected operation when the pane has focus, else the newest running one.
    fn cancel_op(&mut self) -> Vec<Command> {
        let chosen = if self.focus == Pane::Operations {
            self.ops.runs.get(self.ops.cursor).filter(|r| r.running())
        } else {
            None
        };
        let Some(entry) = chosen.or_else(|| self.ops.running().next()) else {
            self.notify("no operation is running");
            return Vec::new();
        };
        let run = entry.run;
        let summary = entry.request.summary();
        if let Some(e) = self.ops.runs.iter_mut().find(|r| r.run == run) {
            e.cancel_requested = true;
        }
        self.notify(format!(
            "cancelling {summary} (stops after the current step)"
        ));
        vec![Command::CancelOp { run }]
    }

    /// The answer to `Command::PrepareOp`: show it if the modal still waits for it.
    pub(in crate::app) fn op_prepared(
        &mut self,
        request: Request,
        result: Result<OpPreview, String>,
    ) -> Vec<Command> {
        let rule = match &self.ops.modal {
            Some(OpModal::Preparing { request: r, rule }) if *r == request => rule.clone(),
            // Esc'd while preparing, or another modal since: drop it.
            _ => return Vec::new(),
        };
        self.ops.modal = Some(match result {
            Ok(preview) => OpModal::Preview {
                stage: first_stage(&preview.0),
                preview,
                rule,
                scroll: 0,
                reason: String::new(),
                name: String::new(),
                error: None,
            },
            Err(message) => OpModal::Failed { request, message },
        });
        self.dirty = true;
        Vec::new()
    }

    /// A progress event of a running operation.
    pub(in crate::app) fn op_event(&mut self, run: u64, event: OpEvent) -> Vec<Command> {
        if let Some(entry) = self.ops.runs.iter_mut().find(|r| r.run == run) {
            entry.progress.apply(&event);
            if let OpEvent::Finished(o) = &event {
                self.notice = Some(format!("{}: {}", o.request.summary(), o.status_word()));
                // A finished sunset takes the app off the board (the config may still list it).
                if let crate::ops::Request::Sunset { app, .. } = &o.request
                    && o.status == crate::ops::OutcomeStatus::Done
                {
                    self.releases.retire([app.as_str()]);
                }
            }
            self.dirty = true;
        }
        Vec::new()
    }

    pub(super) fn run_confirmed(
        &mut self,
        preview: OpPreview,
        reason: String,
        name: String,
    ) -> Vec<Command> {
        let p = &preview.0;
        let confirmation = Confirmation {
            typed_name: p.confirm_name.as_ref().map(|_| name.trim().to_string()),
            override_reason: (p.needs_override() && !reason.trim().is_empty())
                .then(|| reason.trim().to_string()),
        };
        self.ops.next_run += 1;
        let run = self.ops.next_run;
        let request = p.request().clone();
        let progress = OpProgress {
            op_id: p.op_id().to_string(),
            summary: request.summary(),
            total: p.plan.steps.len(),
            ..Default::default()
        };
        self.ops.runs.push_front(RunEntry {
            run,
            request,
            progress,
            started: self.clock.now(),
            cancel_requested: false,
        });
        self.ops.cursor = 0;
        self.trim_runs();
        self.ops.modal = None;
        self.dirty = true;
        vec![Command::RunOp {
            run,
            preview,
            confirmation,
        }]
    }

    /// Keeps at most `RECENT_MAX` operations, dropping the oldest finished ones.
    fn trim_runs(&mut self) {
        while self.ops.runs.len() > RECENT_MAX {
            match self.ops.runs.iter().rposition(|r| !r.running()) {
                Some(i) => {
                    self.ops.runs.remove(i);
                }
                None => break,
            }
        }
        self.ops.cursor = self.ops.cursor.min(self.ops.runs.len().saturating_sub(1));
    }

    /// When the elapsed time of a running operation next shows a new second (the loop's age
    /// timer wakes for it; nothing runs, nothing ticks).
    pub fn ops_deadline(&self) -> Option<Timestamp> {
        let now = self.clock.now();
        self.ops
            .running()
            .filter_map(|r| {
                let secs = now.duration_since(r.started).as_secs().max(0);
                r.started
                    .checked_add(jiff::SignedDuration::from_secs(secs + 1))
                    .ok()
            })
            .min()
    }

    /// Up/Down in the Operations pane.
    pub(in crate::app) fn ops_navigate(&mut self, action: Action) {
        let last = self.ops.runs.len().saturating_sub(1);
        let c = self.ops.cursor;
        let next = match action {
            Action::Up => c.saturating_sub(1),
            Action::Down => c + 1,
            Action::PageUp => c.saturating_sub(5),
            Action::PageDown => c + 5,
            Action::Top => 0,
            _ => last,
        }
        .min(last);
        if next != c {
            self.ops.cursor = next;
            self.dirty = true;
        }
    }
}
