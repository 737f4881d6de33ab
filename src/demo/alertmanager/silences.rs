//! Silences of the simulated Alertmanager: list, get, create or update, expire — with the checks
//! and error shapes of Alertmanager 0.25.
use super::{Sim, compile, error, parse_filters, silence_state};
use crate::model::alerts::{NewSilence, Silence, SilenceState, SilenceStatus};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;
use std::sync::Arc;

fn with_state(mut s: Silence, now: Timestamp) -> Silence {
    s.status = SilenceStatus {
        state: silence_state(&s, now),
    };
    s
}

pub(super) async fn get_silences(
    State(sim): State<Arc<Sim>>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let filters: Vec<String> = raw
        .into_iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| v)
        .collect();
    let matchers = match parse_filters(&filters) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = sim.now();
    let Ok(st) = sim.state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "state unavailable");
    };
    let out: Vec<Silence> = st
        .silences
        .iter()
        .filter(|s| {
            // A filter matcher selects silences having a matcher of that name whose value it matches.
            matchers.iter().all(|f| {
                s.matchers
                    .iter()
                    .any(|m| m.name == f.name && f.is_match(&m.value))
            })
        })
        .map(|s| with_state(s.clone(), now))
        .collect();
    Json(out).into_response()
}

pub(super) async fn get_silence(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let now = sim.now();
    let Ok(st) = sim.state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "state unavailable");
    };
    match st.silences.iter().find(|s| s.id == id) {
        Some(s) => Json(with_state(s.clone(), now)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub(super) async fn post_silence(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    // Schema failures answer like go-swagger: a {code, message} object.
    let schema = |code: StatusCode, n: u16, m: String| {
        (code, Json(json!({"code": n, "message": m}))).into_response()
    };
    let s: NewSilence = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return schema(
                StatusCode::BAD_REQUEST,
                400,
                format!("parsing silence body failed: {e}"),
            );
        }
    };
    let now = sim.now();
    if s.matchers.is_empty() {
        return schema(
            StatusCode::UNPROCESSABLE_ENTITY,
            612,
            "matchers in body should have at least 1 items".into(),
        );
    }
    for m in &s.matchers {
        if m.name.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid label name \"{}\"", m.name),
            );
        }
        if let Err(e) = compile(m) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid regular expression: {e}"),
            );
        }
    }
    if s.matchers
        .iter()
        .filter_map(|m| compile(m).ok())
        .all(|m| m.is_match(""))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "at least one matcher must not match the empty string",
        );
    }
    if s.starts_at >= s.ends_at {
        return error(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: start time must be before end time",
        );
    }
    if s.ends_at < now {
        return error(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: end time can't be in the past",
        );
    }
    let Ok(mut st) = sim.state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "state unavailable");
    };
    let existing = match &s.id {
        Some(id) if !id.is_empty() => match st.silences.iter().position(|x| &x.id == id) {
            Some(i) => Some(i),
            None => return error(StatusCode::NOT_FOUND, "silence not found"),
        },
        _ => None,
    };
    let starts_at = if s.starts_at < now { now } else { s.starts_at };
    let mut silence = Silence {
        id: new_id(),
        status: SilenceStatus {
            state: SilenceState::Active,
        },
        updated_at: now,
        matchers: s.matchers,
        starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
    };
    match existing {
        // An update of a silence that is still in force keeps its id; an expired one gets a new one.
        Some(i) if silence_state(&st.silences[i], now) != SilenceState::Expired => {
            silence.id = st.silences[i].id.clone();
            st.silences[i] = silence.clone();
        }
        _ => st.silences.push(silence.clone()),
    }
    Json(json!({"silenceID": silence.id})).into_response()
}

pub(super) async fn delete_silence(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Response {
    let now = sim.now();
    let Ok(mut st) = sim.state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "state unavailable");
    };
    let Some(s) = st.silences.iter_mut().find(|s| s.id == id) else {
        // 0.25 answers an unknown id with 500, not 404.
        return error(StatusCode::INTERNAL_SERVER_ERROR, "silence not found");
    };
    match silence_state(s, now) {
        SilenceState::Expired => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("silence {id} already expired"),
        ),
        state => {
            if state == SilenceState::Pending {
                s.starts_at = now;
            }
            s.ends_at = now;
            s.updated_at = now;
            StatusCode::OK.into_response()
        }
    }
}
