//! Prometheus HTTP API client (`/api/v1/query`, `query_range`), its config and the PromQL templates.
use crate::backend::http::{self, Transport};
use crate::model::metrics::Unit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `[prometheus]` in config.toml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL, such as `http://127.0.0.1:9090` (a path prefix is kept).
    pub url: String,
    /// Environment variable holding a bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding a bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Timeout of every call (also sent as `timeout=`).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Poll interval of the Metrics pane.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Sparkline window.
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Queries by key, merged over the defaults (a key with an empty `query` removes a default).
    #[serde(default)]
    pub queries: BTreeMap<String, QueryTemplate>,
}

fn default_timeout() -> u64 {
    10
}
fn default_interval() -> u64 {
    15
}
fn default_window() -> u64 {
    1800
}

impl PrometheusConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token_env: None,
            token_file: None,
            timeout_secs: default_timeout(),
            interval_secs: default_interval(),
            window_secs: default_window(),
            queries: BTreeMap::new(),
        }
    }

    /// The defaults with the configured queries merged over them, in display order.
    pub fn effective_queries(&self) -> Vec<(String, QueryTemplate)> {
        let mut all: BTreeMap<String, QueryTemplate> = default_queries().into_iter().collect();
        for (k, q) in &self.queries {
            if q.query.trim().is_empty() {
                all.remove(k);
            } else {
                all.insert(k.clone(), q.clone());
            }
        }
        let mut v: Vec<_> = all.into_iter().collect();
        v.sort_by(|a, b| a.1.order.cmp(&b.1.order).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// One row of the Metrics pane: a PromQL template with `{app}`, `{namespace}`, `{env}` placeholders.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryTemplate {
    /// Row label, such as `req/s`.
    pub label: String,
    pub query: String,
    #[serde(default)]
    pub unit: Unit,
    /// Rows are sorted by `order`, then key.
    #[serde(default)]
    pub order: i32,
}

/// Metric names used by the defaults (and synthesised by the simulated Prometheus).
pub const DEFAULT_QUERIES: [(&str, &str, &str, Unit); 5] = [
    (
        "requests",
        "req/s",
        r#"sum(rate(http_requests_total{namespace="{namespace}",app="{app}"}[1m]))"#,
        Unit::ReqPerSec,
    ),
    (
        "errors",
        "5xx %",
        r#"sum(rate(http_requests_total{namespace="{namespace}",app="{app}",code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="{namespace}",app="{app}"}[1m]))"#,
        Unit::Percent,
    ),
    (
        "latency_p99",
        "p99",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{namespace}",app="{app}"}[5m])))"#,
        Unit::Millis,
    ),
    (
        "cpu",
        "cpu",
        r#"sum(rate(container_cpu_usage_seconds_total{namespace="{namespace}",app="{app}"}[1m]))"#,
        Unit::Cores,
    ),
    (
        "memory",
        "mem",
        r#"sum(container_memory_working_set_bytes{namespace="{namespace}",app="{app}"})"#,
        Unit::Mib,
    ),
];

pub fn default_queries() -> Vec<(String, QueryTemplate)> {
    DEFAULT_QUERIES
        .iter()
        .enumerate()
        .map(|(i, (key, label, query, unit))| {
            (
                key.to_string(),
                QueryTemplate {
                    label: label.to_string(),
                    query: query.to_string(),
                    unit: *unit,
                    order: (i as i32 + 1) * 10,
                },
            )
        })
        .collect()
}

/// Escapes a value for a double-quoted PromQL string (`\`, `"`, newline), so it cannot end the string.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{app}`, `{namespace}`, `{env}` with escaped values. Placeholders belong inside `"..."`.
pub fn render_template(template: &str, app: &str, namespace: &str, env: &str) -> String {
    // One pass, so a value that itself contains `{env}` is not expanded again.
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(pos) = rest.find('{') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let (value, len) = if tail.starts_with("{app}") {
            (Some(app), 5)
        } else if tail.starts_with("{namespace}") {
            (Some(namespace), 11)
        } else if tail.starts_with("{env}") {
            (Some(env), 5)
        } else {
            (None, 1)
        };
        match value {
            Some(v) => out.push_str(&escape_label_value(v)),
            None => out.push('{'),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Prometheus refuses ranges over 11,000 points per series.
pub const MAX_POINTS: f64 = 11_000.0;

/// Step for a range: about 120 points over the window, never more than 11,000, at least 1 s.
pub fn range_step(window_secs: f64, desired: Option<f64>) -> f64 {
    let floor = (window_secs / MAX_POINTS).ceil().max(1.0);
    desired.unwrap_or((window_secs / 120.0).ceil()).max(floor)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromError {
    #[error("timeout")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// A non-API answer (a proxy's 502 page, say).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("bad query: {0}")]
    BadData(String),
    /// Any other `errorType` (`execution`, `canceled`, `internal`, ...).
    #[error("{error_type}: {message}")]
    Api { error_type: String, message: String },
    #[error("cannot decode the answer: {0}")]
    Decode(String),
    #[error("config: {0}")]
    Config(String),
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub metric: BTreeMap<String, String>,
    pub t: f64,
    pub v: f64,
}

/// One series of a range matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub metric: BTreeMap<String, String>,
    pub values: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
    Scalar { t: f64, v: f64 },
    String { t: f64, v: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub data: QueryData,
    pub warnings: Vec<String>,
}

/// Queries longer than this go as a POST form instead of a GET URL.
const POST_ABOVE: usize = 1500;

#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl PrometheusClient {
    pub fn new(cfg: &PrometheusConfig) -> Result<Self, PromError> {
        let token = http::read_token(cfg.token_env.as_deref(), cfg.token_file.as_deref())
            .map_err(PromError::Config)?;
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        Ok(Self::with_timeout(&cfg.url, timeout).with_token(token))
    }

    pub fn with_timeout(url: &str, timeout: Duration) -> Self {
        Self {
            http: http::client_with_timeout(timeout),
            base: url.trim_end_matches('/').to_string(),
            token: None,
            timeout,
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Instant query at `time` (unix seconds; now when `None`).
    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<QueryResult, PromError> {
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = time {
            params.push(("time", fmt_time(t)));
        }
        self.call("/api/v1/query", query.len(), params).await
    }

    /// Range query; `step` is raised if the range would exceed the server's point limit.
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<QueryResult, PromError> {
        let step = range_step(end - start, Some(step));
        let params = vec![
            ("query", query.to_string()),
            ("start", fmt_time(start)),
            ("end", fmt_time(end)),
            ("step", fmt_time(step)),
        ];
        self.call("/api/v1/query_range", query.len(), params).await
    }

    /// `GET /-/ready`: true on 200.
    pub async fn ready(&self) -> Result<bool, PromError> {
        let resp = self
            .auth(self.http.get(format!("{}/-/ready", self.base)))
            .send()
            .await
            .map_err(transport)?;
        Ok(resp.status().is_success())
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn call(
        &self,
        path: &str,
        query_len: usize,
        mut params: Vec<(&str, String)>,
    ) -> Result<QueryResult, PromError> {
        params.push(("timeout", format!("{}s", self.timeout.as_secs().max(1))));
        let url = format!("{}{path}", self.base);
        let rb = if query_len > POST_ABOVE {
            self.http
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(http::form_encode(&params))
        } else {
            self.http.get(url).query(&params)
        };
        let resp = self
            .auth(rb)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        decode(status, &body)
    }
}

fn transport(e: reqwest::Error) -> PromError {
    match http::classify(&e) {
        Transport::Timeout => PromError::Timeout,
        Transport::Unreachable(m) => PromError::Unreachable(m),
    }
}

fn fmt_time(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.3}")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// Turns a status code and body into a result: the envelope when it is one, else a typed error.
pub fn decode(status: u16, body: &[u8]) -> Result<QueryResult, PromError> {
    let env: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if (200..300).contains(&status) => return Err(PromError::Decode(e.to_string())),
        Err(_) => {
            return Err(PromError::Http {
                status,
                body: http::snippet(body),
            });
        }
    };
    if env.status != "success" {
        let message = crate::text::cell(env.error.as_deref().unwrap_or("no error message"), 300);
        return Err(match env.error_type.as_deref() {
            Some("bad_data") => PromError::BadData(message),
            Some("timeout") => PromError::Timeout,
            Some(t) => PromError::Api {
                error_type: t.to_string(),
                message,
            },
            None => PromError::Http {
                status,
                body: message,
            },
        });
    }
    let data = env
        .data
        .ok_or_else(|| PromError::Decode("no data in a success answer".into()))?;
    Ok(QueryResult {
        data: decode_data(data)?,
        warnings: env.warnings,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawData {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct RawVector {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct RawMatrix {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

fn decode_data(v: serde_json::Value) -> Result<QueryData, PromError> {
    let de = |e: serde_json::Error| PromError::Decode(e.to_string());
    let raw: RawData = serde_json::from_value(v).map_err(de)?;
    Ok(match raw.result_type.as_str() {
        "vector" => {
            let rows: Vec<RawVector> = serde_json::from_value(raw.result).map_err(de)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(InstantSample {
                    metric: r.metric,
                    t: r.value.0,
                    v: parse_value(&r.value.1)?,
                });
            }
            QueryData::Vector(out)
        }
        "matrix" => {
            let rows: Vec<RawMatrix> = serde_json::from_value(raw.result).map_err(de)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let values = r
                    .values
                    .iter()
                    .map(|(t, s)| parse_value(s).map(|v| (*t, v)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(RangeSeries {
                    metric: r.metric,
                    values,
                });
            }
            QueryData::Matrix(out)
        }
        "scalar" => {
            let (t, s): (f64, String) = serde_json::from_value(raw.result).map_err(de)?;
            QueryData::Scalar {
                t,
                v: parse_value(&s)?,
            }
        }
        "string" => {
            let (t, v): (f64, String) = serde_json::from_value(raw.result).map_err(de)?;
            QueryData::String { t, v }
        }
        other => return Err(PromError::Decode(format!("unknown resultType {other:?}"))),
    })
}

/// Sample values are strings because of `NaN`, `+Inf` and `-Inf`.
pub fn parse_value(s: &str) -> Result<f64, PromError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|_| PromError::Decode(format!("not a sample value: {s:?}"))),
    }
}

/// Formats a value the way Prometheus writes it in JSON.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_respects_point_limit() {
        assert_eq!(range_step(1800.0, None), 15.0);
        assert_eq!(range_step(60.0, None), 1.0);
        assert_eq!(range_step(86_400.0 * 30.0, Some(1.0)), 236.0);
        assert!(86_400.0 * 30.0 / range_step(86_400.0 * 30.0, Some(1.0)) <= MAX_POINTS);
    }

    #[test]
    fn template_escapes_and_does_not_reexpand() {
        let q = render_template(r#"x{app="{app}",env="{env}"}"#, "a\"b\\{env}", "ns", "prod");
        assert_eq!(q, r#"x{app="a\"b\\{env}",env="prod"}"#);
    }

    #[test]
    fn values() {
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_value("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(parse_value("1e+00").unwrap(), 1.0);
        assert!(parse_value("x").is_err());
    }

    #[test]
    fn defaults_merge() {
        let mut c = PrometheusConfig::new("http://x");
        c.queries.insert(
            "memory".into(),
            QueryTemplate {
                label: "m".into(),
                query: String::new(),
                unit: Unit::Plain,
                order: 0,
            },
        );
        let keys: Vec<_> = c.effective_queries().into_iter().map(|q| q.0).collect();
        assert_eq!(keys, ["requests", "errors", "latency_p99", "cpu"]);
    }
}
