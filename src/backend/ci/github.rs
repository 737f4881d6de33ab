//! GitHub Actions: workflow runs by branch, jobs with steps as stages, pending deployments as
//! approval gates (review POST), re-run, cancel, and job logs through the 302 redirect.
//! Idle polling costs no quota: every GET is conditional (ETag → 304).
use super::transport::{Auth, Transport};
use super::{
    CiConfig, CiError, CiProvider, ProviderKind, between, encode_segment, parse_time, target_for,
};
use crate::model::pipeline::{Approval, Commit, Job, Pipeline, RunRef, Stage, StageStatus, Step};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const API_VERSION: &str = "2022-11-28";

pub struct Github {
    http: Transport,
    repo_pattern: Option<String>,
    workflow: Option<String>,
    targets: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RunList {
    #[serde(default)]
    workflow_runs: Vec<WireRun>,
}

#[derive(Deserialize)]
struct WireRun {
    id: u64,
    #[serde(default)]
    run_number: Option<u64>,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    run_started_at: Option<String>,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct Actor {
    login: String,
}

#[derive(Deserialize)]
struct HeadCommit {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    author: Option<Person>,
}

#[derive(Deserialize)]
struct Person {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct JobList {
    #[serde(default)]
    jobs: Vec<WireJob>,
}

#[derive(Deserialize)]
struct WireJob {
    id: u64,
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    steps: Option<Vec<WireStep>>,
}

#[derive(Deserialize)]
struct WireStep {
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

#[derive(Deserialize)]
struct PendingDeployment {
    environment: Environment,
    #[serde(default)]
    current_user_can_approve: Option<bool>,
}

#[derive(Deserialize)]
struct Environment {
    id: u64,
    #[serde(default)]
    name: Option<String>,
}

/// Folds GitHub `status` + `conclusion` into one status.
pub fn status(status: Option<&str>, conclusion: Option<&str>) -> StageStatus {
    match status.unwrap_or("queued") {
        "completed" => match conclusion.unwrap_or("") {
            "success" | "neutral" => StageStatus::Success,
            "cancelled" => StageStatus::Cancelled,
            "skipped" | "stale" => StageStatus::Skipped,
            _ => StageStatus::Failed,
        },
        "in_progress" => StageStatus::Running,
        "waiting" | "action_required" => StageStatus::WaitingApproval,
        _ => StageStatus::Queued,
    }
}

fn finished_duration(
    st: StageStatus,
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
) -> Option<std::time::Duration> {
    // Running stages carry only `started`; the pane computes elapsed time with its own clock,
    // so an unchanged run compares equal between polls.
    if st.is_finished() {
        between(a, b)
    } else {
        None
    }
}

impl Github {
    pub fn new(cfg: &CiConfig, targets: BTreeMap<String, String>) -> Result<Github, CiError> {
        let auth = match cfg.token()? {
            Some(t) => Auth::Bearer(t),
            None => Auth::None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        Ok(Github {
            http: Transport::new(&cfg.url, auth, cfg.timeout(), headers).with_conditional(),
            repo_pattern: cfg.repo.clone(),
            workflow: cfg.workflow.clone(),
            targets,
        })
    }

    fn repo(&self, app: &str) -> String {
        target_for(&self.targets, self.repo_pattern.as_deref(), app)
    }

    fn pipeline(&self, app: &str, branch: &str, run: WireRun, jobs: &[WireJob]) -> Pipeline {
        let stages = jobs
            .iter()
            .map(|j| {
                let st = status(j.status.as_deref(), j.conclusion.as_deref());
                let started = parse_time(j.started_at.as_deref());
                Stage {
                    name: j.name.clone(),
                    status: st,
                    started,
                    duration: finished_duration(st, started, parse_time(j.completed_at.as_deref())),
                }
            })
            .collect();
        let commit = Commit {
            sha: run.head_sha.clone(),
            author: run
                .head_commit
                .as_ref()
                .and_then(|c| c.author.as_ref())
                .and_then(|a| a.name.clone())
                .or_else(|| run.actor.as_ref().map(|a| a.login.clone()))
                .unwrap_or_default(),
            message: run
                .head_commit
                .as_ref()
                .and_then(|c| c.message.clone())
                .unwrap_or_default(),
        };
        Pipeline {
            app: app.to_string(),
            branch: run
                .head_branch
                .clone()
                .unwrap_or_else(|| branch.to_string()),
            run_id: run.id.to_string(),
            number: run.run_number,
            status: status(run.status.as_deref(), run.conclusion.as_deref()),
            stages,
            commit,
            started: parse_time(run.run_started_at.as_deref().or(run.created_at.as_deref())),
            url: run.html_url,
        }
    }

    async fn jobs(&self, repo: &str, run_id: u64) -> Result<Vec<WireJob>, CiError> {
        let list: JobList = self
            .http
            .get_json(&format!(
                "/repos/{repo}/actions/runs/{run_id}/jobs?per_page=100"
            ))
            .await?;
        Ok(list.jobs)
    }

    async fn post(&self, path: &str, body: Option<serde_json::Value>) -> Result<(), CiError> {
        let mut rb = self.http.request(Method::POST, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.http.send(rb).await.map(|_| ())
    }
}

fn run_id(run: &RunRef) -> Result<u64, CiError> {
    run.id
        .parse()
        .map_err(|_| CiError::NotFound(format!("run id {:?} is not a GitHub run id", run.id)))
}

/// GitHub prefixes every log line with an RFC 3339 timestamp; the tail shows the text only.
fn strip_timestamp(line: &str) -> String {
    match line.split_once(' ') {
        Some((ts, rest))
            if ts.len() >= 20 && ts.ends_with('Z') && ts.parse::<jiff::Timestamp>().is_ok() =>
        {
            rest.to_string()
        }
        _ => line.to_string(),
    }
}

impl CiProvider for Github {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Github
    }

    fn latest_run<'a>(
        &'a self,
        app: &'a str,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pipeline>, CiError>> {
        Box::pin(async move {
            let repo = self.repo(app);
            let base = match &self.workflow {
                Some(wf) => format!(
                    "/repos/{repo}/actions/workflows/{}/runs",
                    encode_segment(wf)
                ),
                None => format!("/repos/{repo}/actions/runs"),
            };
            let list: RunList = self
                .http
                .get_json(&format!(
                    "{base}?branch={}&per_page=1",
                    encode_segment(branch)
                ))
                .await?;
            let Some(run) = list.workflow_runs.into_iter().next() else {
                return Ok(None);
            };
            let jobs = self.jobs(&repo, run.id).await?;
            Ok(Some(self.pipeline(app, branch, run, &jobs)))
        })
    }

    fn run_jobs<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<(Pipeline, Vec<Job>), CiError>> {
        Box::pin(async move {
            let repo = self.repo(&run.app);
            let id = run_id(run)?;
            let wire: WireRun = self
                .http
                .get_json(&format!("/repos/{repo}/actions/runs/{id}"))
                .await?;
            let jobs = self.jobs(&repo, id).await?;
            let detail = jobs
                .iter()
                .map(|j| {
                    let st = status(j.status.as_deref(), j.conclusion.as_deref());
                    let started = parse_time(j.started_at.as_deref());
                    Job {
                        id: j.id.to_string(),
                        name: j.name.clone(),
                        status: st,
                        started,
                        duration: finished_duration(
                            st,
                            started,
                            parse_time(j.completed_at.as_deref()),
                        ),
                        steps: j
                            .steps
                            .iter()
                            .flatten()
                            .map(|s| {
                                let st = status(s.status.as_deref(), s.conclusion.as_deref());
                                let started = parse_time(s.started_at.as_deref());
                                Step {
                                    name: s.name.clone(),
                                    status: st,
                                    started,
                                    duration: finished_duration(
                                        st,
                                        started,
                                        parse_time(s.completed_at.as_deref()),
                                    ),
                                }
                            })
                            .collect(),
                    }
                })
                .collect();
            Ok((self.pipeline(&run.app, &run.branch, wire, &jobs), detail))
        })
    }

    fn log_tail<'a>(
        &'a self,
        run: &'a RunRef,
        job_id: &'a str,
        max_lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, CiError>> {
        Box::pin(async move {
            let repo = self.repo(&run.app);
            let job: u64 = job_id
                .parse()
                .map_err(|_| CiError::NotFound(format!("job id {job_id:?}")))?;
            // The API answers 302 to a short-lived URL; reqwest follows it and drops
            // `Authorization` when the redirect leaves the API host.
            let lines = self
                .http
                .get_log_tail(&format!("/repos/{repo}/actions/jobs/{job}/logs"), max_lines)
                .await?;
            Ok(lines.iter().map(|l| strip_timestamp(l)).collect())
        })
    }

    fn pending_approvals<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<Vec<Approval>, CiError>> {
        Box::pin(async move {
            let repo = self.repo(&run.app);
            let id = run_id(run)?;
            let list: Vec<PendingDeployment> = self
                .http
                .get_json(&format!(
                    "/repos/{repo}/actions/runs/{id}/pending_deployments"
                ))
                .await?;
            Ok(list
                .into_iter()
                .map(|d| {
                    let name = d
                        .environment
                        .name
                        .unwrap_or_else(|| d.environment.id.to_string());
                    Approval {
                        run: run.clone(),
                        id: d.environment.id.to_string(),
                        message: if d.current_user_can_approve == Some(false) {
                            format!("waiting for a reviewer of {name} (not you)")
                        } else {
                            format!("deploy to {name} waits for review")
                        },
                        name,
                    }
                })
                .collect())
        })
    }

    fn approve<'a>(&'a self, gate: &'a Approval) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let repo = self.repo(&gate.run.app);
            let id = run_id(&gate.run)?;
            let env: u64 = gate
                .id
                .parse()
                .map_err(|_| CiError::NotFound(format!("environment id {:?}", gate.id)))?;
            let body = serde_json::json!({
                "environment_ids": [env],
                "state": "approved",
                "comment": "Approved with shipdeck",
            });
            self.post(
                &format!("/repos/{repo}/actions/runs/{id}/pending_deployments"),
                Some(body),
            )
            .await
        })
    }

    fn rerun<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let repo = self.repo(&run.app);
            let id = run_id(run)?;
            self.post(&format!("/repos/{repo}/actions/runs/{id}/rerun"), None)
                .await
        })
    }

    fn cancel<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let repo = self.repo(&run.app);
            let id = run_id(run)?;
            self.post(&format!("/repos/{repo}/actions/runs/{id}/cancel"), None)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            status(Some("completed"), Some("success")),
            StageStatus::Success
        );
        assert_eq!(
            status(Some("completed"), Some("timed_out")),
            StageStatus::Failed
        );
        assert_eq!(
            status(Some("completed"), Some("skipped")),
            StageStatus::Skipped
        );
        assert_eq!(status(Some("waiting"), None), StageStatus::WaitingApproval);
        assert_eq!(status(Some("in_progress"), None), StageStatus::Running);
        assert_eq!(status(None, None), StageStatus::Queued);
    }

    #[test]
    fn timestamps_stripped() {
        assert_eq!(
            strip_timestamp("2026-01-01T00:00:00.1234567Z hello"),
            "hello"
        );
        assert_eq!(strip_timestamp("no timestamp here"), "no timestamp here");
    }
}
