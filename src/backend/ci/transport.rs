//! The HTTP layer the CI providers share: base URL, auth, a timeout on every call, typed errors,
//! conditional GETs (ETag → `If-None-Match`, 304 reuses the cached body) and rate-limit back-off
//! (`x-ratelimit-remaining/reset`, `Retry-After`: once limited, calls fail fast until the time passes).
use super::CiError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes of a log kept while streaming it; only the tail is ever shown.
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// Cached conditional-GET bodies kept; the poller only ever asks for a few URLs per app.
const MAX_CACHED: usize = 512;
/// Wait when a secondary limit gives neither `Retry-After` nor a reset time (GitHub: at least a minute).
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic {
        user: String,
        token: Option<String>,
    },
    /// A named header (GitLab `PRIVATE-TOKEN`).
    Header(HeaderName, String),
}

pub struct Transport {
    client: reqwest::Client,
    base: String,
    auth: Auth,
    timeout: Duration,
    headers: HeaderMap,
    conditional: bool,
    cache: Mutex<HashMap<String, (HeaderValue, bytes::Bytes)>>,
    blocked_until: Mutex<Option<Instant>>,
}

impl Transport {
    pub fn new(base: &str, auth: Auth, timeout: Duration, headers: HeaderMap) -> Transport {
        Transport {
            client: crate::backend::http::client(),
            base: base.trim_end_matches('/').to_string(),
            auth,
            timeout,
            headers,
            conditional: false,
            cache: Mutex::new(HashMap::new()),
            blocked_until: Mutex::new(None),
        }
    }

    /// Sends `If-None-Match` with the last ETag of each GET and reuses the body on 304.
    pub fn with_conditional(mut self) -> Transport {
        self.conditional = true;
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .request(method, self.url(path))
            .timeout(self.timeout)
            .headers(self.headers.clone());
        rb = match &self.auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t),
            Auth::Basic { user, token } => rb.basic_auth(user, token.as_deref()),
            Auth::Header(name, value) => rb.header(name.clone(), value.as_str()),
        };
        rb
    }

    fn check_blocked(&self) -> Result<(), CiError> {
        let mut guard = self.blocked_until.lock().map_err(|_| CiError::Http {
            status: None,
            message: "poisoned lock".into(),
        })?;
        if let Some(until) = *guard {
            let now = Instant::now();
            if now < until {
                return Err(CiError::RateLimited {
                    retry_after: until - now,
                });
            }
            *guard = None;
        }
        Ok(())
    }

    fn block_for(&self, d: Duration) {
        if let Ok(mut g) = self.blocked_until.lock() {
            *g = Some(Instant::now() + d);
        }
    }

    /// Sends a request built by `request`, mapping transport failures and error statuses to `CiError`.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, CiError> {
        self.check_blocked()?;
        let resp = rb.send().await.map_err(map_reqwest)?;
        self.note_limits(resp.headers());
        let status = resp.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED || status.is_redirection() {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = read_bounded(resp, 16 * 1024).await.unwrap_or_default();
        let err = status_error(status, &headers, &body);
        if let CiError::RateLimited { retry_after } = &err {
            self.block_for(*retry_after);
        }
        Err(err)
    }

    /// Primary limit exhausted on a successful answer: stop until the reset instead of hammering.
    fn note_limits(&self, headers: &HeaderMap) {
        if header_u64(headers, "x-ratelimit-remaining") == Some(0)
            && let Some(d) = reset_in(headers)
        {
            self.block_for(d);
        }
    }

    /// GET a JSON document; with conditional requests on, an unchanged document costs a 304.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CiError> {
        let bytes = self.get_bytes(path).await?;
        serde_json::from_slice(&bytes).map_err(|e| CiError::Decode(format!("{path}: {e}")))
    }

    pub async fn get_bytes(&self, path: &str) -> Result<bytes::Bytes, CiError> {
        let key = self.url(path);
        let mut rb = self.request(Method::GET, path);
        let cached = if self.conditional {
            self.cache.lock().ok().and_then(|c| c.get(&key).cloned())
        } else {
            None
        };
        if let Some((etag, _)) = &cached {
            rb = rb.header(reqwest::header::IF_NONE_MATCH, etag.clone());
        }
        let resp = self.send(rb).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return match cached {
                Some((_, body)) => Ok(body),
                None => Err(CiError::Decode(format!(
                    "{path}: 304 without a cached body"
                ))),
            };
        }
        let etag = resp.headers().get(reqwest::header::ETAG).cloned();
        let body = resp.bytes().await.map_err(map_reqwest)?;
        if self.conditional
            && let Some(etag) = etag
            && let Ok(mut c) = self.cache.lock()
        {
            if c.len() >= MAX_CACHED {
                c.clear();
            }
            c.insert(key, (etag, body.clone()));
        }
        Ok(body)
    }

    /// GET a plain-text log, keeping only its last `MAX_LOG_BYTES`, and return its last `max_lines`.
    pub async fn get_log_tail(&self, path: &str, max_lines: usize) -> Result<Vec<String>, CiError> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        let text = read_tail(resp, MAX_LOG_BYTES).await?;
        Ok(tail_lines(&text, max_lines))
    }
}

/// The last `max` lines of a text, without a trailing empty line.
pub fn tail_lines(text: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = text.trim_end_matches(['\n', '\r']).lines().collect();
    let start = lines.len().saturating_sub(max);
    // A terminal shows what follows the last carriage return (progress bars, GitLab section markers).
    lines[start..]
        .iter()
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or(l).to_string()
        })
        .collect()
}

async fn read_tail(mut resp: reqwest::Response, max: usize) -> Result<String, CiError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
        buf.extend_from_slice(&chunk);
        if buf.len() > 2 * max {
            buf.drain(..buf.len() - max);
        }
    }
    if buf.len() > max {
        buf.drain(..buf.len() - max);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<String, CiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
        buf.extend_from_slice(&chunk);
        if buf.len() >= max {
            buf.truncate(max);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub fn map_reqwest(e: reqwest::Error) -> CiError {
    if e.is_timeout() {
        CiError::Timeout
    } else if e.is_decode() || e.is_body() {
        CiError::Decode(e.to_string())
    } else {
        CiError::Http {
            status: e.status().map(|s| s.as_u16()),
            message: if e.is_connect() {
                "unreachable".to_string()
            } else {
                e.to_string()
            },
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Time until `x-ratelimit-reset` (epoch seconds), at least one second.
fn reset_in(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_u64(headers, "x-ratelimit-reset")
        .or_else(|| header_u64(headers, "ratelimit-reset"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// The message of an error body: GitHub/GitLab `message` (a string or an object), `error`, or the text.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let m = v.get("message").or_else(|| v.get("error"));
        match m {
            Some(serde_json::Value::String(s)) => return s.clone(),
            Some(other) => return other.to_string(),
            None => {}
        }
    }
    let t = body.trim();
    crate::text::truncate(t, 200).into_owned()
}

pub fn status_error(status: StatusCode, headers: &HeaderMap, body: &str) -> CiError {
    let message = error_message(body);
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0)
        || header_u64(headers, "ratelimit-remaining") == Some(0);
    match status.as_u16() {
        429 => CiError::RateLimited {
            retry_after: retry_after
                .or_else(|| reset_in(headers))
                .unwrap_or(DEFAULT_BACKOFF),
        },
        403 if retry_after.is_some() || exhausted => CiError::RateLimited {
            retry_after: retry_after
                .or_else(|| reset_in(headers))
                .unwrap_or(DEFAULT_BACKOFF),
        },
        401 => CiError::Unauthorized(message),
        403 => CiError::Forbidden(message),
        404 => CiError::NotFound(message),
        409 => CiError::Conflict(message),
        s => CiError::Http {
            status: Some(s),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            error_message(r#"{"message":"Bad credentials"}"#),
            "Bad credentials"
        );
        assert_eq!(
            error_message(r#"{"message":{"error":"x"}}"#),
            r#"{"error":"x"}"#
        );
        assert_eq!(
            error_message(r#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(error_message("<html>oops</html>"), "<html>oops</html>");
    }

    #[test]
    fn statuses() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS, &h, ""),
            CiError::RateLimited { retry_after } if retry_after == Duration::from_secs(30)
        ));
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN, &h, ""),
            CiError::RateLimited { .. }
        ));
        let empty = HeaderMap::new();
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN, &empty, "{}"),
            CiError::Forbidden(_)
        ));
        assert!(matches!(
            status_error(StatusCode::NOT_FOUND, &empty, ""),
            CiError::NotFound(_)
        ));
    }

    #[test]
    fn tails() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(tail_lines("a\r\nb\r\n", 5), vec!["a", "b"]);
        assert!(tail_lines("", 3).is_empty());
        assert_eq!(
            tail_lines("section_start:1:x\r\u{1b}[0Kbuild\n", 1),
            vec!["\u{1b}[0Kbuild"]
        );
    }
}
