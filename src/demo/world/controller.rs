//! The controller task: reacts to store changes and to due timers (a heap of pod transitions and
//! progress-deadline checks), never by rescanning the cluster, so a large idle estate costs nothing.
use super::clock::SimClock;
use super::events::Recorder;
use super::model::{Deploy, Key, Pod, Rs, key};
use super::traffic::TrafficTable;
use crate::demo::kube_api::LogBook;
use crate::demo::store::{EventType, Kind, Store, StoreEvent, WriteOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// Simulated nodes pods are scheduled on.
pub const NODES: [&str; 4] = ["node-1", "node-2", "node-3", "node-4"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// The pod's next lifecycle step (stale unless it matches `Pod::next_due`).
    Pod(Key),
    /// Progress-deadline check of a Deployment.
    Deadline(Key),
    /// Re-sync a Deployment (minReadySeconds elapsed).
    Sync(Key),
    /// The "life" loop: develop gets a new build now and then.
    Life,
    /// Access-log lines for running pods (small estates only).
    Logs,
}

/// Periodic access-log lines are written only up to this many running pods.
pub const LOG_FEED_MAX_PODS: usize = 300;
pub const LOG_EVERY_MS: i64 = 2000;

/// Messages from the `World` handle.
#[derive(Debug)]
pub enum Cmd {
    Shutdown,
}

/// Timings of the pod lifecycle in sim milliseconds (ranges are drawn uniformly).
#[derive(Debug, Clone)]
pub struct Timings {
    pub pending_ms: (i64, i64),
    pub readiness_ms: (i64, i64),
    pub crash_ms: (i64, i64),
    pub terminate_ms: (i64, i64),
    /// Interval of the life loop; None = off.
    pub life_every_ms: Option<i64>,
}

impl Default for Timings {
    fn default() -> Timings {
        Timings {
            pending_ms: (1000, 2500),
            readiness_ms: (1500, 3500),
            crash_ms: (1000, 2500),
            terminate_ms: (1000, 2000),
            life_every_ms: None,
        }
    }
}

pub struct Controller {
    pub store: Store,
    pub clock: Arc<SimClock>,
    pub rng: StdRng,
    pub deploys: HashMap<Key, Deploy>,
    pub rss: HashMap<Key, Rs>,
    pub pods: HashMap<Key, Pod>,
    pub timers: BinaryHeap<Reverse<(i64, u64, Task)>>,
    pub(super) seq: u64,
    pub dirty_d: BTreeSet<Key>,
    pub dirty_rs: BTreeSet<Key>,
    /// Statuses changed in the current flush, written at its end.
    pub(super) pending_status_d: BTreeSet<Key>,
    pub(super) pending_status_rs: BTreeSet<Key>,
    pub rec: Recorder,
    pub traffic: Arc<TrafficTable>,
    pub bad_marker: String,
    pub timings: Timings,
    pub(super) ip_counter: u32,
    pub logs: LogBook,
    /// Seeding: pods are Ready at once and deleted at once, so history builds without timers.
    pub instant: bool,
    /// Namespace the life loop deploys new builds to.
    pub life_ns: Option<String>,
    pub(super) log_seq: u64,
    /// Resolves a new container's image to its registry digest (`imageID`).
    pub digest_of: Option<super::DigestResolver>,
}

pub fn controller_opts() -> WriteOptions {
    WriteOptions {
        field_manager: Some("kube-controller-manager".into()),
        ..WriteOptions::default()
    }
}

/// The write that starts a pod's graceful deletion (sets `deletionTimestamp`).
pub fn graceful_opts() -> WriteOptions {
    WriteOptions {
        graceful_delete: true,
        ..controller_opts()
    }
}

pub fn status_opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(manager.into()),
        subresource: Some("status".into()),
        ..WriteOptions::default()
    }
}

impl Controller {
    pub fn new(
        store: Store,
        clock: Arc<SimClock>,
        seed: u64,
        traffic: Arc<TrafficTable>,
        bad_marker: String,
        logs: LogBook,
    ) -> Controller {
        Controller {
            store,
            clock,
            rng: StdRng::seed_from_u64(seed),
            deploys: HashMap::new(),
            rss: HashMap::new(),
            pods: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            dirty_d: BTreeSet::new(),
            dirty_rs: BTreeSet::new(),
            pending_status_d: BTreeSet::new(),
            pending_status_rs: BTreeSet::new(),
            rec: Recorder::new(),
            traffic,
            bad_marker,
            timings: Timings::default(),
            ip_counter: 0,
            logs,
            instant: false,
            life_ns: None,
            log_seq: 0,
            digest_of: None,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn schedule(&mut self, due: i64, task: Task) {
        self.seq += 1;
        self.timers.push(Reverse((due, self.seq, task)));
    }

    pub fn draw(&mut self, range: (i64, i64)) -> i64 {
        if range.1 <= range.0 {
            range.0
        } else {
            self.rng.random_range(range.0..=range.1)
        }
    }

    pub fn is_bad(&self, image: &str) -> bool {
        // A digest-pinned reference (`repo:1.2-bad@sha256:…`) is judged by its tag.
        let reference = image.split_once('@').map_or(image, |(r, _)| r);
        let tag = crate::model::split_image(reference).1.unwrap_or("");
        !self.bad_marker.is_empty() && tag.contains(&self.bad_marker)
    }

    /// The loop: store events, clock changes, due timers and commands, until shutdown.
    pub async fn run(
        mut self,
        mut rx: broadcast::Receiver<StoreEvent>,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
    ) {
        let mut clock_rx = self.clock.subscribe();
        loop {
            self.run_due();
            self.flush();
            let wait = self
                .timers
                .peek()
                .and_then(|Reverse((due, _, _))| self.clock.wall_until(*due));
            let sleep = async move {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(e) => {
                        self.on_event(&e);
                        while let Ok(e) = rx.try_recv() {
                            self.on_event(&e);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                c = clock_rx.changed() => if c.is_err() { break },
                _ = sleep => {}
                cmd = cmds.recv() => match cmd {
                    None | Some(Cmd::Shutdown) => break,
                },
            }
        }
    }

    /// Pops and runs every timer due by now.
    pub fn run_due(&mut self) {
        let now = self.now_ms();
        while let Some(Reverse((due, _, _))) = self.timers.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((due, _, task))) = self.timers.pop() else {
                break;
            };
            match task {
                Task::Pod(k) => self.on_pod_timer(&k, due),
                Task::Deadline(k) => {
                    if self
                        .deploys
                        .get(&k)
                        .is_some_and(|d| d.deadline_due == Some(due))
                    {
                        if let Some(d) = self.deploys.get_mut(&k) {
                            d.deadline_due = None;
                        }
                        self.dirty_d.insert(k);
                    }
                }
                Task::Sync(k) => {
                    self.dirty_d.insert(k);
                }
                Task::Life => self.life_step(),
                Task::Logs => self.log_step(),
            }
        }
    }

    /// Reconciles dirty Deployments and ReplicaSets until nothing changes (bounded).
    pub fn flush(&mut self) {
        for _ in 0..32 {
            if self.dirty_d.is_empty() && self.dirty_rs.is_empty() {
                break;
            }
            for k in std::mem::take(&mut self.dirty_d) {
                self.sync_deployment(&k);
            }
            for k in std::mem::take(&mut self.dirty_rs) {
                self.sync_rs(&k);
            }
        }
        self.write_pending_statuses();
    }

    /// Steps sim time forward, running timers in order (unit tests drive the controller this way).
    #[cfg(test)]
    pub fn advance_and_run(&mut self, ms: i64) {
        let end = self.now_ms() + ms;
        loop {
            self.flush();
            let next = self.timers.peek().map(|Reverse((d, _, _))| *d);
            match next {
                Some(d) if d <= end => {
                    let now = self.now_ms();
                    if d > now {
                        self.clock
                            .advance(jiff::SignedDuration::from_millis(d - now));
                    }
                    self.run_due();
                }
                _ => break,
            }
        }
        let now = self.now_ms();
        if end > now {
            self.clock
                .advance(jiff::SignedDuration::from_millis(end - now));
        }
        self.run_due();
        self.flush();
    }

    pub fn on_event(&mut self, e: &StoreEvent) {
        let obj = &e.object;
        let md = obj.get("metadata");
        let s = |k: &str| {
            md.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let k = key(s("namespace"), s("name"));
        let uid = s("uid").to_string();
        match (e.kind, e.type_) {
            (Kind::Deployment, EventType::Deleted)
                if self.deploys.get(&k).is_some_and(|d| d.uid == uid) =>
            {
                self.drop_deploy(&k);
            }
            (Kind::Deployment, EventType::Added | EventType::Modified) => self.on_deploy_json(obj),
            (Kind::ReplicaSet, EventType::Deleted)
                if self.rss.get(&k).is_some_and(|r| r.uid == uid) =>
            {
                let owner = self.drop_rs(&k);
                self.dirty_d.insert(owner);
            }
            (Kind::ReplicaSet, EventType::Modified)
                if self.rss.get(&k).is_some_and(|r| r.uid == uid) =>
            {
                // Someone scaled a ReplicaSet by hand: its pods follow, then its Deployment
                // puts it back where the rollout wants it (as on a cluster).
                let n = obj.pointer("/spec/replicas").and_then(Value::as_i64);
                let generation = md.and_then(|m| m.get("generation")).and_then(Value::as_i64);
                if let (Some(n), Some(rs)) = (n, self.rss.get_mut(&k))
                    && n as i32 != rs.replicas
                {
                    rs.replicas = n as i32;
                    rs.generation = generation.unwrap_or(rs.generation);
                    let owner = rs.owner.clone();
                    self.dirty_rs.insert(k);
                    self.dirty_d.insert(owner);
                }
            }
            (Kind::Pod, EventType::Added) if !self.pods.contains_key(&k) => {
                self.adopt_bare_pod(obj);
            }
            (Kind::Pod, EventType::Deleted) if self.pods.get(&k).is_some_and(|p| p.uid == uid) => {
                let rs = self.drop_pod(&k);
                self.dirty_rs.insert(rs);
            }
            _ => {}
        }
    }

    pub fn on_deploy_json(&mut self, v: &Value) {
        let Some(nd) = Deploy::from_json(v) else {
            return;
        };
        let k = nd.key();
        match self.deploys.get_mut(&k) {
            Some(d) if d.uid == nd.uid => {
                if d.generation == nd.generation
                    && d.annotations == nd.annotations
                    && d.labels == nd.labels
                {
                    return;
                }
                let rs = std::mem::take(&mut d.rs);
                let status = std::mem::take(&mut d.status);
                let deadline_due = d.deadline_due;
                *d = Deploy {
                    rs,
                    status,
                    deadline_due,
                    ..nd
                };
            }
            Some(_) => {
                self.drop_deploy(&k);
                self.deploys.insert(k.clone(), nd);
            }
            None => {
                self.deploys.insert(k.clone(), nd);
            }
        }
        self.dirty_d.insert(k);
    }

    /// Forgets a Deployment with its ReplicaSets and pods (the store collected them already).
    fn drop_deploy(&mut self, k: &Key) {
        if let Some(d) = self.deploys.remove(k) {
            for r in d.rs {
                self.drop_rs(&r);
            }
        }
    }

    /// Forgets a ReplicaSet and its pods; returns the owner key.
    fn drop_rs(&mut self, k: &Key) -> Key {
        let now = self.now_ms();
        let Some(rs) = self.rss.remove(k) else {
            return String::new();
        };
        for p in &rs.pods {
            if self.pods.remove(p).is_some() {
                self.traffic.remove(p, now);
            }
        }
        if let Some(d) = self.deploys.get_mut(&rs.owner) {
            d.rs.remove(k);
        }
        rs.owner
    }

    /// Forgets a pod; returns its ReplicaSet key.
    pub(super) fn drop_pod(&mut self, k: &Key) -> Key {
        let now = self.now_ms();
        let Some(p) = self.pods.remove(k) else {
            return String::new();
        };
        self.traffic.remove(k, now);
        self.logs.forget_pod(&p.ns, &p.name);
        if let Some(rs) = self.rss.get_mut(&p.rs) {
            rs.pods.remove(k);
        }
        p.rs
    }

    /// After a lagged event stream: reread Deployments and drop what the store no longer has.
    pub fn resync(&mut self) {
        let (items, _) = self.store.list_arc(Kind::Deployment, None);
        let mut seen = BTreeSet::new();
        for d in items {
            if let Some(nd) = Deploy::from_json(&d) {
                seen.insert(nd.key());
            }
            self.on_deploy_json(&d);
        }
        let gone: Vec<Key> = self
            .deploys
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.drop_deploy(&k);
        }
        let missing_rs: Vec<Key> = self
            .rss
            .values()
            .filter(|r| !self.store.contains(Kind::ReplicaSet, &r.ns, &r.name))
            .map(|r| key(&r.ns, &r.name))
            .collect();
        for k in missing_rs {
            let owner = self.drop_rs(&k);
            self.dirty_d.insert(owner);
        }
        let missing_pods: Vec<Key> = self
            .pods
            .values()
            .filter(|p| !self.store.contains(Kind::Pod, &p.ns, &p.name))
            .map(Pod::key)
            .collect();
        for k in missing_pods {
            let rs = self.drop_pod(&k);
            self.dirty_rs.insert(rs);
        }
        let all: Vec<Key> = self.deploys.keys().cloned().collect();
        self.dirty_d.extend(all);
    }
}
