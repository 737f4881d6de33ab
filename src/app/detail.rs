//! The deployment detail of one app × environment: the Deployment, its rollout history
//! (ReplicaSets), pods and recent events, kept sorted as the pane shows them; one cursor walks the
//! history rows (to pick a revision to roll back to) and then the pods (for logs).
use crate::action::Action;
use crate::model::{DeploymentView, EventView, Fresh, PodView, ReplicaSetView};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub deployment: String,
    pub selector: BTreeMap<String, String>,
    /// The Deployment as in the latest board snapshot (`None` if it disappeared).
    pub view: Option<std::sync::Arc<DeploymentView>>,
    /// Revision descending.
    pub history: Fresh<Vec<ReplicaSetView>>,
    /// By name.
    pub pods: Fresh<Vec<PodView>>,
    /// Warnings first, then newest first.
    pub events: Fresh<Vec<EventView>>,
    /// The events of the namespace, kept to refilter when the pods or ReplicaSets change.
    all_events: Option<Arc<[EventView]>>,
    /// Selected pod (index into `pods`).
    pub pod_cursor: usize,
    /// The revision the cursor is on in the history; `None` when the cursor is on the pods.
    /// Kept by revision, not row, so a new rollout arriving on top never moves the pick.
    pub history_cursor: Option<i64>,
}

impl Detail {
    pub fn new(app: String, env: String, view: std::sync::Arc<DeploymentView>) -> Detail {
        Detail {
            app,
            env,
            namespace: view.namespace.clone(),
            deployment: view.name.clone(),
            selector: view.selector.clone(),
            view: Some(view),
            history: Fresh::default(),
            pods: Fresh::default(),
            events: Fresh::default(),
            all_events: None,
            pod_cursor: 0,
            history_cursor: None,
        }
    }

    pub fn set_replicasets(&mut self, items: &[ReplicaSetView], at: Timestamp) {
        let uid = self.view.as_ref().map(|v| v.uid.as_str());
        let mut rs: Vec<ReplicaSetView> = items
            .iter()
            .filter(|r| r.namespace == self.namespace)
            .filter(|r| match (&r.owner_uid, uid) {
                (Some(owner), Some(uid)) => owner == uid,
                _ => self.owned_name(&r.name),
            })
            .cloned()
            .collect();
        rs.sort_by(|a, b| b.revision.cmp(&a.revision).then(a.name.cmp(&b.name)));
        // A picked revision that left the history (rolled back to, so renumbered, or pruned by
        // revisionHistoryLimit) is no longer a target: the cursor goes back to the pods.
        if let Some(rev) = self.history_cursor
            && !rs.iter().any(|r| r.revision == rev)
        {
            self.history_cursor = None;
        }
        self.history.set(rs, at);
        self.refilter_events();
    }

    pub fn set_pods(&mut self, items: &[PodView], at: Timestamp) {
        let selected = self
            .pods
            .value
            .as_ref()
            .and_then(|p| p.get(self.pod_cursor))
            .map(|p| p.name.clone());
        let mut pods: Vec<PodView> = items
            .iter()
            .filter(|p| p.namespace == self.namespace)
            .filter(|p| {
                if self.selector.is_empty() {
                    self.owned_name(&p.name)
                } else {
                    self.selector
                        .iter()
                        .all(|(k, v)| p.labels.get(k) == Some(v))
                }
            })
            .cloned()
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        // Keep the same pod selected when the list changes under it.
        self.pod_cursor = selected
            .and_then(|name| pods.iter().position(|p| p.name == name))
            .unwrap_or(self.pod_cursor)
            .min(pods.len().saturating_sub(1));
        self.pods.set(pods, at);
        self.refilter_events();
    }

    pub fn set_events(&mut self, items: Arc<[EventView]>, at: Timestamp) {
        self.all_events = Some(items);
        self.refilter_events();
        self.events.fetched_at = Some(at);
        self.events.error = None;
    }

    /// Names of objects this Deployment owns start with `<deployment>-` (ReplicaSet `web-7d4b9c`,
    /// pod `web-7d4b9c-x2x9q`); events of pods already gone still match.
    fn owned_name(&self, name: &str) -> bool {
        name.strip_prefix(self.deployment.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
    }

    fn refilter_events(&mut self) {
        let Some(all) = &self.all_events else {
            return;
        };
        let mut events: Vec<EventView> = all
            .iter()
            .filter(|e| e.namespace == self.namespace)
            .filter(|e| match e.involved_kind.as_str() {
                "Deployment" => e.involved_name == self.deployment,
                _ => self.owned_name(&e.involved_name),
            })
            .cloned()
            .collect();
        events.sort_by(|a, b| {
            let warn = |e: &EventView| e.type_ != "Warning";
            warn(a)
                .cmp(&warn(b))
                .then(b.last_seen.cmp(&a.last_seen))
                .then(a.reason.cmp(&b.reason))
        });
        let at = self.events.fetched_at;
        self.events.value = Some(events);
        self.events.fetched_at = at;
    }

    /// The pod the cursor is on (`None` while it is on the history).
    pub fn selected_pod(&self) -> Option<&PodView> {
        if self.history_cursor.is_some() {
            return None;
        }
        self.pods.value.as_ref()?.get(self.pod_cursor)
    }

    pub fn pod_count(&self) -> usize {
        self.pods.value.as_ref().map_or(0, Vec::len)
    }

    fn history_rows(&self) -> &[ReplicaSetView] {
        self.history.value.as_deref().unwrap_or_default()
    }

    /// The history row the cursor is on.
    pub fn selected_revision(&self) -> Option<&ReplicaSetView> {
        let rev = self.history_cursor?;
        self.history_rows().iter().find(|r| r.revision == rev)
    }

    /// Row of the picked revision in the history (newest first).
    pub fn history_row(&self) -> Option<usize> {
        let rev = self.history_cursor?;
        self.history_rows().iter().position(|r| r.revision == rev)
    }

    /// The revision the Deployment runs now (its `deployment.kubernetes.io/revision`).
    pub fn current_revision(&self) -> Option<i64> {
        self.view.as_ref().map(|v| v.revision).filter(|r| *r > 0)
    }

    /// Up/Down/PageUp/PageDown/Top/Bottom: one cursor over the history rows, then the pods, as
    /// the pane draws them top to bottom. Returns whether the cursor moved.
    pub fn navigate(&mut self, action: Action) -> bool {
        let revisions: Vec<i64> = self.history_rows().iter().map(|r| r.revision).collect();
        let (h, p) = (revisions.len(), self.pod_count());
        let total = h + p;
        if total == 0 {
            return false;
        }
        let at = self
            .history_row()
            .unwrap_or(h + self.pod_cursor.min(p.saturating_sub(1)));
        let last = total - 1;
        let next = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => at + 1,
            Action::PageUp => at.saturating_sub(10),
            Action::PageDown => at + 10,
            Action::Top => 0,
            _ => last,
        }
        .min(last);
        let before = (self.history_cursor, self.pod_cursor);
        if next < h {
            self.history_cursor = Some(revisions[next]);
        } else {
            self.history_cursor = None;
            self.pod_cursor = next - h;
        }
        (self.history_cursor, self.pod_cursor) != before
    }

    /// Records a failed watch of `kind` for the detail (the data stays, marked stale).
    pub fn fail(&mut self, kind: &str, error: &str) {
        match kind {
            "replicasets" => self.history.fail(error),
            "pods" => self.pods.fail(error),
            "events" => self.events.fail(error),
            _ => {}
        }
    }

    /// A watch of `kind` is live again.
    pub fn recover(&mut self, kind: &str) {
        match kind {
            "replicasets" => self.history.error = None,
            "pods" => self.pods.error = None,
            "events" => self.events.error = None,
            _ => {}
        }
    }

    /// Every timestamp whose age the detail pane shows.
    pub fn timestamps(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let conditions = self
            .view
            .iter()
            .flat_map(|v| v.conditions.iter())
            .filter_map(|c| c.last_transition.or(c.last_update));
        let history = self
            .history
            .value
            .iter()
            .flatten()
            .filter_map(|r| r.created);
        let pods = self.pods.value.iter().flatten().filter_map(|p| p.created);
        let events = self
            .events
            .value
            .iter()
            .flatten()
            .filter_map(|e| e.last_seen);
        // Stale badges show how old each section's data is.
        let stale = [
            (self.history.error.is_some(), self.history.fetched_at),
            (self.pods.error.is_some(), self.pods.fetched_at),
            (self.events.error.is_some(), self.events.fetched_at),
        ]
        .into_iter()
        .filter_map(|(stale, at)| at.filter(|_| stale));
        conditions
            .chain(history)
            .chain(pods)
            .chain(events)
            .chain(stale)
    }
}
