//! `Fresh<T>`: a value with the time it was fetched and the last error, so stale data is shown as stale.
use jiff::Timestamp;

/// Which source a piece of data came from; shown in the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    /// One Kubernetes environment (by environment name).
    Kube(String),
    Prometheus,
    Alertmanager,
    Ci,
    Registry,
    Cloudflare,
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceId::Kube(env) => write!(f, "k8s:{env}"),
            SourceId::Prometheus => f.write_str("prometheus"),
            SourceId::Alertmanager => f.write_str("alertmanager"),
            SourceId::Ci => f.write_str("ci"),
            SourceId::Registry => f.write_str("registry"),
            SourceId::Cloudflare => f.write_str("cloudflare"),
        }
    }
}

/// Health of one source as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceHealth {
    /// No answer yet.
    Connecting,
    Live,
    /// The last attempt failed; data on screen (if any) is from `since`.
    Stale {
        since: Option<Timestamp>,
        error: String,
    },
    /// Not configured: panes show a one-line hint instead.
    Disabled,
}

/// A value as last fetched, plus the last error since then.
#[derive(Debug, Clone, PartialEq)]
pub struct Fresh<T> {
    pub value: Option<T>,
    pub fetched_at: Option<Timestamp>,
    pub error: Option<String>,
}

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Self {
            value: None,
            fetched_at: None,
            error: None,
        }
    }
}

impl<T> Fresh<T> {
    pub fn set(&mut self, value: T, at: Timestamp) {
        self.value = Some(value);
        self.fetched_at = Some(at);
        self.error = None;
    }

    /// Records a failure; the old value stays so it can be shown marked stale.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.error = Some(error.into());
    }

    pub fn is_stale(&self) -> bool {
        self.error.is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.value.is_none() && self.error.is_none()
    }
}
