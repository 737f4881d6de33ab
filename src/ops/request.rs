//! `Request`: what the user asked for, built by a console key or a CLI verb.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Roll the source's running image (by digest) out to `to`. `from` defaults to `to`'s
    /// `promote_from`. `reason` goes into change-cause and, when a check failed, is the override.
    Promote {
        app: String,
        from: Option<String>,
        to: String,
        reason: Option<String>,
    },
    /// `kubectl rollout undo` (to the previous revision or `to_revision`).
    Rollback {
        app: String,
        env: String,
        to_revision: Option<i64>,
    },
    Patch {
        app: String,
        env: String,
        change: PatchChange,
    },
    /// Retire the app everywhere (ops::sunset); `resume` continues a run from the journal.
    Sunset {
        app: String,
        resume: bool,
    },
    /// Approve the app's pending CI gate for `env`.
    Approve {
        app: String,
        env: String,
    },
    /// Silence the app's alerts (or one alert) for `duration_secs`.
    Silence {
        app: String,
        alert: Option<String>,
        duration_secs: u64,
        comment: String,
    },
    ExpireSilence {
        id: String,
    },
    /// Run the app's latest pipeline on `branch` again (the console's `R`).
    Rerun {
        app: String,
        branch: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PatchChange {
    /// A tag of the app's registry repository (or a full image reference).
    Image(String),
    Restart,
    Replicas(i32),
    Pause,
    Resume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Promote,
    Rollback,
    Patch,
    Sunset,
    Approve,
    Silence,
    ExpireSilence,
    Rerun,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Promote => "promote",
            OpKind::Rollback => "rollback",
            OpKind::Patch => "patch",
            OpKind::Sunset => "sunset",
            OpKind::Approve => "approve",
            OpKind::Silence => "silence",
            OpKind::ExpireSilence => "expire-silence",
            OpKind::Rerun => "rerun",
        }
    }

    /// The reason of the Kubernetes Event recorded on the Deployment.
    pub fn event_reason(self) -> &'static str {
        match self {
            OpKind::Promote => "ShipdeckPromote",
            OpKind::Rollback => "ShipdeckRollback",
            OpKind::Patch => "ShipdeckPatch",
            OpKind::Sunset => "ShipdeckSunset",
            OpKind::Approve => "ShipdeckApprove",
            OpKind::Silence => "ShipdeckSilence",
            OpKind::ExpireSilence => "ShipdeckExpireSilence",
            OpKind::Rerun => "ShipdeckRerun",
        }
    }
}

impl Request {
    pub fn kind(&self) -> OpKind {
        match self {
            Request::Promote { .. } => OpKind::Promote,
            Request::Rollback { .. } => OpKind::Rollback,
            Request::Patch { .. } => OpKind::Patch,
            Request::Sunset { .. } => OpKind::Sunset,
            Request::Approve { .. } => OpKind::Approve,
            Request::Silence { .. } => OpKind::Silence,
            Request::ExpireSilence { .. } => OpKind::ExpireSilence,
            Request::Rerun { .. } => OpKind::Rerun,
        }
    }

    pub fn app(&self) -> Option<&str> {
        match self {
            Request::Promote { app, .. }
            | Request::Rollback { app, .. }
            | Request::Patch { app, .. }
            | Request::Sunset { app, .. }
            | Request::Approve { app, .. }
            | Request::Silence { app, .. }
            | Request::Rerun { app, .. } => Some(app),
            Request::ExpireSilence { .. } => None,
        }
    }

    /// The environment written to, when there is exactly one (sunset writes to all).
    pub fn target_env(&self) -> Option<&str> {
        match self {
            Request::Promote { to, .. } => Some(to),
            Request::Rollback { env, .. }
            | Request::Patch { env, .. }
            | Request::Approve { env, .. } => Some(env),
            _ => None,
        }
    }

    /// One line for titles and the journal: `promote web staging → production`.
    pub fn summary(&self) -> String {
        match self {
            Request::Promote { app, from, to, .. } => match from {
                Some(f) => format!("promote {app} {f} → {to}"),
                None => format!("promote {app} → {to}"),
            },
            Request::Rollback {
                app,
                env,
                to_revision,
            } => match to_revision {
                Some(r) => format!("rollback {app} in {env} to revision {r}"),
                None => format!("rollback {app} in {env}"),
            },
            Request::Patch { app, env, change } => {
                let what = match change {
                    PatchChange::Image(t) => format!("image {t}"),
                    PatchChange::Restart => "restart".into(),
                    PatchChange::Replicas(n) => format!("replicas {n}"),
                    PatchChange::Pause => "pause".into(),
                    PatchChange::Resume => "resume".into(),
                };
                format!("patch {app} in {env}: {what}")
            }
            Request::Sunset { app, resume } => {
                if *resume {
                    format!("sunset {app} (resume)")
                } else {
                    format!("sunset {app}")
                }
            }
            Request::Approve { app, env } => format!("approve {app} for {env}"),
            Request::Silence {
                app,
                alert,
                duration_secs,
                ..
            } => match alert {
                Some(a) => format!("silence {a} of {app} for {}", human_secs(*duration_secs)),
                None => format!("silence {app} for {}", human_secs(*duration_secs)),
            },
            Request::ExpireSilence { id } => format!("expire silence {id}"),
            Request::Rerun { app, branch } => format!("re-run {app} pipeline on {branch}"),
        }
    }
}

/// `2h`, `90m`, `45s`, `3d`.
pub fn human_secs(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses `2h`, `30m`, `1d`, `90s`, `1h30m`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !num.is_empty() {
        return None;
    }
    (total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("90"), None);
        assert_eq!(parse_duration("x"), None);
        assert_eq!(human_secs(7200), "2h");
        assert_eq!(human_secs(90), "90s");
    }

    #[test]
    fn request_json_is_tagged() {
        let r = Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Replicas(3),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op":"patch","app":"web","env":"staging","change":{"kind":"replicas","value":3}})
        );
        assert_eq!(serde_json::from_value::<Request>(v).unwrap(), r);
    }
}
