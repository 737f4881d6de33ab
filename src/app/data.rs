//! How backend facts change the model: snapshots, failures and recoveries per source, log lines;
//! and when the next visible age label changes (the loop's age timer).
use super::{App, Pane};
use crate::backend::kube::KubeEvent;
use crate::clock::next_age_change;
use crate::model::SourceId;
use crate::model::board::{Board, build_board};
use crate::msg::Command;
use jiff::{SignedDuration, Timestamp};

/// From this many Deployments (all environments together) the board is built off the loop: a
/// build of 30,000 cells takes tens of milliseconds, longer than a key may wait.
pub const ASYNC_BOARD_MIN: usize = 3000;

impl App {
    pub(super) fn fetched_at(&self, env: &str) -> Option<Timestamp> {
        self.deployments.get(env).and_then(|f| f.fetched_at)
    }

    fn rebuild_board(&mut self) -> Vec<Command> {
        self.follow_detail();
        let total: usize = self
            .deployments
            .values()
            .filter_map(|f| f.value.as_ref())
            .map(|v| v.len())
            .sum();
        if total < ASYNC_BOARD_MIN {
            let board = build_board(&self.config, &self.deployments);
            self.install_board(board);
            return Vec::new();
        }
        if self.board_building {
            self.board_wanted = true;
            return Vec::new();
        }
        self.board_building = true;
        self.board_generation += 1;
        vec![Command::BuildBoard {
            generation: self.board_generation,
            config: self.config.clone(),
            deployments: self.deployments.clone(),
        }]
    }

    /// A board built off the loop arrived: show it, and start the next build if data changed
    /// meanwhile.
    pub(super) fn board_built(&mut self, generation: u64, board: Board) -> Vec<Command> {
        if generation != self.board_generation {
            return Vec::new();
        }
        self.board_building = false;
        self.install_board(board);
        if std::mem::take(&mut self.board_wanted) {
            return self.rebuild_board();
        }
        Vec::new()
    }

    fn install_board(&mut self, board: Board) {
        if self.releases.set_board(board) {
            self.scroll_board();
            self.overview.board_changed = true;
            self.dirty = true;
        }
    }

    /// The open detail follows its Deployment's latest state.
    fn follow_detail(&mut self) {
        if let Some(d) = &mut self.detail {
            let view = self
                .deployments
                .get(&d.env)
                .and_then(|f| f.value.as_ref())
                .and_then(|items| {
                    items
                        .iter()
                        .find(|x| x.name == d.deployment && x.namespace == d.namespace)
                })
                .cloned();
            if view != d.view {
                d.view = view;
                self.dirty = true;
            }
        }
    }

    pub(super) fn kube(&mut self, event: KubeEvent) -> Vec<Command> {
        let now = self.clock.now();
        match event {
            KubeEvent::Deployments { env, items } => {
                self.deployments
                    .entry(env.clone())
                    .or_default()
                    .set(items, now);
                if self
                    .sources
                    .live(SourceId::Kube(env), "deployments", Some(now))
                {
                    self.dirty = true;
                }
                return self.rebuild_board();
            }
            KubeEvent::ReplicaSets { env, items } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.env == env) {
                    d.set_replicasets(&items, now);
                    self.dirty = true;
                }
            }
            KubeEvent::Pods { env, items } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.env == env) {
                    d.set_pods(&items, now);
                    self.dirty = true;
                }
            }
            KubeEvent::Events { env, items } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.env == env) {
                    d.set_events(items, now);
                    self.dirty = true;
                }
            }
            KubeEvent::Failed { env, kind, error } => {
                let since = self.fetched_at(&env);
                if self
                    .sources
                    .fail(SourceId::Kube(env.clone()), kind, &error, since)
                {
                    self.dirty = true;
                }
                if kind == "deployments" {
                    self.deployments.entry(env).or_default().fail(error);
                    return self.rebuild_board();
                } else if let Some(d) = self.detail.as_mut().filter(|d| d.env == env) {
                    d.fail(kind, &error);
                    self.dirty = true;
                }
            }
            KubeEvent::Live { env, kind } => {
                let since = self.fetched_at(&env);
                if self.sources.live(SourceId::Kube(env.clone()), kind, since) {
                    self.dirty = true;
                }
                if kind == "deployments" {
                    if let Some(f) = self.deployments.get_mut(&env)
                        && f.error.take().is_some()
                    {
                        return self.rebuild_board();
                    }
                } else if let Some(d) = self.detail.as_mut().filter(|d| d.env == env) {
                    d.recover(kind);
                    self.dirty = true;
                }
            }
            KubeEvent::LogLines { request, lines } => {
                if let Some(l) = self.logs.as_mut().filter(|l| l.request == request)
                    && !lines.is_empty()
                {
                    l.push(lines);
                    self.dirty = true;
                }
            }
            KubeEvent::LogEnded { request, error } => {
                if let Some(l) = self.logs.as_mut().filter(|l| l.request == request) {
                    l.ended = Some(error);
                    self.dirty = true;
                }
            }
        }
        Vec::new()
    }

    /// When the next visible age label changes its text (the loop's age timer), or `None` when no
    /// age is on screen. Only rows in view count, so 10,000 apps cost no more than 40.
    pub fn next_age_deadline(&self) -> Option<Timestamp> {
        let now = self.clock.now();
        let mut stamps: Vec<Timestamp> = Vec::new();
        let r = &self.releases;
        let rows = self.board_viewport();
        for &i in r.visible.iter().skip(r.offset).take(rows) {
            if let Some(row) = r.board.rows.get(i) {
                stamps.extend(row.cells.iter().flatten().filter_map(|c| c.changed_at));
            }
        }
        // Stale badges show the age of the data.
        stamps.extend(
            r.board
                .envs
                .iter()
                .filter(|e| e.error.is_some())
                .filter_map(|e| e.fetched_at),
        );
        if let Some(d) = &self.detail {
            stamps.extend(d.timestamps());
        }
        let overview = self.overview_deadline(now);
        stamps
            .into_iter()
            .map(|then| {
                let elapsed = now.duration_since(then).as_secs().max(0);
                let next = next_age_change(now, then);
                then.checked_add(SignedDuration::from_secs(elapsed + next))
                    .unwrap_or(now)
            })
            .chain(overview)
            .min()
    }

    /// The overview panes' next label change: pipeline ages and running stages, alert ages, and
    /// the age in a stale banner, for the panes on screen.
    fn overview_deadline(&self, now: Timestamp) -> Option<Timestamp> {
        let shown: Vec<Pane> = crate::ui::layout::compute(
            self,
            ratatui::layout::Rect::new(0, 0, self.width, self.height),
        )
        .panes
        .iter()
        .map(|(p, _)| *p)
        .collect();
        let mut stamps: Vec<Timestamp> = Vec::new();
        let mut secs: Vec<i64> = Vec::new();
        let app = self.overview_app();
        let o = &self.overview;
        if shown.contains(&Pane::Pipelines) {
            if let Some(f) = app.and_then(|a| o.runs.get(a)) {
                if let Some(p) = &f.value {
                    secs.extend(crate::ui::pipelines::next_label_change(p, now));
                }
                stamps.extend(f.fetched_at.filter(|_| f.error.is_some()));
            }
            if let Some((_, f)) = &o.run {
                if let Some(d) = &f.value {
                    secs.extend(crate::ui::pipelines::next_label_change(
                        std::slice::from_ref(&d.pipeline),
                        now,
                    ));
                }
                stamps.extend(f.fetched_at.filter(|_| f.error.is_some()));
            }
        }
        if shown.contains(&Pane::Metrics)
            && let Some(f) = &o.metrics
        {
            stamps.extend(f.fetched_at.filter(|_| f.error.is_some()));
        }
        if shown.contains(&Pane::Alerts)
            && let Some(f) = &o.alerts
        {
            stamps.extend(f.fetched_at.filter(|_| f.error.is_some()));
            if let Some(snap) = &f.value {
                let visible = crate::ui::alerts::visible_alerts(snap, app);
                stamps.extend(visible.iter().take(50).map(|a| a.starts_at));
                // "ends in 5m": a countdown changes when the remaining time crosses a unit.
                for s in crate::ui::alerts::visible_silences(snap, app)
                    .iter()
                    .take(20)
                {
                    let left = s.ends_at.duration_since(now).as_secs();
                    if left > 0 {
                        secs.push(countdown_change(left));
                    }
                }
            }
        }
        let from_stamps = stamps.into_iter().map(|then| {
            let elapsed = now.duration_since(then).as_secs().max(0);
            let next = next_age_change(now, then);
            then.checked_add(SignedDuration::from_secs(elapsed + next))
                .unwrap_or(now)
        });
        let from_secs = secs
            .into_iter()
            .filter_map(|s| now.checked_add(SignedDuration::from_secs(s.max(1))).ok());
        from_stamps.chain(from_secs).min()
    }
}

/// Seconds until a countdown of `left` seconds shows a different text (`age` units: s, m, h, d).
fn countdown_change(left: i64) -> i64 {
    let unit = match left {
        s if s <= 60 => 1,
        s if s <= 3600 => 60,
        s if s <= 86_400 => 3600,
        _ => 86_400,
    };
    // The text is floor(left / unit): it changes when left drops below the next multiple.
    (left % unit).max(1)
}
