//! GitLab CI (REST v4): pipelines by ref, jobs grouped into stages, manual jobs as approval gates
//! (played to approve), pipeline retry and cancel, and the job trace tail. Auth `PRIVATE-TOKEN`.
use super::transport::{Auth, Transport};
use super::{
    CiConfig, CiError, CiProvider, ProviderKind, between, encode_segment, parse_time, target_for,
};
use crate::model::pipeline::{
    Approval, Commit, Job, Pipeline, RunRef, Stage, StageStatus, overall_status,
};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct Gitlab {
    http: Transport,
    project_pattern: Option<String>,
    targets: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WirePipeline {
    id: u64,
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    sha: String,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct WireJob {
    id: u64,
    name: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    allow_failure: bool,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    commit: Option<WireCommit>,
}

#[derive(Deserialize)]
struct WireCommit {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
}

/// Pipeline or job status → status. A manual job that may fail is optional, not a gate.
pub fn status(s: Option<&str>, allow_failure: bool) -> StageStatus {
    match s.unwrap_or("") {
        "success" => StageStatus::Success,
        "failed" => StageStatus::Failed,
        "running" => StageStatus::Running,
        "canceled" | "canceling" => StageStatus::Cancelled,
        "skipped" => StageStatus::Skipped,
        "manual" if allow_failure => StageStatus::Skipped,
        "manual" => StageStatus::WaitingApproval,
        _ => StageStatus::Queued,
    }
}

fn job_status(j: &WireJob) -> StageStatus {
    status(j.status.as_deref(), j.allow_failure)
}

/// Stages in order of first appearance by ascending job id (the REST list has no stage index).
fn stages(jobs: &[WireJob]) -> Vec<Stage> {
    let mut sorted: Vec<&WireJob> = jobs.iter().collect();
    sorted.sort_by_key(|j| j.id);
    let mut out: Vec<(String, Vec<&WireJob>)> = Vec::new();
    for j in sorted {
        match out.iter_mut().find(|(n, _)| *n == j.stage) {
            Some((_, v)) => v.push(j),
            None => out.push((j.stage.clone(), vec![j])),
        }
    }
    out.into_iter()
        .map(|(name, js)| {
            let parts: Vec<Stage> = js
                .iter()
                .map(|j| Stage {
                    name: j.name.clone(),
                    status: job_status(j),
                    started: None,
                    duration: None,
                })
                .collect();
            let st = overall_status(&parts);
            let started = js
                .iter()
                .filter_map(|j| parse_time(j.started_at.as_deref()))
                .min();
            let finished = js
                .iter()
                .filter_map(|j| parse_time(j.finished_at.as_deref()))
                .max();
            Stage {
                name,
                status: st,
                started,
                duration: if st.is_finished() {
                    between(started, finished)
                } else {
                    None
                },
            }
        })
        .collect()
}

impl Gitlab {
    pub fn new(cfg: &CiConfig, targets: BTreeMap<String, String>) -> Result<Gitlab, CiError> {
        let auth = match cfg.token()? {
            Some(t) => Auth::Header(HeaderName::from_static("private-token"), t),
            None => Auth::None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let base = format!("{}/api/v4", cfg.url.trim_end_matches('/'));
        Ok(Gitlab {
            http: Transport::new(&base, auth, cfg.timeout(), headers),
            project_pattern: cfg.project.clone(),
            targets,
        })
    }

    fn project(&self, app: &str) -> String {
        format!(
            "/projects/{}",
            encode_segment(&target_for(
                &self.targets,
                self.project_pattern.as_deref(),
                app
            ))
        )
    }

    async fn jobs(&self, project: &str, id: u64) -> Result<Vec<WireJob>, CiError> {
        self.http
            .get_json(&format!("{project}/pipelines/{id}/jobs?per_page=100"))
            .await
    }

    fn pipeline(&self, app: &str, branch: &str, p: WirePipeline, jobs: &[WireJob]) -> Pipeline {
        let commit = jobs
            .iter()
            .find_map(|j| j.commit.as_ref())
            .map(|c| Commit {
                sha: c.id.clone(),
                author: c.author_name.clone().unwrap_or_default(),
                message: c
                    .message
                    .clone()
                    .or_else(|| c.title.clone())
                    .unwrap_or_default(),
            })
            .unwrap_or_else(|| Commit {
                sha: p.sha.clone(),
                ..Commit::default()
            });
        Pipeline {
            app: app.to_string(),
            branch: p.git_ref.clone().unwrap_or_else(|| branch.to_string()),
            run_id: p.id.to_string(),
            number: p.iid,
            status: status(p.status.as_deref(), false),
            stages: stages(jobs),
            commit,
            started: parse_time(p.started_at.as_deref().or(p.created_at.as_deref())),
            url: p.web_url,
        }
    }

    async fn post(&self, path: &str) -> Result<(), CiError> {
        self.http
            .send(self.http.request(Method::POST, path))
            .await
            .map(|_| ())
    }
}

fn pipeline_id(run: &RunRef) -> Result<u64, CiError> {
    run.id
        .parse()
        .map_err(|_| CiError::NotFound(format!("pipeline id {:?}", run.id)))
}

impl CiProvider for Gitlab {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gitlab
    }

    fn latest_run<'a>(
        &'a self,
        app: &'a str,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pipeline>, CiError>> {
        Box::pin(async move {
            let project = self.project(app);
            let list: Vec<WirePipeline> = self
                .http
                .get_json(&format!(
                    "{project}/pipelines?ref={}&per_page=1",
                    encode_segment(branch)
                ))
                .await?;
            let Some(p) = list.into_iter().next() else {
                return Ok(None);
            };
            let jobs = self.jobs(&project, p.id).await?;
            Ok(Some(self.pipeline(app, branch, p, &jobs)))
        })
    }

    fn run_jobs<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<(Pipeline, Vec<Job>), CiError>> {
        Box::pin(async move {
            let project = self.project(&run.app);
            let id = pipeline_id(run)?;
            let p: WirePipeline = self
                .http
                .get_json(&format!("{project}/pipelines/{id}"))
                .await?;
            let mut jobs = self.jobs(&project, id).await?;
            jobs.sort_by_key(|j| j.id);
            let detail = jobs
                .iter()
                .map(|j| {
                    let st = job_status(j);
                    let started = parse_time(j.started_at.as_deref());
                    Job {
                        id: j.id.to_string(),
                        name: format!("{}: {}", j.stage, j.name),
                        status: st,
                        started,
                        duration: if st.is_finished() {
                            between(started, parse_time(j.finished_at.as_deref()))
                        } else {
                            None
                        },
                        steps: Vec::new(),
                    }
                })
                .collect();
            Ok((self.pipeline(&run.app, &run.branch, p, &jobs), detail))
        })
    }

    fn log_tail<'a>(
        &'a self,
        run: &'a RunRef,
        job_id: &'a str,
        max_lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, CiError>> {
        Box::pin(async move {
            let job: u64 = job_id
                .parse()
                .map_err(|_| CiError::NotFound(format!("job id {job_id:?}")))?;
            self.http
                .get_log_tail(
                    &format!("{}/jobs/{job}/trace", self.project(&run.app)),
                    max_lines,
                )
                .await
        })
    }

    fn pending_approvals<'a>(
        &'a self,
        run: &'a RunRef,
    ) -> BoxFuture<'a, Result<Vec<Approval>, CiError>> {
        Box::pin(async move {
            let jobs = self
                .jobs(&self.project(&run.app), pipeline_id(run)?)
                .await?;
            Ok(jobs
                .into_iter()
                .filter(|j| job_status(j) == StageStatus::WaitingApproval)
                .map(|j| Approval {
                    run: run.clone(),
                    id: j.id.to_string(),
                    message: format!("manual job in stage {}", j.stage),
                    name: j.name,
                })
                .collect())
        })
    }

    fn approve<'a>(&'a self, gate: &'a Approval) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let job: u64 = gate
                .id
                .parse()
                .map_err(|_| CiError::NotFound(format!("job id {:?}", gate.id)))?;
            self.post(&format!("{}/jobs/{job}/play", self.project(&gate.run.app)))
                .await
        })
    }

    fn rerun<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let id = pipeline_id(run)?;
            self.post(&format!("{}/pipelines/{id}/retry", self.project(&run.app)))
                .await
        })
    }

    fn cancel<'a>(&'a self, run: &'a RunRef) -> BoxFuture<'a, Result<(), CiError>> {
        Box::pin(async move {
            let id = pipeline_id(run)?;
            self.post(&format!("{}/pipelines/{id}/cancel", self.project(&run.app)))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status(Some("manual"), false), StageStatus::WaitingApproval);
        assert_eq!(status(Some("manual"), true), StageStatus::Skipped);
        assert_eq!(status(Some("canceled"), false), StageStatus::Cancelled);
        assert_eq!(
            status(Some("waiting_for_resource"), false),
            StageStatus::Queued
        );
    }
}
