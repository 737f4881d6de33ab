//! The one HTTP client constructor: rustls, a connect and a total timeout on every call.
//! Also the small pieces every HTTP backend shares: bearer tokens, form bodies, error snippets.
use std::path::Path;
use std::time::Duration;

/// Timeout for a whole request unless a caller sets a shorter one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn client() -> reqwest::Client {
    client_with_timeout(DEFAULT_TIMEOUT)
}

/// The shared client shape with a caller-chosen total timeout.
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    crate::install_crypto();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A secret from an environment variable or the first line of a file (the variable wins); `Ok(None)`
/// when neither is set. The one reader for every source's `token_env`/`token_file`.
pub fn read_token(env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(format!("environment variable {var} is not set")),
        };
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
        // The first line: a trailing newline or a comment line after it is not part of the token.
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Err(format!("token file {} is empty", path.display()));
        }
        return Ok(Some(line.to_string()));
    }
    Ok(None)
}

/// `application/x-www-form-urlencoded` body for a POST (reqwest's `form` feature is not enabled).
pub fn form_encode(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The start of a response body for an error message: lossy UTF-8, sanitized, at most 200 cells.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    crate::text::cell(text.trim(), 200)
}

/// How a transport failure is reported: a timeout, or the server could not be reached / read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Timeout,
    Unreachable(String),
}

pub fn classify(e: &reqwest::Error) -> Transport {
    if e.is_timeout() {
        Transport::Timeout
    } else {
        // The source chain carries the useful part ("Connection refused").
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        Transport::Unreachable(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("query", "sum(x{a=\"b c\"})".into()), ("t", "1.5".into())]),
            "query=sum%28x%7Ba%3D%22b+c%22%7D%29&t=1.5"
        );
    }
}
