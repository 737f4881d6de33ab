//! Resilient watches: one `watcher` per (namespace, kind) feeding an aggregator that keeps compact
//! projections and sends one debounced, owned snapshot when something changed.
use super::client::{WATCH_TIMEOUT_SECS, describe_watcher, is_expired};
use crate::backend::kube::KubeEvent;
use crate::msg::Msg;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long changes are collected before one snapshot is sent.
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// A watch healthy this long resets the backoff; a watch that fails sooner after each fresh list
/// keeps backing off, so a list-works-but-watch-fails server does not get a list storm.
pub const HEALTHY_RESET: Duration = Duration::from_secs(120);

/// What one watcher tells its aggregator.
#[derive(Debug)]
pub enum Op<V> {
    /// A complete (re)list: replaces everything the slot held.
    Reset(usize, BTreeMap<String, V>),
    Apply(usize, String, V),
    Delete(usize, String),
    Failed(usize, String),
}

/// Exponential backoff with jitter, 800 ms to 30 s, like kube's `default_backoff`.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let base = 800u64.saturating_mul(1 << self.attempt.min(6)).min(30_000);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = rand::random_range(0.5..=1.0);
        Duration::from_millis((base as f64 * jitter) as u64)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// After a 401/403: at least 30 s (jittered up to 36 s), so a refusing server sees at most one
    /// retry per 30 s per watch. A quick retry would not help: a rotated token or a fixed RBAC
    /// binding is picked up by the next attempt either way, and an audit log of refusals every
    /// second is what gets a console's credentials revoked.
    pub fn refused_delay(&mut self) -> Duration {
        self.attempt = self.attempt.max(6);
        Duration::from_millis((REFUSED_RETRY_MS as f64 * rand::random_range(1.0..=1.2)) as u64)
    }
}

/// The wait after an authentication or authorization refusal.
pub const REFUSED_RETRY_MS: u64 = 30_000;

/// Sleeps unless cancelled first; false when cancelled.
pub async fn pause(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

pub fn watcher_config(labels: Option<&str>) -> watcher::Config {
    let config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
    match labels {
        Some(l) if !l.is_empty() => config.labels(l),
        _ => config,
    }
}

/// Runs one watcher for `slot` until cancelled, sending ops. A failure is reported and the watcher
/// is rebuilt after a backoff (its fresh list is what proves the source is back); a 410 is reported
/// and the watcher re-lists by itself.
pub async fn run_slot<K, V, P>(
    api: Api<K>,
    config: watcher::Config,
    slot: usize,
    project: P,
    ops: mpsc::Sender<Op<V>>,
    cancel: CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    P: Fn(&K) -> Option<V>,
{
    let key = |k: &K| format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any());
    let mut backoff = Backoff::default();
    let mut live_since: Option<Instant> = None;
    loop {
        let mut refused = false;
        let stream = watcher(api.clone(), config.clone()).default_backoff();
        futures::pin_mut!(stream);
        let mut pending: Option<BTreeMap<String, V>> = None;
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => return,
                item = stream.next() => item,
            };
            let op = match item {
                None => break,
                Some(Ok(watcher::Event::Init)) => {
                    pending = Some(BTreeMap::new());
                    continue;
                }
                Some(Ok(watcher::Event::InitApply(obj))) => {
                    if let (Some(p), Some(v)) = (pending.as_mut(), project(&obj)) {
                        p.insert(key(&obj), v);
                    }
                    continue;
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    live_since.get_or_insert_with(Instant::now);
                    Op::Reset(slot, pending.take().unwrap_or_default())
                }
                Some(Ok(watcher::Event::Apply(obj))) => match project(&obj) {
                    Some(v) => Op::Apply(slot, key(&obj), v),
                    // Filtered out now (it may have matched before).
                    None => Op::Delete(slot, key(&obj)),
                },
                Some(Ok(watcher::Event::Delete(obj))) => Op::Delete(slot, key(&obj)),
                Some(Err(e)) => {
                    let expired = is_expired(&e);
                    refused = super::client::is_refusal(&e);
                    tracing::warn!(slot, error = %e, "watch failed");
                    if ops
                        .send(Op::Failed(slot, describe_watcher(&e)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if expired {
                        continue;
                    }
                    if live_since
                        .take()
                        .is_some_and(|t| t.elapsed() >= HEALTHY_RESET)
                    {
                        backoff.reset();
                    }
                    break;
                }
            };
            if ops.send(op).await.is_err() {
                return;
            }
        }
        let delay = if refused {
            backoff.refused_delay()
        } else {
            backoff.next_delay()
        };
        if !pause(delay, &cancel).await {
            return;
        }
    }
}

/// Merges the slots of one (environment, kind), debounces, and sends snapshots and health.
pub struct Aggregator<V> {
    pub env: String,
    pub kind: &'static str,
    pub slots: usize,
    /// Builds the message for a snapshot (sorts, filters, caps). Items are shared with the cache:
    /// a snapshot copies pointers, not objects.
    pub snapshot: fn(&str, Vec<Arc<V>>) -> KubeEvent,
}

impl<V: Send + Sync> Aggregator<V> {
    pub async fn run(
        self,
        mut ops: mpsc::Receiver<Op<V>>,
        tx: mpsc::Sender<Msg>,
        cancel: CancellationToken,
    ) {
        let mut maps: Vec<BTreeMap<String, Arc<V>>> = vec![BTreeMap::new(); self.slots];
        // Per slot: has answered at least once (data or failure); is live now.
        let mut answered = vec![false; self.slots];
        let mut live = vec![false; self.slots];
        let mut dirty = false;
        let mut deadline: Option<Instant> = None;
        loop {
            let op = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = sleep_until(deadline) => {
                    deadline = None;
                    if dirty && answered.iter().all(|a| *a) {
                        dirty = false;
                        if !self.send(&tx, &maps, &cancel).await { return; }
                    }
                    continue;
                }
                op = ops.recv() => match op { Some(op) => op, None => return },
            };
            let mut now = false;
            match op {
                Op::Reset(slot, map) => {
                    if let Some(m) = maps.get_mut(slot) {
                        *m = map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
                    }
                    set(&mut answered, slot);
                    set(&mut live, slot);
                    dirty = true;
                    // A (re)list is sent at once: first data as fast as the server answers.
                    now = true;
                }
                Op::Apply(slot, key, v) => {
                    if let Some(m) = maps.get_mut(slot) {
                        m.insert(key, Arc::new(v));
                    }
                    dirty = true;
                }
                Op::Delete(slot, key) => {
                    if let Some(m) = maps.get_mut(slot) {
                        dirty |= m.remove(&key).is_some();
                    }
                }
                Op::Failed(slot, error) => {
                    set(&mut answered, slot);
                    if let Some(l) = live.get_mut(slot) {
                        *l = false;
                    }
                    let msg = KubeEvent::Failed {
                        env: self.env.clone(),
                        kind: self.kind,
                        error,
                    };
                    if !send(&tx, msg, &cancel).await {
                        return;
                    }
                }
            }
            if !answered.iter().all(|a| *a) {
                continue;
            }
            if now && dirty {
                dirty = false;
                deadline = None;
                if !self.send(&tx, &maps, &cancel).await {
                    return;
                }
                if live.iter().all(|l| *l) {
                    let msg = KubeEvent::Live {
                        env: self.env.clone(),
                        kind: self.kind,
                    };
                    if !send(&tx, msg, &cancel).await {
                        return;
                    }
                }
            } else if dirty && deadline.is_none() {
                deadline = Some(Instant::now() + DEBOUNCE);
            }
        }
    }

    async fn send(
        &self,
        tx: &mpsc::Sender<Msg>,
        maps: &[BTreeMap<String, Arc<V>>],
        cancel: &CancellationToken,
    ) -> bool {
        let items: Vec<Arc<V>> = maps.iter().flat_map(|m| m.values().cloned()).collect();
        send(tx, (self.snapshot)(&self.env, items), cancel).await
    }
}

fn set(flags: &mut [bool], slot: usize) {
    if let Some(f) = flags.get_mut(slot) {
        *f = true;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Sends to the UI unless cancelled first; false when the UI is gone or the task is cancelled.
pub async fn send(tx: &mpsc::Sender<Msg>, event: KubeEvent, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = tx.send(Msg::Kube(event)) => r.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregator(slots: usize) -> Aggregator<i32> {
        Aggregator {
            env: "e".into(),
            kind: "deployments",
            slots,
            snapshot: |env, items| KubeEvent::LogLines {
                request: env.len() as u64,
                lines: items.iter().map(|i| i.to_string()).collect(),
            },
        }
    }

    async fn next(rx: &mut mpsc::Receiver<Msg>) -> KubeEvent {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(Msg::Kube(e))) => e,
            other => panic!("no message: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_every_slot_then_debounces_changes() {
        let (ops_tx, ops_rx) = mpsc::channel(16);
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        tokio::spawn(aggregator(2).run(ops_rx, tx, cancel.clone()));
        ops_tx
            .send(Op::Reset(0, [("a".into(), 1)].into()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(rx.try_recv().is_err(), "sent before every slot answered");
        ops_tx
            .send(Op::Reset(1, [("b".into(), 2)].into()))
            .await
            .unwrap();
        assert!(
            matches!(next(&mut rx).await, KubeEvent::LogLines { lines, .. } if lines == ["1", "2"])
        );
        assert!(matches!(next(&mut rx).await, KubeEvent::Live { .. }));
        let t0 = Instant::now();
        ops_tx.send(Op::Apply(0, "a".into(), 5)).await.unwrap();
        ops_tx.send(Op::Apply(1, "c".into(), 6)).await.unwrap();
        let snap = next(&mut rx).await;
        assert!(matches!(snap, KubeEvent::LogLines { lines, .. } if lines == ["5", "2", "6"]));
        assert_eq!(t0.elapsed(), DEBOUNCE, "one snapshot after the debounce");
        ops_tx.send(Op::Failed(1, "timeout".into())).await.unwrap();
        assert!(
            matches!(next(&mut rx).await, KubeEvent::Failed { error, .. } if error == "timeout")
        );
        ops_tx.send(Op::Delete(0, "absent".into())).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(rx.try_recv().is_err(), "a no-op delete sent a snapshot");
        cancel.cancel();
    }

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(400) && first <= Duration::from_millis(800));
        for _ in 0..10 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(800));
        // A refusal waits at least 30 s, the first one too.
        b.reset();
        for _ in 0..3 {
            let refused = b.refused_delay();
            assert!(refused >= Duration::from_secs(30) && refused <= Duration::from_secs(36));
        }
    }
}
