//! Pollers for the CI and registry sources: the latest run per branch of the selected app (and the
//! open run's detail), and the current digest of the (repository, tag) pairs the board shows.
//! They send owned snapshots only when something changed, failures as events with the error text,
//! and back off on errors (honouring a rate limit's retry time).
use crate::backend::ci::{self, CiConfig, CiError, CiProvider};
use crate::backend::registry::{RegistryClient, RegistryError};
use crate::model::pipeline::{Pipeline, RunDetail, RunRef};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest wait between attempts while a source keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// The latest run per branch of `app`, in the configured branch order (branches without a run
    /// are left out).
    Runs {
        app: String,
        pipelines: Arc<[Pipeline]>,
    },
    /// Polling `app` failed; whatever is on screen stays, marked stale with this error.
    Failed {
        app: String,
        error: String,
    },
    /// The provider has no pipeline for `app` (404 for its repo, job or project): the app has no
    /// runs to show; the CI source itself is fine.
    NoPipeline {
        app: String,
        error: String,
    },
    /// The detail of the run opened with `PipelinesHandle::open`.
    Detail {
        run: RunRef,
        detail: Arc<RunDetail>,
    },
    DetailFailed {
        run: RunRef,
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct PollerOptions {
    pub branches: Vec<String>,
    pub interval: Duration,
}

impl From<&CiConfig> for PollerOptions {
    fn from(c: &CiConfig) -> Self {
        PollerOptions {
            branches: c.branches.clone(),
            interval: Duration::from_secs(c.interval_secs.max(1)),
        }
    }
}

#[derive(Debug)]
enum Cmd {
    Select(String),
    Apps(Vec<String>),
    Open(RunRef),
    Close,
    Refresh,
}

/// Steers the CI poller; dropping it stops nothing (use the cancellation token).
#[derive(Debug, Clone)]
pub struct PipelinesHandle {
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl PipelinesHandle {
    /// Polls `app` from now on (immediately).
    pub fn select(&self, app: &str) {
        let _ = self.cmd.send(Cmd::Select(app.to_string()));
    }
    /// Also polls these apps, one per poll in turn, so the board can show every app's CI state.
    pub fn watch_apps(&self, apps: Vec<String>) {
        let _ = self.cmd.send(Cmd::Apps(apps));
    }
    /// Fetches the run's detail now and on every poll until `close`.
    pub fn open(&self, run: RunRef) {
        let _ = self.cmd.send(Cmd::Open(run));
    }
    pub fn close(&self) {
        let _ = self.cmd.send(Cmd::Close);
    }
    /// Polls now (after an action such as approve or re-run).
    pub fn refresh(&self) {
        let _ = self.cmd.send(Cmd::Refresh);
    }
}

/// Wait before the next attempt: the interval, doubled per consecutive failure (capped), and never
/// shorter than a rate limit's retry time.
pub fn next_delay(interval: Duration, failures: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = if failures == 0 {
        interval
    } else {
        interval
            .saturating_mul(1 << failures.min(6))
            .min(MAX_BACKOFF.max(interval))
    };
    retry_after.map_or(backoff, |r| backoff.max(r))
}

struct PollState {
    app: Option<String>,
    /// Every app, polled round-robin one per tick (for the board's CI state).
    apps: Vec<String>,
    next_bg: usize,
    open: Option<RunRef>,
    last_runs: HashMap<String, Arc<[Pipeline]>>,
    last_detail: Option<Arc<RunDetail>>,
    failures: u32,
    retry_after: Option<Duration>,
}

impl PollState {
    fn idle(&self) -> bool {
        self.app.is_none() && self.apps.is_empty()
    }

    /// The selected app, then one other app in turn.
    fn due_apps(&mut self) -> Vec<String> {
        let mut v: Vec<String> = self.app.iter().cloned().collect();
        let others: Vec<&String> = self
            .apps
            .iter()
            .filter(|a| Some(*a) != self.app.as_ref())
            .collect();
        if !others.is_empty() {
            let a = others[self.next_bg % others.len()].clone();
            self.next_bg = self.next_bg.wrapping_add(1);
            v.push(a);
        }
        v
    }
}

async fn poll_app(
    provider: &dyn CiProvider,
    opts: &PollerOptions,
    app: &str,
    st: &mut PollState,
    tx: &mpsc::Sender<PipelineEvent>,
) -> Result<(), CiError> {
    let mut runs = Vec::new();
    let mut error = None;
    for branch in &opts.branches {
        match provider.latest_run(app, branch).await {
            Ok(Some(p)) => runs.push(p),
            Ok(None) => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = error {
        st.last_runs.remove(app);
        let (app, error) = (app.to_string(), e.to_string());
        let event = match e {
            CiError::NotFound(_) => PipelineEvent::NoPipeline { app, error },
            _ => PipelineEvent::Failed { app, error },
        };
        let _ = tx.send(event).await;
        return Err(e);
    }
    let runs: Arc<[Pipeline]> = runs.into();
    if st.last_runs.get(app).map(|r| &**r) != Some(&*runs) {
        // Remember only once sent: a poll dropped mid-send must send again.
        let _ = tx
            .send(PipelineEvent::Runs {
                app: app.to_string(),
                pipelines: runs.clone(),
            })
            .await;
        st.last_runs.insert(app.to_string(), runs);
    }
    Ok(())
}

async fn poll_once(
    provider: &dyn CiProvider,
    opts: &PollerOptions,
    st: &mut PollState,
    tx: &mpsc::Sender<PipelineEvent>,
) {
    let mut failure = None;
    for app in st.due_apps() {
        if let Err(e) = poll_app(provider, opts, &app, st, tx).await {
            failure = Some(e);
            // One failing source fails every app alike; back off instead of trying the rest.
            break;
        }
    }
    match failure {
        Some(e) => {
            st.failures = st.failures.saturating_add(1);
            st.retry_after = match e {
                CiError::RateLimited { retry_after } => Some(retry_after),
                _ => None,
            };
            return;
        }
        None => {
            st.failures = 0;
            st.retry_after = None;
        }
    }
    if let Some(run) = st.open.clone() {
        match ci::run_detail(provider, &run).await {
            Ok(d) => {
                if st.last_detail.as_deref() != Some(&d) {
                    let d = Arc::new(d);
                    let _ = tx
                        .send(PipelineEvent::Detail {
                            run,
                            detail: d.clone(),
                        })
                        .await;
                    st.last_detail = Some(d);
                }
            }
            Err(e) => {
                st.last_detail = None;
                let _ = tx
                    .send(PipelineEvent::DetailFailed {
                        run,
                        error: e.to_string(),
                    })
                    .await;
            }
        }
    }
}

/// Starts the CI poller. It polls nothing until `select(app)` or `watch_apps`.
pub fn spawn_pipelines_poller(
    provider: Arc<dyn CiProvider>,
    opts: PollerOptions,
    tx: mpsc::Sender<PipelineEvent>,
    cancel: CancellationToken,
) -> PipelinesHandle {
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut st = PollState {
            app: None,
            apps: Vec::new(),
            next_bg: 0,
            open: None,
            last_runs: HashMap::new(),
            last_detail: None,
            failures: 0,
            retry_after: None,
        };
        let mut due = tokio::time::Instant::now();
        let mut pending: Option<Cmd> = None;
        loop {
            let cmd = match pending.take() {
                Some(c) => Some(c),
                None => {
                    let wait = async {
                        if !st.idle() {
                            tokio::time::sleep_until(due).await
                        } else {
                            futures::future::pending::<()>().await
                        }
                    };
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        cmd = cmd_rx.recv() => match cmd {
                            None => return,
                            Some(c) => Some(c),
                        },
                        _ = wait => None,
                    }
                }
            };
            if let Some(cmd) = cmd {
                match cmd {
                    Cmd::Select(app) => {
                        if st.app.as_deref() != Some(app.as_str()) {
                            // The new selection's runs are sent even if unchanged since last seen.
                            st.last_runs.remove(&app);
                            st.app = Some(app);
                            st.failures = 0;
                        }
                    }
                    Cmd::Apps(apps) => st.apps = apps,
                    Cmd::Open(run) => {
                        st.open = Some(run);
                        st.last_detail = None;
                    }
                    Cmd::Close => {
                        st.open = None;
                        st.last_detail = None;
                        continue;
                    }
                    Cmd::Refresh => {}
                }
                due = tokio::time::Instant::now();
                continue;
            }
            // A command arriving mid-poll drops this poll (its replies would be for the old
            // selection); the command is handled next and polls again at once.
            tokio::select! {
                _ = cancel.cancelled() => return,
                cmd = cmd_rx.recv() => match cmd {
                    None => return,
                    Some(c) => { pending = Some(c); continue; }
                },
                _ = poll_once(&*provider, &opts, &mut st, &tx) => {}
            }
            due = tokio::time::Instant::now()
                + next_delay(opts.interval, st.failures, st.retry_after);
        }
    });
    PipelinesHandle { cmd: cmd_tx }
}

/// The CI poller for the configured `[ci]` source (with `apps[].pipeline` overrides); `None` when
/// CI is not configured.
pub fn spawn_pipelines_poller_from_config(
    config: &crate::config::Config,
    tx: mpsc::Sender<PipelineEvent>,
    cancel: CancellationToken,
) -> Result<Option<PipelinesHandle>, CiError> {
    let (Some(cfg), Some(provider)) = (&config.ci, ci::from_config(config)?) else {
        return Ok(None);
    };
    Ok(Some(spawn_pipelines_poller(
        provider,
        PollerOptions::from(cfg),
        tx,
        cancel,
    )))
}

/// What the registry says about one (repository, tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagState {
    Digest(String),
    /// The tag (or repository) no longer exists.
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RegistryEvent {
    /// Current state of every watched (repository, tag); the board flags a running digest that
    /// differs from `TagState::Digest`.
    Tags(Arc<BTreeMap<(String, String), TagState>>),
    Failed {
        error: String,
    },
}

/// Steers the registry poller.
#[derive(Debug, Clone)]
pub struct RegistryHandle {
    watch: tokio::sync::watch::Sender<Vec<(String, String)>>,
}

impl RegistryHandle {
    /// Replaces the set of (repository, tag) pairs checked; checks now when it changed.
    pub fn watch(&self, mut pairs: Vec<(String, String)>) {
        pairs.sort();
        pairs.dedup();
        self.watch.send_if_modified(|cur| {
            let changed = *cur != pairs;
            if changed {
                *cur = pairs;
            }
            changed
        });
    }
}

/// Starts the registry digest poller (HEAD per pair, no quota spent on manifest bodies).
pub fn spawn_registry_poller(
    client: Arc<RegistryClient>,
    interval: Duration,
    tx: mpsc::Sender<RegistryEvent>,
    cancel: CancellationToken,
) -> RegistryHandle {
    let (wtx, mut wrx) = tokio::sync::watch::channel(Vec::<(String, String)>::new());
    tokio::spawn(async move {
        let mut last: Option<Arc<BTreeMap<(String, String), TagState>>> = None;
        let mut failures = 0u32;
        let mut retry_after = None;
        loop {
            let pairs = wrx.borrow_and_update().clone();
            if !pairs.is_empty() {
                let results = client.tag_digests(&pairs).await;
                let mut map = BTreeMap::new();
                let mut error: Option<RegistryError> = None;
                for (k, r) in results {
                    match r {
                        Ok(d) => {
                            map.insert(k, TagState::Digest(d));
                        }
                        Err(RegistryError::NotFound { .. }) => {
                            map.insert(k, TagState::Missing);
                        }
                        Err(e) => error = Some(e),
                    }
                }
                match error {
                    Some(e) => {
                        failures = failures.saturating_add(1);
                        retry_after = match &e {
                            RegistryError::RateLimited { retry_after } => *retry_after,
                            _ => None,
                        };
                        last = None;
                        let _ = tx
                            .send(RegistryEvent::Failed {
                                error: e.to_string(),
                            })
                            .await;
                    }
                    None => {
                        failures = 0;
                        retry_after = None;
                        let map = Arc::new(map);
                        if last.as_deref() != Some(&*map) {
                            last = Some(map.clone());
                            let _ = tx.send(RegistryEvent::Tags(map)).await;
                        }
                    }
                }
            }
            let delay = next_delay(interval, failures, retry_after);
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = wrx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(delay) => {}
            }
        }
    });
    RegistryHandle { watch: wtx }
}

/// The registry digest poller for the configured `[registry]`; `None` when it is not configured.
pub fn spawn_registry_poller_from_config(
    config: &crate::config::Config,
    tx: mpsc::Sender<RegistryEvent>,
    cancel: CancellationToken,
) -> Result<Option<RegistryHandle>, RegistryError> {
    let Some(cfg) = &config.registry else {
        return Ok(None);
    };
    let client = Arc::new(RegistryClient::new(cfg)?);
    let interval = Duration::from_secs(cfg.interval_secs.max(1));
    Ok(Some(spawn_registry_poller(client, interval, tx, cancel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        let i = Duration::from_secs(10);
        assert_eq!(next_delay(i, 0, None), i);
        assert_eq!(next_delay(i, 1, None), Duration::from_secs(20));
        assert_eq!(next_delay(i, 20, None), MAX_BACKOFF);
        assert_eq!(
            next_delay(i, 0, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
    }
}
