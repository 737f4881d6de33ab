//! Benchmark hooks under `/debug/` (not part of the Kubernetes API, not counted, not recorded):
//! - `GET /debug/requests` → the server's `RequestCounts` as JSON, so a separate bench process
//!   can read the API load the console causes;
//! - `POST /debug/storm?perSecond=N&seconds=S` → starts a change storm (`world::storm`) over the
//!   pods in the store now; `GET /debug/storm` → `{"changes": n, "done": bool}` of the last one;
//! - `POST /debug/fail?code=403&count=N` → the next N resource requests fail with `code`
//!   (`count=0` ends it), as `KubeApiServer::inject_failures`: a standing 401/403 for a bench.
use super::{Ctx, json_response};
use crate::demo::world::storm::{self, StormSpec};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::time::Duration;

/// Answers a `/debug/...` request, or None when the path is not one.
pub(super) fn serve(ctx: &Ctx, method: &Method, segs: &[&str], query: &str) -> Option<Response> {
    match (method, segs) {
        (&Method::GET, ["debug", "requests"]) => {
            let c = ctx.counts();
            Some(json_response(
                StatusCode::OK,
                &json!({"lists": c.lists, "watches": c.watches, "gets": c.gets,
                        "writes": c.writes, "total": c.total}),
            ))
        }
        (&Method::GET, ["debug", "storm"]) => {
            let p = ctx.shared.storm.lock().ok().and_then(|s| s.clone());
            Some(json_response(
                StatusCode::OK,
                &json!({"changes": p.as_ref().map_or(0, |p| p.changes()),
                        "done": p.as_ref().is_none_or(|p| p.is_done())}),
            ))
        }
        (&Method::POST, ["debug", "storm"]) => Some(start_storm(ctx, query)),
        (&Method::POST, ["debug", "fail"]) => Some(fail(ctx, query)),
        _ => None,
    }
}

fn param(query: &str, name: &str) -> Option<u32> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse::<u32>().ok())
}

fn fail(ctx: &Ctx, query: &str) -> Response {
    let (Some(code), Some(count)) = (param(query, "code"), param(query, "count")) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "expected ?code=403&count=N"}),
        );
    };
    if let Ok(mut f) = ctx.shared.faults.lock() {
        f.count = u64::from(count);
        f.code = u16::try_from(code).unwrap_or(500);
    }
    json_response(StatusCode::OK, &json!({"code": code, "count": count}))
}

fn start_storm(ctx: &Ctx, query: &str) -> Response {
    let param = |name: &str| param(query, name);
    let (Some(per_second), Some(seconds)) = (param("perSecond"), param("seconds")) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "expected ?perSecond=N&seconds=S"}),
        );
    };
    let spec = StormSpec {
        per_second,
        seconds,
        delay: Duration::ZERO,
    };
    let seed = u64::from(param("seed").unwrap_or(1));
    let (progress, _task) = storm::spawn(ctx.shared.store.clone(), spec, seed);
    if let Ok(mut s) = ctx.shared.storm.lock() {
        *s = Some(progress);
    }
    json_response(
        StatusCode::ACCEPTED,
        &json!({"perSecond": per_second, "seconds": seconds}),
    )
}
