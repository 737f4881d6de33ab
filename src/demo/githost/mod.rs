//! The simulated GitHub for GitOps: manifests repositories served over the GitHub REST subset
//! GitOps promote uses (`http`), their data (`repo`), and a CD controller (`cd`, Argo CD–like) that
//! applies the default branch's images to the Deployments shortly after each change.
pub mod cd;
pub mod http;
pub mod repo;

use axum::http::{Method, Uri};
use bytes::Bytes;
use repo::{Pull, Repo, RepoError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub type ClockFn = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// Someone else's commits landing just before our next writes (tests of the sha conflict).
#[derive(Debug, Clone)]
struct Interference {
    repo: String,
    path: String,
    remaining: usize,
}

pub struct State {
    base: String,
    repos: BTreeMap<String, Repo>,
    /// (method, path) of every request, in order.
    requests: Vec<(String, String)>,
    interfere: Vec<Interference>,
    /// A default branch moved during this request: wake the CD controller.
    pending_change: bool,
    /// The token may read only: writes answer 403 and `permissions.push` is false.
    read_only: bool,
}

impl State {
    /// Before a contents write: if a test asked for interference on this file, another author
    /// commits to it first (a comment line appended), so the write's sha is stale.
    fn interfere_now(&mut self, full: &str, branch: &str, file: &str, now: jiff::Timestamp) {
        let Some(i) = self
            .interfere
            .iter_mut()
            .find(|i| i.repo == full && i.path == file && i.remaining > 0)
        else {
            return;
        };
        i.remaining -= 1;
        let n = i.remaining;
        let Some(r) = self.repos.get_mut(full) else {
            return;
        };
        let Some((mut text, blob)) = r.file(branch, file) else {
            return;
        };
        text.extend_from_slice(format!("# touched by someone else ({n})\n").as_bytes());
        let done = r.put_file(
            branch,
            file,
            text,
            Some(&blob),
            "someone else's change",
            "someone-else",
            now,
        );
        if done.is_ok() && branch == r.default_branch {
            self.pending_change = true;
        }
    }
}

pub struct Shared {
    state: Mutex<State>,
    clock: ClockFn,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// A default branch moved.
    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// A file's text on a branch (or commit).
    pub fn file(&self, repo: &str, rev: &str, path: &str) -> Option<String> {
        self.with(|s| {
            let (bytes, _) = s.repos.get(repo)?.file(rev, path)?;
            String::from_utf8(bytes).ok()
        })
        .flatten()
    }

    /// The commit a branch points at.
    pub fn head(&self, repo: &str, branch: &str) -> Option<String> {
        self.with(|s| s.repos.get(repo)?.refs.get(branch).cloned())
            .flatten()
    }

    pub fn default_branch(&self, repo: &str) -> Option<String> {
        self.with(|s| s.repos.get(repo).map(|r| r.default_branch.clone()))
            .flatten()
    }
}

/// A running simulated GitHub for manifests.
pub struct GitHost {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    cd: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for GitHost {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(cd) = &self.cd {
            cd.abort();
        }
    }
}

impl std::fmt::Debug for GitHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHost").field("url", &self.url()).finish()
    }
}

impl GitHost {
    /// Serves on `addr` (port 0: ephemeral); timestamps come from `clock`.
    pub async fn start(addr: SocketAddr, clock: ClockFn) -> std::io::Result<GitHost> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (changes, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                base: format!("http://{addr}"),
                repos: BTreeMap::new(),
                requests: vec![],
                interfere: vec![],
                pending_change: false,
                read_only: false,
            }),
            clock,
            changes,
        });
        let sh = shared.clone();
        let router = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let sh = sh.clone();
            async move { http::handle(&sh, method, uri, body) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(GitHost {
            addr,
            shared,
            task,
            cd: None,
        })
    }

    /// The API base (`http://127.0.0.1:PORT`), GitHub's `https://api.github.com`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Creates an empty repository (one initial commit on `default_branch`).
    pub fn create_repo(&self, full_name: &str, default_branch: &str) {
        let now = (self.shared.clock)();
        self.shared.with(|s| {
            s.repos
                .entry(full_name.to_string())
                .or_insert_with(|| Repo::new(full_name, default_branch, now));
        });
    }

    /// Commits a file to a branch as `author` (seeding, or a test's concurrent change).
    pub fn commit_file(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        text: &str,
        message: &str,
        author: &str,
    ) -> Result<String, RepoError> {
        let now = (self.shared.clock)();
        let out = self
            .shared
            .with(|s| {
                let r = s.repos.get_mut(repo).ok_or(RepoError {
                    status: 404,
                    message: "Not Found".into(),
                })?;
                let current = r.file(branch, path).map(|(_, b)| b);
                let default = r.default_branch == branch;
                r.put_file(
                    branch,
                    path,
                    text.as_bytes().to_vec(),
                    current.as_deref(),
                    message,
                    author,
                    now,
                )
                .map(|(c, _, _)| (c, default))
            })
            .unwrap_or(Err(RepoError {
                status: 500,
                message: "state poisoned".into(),
            }))?;
        if out.1 {
            self.shared.changed();
        }
        Ok(out.0)
    }

    pub fn file(&self, repo: &str, rev: &str, path: &str) -> Option<String> {
        self.shared.file(repo, rev, path)
    }

    pub fn head(&self, repo: &str, branch: &str) -> Option<String> {
        self.shared.head(repo, branch)
    }

    /// (sha, message, author) of a branch's first-parent history, newest first.
    pub fn log(&self, repo: &str, branch: &str) -> Vec<(String, String, String)> {
        self.shared
            .with(|s| {
                s.repos
                    .get(repo)
                    .map(|r| {
                        r.log(branch)
                            .into_iter()
                            .map(|c| (c.sha.clone(), c.message.clone(), c.author.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    pub fn branches(&self, repo: &str) -> Vec<String> {
        self.shared
            .with(|s| {
                s.repos
                    .get(repo)
                    .map(|r| r.refs.keys().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    pub fn pulls(&self, repo: &str) -> Vec<Pull> {
        self.shared
            .with(|s| {
                s.repos
                    .get(repo)
                    .map(|r| r.pulls.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Merges a pull request as a reviewer would (same as `PUT /pulls/{n}/merge`).
    pub fn merge(&self, repo: &str, number: u64) -> Result<String, RepoError> {
        let now = (self.shared.clock)();
        let sha = self
            .shared
            .with(|s| {
                let r = s.repos.get_mut(repo).ok_or(RepoError {
                    status: 404,
                    message: "Not Found".into(),
                })?;
                r.merge_pull(number, None, "merge", now)
            })
            .unwrap_or(Err(RepoError {
                status: 500,
                message: "state poisoned".into(),
            }))?;
        self.shared.changed();
        Ok(sha)
    }

    /// The next `times` contents writes to `path` each find that someone else committed to it
    /// just before (their sha is stale: 409).
    pub fn interfere(&self, repo: &str, path: &str, times: usize) {
        self.shared.with(|s| {
            s.interfere.push(Interference {
                repo: repo.into(),
                path: path.into(),
                remaining: times,
            })
        });
    }

    /// Answers as to a read-only token (`permissions.push` false, writes 403).
    pub fn set_read_only(&self, read_only: bool) {
        self.shared.with(|s| s.read_only = read_only);
    }

    /// (method, path) of every request served, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.with(|s| s.requests.clone()).unwrap_or_default()
    }

    /// Starts the CD controller for these targets (replacing a running one).
    pub fn start_cd(
        &mut self,
        world: crate::demo::world::World,
        targets: Vec<cd::CdTarget>,
        delay: std::time::Duration,
    ) {
        if let Some(old) = self.cd.take() {
            old.abort();
        }
        self.cd = Some(cd::spawn(self.shared.clone(), world, targets, delay));
    }

    pub async fn shutdown(mut self) {
        if let Some(cd) = self.cd.take() {
            cd.abort();
            let _ = cd.await;
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}
