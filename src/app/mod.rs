//! The console's model: focus, selection, filter, modals, detail and log views, source health.
//! `App::update` is the only place state changes; it returns the effects to run as `Command`s and
//! sets `dirty` only when something visible changed.
mod data;
mod detail;
pub mod fixtures;
mod logs;
mod modals;
mod monitor;
mod ops;
mod pipelines;
mod releases;
mod sources;
mod sources_pollers;

pub use detail::Detail;
pub use logs::LogView;
pub use monitor::Overview;
pub use ops::{Field, OpModal, Ops, OpsRunner, PATCH_ITEMS, RECENT_MAX, RunEntry, Stage};
pub use pipelines::image_key;
pub use releases::Releases;
pub use sources::Sources;
pub use sources_pollers::Pollers;

use crate::action::Action;
use crate::clock::Clock;
use crate::config::Config;
use crate::keymap::{Keymap, Mode};
use crate::model::board::build_board;
use crate::model::{Fresh, SourceId};
use crate::msg::{Command, InputEdit, Msg};
use crate::ui::theme::Theme;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The panes, in focus order. Pipelines … Operations are placeholders until their sources exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Releases,
    Detail,
    Logs,
    Pipelines,
    Metrics,
    Alerts,
    Operations,
}

impl Pane {
    pub fn title(self) -> &'static str {
        match self {
            Pane::Releases => "RELEASES",
            Pane::Detail => "DEPLOYMENT",
            Pane::Logs => "LOGS",
            Pane::Pipelines => "PIPELINES",
            Pane::Metrics => "METRICS",
            Pane::Alerts => "ALERTS",
            Pane::Operations => "OPERATIONS",
        }
    }
}

pub use modals::{Modal, palette_matches};

pub struct App {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub read_only: bool,
    pub keymap: Keymap,
    pub theme: Theme,
    pub deployments: BTreeMap<String, Fresh<crate::model::Deployments>>,
    pub sources: Sources,
    pub releases: Releases,
    pub focus: Pane,
    pub modals: Vec<Modal>,
    pub detail: Option<Detail>,
    pub logs: Option<LogView>,
    /// The Pipelines, Metrics and Alerts panes' data and selection, and the board's markers.
    pub overview: Overview,
    /// The operation modal and the Operations pane's running and recent operations.
    pub ops: Ops,
    /// One-line message in the status bar until the next key.
    pub notice: Option<String>,
    pub width: u16,
    pub height: u16,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    /// Set by the loop while keys arrive: the overview panes then follow the board's selection
    /// only once the cursor rests (`Msg::CursorRested`), so scrolling redraws the cursor only.
    pub follow_deferred: bool,
    next_request: u64,
    /// Large estates build the board off the loop, one build at a time.
    board_generation: u64,
    board_building: bool,
    board_wanted: bool,
}

impl App {
    pub fn new(config: Config, keymap: Keymap, clock: Clock, read_only: bool) -> App {
        let theme = Theme::detect(config.ui.no_color);
        let overview = Overview::new(&config);
        let sources = Sources::new(config.environments.iter().map(|e| e.name.clone()));
        let deployments = BTreeMap::new();
        let board = build_board(&config, &deployments);
        let mut releases = Releases::default();
        releases.set_board(board);
        App {
            read_only: read_only || config.read_only,
            config: Arc::new(config),
            theme,
            clock,
            keymap,
            deployments,
            sources,
            releases,
            focus: Pane::Releases,
            modals: Vec::new(),
            detail: None,
            logs: None,
            overview,
            ops: Ops::default(),
            notice: None,
            width: 80,
            height: 24,
            dirty: true,
            follow_deferred: false,
            next_request: 0,
            board_generation: 0,
            board_building: false,
            board_wanted: false,
        }
    }

    /// Where keys go now.
    pub fn mode(&self) -> Mode {
        // The operation modal takes text (typed names, reasons, tags): printable keys are text.
        if self.ops.modal.is_some() {
            return Mode::Filter;
        }
        match self.modals.last() {
            Some(Modal::Help { .. }) => Mode::Help,
            Some(Modal::EnvPicker { .. }) => Mode::Picker,
            // Printable keys are the palette's text.
            Some(Modal::Palette { .. }) => Mode::Filter,
            None if self.releases.filtering => Mode::Filter,
            None => match self.focus {
                Pane::Detail => Mode::Detail,
                Pane::Logs => Mode::Logs,
                _ => Mode::Normal,
            },
        }
    }

    /// The panes Tab cycles through, in screen order.
    pub fn panes(&self) -> Vec<Pane> {
        if self.logs.is_some() {
            vec![Pane::Releases, Pane::Logs, Pane::Operations]
        } else if self.detail.is_some() {
            vec![Pane::Releases, Pane::Detail, Pane::Operations]
        } else {
            vec![
                Pane::Releases,
                Pane::Pipelines,
                Pane::Metrics,
                Pane::Alerts,
                Pane::Operations,
            ]
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut cmds = self.update_msg(msg);
        cmds.extend(self.sync_overview());
        cmds
    }

    fn update_msg(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Action(action) => {
                // Any key clears the last notice.
                if self.notice.take().is_some() {
                    self.dirty = true;
                }
                if self.ops.modal.is_some() {
                    return self.ops_modal_action(action);
                }
                self.action(action)
            }
            Msg::Input(edit) if self.ops.modal.is_some() => self.ops_input(edit),
            Msg::Input(edit) => {
                self.input(edit);
                Vec::new()
            }
            Msg::Resize { width, height } => {
                if (width, height) != (self.width, self.height) {
                    self.width = width;
                    self.height = height;
                    self.scroll_board();
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Kube(event) => self.kube(event),
            Msg::BoardBuilt { generation, board } => self.board_built(generation, *board),
            Msg::Monitor(event) => self.monitor(event),
            Msg::MetricsSelected { generation } => {
                self.overview.metrics_generation = generation;
                Vec::new()
            }
            Msg::Pipelines(event) => self.pipelines(event),
            Msg::Registry(event) => self.registry(event),
            Msg::OpPrepared { request, result } => self.op_prepared(request, result),
            Msg::Op { run, event } => self.op_event(run, event),
            Msg::OpTags { repository, result } => self.op_tags(repository, result),
            Msg::AgesChanged => {
                self.dirty = true;
                Vec::new()
            }
            // `sync_overview`, after every update, does the following.
            Msg::CursorRested => {
                self.follow_deferred = false;
                Vec::new()
            }
        }
    }

    fn action(&mut self, action: Action) -> Vec<Command> {
        use Action::*;
        if let Some(modal) = self.modals.last().cloned() {
            return self.modal_action(action, modal);
        }
        match action {
            Quit => return self.quit_guarded(),
            Suspend => return vec![Command::Suspend],
            Redraw => return vec![Command::Repaint],
            Help => self.push_modal(Modal::Help { scroll: 0 }),
            EnvPicker => {
                let cursor = self.releases.env;
                self.push_modal(Modal::EnvPicker { cursor });
            }
            Filter => {
                self.focus = Pane::Releases;
                self.releases.filtering = true;
                self.dirty = true;
            }
            Back => return self.back(),
            Open => return self.open(),
            Logs => return self.open_logs(),
            FocusNext | FocusPrev => {
                let panes = self.panes();
                let i = panes.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = panes.len();
                let j = if action == FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.set_focus(panes[j]);
            }
            FocusPane1 => self.set_focus(Pane::Releases),
            FocusPane2 | FocusPane3 | FocusPane4 => {
                // The overview panes share the lower area with the detail: going there closes it.
                let pane = match action {
                    FocusPane2 => Pane::Pipelines,
                    FocusPane3 => Pane::Metrics,
                    _ => Pane::Alerts,
                };
                let mut cmds = self.close_logs();
                cmds.extend(self.close_detail());
                self.set_focus(pane);
                return cmds;
            }
            FocusPane5 => self.set_focus(Pane::Operations),
            Up | Down | PageUp | PageDown | Top | Bottom => self.navigate(action),
            Left | Right => return self.move_env(if action == Left { -1 } else { 1 }),
            CommandPalette => self.push_modal(Modal::Palette {
                input: String::new(),
                cursor: 0,
            }),
            Refresh => return vec![Command::RefreshSources],
            Promote | Approve | Rollback | Patch | Sunset | Silence | Rerun | CancelOp => {
                return self.op_key(action);
            }
        }
        Vec::new()
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
        self.dirty = true;
    }

    fn set_focus(&mut self, pane: Pane) {
        // Leaving the board ends typing into its filter (the filter itself stays).
        if pane != Pane::Releases && self.releases.filtering {
            self.releases.filtering = false;
            self.dirty = true;
        }
        if self.focus != pane {
            self.focus = pane;
            self.scroll_board();
            self.dirty = true;
        }
    }

    fn input(&mut self, edit: InputEdit) {
        if let Some(Modal::Palette { input, .. }) = self.modals.last() {
            let mut input = input.clone();
            match edit {
                InputEdit::Insert(c) => input.push(c),
                InputEdit::Erase => {
                    input.pop();
                }
            }
            self.set_modal(Modal::Palette { input, cursor: 0 });
            return;
        }
        if !self.releases.filtering {
            return;
        }
        let mut filter = self.releases.filter.clone();
        match edit {
            InputEdit::Insert(c) => filter.push(c),
            InputEdit::Erase => {
                filter.pop();
            }
        }
        if filter != self.releases.filter {
            self.releases.set_filter(filter);
            self.scroll_board();
            self.dirty = true;
        }
    }

    /// Esc: close the innermost thing that is open.
    fn back(&mut self) -> Vec<Command> {
        if self.releases.filtering {
            self.releases.filtering = false;
            self.releases.set_filter(String::new());
            self.scroll_board();
            self.dirty = true;
            return Vec::new();
        }
        if let Some(cmds) = self.overview_back() {
            return cmds;
        }
        match self.focus {
            Pane::Logs => {
                let cmds = self.close_logs();
                self.set_focus(Pane::Detail);
                cmds
            }
            Pane::Detail => {
                let cmds = self.close_detail();
                self.set_focus(Pane::Releases);
                cmds
            }
            _ if !self.releases.filter.is_empty() => {
                self.releases.set_filter(String::new());
                self.scroll_board();
                self.dirty = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Enter: keep the filter, drill into the selected cell, or open the selected pod's logs.
    fn open(&mut self) -> Vec<Command> {
        if self.releases.filtering {
            self.releases.filtering = false;
            self.dirty = true;
            return Vec::new();
        }
        match self.focus {
            Pane::Releases => self.open_detail(),
            Pane::Detail => self.open_logs(),
            Pane::Pipelines | Pane::Metrics => self.open_overview(),
            Pane::Operations => self.open_op(),
            _ => Vec::new(),
        }
    }

    fn open_detail(&mut self) -> Vec<Command> {
        let (Some(app), Some(env)) = (
            self.releases.selected_app().map(str::to_string),
            self.releases.selected_env().map(str::to_string),
        ) else {
            return Vec::new();
        };
        let Some(cell) = self.releases.board.cell(&app, &env) else {
            self.notify(format!("{app} is not deployed in {env}"));
            return Vec::new();
        };
        let view = cell.deployment.clone();
        let mut cmds = self.close_logs();
        let detail = Detail::new(app, env.clone(), view);
        cmds.push(Command::OpenDetail {
            env,
            namespace: detail.namespace.clone(),
            deployment: detail.deployment.clone(),
            selector: detail.selector.clone(),
        });
        self.detail = Some(detail);
        self.focus = Pane::Detail;
        self.scroll_board();
        self.dirty = true;
        cmds
    }

    fn close_detail(&mut self) -> Vec<Command> {
        match self.detail.take() {
            Some(d) => {
                for kind in ["replicasets", "pods", "events"] {
                    let since = self.fetched_at(&d.env);
                    self.sources
                        .forget(&SourceId::Kube(d.env.clone()), kind, since);
                }
                self.dirty = true;
                vec![Command::CloseDetail]
            }
            None => Vec::new(),
        }
    }

    fn open_logs(&mut self) -> Vec<Command> {
        let Some(detail) = &self.detail else {
            self.notify("open a deployment (Enter) and select a pod first");
            return Vec::new();
        };
        let Some(pod) = detail.selected_pod() else {
            self.notify(if detail.history_cursor.is_some() {
                "the cursor is on a revision: move down to a pod for its logs"
            } else {
                "no pod selected"
            });
            return Vec::new();
        };
        self.next_request += 1;
        // A pod with several containers needs one named; prefer the app's configured container.
        let container = (pod.containers.len() > 1).then(|| {
            let wanted = self
                .config
                .apps
                .iter()
                .find(|a| a.name == detail.app)
                .and_then(|a| a.containers.first());
            match wanted {
                Some(name) if pod.containers.iter().any(|c| &c.name == name) => name.clone(),
                _ => pod.containers[0].name.clone(),
            }
        });
        let view = LogView::new(
            self.next_request,
            detail.env.clone(),
            pod.namespace.clone(),
            pod.name.clone(),
            container,
            self.config.ui.log_lines,
        );
        let mut cmds = self.close_logs();
        cmds.push(Command::StreamLogs {
            request: view.request,
            env: view.env.clone(),
            namespace: view.namespace.clone(),
            pod: view.pod.clone(),
            container: view.container.clone(),
        });
        self.logs = Some(view);
        self.focus = Pane::Logs;
        self.scroll_board();
        self.dirty = true;
        cmds
    }

    fn close_logs(&mut self) -> Vec<Command> {
        match self.logs.take() {
            Some(_) => {
                if self.focus == Pane::Logs {
                    self.focus = Pane::Detail;
                }
                self.dirty = true;
                vec![Command::StopLogs]
            }
            None => Vec::new(),
        }
    }

    /// Left/Right: the next environment column; in the detail, the same app in that environment.
    fn move_env(&mut self, delta: isize) -> Vec<Command> {
        if delta == 0 || !self.releases.move_env(delta) {
            return Vec::new();
        }
        self.dirty = true;
        if self.detail.is_some() && matches!(self.focus, Pane::Detail | Pane::Logs) {
            let mut cmds = self.close_logs();
            cmds.extend(self.open_detail_or_close());
            return cmds;
        }
        Vec::new()
    }

    fn open_detail_or_close(&mut self) -> Vec<Command> {
        let has_cell = match (self.releases.selected_app(), self.releases.selected_env()) {
            (Some(a), Some(e)) => self.releases.board.cell(a, e).is_some(),
            _ => false,
        };
        if has_cell {
            self.open_detail()
        } else {
            let cmds = self.close_detail();
            self.focus = Pane::Releases;
            let (app, env) = (
                self.releases.selected_app().unwrap_or_default().to_string(),
                self.releases.selected_env().unwrap_or_default().to_string(),
            );
            self.notify(format!("{app} is not deployed in {env}"));
            cmds
        }
    }

    fn navigate(&mut self, action: Action) {
        let page = self.board_viewport().max(2) as isize - 1;
        match self.focus {
            Pane::Releases => {
                let changed = match action {
                    Action::Up => self.releases.move_rows(-1),
                    Action::Down => self.releases.move_rows(1),
                    Action::PageUp => self.releases.move_rows(-page),
                    Action::PageDown => self.releases.move_rows(page),
                    Action::Top => self.releases.to_row(0),
                    _ => self.releases.to_row(usize::MAX),
                };
                if changed {
                    self.scroll_board();
                    self.dirty = true;
                }
            }
            Pane::Detail => {
                // One cursor over the rollout history, then the pods.
                if let Some(d) = &mut self.detail
                    && d.navigate(action)
                {
                    self.dirty = true;
                }
            }
            Pane::Logs => {
                if let Some(l) = &mut self.logs {
                    let before = (l.scroll, l.follow);
                    let page = (self.height as usize / 2).max(1);
                    match action {
                        Action::Up => l.scroll_by(true, 1),
                        Action::Down => l.scroll_by(false, 1),
                        Action::PageUp => l.scroll_by(true, page),
                        Action::PageDown => l.scroll_by(false, page),
                        Action::Top => l.to_top(),
                        _ => l.to_bottom(),
                    }
                    if (l.scroll, l.follow) != before {
                        self.dirty = true;
                    }
                }
            }
            Pane::Operations => self.ops_navigate(action),
            Pane::Pipelines | Pane::Metrics | Pane::Alerts => self.navigate_overview(action),
        }
    }

    /// Rows the board table shows at the current size and focus (0 when it is not drawn).
    pub fn board_viewport(&self) -> usize {
        crate::ui::layout::board_rows(self).unwrap_or(0)
    }

    fn scroll_board(&mut self) {
        if let Some(h) = crate::ui::layout::board_rows(self) {
            self.releases.keep_visible(h);
        }
    }
}

#[cfg(test)]
mod follow_tests;
#[cfg(test)]
mod tests;
