//! Cloudflare API v4 shapes: the envelope, zones, DNS records, tunnel configurations (with the
//! catch-all rule rules), Access applications, and `[cloudflare]` in config.toml.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The public API; tests and the demo point `url` at 127.0.0.1.
pub const DEFAULT_URL: &str = "https://api.cloudflare.com/client/v4";

/// `[cloudflare]` in config.toml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// API base including `/client/v4`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Environment variable holding the API token (`Authorization: Bearer`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the API token (used when `token_env` is not set).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Account id (tunnels and Access applications are account-scoped).
    pub account_id: String,
    /// Zone name, such as `shop.example`.
    pub zone: String,
    /// Tunnel id serving the apps (overridable per app).
    #[serde(default)]
    pub tunnel_id: Option<String>,
    /// Production hostname pattern; `{app}` is replaced by the app name.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Retries after a 429 (each waits `Retry-After`, at most `max_retry_wait_secs`).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// A 429 asking to wait longer than this fails at once instead of blocking.
    #[serde(default = "default_retry_wait")]
    pub max_retry_wait_secs: u64,
    /// Per-app overrides: `[cloudflare.edge.web] hostname = "www.shop.example"`.
    #[serde(default)]
    pub edge: BTreeMap<String, EdgeConfig>,
}

fn default_url() -> String {
    DEFAULT_URL.into()
}
fn default_hostname() -> String {
    "{app}.{zone}".into()
}
fn default_timeout() -> u64 {
    10
}
fn default_retries() -> u32 {
    2
}
fn default_retry_wait() -> u64 {
    30
}

/// Per-app edge entries; every field falls back to `[cloudflare]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub tunnel_id: Option<String>,
    /// Access application name; default: the application whose domain is the hostname.
    #[serde(default)]
    pub access_app: Option<String>,
}

/// The edge entries of one app, resolved from the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub hostname: String,
    pub tunnel_id: Option<String>,
    pub access_app: Option<String>,
}

impl CloudflareConfig {
    pub fn new(url: &str, account_id: &str, zone: &str, tunnel_id: Option<&str>) -> Self {
        CloudflareConfig {
            url: url.to_string(),
            token_env: None,
            token_file: None,
            account_id: account_id.to_string(),
            zone: zone.to_string(),
            tunnel_id: tunnel_id.map(str::to_string),
            hostname: default_hostname(),
            timeout_secs: default_timeout(),
            max_retries: default_retries(),
            max_retry_wait_secs: default_retry_wait(),
            edge: BTreeMap::new(),
        }
    }

    /// The app's production hostname, tunnel and Access application.
    pub fn edge_for(&self, app: &str) -> Edge {
        let over = self.edge.get(app).cloned().unwrap_or_default();
        Edge {
            hostname: over.hostname.unwrap_or_else(|| {
                self.hostname
                    .replace("{app}", app)
                    .replace("{zone}", &self.zone)
            }),
            // An empty override means "this app has no tunnel".
            tunnel_id: match over.tunnel_id {
                Some(t) if t.is_empty() => None,
                Some(t) => Some(t),
                None => self.tunnel_id.clone(),
            },
            access_app: over.access_app,
        }
    }
}

/// One entry of `errors[]` / `messages[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

impl std::fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (code {})",
            crate::text::cell(&self.message, 300),
            self.code
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ResultInfo {
    #[serde(default)]
    pub page: Option<u64>,
    #[serde(default)]
    pub per_page: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub total_count: Option<u64>,
    #[serde(default)]
    pub total_pages: Option<u64>,
}

/// `{success, errors, messages, result, result_info}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DnsRecord {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub proxied: bool,
    /// 1 = automatic.
    #[serde(default)]
    pub ttl: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One ingress rule of a tunnel configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct IngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub service: String,
    #[serde(
        rename = "originRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub origin_request: Option<Value>,
}

impl IngressRule {
    pub fn new(hostname: Option<&str>, service: &str) -> IngressRule {
        IngressRule {
            hostname: hostname.map(str::to_string),
            path: None,
            service: service.to_string(),
            origin_request: None,
        }
    }

    /// No hostname and no path: matches every URL.
    pub fn is_catch_all(&self) -> bool {
        self.hostname
            .as_deref()
            .is_none_or(|h| h.is_empty() || h == "*")
            && self.path.as_deref().is_none_or(str::is_empty)
    }
}

/// `config` of a remotely managed tunnel. Unknown keys (`originRequest`, `warp-routing`) are kept
/// as they came, since a PUT replaces the whole document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TunnelConfig {
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl TunnelConfig {
    /// Whether the last rule is a catch-all (Cloudflare refuses anything else with code 1056).
    pub fn catch_all_last(&self) -> bool {
        self.ingress.last().is_some_and(IngressRule::is_catch_all)
    }

    pub fn has_host(&self, hostname: &str) -> bool {
        self.ingress
            .iter()
            .any(|r| r.hostname.as_deref() == Some(hostname))
    }

    /// The config without the rules for `hostname`, and how many were removed.
    pub fn without_host(&self, hostname: &str) -> (TunnelConfig, usize) {
        let mut out = self.clone();
        out.ingress
            .retain(|r| r.hostname.as_deref() != Some(hostname));
        let removed = self.ingress.len() - out.ingress.len();
        (out, removed)
    }
}

/// `GET .../cfd_tunnel/{id}/configurations` → `result`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TunnelConfiguration {
    #[serde(default)]
    pub tunnel_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub config: TunnelConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AccessApp {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub aud: Option<String>,
}

/// What the board shows for an app's production edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeStatus {
    pub hostname: String,
    pub dns: bool,
    pub tunnel_rule: bool,
    pub access_app: bool,
}

impl EdgeStatus {
    /// Reachable through Cloudflare: the name resolves to the tunnel and the tunnel routes it.
    pub fn reachable(&self) -> bool {
        self.dns && self.tunnel_rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_all_rules() {
        let cfg: TunnelConfig = serde_json::from_value(serde_json::json!({
            "ingress": [
                {"hostname": "web.shop.example", "service": "http://web:80"},
                {"hostname": "api.shop.example", "service": "http://api:80", "originRequest": {"noTLSVerify": true}},
                {"service": "http_status:404"}
            ],
            "warp-routing": {"enabled": false}
        }))
        .unwrap();
        assert!(cfg.catch_all_last());
        let (out, n) = cfg.without_host("web.shop.example");
        assert_eq!(n, 1);
        assert!(out.catch_all_last());
        assert!(!out.has_host("web.shop.example"));
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["warp-routing"]["enabled"], false);
        assert_eq!(v["ingress"][0]["originRequest"]["noTLSVerify"], true);
        assert_eq!(
            v["ingress"][1],
            serde_json::json!({"service": "http_status:404"})
        );
        let (same, n) = out.without_host("web.shop.example");
        assert_eq!((n, same), (0, out));
        let mut bad = cfg.clone();
        bad.ingress.pop();
        assert!(!bad.catch_all_last());
    }

    #[test]
    fn edge_resolution() {
        let mut c = CloudflareConfig::new("http://x", "acc", "shop.example", Some("tun"));
        assert_eq!(
            c.edge_for("web"),
            Edge {
                hostname: "web.shop.example".into(),
                tunnel_id: Some("tun".into()),
                access_app: None
            }
        );
        c.edge.insert(
            "api".into(),
            EdgeConfig {
                hostname: Some("www.shop.example".into()),
                tunnel_id: None,
                access_app: Some("API".into()),
            },
        );
        let e = c.edge_for("api");
        assert_eq!(e.tunnel_id.as_deref(), Some("tun"));
        c.edge.get_mut("api").unwrap().tunnel_id = Some(String::new());
        assert_eq!(c.edge_for("api").tunnel_id, None);
        assert_eq!(e.hostname, "www.shop.example");
        assert_eq!(e.access_app.as_deref(), Some("API"));
    }
}
