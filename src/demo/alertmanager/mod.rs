//! The simulated Alertmanager: API v2 (`/api/v2/alerts`, `alerts/groups`, `silences`, `silence/{id}`,
//! `status`, `receivers`) with alerts fired by `rules` from the world's traffic and silences that
//! really suppress. Its clock is the world's (`TrafficSource::now`).
pub mod rules;
mod silences;

use crate::demo::prometheus::SimServerHandle;
use crate::demo::traffic::TrafficSource;
use crate::model::alerts::{
    Alert, AlertState, AlertStatus, Receiver, Silence, SilenceMatcher, SilenceState,
};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use promql_parser::label::Matcher;
use rules::{AlertRules, Labels, RuleState, fingerprint};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct AmSimOptions {
    pub rules: AlertRules,
    /// Simulated seconds between two rule evaluations.
    pub eval_secs: i64,
    /// Real time between two looks at the world's clock.
    pub tick: Duration,
}

impl Default for AmSimOptions {
    fn default() -> Self {
        Self {
            rules: AlertRules::default(),
            eval_secs: 5,
            tick: Duration::from_millis(250),
        }
    }
}

/// An alert posted to `POST /api/v2/alerts` (tests, or the world injecting one).
#[derive(Debug, Clone)]
struct Posted {
    labels: Labels,
    annotations: Labels,
    starts_at: Timestamp,
    ends_at: Timestamp,
    generator_url: String,
}

#[derive(Default)]
struct AmState {
    rule_state: RuleState,
    fired: Vec<rules::Firing>,
    posted: BTreeMap<String, Posted>,
    silences: Vec<Silence>,
    last_eval: Option<i64>,
}

struct Sim {
    source: Arc<dyn TrafficSource>,
    opts: AmSimOptions,
    started: Timestamp,
    state: Mutex<AmState>,
}

impl Sim {
    fn now(&self) -> Timestamp {
        self.source.now()
    }

    fn sync(&self) {
        let now = self.now().as_millisecond();
        let due = self
            .state
            .lock()
            .map(|s| {
                s.last_eval
                    .is_none_or(|l| now >= l + self.opts.eval_secs.max(1) * 1000)
            })
            .unwrap_or(false);
        if !due {
            return;
        }
        let pods = self.source.pods();
        if let Ok(mut s) = self.state.lock() {
            s.fired = s.rule_state.evaluate(&self.opts.rules, now, &pods);
            s.last_eval = Some(now);
        }
    }
}

pub async fn start_alertmanager(
    source: Arc<dyn TrafficSource>,
    addr: SocketAddr,
) -> std::io::Result<SimServerHandle> {
    start_alertmanager_with(source, addr, AmSimOptions::default()).await
}

pub async fn start_alertmanager_with(
    source: Arc<dyn TrafficSource>,
    addr: SocketAddr,
    opts: AmSimOptions,
) -> std::io::Result<SimServerHandle> {
    let tick = opts.tick;
    let sim = Arc::new(Sim {
        started: source.now(),
        source,
        opts,
        state: Mutex::new(AmState::default()),
    });
    sim.sync();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let app = Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route(
            "/api/v2/silences",
            get(silences::get_silences).post(silences::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            delete(silences::delete_silence).get(silences::get_silence),
        )
        .route("/api/v2/status", get(status))
        .route(
            "/api/v2/receivers",
            get(|| async { Json(json!([{"name": "default"}])) }),
        )
        .route("/-/ready", get(|| async { "OK" }))
        .route("/-/healthy", get(|| async { "OK" }))
        .with_state(sim.clone());
    let sync_sim = sim.clone();
    Ok(SimServerHandle::serve_ticking(
        listener,
        addr,
        app,
        cancel,
        tick,
        Arc::new(move || sync_sim.sync()),
    ))
}

/// The `[alertmanager]` config the demo hands the console: this server, short poll interval.
pub fn demo_config(handle: &SimServerHandle) -> crate::backend::alertmanager::AlertmanagerConfig {
    let mut cfg = crate::backend::alertmanager::AlertmanagerConfig::new(handle.url());
    cfg.interval_secs = 2;
    cfg.timeout_secs = 5;
    cfg
}

/// Alertmanager's error shape: a JSON string.
fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!(message.into()))).into_response()
}

fn ms(t: i64) -> Timestamp {
    Timestamp::from_millisecond(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn silence_state(s: &Silence, now: Timestamp) -> SilenceState {
    if s.ends_at <= now {
        SilenceState::Expired
    } else if s.starts_at > now {
        SilenceState::Pending
    } else {
        SilenceState::Active
    }
}

/// A matcher from its JSON form; regexes are anchored like Alertmanager's.
fn compile(m: &SilenceMatcher) -> Result<Matcher, String> {
    use promql_parser::parser::token::{T_EQL, T_EQL_REGEX, T_NEQ, T_NEQ_REGEX};
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => T_EQL,
        (false, false) => T_NEQ,
        (true, true) => T_EQL_REGEX,
        (true, false) => T_NEQ_REGEX,
    };
    Matcher::new_matcher(op, m.name.clone(), m.value.clone())
}

fn label_match(m: &Matcher, labels: &Labels) -> bool {
    m.is_match(labels.get(&m.name).map(String::as_str).unwrap_or(""))
}

/// `filter` strings such as `alertname="X"` or `severity=~"crit|page"` (the PromQL matcher syntax).
fn parse_filters(filters: &[String]) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for f in filters {
        let inner = f.trim().trim_start_matches('{').trim_end_matches('}');
        // PromQL wants one matcher that cannot match "": a dummy one, dropped again.
        match promql_parser::parser::parse(&format!("{{__sd__=\"1\",{inner}}}")) {
            Ok(promql_parser::parser::Expr::VectorSelector(vs))
                if vs.matchers.matchers.len() > 1 =>
            {
                out.extend(
                    vs.matchers
                        .matchers
                        .into_iter()
                        .filter(|m| m.name != "__sd__"),
                )
            }
            _ => return Err(format!("bad matcher format: {f}")),
        }
    }
    Ok(out)
}

/// Every current alert with its suppression state, sorted by fingerprint like the real one.
fn current_alerts(sim: &Sim) -> Vec<Alert> {
    let now = sim.now();
    let Ok(st) = sim.state.lock() else {
        return Vec::new();
    };
    let active_silences: Vec<(String, Vec<Matcher>)> = st
        .silences
        .iter()
        .filter(|s| silence_state(s, now) == SilenceState::Active)
        .filter_map(|s| {
            let ms: Result<Vec<_>, _> = s.matchers.iter().map(compile).collect();
            ms.ok().map(|m| (s.id.clone(), m))
        })
        .collect();
    let until = now.checked_add(SignedDuration::from_mins(4)).unwrap_or(now);
    let mut alerts: BTreeMap<String, Alert> = BTreeMap::new();
    let mut push =
        |labels: &Labels, annotations: &Labels, starts: Timestamp, ends: Timestamp, url: &str| {
            let mut silenced_by: Vec<String> = active_silences
                .iter()
                .filter(|(_, ms)| ms.iter().all(|m| label_match(m, labels)))
                .map(|(id, _)| id.clone())
                .collect();
            silenced_by.sort();
            let fp = fingerprint(labels);
            alerts.insert(
                fp.clone(),
                Alert {
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    starts_at: starts,
                    ends_at: ends,
                    updated_at: now,
                    fingerprint: fp,
                    status: AlertStatus {
                        state: if silenced_by.is_empty() {
                            AlertState::Active
                        } else {
                            AlertState::Suppressed
                        },
                        silenced_by,
                        inhibited_by: Vec::new(),
                    },
                    receivers: vec![Receiver {
                        name: "default".into(),
                    }],
                    generator_url: url.to_string(),
                },
            );
        };
    for f in &st.fired {
        let url = format!(
            "http://prometheus.sim/graph?g0.expr=ALERTS%7Balertname%3D%22{}%22%7D",
            f.labels.get("alertname").map(String::as_str).unwrap_or("")
        );
        push(&f.labels, &f.annotations, ms(f.active_at), until, &url);
    }
    for p in st.posted.values().filter(|p| p.ends_at > now) {
        push(
            &p.labels,
            &p.annotations,
            p.starts_at,
            p.ends_at,
            &p.generator_url,
        );
    }
    alerts.into_values().collect()
}

#[derive(Deserialize, Default)]
struct AlertParams {
    #[serde(default)]
    filter: Vec<String>,
    active: Option<bool>,
    silenced: Option<bool>,
    inhibited: Option<bool>,
    unprocessed: Option<bool>,
    receiver: Option<String>,
}

/// Bad parameters are a 400 with the message.
fn params(raw: Vec<(String, String)>) -> Result<AlertParams, String> {
    let mut p = AlertParams::default();
    let flag = |v: &str| -> Result<bool, String> {
        v.parse::<bool>()
            .map_err(|_| format!("invalid boolean {v:?}"))
    };
    for (k, v) in raw {
        match k.as_str() {
            "filter" => p.filter.push(v),
            "active" => p.active = Some(flag(&v)?),
            "silenced" => p.silenced = Some(flag(&v)?),
            "inhibited" => p.inhibited = Some(flag(&v)?),
            "unprocessed" => p.unprocessed = Some(flag(&v)?),
            "receiver" => p.receiver = Some(v),
            _ => {}
        }
    }
    Ok(p)
}

fn filtered(sim: &Sim, raw: Vec<(String, String)>) -> Result<Vec<Alert>, String> {
    sim.sync();
    let p = params(raw)?;
    let matchers = parse_filters(&p.filter)?;
    if let Some(r) = &p.receiver {
        // Anchored like Alertmanager's receiver regex.
        let m = Matcher::new_matcher(
            promql_parser::parser::token::T_EQL_REGEX,
            "receiver".into(),
            r.clone(),
        )?;
        if !m.is_match("default") {
            return Ok(Vec::new());
        }
    }
    Ok(current_alerts(sim)
        .into_iter()
        .filter(|a| matchers.iter().all(|m| label_match(m, &a.labels)))
        .filter(|a| match a.status.state {
            AlertState::Active => p.active.unwrap_or(true),
            AlertState::Suppressed => {
                p.silenced.unwrap_or(true)
                    && (!a.status.silenced_by.is_empty() || p.inhibited.unwrap_or(true))
            }
            AlertState::Unprocessed => p.unprocessed.unwrap_or(true),
        })
        .collect())
}

async fn get_alerts(
    State(sim): State<Arc<Sim>>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    match filtered(&sim, raw) {
        Ok(a) => Json(a).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_groups(
    State(sim): State<Arc<Sim>>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let alerts = match filtered(&sim, raw) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // The default route groups by alertname.
    let mut groups: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
    for a in alerts {
        groups.entry(a.name().to_string()).or_default().push(a);
    }
    let body: Vec<_> = groups
        .into_iter()
        .map(|(name, alerts)| json!({"labels": {"alertname": name}, "receiver": {"name": "default"}, "alerts": alerts}))
        .collect();
    Json(body).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL", default)]
    generator_url: String,
}

async fn post_alerts(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let alerts: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let now = sim.now();
    let Ok(mut st) = sim.state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "state unavailable");
    };
    for a in alerts {
        if a.labels.is_empty() {
            return error(StatusCode::BAD_REQUEST, "at least one label pair required");
        }
        let starts_at = a.starts_at.unwrap_or(now);
        let ends_at = a
            .ends_at
            .unwrap_or_else(|| now.checked_add(SignedDuration::from_mins(5)).unwrap_or(now));
        st.posted.insert(
            fingerprint(&a.labels),
            Posted {
                labels: a.labels,
                annotations: a.annotations,
                starts_at,
                ends_at,
                generator_url: a.generator_url,
            },
        );
    }
    StatusCode::OK.into_response()
}

async fn status(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!({
        "cluster": {"name": "shipdeck-sim", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": "0.25.0-shipdeck-sim", "revision": "sim", "branch": "sim",
            "buildUser": "shipdeck", "buildDate": "", "goVersion": "none"
        },
        "config": {"original": "route:\n  receiver: default\n  group_by: [alertname]\nreceivers:\n  - name: default\n"},
        "uptime": sim.started.to_string(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_alertmanager() {
        let m = parse_filters(&["severity=~\"crit|page\"".into(), "team!=\"x\"".into()]).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m[0].is_match("crit") && !m[0].is_match("critical"));
        assert!(parse_filters(&["nonsense".into()]).is_err());
        assert_eq!(silences::new_id().len(), 36);
    }
}
