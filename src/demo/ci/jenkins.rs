//! The engine served as Jenkins Pipeline Stage View (`wfapi`) for a multibranch job per app
//! (`/job/{app}/job/{branch}/`): runs, run describe, stage node describe, changesets, pending input
//! actions with `proceedEmpty`/`abort`, `stop`, `build`, `consoleText`, and a crumb issuer (crumbs
//! are enforced on POST when the server is started with `require_crumb`).
use super::engine::{CiEngine, SimRun, SimStatus, StageKind};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub const CRUMB: &str = "sim-crumb-7f3a";
pub const CRUMB_FIELD: &str = "Jenkins-Crumb";
/// The input step id, as pendingInputActions returns it (capitalised).
pub const INPUT_ID: &str = "Production";

#[derive(Clone)]
struct Ctx {
    engine: Arc<CiEngine>,
    base: Arc<str>,
    require_crumb: bool,
}

pub fn router(engine: Arc<CiEngine>, base_url: &str, require_crumb: bool) -> axum::Router {
    let ctx = Ctx {
        engine,
        base: base_url.into(),
        require_crumb,
    };
    let j = "/job/{app}/job/{branch}";
    axum::Router::new()
        .route("/crumbIssuer/api/json", get(crumb))
        .route(&format!("{j}/wfapi/runs"), get(runs))
        .route(&format!("{j}/build"), post(build))
        .route(&format!("{j}/{{n}}/wfapi/describe"), get(describe))
        .route(&format!("{j}/{{n}}/wfapi/changesets"), get(changesets))
        .route(
            &format!("{j}/{{n}}/wfapi/pendingInputActions"),
            get(pending),
        )
        .route(
            &format!("{j}/{{n}}/execution/node/{{node}}/wfapi/describe"),
            get(node),
        )
        .route(&format!("{j}/{{n}}/input/{{id}}/{{action}}"), post(input))
        .route(&format!("{j}/{{n}}/stop"), post(stop))
        .route(&format!("{j}/{{n}}/consoleText"), get(console))
        .with_state(ctx)
}

fn status(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Pending | SimStatus::Running => "IN_PROGRESS",
        SimStatus::Waiting => "PAUSED_PENDING_INPUT",
        SimStatus::Success => "SUCCESS",
        SimStatus::Failed => "FAILED",
        SimStatus::Cancelled => "ABORTED",
        SimStatus::Skipped => "NOT_EXECUTED",
    }
}

fn millis(t: Option<jiff::Timestamp>) -> i64 {
    t.map_or(0, |t| t.as_millisecond())
}

fn node_id(stage: usize) -> usize {
    6 + 5 * stage
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "<html><body>Not Found</body></html>").into_response()
}

impl Ctx {
    fn run(&self, app: &str, branch: &str, n: &str) -> Option<SimRun> {
        self.engine.advance();
        self.engine.run_by_number(app, branch, n.parse().ok()?)
    }

    fn now_ms(&self) -> i64 {
        self.engine.now().as_millisecond()
    }

    fn stage_json(&self, r: &SimRun, i: usize, full: bool) -> Value {
        let s = &r.stages[i];
        let end = s.finished.map_or(self.now_ms(), |f| f.as_millisecond());
        let dur = (end - millis(s.started)).max(0);
        let href = format!(
            "/job/{}/job/{}/{}/execution/node/{}/wfapi/describe",
            r.app,
            r.branch,
            r.number,
            node_id(i)
        );
        let mut v = json!({
            "_links": {"self": {"href": href}},
            "id": node_id(i).to_string(), "name": s.name, "execNode": "", "status": status(s.status),
            "startTimeMillis": millis(s.started), "durationMillis": dur,
            "pauseDurationMillis": if s.kind == StageKind::Approval { dur } else { 0 },
        });
        if s.status == SimStatus::Failed {
            v["error"] = json!({"message": "script returned exit code 101", "type": "hudson.AbortException"});
        }
        if full {
            let cmd = match s.kind {
                StageKind::Test => "cargo test --workspace",
                StageKind::Build => "docker build .",
                StageKind::Push => "docker push",
                StageKind::Approval => "Deploy to production?",
                StageKind::Deploy => "kubectl set image",
            };
            let name = if s.kind == StageKind::Approval {
                "Wait for interactive input"
            } else {
                "Shell Script"
            };
            v["stageFlowNodes"] = json!([{
                "id": (node_id(i) + 1).to_string(), "name": name, "execNode": "",
                "status": status(s.status), "parameterDescription": cmd,
                "startTimeMillis": millis(s.started), "durationMillis": dur, "pauseDurationMillis": 0,
                "parentNodes": [node_id(i).to_string()],
            }]);
        }
        v
    }

    fn run_json(&self, r: &SimRun) -> Value {
        let stages: Vec<Value> = (0..r.stages.len())
            .filter(|i| r.stages[*i].started.is_some())
            .map(|i| self.stage_json(r, i, false))
            .collect();
        let end = r.finished.map_or(0, |f| f.as_millisecond());
        let dur =
            r.finished.map_or(self.now_ms(), |f| f.as_millisecond()) - millis(Some(r.created));
        let st = match r.status() {
            SimStatus::Pending => SimStatus::Running,
            s => s,
        };
        json!({
            "_links": {"self": {"href": format!("/job/{}/job/{}/{}/wfapi/describe", r.app, r.branch, r.number)}},
            "id": r.number.to_string(), "name": format!("#{}", r.number), "status": status(st),
            "startTimeMillis": millis(Some(r.created)), "endTimeMillis": end, "durationMillis": dur.max(0),
            "queueDurationMillis": 0, "pauseDurationMillis": 0, "stages": stages,
        })
    }

    /// POSTs need the crumb when the server requires one, as Jenkins with a password login does.
    fn crumb_ok(&self, headers: &HeaderMap) -> bool {
        !self.require_crumb
            || headers
                .get(CRUMB_FIELD)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == CRUMB)
    }
}

fn no_crumb() -> Response {
    (
        StatusCode::FORBIDDEN,
        "<html><body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2></body></html>",
    )
        .into_response()
}

async fn crumb(State(c): State<Ctx>) -> Response {
    let _ = &c;
    (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            "JSESSIONID.sim=node0sim; Path=/; HttpOnly",
        )],
        axum::Json(json!({"_class": "hudson.security.csrf.DefaultCrumbIssuer",
            "crumb": CRUMB, "crumbRequestField": CRUMB_FIELD})),
    )
        .into_response()
}

async fn runs(State(c): State<Ctx>, Path((app, branch)): Path<(String, String)>) -> Response {
    c.engine.advance();
    let list = c.engine.runs(&app, &branch);
    if list.is_empty() {
        return not_found();
    }
    // Like the plugin's default: at most ten runs, newest first.
    let v: Vec<Value> = list.iter().take(10).map(|r| c.run_json(r)).collect();
    axum::Json(v).into_response()
}

async fn describe(
    State(c): State<Ctx>,
    Path((app, branch, n)): Path<(String, String, String)>,
) -> Response {
    match c.run(&app, &branch, &n) {
        Some(r) => axum::Json(c.run_json(&r)).into_response(),
        None => not_found(),
    }
}

async fn changesets(
    State(c): State<Ctx>,
    Path((app, branch, n)): Path<(String, String, String)>,
) -> Response {
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    axum::Json(json!([{
        "kind": "git", "commitCount": 1,
        "commits": [{"commitId": r.commit.sha, "commitUrl": null, "message": r.commit.message,
            "authorJenkinsId": r.commit.author, "timestamp": millis(Some(r.created)),
            "consoleUrl": format!("/job/{app}/job/{branch}/{n}/console")}],
    }]))
    .into_response()
}

async fn pending(
    State(c): State<Ctx>,
    Path((app, branch, n)): Path<(String, String, String)>,
) -> Response {
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    let waiting = r.stages.iter().any(|s| s.status == SimStatus::Waiting);
    let p = format!("/job/{app}/job/{branch}/{n}");
    let list = if waiting {
        json!([{"id": INPUT_ID, "proceedText": "Deploy", "message": format!("Deploy {app} to production?"),
            "inputs": [], "proceedUrl": format!("{p}/wfapi/inputSubmit?inputId={INPUT_ID}"),
            "abortUrl": format!("{p}/input/{INPUT_ID}/abort"), "redirectApprovalUrl": format!("{p}/input/")}])
    } else {
        json!([])
    };
    axum::Json(list).into_response()
}

async fn node(
    State(c): State<Ctx>,
    Path((app, branch, n, node)): Path<(String, String, String, String)>,
) -> Response {
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    match (0..r.stages.len())
        .find(|i| node_id(*i).to_string() == node && r.stages[*i].started.is_some())
    {
        Some(i) => axum::Json(c.stage_json(&r, i, true)).into_response(),
        None => not_found(),
    }
}

async fn input(
    State(c): State<Ctx>,
    Path((app, branch, n, id, action)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !c.crumb_ok(&headers) {
        return no_crumb();
    }
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    if id != INPUT_ID {
        return not_found();
    }
    let result = match action.as_str() {
        "proceedEmpty" | "proceed" => c.engine.approve(r.id),
        "abort" => c.engine.cancel(r.id),
        _ => return not_found(),
    };
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "no such input is pending").into_response(),
    }
}

async fn stop(
    State(c): State<Ctx>,
    Path((app, branch, n)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !c.crumb_ok(&headers) {
        return no_crumb();
    }
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    // Stopping a finished build is a no-op in Jenkins.
    let _ = c.engine.cancel(r.id);
    StatusCode::OK.into_response()
}

async fn build(
    State(c): State<Ctx>,
    Path((app, branch)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !c.crumb_ok(&headers) {
        return no_crumb();
    }
    match c.engine.trigger(&app, &branch) {
        Ok(id) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("{}/queue/item/{id}/", c.base))],
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

async fn console(
    State(c): State<Ctx>,
    Path((app, branch, n)): Path<(String, String, String)>,
) -> Response {
    let Some(r) = c.run(&app, &branch, &n) else {
        return not_found();
    };
    let mut out = format!(
        "Started by an SCM change\nChecking out Revision {}\n",
        r.commit.sha
    );
    for (i, s) in r.stages.iter().enumerate() {
        if s.started.is_none() {
            continue;
        }
        out.push_str(&format!("[Pipeline] stage\n[Pipeline] {{ ({})\n", s.name));
        for l in r.stage_log(i) {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("[Pipeline] }\n");
    }
    if r.finished.is_some() {
        out.push_str(match r.status() {
            SimStatus::Failed => "Finished: FAILURE\n",
            SimStatus::Cancelled => "Finished: ABORTED\n",
            _ => "Finished: SUCCESS\n",
        });
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        out,
    )
        .into_response()
}
