//! A tiny fake Kubernetes API server for backend tests: list + watch (with history, 410 on demand)
//! of Deployments, ReplicaSets, Pods and Events, pod logs, stop/restart on the same port.
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    kind: String,
    namespace: String,
    type_: &'static str,
    object: Value,
}

#[derive(Default)]
struct Data {
    rv: u64,
    /// kind → "ns/name" → object
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    history: Vec<Change>,
    logs: BTreeMap<String, String>,
    /// Pods whose log stays open after its text (like `follow` on a running container).
    following: Vec<String>,
    open_logs: i32,
    /// The next watch requests answer with a 410 ERROR event.
    expire_watches: bool,
    /// Every list and watch answers with this Status code and reason.
    refuse: Option<(u16, String)>,
    /// Lists and watches answer with a body that is not JSON.
    malformed: bool,
    /// Requests seen: "LIST kind ns", "WATCH kind ns", "LOG ns/pod ?query".
    requests: Vec<String>,
    /// Watch connections open now, per kind.
    open_watches: BTreeMap<String, i32>,
}

struct Shared {
    data: Mutex<Data>,
    changes: broadcast::Sender<Change>,
    /// Cancelled to end every open watch (then replaced).
    watch_kill: Mutex<CancellationToken>,
}

pub struct FakeKube {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    server: Mutex<Option<(CancellationToken, tokio::task::JoinHandle<()>)>>,
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        shipdeck::install_crypto();
        let (changes, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            changes,
            watch_kill: Mutex::new(CancellationToken::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeKube {
            shared,
            addr,
            server: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        let app = Router::new()
            .fallback(handle)
            .with_state((self.shared.clone(), stop.clone()));
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
        });
        *self.server.lock().unwrap() = Some((stop, task));
    }

    /// Stops listening and ends every connection: clients now get "connection refused".
    pub async fn stop(&self) {
        let server = self.server.lock().unwrap().take();
        if let Some((stop, task)) = server {
            stop.cancel();
            self.kill_watches();
            if tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .is_err()
            {
                panic!("fake API server did not stop");
            }
        }
    }

    /// Listens again on the same port with the same data.
    pub async fn restart(&self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        self.serve(socket.listen(128).unwrap());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context per name, all pointing at this server.
    pub fn write_kubeconfig(&self, dir: &Path, contexts: &[&str]) -> PathBuf {
        let mut yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {}\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: u\n  user:\n    token: t0ken\ncontexts:\n",
            contexts[0],
            self.url()
        );
        for c in contexts {
            yaml.push_str(&format!(
                "- name: {c}\n  context:\n    cluster: fake\n    user: u\n"
            ));
        }
        let path = dir.join("kubeconfig");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Creates or replaces an object (kind: deployments, replicasets, pods, events).
    pub fn apply(&self, kind: &str, mut object: Value) {
        let mut data = self.shared.data.lock().unwrap();
        data.rv += 1;
        let rv = data.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let namespace = str_at(&object, "namespace");
        let key = format!("{namespace}/{}", str_at(&object, "name"));
        let existed = data
            .objects
            .entry(kind.to_string())
            .or_default()
            .insert(key, object.clone())
            .is_some();
        let change = Change {
            rv,
            kind: kind.to_string(),
            namespace,
            type_: if existed { "MODIFIED" } else { "ADDED" },
            object,
        };
        data.history.push(change.clone());
        let _ = self.shared.changes.send(change);
    }

    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let mut data = self.shared.data.lock().unwrap();
        data.rv += 1;
        let rv = data.rv;
        let removed = data
            .objects
            .get_mut(kind)
            .and_then(|m| m.remove(&format!("{namespace}/{name}")));
        if let Some(mut object) = removed {
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let change = Change {
                rv,
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                type_: "DELETED",
                object,
            };
            data.history.push(change.clone());
            let _ = self.shared.changes.send(change);
        }
    }

    pub fn set_log(&self, namespace: &str, pod: &str, text: &str) {
        let mut data = self.shared.data.lock().unwrap();
        data.logs
            .insert(format!("{namespace}/{pod}"), text.to_string());
    }

    /// Like `set_log`, but the stream then stays open until the client goes away.
    pub fn set_log_following(&self, namespace: &str, pod: &str, text: &str) {
        self.set_log(namespace, pod, text);
        let mut data = self.shared.data.lock().unwrap();
        data.following.push(format!("{namespace}/{pod}"));
    }

    pub fn open_logs(&self) -> i32 {
        self.shared.data.lock().unwrap().open_logs
    }

    /// Ends every open watch; with `expire`, the watches that follow get a 410.
    pub fn expire_watches(&self, expire: bool) {
        self.shared.data.lock().unwrap().expire_watches = expire;
        self.kill_watches();
    }

    fn kill_watches(&self) {
        let mut kill = self.shared.watch_kill.lock().unwrap();
        kill.cancel();
        *kill = CancellationToken::new();
    }

    /// Makes every list and watch answer `code reason` (None: answer normally again).
    pub fn refuse(&self, refusal: Option<(u16, &str)>) {
        let mut data = self.shared.data.lock().unwrap();
        data.refuse = refusal.map(|(c, r)| (c, r.to_string()));
        drop(data);
        self.kill_watches();
    }

    /// Makes lists and watches answer with a body that is not JSON.
    pub fn malformed(&self, on: bool) {
        self.shared.data.lock().unwrap().malformed = on;
        self.kill_watches();
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.data.lock().unwrap().requests.clone()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    pub fn open_watches(&self, kind: &str) -> i32 {
        let data = self.shared.data.lock().unwrap();
        data.open_watches.get(kind).copied().unwrap_or(0)
    }
}

fn str_at(object: &Value, field: &str) -> String {
    object["metadata"][field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn labels_match(object: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|pair| match pair.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k].as_str() == Some(v),
        None => false,
    })
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}

fn type_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "deployments" => ("apps/v1", "Deployment"),
        "replicasets" => ("apps/v1", "ReplicaSet"),
        "pods" => ("v1", "Pod"),
        _ => ("v1", "Event"),
    }
}

async fn handle(
    State((shared, stop)): State<(Arc<Shared>, CancellationToken)>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (namespace, kind, log_pod) = match segments.as_slice() {
        ["apis", "apps", "v1", "namespaces", ns, kind] | ["api", "v1", "namespaces", ns, kind] => {
            (Some(ns.to_string()), kind.to_string(), None)
        }
        ["apis", "apps", "v1", kind] | ["api", "v1", kind] => (None, kind.to_string(), None),
        ["api", "v1", "namespaces", ns, "pods", pod, "log"] => {
            (Some(ns.to_string()), "log".into(), Some(pod.to_string()))
        }
        _ => {
            let body = status(404, "NotFound", "no such path");
            return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
        }
    };
    if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let ns_label = namespace.clone().unwrap_or_else(|| "*".into());
    if let Some(pod) = log_pod {
        return logs(&shared, &ns_label, &pod, uri.query().unwrap_or(""));
    }
    {
        let data = shared.data.lock().unwrap();
        if let Some((code, reason)) = data.refuse.clone() {
            let body = status(code, &reason, "refused by the fake");
            let code = StatusCode::from_u16(code).unwrap();
            return (code, axum::Json(body)).into_response();
        }
    }
    let selector = query.get("labelSelector");
    let is_watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if !is_watch {
        let mut data = shared.data.lock().unwrap();
        data.requests.push(format!("LIST {kind} {ns_label}"));
        if data.malformed {
            return (StatusCode::OK, "{\"items\": [not json").into_response();
        }
        let items: Vec<Value> = data
            .objects
            .get(&kind)
            .map(|m| {
                m.values()
                    .filter(|o| {
                        namespace
                            .as_deref()
                            .is_none_or(|ns| str_at(o, "namespace") == ns)
                    })
                    .filter(|o| labels_match(o, selector))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let (api_version, k) = type_of(&kind);
        let body = json!({"apiVersion": api_version, "kind": format!("{k}List"),
            "metadata": {"resourceVersion": data.rv.to_string()}, "items": items});
        return axum::Json(body).into_response();
    }

    let since: u64 = query
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let kill = shared.watch_kill.lock().unwrap().clone();
    let mut changes = shared.changes.subscribe();
    if shared.data.lock().unwrap().malformed {
        return (
            StatusCode::OK,
            "{\"type\": \"ADDED\", \"object\": [garbage\n",
        )
            .into_response();
    }
    let (backlog, expired) = {
        let mut data = shared.data.lock().unwrap();
        data.requests.push(format!("WATCH {kind} {ns_label}"));
        *data.open_watches.entry(kind.clone()).or_default() += 1;
        let backlog: Vec<Change> = data
            .history
            .iter()
            .filter(|c| c.rv > since)
            .cloned()
            .collect();
        (backlog, data.expire_watches)
    };
    let selector = selector.cloned();
    let relevant = move |c: &Change| {
        c.kind == kind
            && namespace.as_deref().is_none_or(|ns| c.namespace == ns)
            && labels_match(&c.object, selector.as_ref())
    };
    let kind_for_count = type_key(&uri);
    let shared2 = shared.clone();
    tokio::spawn(async move {
        let line = |v: Value| Bytes::from(format!("{v}\n"));
        'stream: {
            if expired {
                let err = status(
                    410,
                    "Expired",
                    &format!("too old resource version: {since}"),
                );
                let _ = tx.send(line(json!({"type": "ERROR", "object": err}))).await;
                break 'stream;
            }
            let mut last = since;
            for c in backlog.into_iter().filter(|c| relevant(c)) {
                last = c.rv;
                if tx
                    .send(line(json!({"type": c.type_, "object": c.object})))
                    .await
                    .is_err()
                {
                    break 'stream;
                }
            }
            loop {
                let change = tokio::select! {
                    _ = kill.cancelled() => break,
                    _ = stop.cancelled() => break,
                    _ = tx.closed() => break,
                    c = changes.recv() => match c { Ok(c) => c, Err(_) => break },
                };
                if change.rv <= last || !relevant(&change) {
                    continue;
                }
                last = change.rv;
                let event = json!({"type": change.type_, "object": change.object});
                if tx.send(line(event)).await.is_err() {
                    break;
                }
            }
        }
        let mut data = shared2.data.lock().unwrap();
        *data.open_watches.entry(kind_for_count).or_default() -= 1;
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

fn type_key(uri: &Uri) -> String {
    uri.path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn logs(shared: &Arc<Shared>, namespace: &str, pod: &str, query: &str) -> Response {
    let mut data = shared.data.lock().unwrap();
    data.requests
        .push(format!("LOG {namespace}/{pod} ?{query}"));
    let key = format!("{namespace}/{pod}");
    let Some(text) = data.logs.get(&key).cloned() else {
        let body = status(404, "NotFound", &format!("pods \"{pod}\" not found"));
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let follow = data.following.contains(&key);
    data.open_logs += 1;
    drop(data);
    // Sent in small chunks so lines are split across reads.
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let shared = shared.clone();
    tokio::spawn(async move {
        for c in text.as_bytes().chunks(37) {
            if tx.send(Bytes::copy_from_slice(c)).await.is_err() {
                break;
            }
        }
        if follow {
            tx.closed().await;
        }
        drop(tx);
        shared.data.lock().unwrap().open_logs -= 1;
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from_stream(body))
        .unwrap()
}
