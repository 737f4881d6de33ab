//! The simulated OCI registry: `/v2/`, tags/list (with `n`/`last` and a `Link` when `n` is given),
//! manifests GET/HEAD/PUT/DELETE, blob uploads (POST + PUT) and blobs, answering with the status
//! codes, headers and `errors[]` bodies docker-registry 2.8.2 gives. The CI simulation pushes into
//! it in-process (`SimRegistry::push_image`).
use crate::backend::registry::{EMPTY_GZIP, OCI_MANIFEST, SmallImage, natural_cmp, sha256_digest};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Default)]
struct Repo {
    tags: BTreeMap<String, String>,
    manifests: HashMap<String, (String, Bytes)>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    blobs: HashMap<String, Bytes>,
    uploads: HashMap<String, Vec<u8>>,
    next_upload: u64,
}

/// The registry's data, shared by the HTTP server and in-process pushers.
#[derive(Clone)]
pub struct SimRegistry {
    state: Arc<Mutex<State>>,
    delete_enabled: bool,
}

impl SimRegistry {
    pub fn new(delete_enabled: bool) -> SimRegistry {
        SimRegistry {
            state: Arc::new(Mutex::new(State::default())),
            delete_enabled,
        }
    }

    /// The digest `push_image` gives an image labelled `label` (the same label, the same digest).
    pub fn image_digest(label: &str) -> String {
        SmallImage::new(label).digest
    }

    /// Stores a small OCI image (config labelled `label`) under `repo:tag`; returns its digest.
    pub fn push_image(&self, repo: &str, tag: &str, label: &str) -> String {
        let img = SmallImage::new(label);
        if let Ok(mut st) = self.state.lock() {
            st.blobs.insert(img.config_digest, Bytes::from(img.config));
            st.blobs
                .insert(img.layer_digest, Bytes::from_static(EMPTY_GZIP));
            let r = st.repos.entry(repo.to_string()).or_default();
            r.manifests.insert(
                img.digest.clone(),
                (OCI_MANIFEST.to_string(), Bytes::from(img.manifest)),
            );
            r.tags.insert(tag.to_string(), img.digest.clone());
        }
        img.digest
    }

    /// Tags of a repository, sorted naturally.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.repos.get(repo).map(|r| r.tags.keys().cloned().collect()))
            .unwrap_or_default();
        v.sort_by(|a, b| natural_cmp(a, b));
        v
    }

    pub fn digest(&self, repo: &str, tag: &str) -> Option<String> {
        let st = self.state.lock().ok()?;
        st.repos.get(repo)?.tags.get(tag).cloned()
    }

    pub fn router(&self) -> axum::Router {
        let reg = self.clone();
        axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let reg = reg.clone();
                async move { reg.handle(method, uri, headers, body) }
            },
        )
    }

    fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let mut resp = self.dispatch(&method, &uri, &headers, body);
        resp.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        resp
    }

    fn dispatch(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
        let path = uri.path();
        if path == "/v2/" || path == "/v2" {
            return json(StatusCode::OK, "{}".into());
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found", None);
        };
        let query: HashMap<String, String> = uri
            .query()
            .map(|q| {
                url_pairs(q)
                    .into_iter()
                    .collect::<HashMap<String, String>>()
            })
            .unwrap_or_default();
        let Ok(mut st) = self.state.lock() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "lock", None);
        };
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return tags_list(&st, name, &query);
        }
        if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            return match *method {
                Method::GET | Method::HEAD => {
                    get_manifest(&st, name, reference, headers, *method == Method::HEAD)
                }
                Method::PUT => put_manifest(&mut st, name, reference, headers, body),
                Method::DELETE => self.delete_manifest(&mut st, name, reference),
                _ => unsupported(),
            };
        }
        if let Some(name) = rest.strip_suffix("/blobs/uploads/") {
            if *method != Method::POST {
                return unsupported();
            }
            st.next_upload += 1;
            let id = format!("00000000-0000-4000-8000-{:012x}", st.next_upload);
            st.uploads.insert(id.clone(), Vec::new());
            st.repos.entry(name.to_string()).or_default();
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            let loc = format!("http://{host}/v2/{name}/blobs/uploads/{id}?_state=sim-{id}");
            return with_headers(
                StatusCode::ACCEPTED,
                &[
                    ("location", loc),
                    ("docker-upload-uuid", id),
                    ("range", "0-0".into()),
                ],
            );
        }
        if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
            let Some(mut data) = st.uploads.get(id).cloned() else {
                return error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "blob upload unknown to registry",
                    None,
                );
            };
            data.extend_from_slice(&body);
            if *method == Method::PATCH {
                let range = format!("0-{}", data.len().saturating_sub(1));
                st.uploads.insert(id.to_string(), data);
                return with_headers(StatusCode::ACCEPTED, &[("range", range)]);
            }
            if *method != Method::PUT {
                return unsupported();
            }
            let Some(want) = query.get("digest") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                    None,
                );
            };
            let got = sha256_digest(&data);
            if *want != got {
                return error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                    None,
                );
            }
            st.uploads.remove(id);
            st.blobs.insert(got.clone(), Bytes::from(data));
            return with_headers(
                StatusCode::CREATED,
                &[
                    ("location", format!("/v2/{name}/blobs/{got}")),
                    ("docker-content-digest", got),
                ],
            );
        }
        if let Some((_name, digest)) = rest.rsplit_once("/blobs/") {
            return match (method, st.blobs.get(digest)) {
                (&Method::GET | &Method::HEAD, Some(b)) => {
                    let mut r = with_headers(
                        StatusCode::OK,
                        &[
                            ("docker-content-digest", digest.to_string()),
                            ("content-type", "application/octet-stream".into()),
                            ("content-length", b.len().to_string()),
                        ],
                    );
                    if *method == Method::GET {
                        *r.body_mut() = axum::body::Body::from(b.clone());
                    }
                    r
                }
                (&Method::DELETE, _) if !self.delete_enabled => unsupported(),
                (&Method::DELETE, Some(_)) => {
                    st.blobs.remove(digest);
                    with_headers(StatusCode::ACCEPTED, &[])
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    "blob unknown to registry",
                    None,
                ),
            };
        }
        error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found", None)
    }

    fn delete_manifest(&self, st: &mut State, name: &str, reference: &str) -> Response {
        if !is_digest(reference) {
            return error(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
                None,
            );
        }
        if !self.delete_enabled {
            return unsupported();
        }
        let Some(repo) = st.repos.get_mut(name) else {
            return manifest_unknown(None);
        };
        if repo.manifests.remove(reference).is_none() {
            return manifest_unknown(None);
        }
        // Like 2.8.2: deleting a manifest untags every tag that pointed at it.
        repo.tags.retain(|_, d| d != reference);
        with_headers(StatusCode::ACCEPTED, &[])
    }
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn with_headers(status: StatusCode, hs: &[(&'static str, String)]) -> Response {
    let mut r = status.into_response();
    for (k, v) in hs {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<serde_json::Value>,
) -> Response {
    let body =
        serde_json::json!({"errors": [{"code": code, "message": message, "detail": detail}]});
    json(status, body.to_string())
}

fn unsupported() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "The operation is unsupported.",
        None,
    )
}

fn manifest_unknown(tag: Option<&str>) -> Response {
    let detail = tag.map(|t| serde_json::json!({"Tag": t}));
    error(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        "manifest unknown",
        detail,
    )
}

fn tags_list(st: &State, name: &str, query: &HashMap<String, String>) -> Response {
    let Some(repo) = st.repos.get(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            Some(serde_json::json!({"name": name})),
        );
    };
    let all: Vec<&String> = repo.tags.keys().collect();
    if all.is_empty() {
        // 2.8.2 answers `null` once every manifest was deleted.
        return json(
            StatusCode::OK,
            serde_json::json!({"name": name, "tags": null}).to_string(),
        );
    }
    let n = query.get("n").and_then(|n| n.parse::<usize>().ok());
    let Some(n) = n else {
        return json(
            StatusCode::OK,
            serde_json::json!({"name": name, "tags": all}).to_string(),
        );
    };
    let after: Vec<&String> = match query.get("last") {
        Some(last) => all.into_iter().filter(|t| *t > last).collect(),
        None => all,
    };
    let page: Vec<&String> = after.iter().take(n).copied().collect();
    let body = serde_json::json!({"name": name, "tags": page}).to_string();
    let mut r = json(StatusCode::OK, body);
    if after.len() > n
        && let Some(last) = page.last()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "</v2/{name}/tags/list?last={last}&n={n}>; rel=\"next\""
        ))
    {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

fn get_manifest(
    st: &State,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let repo = st.repos.get(name);
    let digest = if is_digest(reference) {
        Some(reference.to_string())
    } else {
        repo.and_then(|r| r.tags.get(reference).cloned())
    };
    let found = digest
        .as_ref()
        .and_then(|d| repo.and_then(|r| r.manifests.get(d)).map(|m| (d, m)));
    let Some((digest, (media_type, body))) = found else {
        let tag = (!is_digest(reference)).then_some(reference);
        return manifest_unknown(tag);
    };
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let is_oci = media_type == OCI_MANIFEST || media_type == OCI_INDEX;
    if is_oci && !accept.contains(media_type.as_str()) {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "OCI manifest found, but accept header does not support OCI manifests",
            None,
        );
    }
    if media_type == DOCKER_V2 && !accept.contains(DOCKER_V2) {
        return error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "manifest invalid",
            None,
        );
    }
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag || v == digest.as_str())
    {
        return with_headers(StatusCode::NOT_MODIFIED, &[("etag", etag)]);
    }
    let mut r = with_headers(
        StatusCode::OK,
        &[
            ("content-type", media_type.clone()),
            ("content-length", body.len().to_string()),
            ("docker-content-digest", digest.clone()),
            ("etag", etag),
        ],
    );
    if !head {
        *r.body_mut() = axum::body::Body::from(body.clone());
    }
    r
}

fn put_manifest(
    st: &mut State,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let invalid = || {
        error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "manifest invalid",
            None,
        )
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return invalid();
    };
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            doc.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let mut referenced = Vec::new();
    if let Some(c) = doc.pointer("/config/digest").and_then(|d| d.as_str()) {
        referenced.push(c.to_string());
    }
    for l in doc
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(d) = l.get("digest").and_then(|d| d.as_str()) {
            referenced.push(d.to_string());
        }
    }
    if let Some(missing) = referenced.iter().find(|d| !st.blobs.contains_key(*d)) {
        return error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
            Some(serde_json::Value::String(missing.clone())),
        );
    }
    let digest = sha256_digest(&body);
    if is_digest(reference) && reference != digest {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            None,
        );
    }
    let repo = st.repos.entry(name.to_string()).or_default();
    repo.manifests.insert(digest.clone(), (media_type, body));
    if !is_digest(reference) {
        repo.tags.insert(reference.to_string(), digest.clone());
    }
    with_headers(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/manifests/{digest}")),
            ("docker-content-digest", digest),
        ],
    )
}

/// A running simulated registry.
pub struct RegistryServer {
    url: String,
    registry: SimRegistry,
    task: tokio::task::JoinHandle<()>,
}

impl RegistryServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// `127.0.0.1:PORT`, the registry host part of image references.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
    pub fn registry(&self) -> &SimRegistry {
        &self.registry
    }
}

impl RegistryServer {
    /// Stops the server and waits until its listener is closed.
    pub async fn shutdown(mut self) {
        // Drop aborts the task too; take it out to await its end.
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        task.abort();
        let _ = task.await;
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `registry` on 127.0.0.1 with an ephemeral port.
pub async fn serve_registry(registry: SimRegistry) -> std::io::Result<RegistryServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = registry.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(RegistryServer {
        url,
        registry,
        task,
    })
}

/// Starts a registry with deletion enabled, seeded with `(repository, tags)`; each tag gets its own
/// image (distinct digest).
pub async fn start_registry(seed: &[(&str, &[&str])]) -> std::io::Result<RegistryServer> {
    let reg = SimRegistry::new(true);
    for (repo, tags) in seed {
        for tag in *tags {
            reg.push_image(repo, tag, &format!("{repo}:{tag}"));
        }
    }
    serve_registry(reg).await
}
