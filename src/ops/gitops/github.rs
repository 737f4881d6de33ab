//! The GitHub REST calls GitOps promote makes on the manifests repository: the contents API (read a
//! file with its blob sha, write it with that sha), git refs (a branch from the base's head) and
//! pull requests. Every call has the configured timeout; failures are a typed `GitHubError`.
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// The file changed since it was read (409 sha mismatch, or 422 without/with a stale sha).
    #[error("{path} on {branch} changed since it was read (blob {sha})")]
    ShaMismatch {
        path: String,
        branch: String,
        sha: String,
    },
    #[error("not found: {0}")]
    NotFound(String),
    /// 401, or 403 without rate limiting.
    #[error("unauthorized ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// A git ref that already exists (422 "Reference already exists").
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("unexpected response: {0}")]
    Decode(String),
}

/// A file read from the contents API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub text: String,
    /// The blob sha to send back when writing.
    pub sha: String,
}

/// The commit a contents write made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
}

/// A client for one repository.
#[derive(Clone)]
pub struct Repo {
    http: reqwest::Client,
    base: String,
    /// `owner/name`.
    pub full_name: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("base", &self.base)
            .field("full_name", &self.full_name)
            .finish()
    }
}

#[derive(Deserialize)]
struct ContentsBody {
    content: Option<String>,
    encoding: Option<String>,
    sha: String,
}

impl Repo {
    pub fn new(base: &str, full_name: &str, token: Option<String>, timeout: Duration) -> Repo {
        Repo {
            http: crate::backend::http::client_with_timeout(timeout),
            base: base.trim_end_matches('/').to_string(),
            full_name: full_name.to_string(),
            token,
            timeout,
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/repos/{}/{tail}", self.base, self.full_name)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> Result<(u16, Value), GitHubError> {
        let mut req = self
            .http
            .request(method, &url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                GitHubError::Decode(format!(
                    "HTTP {status}: {}",
                    crate::backend::http::snippet(&bytes)
                ))
            })?
        };
        Ok((status, value))
    }

    fn transport(&self, e: &reqwest::Error) -> GitHubError {
        match crate::backend::http::classify(e) {
            crate::backend::http::Transport::Timeout => {
                GitHubError::Timeout(self.timeout.as_secs())
            }
            crate::backend::http::Transport::Unreachable(m) => GitHubError::Unreachable(m),
        }
    }

    fn error(status: u16, v: &Value, what: &str) -> GitHubError {
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .map(crate::text::sanitize)
            .map(|m| m.into_owned())
            .unwrap_or_default();
        match status {
            404 => GitHubError::NotFound(what.to_string()),
            401 | 403 => GitHubError::Unauthorized { status, message },
            _ => GitHubError::Status { status, message },
        }
    }

    /// `GET /repos/{o}/{r}`: whether the caller may push (`permissions.push`); `None` when the
    /// answer carries no `permissions` (GitHub sends them to authenticated callers only).
    pub async fn can_push(&self) -> Result<Option<bool>, GitHubError> {
        let url = format!("{}/repos/{}", self.base, self.full_name);
        let (status, v) = self.send(reqwest::Method::GET, url, None).await?;
        if status != 200 {
            return Err(Self::error(status, &v, &self.full_name));
        }
        Ok(v.pointer("/permissions/push").and_then(Value::as_bool))
    }

    /// `GET /repos/{o}/{r}/contents/{path}?ref={branch}`: the decoded text and its blob sha.
    pub async fn get_file(&self, path: &str, branch: &str) -> Result<FileContent, GitHubError> {
        let url = format!(
            "{}?ref={}",
            self.url(&format!("contents/{}", enc(path))),
            enc(branch)
        );
        let what = format!("{}:{path} on {branch}", self.full_name);
        let (status, v) = self.send(reqwest::Method::GET, url, None).await?;
        if status != 200 {
            return Err(Self::error(status, &v, &what));
        }
        let body: ContentsBody =
            serde_json::from_value(v).map_err(|e| GitHubError::Decode(format!("{what}: {e}")))?;
        if body.encoding.as_deref() != Some("base64") {
            return Err(GitHubError::Decode(format!(
                "{what}: not a base64-encoded file (a directory, or larger than 1 MB?)"
            )));
        }
        // GitHub wraps the base64 at 60 columns.
        let packed: String = body
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .map_err(|e| GitHubError::Decode(format!("{what}: base64: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| GitHubError::Decode(format!("{what}: not UTF-8")))?;
        Ok(FileContent {
            text,
            sha: body.sha,
        })
    }

    /// `PUT /repos/{o}/{r}/contents/{path}` with the blob sha read before: a 409 (or a 422 about
    /// the sha) means someone else changed the file in between.
    pub async fn put_file(
        &self,
        path: &str,
        branch: &str,
        text: &str,
        sha: &str,
        message: &str,
    ) -> Result<Commit, GitHubError> {
        let body = json!({
            "message": message,
            "content": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            "sha": sha,
            "branch": branch,
        });
        let url = self.url(&format!("contents/{}", enc(path)));
        let (status, v) = self.send(reqwest::Method::PUT, url, Some(body)).await?;
        let mismatch = status == 409
            || (status == 422
                && v.get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains("sha")));
        if mismatch {
            return Err(GitHubError::ShaMismatch {
                path: path.into(),
                branch: branch.into(),
                sha: sha.into(),
            });
        }
        if status != 200 && status != 201 {
            return Err(Self::error(
                status,
                &v,
                &format!("{}:{path}", self.full_name),
            ));
        }
        let sha = v
            .pointer("/commit/sha")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                GitHubError::Decode("contents PUT answered without commit.sha".into())
            })?;
        Ok(Commit {
            sha: sha.to_string(),
            html_url: v
                .pointer("/commit/html_url")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `GET /repos/{o}/{r}/git/ref/heads/{branch}`: the commit sha the branch points at.
    pub async fn branch_head(&self, branch: &str) -> Result<String, GitHubError> {
        let url = self.url(&format!("git/ref/heads/{}", enc(branch)));
        let (status, v) = self.send(reqwest::Method::GET, url, None).await?;
        if status != 200 {
            return Err(Self::error(
                status,
                &v,
                &format!("branch {branch} of {}", self.full_name),
            ));
        }
        v.pointer("/object/sha")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GitHubError::Decode("git ref without object.sha".into()))
    }

    /// `POST /repos/{o}/{r}/git/refs`: a new branch at `sha`.
    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<(), GitHubError> {
        let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
        let (status, v) = self
            .send(reqwest::Method::POST, self.url("git/refs"), Some(body))
            .await?;
        match status {
            201 => Ok(()),
            422 if v
                .get("message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("already exists")) =>
            {
                Err(GitHubError::AlreadyExists(format!("refs/heads/{branch}")))
            }
            _ => Err(Self::error(
                status,
                &v,
                &format!("refs of {}", self.full_name),
            )),
        }
    }

    /// `POST /repos/{o}/{r}/pulls`.
    pub async fn open_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<PullRequest, GitHubError> {
        let req = json!({"title": title, "head": head, "base": base, "body": body});
        let (status, v) = self
            .send(reqwest::Method::POST, self.url("pulls"), Some(req))
            .await?;
        if status != 201 {
            return Err(Self::error(
                status,
                &v,
                &format!("pulls of {}", self.full_name),
            ));
        }
        pull_of(&v)
    }

    /// `GET /repos/{o}/{r}/pulls?head={owner}:{branch}&state=all`: an earlier run's PR.
    pub async fn find_pull(&self, head: &str) -> Result<Option<PullRequest>, GitHubError> {
        let owner = self.full_name.split('/').next().unwrap_or("");
        let url = format!(
            "{}?state=all&head={}:{}",
            self.url("pulls"),
            enc(owner),
            enc(head)
        );
        let (status, v) = self.send(reqwest::Method::GET, url, None).await?;
        if status != 200 {
            return Err(Self::error(
                status,
                &v,
                &format!("pulls of {}", self.full_name),
            ));
        }
        match v.as_array().and_then(|a| a.first()) {
            Some(p) => pull_of(p).map(Some),
            None => Ok(None),
        }
    }
}

/// Percent-encodes what is not unreserved in a path segment or query value (`/` kept between
/// segments by the callers).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pull_of(v: &Value) -> Result<PullRequest, GitHubError> {
    let number = v
        .get("number")
        .and_then(Value::as_u64)
        .ok_or_else(|| GitHubError::Decode("pull request without number".into()))?;
    Ok(PullRequest {
        number,
        html_url: v
            .get("html_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoding_keeps_paths_and_escapes_the_rest() {
        assert_eq!(
            super::enc("production/web/deployment.yaml"),
            "production/web/deployment.yaml"
        );
        assert_eq!(super::enc("a b/c#d?e"), "a%20b/c%23d%3Fe");
    }
}
