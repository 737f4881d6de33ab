//! The simulated Cloudflare API v4 (the subset sunset and the board use): token verify, zones,
//! DNS records, remotely managed tunnel configurations and Access applications, under
//! `/client/v4`, with Cloudflare's envelope, `page`/`per_page` pagination and error codes
//! (1056 bad tunnel config, 81044 record not found, 7003 + 7000 for an unknown identifier or route,
//! 10000 authentication). Every request is recorded; tests inject failures (`Fault`).
use crate::backend::cloudflare::{AccessApp, CloudflareConfig, DnsRecord, IngressRule, Zone};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
            async move { handle(&st, method, uri, headers, body) }
        },
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(CloudflareSim { addr, state, task })
}

impl CloudflareSim {
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

fn envelope(status: StatusCode, result: Value, info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(i) = info {
        body["result_info"] = i;
    }
    (status, axum::Json(body)).into_response()
}

fn failure(status: u16, errors: &[(i64, String)]) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(c, m)| json!({"code": c, "message": m}))
        .collect();
    let body = json!({"success": false, "errors": errors, "messages": [], "result": null});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

/// Cloudflare's answer for an unknown route or identifier.
fn no_route(path: &str) -> Response {
    failure(
        400,
        &[
            (
                7003,
                format!("Could not route to {path}, perhaps your object identifier is invalid?"),
            ),
            (7000, "No route for that URI".into()),
        ],
    )
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// One page of `items`: `(result, result_info)`; a bad `page`/`per_page` is a 400.
fn paginate<T: serde::Serialize>(
    items: &[T],
    q: &HashMap<String, String>,
) -> Result<(Value, Value), String> {
    let num = |k: &str, d: usize| -> Result<usize, String> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("Invalid {k}: {v}")),
        }
    };
    let page = num("page", 1)?;
    let per_page = num("per_page", 20)?.min(MAX_PER_PAGE);
    let total = items.len();
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = (start + per_page).min(total);
    let result = serde_json::to_value(&items[start..end]).unwrap_or(Value::Null);
    let info = json!({
        "page": page, "per_page": per_page, "count": end - start,
        "total_count": total, "total_pages": total.div_ceil(per_page).max(1),
    });
    Ok((result, info))
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(mut st) = state.lock() else {
        return failure(500, &[(10001, "internal error".into())]);
    };
    let path = uri.path().to_string();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    st.log.push(SimRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        body: String::from_utf8_lossy(&body).to_string(),
        authorization: authorization.clone(),
    });
    if let Some(i) = st.faults.iter().position(|f| f.matches(&method, &path)) {
        let f = st.faults[i].clone();
        if f.times <= 1 {
            st.faults.remove(i);
        } else {
            st.faults[i].times -= 1;
        }
        let mut resp = failure(f.status, &f.errors);
        if let Some(s) = f.retry_after
            && let Ok(v) = s.to_string().parse()
        {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    if let Some(token) = &st.seed.token
        && authorization.as_deref() != Some(&format!("Bearer {token}"))
    {
        return failure(401, &[(10000, "Authentication error".into())]);
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return no_route(&path);
    };
    let q = query_map(&uri);
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    route(&mut st, &method, &segs, &q, &body, &path)
}

fn route(
    st: &mut State,
    method: &Method,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
    path: &str,
) -> Response {
    let ok = |r: Result<(Value, Value), String>| match r {
        Ok((result, info)) => envelope(StatusCode::OK, result, Some(info)),
        Err(e) => failure(400, &[(1001, e)]),
    };
    match (method, segs) {
        (&Method::GET, ["user", "tokens", "verify"]) => envelope(
            StatusCode::OK,
            json!({"id": "sim-token", "status": "active"}),
            None,
        ),
        (&Method::GET, ["zones"]) => {
            let zones: Vec<&Zone> = st
                .zones
                .iter()
                .filter(|z| q.get("name").is_none_or(|n| &z.name == n))
                .collect();
            ok(paginate(&zones, q))
        }
        (_, ["zones", zone, "dns_records", ..]) if !st.zones.iter().any(|z| z.id == *zone) => {
            no_route(path)
        }
        (&Method::GET, ["zones", _, "dns_records"]) => {
            let recs: Vec<&DnsRecord> = st
                .records
                .iter()
                .filter(|r| {
                    q.get("name")
                        .or_else(|| q.get("name.exact"))
                        .is_none_or(|n| &r.name == n)
                        && q.get("type").is_none_or(|t| &r.kind == t)
                })
                .collect();
            ok(paginate(&recs, q))
        }
        (&Method::DELETE, ["zones", _, "dns_records", id]) => {
            match st.records.iter().position(|r| r.id == *id) {
                Some(i) => {
                    st.records.remove(i);
                    envelope(StatusCode::OK, json!({"id": id}), None)
                }
                None => failure(404, &[(81044, "Record does not exist.".into())]),
            }
        }
        (_, ["accounts", acc, ..]) if *acc != st.seed.account_id => no_route(path),
        (_, ["accounts", _, "cfd_tunnel", tunnel, "configurations"]) => {
            let account = st.seed.account_id.clone();
            let Some(t) = st.tunnels.get_mut(*tunnel) else {
                return no_route(path);
            };
            match *method {
                Method::GET => envelope(StatusCode::OK, tunnel_result(&account, tunnel, t), None),
                Method::PUT => put_tunnel(&account, tunnel, t, body),
                _ => no_route(path),
            }
        }
        (&Method::GET, ["accounts", _, "access", "apps"]) => {
            let apps: Vec<&AccessApp> = st
                .access
                .iter()
                .filter(|a| {
                    q.get("domain").is_none_or(|d| a.domain.as_ref() == Some(d))
                        && q.get("name").is_none_or(|n| &a.name == n)
                })
                .collect();
            ok(paginate(&apps, q))
        }
        (&Method::DELETE, ["accounts", _, "access", "apps", id]) => {
            match st.access.iter().position(|a| a.id == *id) {
                Some(i) => {
                    st.access.remove(i);
                    envelope(StatusCode::ACCEPTED, json!({"id": id}), None)
                }
                // Unconfirmed code; the status is what callers branch on.
                None => failure(404, &[(12130, "access.api.error.not_found".into())]),
            }
        }
        _ => no_route(path),
    }
}

fn tunnel_result(account: &str, tunnel: &str, t: &Tunnel) -> Value {
    json!({
        "tunnel_id": tunnel, "account_id": account, "version": t.version,
        "source": t.source, "created_at": "2026-01-05T10:00:00Z", "config": t.config,
    })
}

/// Replaces the whole document after cloudflared's validation: the last rule must be a catch-all.
fn put_tunnel(account: &str, tunnel: &str, t: &mut Tunnel, body: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return failure(400, &[(1001, "Invalid JSON body".into())]);
    };
    let Some(config) = v.get("config").filter(|c| c.is_object()) else {
        return failure(400, &[(1055, "Missing config".into())]);
    };
    let rules: Result<Vec<IngressRule>, _> = serde_json::from_value(
        config
            .get("ingress")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
    );
    let Ok(rules) = rules else {
        return failure(
            400,
            &[(1056, "Bad Configuration: invalid ingress rule".into())],
        );
    };
    if !rules.last().is_some_and(IngressRule::is_catch_all) {
        return failure(400, &[(1056, BAD_CONFIG_MESSAGE.into())]);
    }
    t.version += 1;
    t.config = config.clone();
    envelope(StatusCode::OK, tunnel_result(account, tunnel, t), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            decode("web.shop.example").as_deref(),
            Some("web.shop.example")
        );
        assert_eq!(decode("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(decode("%4").as_deref(), Some("%4"));
    }

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
