//! The simulated Kubernetes API server (HTTP side of issue 3): discovery, CRUD, watch, patch,
//! tables and logs over the `store`, as kubectl and kube-rs expect them.
//!
//! Plain HTTP on 127.0.0.1. `KubeApiServer::start` binds, `stop` closes the listener and every
//! open watch/log stream, `restart` serves again on the same port (the "API server goes down" case).
//!
//! Choices where the real apiserver offers several behaviours:
//! - Unknown fields (at the top level, in `metadata` and in a Deployment's `spec`) are dropped with a
//!   `Warning` header, as the default `fieldValidation=Warn`; `fieldValidation=Strict` gets 400.
//! - Continue tokens are not snapshots: a page lists the objects after the last key as they are now.
//! - Watches with selectors send DELETED when an object stops matching and ADDED when it starts,
//!   as the apiserver does; after a resume from a resourceVersion the first change of each object
//!   is passed as it happened (the server does not know what the client held).
//! - Server-side apply merges like a strategic merge patch and never reports ownership conflicts.
mod debug;
mod discovery;
mod events_v1;
mod fields;
mod handlers;
mod logs;
mod patch;
mod protobuf;
mod proxy;
mod select;
mod table;
mod watch;
mod writes;

pub use logs::LogBook;

use crate::demo::store::{ApiError, Store};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted (the apiserver's limit is 3 MiB as well).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How the server runs.
#[derive(Clone)]
pub struct KubeApiOptions {
    /// When set, every request needs `Authorization: Bearer <token>` (else 401).
    pub token: Option<String>,
    /// Port 0 = ephemeral.
    pub addr: SocketAddr,
    /// `(verb, resource)` pairs SelfSubjectAccessReview answers as denied; `*` matches any.
    pub denied: Vec<(String, String)>,
    /// Where pod logs come from; pods with no lines in it get a few synthetic lines.
    pub logs: LogBook,
    /// Interval between watch BOOKMARK events (when the client allows them).
    pub bookmark_interval: std::time::Duration,
    /// The pods' traffic figures, served as each pod's `/metrics` through
    /// `pods/{name}:{port}/proxy/metrics`; None answers 503 as a pod that serves nothing.
    pub traffic: Option<Arc<dyn crate::demo::traffic::TrafficSource>>,
}

impl std::fmt::Debug for KubeApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApiOptions")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("addr", &self.addr)
            .field("denied", &self.denied)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("traffic", &self.traffic.is_some())
            .finish()
    }
}

impl Default for KubeApiOptions {
    fn default() -> Self {
        KubeApiOptions {
            token: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            denied: Vec::new(),
            logs: LogBook::default(),
            bookmark_interval: std::time::Duration::from_secs(15),
            traffic: None,
        }
    }
}

/// Requests served since start, by verb class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub lists: u64,
    pub watches: u64,
    pub gets: u64,
    pub writes: u64,
    /// Every request, discovery included.
    pub total: u64,
}

#[derive(Default)]
struct Counters {
    lists: AtomicU64,
    watches: AtomicU64,
    gets: AtomicU64,
    writes: AtomicU64,
    total: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every handler sees.
pub(crate) struct Shared {
    pub store: Store,
    pub opts: KubeApiOptions,
    counters: Counters,
    /// The port actually bound, for discovery's serverAddressByClientCIDRs.
    addr: std::sync::Mutex<SocketAddr>,
    /// Injected faults and latency (tests of clients' resilience).
    faults: std::sync::Mutex<Faults>,
    /// Requests recorded for scenario tests (`KubeApiServer::start_recording`).
    recording: std::sync::Mutex<Option<Vec<RecordedRequest>>>,
    /// The last storm started through `POST /debug/storm` (benchmarks).
    storm: std::sync::Mutex<Option<Arc<crate::demo::world::storm::StormProgress>>>,
}

impl Shared {
    fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            lists: c.lists.load(Ordering::Relaxed),
            watches: c.watches.load(Ordering::Relaxed),
            gets: c.gets.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            total: c.total.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Faults {
    /// The next `count` resource requests fail with `code`.
    count: u64,
    code: u16,
    latency: std::time::Duration,
}

/// One request as the server received it (scenario tests assert these exactly, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (`dryRun=All&fieldManager=shipdeck`), empty when there is none.
    pub query: String,
    pub content_type: Option<String>,
    /// The body parsed as JSON (`Null` when empty; a string when it is not JSON).
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// `PATCH /apis/apps/v1/namespaces/ns/deployments/web?dryRun=All`
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    /// Cancelled by `stop`: ends watches and log follows.
    pub shutdown: CancellationToken,
}

/// A running (or stopped) simulated API server.
pub struct KubeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl KubeApiServer {
    pub async fn start(store: Store, opts: KubeApiOptions) -> std::io::Result<KubeApiServer> {
        let addr = opts.addr;
        let shared = Arc::new(Shared {
            store,
            opts,
            counters: Counters::default(),
            addr: std::sync::Mutex::new(addr),
            faults: std::sync::Mutex::default(),
            recording: std::sync::Mutex::new(None),
            storm: std::sync::Mutex::new(None),
        });
        let mut server = KubeApiServer {
            shared,
            addr,
            shutdown: CancellationToken::new(),
            task: None,
        };
        server.serve(addr).await?;
        Ok(server)
    }

    async fn serve(&mut self, addr: SocketAddr) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.addr = listener.local_addr()?;
        if let Ok(mut a) = self.shared.addr.lock() {
            *a = self.addr;
        }
        self.shutdown = CancellationToken::new();
        let ctx = Ctx {
            shared: self.shared.clone(),
            shutdown: self.shutdown.clone(),
        };
        let app = axum::Router::new().fallback(dispatch).with_state(ctx);
        let token = self.shutdown.clone();
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
        }));
        Ok(())
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn logs(&self) -> &LogBook {
        &self.shared.opts.logs
    }

    /// Makes the next `count` resource requests (not discovery) fail with `code` — 429 carries
    /// `Retry-After: 1`, 500/503/504 read as the apiserver's own failures.
    pub fn inject_failures(&self, count: u64, code: u16) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.count = count;
            f.code = code;
        }
    }

    /// Delays every resource request by `latency` (zero to stop).
    pub fn set_latency(&self, latency: std::time::Duration) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.latency = latency;
        }
    }

    pub fn request_count(&self) -> RequestCounts {
        self.shared.counts()
    }

    /// Starts (or restarts, clearing) recording every request with its body.
    pub fn start_recording(&self) {
        if let Ok(mut r) = self.shared.recording.lock() {
            *r = Some(Vec::new());
        }
    }

    /// The requests recorded since `start_recording` (recording continues, emptied).
    pub fn take_recorded(&self) -> Vec<RecordedRequest> {
        self.shared
            .recording
            .lock()
            .ok()
            .and_then(|mut r| r.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }

    /// Closes the listener and all open watches and log streams.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // Graceful shutdown waits for open connections; watches end on the token, so this is
            // quick. Bound it anyway so a stuck client cannot hang the caller.
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(3), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        if self.task.is_some() {
            self.stop().await;
        }
        self.serve(self.addr).await
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A Status error response.
pub(crate) fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

pub(crate) fn json_response(code: StatusCode, v: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The verb class a request counts as.
pub(crate) enum Counted {
    List,
    Watch,
    Get,
    Write,
}

impl Ctx {
    pub(crate) fn count(&self, what: Counted) {
        let c = &self.shared.counters;
        Counters::bump(match what {
            Counted::List => &c.lists,
            Counted::Watch => &c.watches,
            Counted::Get => &c.gets,
            Counted::Write => &c.writes,
        });
    }

    pub(crate) fn counts(&self) -> RequestCounts {
        self.shared.counts()
    }

    pub(crate) fn bound_addr(&self) -> SocketAddr {
        self.shared
            .addr
            .lock()
            .map(|a| *a)
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(token) = &ctx.shared.opts.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == token)
}

/// Every request lands here; the path is routed by hand (the apiserver's URL grammar is small).
async fn dispatch(State(ctx): State<Ctx>, req: Request) -> Response {
    // Benchmark hooks: neither counted nor recorded, so reading the counts does not move them.
    if req.uri().path().starts_with("/debug/") {
        let segs: Vec<&str> = req
            .uri()
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let query = req.uri().query().unwrap_or("");
        if let Some(resp) = debug::serve(&ctx, req.method(), &segs, query) {
            return resp;
        }
    }
    Counters::bump(&ctx.shared.counters.total);
    if !authorized(&ctx, req.headers()) {
        return error_response(&ApiError::unauthorized());
    }
    let (parts, mut body) = req.into_parts();
    if ctx.shared.recording.lock().is_ok_and(|r| r.is_some()) {
        let bytes = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        };
        let parsed = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
            })
        };
        let rec = RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: parsed,
        };
        if let Ok(mut r) = ctx.shared.recording.lock()
            && let Some(v) = r.as_mut()
        {
            v.push(rec);
        }
        body = Body::from(bytes);
    }
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let query = select::Query::parse(parts.uri.query().unwrap_or(""));
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = parts.method.clone();
    if method == Method::GET
        && let Some(resp) = discovery::serve(&ctx, &segs, &parts.headers)
    {
        return resp;
    }
    let (fail, latency) = match ctx.shared.faults.lock() {
        Ok(mut f) => {
            let fail = (f.count > 0).then_some(f.code);
            f.count = f.count.saturating_sub(1);
            (fail, f.latency)
        }
        Err(_) => (None, std::time::Duration::ZERO),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = fail {
        return injected(code);
    }
    let req = handlers::Req {
        method,
        headers: parts.headers,
        query,
        body,
    };
    match segs.as_slice() {
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
        ] => discovery::access_review(&ctx, req).await,
        ["api", "v1", rest @ ..] => handlers::route(&ctx, "", rest, req).await,
        ["apis", group, "v1", rest @ ..] => handlers::route(&ctx, group, rest, req).await,
        _ => error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

/// The Status of an injected failure.
fn injected(code: u16) -> Response {
    let (reason, message) = match code {
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "forbidden: injected"),
        429 => (
            "TooManyRequests",
            "too many requests, please try again later",
        ),
        500 => (
            "InternalError",
            "an error on the server (\"injected\") has prevented the request from succeeding",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => ("InternalError", "injected failure"),
    };
    let mut r = error_response(&ApiError::new(code, reason, message));
    if code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// Reads a request body up to `MAX_BODY` (413 beyond).
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY))
}
