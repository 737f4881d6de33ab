//! How backend facts change the model: snapshots, failures and recoveries per source, log lines;
//! and when the next visible age label changes (the loop's age timer).
use super::App;
use crate::backend::kube::KubeEvent;
use crate::clock::next_age_change;
use crate::model::SourceId;
use crate::model::board::build_board;
use jiff::{SignedDuration, Timestamp};

impl App {
    pub(super) fn fetched_at(&self, env: &str) -> Option<Timestamp> {
        self.deployments.get(env).and_then(|f| f.fetched_at)
    }

    fn rebuild_board(&mut self) {
        let board = build_board(&self.config, &self.deployments);
        if self.releases.set_board(board) {
            self.scroll_board();
            self.dirty = true;
        }
        // The open detail follows its Deployment's latest state.
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

    pub(super) fn kube(&mut self, event: KubeEvent) {
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
                self.rebuild_board();
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
                    self.rebuild_board();
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
                        self.rebuild_board();
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
        stamps
            .into_iter()
            .map(|then| {
                let elapsed = now.duration_since(then).as_secs().max(0);
                let next = next_age_change(now, then);
                then.checked_add(SignedDuration::from_secs(elapsed + next))
                    .unwrap_or(now)
            })
            .min()
    }
}
