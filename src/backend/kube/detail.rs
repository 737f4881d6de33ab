//! The detail watches: one Deployment's ReplicaSets and Pods (by its selector) and the Events about
//! it, each projected, debounced and sent as a snapshot until the detail is closed.
use super::client::ClientSource;
use super::{KubeEvent, OPS_CAPACITY, client_or_retry, project, watch};
use crate::msg::Msg;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events kept per detail (Warnings first, then newest).
pub const EVENTS_CAP: usize = 100;

pub struct DetailRequest {
    pub env: String,
    pub namespace: String,
    pub deployment: String,
    pub selector: BTreeMap<String, String>,
}

pub async fn run(
    req: DetailRequest,
    source: ClientSource,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let Some(client) = client_or_retry(&req.env, "pods", &source, &tx, &cancel).await else {
        return;
    };
    let labels = project::selector_string(&req.selector);
    let config = watch::watcher_config(Some(&labels));

    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &req.namespace);
    spawn_one(
        &req.env,
        "replicasets",
        rs_api,
        config.clone(),
        |r: &ReplicaSet| Some(project::replica_set(r)),
        |env, items| {
            let mut items = owned(items);
            items.sort_by(|a, b| b.revision.cmp(&a.revision).then(a.name.cmp(&b.name)));
            KubeEvent::ReplicaSets {
                env: env.to_string(),
                items: items.into(),
            }
        },
        &tx,
        &cancel,
    );

    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &req.namespace);
    spawn_one(
        &req.env,
        "pods",
        pod_api,
        config,
        |p: &Pod| Some(project::pod(p)),
        |env, items| {
            let mut items = owned(items);
            items.sort_by(|a, b| a.name.cmp(&b.name));
            KubeEvent::Pods {
                env: env.to_string(),
                items: items.into(),
            }
        },
        &tx,
        &cancel,
    );

    // Events cannot be selected by name prefix on the server: watch the namespace, keep ours.
    let event_api: Api<Event> = Api::namespaced(client, &req.namespace);
    let deployment = req.deployment.clone();
    spawn_one(
        &req.env,
        "events",
        event_api,
        watch::watcher_config(None),
        move |e: &Event| {
            let v = project::event(e);
            project::event_concerns(&v, &deployment).then_some(v)
        },
        |env, items| KubeEvent::Events {
            env: env.to_string(),
            items: project::order_events(owned(items), EVENTS_CAP).into(),
        },
        &tx,
        &cancel,
    );
}

/// One Deployment's ReplicaSets, Pods and Events are few: the detail owns copies.
fn owned<V: Clone>(items: Vec<Arc<V>>) -> Vec<V> {
    items.iter().map(|v| V::clone(v)).collect()
}

#[allow(clippy::too_many_arguments)]
fn spawn_one<K, V, P>(
    env: &str,
    kind: &'static str,
    api: Api<K>,
    config: kube::runtime::watcher::Config,
    project: P,
    snapshot: fn(&str, Vec<Arc<V>>) -> KubeEvent,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    V: Clone + Send + Sync + 'static,
    P: Fn(&K) -> Option<V> + Send + 'static,
{
    let (ops_tx, ops_rx) = mpsc::channel(OPS_CAPACITY);
    tokio::spawn(watch::run_slot(
        api,
        config,
        0,
        project,
        ops_tx,
        cancel.clone(),
    ));
    let aggregator = watch::Aggregator {
        env: env.to_string(),
        kind,
        slots: 1,
        snapshot,
    };
    tokio::spawn(aggregator.run(ops_rx, tx.clone(), cancel.clone()));
}
