//! Alerts and silences as the Alerts pane shows them; the serde shape is Alertmanager API v2's.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `status.state` of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Unprocessed,
    Active,
    Suppressed,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub state: AlertState,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Receiver {
    pub name: String,
}

/// A `gettableAlert`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub fingerprint: String,
    pub status: AlertStatus,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.label("alertname")
    }

    pub fn severity(&self) -> &str {
        self.label("severity")
    }

    pub fn summary(&self) -> &str {
        self.annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn is_suppressed(&self) -> bool {
        self.status.state == AlertState::Suppressed
    }
}

/// Severity order for grouping: critical first, then warning, info, anything else, none.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" | "page" => 0,
        "warning" => 1,
        "info" => 2,
        "" => 4,
        _ => 3,
    }
}

/// A matcher of a silence (`isEqual: false` means `!=` or `!~`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    pub fn equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
        }
    }

    /// `name="value"`, `name!~"re"`: how amtool prints it.
    pub fn display(&self) -> String {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (true, false) => "!~",
        };
        format!("{}{op}{:?}", self.name, self.value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// A `gettableSilence`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    pub updated_at: Timestamp,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

/// A `postableSilence`: set `id` to update an existing silence.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

impl NewSilence {
    /// A silence prefilled for one alert: equal matchers on `alertname`, `namespace` and `app`
    /// (those it has; all its labels when it has none of them), from `now` for `duration`.
    pub fn for_alert(
        alert: &Alert,
        now: Timestamp,
        duration: jiff::SignedDuration,
        created_by: &str,
        comment: &str,
    ) -> Self {
        let mut matchers: Vec<SilenceMatcher> = ["alertname", "namespace", "app"]
            .iter()
            .filter_map(|k| alert.labels.get(*k).map(|v| SilenceMatcher::equal(k, v)))
            .collect();
        if matchers.is_empty() {
            matchers = alert
                .labels
                .iter()
                .map(|(k, v)| SilenceMatcher::equal(k, v))
                .collect();
        }
        Self {
            id: None,
            matchers,
            starts_at: now,
            ends_at: now.checked_add(duration).unwrap_or(now),
            created_by: created_by.into(),
            comment: comment.into(),
        }
    }
}

/// An `alertGroup` of `GET /alerts/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AlertGroup {
    pub labels: BTreeMap<String, String>,
    pub receiver: Receiver,
    pub alerts: Vec<Alert>,
}

/// Alerts kept per snapshot, the most severe first (display order); the rest are only counted, so
/// an alert storm cannot grow the console without bound.
pub const ALERTS_KEPT: usize = 20_000;

/// What the alerts poller hands to the UI.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertsSnapshot {
    /// In display order (see `AlertsSnapshot::new`), at most `ALERTS_KEPT`.
    pub alerts: Vec<Alert>,
    /// Active and pending silences (expired ones are left out), soonest to end first.
    pub silences: Vec<Silence>,
    /// Alerts left out past `ALERTS_KEPT`.
    pub dropped: usize,
}

/// Sorts alerts as the pane lists them: severity (critical first), alertname, app, namespace, start.
pub fn display_order(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        severity_rank(a.severity())
            .cmp(&severity_rank(b.severity()))
            .then_with(|| a.name().cmp(b.name()))
            .then_with(|| a.label("app").cmp(b.label("app")))
            .then_with(|| a.label("namespace").cmp(b.label("namespace")))
            .then_with(|| a.starts_at.cmp(&b.starts_at))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
}

impl AlertsSnapshot {
    /// Drops expired silences and puts everything in display order, once per fetch rather than
    /// once per frame.
    pub fn new(mut alerts: Vec<Alert>, mut silences: Vec<Silence>) -> Self {
        display_order(&mut alerts);
        let dropped = alerts.len().saturating_sub(ALERTS_KEPT);
        alerts.truncate(ALERTS_KEPT);
        silences.retain(|s| s.status.state != SilenceState::Expired);
        silences.sort_by(|a, b| a.ends_at.cmp(&b.ends_at).then_with(|| a.id.cmp(&b.id)));
        silences.truncate(ALERTS_KEPT);
        Self {
            alerts,
            silences,
            dropped,
        }
    }

    /// Whether a critical alert is firing (not suppressed) for the app in the namespace.
    pub fn critical_firing(&self, app: &str, namespace: &str) -> bool {
        self.alerts.iter().any(|a| {
            a.status.state == AlertState::Active
                && severity_rank(a.severity()) == 0
                && a.label("app") == app
                && a.label("namespace") == namespace
        })
    }
}
