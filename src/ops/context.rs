//! `OpContext`: configuration, who is acting, the clock, the journal's directory and the clients
//! (built lazily, one per source) an operation needs.
use super::OpError;
use crate::clock::Clock;
use crate::config::{Config, Environment};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// `[ops]` in config.toml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Seconds compared before and after a rollout by verify (the demo's clock makes it seconds).
    #[serde(default = "default_window")]
    pub verify_window_secs: u64,
    /// A rise of the error ratio by more than this (0.02 = two percentage points) is a regression.
    #[serde(default = "default_error_delta")]
    pub regression_error_ratio_delta: f64,
    /// p99 latency more than this many times the window before is a regression.
    #[serde(default = "default_p99_factor")]
    pub regression_p99_factor: f64,
    /// How long to wait for a rollout to complete before giving up (the progress deadline
    /// normally fails it first).
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_secs: u64,
    /// How long the API server may stay unreachable while a rollout is watched before the step
    /// fails (the rollout itself goes on).
    #[serde(default = "default_unreachable")]
    pub api_unreachable_secs: u64,
    /// Where the app × environment locks live: `file` (the data directory; one machine) is the only
    /// kind for now.
    #[serde(default = "default_lock")]
    pub lock: String,
    /// Skip verify entirely (no Prometheus queries after a rollout).
    #[serde(default)]
    pub skip_verify: bool,
}

fn default_window() -> u64 {
    300
}
fn default_error_delta() -> f64 {
    0.02
}
fn default_p99_factor() -> f64 {
    1.5
}
fn default_rollout_timeout() -> u64 {
    900
}
fn default_unreachable() -> u64 {
    30
}
fn default_lock() -> String {
    "file".into()
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            verify_window_secs: default_window(),
            regression_error_ratio_delta: default_error_delta(),
            regression_p99_factor: default_p99_factor(),
            rollout_timeout_secs: default_rollout_timeout(),
            api_unreachable_secs: default_unreachable(),
            lock: default_lock(),
            skip_verify: false,
        }
    }
}

/// Who acts, as written in change-cause, the journal and silences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: String,
    pub host: String,
}

impl Identity {
    /// `$USER` (or `$LOGNAME`) and the host name.
    pub fn current() -> Identity {
        let user = std::env::var("SHIPDECK_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Identity { user, host }
    }
}

/// The app as operations see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTarget {
    pub name: String,
    pub deployment: String,
    /// Containers to change (empty: every container).
    pub containers: Vec<String>,
    pub repository: Option<String>,
}

pub struct OpContext {
    pub config: Config,
    pub identity: Identity,
    pub clock: Clock,
    /// The journal (`audit.jsonl`) and the locks live here.
    pub data_dir: PathBuf,
    /// `--read-only` (the config's global `read_only` is also honoured).
    pub read_only: bool,
    kube: tokio::sync::Mutex<HashMap<String, kube::Client>>,
}

impl std::fmt::Debug for OpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpContext")
            .field("identity", &self.identity)
            .field("data_dir", &self.data_dir)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl OpContext {
    /// The data directory is `$SHIPDECK_DATA_DIR`, else the platform data directory.
    pub fn new(config: Config, read_only: bool) -> OpContext {
        OpContext {
            config,
            identity: Identity::current(),
            clock: Clock::System,
            data_dir: default_data_dir(),
            read_only,
            kube: Default::default(),
        }
    }

    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> OpContext {
        self.data_dir = dir.into();
        self
    }

    pub fn with_identity(mut self, identity: Identity) -> OpContext {
        self.identity = identity;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> OpContext {
        self.clock = clock;
        self
    }

    /// Uses this client for an environment (tests: a recorder; the console: its own clients).
    pub async fn set_kube(&self, env: &str, client: kube::Client) {
        self.kube.lock().await.insert(env.to_string(), client);
    }

    pub fn ops(&self) -> &OpsConfig {
        &self.config.ops
    }

    pub fn env(&self, name: &str) -> Result<&Environment, OpError> {
        self.config.environment(name).ok_or_else(|| {
            let names: Vec<&str> = self
                .config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            OpError::Usage(format!(
                "unknown environment `{name}` (configured: {})",
                names.join(", ")
            ))
        })
    }

    /// The app's settings; an app not listed in the config uses its name as Deployment name.
    pub fn app(&self, name: &str) -> AppTarget {
        match self.config.apps.iter().find(|a| a.name == name) {
            Some(a) => AppTarget {
                name: a.name.clone(),
                deployment: a.deployment_name().to_string(),
                containers: a.containers.clone(),
                repository: a.repository.clone(),
            },
            None => AppTarget {
                name: name.to_string(),
                deployment: name.to_string(),
                containers: vec![],
                repository: None,
            },
        }
    }

    /// Whether writes to `env` are refused (global or per environment).
    pub fn env_read_only(&self, env: &str) -> bool {
        self.read_only
            || self.config.read_only
            || self.config.environment(env).is_some_and(|e| e.read_only)
    }

    /// The Kubernetes client for an environment (built once).
    pub async fn kube(&self, env: &str) -> Result<kube::Client, OpError> {
        let mut map = self.kube.lock().await;
        if let Some(c) = map.get(env) {
            return Ok(c.clone());
        }
        let environment = self.env(env)?;
        let source = crate::backend::kube::client::ClientSource::for_env(&self.config, environment);
        let client = source
            .client()
            .await
            .map_err(|e| OpError::backend(&format!("kubernetes ({env})"), e))?;
        map.insert(env.to_string(), client.clone());
        Ok(client)
    }

    pub fn alertmanager(
        &self,
    ) -> Result<Option<crate::backend::alertmanager::AlertmanagerClient>, OpError> {
        match &self.config.alertmanager {
            None => Ok(None),
            Some(cfg) => crate::backend::alertmanager::AlertmanagerClient::new(cfg)
                .map(Some)
                .map_err(|e| OpError::backend("alertmanager", e)),
        }
    }

    pub fn prometheus(
        &self,
    ) -> Result<Option<crate::backend::prometheus::PrometheusClient>, OpError> {
        match &self.config.prometheus {
            None => Ok(None),
            Some(cfg) => crate::backend::prometheus::PrometheusClient::new(cfg)
                .map(Some)
                .map_err(|e| OpError::backend("prometheus", e)),
        }
    }

    pub fn registry(&self) -> Result<Option<crate::backend::registry::RegistryClient>, OpError> {
        match &self.config.registry {
            None => Ok(None),
            Some(cfg) => crate::backend::registry::RegistryClient::new(cfg)
                .map(Some)
                .map_err(|e| OpError::backend("registry", e)),
        }
    }

    pub fn ci(
        &self,
    ) -> Result<Option<std::sync::Arc<dyn crate::backend::ci::CiProvider>>, OpError> {
        crate::backend::ci::from_config(&self.config).map_err(|e| OpError::backend("ci", e))
    }

    /// The CI provider, or a usage error when `[ci]` is not configured (steps that need it).
    pub fn require_ci(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::backend::ci::CiProvider>, OpError> {
        self.ci()?
            .ok_or_else(|| OpError::Usage("no [ci] configured".into()))
    }

    /// The Alertmanager client, or a usage error when `[alertmanager]` is not configured.
    pub fn require_alertmanager(
        &self,
    ) -> Result<crate::backend::alertmanager::AlertmanagerClient, OpError> {
        self.alertmanager()?
            .ok_or_else(|| OpError::Usage("no [alertmanager] configured".into()))
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("audit.jsonl")
    }
}

/// `$SHIPDECK_DATA_DIR`, else `<platform data dir>` (the log file's directory), else `./.shipdeck`.
pub fn default_data_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SHIPDECK_DATA_DIR")
        && !dir.is_empty()
    {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "shipdeck")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".shipdeck"))
}
