//! CI providers behind one trait: latest run per branch, run detail, log tail, approval gates,
//! approve, re-run and cancel, for GitHub Actions, Jenkins (`wfapi`) and GitLab.
pub mod github;
pub mod gitlab;
pub mod jenkins;
pub mod transport;

use crate::model::pipeline::{Approval, Job, Pipeline, RunDetail, RunRef, StageStatus};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Log lines the run detail shows for a failing job.
pub const LOG_TAIL_LINES: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Github,
    Jenkins,
    Gitlab,
}

/// `[ci]` in config.toml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CiConfig {
    pub provider: ProviderKind,
    /// API base: `https://api.github.com`, the Jenkins root, or the GitLab root (without `/api/v4`).
    pub url: String,
    /// GitHub `owner/repo`; `{app}` is replaced by the app name (`shop/{app}`).
    #[serde(default)]
    pub repo: Option<String>,
    /// GitHub: restrict runs to one workflow (file name or id).
    #[serde(default)]
    pub workflow: Option<String>,
    /// Jenkins multibranch job path, folders separated by `/` (`shop/{app}`).
    #[serde(default)]
    pub job: Option<String>,
    /// GitLab project path or id (`group/{app}`).
    #[serde(default)]
    pub project: Option<String>,
    /// Jenkins user for Basic auth (the token is the API token).
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token (first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Branches whose latest run the Pipelines pane shows.
    #[serde(default = "default_branches")]
    pub branches: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_branches() -> Vec<String> {
    ["develop", "staging", "master"].map(String::from).to_vec()
}
fn default_interval() -> u64 {
    10
}
fn default_timeout() -> u64 {
    10
}

impl CiConfig {
    /// A config with defaults, for the demo and tests.
    pub fn new(provider: ProviderKind, url: &str) -> CiConfig {
        CiConfig {
            provider,
            url: url.to_string(),
            repo: None,
            workflow: None,
            job: None,
            project: None,
            user: None,
            token_env: None,
            token_file: None,
            branches: default_branches(),
            interval_secs: default_interval(),
            timeout_secs: default_timeout(),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// The token from `token_env` or `token_file`, if either is set.
    pub fn token(&self) -> Result<Option<String>, CiError> {
        load_secret(self.token_env.as_deref(), self.token_file.as_deref())
    }
}

/// Reads a secret from an environment variable or the first line of a file.
pub fn load_secret(
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, CiError> {
    crate::backend::http::read_token(env, file).map_err(CiError::Config)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CiError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited, retry in {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("timed out")]
    Timeout,
    #[error("malformed response: {0}")]
    Decode(String),
    #[error("HTTP {}: {message}", status.map(|s| s.to_string()).unwrap_or_else(|| "error".into()))]
    Http {
        status: Option<u16>,
        message: String,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// One CI server. Futures are boxed so providers can sit behind `Arc<dyn CiProvider>`.
pub trait CiProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// The newest run of `app` on `branch`, with its stages; `None` when the branch has no run.
    fn latest_run<'a>(
        &'a self,
        app: &'a str,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pipeline>, CiError>>;
    /// The run with its jobs and steps (no approvals or log; see `run_detail`).
    fn run_jobs<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<(Pipeline, Vec<Job>), CiError>>;
    /// The last `max_lines` of one job's log (read bounded).
    fn log_tail<'a>(
        &'a self,
        run: &'a RunRef,
        job_id: &'a str,
        max_lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, CiError>>;
    fn pending_approvals<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<Vec<Approval>, CiError>>;
    fn approve<'a>(&'a self, gate: &'a Approval) -> BoxFuture<'a, Result<(), CiError>>;
    fn rerun<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>>;
    fn cancel<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>>;
}

/// The run detail `Enter` opens: jobs and steps, the gates when waiting, the failing job's log tail.
pub async fn run_detail(p: &dyn CiProvider, run: &RunRef) -> Result<RunDetail, CiError> {
    let (pipeline, jobs) = p.run_jobs(run).await?;
    let approvals = if pipeline.status == StageStatus::WaitingApproval
        || jobs
            .iter()
            .any(|j| j.status == StageStatus::WaitingApproval)
    {
        p.pending_approvals(run).await?
    } else {
        Vec::new()
    };
    let mut detail = RunDetail {
        pipeline,
        jobs,
        approvals,
        log_tail: None,
    };
    let failing = detail
        .failing_job()
        .map(|(j, s)| (j.id.clone(), j.name.clone(), s.map(|s| s.name.clone())));
    if let Some((id, job, step)) = failing {
        // A missing log must not hide the rest of the detail.
        let lines = p
            .log_tail(run, &id, LOG_TAIL_LINES)
            .await
            .unwrap_or_else(|e| vec![format!("(log unavailable: {e})")]);
        detail.log_tail = Some(crate::model::pipeline::LogTail { job, step, lines });
    }
    Ok(detail)
}

/// Builds the configured provider. `targets` maps app → repo/job/project where an app overrides
/// the `{app}` pattern (config `apps[].pipeline`).
pub fn provider(
    cfg: &CiConfig,
    targets: BTreeMap<String, String>,
) -> Result<Arc<dyn CiProvider>, CiError> {
    Ok(match cfg.provider {
        ProviderKind::Github => Arc::new(github::Github::new(cfg, targets)?),
        ProviderKind::Jenkins => Arc::new(jenkins::Jenkins::new(cfg, targets)?),
        ProviderKind::Gitlab => Arc::new(gitlab::Gitlab::new(cfg, targets)?),
    })
}

/// The configured provider, with per-app `pipeline` overrides; `None` when `[ci]` is absent.
pub fn from_config(config: &crate::config::Config) -> Result<Option<Arc<dyn CiProvider>>, CiError> {
    let Some(cfg) = &config.ci else {
        return Ok(None);
    };
    let targets = config
        .apps
        .iter()
        .filter_map(|a| a.pipeline.clone().map(|p| (a.name.clone(), p)))
        .collect();
    provider(cfg, targets).map(Some)
}

/// Resolves an app's repo/job/project: an explicit override, else the pattern with `{app}` replaced.
pub(crate) fn target_for(
    targets: &BTreeMap<String, String>,
    pattern: Option<&str>,
    app: &str,
) -> String {
    targets
        .get(app)
        .cloned()
        .unwrap_or_else(|| pattern.unwrap_or("{app}").replace("{app}", app))
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters stay).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<jiff::Timestamp> {
    s.and_then(|s| s.parse().ok())
}

pub(crate) fn between(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>) -> Option<Duration> {
    let (a, b) = (a?, b?);
    b.duration_since(a).try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let mut t = BTreeMap::new();
        t.insert("api".to_string(), "other/api-svc".to_string());
        assert_eq!(target_for(&t, Some("shop/{app}"), "web"), "shop/web");
        assert_eq!(target_for(&t, Some("shop/{app}"), "api"), "other/api-svc");
        assert_eq!(encode_segment("feature/x y"), "feature%2Fx%20y");
    }

    #[test]
    fn secrets() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "abc\nrest").unwrap();
        assert_eq!(load_secret(None, Some(&f)).unwrap().as_deref(), Some("abc"));
        assert!(matches!(
            load_secret(Some("SHIPDECK_SURELY_UNSET_VAR"), None),
            Err(CiError::Config(_))
        ));
        assert_eq!(load_secret(None, None).unwrap(), None);
    }
}
