//! The console's side of the mutation engine: action keys → `ops::Request` →
//! `Command::PrepareOp`, the preview modal (confirm with `y`/Enter, the app name typed for a
//! protected environment, a typed reason to override failed checks) → `Command::RunOp`, and the
//! Operations pane's running and recent operations folded from `OpEvent`s.
use super::{App, Pane};
use crate::action::Action;
use crate::msg::{Command, InputEdit, OpPreview};
use crate::ops::{Confirmation, OpEvent, OpProgress, OutcomeStatus, PatchChange, Request};
use jiff::Timestamp;
use std::collections::VecDeque;

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
    pub(super) fn op_key(&mut self, action: Action) -> Vec<Command> {
        let what = action.name().replace('_', " ");
        if self.read_only {
            self.notify(format!("read-only: {what} is refused"));
            return Vec::new();
        }
        if action == Action::CancelOp {
            return self.cancel_op();
        }
        if action == Action::Rerun {
            self.notify("re-run: the engine has no re-run operation yet (use the CI's page)");
            return Vec::new();
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

    /// The highlighted alert when the Alerts pane has focus.
    fn selected_alert(&self) -> Option<&crate::model::alerts::Alert> {
        if self.focus != Pane::Alerts {
            return None;
        }
        let snap = self.overview.alerts.as_ref()?.value.as_ref()?;
        let visible = crate::ui::alerts::visible_alerts(snap, self.releases.selected_app());
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
    pub(super) fn op_prepared(
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
    pub(super) fn op_event(&mut self, run: u64, event: OpEvent) -> Vec<Command> {
        if let Some(entry) = self.ops.runs.iter_mut().find(|r| r.run == run) {
            entry.progress.apply(&event);
            if let OpEvent::Finished(o) = &event {
                self.notice = Some(format!("{}: {}", o.request.summary(), o.status_word()));
            }
            self.dirty = true;
        }
        Vec::new()
    }

    /// Keys while an operation modal is open.
    pub(super) fn ops_modal_action(&mut self, action: Action) -> Vec<Command> {
        use Action::*;
        match action {
            Suspend => return vec![Command::Suspend],
            Redraw => return vec![Command::Repaint],
            Quit => return vec![Command::Quit],
            Back => {
                self.ops.modal = None;
                self.dirty = true;
            }
            Open => return self.ops_enter(),
            Up | Down | PageUp | PageDown | Top | Bottom => self.ops_scroll(action),
            _ => {}
        }
        Vec::new()
    }

    fn ops_scroll(&mut self, action: Action) {
        let Some(modal) = &mut self.ops.modal else {
            return;
        };
        match modal {
            OpModal::Preview {
                preview, scroll, ..
            } => {
                let lines = preview.0.render_text(self.width).lines().count();
                let page = (self.height as usize / 2).max(1);
                let next = match action {
                    Action::Up => scroll.saturating_sub(1),
                    Action::Down => *scroll + 1,
                    Action::PageUp => scroll.saturating_sub(page),
                    Action::PageDown => *scroll + page,
                    Action::Top => 0,
                    _ => lines,
                }
                .min(lines.saturating_sub(1));
                if next != *scroll {
                    *scroll = next;
                    self.dirty = true;
                }
            }
            OpModal::Tags {
                tags: Some(Ok(tags)),
                cursor,
                ..
            } => {
                let last = tags.len().saturating_sub(1);
                let next = match action {
                    Action::Up => cursor.saturating_sub(1),
                    Action::Down => (*cursor + 1).min(last),
                    Action::PageUp => cursor.saturating_sub(10),
                    Action::PageDown => (*cursor + 10).min(last),
                    Action::Top => 0,
                    _ => last,
                };
                if next != *cursor {
                    *cursor = next;
                    self.dirty = true;
                }
            }
            OpModal::Patch { cursor, .. } => {
                let last = PATCH_ITEMS.len() - 1;
                let next = match action {
                    Action::Up => cursor.saturating_sub(1),
                    Action::Down => (*cursor + 1).min(last),
                    Action::Top | Action::PageUp => 0,
                    _ => last,
                };
                if next != *cursor {
                    *cursor = next;
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    /// Text typed while an operation modal is open.
    pub(super) fn ops_input(&mut self, edit: InputEdit) -> Vec<Command> {
        let Some(modal) = &mut self.ops.modal else {
            return Vec::new();
        };
        match modal {
            OpModal::Preview {
                stage,
                reason,
                name,
                error,
                ..
            } => {
                let field = match stage {
                    Stage::Reason => reason,
                    Stage::Name => name,
                    Stage::Confirm => {
                        return match edit {
                            InputEdit::Insert('y' | 'Y') => self.ops_enter(),
                            InputEdit::Insert('n' | 'N' | 'q') => {
                                self.ops.modal = None;
                                self.dirty = true;
                                Vec::new()
                            }
                            _ => Vec::new(),
                        };
                    }
                    Stage::Refused => return Vec::new(),
                };
                edit_text(field, edit);
                *error = None;
                self.dirty = true;
            }
            OpModal::Patch { .. } => {
                if let InputEdit::Insert(c @ '1'..='5') = edit {
                    let i = c as usize - '1' as usize;
                    if let Some(OpModal::Patch { cursor, .. }) = &mut self.ops.modal {
                        *cursor = i;
                    }
                    return self.ops_enter();
                }
            }
            OpModal::Input { text, error, .. } => {
                edit_text(text, edit);
                *error = None;
                self.dirty = true;
            }
            OpModal::Tags { app, env, .. } => {
                // Typing switches to entering a tag by hand, starting with what was typed.
                let mut text = String::new();
                edit_text(&mut text, edit);
                let field = Field::PatchImage {
                    app: app.clone(),
                    env: env.clone(),
                };
                self.ops.modal = Some(OpModal::Input {
                    field,
                    text,
                    error: None,
                });
                self.dirty = true;
            }
            OpModal::Failed { .. } | OpModal::Preparing { .. } => {}
        }
        Vec::new()
    }

    /// Enter in an operation modal.
    fn ops_enter(&mut self) -> Vec<Command> {
        let Some(modal) = self.ops.modal.take() else {
            return Vec::new();
        };
        self.dirty = true;
        match modal {
            OpModal::Preparing { .. } => {
                self.ops.modal = Some(modal);
                Vec::new()
            }
            OpModal::Failed { .. } => Vec::new(),
            OpModal::Preview {
                preview,
                rule,
                scroll,
                stage,
                reason,
                name,
                ..
            } => {
                let p = &preview.0;
                let (next, error) = match stage {
                    Stage::Refused => return Vec::new(),
                    Stage::Reason if reason.trim().is_empty() => {
                        (Stage::Reason, Some("a reason is needed to override".into()))
                    }
                    Stage::Reason if p.confirm_name.is_some() => (Stage::Name, None),
                    Stage::Reason => (Stage::Confirm, None),
                    Stage::Name => match &p.confirm_name {
                        Some(want) if name.trim() != want.as_str() => (
                            Stage::Name,
                            Some(format!("type `{want}` exactly to confirm")),
                        ),
                        _ => return self.run_confirmed(preview, reason, name),
                    },
                    Stage::Confirm => return self.run_confirmed(preview, reason, name),
                };
                self.ops.modal = Some(OpModal::Preview {
                    preview,
                    rule,
                    scroll,
                    stage: next,
                    reason,
                    name,
                    error,
                });
                Vec::new()
            }
            OpModal::Patch { app, env, cursor } => {
                let change = match cursor {
                    0 => {
                        if let Some(repository) = self.registry_repository(&app) {
                            self.ops.modal = Some(OpModal::Tags {
                                app,
                                env,
                                repository: repository.clone(),
                                tags: None,
                                cursor: 0,
                            });
                            return vec![Command::ListTags { repository }];
                        }
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::PatchImage { app, env },
                            text: String::new(),
                            error: None,
                        });
                        return Vec::new();
                    }
                    2 => {
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::PatchReplicas { app, env },
                            text: String::new(),
                            error: None,
                        });
                        return Vec::new();
                    }
                    1 => PatchChange::Restart,
                    3 => PatchChange::Pause,
                    _ => PatchChange::Resume,
                };
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            OpModal::Input { field, text, .. } => self.submit_field(field, text),
            OpModal::Tags {
                app,
                env,
                tags: Some(Ok(tags)),
                cursor,
                ..
            } if cursor < tags.len() => {
                let change = PatchChange::Image(tags[cursor].clone());
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            // Loading, failed or empty: Enter types a tag instead.
            OpModal::Tags { app, env, .. } => {
                self.ops.modal = Some(OpModal::Input {
                    field: Field::PatchImage { app, env },
                    text: String::new(),
                    error: None,
                });
                Vec::new()
            }
        }
    }

    /// The app's registry repository when a registry is configured (the tag list comes from it).
    fn registry_repository(&self, app: &str) -> Option<String> {
        self.config.registry.as_ref()?;
        self.config
            .apps
            .iter()
            .find(|a| a.name == app)
            .and_then(|a| a.repository.clone())
    }

    /// The tags for the open tag list (newest-looking last in the registry: shown first).
    pub(super) fn op_tags(
        &mut self,
        repository: String,
        result: Result<Vec<String>, String>,
    ) -> Vec<Command> {
        if let Some(OpModal::Tags {
            repository: r,
            tags,
            ..
        }) = &mut self.ops.modal
            && *r == repository
        {
            *tags = Some(result.map(|mut t| {
                t.reverse();
                t
            }));
            self.dirty = true;
        }
        Vec::new()
    }

    fn submit_field(&mut self, field: Field, text: String) -> Vec<Command> {
        let value = text.trim().to_string();
        let retry = |app: &mut App, field: Field, text: String, error: &str| {
            app.ops.modal = Some(OpModal::Input {
                field,
                text,
                error: Some(error.into()),
            });
            Vec::new()
        };
        match field {
            Field::PatchImage { app, env } => {
                if value.is_empty() {
                    return retry(self, Field::PatchImage { app, env }, text, "type a tag");
                }
                let change = PatchChange::Image(value);
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            Field::PatchReplicas { app, env } => match value.parse::<i32>() {
                Ok(n) if n >= 0 => {
                    let change = PatchChange::Replicas(n);
                    self.prepare_op(Request::Patch { app, env, change }, None)
                }
                _ => retry(
                    self,
                    Field::PatchReplicas { app, env },
                    text,
                    "a number of replicas (0 or more)",
                ),
            },
            Field::SilenceDuration { app, alert } => {
                match crate::ops::request::parse_duration(&value) {
                    Some(duration_secs) => {
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::SilenceComment {
                                app,
                                alert,
                                duration_secs,
                            },
                            text: String::new(),
                            error: None,
                        });
                        Vec::new()
                    }
                    None => retry(
                        self,
                        Field::SilenceDuration { app, alert },
                        text,
                        "a duration such as 30m, 2h or 1d",
                    ),
                }
            }
            Field::SilenceComment {
                app,
                alert,
                duration_secs,
            } => {
                if value.is_empty() {
                    let field = Field::SilenceComment {
                        app,
                        alert,
                        duration_secs,
                    };
                    return retry(self, field, text, "a comment is required");
                }
                let req = Request::Silence {
                    app,
                    alert,
                    duration_secs,
                    comment: value,
                };
                self.prepare_op(req, None)
            }
        }
    }

    fn run_confirmed(&mut self, preview: OpPreview, reason: String, name: String) -> Vec<Command> {
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
    pub(super) fn ops_navigate(&mut self, action: Action) {
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

fn edit_text(text: &mut String, edit: InputEdit) {
    match edit {
        InputEdit::Insert(c) if !c.is_control() && text.chars().count() < 200 => text.push(c),
        InputEdit::Insert(_) => {}
        InputEdit::Erase => {
            text.pop();
        }
    }
}

/// The loop's side: runs `PrepareOp`, `RunOp` and `CancelOp` off the UI task with one
/// `OpContext` built at start (the constructor the CLI uses), answering on the UI channel.
pub struct OpsRunner {
    ctx: std::sync::Arc<crate::ops::OpContext>,
    tx: tokio::sync::mpsc::Sender<crate::msg::Msg>,
    parent: tokio_util::sync::CancellationToken,
    runs: std::collections::HashMap<
        u64,
        (
            tokio_util::sync::CancellationToken,
            tokio::task::JoinHandle<()>,
        ),
    >,
}

impl OpsRunner {
    pub fn new(
        config: &crate::config::Config,
        read_only: bool,
        tx: tokio::sync::mpsc::Sender<crate::msg::Msg>,
        parent: tokio_util::sync::CancellationToken,
    ) -> OpsRunner {
        let ctx = crate::ops::OpContext::new(config.clone(), read_only);
        OpsRunner {
            ctx: std::sync::Arc::new(ctx),
            tx,
            parent,
            runs: Default::default(),
        }
    }

    /// Runs an operation command; gives any other command back.
    pub fn run(&mut self, cmd: Command) -> Result<(), Command> {
        use crate::msg::Msg;
        match cmd {
            Command::PrepareOp(request) => {
                let (ctx, tx) = (self.ctx.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let result = crate::ops::prepare(ctx, request.clone())
                        .await
                        .map(|p| OpPreview(std::sync::Arc::new(p)))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::OpPrepared { request, result }).await;
                });
            }
            Command::RunOp {
                run,
                preview,
                confirmation,
            } => {
                self.runs.retain(|_, (_, task)| !task.is_finished());
                let token = self.parent.child_token();
                let tx = self.tx.clone();
                let cancel = token.clone();
                let task = tokio::spawn(async move {
                    let Ok(preview) = std::sync::Arc::try_unwrap(preview.0) else {
                        tracing::error!(run, "preview still shared: not run");
                        return;
                    };
                    let (etx, mut erx) = tokio::sync::mpsc::channel(256);
                    let forward = tokio::spawn(async move {
                        while let Some(event) = erx.recv().await {
                            if tx.send(Msg::Op { run, event }).await.is_err() {
                                break;
                            }
                        }
                    });
                    let outcome = crate::ops::run(preview, confirmation, etx, cancel).await;
                    tracing::info!(run, status = outcome.status_word(), "operation ended");
                    let _ = forward.await;
                });
                self.runs.insert(run, (token, task));
            }
            Command::ListTags { repository } => {
                let (ctx, tx) = (self.ctx.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let result = match ctx.registry() {
                        Ok(Some(client)) => {
                            client.tags(&repository).await.map_err(|e| e.to_string())
                        }
                        Ok(None) => Err("no [registry] configured".into()),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Msg::OpTags { repository, result }).await;
                });
            }
            Command::CancelOp { run } => {
                if let Some((token, _)) = self.runs.get(&run) {
                    token.cancel();
                }
            }
            other => return Err(other),
        }
        Ok(())
    }
}
