//! Compact projections of Kubernetes objects: only what the panes and the mutation engine read.
//!
//! Backends convert k8s-openapi objects into these (see `backend::kube::project`); strings here are
//! raw (unsanitized) — the UI sanitizes at draw time.
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An environment's Deployments as the backend sends them: each view is shared between the
/// backend's cache, the snapshot and the board, so a snapshot of 10,000 Deployments costs 10,000
/// reference counts, not 200,000 string copies, and dropping one frees nothing but the slice.
pub type Deployments = Arc<[Arc<DeploymentView>]>;

/// Wraps owned views into a shared snapshot (tests and fixtures build snapshots this way).
pub fn shared<T>(items: impl IntoIterator<Item = T>) -> Arc<[Arc<T>]> {
    items.into_iter().map(Arc::new).collect()
}

/// A container of a pod template: its name and image reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerImage {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConditionView {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_update: Option<Timestamp>,
    pub last_transition: Option<Timestamp>,
}

/// The fields of a Deployment the console uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeploymentView {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub generation: i64,
    pub observed_generation: i64,
    /// `deployment.kubernetes.io/revision`, 0 when missing.
    pub revision: i64,
    pub change_cause: Option<String>,
    /// `spec.replicas` (defaults to 1).
    pub desired: i32,
    pub paused: bool,
    pub progress_deadline_seconds: Option<i32>,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    pub unavailable: i32,
    pub conditions: Vec<ConditionView>,
    pub containers: Vec<ContainerImage>,
    pub selector: BTreeMap<String, String>,
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaSetView {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// uid of the controlling Deployment, if any.
    pub owner_uid: Option<String>,
    pub revision: i64,
    pub change_cause: Option<String>,
    pub template_hash: Option<String>,
    pub containers: Vec<ContainerImage>,
    pub desired: i32,
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    /// Name of the controlling ReplicaSet, if any.
    pub owner: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Pending / Running / Succeeded / Failed / Unknown, or Terminating when a deletion is pending.
    pub phase: String,
    pub ready_containers: i32,
    pub total_containers: i32,
    pub restarts: i32,
    /// A waiting reason such as CrashLoopBackOff or ImagePullBackOff.
    pub waiting_reason: Option<String>,
    /// `lastState.terminated.reason` (and exit code) of the most recently restarted container.
    pub last_termination: Option<String>,
    pub node: Option<String>,
    pub containers: Vec<ContainerImage>,
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventView {
    pub namespace: String,
    /// Normal or Warning.
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub involved_kind: String,
    pub involved_name: String,
    pub last_seen: Option<Timestamp>,
}

/// Rollout state by kubectl's rules (reference/apis.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutState {
    Complete,
    /// `generation > observedGeneration`.
    WaitingForSpec,
    Progressing {
        updated: i32,
        desired: i32,
        available: i32,
        message: String,
    },
    Failed {
        reason: String,
        message: String,
    },
    Paused,
}

impl DeploymentView {
    /// Decides the rollout state exactly as `kubectl rollout status` does, plus `Paused`.
    pub fn rollout_state(&self) -> RolloutState {
        if self.generation > self.observed_generation {
            return RolloutState::WaitingForSpec;
        }
        if let Some(cond) = self.condition("Progressing")
            && cond.reason.as_deref() == Some("ProgressDeadlineExceeded")
        {
            return RolloutState::Failed {
                reason: "ProgressDeadlineExceeded".into(),
                message: format!("deployment {:?} exceeded its progress deadline", self.name),
            };
        }
        if self.paused {
            return RolloutState::Paused;
        }
        let progressing = |message: String| RolloutState::Progressing {
            updated: self.updated,
            desired: self.desired,
            available: self.available,
            message,
        };
        if self.updated < self.desired {
            return progressing(format!(
                "{} out of {} new replicas have been updated",
                self.updated, self.desired
            ));
        }
        if self.replicas > self.updated {
            return progressing(format!(
                "{} old replicas are pending termination",
                self.replicas - self.updated
            ));
        }
        if self.available < self.updated {
            return progressing(format!(
                "{} of {} updated replicas are available",
                self.available, self.updated
            ));
        }
        RolloutState::Complete
    }

    pub fn condition(&self, type_: &str) -> Option<&ConditionView> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// When the Deployment last changed state: the newest condition update, else its creation.
    pub fn last_change(&self) -> Option<Timestamp> {
        self.conditions
            .iter()
            .filter_map(|c| c.last_update.or(c.last_transition))
            .max()
            .or(self.created)
    }

    /// The image of the first container (the one the board shows).
    pub fn primary_image(&self) -> Option<&str> {
        self.containers.first().map(|c| c.image.as_str())
    }
}

/// Splits an image reference into (repository, tag, digest).
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    // A ':' after the last '/' is a tag separator; before it, a registry port.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// What the board shows for an image: the tag, or a short digest, or the whole reference.
pub fn image_label(image: &str) -> String {
    match split_image(image) {
        (_, Some(tag), _) => tag.to_string(),
        (_, None, Some(digest)) => {
            let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
            hex.chars().take(12).collect()
        }
        (repo, None, None) => repo.rsplit('/').next().unwrap_or(repo).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_parts() {
        assert_eq!(
            split_image("registry.local:5000/shop/web:1.2"),
            ("registry.local:5000/shop/web", Some("1.2"), None)
        );
        assert_eq!(
            split_image("registry.local:5000/shop/web"),
            ("registry.local:5000/shop/web", None, None)
        );
        assert_eq!(
            split_image("web@sha256:abc"),
            ("web", None, Some("sha256:abc"))
        );
        assert_eq!(image_label("r/web@sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(image_label("r/web:v2@sha256:0123"), "v2");
    }
}
