//! The engine served as GitHub Actions REST: runs by branch, a run, its jobs with steps, pending
//! deployments (GET and the review POST), re-run, cancel, job logs through a 302, with weak ETags
//! (`If-None-Match` → 304) and rate-limit headers like the real API.
use super::engine::{CiEngine, SimRun, SimStatus, StageKind};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// GitHub environment id of production in the simulation.
pub const PRODUCTION_ENV_ID: u64 = 7;

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
    axum::Router::new()
        .route("/repos/{owner}/{repo}/actions/runs", get(list_runs))
        .route("/repos/{owner}/{repo}/actions/runs/{id}", get(get_run))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/jobs",
            get(get_jobs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/pending_deployments",
            get(get_pending).post(post_pending),
        )
        .route("/repos/{owner}/{repo}/actions/runs/{id}/rerun", post(rerun))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/cancel",
            post(cancel),
        )
        .route(
            "/repos/{owner}/{repo}/actions/jobs/{job}/logs",
            get(job_logs),
        )
        .route("/_logs/jobs/{job}", get(raw_log))
        .with_state(ctx)
}

fn ts(t: Option<jiff::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    })
}

fn gh_status(s: SimStatus) -> (&'static str, Value) {
    match s {
        SimStatus::Pending => ("queued", Value::Null),
        SimStatus::Running => ("in_progress", Value::Null),
        SimStatus::Waiting => ("waiting", Value::Null),
        SimStatus::Success => ("completed", json!("success")),
        SimStatus::Failed => ("completed", json!("failure")),
        SimStatus::Cancelled => ("completed", json!("cancelled")),
        SimStatus::Skipped => ("completed", json!("skipped")),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        ),
    )
        .into_response()
}

fn message(status: StatusCode, m: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": m, "documentation_url": "https://docs.github.com/rest"})),
    )
        .into_response()
}

/// JSON with a weak ETag over the body; `If-None-Match` with the same tag gets a bodiless 304.
fn conditional(headers: &HeaderMap, body: Value) -> Response {
    let text = body.to_string();
    let etag = format!(
        "W/\"{}\"",
        &crate::backend::registry::sha256_digest(text.as_bytes())[7..23]
    );
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            text,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    resp
}

impl Ctx {
    fn app(&self, owner: &str, repo: &str) -> Option<String> {
        let o = self.engine.options();
        (owner == o.owner && o.apps.iter().any(|a| a == repo)).then(|| repo.to_string())
    }

    fn run(&self, owner: &str, repo: &str, id: &str) -> Option<SimRun> {
        let app = self.app(owner, repo)?;
        self.engine.advance();
        self.engine.run(id.parse().ok()?).filter(|r| r.app == app)
    }

    fn run_json(&self, r: &SimRun) -> Value {
        let (status, conclusion) = gh_status(r.status());
        let o = self.engine.options();
        let title = r.commit.message.lines().next().unwrap_or("");
        json!({
            "id": r.id, "name": "CI", "display_title": title,
            "head_branch": r.branch, "head_sha": r.commit.sha,
            "run_number": r.number, "run_attempt": r.attempt, "event": "push",
            "status": status, "conclusion": conclusion, "workflow_id": 1,
            "html_url": format!("{}/{}/{}/actions/runs/{}", self.base, o.owner, r.app, r.id),
            "created_at": ts(Some(r.created)), "updated_at": ts(r.finished.or(Some(r.created))),
            "run_started_at": ts(Some(r.created)),
            "actor": {"login": r.commit.author},
            "head_commit": {"id": r.commit.sha, "message": r.commit.message,
                "timestamp": ts(Some(r.created)),
                "author": {"name": r.commit.author, "email": format!("{}@shop.example", r.commit.author)}},
        })
    }

    fn jobs_json(&self, r: &SimRun) -> Value {
        let o = self.engine.options();
        let mut jobs = Vec::new();
        let mut gate_waiting = false;
        for (i, s) in r.stages.iter().enumerate() {
            if s.kind == StageKind::Approval {
                gate_waiting = s.status == SimStatus::Waiting;
                continue;
            }
            let st = if gate_waiting && s.kind == StageKind::Deploy {
                SimStatus::Waiting
            } else {
                s.status
            };
            let (status, conclusion) = gh_status(st);
            let id = job_id(r, i);
            let steps = if s.started.is_none() || st == SimStatus::Waiting {
                Vec::new()
            } else {
                let setup_end = s
                    .started
                    .and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(1)).ok());
                let main_end = s
                    .finished
                    .and_then(|t| t.checked_sub(jiff::SignedDuration::from_secs(1)).ok());
                let done = |x: SimStatus| gh_status(x);
                let (ms, mc) = done(s.status);
                let (cs, cc) = if s.status.done() {
                    done(SimStatus::Success)
                } else {
                    done(SimStatus::Pending)
                };
                vec![
                    json!({"name": "Set up job", "number": 1, "status": "completed", "conclusion": "success",
                        "started_at": ts(s.started), "completed_at": ts(setup_end)}),
                    json!({"name": format!("Run {}", s.name), "number": 2, "status": ms, "conclusion": mc,
                        "started_at": ts(setup_end), "completed_at": ts(main_end)}),
                    json!({"name": "Complete job", "number": 3, "status": cs, "conclusion": cc,
                        "started_at": ts(main_end), "completed_at": ts(s.finished)}),
                ]
            };
            jobs.push(json!({
                "id": id, "run_id": r.id, "run_attempt": r.attempt, "name": s.name,
                "workflow_name": "CI", "head_branch": r.branch, "head_sha": r.commit.sha,
                "status": status, "conclusion": conclusion,
                "created_at": ts(Some(r.created)), "started_at": ts(if st == SimStatus::Waiting { None } else { s.started }),
                "completed_at": ts(s.finished),
                "html_url": format!("{}/{}/{}/actions/runs/{}/job/{id}", self.base, o.owner, r.app, r.id),
                "runner_name": "sim-runner", "labels": ["ubuntu-latest"], "steps": steps,
            }));
        }
        json!({"total_count": jobs.len(), "jobs": jobs})
    }
}

/// Job ids encode run, attempt and stage: `run * 1000 + attempt * 10 + stage`.
fn job_id(r: &SimRun, stage: usize) -> u64 {
    r.id * 1000 + u64::from(r.attempt % 100) * 10 + stage as u64
}

async fn list_runs(
    State(c): State<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(app) = c.app(&owner, &repo) else {
        return not_found();
    };
    c.engine.advance();
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let branches: Vec<String> = match q.get("branch") {
        Some(b) => vec![b.clone()],
        None => c.engine.options().branches.clone(),
    };
    let mut runs: Vec<SimRun> = branches
        .iter()
        .flat_map(|b| c.engine.runs(&app, b))
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    let total = runs.len();
    let page: Vec<Value> = runs.iter().take(per_page).map(|r| c.run_json(r)).collect();
    conditional(
        &headers,
        json!({"total_count": total, "workflow_runs": page}),
    )
}

async fn get_run(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match c.run(&owner, &repo, &id) {
        Some(r) => conditional(&headers, c.run_json(&r)),
        None => not_found(),
    }
}

async fn get_jobs(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match c.run(&owner, &repo, &id) {
        Some(r) => conditional(&headers, c.jobs_json(&r)),
        None => not_found(),
    }
}

async fn get_pending(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(r) = c.run(&owner, &repo, &id) else {
        return not_found();
    };
    let waiting = r.stages.iter().any(|s| s.status == SimStatus::Waiting);
    let env = c.engine.options().environment(&r.branch);
    let list = if waiting {
        json!([{
            "environment": {"id": PRODUCTION_ENV_ID, "node_id": "EN_7", "name": env,
                "url": format!("{}/repos/{owner}/{repo}/environments/{env}", c.base),
                "html_url": format!("{}/{owner}/{repo}/deployments/activity_log?environments_filter={env}", c.base)},
            "wait_timer": 0, "wait_timer_started_at": ts(r.stages.iter().find(|s| s.status == SimStatus::Waiting).and_then(|s| s.started)),
            "current_user_can_approve": true,
            "reviewers": [{"type": "User", "reviewer": {"login": "release-manager", "id": 1}}],
        }])
    } else {
        json!([])
    };
    conditional(&headers, list)
}

async fn post_pending(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(r) = c.run(&owner, &repo, &id) else {
        return not_found();
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return message(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let ids_ok = v
        .get("environment_ids")
        .and_then(|e| e.as_array())
        .is_some_and(|a| a.iter().any(|x| x.as_u64() == Some(PRODUCTION_ENV_ID)));
    let state = v.get("state").and_then(|s| s.as_str());
    if !ids_ok || v.get("comment").and_then(|s| s.as_str()).is_none() || state.is_none() {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request: environment_ids, state and comment are required",
        );
    }
    let result = if state == Some("rejected") {
        c.engine.cancel(r.id)
    } else {
        c.engine.approve(r.id)
    };
    match result {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!([{"id": r.id, "sha": r.commit.sha, "ref": r.branch,
                "environment": c.engine.options().environment(&r.branch), "task": "deploy"}])),
        )
            .into_response(),
        Err(e) => message(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

async fn rerun(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let Some(r) = c.run(&owner, &repo, &id) else {
        return not_found();
    };
    match c.engine.rerun(r.id) {
        Ok(()) => (StatusCode::CREATED, axum::Json(json!({}))).into_response(),
        Err(_) => message(StatusCode::FORBIDDEN, "This workflow is already running"),
    }
}

async fn cancel(
    State(c): State<Ctx>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let Some(r) = c.run(&owner, &repo, &id) else {
        return not_found();
    };
    match c.engine.cancel(r.id) {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response(),
        Err(_) => message(
            StatusCode::CONFLICT,
            "Cannot cancel a workflow run that is completed.",
        ),
    }
}

fn find_job(c: &Ctx, job: &str) -> Option<(SimRun, usize)> {
    let job: u64 = job.parse().ok()?;
    c.engine.advance();
    let run = c.engine.run(job / 1000)?;
    let idx = (job % 10) as usize;
    (job_id(&run, idx) == job).then_some((run, idx))
}

async fn job_logs(
    State(c): State<Ctx>,
    Path((owner, repo, job)): Path<(String, String, String)>,
) -> Response {
    if c.app(&owner, &repo).is_none() || find_job(&c, &job).is_none() {
        return not_found();
    }
    // Like GitHub: a redirect to a short-lived plain-text URL.
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("{}/_logs/jobs/{job}?sig=sim", c.base),
        )],
    )
        .into_response()
}

async fn raw_log(State(c): State<Ctx>, Path(job): Path<String>) -> Response {
    let Some((run, idx)) = find_job(&c, &job) else {
        return not_found();
    };
    let at = run
        .stages
        .get(idx)
        .and_then(|s| s.started)
        .unwrap_or(run.created);
    let stamp = at.strftime("%Y-%m-%dT%H:%M:%S.0000000Z").to_string();
    let text: String = run
        .stage_log(idx)
        .iter()
        .map(|l| format!("{stamp} {l}\n"))
        .collect();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}
