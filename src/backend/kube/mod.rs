//! The Kubernetes backend: one client per environment, watchers per (environment, kind), compact
//! projections, debounced owned snapshots sent to the UI.
use crate::model::{DeploymentView, EventView, PodView, ReplicaSetView};
use std::sync::Arc;

/// What the Kubernetes backend tells the UI. Snapshots are whole and owned: the UI replaces its copy.
#[derive(Debug, Clone)]
pub enum KubeEvent {
    /// Every Deployment of the environment's namespace(s), sent (debounced) when something changed.
    Deployments {
        env: String,
        items: Arc<[DeploymentView]>,
    },
    /// ReplicaSets of the Deployment opened in the detail view.
    ReplicaSets {
        env: String,
        items: Arc<[ReplicaSetView]>,
    },
    /// Pods of the Deployment opened in the detail view.
    Pods { env: String, items: Arc<[PodView]> },
    /// Events of the namespace of the Deployment opened in the detail view.
    Events {
        env: String,
        items: Arc<[EventView]>,
    },
    /// A watch failed; the data on screen stays, marked stale. The watch retries with backoff.
    Failed {
        env: String,
        kind: &'static str,
        error: String,
    },
    /// A watch (re)connected and completed its initial list.
    Live { env: String, kind: &'static str },
    /// Lines of a pod log stream (already split, unsanitized).
    LogLines { request: u64, lines: Vec<String> },
    /// The log stream ended (error when it failed).
    LogEnded { request: u64, error: Option<String> },
}
