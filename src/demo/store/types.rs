//! The types of the store's API: resource kinds, change events and write options.
use serde_json::Value;
use std::sync::Arc;

/// The resource kinds the simulated cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Deployment,
    ReplicaSet,
    Pod,
    Event,
    Service,
    Ingress,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Namespace,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::Event,
        Kind::Service,
        Kind::Ingress,
    ];

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Pod | Kind::Event | Kind::Service => "v1",
            Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            Kind::Ingress => "networking.k8s.io/v1",
        }
    }

    /// The API group ("" for core).
    pub fn group(self) -> &'static str {
        match self.api_version().split_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::Service => "Service",
            Kind::Ingress => "Ingress",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Pod => "pods",
            Kind::Event => "events",
            Kind::Service => "services",
            Kind::Ingress => "ingresses",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::Namespace
    }

    /// The resource as error messages name it: `deployments.apps`, `pods`.
    pub fn resource(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            g => format!("{}.{g}", self.plural()),
        }
    }

    /// The kind for a group ("" = core) and plural, as URL paths carry them.
    pub fn from_group_plural(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }
}

/// Function giving the (simulated) time used for creationTimestamp and managedFields.
pub type ClockFn = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch event. `resource_version` is the store's version after the change
/// (for Deleted: the version at which the object was deleted, also set in the object).
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub kind: Kind,
    pub type_: EventType,
    pub object: Arc<Value>,
    pub resource_version: u64,
}

/// How a write is recorded: the field manager for managedFields, the operation, dry-run, and
/// whether a delete orphans the dependents. `WriteOptions::default()` is what the plain methods use.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Defaults to `DEFAULT_MANAGER`.
    pub field_manager: Option<String>,
    /// Recorded as operation `Apply` instead of `Update`.
    pub apply: bool,
    /// Records managedFields for the `status` subresource.
    pub subresource: Option<String>,
    /// Compute and return the result, store nothing, broadcast nothing.
    pub dry_run: bool,
    /// Delete only: leave owned objects in place (propagationPolicy=Orphan).
    pub orphan: bool,
    /// An update may set `metadata.deletionTimestamp` on an object that has none: graceful
    /// deletion as the apiserver starts it (in-process writers only; HTTP writes never set this).
    pub graceful_delete: bool,
}

/// Manager recorded for writes that name none.
pub const DEFAULT_MANAGER: &str = "shipdeck-demo";
/// Number of changes kept for `events_since` (watch resumption) unless set otherwise.
pub const DEFAULT_HISTORY: usize = 10_000;
