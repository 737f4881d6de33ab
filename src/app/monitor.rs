//! The overview panes' state (Metrics, Alerts; Pipelines and the registry in `pipelines.rs`): what
//! the pollers last sent, the selection inside each pane, and the selection the pollers were told.
//! `sync_overview` runs after every `update` and emits the Commands that steer the pollers.
use super::{App, Pane};
use crate::backend::monitor::MonitorEvent;
use crate::backend::pipelines::TagState;
use crate::config::Config;
use crate::model::alerts::{AlertState, AlertsSnapshot, severity_rank};
use crate::model::board::Markers;
use crate::model::metrics::MetricsSnapshot;
use crate::model::pipeline::{Pipeline, RunDetail, RunRef};
use crate::model::{Fresh, SourceId};
use crate::msg::Command;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Above this many apps the board's failed-CI markers are not polled (one app per CI poll).
pub const CI_WATCH_MAX: usize = 200;
/// At most this many (repository, tag) pairs are checked in the registry.
pub const TAG_WATCH_MAX: usize = 500;

/// (repository, tag) → what the registry says, as the registry poller sends it.
pub type TagMap = BTreeMap<(String, String), TagState>;

/// Everything the Pipelines, Metrics and Alerts panes and the board's markers show.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// `None` when Prometheus is not configured.
    pub metrics: Option<Fresh<Arc<MetricsSnapshot>>>,
    /// Generation of the current metrics selection; replies of others are dropped.
    pub metrics_generation: u64,
    /// Highlighted query row (the one `Enter` charts).
    pub metrics_row: usize,
    /// The full chart of `metrics_row` is open.
    pub chart_open: bool,
    /// `None` when Alertmanager is not configured.
    pub alerts: Option<Fresh<Arc<AlertsSnapshot>>>,
    /// Highlighted alert (index into the pane's visible alerts).
    pub alert_row: usize,
    pub ci_configured: bool,
    /// Latest run per branch, per app (the selected one and, for the markers, the others).
    pub runs: HashMap<String, Fresh<Arc<[Pipeline]>>>,
    /// Highlighted branch row.
    pub branch_row: usize,
    /// The open run and its detail.
    pub run: Option<(RunRef, Fresh<Arc<RunDetail>>)>,
    /// Lines of the open run's detail scrolled off the top (↑↓ while it is open).
    pub run_scroll: u16,
    /// `None` when no registry is configured.
    pub tags: Option<Fresh<Arc<TagMap>>>,
    pub markers: Markers,
    /// (app, env) the panes show and the pollers were last told about: the board's selection,
    /// followed once the cursor rests.
    shown: Option<(String, String)>,
    sent_ci_apps: Vec<String>,
    sent_tags: Vec<(String, String)>,
    /// Whether the metrics poller was last told the pane is on screen (it starts visible).
    metrics_hidden: bool,
    /// The board changed since the watch lists were computed.
    pub(super) board_changed: bool,
}

impl Overview {
    pub fn new(config: &Config) -> Overview {
        Overview {
            metrics: config.prometheus.as_ref().map(|_| Fresh::default()),
            alerts: config.alertmanager.as_ref().map(|_| Fresh::default()),
            ci_configured: config.ci.is_some(),
            tags: config.registry.as_ref().map(|_| Fresh::default()),
            board_changed: true,
            ..Overview::default()
        }
    }

    /// Branch rows of the Pipelines pane.
    pub fn branches(config: &Config) -> Vec<String> {
        match &config.ci {
            Some(ci) => ci.branches.clone(),
            None => Vec::new(),
        }
    }
}

/// Rebuilds the critical-alert index from a snapshot (once per snapshot, not per frame).
fn critical_index(snap: &AlertsSnapshot) -> HashMap<String, std::collections::BTreeSet<String>> {
    let mut out: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    for a in &snap.alerts {
        if a.status.state == AlertState::Active && severity_rank(a.severity()) == 0 {
            out.entry(a.label("app").to_string())
                .or_default()
                .insert(a.label("namespace").to_string());
        }
    }
    out
}

impl App {
    pub(super) fn monitor(&mut self, event: MonitorEvent) -> Vec<Command> {
        match event {
            MonitorEvent::Metrics { snapshot, at } => {
                if snapshot.generation != self.overview.metrics_generation {
                    return Vec::new();
                }
                let Some(m) = self.overview.metrics.as_mut() else {
                    return Vec::new();
                };
                m.set(snapshot, at);
                self.sources.live(SourceId::Prometheus, "query", Some(at));
                let rows = m.value.as_ref().map_or(0, |s| s.series.len());
                self.overview.metrics_row = self.overview.metrics_row.min(rows.saturating_sub(1));
                self.dirty = true;
            }
            MonitorEvent::MetricsFailed {
                generation, error, ..
            } => {
                if generation != self.overview.metrics_generation {
                    return Vec::new();
                }
                if let Some(m) = self.overview.metrics.as_mut() {
                    let since = m.fetched_at;
                    m.fail(error.clone());
                    self.sources
                        .fail(SourceId::Prometheus, "query", &error, since);
                    self.dirty = true;
                }
            }
            MonitorEvent::Alerts { snapshot, at } => {
                let Some(a) = self.overview.alerts.as_mut() else {
                    return Vec::new();
                };
                self.overview.markers.critical = critical_index(&snapshot);
                a.set(snapshot, at);
                self.sources
                    .live(SourceId::Alertmanager, "alerts", Some(at));
                self.clamp_alert_row();
                self.dirty = true;
            }
            MonitorEvent::AlertsFailed { error } => {
                if let Some(a) = self.overview.alerts.as_mut() {
                    let since = a.fetched_at;
                    a.fail(error.clone());
                    self.sources
                        .fail(SourceId::Alertmanager, "alerts", &error, since);
                    self.dirty = true;
                }
            }
        }
        Vec::new()
    }

    /// The (app, environment) the Pipelines, Metrics and Alerts panes show: the board's
    /// selection once the cursor rested on it.
    pub fn overview_selection(&self) -> Option<(&str, &str)> {
        self.overview
            .shown
            .as_ref()
            .map(|(a, e)| (a.as_str(), e.as_str()))
    }

    pub fn overview_app(&self) -> Option<&str> {
        self.overview_selection().map(|(a, _)| a)
    }

    /// Whether the board's selection moved and the panes wait for the cursor to rest.
    pub fn follow_pending(&self) -> bool {
        let selected = self
            .releases
            .selected_app()
            .zip(self.releases.selected_env());
        selected != self.overview_selection()
    }

    /// The alerts the Alerts pane lists (the shown app's).
    pub fn visible_alert_count(&self) -> usize {
        let app = self.overview_app();
        self.overview
            .alerts
            .as_ref()
            .and_then(|f| f.value.as_ref())
            .map_or(0, |s| crate::ui::alerts::visible_alerts(s, app).len())
    }

    fn clamp_alert_row(&mut self) {
        let n = self.visible_alert_count();
        self.overview.alert_row = self.overview.alert_row.min(n.saturating_sub(1));
    }

    /// When the last rollout of the selected app × environment started: the Deployment's
    /// Progressing condition's last update (its newest ReplicaSet's creation when the detail has
    /// it), else its last change.
    pub fn rollout_started(&self) -> Option<Timestamp> {
        let r = &self.releases;
        let (app, env) = (r.selected_app()?, r.selected_env()?);
        let cell = r.board.cell(app, env)?;
        let d = &cell.deployment;
        d.condition("Progressing")
            .and_then(|c| c.last_update.or(c.last_transition))
            .or_else(|| d.last_change())
    }

    /// After every `update`: tell the pollers about a new selection, close what lost its focus,
    /// and refresh the watch lists when the board changed.
    pub(super) fn sync_overview(&mut self) -> Vec<Command> {
        let mut cmds = Vec::new();
        let selected = match (self.releases.selected_app(), self.releases.selected_env()) {
            (Some(a), Some(e)) => Some((a.to_string(), e.to_string())),
            _ => None,
        };
        // While the cursor moves on the board, only the cursor is redrawn (a few bytes over ssh);
        // the panes follow when it rests. The first selection and other panes' focus follow at once.
        let defer = self.follow_deferred
            && self.focus == Pane::Releases
            && self.detail.is_none()
            && self.overview.shown.is_some();
        if selected != self.overview.shown && !defer {
            let old_app = self.overview.shown.as_ref().map(|(a, _)| a.clone());
            if let Some((app, env)) = &selected {
                if self.overview.metrics.is_some() {
                    let namespace = self
                        .config
                        .environments
                        .iter()
                        .find(|e| &e.name == env)
                        .map(|e| e.namespace_for(app))
                        .unwrap_or_default();
                    cmds.push(Command::SelectMetrics {
                        app: app.clone(),
                        env: env.clone(),
                        namespace,
                    });
                    if let Some(m) = self.overview.metrics.as_mut() {
                        // The old selection's error is not this one's.
                        m.error = None;
                    }
                    self.overview.chart_open = false;
                }
                if old_app.as_deref() != Some(app.as_str()) {
                    if self.overview.ci_configured {
                        cmds.push(Command::SelectPipelines { app: app.clone() });
                    }
                    self.overview.branch_row = 0;
                    self.overview.alert_row = 0;
                    if self.overview.run.take().is_some() {
                        cmds.push(Command::CloseRun);
                    }
                }
            }
            self.overview.shown = selected;
            self.prune_runs();
            self.dirty = true;
        }
        if self.overview.run.is_some() && self.focus != Pane::Pipelines {
            self.overview.run = None;
            cmds.push(Command::CloseRun);
            self.dirty = true;
        }
        if self.overview.chart_open && self.focus != Pane::Metrics {
            self.overview.chart_open = false;
            self.dirty = true;
        }
        if self.overview.metrics.is_some() {
            let shown = crate::ui::layout::compute(
                self,
                ratatui::layout::Rect::new(0, 0, self.width, self.height),
            )
            .rect(Pane::Metrics)
            .is_some();
            if shown == self.overview.metrics_hidden {
                self.overview.metrics_hidden = !shown;
                cmds.push(Command::MetricsVisible(shown));
            }
        }
        if std::mem::take(&mut self.overview.board_changed) {
            let lists = self.watch_lists();
            // Only a new watch list can leave runs behind (not every board change of a storm).
            if lists.iter().any(|c| matches!(c, Command::WatchCiApps(_))) {
                self.prune_runs();
            }
            cmds.extend(lists);
        }
        cmds
    }

    /// Keeps CI runs only for the watched apps and the shown one: scrolling through 10,000 apps
    /// must not keep 10,000 apps' runs (at most `CI_WATCH_MAX` + 1 entries).
    fn prune_runs(&mut self) {
        let o = &mut self.overview;
        let shown = o.shown.as_ref().map(|(a, _)| a.as_str());
        let watched = &o.sent_ci_apps;
        o.runs
            .retain(|app, _| Some(app.as_str()) == shown || watched.contains(app));
    }

    /// The apps whose CI runs mark the board and the (repository, tag) pairs whose digests do.
    fn watch_lists(&mut self) -> Vec<Command> {
        let mut cmds = Vec::new();
        let board = &self.releases.board;
        if self.overview.ci_configured {
            let apps: Vec<String> = if board.rows.len() <= CI_WATCH_MAX {
                board.rows.iter().map(|r| r.app.clone()).collect()
            } else {
                Vec::new()
            };
            if apps != self.overview.sent_ci_apps {
                self.overview.sent_ci_apps = apps.clone();
                cmds.push(Command::WatchCiApps(apps));
            }
        }
        if self.overview.tags.is_some() {
            let mut pairs: Vec<(String, String)> = board
                .rows
                .iter()
                .flat_map(|r| r.cells.iter().flatten())
                // Cheap test first: 30,000 cells are scanned on every board change.
                .filter(|c| c.image().contains('@'))
                .filter_map(|c| super::pipelines::image_key(c.image()))
                .map(|(repo, tag, _)| (repo, tag))
                .take(TAG_WATCH_MAX)
                .collect();
            pairs.sort();
            pairs.dedup();
            if pairs != self.overview.sent_tags {
                self.overview.sent_tags = pairs.clone();
                cmds.push(Command::WatchTags(pairs));
            }
        }
        cmds
    }
}
