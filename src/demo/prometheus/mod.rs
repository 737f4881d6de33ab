//! The simulated Prometheus: an axum server on 127.0.0.1 answering `/api/v1/query`, `query_range`,
//! `labels`, `series` and `/-/ready` from series synthesised from a `TrafficSource`.
//!
//! It starts with history, as a real estate's Prometheus would: before serving, the store is
//! backfilled with the last `HISTORY_SECS` (within retention) read from the source's memory
//! (`TrafficSource::pods_at`) on the scrape grid, so the console's 30-minute sparklines are full
//! from the first frame and counters run on into the live scrapes without a step.
#[cfg(test)]
mod backfill_tests;
pub mod binary;
pub mod eval;
pub mod exposition;
pub mod functions;
pub mod store;

use crate::backend::prometheus::{MAX_POINTS, format_value};
use crate::demo::traffic::{HISTORY_SECS, TrafficSource};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eval::{ErrorKind, EvalError, RangeRow, Value};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Labels, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running simulated server: its address, a way to make it catch up with the world now, shutdown.
pub struct SimServerHandle {
    addr: SocketAddr,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    sync: Arc<dyn Fn() + Send + Sync>,
}

impl SimServerHandle {
    /// Serves `app` on `listener` and calls `sync` every `tick` (scrapes, rule evaluation) until
    /// `cancel`; the handle's `sync()` runs the same step on demand.
    pub(crate) fn serve_ticking(
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        app: axum::Router,
        cancel: CancellationToken,
        tick: std::time::Duration,
        sync: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let c = cancel.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(c.cancelled_owned())
                .await;
        });
        let (c, step) = (cancel.clone(), sync.clone());
        let ticker = tokio::spawn(async move {
            let mut t = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    _ = c.cancelled() => break,
                    _ = t.tick() => step(),
                }
            }
        });
        Self::new(addr, cancel, vec![server, ticker], sync)
    }

    pub(crate) fn new(
        addr: SocketAddr,
        cancel: CancellationToken,
        tasks: Vec<JoinHandle<()>>,
        sync: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            addr,
            cancel,
            tasks,
            sync,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Scrapes (Prometheus) or evaluates rules (Alertmanager) now if the simulated clock has moved
    /// far enough, instead of waiting for the next tick.
    pub fn sync(&self) {
        (self.sync)()
    }

    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for SimServerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Debug, Clone)]
pub struct PromSimOptions {
    /// Simulated seconds between scrapes.
    pub scrape_secs: i64,
    /// Simulated seconds of samples kept per series.
    pub retention_secs: i64,
    /// Real time between two looks at the world's clock.
    pub tick: Duration,
}

impl Default for PromSimOptions {
    fn default() -> Self {
        Self {
            scrape_secs: store::DEFAULT_SCRAPE_SECS,
            retention_secs: store::DEFAULT_RETENTION_SECS,
            tick: Duration::from_millis(250),
        }
    }
}

struct Sim {
    source: Arc<dyn TrafficSource>,
    store: Mutex<Store>,
}

impl Sim {
    fn now_ms(&self) -> i64 {
        self.source.now().as_millisecond()
    }

    /// Gives a fresh store the last `HISTORY_SECS` (within retention) from the source's memory, as
    /// a Prometheus that had been scraping all along would hold, then scrapes now.
    fn backfill(&self) -> usize {
        let now = self.now_ms();
        let n = match self.store.lock() {
            Ok(mut s) => s.backfill(now, HISTORY_SECS * 1000, |t| self.source.pods_at(t)),
            Err(_) => 0,
        };
        self.sync();
        n
    }

    fn sync(&self) {
        let now = self.now_ms();
        // Ask the world for its pods only when a scrape is due.
        if !self.store.lock().is_ok_and(|s| s.due(now)) {
            return;
        }
        let pods = self.source.pods();
        if let Ok(mut s) = self.store.lock() {
            s.maybe_scrape(now, &pods);
        }
    }
}

pub async fn start_prometheus(
    source: Arc<dyn TrafficSource>,
    addr: SocketAddr,
) -> std::io::Result<SimServerHandle> {
    start_prometheus_with(source, addr, PromSimOptions::default()).await
}

pub async fn start_prometheus_with(
    source: Arc<dyn TrafficSource>,
    addr: SocketAddr,
    opts: PromSimOptions,
) -> std::io::Result<SimServerHandle> {
    let sim = Arc::new(Sim {
        source,
        store: Mutex::new(Store::new(opts.scrape_secs, opts.retention_secs)),
    });
    // At scale this is a few hundred thousand series samples: off the async workers.
    let filler = sim.clone();
    let started = std::time::Instant::now();
    let scrapes = tokio::task::spawn_blocking(move || filler.backfill())
        .await
        .map_err(std::io::Error::other)?;
    tracing::info!(
        scrapes,
        series = sim.store.lock().map(|s| s.len()).unwrap_or(0),
        ms = started.elapsed().as_millis() as u64,
        "simulated Prometheus backfilled"
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let app = Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/series", get(series).post(series))
        .route(
            "/-/ready",
            get(|| async { "Prometheus Server is Ready.\n" }),
        )
        .route(
            "/-/healthy",
            get(|| async { "Prometheus Server is Healthy.\n" }),
        )
        .with_state(sim.clone());
    let sync_sim = sim.clone();
    Ok(SimServerHandle::serve_ticking(
        listener,
        addr,
        app,
        cancel,
        opts.tick,
        Arc::new(move || sync_sim.sync()),
    ))
}

/// The `[prometheus]` config the demo hands the console: this server, short poll interval.
pub fn demo_config(handle: &SimServerHandle) -> crate::backend::prometheus::PrometheusConfig {
    let mut cfg = crate::backend::prometheus::PrometheusConfig::new(handle.url());
    cfg.interval_secs = 2;
    cfg.timeout_secs = 5;
    cfg
}

type Params = Form<Vec<(String, String)>>;

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    let (code, t) = match kind {
        ErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
        ErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
    };
    let body = json!({"status": "error", "errorType": t, "error": message.into()});
    (code, Json(body)).into_response()
}

fn eval_error(e: EvalError) -> Response {
    error(e.kind, e.message)
}

fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn ts(ms: i64) -> serde_json::Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// Unix seconds (with decimals) or RFC 3339, to ms.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some((f * 1000.0).round() as i64);
    }
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Float seconds or a Prometheus duration (`15s`, `1m30s`, `500ms`), to ms.
fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some((f * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit())?;
        let num: i64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[unit_len..];
    }
    Some(total)
}

fn labels_json(l: &Labels) -> serde_json::Value {
    json!(l)
}

fn matrix_json(rows: &[RangeRow]) -> serde_json::Value {
    json!(
        rows.iter()
            .map(|r| json!({
                "metric": labels_json(&r.labels),
                "values": r.points.iter().map(|(t, v)| json!([ts(*t), format_value(*v)])).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()
    )
}

async fn query(State(sim): State<Arc<Sim>>, Form(p): Params) -> Response {
    sim.sync();
    let Some(q) = param(&p, "query") else {
        return error(
            ErrorKind::BadData,
            "invalid parameter \"query\": unknown position: parse error: no expression found in input",
        );
    };
    let t = match param(&p, "time") {
        Some(s) => match parse_time(s) {
            Some(t) => t,
            None => {
                return error(
                    ErrorKind::BadData,
                    format!("invalid parameter \"time\": cannot parse {s:?} to a valid timestamp"),
                );
            }
        },
        None => sim.now_ms(),
    };
    let expr = match eval::parse(q) {
        Ok(e) => e,
        Err(e) => return eval_error(e),
    };
    let value = {
        let Ok(store) = sim.store.lock() else {
            return error(ErrorKind::Execution, "store unavailable");
        };
        eval::instant(&store, &expr, t)
    };
    match value {
        Ok(Value::Scalar(v)) => {
            success(json!({"resultType": "scalar", "result": [ts(t), format_value(v)]}))
        }
        Ok(Value::String(s)) => success(json!({"resultType": "string", "result": [ts(t), s]})),
        Ok(Value::Vector(v)) => success(json!({
            "resultType": "vector",
            "result": v.iter().map(|s| json!({"metric": labels_json(&s.labels), "value": [ts(t), format_value(s.v)]})).collect::<Vec<_>>(),
        })),
        Ok(Value::Matrix(m)) => success(json!({"resultType": "matrix", "result": matrix_json(&m)})),
        Err(e) => eval_error(e),
    }
}

async fn query_range(State(sim): State<Arc<Sim>>, Form(p): Params) -> Response {
    sim.sync();
    let Some(q) = param(&p, "query") else {
        return error(
            ErrorKind::BadData,
            "invalid parameter \"query\": unknown position: parse error: no expression found in input",
        );
    };
    let get_time = |name: &str| -> Result<i64, Box<Response>> {
        let s = param(&p, name).unwrap_or("");
        parse_time(s).ok_or_else(|| {
            Box::new(error(
                ErrorKind::BadData,
                format!("invalid parameter \"{name}\": cannot parse {s:?} to a valid timestamp"),
            ))
        })
    };
    let (start, end) = match (get_time("start"), get_time("end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    if end < start {
        return error(
            ErrorKind::BadData,
            "invalid parameter \"end\": end timestamp must not be before start time",
        );
    }
    let step = match param(&p, "step").and_then(parse_duration) {
        Some(s) if s > 0 => s,
        Some(_) => {
            return error(
                ErrorKind::BadData,
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            );
        }
        None => {
            return error(
                ErrorKind::BadData,
                "invalid parameter \"step\": cannot parse to a valid duration",
            );
        }
    };
    if (end - start) as f64 / step as f64 > MAX_POINTS {
        return error(
            ErrorKind::BadData,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        );
    }
    let expr = match eval::parse(q) {
        Ok(e) => e,
        Err(e) => return eval_error(e),
    };
    let rows = {
        let Ok(store) = sim.store.lock() else {
            return error(ErrorKind::Execution, "store unavailable");
        };
        eval::range(&store, &expr, start, end, step)
    };
    match rows {
        Ok(rows) => success(json!({"resultType": "matrix", "result": matrix_json(&rows)})),
        Err(e) => eval_error(e),
    }
}

/// Series whose labels match any `match[]` selector (all series when none is given).
fn matching_series(sim: &Sim, p: &[(String, String)]) -> Result<Vec<Labels>, Box<Response>> {
    let mut selectors = Vec::new();
    for (k, v) in p {
        if k == "match[]" {
            match eval::parse(v) {
                Ok(promql_parser::parser::Expr::VectorSelector(vs)) => selectors.push(vs),
                Ok(_) => {
                    return Err(Box::new(error(
                        ErrorKind::BadData,
                        format!("invalid parameter \"match[]\": {v:?} is not a selector"),
                    )));
                }
                Err(e) => return Err(Box::new(eval_error(e))),
            }
        }
    }
    let Ok(store) = sim.store.lock() else {
        return Err(Box::new(error(ErrorKind::Execution, "store unavailable")));
    };
    let mut out: Vec<Labels> = store
        .series()
        .filter(|s| {
            selectors.is_empty()
                || selectors.iter().any(|vs| {
                    vs.name
                        .as_ref()
                        .is_none_or(|n| s.labels.get("__name__") == Some(n))
                        && vs.matchers.matchers.iter().all(|m| {
                            m.is_match(s.labels.get(&m.name).map(String::as_str).unwrap_or(""))
                        })
                })
        })
        .map(|s| s.labels.clone())
        .collect();
    out.sort();
    Ok(out)
}

async fn labels(State(sim): State<Arc<Sim>>, Form(p): Params) -> Response {
    match matching_series(&sim, &p) {
        Ok(series) => {
            let names: std::collections::BTreeSet<&String> =
                series.iter().flat_map(|l| l.keys()).collect();
            success(json!(names))
        }
        Err(r) => *r,
    }
}

async fn series(State(sim): State<Arc<Sim>>, Form(p): Params) -> Response {
    if !p.iter().any(|(k, _)| k == "match[]") {
        return error(ErrorKind::BadData, "no match[] parameter provided");
    }
    match matching_series(&sim, &p) {
        Ok(series) => success(json!(series)),
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("15s"), Some(15_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000));
        assert_eq!(parse_duration("0.5"), Some(500));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
    }
}
