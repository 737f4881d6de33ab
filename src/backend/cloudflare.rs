//! Cloudflare API v4 client for what sunset and the board need: zones, DNS records, tunnel
//! configurations (read-modify-write keeping the catch-all last), Access applications; the
//! `success`/`errors` envelope as typed errors, `page`/`per_page` pagination, 429 + `Retry-After`.
use crate::backend::http::{self, Transport};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

pub mod types;
pub use types::*;

/// Page size asked for on list calls.
pub const PER_PAGE: u64 = 50;
/// Safety stop for a server that never stops paginating.
const MAX_PAGES: u64 = 200;
/// Cloudflare's "bad tunnel configuration" error code (a PUT whose last rule is not a catch-all).
pub const CODE_BAD_TUNNEL_CONFIG: i64 = 1056;
/// "Record does not exist."
pub const CODE_RECORD_NOT_FOUND: i64 = 81044;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CfError {
    /// `success: false` (or an error status) with Cloudflare's `errors[]`.
    #[error("Cloudflare API error (HTTP {status}): {}", join(.errors))]
    Api {
        status: u16,
        errors: Vec<ApiMessage>,
    },
    #[error("rate limited by Cloudflare (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Refused before sending: a tunnel configuration whose last rule is not a catch-all.
    #[error("refusing to write tunnel {tunnel}: the last ingress rule must be a catch-all")]
    NoCatchAll { tunnel: String },
    /// The tunnel is configured by cloudflared's local file (`source: local`): the API's
    /// configuration does not apply, so there is nothing the API can remove.
    #[error(
        "tunnel {tunnel} is locally configured (source: local): remove the ingress rule from its cloudflared config file"
    )]
    LocalTunnel { tunnel: String },
    #[error("timed out")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("malformed response: {0}")]
    Decode(String),
    /// Not Cloudflare's envelope (a proxy's page, say).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("configuration: {0}")]
    Config(String),
}

fn join(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error detail".into();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CfError {
    /// Whether Cloudflare answered with this error code.
    pub fn has_code(&self, code: i64) -> bool {
        matches!(self, CfError::Api { errors, .. } if errors.iter().any(|e| e.code == code))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CfError::Api { status: 404, .. }) || self.has_code(CODE_RECORD_NOT_FOUND)
    }
}

fn transport(e: reqwest::Error) -> CfError {
    match http::classify(&e) {
        Transport::Timeout => CfError::Timeout,
        Transport::Unreachable(m) => CfError::Unreachable(m),
    }
}

/// What `remove_ingress_rule` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRemoval {
    /// The rule(s) for the hostname were removed; the configuration is now at `version`.
    Removed { rules: usize, version: u64 },
    /// No rule for the hostname: nothing written.
    AlreadyGone,
}

#[derive(Debug, Clone)]
pub struct CloudflareClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    max_retries: u32,
    max_retry_wait: Duration,
}

impl CloudflareClient {
    /// A client from `[cloudflare]`; the token comes from `token_env` or `token_file`.
    pub fn new(cfg: &CloudflareConfig) -> Result<Self, CfError> {
        for (key, value) in [("account_id", &cfg.account_id), ("zone", &cfg.zone)] {
            if value.trim().is_empty() {
                return Err(CfError::Config(format!(
                    "cloudflare.{key} is empty (expected the Cloudflare {key})"
                )));
            }
        }
        let token = http::read_token(cfg.token_env.as_deref(), cfg.token_file.as_deref())
            .map_err(CfError::Config)?;
        let mut c = Self::with_token(
            &cfg.url,
            token,
            Duration::from_secs(cfg.timeout_secs.max(1)),
        );
        c.max_retries = cfg.max_retries;
        c.max_retry_wait = Duration::from_secs(cfg.max_retry_wait_secs);
        Ok(c)
    }

    pub fn with_token(url: &str, token: Option<String>, timeout: Duration) -> Self {
        CloudflareClient {
            http: http::client_with_timeout(timeout),
            base: url.trim_end_matches('/').to_string(),
            token,
            max_retries: 2,
            max_retry_wait: Duration::from_secs(30),
        }
    }

    /// Retries after 429 and the longest `Retry-After` honoured.
    pub fn with_retries(mut self, max_retries: u32, max_wait: Duration) -> Self {
        self.max_retries = max_retries;
        self.max_retry_wait = max_wait;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /user/tokens/verify` → the token's status (`active`).
    pub async fn verify_token(&self) -> Result<String, CfError> {
        let v: Value = self
            .call(Method::GET, "/user/tokens/verify", &[], None)
            .await?;
        Ok(v.get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// `GET /zones?name=`.
    pub async fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>, CfError> {
        let q: Vec<(&str, String)> = name.map(|n| ("name", n.to_string())).into_iter().collect();
        self.list("/zones", &q).await
    }

    /// The id of the zone called `name`.
    pub async fn zone_id(&self, name: &str) -> Result<Option<String>, CfError> {
        Ok(self
            .zones(Some(name))
            .await?
            .into_iter()
            .find(|z| z.name == name)
            .map(|z| z.id))
    }

    /// `GET /zones/{zone}/dns_records[?name=]`, every page.
    pub async fn dns_records(
        &self,
        zone_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<DnsRecord>, CfError> {
        let q: Vec<(&str, String)> = name.map(|n| ("name", n.to_string())).into_iter().collect();
        self.list(&format!("/zones/{}/dns_records", seg(zone_id)), &q)
            .await
    }

    /// `DELETE /zones/{zone}/dns_records/{id}`.
    pub async fn delete_dns_record(&self, zone_id: &str, id: &str) -> Result<(), CfError> {
        let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(id));
        self.call::<Value>(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    /// `GET /accounts/{account}/cfd_tunnel/{tunnel}/configurations`.
    pub async fn tunnel_config(
        &self,
        account_id: &str,
        tunnel_id: &str,
    ) -> Result<TunnelConfiguration, CfError> {
        self.call(Method::GET, &tunnel_path(account_id, tunnel_id), &[], None)
            .await
    }

    /// `PUT` the whole configuration. Refused locally when the last rule is not a catch-all.
    pub async fn put_tunnel_config(
        &self,
        account_id: &str,
        tunnel_id: &str,
        config: &TunnelConfig,
    ) -> Result<TunnelConfiguration, CfError> {
        if !config.catch_all_last() {
            return Err(CfError::NoCatchAll {
                tunnel: tunnel_id.to_string(),
            });
        }
        self.put_tunnel_config_unchecked(account_id, tunnel_id, config)
            .await
    }

    /// The same PUT without the local check (tests use it to see the server's 1056).
    pub async fn put_tunnel_config_unchecked(
        &self,
        account_id: &str,
        tunnel_id: &str,
        config: &TunnelConfig,
    ) -> Result<TunnelConfiguration, CfError> {
        let body = json!({ "config": config });
        self.call(
            Method::PUT,
            &tunnel_path(account_id, tunnel_id),
            &[],
            Some(&body),
        )
        .await
    }

    /// Read-modify-write removing every rule for `hostname`, the catch-all staying last.
    /// Nothing is written when there is no such rule.
    pub async fn remove_ingress_rule(
        &self,
        account_id: &str,
        tunnel_id: &str,
        hostname: &str,
    ) -> Result<RuleRemoval, CfError> {
        let current = self.tunnel_config(account_id, tunnel_id).await?;
        if current.source.as_deref() == Some("local") {
            return Err(CfError::LocalTunnel {
                tunnel: tunnel_id.to_string(),
            });
        }
        let (next, rules) = current.config.without_host(hostname);
        if rules == 0 {
            return Ok(RuleRemoval::AlreadyGone);
        }
        let written = self.put_tunnel_config(account_id, tunnel_id, &next).await?;
        Ok(RuleRemoval::Removed {
            rules,
            version: written.version,
        })
    }

    /// `GET /accounts/{account}/access/apps[?domain=]`, every page.
    pub async fn access_apps(
        &self,
        account_id: &str,
        domain: Option<&str>,
    ) -> Result<Vec<AccessApp>, CfError> {
        let q: Vec<(&str, String)> = domain
            .map(|d| ("domain", d.to_string()))
            .into_iter()
            .collect();
        self.list(&format!("/accounts/{}/access/apps", seg(account_id)), &q)
            .await
    }

    /// `DELETE /accounts/{account}/access/apps/{id}`.
    pub async fn delete_access_app(&self, account_id: &str, id: &str) -> Result<(), CfError> {
        let path = format!("/accounts/{}/access/apps/{}", seg(account_id), seg(id));
        self.call::<Value>(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    /// Every page of a list: `page=1..` with `per_page`, until `total_pages` or an empty page.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, CfError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("per_page", PER_PAGE.to_string()));
            let env = self.envelope(Method::GET, path, &q, None).await?;
            let items: Vec<T> =
                serde_json::from_value(env.result).map_err(|e| CfError::Decode(e.to_string()))?;
            let n = items.len() as u64;
            out.extend(items);
            let more = match env.result_info.as_ref().and_then(|i| i.total_pages) {
                Some(total) => page < total,
                None => n > 0 && n >= env.result_info.and_then(|i| i.per_page).unwrap_or(PER_PAGE),
            };
            if !more || n == 0 {
                break;
            }
        }
        Ok(out)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, CfError> {
        let env = self.envelope(method, path, query, body).await?;
        serde_json::from_value(env.result).map_err(|e| CfError::Decode(e.to_string()))
    }

    /// One call with bounded retries on 429; a successful envelope or a typed error.
    async fn envelope(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Envelope, CfError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let mut rb = self.http.request(method.clone(), &url);
            if !query.is_empty() {
                rb = rb.query(query);
            }
            if let Some(t) = &self.token {
                rb = rb.bearer_auth(t);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let resp = rb.send().await.map_err(transport)?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(resp.headers());
                tracing::warn!(%path, ?wait, attempt, "cloudflare: 429");
                let fits = wait.is_none_or(|w| w <= self.max_retry_wait);
                if attempt < self.max_retries && fits {
                    attempt += 1;
                    tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))).await;
                    continue;
                }
                return Err(CfError::RateLimited { retry_after: wait });
            }
            let bytes = resp.bytes().await.map_err(transport)?;
            return decode(status, &bytes);
        }
    }
}

/// `Retry-After-Ms` (the SDK honours it) or `Retry-After` in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

fn decode(status: StatusCode, bytes: &[u8]) -> Result<Envelope, CfError> {
    let env = serde_json::from_slice::<Envelope>(bytes);
    let code = status.as_u16();
    match env {
        Ok(env) if status.is_success() && env.success => Ok(env),
        Ok(env) => {
            let auth = code == 401 || (code == 403 && env.errors.iter().any(|e| e.code == 10000));
            if auth {
                Err(CfError::Unauthorized(join(&env.errors)))
            } else {
                Err(CfError::Api {
                    status: code,
                    errors: env.errors,
                })
            }
        }
        Err(_) if code == 401 => Err(CfError::Unauthorized(http::snippet(bytes))),
        Err(e) if status.is_success() => Err(CfError::Decode(e.to_string())),
        Err(_) => Err(CfError::Http {
            status: code,
            body: http::snippet(bytes),
        }),
    }
}

fn tunnel_path(account_id: &str, tunnel_id: &str) -> String {
    format!(
        "/accounts/{}/cfd_tunnel/{}/configurations",
        seg(account_id),
        seg(tunnel_id)
    )
}

/// A path segment: identifiers are hex, but never let a config value add a path component.
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The board's edge data for one app: DNS record, tunnel rule and Access application present?
pub async fn edge_status(
    client: &CloudflareClient,
    cfg: &CloudflareConfig,
    app: &str,
) -> Result<EdgeStatus, CfError> {
    let edge = cfg.edge_for(app);
    let dns = match client.zone_id(&cfg.zone).await? {
        Some(zone) => !client
            .dns_records(&zone, Some(&edge.hostname))
            .await?
            .is_empty(),
        None => false,
    };
    let tunnel_rule = match &edge.tunnel_id {
        Some(t) => client
            .tunnel_config(&cfg.account_id, t)
            .await?
            .config
            .has_host(&edge.hostname),
        None => false,
    };
    let access_app = !find_access_apps(client, cfg, &edge).await?.is_empty();
    Ok(EdgeStatus {
        hostname: edge.hostname,
        dns,
        tunnel_rule,
        access_app,
    })
}

/// The board's edge data for many apps with a fixed number of calls (zone, DNS records of the
/// zone, each distinct tunnel's configuration, Access applications), whatever the number of apps.
pub async fn edge_statuses(
    client: &CloudflareClient,
    cfg: &CloudflareConfig,
    apps: &[String],
) -> Result<Vec<EdgeStatus>, CfError> {
    let edges: Vec<Edge> = apps.iter().map(|a| cfg.edge_for(a)).collect();
    let names: Vec<String> = match client.zone_id(&cfg.zone).await? {
        Some(zone) => client
            .dns_records(&zone, None)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect(),
        None => vec![],
    };
    let mut tunnels: Vec<(String, TunnelConfig)> = vec![];
    for t in edges.iter().filter_map(|e| e.tunnel_id.as_ref()) {
        if !tunnels.iter().any(|(id, _)| id == t) {
            let c = client.tunnel_config(&cfg.account_id, t).await?.config;
            tunnels.push((t.clone(), c));
        }
    }
    let access = client.access_apps(&cfg.account_id, None).await?;
    Ok(edges
        .into_iter()
        .map(|e| EdgeStatus {
            dns: names.contains(&e.hostname),
            tunnel_rule: e.tunnel_id.as_ref().is_some_and(|t| {
                tunnels
                    .iter()
                    .any(|(id, c)| id == t && c.has_host(&e.hostname))
            }),
            access_app: access.iter().any(|a| match &e.access_app {
                Some(name) => &a.name == name,
                None => a.domain.as_deref() == Some(e.hostname.as_str()),
            }),
            hostname: e.hostname,
        })
        .collect())
}

/// The Access applications of an app's edge: by configured name, else by domain = hostname.
pub async fn find_access_apps(
    client: &CloudflareClient,
    cfg: &CloudflareConfig,
    edge: &Edge,
) -> Result<Vec<AccessApp>, CfError> {
    let apps = match &edge.access_app {
        Some(_) => client.access_apps(&cfg.account_id, None).await?,
        None => {
            client
                .access_apps(&cfg.account_id, Some(&edge.hostname))
                .await?
        }
    };
    Ok(apps
        .into_iter()
        .filter(|a| match &edge.access_app {
            Some(name) => &a.name == name,
            None => a.domain.as_deref() == Some(edge.hostname.as_str()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors() {
        let body = br#"{"success":false,"errors":[{"code":1056,"message":"Bad Configuration"}],"messages":[],"result":null}"#;
        let e = decode(StatusCode::BAD_REQUEST, body).unwrap_err();
        assert!(e.has_code(1056), "{e}");
        assert!(
            e.to_string().contains("Bad Configuration (code 1056)"),
            "{e}"
        );
        // HTTP 200 but success:false is still an error.
        let body = br#"{"success":false,"errors":[{"code":9999,"message":"nope"}],"result":null}"#;
        assert!(decode(StatusCode::OK, body).unwrap_err().has_code(9999));
        let body =
            br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#;
        assert!(matches!(
            decode(StatusCode::FORBIDDEN, body),
            Err(CfError::Unauthorized(_))
        ));
        assert!(matches!(
            decode(StatusCode::BAD_GATEWAY, b"<html>"),
            Err(CfError::Http { status: 502, .. })
        ));
        assert!(matches!(
            decode(StatusCode::OK, b"nope"),
            Err(CfError::Decode(_))
        ));
    }

    #[test]
    fn retry_after_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
    }

    #[test]
    fn empty_ids_are_configuration_errors() {
        let cfg = CloudflareConfig::new("http://127.0.0.1:9", " ", "shop.example", None);
        let e = CloudflareClient::new(&cfg).unwrap_err();
        assert_eq!(
            e,
            CfError::Config(
                "cloudflare.account_id is empty (expected the Cloudflare account_id)".into()
            )
        );
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("abc/../x"), "abc%2F..%2Fx");
    }
}
