//! `OpError`: what can go wrong preparing or running an operation, and its exit code.
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum OpError {
    /// A bad request or configuration (unknown app or environment, missing section): exit 2.
    #[error("{0}")]
    Usage(String),
    /// A safety rail refused (failed checks without an override, read-only, protected): exit 3.
    #[error("refused: {0}")]
    Refused(String),
    /// Not confirmed, or cancelled: exit 4.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// Someone changed the object after the preview (HTTP 409): nothing was overwritten.
    #[error(
        "conflict: {object} changed since the preview (resourceVersion {expected}); nothing was written — prepare again"
    )]
    Conflict { object: String, expected: String },
    /// Another shipdeck operation holds the app × environment lock.
    #[error("locked: {0}")]
    Locked(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Any backend failure (Kubernetes, CI, Alertmanager, registry, Prometheus, Cloudflare).
    #[error("{source_name}: {message}")]
    Backend {
        source_name: String,
        message: String,
    },
    /// The rollout failed by kubectl's rules (progress deadline exceeded).
    #[error("rollout failed: {0}")]
    RolloutFailed(String),
    /// The audit journal or lock could not be written.
    #[error("journal: {0}")]
    Journal(String),
}

impl OpError {
    pub fn backend(source_name: &str, message: impl std::fmt::Display) -> OpError {
        OpError::Backend {
            source_name: source_name.into(),
            message: message.to_string(),
        }
    }

    /// PRODUCT.md §5: 1 failed; 2 usage/config; 3 refused by a rail; 4 cancelled/not confirmed.
    pub fn exit_code(&self) -> u8 {
        match self {
            OpError::Usage(_) => 2,
            OpError::Refused(_) | OpError::Locked(_) => 3,
            OpError::Cancelled(_) => 4,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_serializes_and_round_trips() {
        let all = vec![
            OpError::Usage("u".into()),
            OpError::Refused("r".into()),
            OpError::Cancelled("c".into()),
            OpError::Conflict {
                object: "deployment/web".into(),
                expected: "12".into(),
            },
            OpError::Locked("l".into()),
            OpError::Forbidden("f".into()),
            OpError::NotFound("n".into()),
            OpError::backend("kubernetes", "down"),
            OpError::RolloutFailed("deadline".into()),
            OpError::Journal("j".into()),
        ];
        for e in all {
            let v = serde_json::to_value(&e).unwrap();
            assert!(v["kind"].is_string(), "{v}");
            assert_eq!(serde_json::from_value::<OpError>(v).unwrap(), e);
        }
        assert_eq!(
            serde_json::to_value(OpError::Refused("x".into())).unwrap(),
            serde_json::json!({"kind": "refused", "detail": "x"})
        );
    }
}
