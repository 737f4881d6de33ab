//! The Kubernetes backend: one client per environment, watchers per (environment, kind), compact
//! projections, debounced owned snapshots sent to the UI.
use crate::config::{Config, Environment};
use crate::model::{DeploymentView, EventView, PodView, ReplicaSetView};
use crate::msg::Msg;
use client::ClientSource;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub mod client;
mod detail;
pub mod logs;
pub mod project;
pub mod watch;

/// Ops queued between the watchers and their aggregator; a full queue slows the watchers.
const OPS_CAPACITY: usize = 256;

/// What the Kubernetes backend tells the UI. Snapshots are whole and owned: the UI replaces its copy.
#[derive(Debug, Clone)]
pub enum KubeEvent {
    /// Every Deployment of the environment's namespace(s), sent (debounced) when something changed.
    Deployments {
        env: String,
        items: crate::model::Deployments,
    },
    /// ReplicaSets of the Deployment opened in the detail view (by its selector), newest revision
    /// first.
    ReplicaSets {
        env: String,
        items: Arc<[ReplicaSetView]>,
    },
    /// Pods of the Deployment opened in the detail view (by its selector), sorted by name.
    Pods { env: String, items: Arc<[PodView]> },
    /// Events about the Deployment opened in the detail view and its ReplicaSets and Pods:
    /// Warnings first, then newest first, at most 100.
    Events {
        env: String,
        items: Arc<[EventView]>,
    },
    /// A watch failed; the data on screen stays, marked stale. The watch retries with backoff.
    /// `kind`: "deployments", "replicasets", "pods" or "events".
    Failed {
        env: String,
        kind: &'static str,
        error: String,
    },
    /// A watch (re)connected and completed its initial list.
    Live { env: String, kind: &'static str },
    /// Lines of a pod log stream (already split, unsanitized).
    LogLines { request: u64, lines: Vec<String> },
    /// The log stream ended (error when it failed).
    LogEnded { request: u64, error: Option<String> },
}

/// The Kubernetes backend: watches every environment's Deployments from `spawn` on; the detail
/// (ReplicaSets, Pods, Events of one Deployment) and one log stream on request.
///
/// Every method returns at once; work runs on the runtime `spawn` was called on, and results
/// arrive as `Msg::Kube(..)` on `tx`. Cancelling `cancel` stops everything.
pub struct KubeBackend {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: tokio::runtime::Handle,
    sources: BTreeMap<String, ClientSource>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
    detail: Mutex<Option<CancellationToken>>,
    logs: Mutex<Option<CancellationToken>>,
}

impl KubeBackend {
    /// Starts one Deployments watch per environment. Must be called inside a tokio runtime.
    pub fn spawn(config: &Config, tx: mpsc::Sender<Msg>, cancel: CancellationToken) -> KubeBackend {
        let sources = config
            .environments
            .iter()
            .map(|e| (e.name.clone(), ClientSource::for_env(config, e)))
            .collect();
        let inner = Arc::new(Inner {
            runtime: tokio::runtime::Handle::current(),
            sources,
            tx,
            // A child: dropping the backend stops its tasks, never the caller's token.
            cancel: cancel.child_token(),
            detail: Mutex::new(None),
            logs: Mutex::new(None),
        });
        for env in &config.environments {
            inner.runtime.spawn(deployments_task(
                env.name.clone(),
                DeploymentWatch::plan(config, env),
                ClientSource::for_env(config, env),
                inner.tx.clone(),
                inner.cancel.child_token(),
            ));
        }
        KubeBackend { inner }
    }

    /// Watches the ReplicaSets and Pods matching `selector` and the namespace's Events about the
    /// Deployment; replaces the detail opened before.
    pub fn open_detail(
        &self,
        env: &str,
        namespace: &str,
        deployment: &str,
        selector: BTreeMap<String, String>,
    ) {
        let token = self.inner.replace(&self.inner.detail);
        let Some(source) = self.inner.sources.get(env).cloned() else {
            return;
        };
        self.inner.runtime.spawn(detail::run(
            detail::DetailRequest {
                env: env.to_string(),
                namespace: namespace.to_string(),
                deployment: deployment.to_string(),
                selector,
            },
            source,
            self.inner.tx.clone(),
            token,
        ));
    }

    pub fn close_detail(&self) {
        self.inner.stop(&self.inner.detail);
    }

    /// Follows a pod's log (last 200 lines, then new ones) as `LogLines{request}` batches, then
    /// `LogEnded{request}`; replaces the stream started before.
    pub fn stream_logs(
        &self,
        request: u64,
        env: &str,
        namespace: &str,
        pod: &str,
        container: Option<String>,
    ) {
        let token = self.inner.replace(&self.inner.logs);
        let req = logs::LogRequest {
            request,
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container,
        };
        let tx = self.inner.tx.clone();
        match self.inner.sources.get(env).cloned() {
            Some(source) => {
                self.inner
                    .runtime
                    .spawn(logs::stream(source, req, tx, token));
            }
            None => {
                let error = Some(format!("unknown environment {env:?}"));
                self.inner.runtime.spawn(async move {
                    watch::send(&tx, KubeEvent::LogEnded { request, error }, &token).await
                });
            }
        }
    }

    pub fn stop_logs(&self) {
        self.inner.stop(&self.inner.logs);
    }
}

impl Drop for KubeBackend {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl Inner {
    /// Cancels the task in `slot` and stores a fresh token for its successor.
    fn replace(&self, slot: &Mutex<Option<CancellationToken>>) -> CancellationToken {
        let token = self.cancel.child_token();
        if let Ok(mut guard) = slot.lock()
            && let Some(old) = guard.replace(token.clone())
        {
            old.cancel();
        }
        token
    }

    fn stop(&self, slot: &Mutex<Option<CancellationToken>>) {
        if let Ok(mut guard) = slot.lock()
            && let Some(old) = guard.take()
        {
            old.cancel();
        }
    }
}

/// Which watches an environment's Deployments need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentWatch {
    /// One watch per namespace (a fixed namespace, or one per configured app for `{app}` patterns).
    Namespaces(Vec<String>),
    /// `{app}` pattern with apps discovered: watch all namespaces and keep a Deployment `d` only
    /// when it lives in `pattern` with `{app}` = `d`'s name.
    AllMatching { pattern: String },
}

impl DeploymentWatch {
    pub fn plan(config: &Config, env: &Environment) -> DeploymentWatch {
        if !env.namespace_is_pattern() {
            return DeploymentWatch::Namespaces(vec![env.namespace.clone()]);
        }
        if config.apps.is_empty() {
            return DeploymentWatch::AllMatching {
                pattern: env.namespace.clone(),
            };
        }
        let namespaces: BTreeSet<String> = config
            .apps
            .iter()
            .map(|a| env.namespace_for(&a.name))
            .collect();
        DeploymentWatch::Namespaces(namespaces.into_iter().collect())
    }
}

/// Watches one environment's Deployments until cancelled: builds the client (retrying with
/// backoff, so a bad context is a `Failed`, not a crash), then runs the watches and the aggregator.
async fn deployments_task(
    env: String,
    plan: DeploymentWatch,
    source: ClientSource,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    const KIND: &str = "deployments";
    let Some(client) = client_or_retry(&env, KIND, &source, &tx, &cancel).await else {
        return;
    };
    let (ops_tx, ops_rx) = mpsc::channel(OPS_CAPACITY);
    let config = watch::watcher_config(None);
    let slots = match plan {
        DeploymentWatch::Namespaces(namespaces) => {
            for (slot, ns) in namespaces.iter().enumerate() {
                let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                let project = |d: &Deployment| Some(project::deployment(d));
                let task = watch::run_slot(
                    api,
                    config.clone(),
                    slot,
                    project,
                    ops_tx.clone(),
                    cancel.clone(),
                );
                tokio::spawn(task);
            }
            namespaces.len()
        }
        DeploymentWatch::AllMatching { pattern } => {
            let api: Api<Deployment> = Api::all(client.clone());
            let project = move |d: &Deployment| {
                let v = project::deployment(d);
                (v.namespace == pattern.replace("{app}", &v.name)).then_some(v)
            };
            tokio::spawn(watch::run_slot(
                api,
                config,
                0,
                project,
                ops_tx.clone(),
                cancel.clone(),
            ));
            1
        }
    };
    drop(ops_tx);
    let aggregator = watch::Aggregator {
        env,
        kind: KIND,
        slots,
        snapshot: |env: &str, mut items: Vec<Arc<DeploymentView>>| {
            items.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            KubeEvent::Deployments {
                env: env.to_string(),
                items: items.into(),
            }
        },
    };
    aggregator.run(ops_rx, tx, cancel).await;
}

/// Builds a client, reporting failures as `Failed{env, kind}` and retrying with backoff.
pub(crate) async fn client_or_retry(
    env: &str,
    kind: &'static str,
    source: &ClientSource,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> Option<kube::Client> {
    let mut backoff = watch::Backoff::default();
    loop {
        match source.client().await {
            Ok(client) => return Some(client),
            Err(error) => {
                tracing::warn!(env, kind, %error, "no kubernetes client");
                let failed = KubeEvent::Failed {
                    env: env.to_string(),
                    kind,
                    error,
                };
                if !watch::send(tx, failed, cancel).await
                    || !watch::pause(backoff.next_delay(), cancel).await
                {
                    return None;
                }
            }
        }
    }
}
