//! The deployment detail of one app × environment: the Deployment, its rollout history
//! (ReplicaSets), pods and recent events, kept sorted as the pane shows them.
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
    pub view: Option<DeploymentView>,
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
}

impl Detail {
    pub fn new(app: String, env: String, view: DeploymentView) -> Detail {
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
        self.history.set(rs, at);
        self.refilter_events();
    }

    pub fn set_pods(&mut self, items: &[PodView], at: Timestamp) {
        let selected = self.selected_pod().map(|p| p.name.clone());
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

    pub fn selected_pod(&self) -> Option<&PodView> {
        self.pods.value.as_ref()?.get(self.pod_cursor)
    }

    pub fn pod_count(&self) -> usize {
        self.pods.value.as_ref().map_or(0, Vec::len)
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
