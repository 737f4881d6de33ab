//! Health of every source the console reads, as the status bar and title show it.
use crate::model::{SourceHealth, SourceId};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// One source: its health plus the failing kinds (a Kubernetes environment has one watch per kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    pub health: SourceHealth,
    /// kind → last error, for the watches of this source that currently fail.
    failing: BTreeMap<&'static str, String>,
}

/// In configuration order, as the status bar lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    states: Vec<(SourceId, SourceState)>,
}

impl Sources {
    /// Every Kubernetes environment starts as Connecting.
    pub fn new(envs: impl IntoIterator<Item = String>) -> Sources {
        let states = envs
            .into_iter()
            .map(|env| {
                (
                    SourceId::Kube(env),
                    SourceState {
                        health: SourceHealth::Connecting,
                        failing: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Sources { states }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SourceId, &SourceHealth)> {
        self.states.iter().map(|(id, s)| (id, &s.health))
    }

    pub fn get(&self, id: &SourceId) -> Option<&SourceHealth> {
        self.states
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| &s.health)
    }

    fn entry(&mut self, id: SourceId) -> &mut SourceState {
        let i = match self.states.iter().position(|(i, _)| *i == id) {
            Some(i) => i,
            None => {
                self.states.push((
                    id,
                    SourceState {
                        health: SourceHealth::Connecting,
                        failing: BTreeMap::new(),
                    },
                ));
                self.states.len() - 1
            }
        };
        &mut self.states[i].1
    }

    /// A watch of `kind` failed; `since` is when the data on screen was fetched. Returns whether the
    /// visible health changed.
    pub fn fail(
        &mut self,
        id: SourceId,
        kind: &'static str,
        error: &str,
        since: Option<Timestamp>,
    ) -> bool {
        let state = self.entry(id);
        state.failing.insert(kind, error.to_string());
        Self::recompute(state, since)
    }

    /// A watch of `kind` is live again (or delivered data). Returns whether the health changed.
    pub fn live(&mut self, id: SourceId, kind: &'static str, since: Option<Timestamp>) -> bool {
        let state = self.entry(id);
        state.failing.remove(kind);
        if state.failing.is_empty() {
            let changed = state.health != SourceHealth::Live;
            state.health = SourceHealth::Live;
            changed
        } else {
            Self::recompute(state, since)
        }
    }

    /// Forgets failures of a kind that is no longer watched (the detail closed).
    pub fn forget(&mut self, id: &SourceId, kind: &'static str, since: Option<Timestamp>) -> bool {
        let Some((_, state)) = self.states.iter_mut().find(|(i, _)| i == id) else {
            return false;
        };
        if state.failing.remove(kind).is_none() {
            return false;
        }
        if state.failing.is_empty() {
            state.health = SourceHealth::Live;
            true
        } else {
            Self::recompute(state, since)
        }
    }

    fn recompute(state: &mut SourceState, since: Option<Timestamp>) -> bool {
        let error = state
            .failing
            .iter()
            .map(|(kind, e)| format!("{kind}: {e}"))
            .collect::<Vec<_>>()
            .join("; ");
        let health = SourceHealth::Stale { since, error };
        let changed = state.health != health;
        state.health = health;
        changed
    }

    /// True when any source is stale.
    pub fn any_stale(&self) -> bool {
        self.states
            .iter()
            .any(|(_, s)| matches!(s.health, SourceHealth::Stale { .. }))
    }

    /// True while a source has not answered yet.
    pub fn any_connecting(&self) -> bool {
        self.states
            .iter()
            .any(|(_, s)| s.health == SourceHealth::Connecting)
    }
}
