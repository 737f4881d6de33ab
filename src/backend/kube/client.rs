//! Kubernetes clients per environment (kubeconfig context or in-cluster) and short error messages.
use crate::config::{Config, Environment};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connecting to an API server gives up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server ends each watch after this many seconds and the watcher resumes from its last
/// resourceVersion (no re-list); it bounds how long a silently dead connection goes unnoticed.
pub const WATCH_TIMEOUT_SECS: u32 = 30;
/// No byte for this long on a watch or list connection fails it (longer than a watch lasts).
pub const READ_TIMEOUT: Duration = Duration::from_secs(40);

/// Where an environment's client comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSource {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

impl ClientSource {
    pub fn for_env(config: &Config, env: &Environment) -> ClientSource {
        ClientSource {
            kubeconfig: env.kubeconfig.clone().or_else(|| config.kubeconfig.clone()),
            context: env.context.clone(),
        }
    }

    /// Loads the kube config: `in-cluster`, a named kubeconfig file, or $KUBECONFIG / ~/.kube/config.
    pub async fn load(&self) -> Result<kube::Config, String> {
        if self.context.as_deref() == Some("in-cluster") {
            return kube::Config::incluster().map_err(|e| format!("in-cluster config: {e}"));
        }
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(path, e))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| kubeconfig_error(path, e))?
            }
            None => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| format!("kubeconfig: {e}"))?,
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        Ok(config)
    }

    /// A client for lists and watches (read timeout set).
    pub async fn client(&self) -> Result<kube::Client, String> {
        crate::install_crypto();
        let config = self.load().await?;
        kube::Client::try_from(config).map_err(|e| describe(&e))
    }

    /// A client for long quiet streams (pod logs): no read timeout.
    pub async fn stream_client(&self) -> Result<kube::Client, String> {
        crate::install_crypto();
        let mut config = self.load().await?;
        config.read_timeout = None;
        kube::Client::try_from(config).map_err(|e| describe(&e))
    }
}

fn kubeconfig_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("kubeconfig {}: {e}", path.display())
}

/// A short human message for a kube error: "connection refused", "401 Unauthorized", "timeout".
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => describe_status(status.code, &status.reason, &status.message),
        kube::Error::SerdeError(e) => format!("malformed answer: {e}"),
        other => describe_chain(other),
    }
}

pub fn describe_watcher(err: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error;
    match err {
        Error::InitialListFailed(e) | Error::WatchStartFailed(e) | Error::WatchFailed(e) => {
            describe(e)
        }
        Error::WatchError(status) => describe_status(status.code, &status.reason, &status.message),
        Error::NoResourceVersion => "no resourceVersion in the list answer".into(),
    }
}

/// Whether the watcher will re-list by itself (a 410: its history is gone).
pub fn is_expired(err: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error;
    match err {
        Error::WatchError(status) => status.code == 410,
        _ => false,
    }
}

/// Whether the failure is a refusal (401/403) that retrying soon will not change: such a watch
/// waits the long delay at once instead of ramping up (no request storm against an auth wall).
pub fn is_refusal(err: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error;
    let code = match err {
        Error::InitialListFailed(kube::Error::Api(s))
        | Error::WatchStartFailed(kube::Error::Api(s))
        | Error::WatchFailed(kube::Error::Api(s)) => s.code,
        Error::WatchError(s) => s.code,
        _ => return false,
    };
    matches!(code, 401 | 403)
}

fn describe_status(code: u16, reason: &str, message: &str) -> String {
    if code == 410 {
        return "410 Expired; re-listing".into();
    }
    let reason = if reason.is_empty() {
        http::StatusCode::from_u16(code)
            .ok()
            .and_then(|c| c.canonical_reason())
            .unwrap_or("")
    } else {
        reason
    };
    let mut text = format!("{code} {reason}");
    let message = message.trim();
    if !message.is_empty() && !message.eq_ignore_ascii_case(reason) {
        text.push_str(": ");
        text.extend(message.chars().take(120));
    }
    text
}

fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "timeout".into(),
                _ => {}
            }
        }
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("timed out") || lower.contains("timeout") || lower.contains("elapsed") {
            return "timeout".into();
        }
        if lower.contains("connection refused") {
            return "connection refused".into();
        }
        innermost = text;
        current = e.source();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages() {
        assert_eq!(describe_status(401, "Unauthorized", ""), "401 Unauthorized");
        assert_eq!(describe_status(503, "", ""), "503 Service Unavailable");
        assert_eq!(
            describe_status(410, "Expired", "too old resource version: 1 (9)"),
            "410 Expired; re-listing"
        );
        assert_eq!(
            describe_status(403, "Forbidden", "deployments.apps is forbidden"),
            "403 Forbidden: deployments.apps is forbidden"
        );
    }

    #[test]
    fn io_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "x");
        assert_eq!(describe_chain(&io), "connection refused");
        let io = std::io::Error::other("deadline has elapsed");
        assert_eq!(describe_chain(&io), "timeout");
    }

    #[tokio::test]
    async fn missing_context_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
        )
        .unwrap();
        let source = ClientSource {
            kubeconfig: Some(path.clone()),
            context: Some("nope".into()),
        };
        let err = source.client().await.err().unwrap();
        assert!(err.contains("kubeconfig"), "{err}");
        let missing = ClientSource {
            kubeconfig: Some(dir.path().join("absent")),
            context: None,
        };
        assert!(missing.client().await.err().unwrap().contains("absent"));
    }
}
