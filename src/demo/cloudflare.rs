//! The simulated Cloudflare API v4 (the subset sunset and the board use): token verify, zones,
//! DNS records, remotely managed tunnel configurations and Access applications, under
//! `/client/v4`, with Cloudflare's envelope, `page`/`per_page` pagination and error codes
//! (1056 bad tunnel config, 81044 record not found, 7003 + 7000 for an unknown identifier or route,
//! 10000 authentication). Every request is recorded; tests inject failures (`Fault`).
use crate::backend::cloudflare::{AccessApp, CloudflareConfig, DnsRecord, IngressRule, Zone};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

mod http;

pub const PREFIX: &str = "/client/v4";
const MAX_PER_PAGE: usize = 100;

/// What the simulated account holds at start: one zone, one tunnel, and per app a proxied CNAME to
/// the tunnel, an ingress rule and a self-hosted Access application for `{app}.{zone}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudflareSeed {
    pub account_id: String,
    pub zone: String,
    pub zone_id: String,
    pub tunnel_id: String,
    pub apps: Vec<String>,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Extra DNS records (name, type, content) unrelated to the apps (pagination has work to do).
    pub extra_records: Vec<(String, String, String)>,
}

impl CloudflareSeed {
    /// `shop.example` with the given apps.
    pub fn shop(apps: &[&str]) -> CloudflareSeed {
        CloudflareSeed {
            account_id: "0123456789abcdef0123456789abcdef".into(),
            zone: "shop.example".into(),
            zone_id: "5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e".into(),
            tunnel_id: "c0ffee00-1111-4222-8333-444455556666".into(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            token: None,
            extra_records: vec![
                ("shop.example".into(), "A".into(), "192.0.2.10".into()),
                (
                    "mail.shop.example".into(),
                    "MX".into(),
                    "mx.shop.example".into(),
                ),
                ("shop.example".into(), "TXT".into(), "v=spf1 -all".into()),
            ],
        }
    }

    /// `shop.example` with every app of a config (`Demo::config().apps`).
    pub fn for_apps<S: AsRef<str>>(apps: &[S]) -> CloudflareSeed {
        let names: Vec<&str> = apps.iter().map(AsRef::as_ref).collect();
        CloudflareSeed::shop(&names)
    }

    pub fn hostname(&self, app: &str) -> String {
        format!("{app}.{}", self.zone)
    }
}

impl Default for CloudflareSeed {
    fn default() -> Self {
        CloudflareSeed::shop(&["web", "api", "worker"])
    }
}

/// A failure answered once (or `times` times) by the first requests that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub method: Option<Method>,
    /// Matches when the path contains this (`cfd_tunnel`, `dns_records`, ...).
    pub path_contains: Option<String>,
    pub status: u16,
    pub errors: Vec<(i64, String)>,
    /// `retry-after` seconds (429).
    pub retry_after: Option<u64>,
    pub times: usize,
}

impl Fault {
    /// The next tunnel configuration PUT answers 400 code 1056.
    pub fn bad_tunnel_config() -> Fault {
        Fault {
            method: Some(Method::PUT),
            path_contains: Some("/cfd_tunnel/".into()),
            status: 400,
            errors: vec![(1056, BAD_CONFIG_MESSAGE.into())],
            retry_after: None,
            times: 1,
        }
    }

    /// The next request answers 429 with `retry-after: secs`.
    pub fn rate_limited(secs: u64) -> Fault {
        Fault {
            method: None,
            path_contains: None,
            status: 429,
            errors: vec![(
                971,
                "Please wait and consider throttling your request speed".into(),
            )],
            retry_after: Some(secs),
            times: 1,
        }
    }

    pub fn on(mut self, method: Method, path_contains: &str) -> Fault {
        self.method = Some(method);
        self.path_contains = Some(path_contains.into());
        self
    }

    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

const BAD_CONFIG_MESSAGE: &str = "Bad Configuration: Validation failed: The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)";

/// One request as the simulated API received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest {
    pub method: String,
    /// Path and query exactly as sent (including `/client/v4`).
    pub uri: String,
    pub body: String,
    pub authorization: Option<String>,
}

impl SimRequest {
    /// `"DELETE /zones/…/dns_records/…"` without the prefix: handy in assertions.
    pub fn line(&self) -> String {
        format!(
            "{} {}",
            self.method,
            self.uri.strip_prefix(PREFIX).unwrap_or(&self.uri)
        )
    }
}

struct Tunnel {
    version: u64,
    config: Value,
    source: &'static str,
}

struct State {
    seed: CloudflareSeed,
    zones: Vec<Zone>,
    records: Vec<DnsRecord>,
    tunnels: HashMap<String, Tunnel>,
    access: Vec<AccessApp>,
    faults: Vec<Fault>,
    /// (method, path fragment, delay): the next matching request waits that long first.
    stalls: Vec<(Method, String, std::time::Duration)>,
    log: Vec<SimRequest>,
    next_id: u64,
}

fn hex_id(n: u64, salt: u64) -> String {
    format!(
        "{:016x}{:016x}",
        salt,
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

impl State {
    fn new(seed: CloudflareSeed) -> State {
        let zones = vec![Zone {
            id: seed.zone_id.clone(),
            name: seed.zone.clone(),
            status: Some("active".into()),
        }];
        let mut st = State {
            zones,
            records: vec![],
            tunnels: HashMap::new(),
            access: vec![],
            faults: vec![],
            stalls: vec![],
            log: vec![],
            next_id: 1,
            seed: seed.clone(),
        };
        let mut ingress = vec![];
        for app in &seed.apps {
            let host = seed.hostname(app);
            let id = st.id(0xd5);
            st.records.push(DnsRecord {
                id,
                name: host.clone(),
                kind: "CNAME".into(),
                content: format!("{}.cfargotunnel.com", seed.tunnel_id),
                proxied: true,
                ttl: 1,
                comment: Some(format!("shipdeck demo: {app}")),
            });
            ingress.push(json!({"hostname": host, "service": format!("http://{app}.shop-blue.svc.cluster.local:80"), "originRequest": {}}));
            let id = st.id(0xacc);
            let aud = st.id(0xa0d);
            st.access.push(AccessApp {
                id: uuidish(&id),
                name: format!("{app} (production)"),
                domain: Some(host),
                kind: Some("self_hosted".into()),
                aud: Some(aud),
            });
        }
        for (name, kind, content) in &seed.extra_records {
            let id = st.id(0xd5);
            st.records.push(DnsRecord {
                id,
                name: name.clone(),
                kind: kind.clone(),
                content: content.clone(),
                proxied: false,
                ttl: 1,
                comment: None,
            });
        }
        ingress.push(json!({"service": "http_status:404"}));
        st.tunnels.insert(
            seed.tunnel_id.clone(),
            Tunnel {
                version: 1,
                config: json!({"ingress": ingress, "warp-routing": {"enabled": false}}),
                source: "cloudflare",
            },
        );
        st
    }

    fn id(&mut self, salt: u64) -> String {
        self.next_id += 1;
        hex_id(self.next_id, salt)
    }
}

fn uuidish(hex: &str) -> String {
    let h = hex.as_bytes();
    let s = |a: usize, b: usize| String::from_utf8_lossy(&h[a..b]).to_string();
    format!(
        "{}-{}-{}-{}-{}",
        s(0, 8),
        s(8, 12),
        s(12, 16),
        s(16, 20),
        s(20, 32)
    )
}

/// A running simulated Cloudflare.
pub struct CloudflareSim {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CloudflareSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for CloudflareSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareSim")
            .field("url", &self.url())
            .finish()
    }
}

/// Serves the simulated API on `addr` (port 0: ephemeral).
pub async fn start_cloudflare(
    seed: CloudflareSeed,
    addr: SocketAddr,
) -> std::io::Result<CloudflareSim> {
    let state = Arc::new(Mutex::new(State::new(seed)));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let st = state.clone();
    let router = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let st = st.clone();
            async move {
                let stall = st.lock().ok().and_then(|mut s| {
                    let i = s
                        .stalls
                        .iter()
                        .position(|(m, p, _)| *m == method && uri.path().contains(p.as_str()))?;
                    Some(s.stalls.remove(i).2)
                });
                if let Some(d) = stall {
                    tokio::time::sleep(d).await;
                }
                http::handle(&st, method, uri, headers, body)
            }
        },
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(CloudflareSim { addr, state, task })
}

impl CloudflareSim {
    /// Stops the server and waits until its listener is closed.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// The API base, `http://127.0.0.1:PORT/client/v4`.
    pub fn url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// `[cloudflare]` pointing at this server (no token unless the seed asks for one).
    pub fn config(&self) -> CloudflareConfig {
        let seed = self.seed();
        CloudflareConfig::new(
            &self.url(),
            &seed.account_id,
            &seed.zone,
            Some(&seed.tunnel_id),
        )
    }

    pub fn seed(&self) -> CloudflareSeed {
        self.with(|s| s.seed.clone())
            .unwrap_or_else(|| CloudflareSeed::shop(&[]))
    }

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    /// The next `method` request whose path contains `path_contains` is answered only after
    /// `delay` (a slow API; tests kill a client in the middle of a step with it).
    pub fn stall(&self, method: Method, path_contains: &str, delay: std::time::Duration) {
        self.with(|s| s.stalls.push((method, path_contains.to_string(), delay)));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.with(|s| s.log.clone()).unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.log.clear());
    }

    /// The tunnel's current ingress rules.
    pub fn ingress(&self) -> Vec<IngressRule> {
        self.with(|s| {
            s.tunnels
                .get(&s.seed.tunnel_id)
                .and_then(|t| t.config.get("ingress").cloned())
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default()
        })
        .unwrap_or_default()
    }

    pub fn tunnel_version(&self) -> u64 {
        self.with(|s| s.tunnels.get(&s.seed.tunnel_id).map_or(0, |t| t.version))
            .unwrap_or(0)
    }

    /// Makes the tunnel locally managed (`source: local`, as after `cloudflared tunnel run` with a
    /// config file): its API configuration is then empty.
    pub fn make_tunnel_local(&self) {
        self.with(|s| {
            let id = s.seed.tunnel_id.clone();
            if let Some(t) = s.tunnels.get_mut(&id) {
                t.source = "local";
                t.config = json!({});
            }
        });
    }

    pub fn dns_records(&self) -> Vec<DnsRecord> {
        self.with(|s| s.records.clone()).unwrap_or_default()
    }

    pub fn access_apps(&self) -> Vec<AccessApp> {
        self.with(|s| s.access.clone()).unwrap_or_default()
    }

    /// Adds one DNS record; returns its id.
    pub fn add_record(&self, name: &str, kind: &str, content: &str) -> String {
        self.with(|s| {
            let id = s.id(0xf);
            s.records.push(DnsRecord {
                id: id.clone(),
                name: name.into(),
                kind: kind.into(),
                content: content.into(),
                proxied: false,
                ttl: 1,
                comment: None,
            });
            id
        })
        .unwrap_or_default()
    }

    /// Adds DNS records named `name-N.{zone}` (pagination tests).
    pub fn add_records(&self, prefix: &str, n: usize) {
        self.with(|s| {
            for i in 0..n {
                let id = s.id(0xe);
                let name = format!("{prefix}-{i}.{}", s.seed.zone);
                s.records.push(DnsRecord {
                    id,
                    name,
                    kind: "A".into(),
                    content: format!("192.0.2.{}", i % 250 + 1),
                    proxied: false,
                    ttl: 1,
                    comment: None,
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_state() {
        let st = State::new(CloudflareSeed::default());
        assert_eq!(st.access.len(), 3);
        assert_eq!(st.records.len(), 6);
        let t = &st.tunnels[&st.seed.tunnel_id];
        let ingress = t.config["ingress"].as_array().unwrap();
        assert_eq!(ingress.len(), 4);
        assert_eq!(ingress[3], json!({"service": "http_status:404"}));
    }
}
