//! OCI distribution client: tags (following `Link`, sorted client-side), manifest HEAD/GET with the
//! full `Accept` list and the digest from `Docker-Content-Digest`, delete by digest, push (blobs and
//! manifests, for seeding), Bearer token auth from the `WWW-Authenticate` challenge, Basic auth, and
//! `errors[].code` bodies as typed errors.
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Every manifest kind we understand; registry 2.8 downgrades to schema 1 (another digest) or hides
/// OCI manifests when a type is missing.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_PAGES: usize = 1000;

pub mod image;
pub use image::*;

/// `[registry]` in config.toml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL, such as `https://registry.example.com` (the client adds `/v2/`).
    pub url: String,
    /// User for Basic auth and for the token endpoint.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding a ready Bearer token (skips the token endpoint).
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_interval() -> u64 {
    60
}
fn default_timeout() -> u64 {
    10
}

impl RegistryConfig {
    pub fn new(url: &str) -> RegistryConfig {
        RegistryConfig {
            url: url.to_string(),
            username: None,
            password_env: None,
            password_file: None,
            token_env: None,
            interval_secs: default_interval(),
            timeout_secs: default_timeout(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{code}: {message}")]
    NotFound { code: String, message: String },
    /// Deletion disabled (registry 2.8: 405 UNSUPPORTED), or the registry has no OCI delete at all.
    #[error("unsupported by the registry: {0}")]
    Unsupported(String),
    #[error("invalid digest: {0}")]
    DigestInvalid(String),
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    #[error("timed out")]
    Timeout,
    #[error("malformed response: {0}")]
    Decode(String),
    #[error("HTTP {status} {code}: {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub info: ManifestInfo,
    pub body: bytes::Bytes,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

pub struct RegistryClient {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
    basic: Option<(String, Option<String>)>,
    static_token: Option<String>,
    /// Bearer tokens by repository, from the last challenge answered.
    tokens: Mutex<HashMap<String, String>>,
}

fn map_reqwest(e: reqwest::Error) -> RegistryError {
    if e.is_timeout() {
        RegistryError::Timeout
    } else if e.is_connect() {
        RegistryError::Unreachable(e.to_string())
    } else {
        RegistryError::Decode(e.to_string())
    }
}

/// An error answer → typed error, from the status and the first `errors[].code`.
pub fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RegistryError {
    let first = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.errors.into_iter().next());
    let (code, message) = match first {
        Some(e) => (e.code, e.message),
        None => (
            String::new(),
            crate::text::truncate(String::from_utf8_lossy(body).trim(), 200).into_owned(),
        ),
    };
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs);
    match (status.as_u16(), code.as_str()) {
        (_, "UNSUPPORTED") | (405, _) => RegistryError::Unsupported(message),
        (_, "DIGEST_INVALID") => RegistryError::DigestInvalid(message),
        (429, _) | (_, "TOOMANYREQUESTS") => RegistryError::RateLimited { retry_after },
        (401, _) | (_, "UNAUTHORIZED") => RegistryError::Unauthorized(message),
        (403, _) | (_, "DENIED") => RegistryError::Denied(message),
        (404, _) => RegistryError::NotFound { code, message },
        (s, _) => RegistryError::Http {
            status: s,
            code,
            message,
        },
    }
}

/// `Bearer realm="...",service="...",scope="..."` → (realm, params).
pub fn parse_challenge(h: &str) -> Option<(String, Vec<(String, String)>)> {
    let rest = h
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| h.trim().strip_prefix("bearer "))?;
    let mut realm = None;
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        if key.eq_ignore_ascii_case("realm") {
            realm = Some(value);
        } else {
            params.push((key, value));
        }
        s = tail.trim_start_matches([',', ' ']);
    }
    Some((realm?, params))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("link")?.to_str().ok()?;
    v.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

impl RegistryClient {
    pub fn new(cfg: &RegistryConfig) -> Result<RegistryClient, RegistryError> {
        let secret = |env: Option<&str>, file: Option<&std::path::Path>| {
            crate::backend::ci::load_secret(env, file)
                .map_err(|e| RegistryError::Config(e.to_string()))
        };
        let password = secret(cfg.password_env.as_deref(), cfg.password_file.as_deref())?;
        let static_token = secret(cfg.token_env.as_deref(), None)?;
        Ok(RegistryClient {
            client: crate::backend::http::client(),
            base: cfg.url.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            basic: cfg.username.clone().map(|u| (u, password)),
            static_token,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn absolute(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    /// Sends a request (rebuilt by `make` for the retry); answers a Bearer challenge once, a Basic
    /// challenge with the configured credentials.
    async fn send(
        &self,
        repo: &str,
        make: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let cached = self
            .static_token
            .clone()
            .or_else(|| self.tokens.lock().ok().and_then(|t| t.get(repo).cloned()));
        let mut rb = make(&self.client).timeout(self.timeout);
        rb = match (&cached, &self.basic) {
            (Some(t), _) => rb.bearer_auth(t),
            (None, Some((u, p))) => rb.basic_auth(u, p.as_deref()),
            (None, None) => rb,
        };
        let resp = rb.send().await.map_err(map_reqwest)?;
        if resp.status() != StatusCode::UNAUTHORIZED || self.static_token.is_some() {
            return self.check(resp).await;
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let Some((realm, params)) = challenge else {
            return self.check(resp).await;
        };
        let token = self.fetch_token(&realm, &params).await?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(repo.to_string(), token.clone());
        }
        let resp = make(&self.client)
            .timeout(self.timeout)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(map_reqwest)?;
        self.check(resp).await
    }

    async fn fetch_token(
        &self,
        realm: &str,
        params: &[(String, String)],
    ) -> Result<String, RegistryError> {
        let mut rb = self.client.get(realm).timeout(self.timeout).query(params);
        if let Some((u, p)) = &self.basic {
            rb = rb.basic_auth(u, p.as_deref());
        }
        let resp = self.check(rb.send().await.map_err(map_reqwest)?).await?;
        let body = resp.bytes().await.map_err(map_reqwest)?;
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Decode(format!("token endpoint: {e}")))?;
        reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Decode("token endpoint: no token".into()))
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, RegistryError> {
        let status = resp.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(error_from(status, &headers, &body))
    }

    /// `GET /v2/`: reachable and authorised.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let url = self.absolute("/v2/");
        self.send("", &|c| c.get(&url)).await.map(|_| ())
    }

    /// Every tag, sorted naturally. Registry 2.8.2 answers in readdir order and ignores `n`;
    /// `tags: null` (all deleted) is an empty list.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        self.tags_paged(repo, None).await
    }

    /// Like `tags`, asking for pages of `page_size` and following `Link: <…>; rel="next"`.
    pub async fn tags_paged(
        &self,
        repo: &str,
        page_size: Option<usize>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut next = Some(match page_size {
            Some(n) => format!("/v2/{repo}/tags/list?n={n}"),
            None => format!("/v2/{repo}/tags/list"),
        });
        let mut tags = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(RegistryError::Decode("tags/list: too many pages".into()));
            }
            let url = self.absolute(&path);
            let resp = self.send(repo, &|c| c.get(&url)).await?;
            next = next_link(resp.headers());
            let body = resp.bytes().await.map_err(map_reqwest)?;
            let list: TagList = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Decode(format!("tags/list: {e}")))?;
            tags.extend(list.tags.unwrap_or_default());
        }
        tags.sort_by(|a, b| natural_cmp(a, b));
        tags.dedup();
        Ok(tags)
    }

    fn info(headers: &HeaderMap, body: Option<&[u8]>) -> Result<ManifestInfo, RegistryError> {
        let digest = headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| body.map(sha256_digest))
            .ok_or_else(|| RegistryError::Decode("no Docker-Content-Digest header".into()))?;
        Ok(ManifestInfo {
            digest,
            media_type: headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            size: headers
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        })
    }

    /// `HEAD /v2/{repo}/manifests/{reference}`: the digest without the body.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<ManifestInfo, RegistryError> {
        let url = self.absolute(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(repo, &|c| {
                c.request(Method::HEAD, &url)
                    .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        Self::info(resp.headers(), None)
    }

    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let url = self.absolute(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(repo, &|c| {
                c.get(&url).header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(map_reqwest)?;
        let mut info = Self::info(&headers, Some(&body))?;
        info.size = Some(body.len() as u64);
        Ok(Manifest { info, body })
    }

    /// `DELETE /v2/{repo}/manifests/{digest}` (202). Registry 2.8 untags every tag on that digest.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> Result<(), RegistryError> {
        let url = self.absolute(&format!("/v2/{repo}/manifests/{digest}"));
        self.send(repo, &|c| c.delete(&url)).await.map(|_| ())
    }

    /// Uploads a blob (POST then PUT with `?digest=`) and returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> Result<String, RegistryError> {
        let digest = sha256_digest(data);
        let url = self.absolute(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self.send(repo, &|c| c.post(&url)).await?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Decode("upload without Location".into()))?;
        let mut put = self.absolute(location);
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(&digest.replace(':', "%3A"));
        let data = bytes::Bytes::copy_from_slice(data);
        self.send(repo, &|c| {
            c.put(&put)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(data.clone())
        })
        .await?;
        Ok(digest)
    }

    /// `PUT /v2/{repo}/manifests/{reference}`; returns `Docker-Content-Digest`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String, RegistryError> {
        let url = self.absolute(&format!("/v2/{repo}/manifests/{reference}"));
        let data = bytes::Bytes::copy_from_slice(body);
        let resp = self
            .send(repo, &|c| {
                c.put(&url)
                    .header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(data.clone())
            })
            .await?;
        Ok(Self::info(resp.headers(), Some(body))?.digest)
    }

    /// Pushes a small OCI image (one empty layer, a config carrying `label`) tagged `tag`.
    pub async fn push_test_image(
        &self,
        repo: &str,
        tag: &str,
        label: &str,
    ) -> Result<String, RegistryError> {
        let layer = self.push_blob(repo, EMPTY_GZIP).await?;
        let config = image_config(label);
        let cfg = self.push_blob(repo, &config).await?;
        let manifest = oci_manifest(&cfg, config.len(), &layer, EMPTY_GZIP.len());
        self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await
    }

    /// The current digest of each (repository, tag): what the board compares running digests with.
    pub async fn tag_digests(
        &self,
        pairs: &[(String, String)],
    ) -> BTreeMap<(String, String), Result<String, RegistryError>> {
        let mut out = BTreeMap::new();
        for (repo, tag) in pairs {
            let r = self.head_manifest(repo, tag).await.map(|i| i.digest);
            out.insert((repo.clone(), tag.clone()), r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn challenge() {
        let (realm, params) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:shop/web:pull,delete""#,
        )
        .unwrap();
        assert_eq!(realm, "https://auth.example/token");
        assert_eq!(
            params,
            vec![
                ("service".to_string(), "registry.example".to_string()),
                (
                    "scope".to_string(),
                    "repository:shop/web:pull,delete".to_string()
                )
            ]
        );
        assert!(parse_challenge(r#"Basic realm="x""#).is_none());
    }

    #[test]
    fn errors() {
        let h = HeaderMap::new();
        let body =
            br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
        assert!(matches!(
            error_from(StatusCode::METHOD_NOT_ALLOWED, &h, body),
            RegistryError::Unsupported(_)
        ));
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            error_from(StatusCode::NOT_FOUND, &h, body),
            RegistryError::NotFound {
                code: "MANIFEST_UNKNOWN".into(),
                message: "manifest unknown".into()
            }
        );
        assert!(matches!(
            error_from(StatusCode::BAD_GATEWAY, &h, b"<html>"),
            RegistryError::Http { status: 502, .. }
        ));
    }

    #[test]
    fn links() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static("</v2/x/tags/list?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/x/tags/list?last=b&n=2"));
    }
}
