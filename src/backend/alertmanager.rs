//! Alertmanager API v2 client (alerts, groups, silences, status) and its config.
use crate::backend::http::{self, Transport};
use crate::model::alerts::{Alert, AlertGroup, NewSilence, Silence};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `[alertmanager]` in config.toml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, such as `http://127.0.0.1:9093`.
    pub url: String,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Poll interval of the Alerts pane.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Extra `filter` matchers for every alerts request, such as `team="shop"`.
    #[serde(default)]
    pub filter: Vec<String>,
}

fn default_timeout() -> u64 {
    10
}
/// Alertmanager has no pagination and expensive GETs: poll every 30 s (PRODUCT.md targets 30–60 s).
fn default_interval() -> u64 {
    30
}

impl AlertmanagerConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token_env: None,
            token_file: None,
            timeout_secs: default_timeout(),
            interval_secs: default_interval(),
            filter: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmError {
    #[error("timeout")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Alertmanager's own error: the body is a JSON string.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// Not Alertmanager's shape (a proxy's page, say).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("cannot decode the answer: {0}")]
    Decode(String),
    #[error("config: {0}")]
    Config(String),
}

/// Query parameters of `GET /alerts` and `/alerts/groups`; `None` leaves the server default (true).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    /// Matchers such as `alertname="X"`, `severity=~"crit|page"`.
    pub filter: Vec<String>,
    pub active: Option<bool>,
    pub silenced: Option<bool>,
    pub inhibited: Option<bool>,
    /// Ignored by `/alerts/groups`.
    pub unprocessed: Option<bool>,
    pub receiver: Option<String>,
}

impl AlertQuery {
    fn params(&self, groups: bool) -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> =
            self.filter.iter().map(|f| ("filter", f.clone())).collect();
        let flags = [
            ("active", self.active),
            ("silenced", self.silenced),
            ("inhibited", self.inhibited),
            ("unprocessed", if groups { None } else { self.unprocessed }),
        ];
        for (k, v) in flags {
            if let Some(v) = v {
                p.push((k, v.to_string()));
            }
        }
        if let Some(r) = &self.receiver {
            p.push(("receiver", r.clone()));
        }
        p
    }
}

/// `GET /status`, the parts we show.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmStatus {
    pub cluster: ClusterStatus,
    pub version_info: VersionInfo,
    #[serde(default)]
    pub uptime: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterStatus {
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VersionInfo {
    pub version: String,
}

#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl AlertmanagerClient {
    pub fn new(cfg: &AlertmanagerConfig) -> Result<Self, AmError> {
        let token = http::read_token(cfg.token_env.as_deref(), cfg.token_file.as_deref())
            .map_err(AmError::Config)?;
        Ok(
            Self::with_timeout(&cfg.url, Duration::from_secs(cfg.timeout_secs.max(1)))
                .with_token(token),
        )
    }

    pub fn with_timeout(url: &str, timeout: Duration) -> Self {
        Self {
            http: http::client_with_timeout(timeout),
            base: url.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub async fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>, AmError> {
        let rb = self.http.get(self.api("/alerts")).query(&q.params(false));
        self.json(rb).await
    }

    pub async fn groups(&self, q: &AlertQuery) -> Result<Vec<AlertGroup>, AmError> {
        let rb = self
            .http
            .get(self.api("/alerts/groups"))
            .query(&q.params(true));
        self.json(rb).await
    }

    /// Every silence, expired ones included (the server keeps them for a while).
    pub async fn silences(&self, filter: &[String]) -> Result<Vec<Silence>, AmError> {
        let params: Vec<_> = filter.iter().map(|f| ("filter", f.as_str())).collect();
        let rb = self.http.get(self.api("/silences")).query(&params);
        self.json(rb).await
    }

    pub async fn silence(&self, id: &str) -> Result<Silence, AmError> {
        let rb = self
            .http
            .get(self.api(&format!("/silence/{}", path_segment(id))));
        self.json(rb).await
    }

    /// Creates (or, with `id`, updates) a silence; returns its id.
    pub async fn create_silence(&self, s: &NewSilence) -> Result<String, AmError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let rb = self.http.post(self.api("/silences")).json(s);
        let c: Created = self.json(rb).await?;
        Ok(c.silence_id)
    }

    /// Expires a silence (`DELETE /silence/{id}`); it then lists as `expired`.
    pub async fn expire_silence(&self, id: &str) -> Result<(), AmError> {
        let rb = self
            .http
            .delete(self.api(&format!("/silence/{}", path_segment(id))));
        self.send(rb).await.map(|_| ())
    }

    /// `POST /alerts`: used by tests to inject alerts.
    pub async fn post_alerts(&self, alerts: &serde_json::Value) -> Result<(), AmError> {
        let rb = self.http.post(self.api("/alerts")).json(alerts);
        self.send(rb).await.map(|_| ())
    }

    pub async fn status(&self) -> Result<AmStatus, AmError> {
        let rb = self.http.get(self.api("/status"));
        self.json(rb).await
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v2{path}", self.base)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, AmError> {
        let body = self.send(rb).await?;
        serde_json::from_slice(&body).map_err(|e| AmError::Decode(e.to_string()))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<bytes::Bytes, AmError> {
        let rb = match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(error_from(status, &body))
        }
    }
}

/// Alertmanager's error bodies are a JSON string, or `{"code":612,"message":…}` when the request
/// fails its API schema (422); anything else is reported as plain HTTP.
pub fn error_from(status: u16, body: &[u8]) -> AmError {
    #[derive(Deserialize)]
    struct SchemaError {
        message: String,
    }
    let message = serde_json::from_slice::<String>(body).ok().or_else(|| {
        serde_json::from_slice::<SchemaError>(body)
            .ok()
            .map(|e| e.message)
    });
    match message {
        Some(message) => AmError::Api {
            status,
            message: crate::text::cell(message.trim(), 300),
        },
        None => AmError::Http {
            status,
            body: http::snippet(body),
        },
    }
}

fn transport(e: reqwest::Error) -> AmError {
    match http::classify(&e) {
        Transport::Timeout => AmError::Timeout,
        Transport::Unreachable(m) => AmError::Unreachable(m),
    }
}

/// Silence ids are UUIDs; anything else is percent-encoded so it stays one path segment.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_error_bodies() {
        let e = error_from(400, br#""start time must be before end time""#);
        assert_eq!(
            e,
            AmError::Api {
                status: 400,
                message: "start time must be before end time".into()
            }
        );
        assert!(matches!(
            error_from(502, b"<html>bad gateway</html>"),
            AmError::Http { status: 502, .. }
        ));
    }

    #[test]
    fn params() {
        let q = AlertQuery {
            filter: vec!["a=\"b\"".into()],
            active: Some(false),
            unprocessed: Some(true),
            ..Default::default()
        };
        assert_eq!(q.params(true).len(), 2);
        assert_eq!(q.params(false).len(), 3);
        assert_eq!(path_segment("ab-1/.."), "ab-1%2F..");
    }
}
