//! Jenkins through the Pipeline Stage View REST API (`wfapi`): runs of a multibranch job's branch,
//! stages, the run's changeset as the commit, input steps as approval gates (`proceedEmpty`), stop,
//! a new build as re-run, and the console tail. Basic auth `user:apiToken`; a CSRF crumb is fetched
//! from `/crumbIssuer/api/json` only when a POST is refused for the lack of one.
use super::transport::{Auth, Transport};
use super::{CiConfig, CiError, CiProvider, ProviderKind, encode_segment, target_for};
use crate::model::pipeline::{Approval, Commit, Job, Pipeline, RunRef, Stage, StageStatus, Step};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

pub struct Jenkins {
    http: Transport,
    job_pattern: Option<String>,
    targets: BTreeMap<String, String>,
    crumb: Mutex<Option<Crumb>>,
    /// Changesets of finished lookups by run path: a run's commit never changes.
    commits: Mutex<HashMap<String, Commit>>,
}

#[derive(Debug, Clone)]
struct Crumb {
    field: String,
    value: String,
    cookie: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRun {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    start_time_millis: Option<i64>,
    #[serde(default)]
    stages: Vec<WireStage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStage {
    id: String,
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    start_time_millis: Option<i64>,
    #[serde(default)]
    duration_millis: Option<i64>,
    #[serde(default)]
    stage_flow_nodes: Vec<WireNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNode {
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    start_time_millis: Option<i64>,
    #[serde(default)]
    duration_millis: Option<i64>,
    #[serde(default)]
    parameter_description: Option<String>,
}

#[derive(Deserialize)]
struct ChangeSet {
    #[serde(default)]
    commits: Vec<WireCommit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCommit {
    #[serde(default)]
    commit_id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    author_jenkins_id: Option<String>,
}

#[derive(Deserialize)]
struct InputAction {
    id: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "proceedText")]
    proceed_text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCrumb {
    crumb: String,
    crumb_request_field: String,
}

/// Stage View status → status.
pub fn status(s: Option<&str>) -> StageStatus {
    match s.unwrap_or("") {
        "SUCCESS" => StageStatus::Success,
        "FAILED" | "UNSTABLE" => StageStatus::Failed,
        "IN_PROGRESS" => StageStatus::Running,
        "PAUSED_PENDING_INPUT" => StageStatus::WaitingApproval,
        "ABORTED" => StageStatus::Cancelled,
        "NOT_EXECUTED" => StageStatus::Skipped,
        _ => StageStatus::Queued,
    }
}

fn millis(ms: Option<i64>) -> Option<jiff::Timestamp> {
    ms.filter(|m| *m > 0)
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
}

fn duration(st: StageStatus, ms: Option<i64>) -> Option<Duration> {
    // Running durations grow on every poll; the pane derives them from `started` instead.
    if st.is_finished() {
        ms.and_then(|m| u64::try_from(m).ok())
            .map(Duration::from_millis)
    } else {
        None
    }
}

/// `/job/a/job/b` for `a/b`; the branch job name encodes `/` as `%2F`, encoded again in the URL.
pub fn job_path(job: &str, branch: &str) -> String {
    let mut out = String::new();
    for part in job.split('/').filter(|p| !p.is_empty()) {
        out.push_str("/job/");
        out.push_str(&encode_segment(part));
    }
    out.push_str("/job/");
    out.push_str(&encode_segment(&branch.replace('/', "%2F")));
    out
}

impl Jenkins {
    pub fn new(cfg: &CiConfig, targets: BTreeMap<String, String>) -> Result<Jenkins, CiError> {
        let token = cfg.token()?;
        let auth = match (&cfg.user, token) {
            (Some(user), token) => Auth::Basic {
                user: user.clone(),
                token,
            },
            (None, Some(_)) => {
                return Err(CiError::Config(
                    "Jenkins needs `user` with the API token".into(),
                ));
            }
            (None, None) => Auth::None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(Jenkins {
            http: Transport::new(&cfg.url, auth, cfg.timeout(), headers),
            job_pattern: cfg.job.clone(),
            targets,
            crumb: Mutex::new(None),
            commits: Mutex::new(HashMap::new()),
        })
    }

    fn branch_job(&self, app: &str, branch: &str) -> String {
        job_path(
            &target_for(&self.targets, self.job_pattern.as_deref(), app),
            branch,
        )
    }

    fn run_path(&self, run: &RunRef) -> Result<String, CiError> {
        let n: u64 = run
            .id
            .parse()
            .map_err(|_| CiError::NotFound(format!("build number {:?}", run.id)))?;
        Ok(format!("{}/{n}", self.branch_job(&run.app, &run.branch)))
    }

    async fn commit(&self, run_path: &str) -> Result<Commit, CiError> {
        if let Some(c) = self
            .commits
            .lock()
            .ok()
            .and_then(|m| m.get(run_path).cloned())
        {
            return Ok(c);
        }
        let sets: Vec<ChangeSet> = self
            .http
            .get_json(&format!("{run_path}/wfapi/changesets"))
            .await?;
        // The newest commit of the build is the last of the last changeset.
        let Some(c) = sets.iter().flat_map(|s| s.commits.iter()).next_back() else {
            return Ok(Commit::default());
        };
        let commit = Commit {
            sha: c.commit_id.clone(),
            author: c.author_jenkins_id.clone().unwrap_or_default(),
            message: c.message.clone(),
        };
        if let Ok(mut m) = self.commits.lock() {
            if m.len() > 256 {
                m.clear();
            }
            m.insert(run_path.to_string(), commit.clone());
        }
        Ok(commit)
    }

    async fn pipeline(&self, app: &str, branch: &str, run: &WireRun) -> Result<Pipeline, CiError> {
        let run_path = format!("{}/{}", self.branch_job(app, branch), run.id);
        let stages = run
            .stages
            .iter()
            .map(|s| {
                let st = status(s.status.as_deref());
                Stage {
                    name: s.name.clone(),
                    status: st,
                    started: millis(s.start_time_millis),
                    duration: duration(st, s.duration_millis),
                }
            })
            .collect();
        Ok(Pipeline {
            app: app.to_string(),
            branch: branch.to_string(),
            run_id: run.id.clone(),
            number: run.id.parse().ok(),
            status: status(run.status.as_deref()),
            stages,
            commit: self.commit(&run_path).await?,
            started: millis(run.start_time_millis),
            url: Some(format!("{}/", self.http.url(&run_path))),
        })
    }

    async fn fetch_crumb(&self) -> Result<Option<Crumb>, CiError> {
        let resp = match self
            .http
            .send(self.http.request(Method::GET, "/crumbIssuer/api/json"))
            .await
        {
            Ok(r) => r,
            // No crumb issuer: CSRF protection is off.
            Err(CiError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter(|v| v.starts_with("JSESSIONID"))
            .collect::<Vec<_>>()
            .join("; ");
        let body = resp.bytes().await.map_err(super::transport::map_reqwest)?;
        let c: WireCrumb = serde_json::from_slice(&body)
            .map_err(|e| CiError::Decode(format!("crumbIssuer: {e}")))?;
        Ok(Some(Crumb {
            field: c.crumb_request_field,
            value: c.crumb,
            cookie: (!cookie.is_empty()).then_some(cookie),
        }))
    }

    fn post_builder(&self, path: &str, crumb: Option<&Crumb>) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(Method::POST, path);
        if let Some(c) = crumb {
            rb = rb.header(c.field.as_str(), c.value.as_str());
            if let Some(cookie) = &c.cookie {
                rb = rb.header(reqwest::header::COOKIE, cookie.as_str());
            }
        }
        rb
    }

    /// POSTs with the cached crumb; on a 403 about the crumb, fetches one and retries once.
    async fn post(&self, path: &str) -> Result<(), CiError> {
        let cached = self.crumb.lock().ok().and_then(|c| c.clone());
        match self
            .http
            .send(self.post_builder(path, cached.as_ref()))
            .await
        {
            Ok(_) => Ok(()),
            Err(CiError::Forbidden(m)) if m.to_ascii_lowercase().contains("crumb") => {
                let Some(crumb) = self.fetch_crumb().await? else {
                    return Err(CiError::Forbidden(m));
                };
                if let Ok(mut c) = self.crumb.lock() {
                    *c = Some(crumb.clone());
                }
                self.http
                    .send(self.post_builder(path, Some(&crumb)))
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

impl CiProvider for Jenkins {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Jenkins
    }

    fn latest_run<'a>(
        &'a self,
        app: &'a str,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pipeline>, CiError>> {
        Box::pin(async move {
            let runs: Vec<WireRun> = self
                .http
                .get_json(&format!("{}/wfapi/runs", self.branch_job(app, branch)))
                .await?;
            match runs.first() {
                Some(run) => Ok(Some(self.pipeline(app, branch, run).await?)),
                None => Ok(None),
            }
        })
    }

    fn run_jobs<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<(Pipeline, Vec<Job>), CiError>> {
        Box::pin(async move {
            let path = self.run_path(run)?;
            let wire: WireRun = self
                .http
                .get_json(&format!("{path}/wfapi/describe"))
                .await?;
            let pipeline = self.pipeline(&run.app, &run.branch, &wire).await?;
            let mut jobs = Vec::new();
            for s in &wire.stages {
                let node: WireStage = self
                    .http
                    .get_json(&format!("{path}/execution/node/{}/wfapi/describe", s.id))
                    .await?;
                let st = status(s.status.as_deref());
                jobs.push(Job {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    status: st,
                    started: millis(s.start_time_millis),
                    duration: duration(st, s.duration_millis),
                    steps: node
                        .stage_flow_nodes
                        .iter()
                        .map(|n| {
                            let st = status(n.status.as_deref());
                            Step {
                                name: match &n.parameter_description {
                                    Some(d) if !d.is_empty() => format!("{}: {d}", n.name),
                                    _ => n.name.clone(),
                                },
                                status: st,
                                started: millis(n.start_time_millis),
                                duration: duration(st, n.duration_millis),
                            }
                        })
                        .collect(),
                });
            }
            Ok((pipeline, jobs))
        })
    }

    fn log_tail<'a>(
        &'a self,
        run: &'a RunRef,
        _job_id: &'a str,
        max_lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, CiError>> {
        Box::pin(async move {
            // The console holds every stage; the failure is at its end.
            let path = self.run_path(run)?;
            self.http
                .get_log_tail(&format!("{path}/consoleText"), max_lines)
                .await
        })
    }

    fn pending_approvals<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<Vec<Approval>, CiError>> {
        Box::pin(async move {
            let path = self.run_path(run)?;
            let list: Vec<InputAction> = self
                .http
                .get_json(&format!("{path}/wfapi/pendingInputActions"))
                .await?;
            Ok(list
                .into_iter()
                .map(|a| Approval {
                    run: run.clone(),
                    name: a.proceed_text.unwrap_or_else(|| a.id.clone()),
                    message: a.message.unwrap_or_default(),
                    id: a.id,
                })
                .collect())
        })
    }

    fn approve<'a>(&'a self, gate: &'a Approval) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let path = self.run_path(&gate.run)?;
            // The id is used exactly as pendingInputActions returned it (capitalised).
            self.post(&format!(
                "{path}/input/{}/proceedEmpty",
                encode_segment(&gate.id)
            ))
            .await
        })
    }

    fn rerun<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            self.post(&format!("{}/build", self.branch_job(&run.app, &run.branch)))
                .await
        })
    }

    fn cancel<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let path = self.run_path(run)?;
            self.post(&format!("{path}/stop")).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            job_path("shop/web", "develop"),
            "/job/shop/job/web/job/develop"
        );
        assert_eq!(job_path("web", "feature/x"), "/job/web/job/feature%252Fx");
    }

    #[test]
    fn statuses() {
        assert_eq!(
            status(Some("PAUSED_PENDING_INPUT")),
            StageStatus::WaitingApproval
        );
        assert_eq!(status(Some("ABORTED")), StageStatus::Cancelled);
        assert_eq!(status(Some("UNSTABLE")), StageStatus::Failed);
        assert_eq!(status(None), StageStatus::Queued);
    }
}
