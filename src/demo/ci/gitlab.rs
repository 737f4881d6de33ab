//! The engine served as GitLab CI (REST v4) for projects `{owner}/{app}`: pipelines by ref, a
//! pipeline, its jobs (the production deploy is a manual job while the gate waits), play, retry,
//! cancel and the job trace.
use super::engine::{CiEngine, SimRun, SimStatus, StageKind};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
struct Ctx {
    engine: Arc<CiEngine>,
    base: Arc<str>,
}

pub fn router(engine: Arc<CiEngine>, base_url: &str) -> axum::Router {
    let ctx = Ctx {
        engine,
        base: base_url.into(),
    };
    let p = "/api/v4/projects/{project}";
    axum::Router::new()
        .route(&format!("{p}/pipelines"), get(list))
        .route(&format!("{p}/pipelines/{{id}}"), get(one))
        .route(&format!("{p}/pipelines/{{id}}/jobs"), get(jobs))
        .route(&format!("{p}/pipelines/{{id}}/retry"), post(retry))
        .route(&format!("{p}/pipelines/{{id}}/cancel"), post(cancel))
        .route(&format!("{p}/jobs/{{job}}/play"), post(play))
        .route(&format!("{p}/jobs/{{job}}/trace"), get(trace))
        .with_state(ctx)
}

fn ts(t: Option<jiff::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string())
    })
}

fn status(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Pending => "created",
        SimStatus::Running => "running",
        SimStatus::Waiting => "manual",
        SimStatus::Success => "success",
        SimStatus::Failed => "failed",
        SimStatus::Cancelled => "canceled",
        SimStatus::Skipped => "skipped",
    }
}

fn message(code: StatusCode, m: &str) -> Response {
    (code, axum::Json(json!({"message": m}))).into_response()
}

fn job_id(r: &SimRun, stage: usize) -> u64 {
    r.id * 1000 + u64::from(r.attempt % 100) * 10 + stage as u64
}

impl Ctx {
    fn app(&self, project: &str) -> Option<String> {
        let o = self.engine.options();
        let (owner, app) = project.split_once('/')?;
        (owner == o.owner && o.apps.iter().any(|a| a == app)).then(|| app.to_string())
    }

    fn run(&self, project: &str, id: &str) -> Option<SimRun> {
        let app = self.app(project)?;
        self.engine.advance();
        self.engine.run(id.parse().ok()?).filter(|r| r.app == app)
    }

    fn pipeline_json(&self, r: &SimRun) -> Value {
        json!({
            "id": r.id, "iid": r.number, "project_id": 1, "sha": r.commit.sha, "ref": r.branch,
            "status": status(r.status()), "source": "push",
            "created_at": ts(Some(r.created)), "updated_at": ts(r.finished.or(Some(r.created))),
            "started_at": ts(Some(r.created)), "finished_at": ts(r.finished),
            "web_url": format!("{}/{}/{}/-/pipelines/{}", self.base, self.engine.options().owner, r.app, r.id),
        })
    }

    /// Jobs newest first, as GitLab lists them; the approval gate is the deploy job being manual.
    fn jobs_json(&self, r: &SimRun) -> Vec<Value> {
        let title = r.commit.message.lines().next().unwrap_or("");
        let mut out = Vec::new();
        let mut gate = false;
        for (i, s) in r.stages.iter().enumerate() {
            if s.kind == StageKind::Approval {
                gate = s.status == SimStatus::Waiting;
                continue;
            }
            let st = if gate && s.kind == StageKind::Deploy {
                SimStatus::Waiting
            } else {
                s.status
            };
            let id = job_id(r, i);
            let stage = match s.kind {
                StageKind::Test => "test",
                StageKind::Build | StageKind::Push => "build",
                _ => "deploy",
            };
            let duration = match (s.started, s.finished) {
                (Some(a), Some(b)) => json!(b.duration_since(a).as_secs_f64()),
                _ => Value::Null,
            };
            out.push(json!({
                "id": id, "name": s.name, "stage": stage, "status": status(st), "allow_failure": false,
                "created_at": ts(Some(r.created)), "started_at": ts(s.started), "finished_at": ts(s.finished),
                "duration": duration, "ref": r.branch,
                "web_url": format!("{}/{}/{}/-/jobs/{id}", self.base, self.engine.options().owner, r.app),
                "failure_reason": if st == SimStatus::Failed { json!("script_failure") } else { Value::Null },
                "user": {"username": r.commit.author},
                "commit": {"id": r.commit.sha, "short_id": &r.commit.sha[..8.min(r.commit.sha.len())],
                    "title": title, "message": r.commit.message, "author_name": r.commit.author},
                "pipeline": {"id": r.id, "ref": r.branch, "sha": r.commit.sha, "status": status(r.status())},
            }));
        }
        out.reverse();
        out
    }
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "404 Not found")
}

async fn list(
    State(c): State<Ctx>,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(app) = c.app(&project) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    c.engine.advance();
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let refs: Vec<String> = match q.get("ref") {
        Some(r) => vec![r.clone()],
        None => c.engine.options().branches.clone(),
    };
    let mut runs: Vec<SimRun> = refs.iter().flat_map(|b| c.engine.runs(&app, b)).collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    let v: Vec<Value> = runs
        .iter()
        .take(per_page)
        .map(|r| c.pipeline_json(r))
        .collect();
    axum::Json(v).into_response()
}

async fn one(State(c): State<Ctx>, Path((project, id)): Path<(String, String)>) -> Response {
    match c.run(&project, &id) {
        Some(r) => axum::Json(c.pipeline_json(&r)).into_response(),
        None => not_found(),
    }
}

async fn jobs(State(c): State<Ctx>, Path((project, id)): Path<(String, String)>) -> Response {
    match c.run(&project, &id) {
        Some(r) => axum::Json(c.jobs_json(&r)).into_response(),
        None => not_found(),
    }
}

async fn retry(State(c): State<Ctx>, Path((project, id)): Path<(String, String)>) -> Response {
    let Some(r) = c.run(&project, &id) else {
        return not_found();
    };
    match c.engine.rerun(r.id) {
        Ok(()) => match c.engine.run(r.id) {
            Some(r) => (StatusCode::CREATED, axum::Json(c.pipeline_json(&r))).into_response(),
            None => not_found(),
        },
        Err(e) => message(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn cancel(State(c): State<Ctx>, Path((project, id)): Path<(String, String)>) -> Response {
    let Some(r) = c.run(&project, &id) else {
        return not_found();
    };
    // Cancelling a finished pipeline changes nothing and still answers 200.
    let _ = c.engine.cancel(r.id);
    match c.engine.run(r.id) {
        Some(r) => axum::Json(c.pipeline_json(&r)).into_response(),
        None => not_found(),
    }
}

fn find_job(c: &Ctx, project: &str, job: &str) -> Option<(SimRun, usize)> {
    let app = c.app(project)?;
    let job: u64 = job.parse().ok()?;
    c.engine.advance();
    let run = c.engine.run(job / 1000).filter(|r| r.app == app)?;
    let idx = (job % 10) as usize;
    (job_id(&run, idx) == job && idx < run.stages.len()).then_some((run, idx))
}

async fn play(State(c): State<Ctx>, Path((project, job)): Path<(String, String)>) -> Response {
    let Some((run, idx)) = find_job(&c, &project, &job) else {
        return not_found();
    };
    let gate_waiting = idx > 0
        && run.stages[idx].kind == StageKind::Deploy
        && run.stages[idx - 1].status == SimStatus::Waiting;
    if !gate_waiting || c.engine.approve(run.id).is_err() {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - Unplayable Job");
    }
    let run = c.engine.run(run.id).unwrap_or(run);
    let jobs = c.jobs_json(&run);
    let id = job.parse::<u64>().unwrap_or_default();
    match jobs.into_iter().find(|j| j["id"] == json!(id)) {
        Some(j) => axum::Json(j).into_response(),
        None => not_found(),
    }
}

async fn trace(State(c): State<Ctx>, Path((project, job)): Path<(String, String)>) -> Response {
    let Some((run, idx)) = find_job(&c, &project, &job) else {
        return not_found();
    };
    let mut text = String::from("Running with gitlab-runner 17.5.0 (sim)\n");
    for l in run.stage_log(idx) {
        text.push_str(&l);
        text.push('\n');
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}
