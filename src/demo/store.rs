//! The simulated apiserver's object store: JSON objects per (kind, namespace), resourceVersions,
//! a bounded change history for watches, and garbage collection of owned objects on delete.
//!
//! Shared by the HTTP layer (`kube_api`) and the deployment controller (`world`). Every write runs
//! under one lock and is broadcast as a `StoreEvent`, so watchers see changes in resourceVersion order.
mod error;
mod meta;

pub use error::ApiError;

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::broadcast;

/// The resource kinds the simulated cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Deployment,
    ReplicaSet,
    Pod,
    Event,
    Service,
    Ingress,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Namespace,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::Event,
        Kind::Service,
        Kind::Ingress,
    ];

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Pod | Kind::Event | Kind::Service => "v1",
            Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            Kind::Ingress => "networking.k8s.io/v1",
        }
    }

    /// The API group ("" for core).
    pub fn group(self) -> &'static str {
        match self.api_version().split_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::Service => "Service",
            Kind::Ingress => "Ingress",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Pod => "pods",
            Kind::Event => "events",
            Kind::Service => "services",
            Kind::Ingress => "ingresses",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Kind::Namespace
    }

    /// The resource as error messages name it: `deployments.apps`, `pods`.
    pub fn resource(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            g => format!("{}.{g}", self.plural()),
        }
    }

    /// The kind for a group ("" = core) and plural, as URL paths carry them.
    pub fn from_group_plural(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }
}

/// Function giving the (simulated) time used for creationTimestamp and managedFields.
pub type ClockFn = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch event. `resource_version` is the store's version after the change
/// (for Deleted: the version at which the object was deleted, also set in the object).
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub kind: Kind,
    pub type_: EventType,
    pub object: Arc<Value>,
    pub resource_version: u64,
}

/// How a write is recorded: the field manager for managedFields, the operation, dry-run, and
/// whether a delete orphans the dependents. `WriteOptions::default()` is what the plain methods use.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Defaults to `DEFAULT_MANAGER`.
    pub field_manager: Option<String>,
    /// Recorded as operation `Apply` instead of `Update`.
    pub apply: bool,
    /// Records managedFields for the `status` subresource.
    pub subresource: Option<String>,
    /// Compute and return the result, store nothing, broadcast nothing.
    pub dry_run: bool,
    /// Delete only: leave owned objects in place (propagationPolicy=Orphan).
    pub orphan: bool,
}

/// Manager recorded for writes that name none.
pub const DEFAULT_MANAGER: &str = "shipdeck-demo";
/// Number of changes kept for `events_since` (watch resumption) unless set otherwise.
pub const DEFAULT_HISTORY: usize = 10_000;

type Bucket = BTreeMap<String, Arc<Value>>;

struct Inner {
    objects: BTreeMap<(Kind, String), Bucket>,
    rv: u64,
    history: VecDeque<StoreEvent>,
    history_limit: usize,
    /// Every event with resource_version > history_floor is still in `history`.
    history_floor: u64,
}

/// The store; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Store {
    inner: Arc<RwLock<Inner>>,
    tx: broadcast::Sender<StoreEvent>,
    clock: ClockFn,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish()
    }
}

fn ns_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Store {
    pub fn new(clock: ClockFn) -> Store {
        let (tx, _) = broadcast::channel(16_384);
        Store {
            inner: Arc::new(RwLock::new(Inner {
                objects: BTreeMap::new(),
                rv: 1,
                history: VecDeque::new(),
                history_limit: DEFAULT_HISTORY,
                history_floor: 1,
            })),
            tx,
            clock,
        }
    }

    /// A store on the system clock.
    pub fn with_system_clock() -> Store {
        Store::new(Arc::new(jiff::Timestamp::now))
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The store's clock (the simulated time).
    pub fn now(&self) -> jiff::Timestamp {
        (self.clock)()
    }

    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        self.get_arc(kind, ns, name).map(|v| (*v).clone())
    }

    /// Like `get`, without copying the object.
    pub fn get_arc(&self, kind: Kind, ns: &str, name: &str) -> Option<Arc<Value>> {
        let ns = if kind.namespaced() { ns } else { "" };
        let g = self.read();
        g.objects
            .get(&(kind, ns.to_string()))
            .and_then(|b| b.get(name))
            .cloned()
    }

    /// Objects of a kind (in one namespace or all), sorted by (namespace, name), and the store's resourceVersion.
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> (Vec<Value>, u64) {
        let (items, rv) = self.list_arc(kind, ns);
        (items.iter().map(|v| (**v).clone()).collect(), rv)
    }

    /// Like `list`, without copying the objects.
    pub fn list_arc(&self, kind: Kind, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let g = self.read();
        let mut out = Vec::new();
        match ns.filter(|_| kind.namespaced()) {
            Some(ns) => {
                if let Some(b) = g.objects.get(&(kind, ns.to_string())) {
                    out.extend(b.values().cloned());
                }
            }
            None => {
                let start = (kind, String::new());
                for ((k, _), b) in g.objects.range(start..) {
                    if *k != kind {
                        break;
                    }
                    out.extend(b.values().cloned());
                }
            }
        }
        (out, g.rv)
    }

    /// Number of objects of a kind (all namespaces).
    pub fn count(&self, kind: Kind) -> usize {
        let g = self.read();
        g.objects
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, b)| b.len())
            .sum()
    }

    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// Every change as a watch event; used by watch handlers and by the controller to react to writes.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.tx.subscribe()
    }

    /// Events of `kind` after `rv` still in the retained history, or Err(Expired) when rv is
    /// older than the history.
    pub fn events_since(&self, rv: u64, kind: Kind) -> Result<Vec<StoreEvent>, ApiError> {
        let g = self.read();
        if rv < g.history_floor {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                g.history_floor
            )));
        }
        // History is in rv order: skip to the first event after rv.
        let start = g.history.partition_point(|e| e.resource_version <= rv);
        Ok(g.history
            .range(start..)
            .filter(|e| e.kind == kind)
            .cloned()
            .collect())
    }

    /// Sets how many changes are retained for `events_since` (older ones are dropped now).
    pub fn set_history_limit(&self, limit: usize) {
        let mut g = self.write();
        g.history_limit = limit;
        trim_history(&mut g);
    }

    /// Forgets the whole change history: any watch from an older resourceVersion gets 410 Expired.
    pub fn compact_history(&self) {
        let mut g = self.write();
        g.history.clear();
        g.history_floor = g.rv;
    }

    /// Sets uid, resourceVersion, creationTimestamp, generation (1) and managedFields as a real apiserver; 409 AlreadyExists.
    pub fn create(&self, kind: Kind, obj: Value) -> Result<Value, ApiError> {
        self.create_with(kind, obj, &WriteOptions::default())
    }

    pub fn create_with(
        &self,
        kind: Kind,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut obj = obj;
        meta::prepare_new(kind, &mut obj)?;
        let now = self.now();
        let mut g = self.write();
        let key = (kind, ns_of(&obj).to_string());
        let name = name_of(&obj).to_string();
        if g.objects.get(&key).is_some_and(|b| b.contains_key(&name)) {
            return Err(ApiError::already_exists(&kind.resource(), &name));
        }
        let rv = g.rv + 1;
        meta::stamp_created(&mut obj, rv, now, opts);
        if opts.dry_run {
            return Ok(obj);
        }
        let obj = Arc::new(obj);
        g.objects.entry(key).or_default().insert(name, obj.clone());
        self.commit(&mut g, kind, EventType::Added, obj.clone(), rv);
        Ok((*obj).clone())
    }

    /// Replaces the object; if obj carries metadata.resourceVersion it must match (else 409 Conflict).
    /// Bumps generation when spec changed (not for status-only changes).
    pub fn update(&self, kind: Kind, obj: Value) -> Result<Value, ApiError> {
        self.update_with(kind, obj, &WriteOptions::default())
    }

    pub fn update_with(
        &self,
        kind: Kind,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        meta::check_shape(kind, &obj)?;
        let ns = if kind.namespaced() { ns_of(&obj) } else { "" }.to_string();
        let name = name_of(&obj).to_string();
        let sent_rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        self.write_object(kind, &ns, &name, opts, move |old| {
            if let Some(sent) = sent_rv
                && old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    != Some(&sent)
            {
                return Err(ApiError::conflict(&kind.resource(), name_of(old)));
            }
            Ok(obj)
        })
    }

    /// Read-modify-write under the lock, for the controller: f gets the current object; generation rules as update.
    pub fn modify(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        self.modify_with(kind, ns, name, &WriteOptions::default(), |v| {
            f(v);
            Ok(())
        })
    }

    /// `modify` with options and a fallible change (an Err leaves the store unchanged).
    pub fn modify_with(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        self.write_object(kind, ns, name, opts, |old| {
            let mut new = old.clone();
            f(&mut new)?;
            Ok(new)
        })
    }

    /// The common path of update/modify: `f` builds the new object from the old one under the lock.
    fn write_object(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
        f: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let ns = if kind.namespaced() { ns } else { "" };
        let now = self.now();
        let mut g = self.write();
        let key = (kind, ns.to_string());
        let old = g
            .objects
            .get(&key)
            .and_then(|b| b.get(name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&kind.resource(), name))?;
        let mut new = f(&old)?;
        meta::check_shape(kind, &new)?;
        if name_of(&new) != name || (kind.namespaced() && ns_of(&new) != ns) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&new)
            )));
        }
        let rv = g.rv + 1;
        meta::apply_defaults(kind, &mut new);
        meta::carry_over(&old, &mut new, rv, now, opts);
        meta::validate(kind, &new)?;
        if opts.dry_run {
            return Ok(new);
        }
        let new = Arc::new(new);
        if let Some(b) = g.objects.get_mut(&key) {
            b.insert(name.to_string(), new.clone());
        }
        self.commit(&mut g, kind, EventType::Modified, new.clone(), rv);
        Ok((*new).clone())
    }

    /// Deletes the object and (unless orphaning) every object it owns, recursively, as the
    /// garbage collector would. Returns the deleted object.
    pub fn delete(&self, kind: Kind, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.delete_with(kind, ns, name, &WriteOptions::default())
    }

    pub fn delete_with(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let ns = if kind.namespaced() { ns } else { "" };
        let mut g = self.write();
        let key = (kind, ns.to_string());
        let old = g
            .objects
            .get(&key)
            .and_then(|b| b.get(name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&kind.resource(), name))?;
        if opts.dry_run {
            return Ok((*old).clone());
        }
        let deleted = self.remove(&mut g, kind, ns, name);
        if !opts.orphan {
            if kind == Kind::Namespace {
                // Everything in the namespace goes with it.
                for k in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
                    let names: Vec<String> = g
                        .objects
                        .get(&(k, name.to_string()))
                        .map(|b| b.keys().cloned().collect())
                        .unwrap_or_default();
                    for n in names {
                        self.remove(&mut g, k, name, &n);
                    }
                }
            } else if let Some(uid) = old.pointer("/metadata/uid").and_then(Value::as_str) {
                self.collect_garbage(&mut g, ns, uid);
            }
        }
        Ok(deleted.map(|v| (*v).clone()).unwrap_or_default())
    }

    /// Deletes the objects in `ns` owned by `uid`, and theirs.
    fn collect_garbage(&self, g: &mut Inner, ns: &str, uid: &str) {
        for k in [Kind::ReplicaSet, Kind::Pod] {
            let owned: Vec<(String, String)> = g
                .objects
                .get(&(k, ns.to_string()))
                .map(|b| {
                    b.values()
                        .filter(|o| meta::owned_by(o, uid))
                        .map(|o| {
                            let child_uid = o.pointer("/metadata/uid").and_then(Value::as_str);
                            (name_of(o).to_string(), child_uid.unwrap_or("").to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            for (name, child_uid) in owned {
                self.remove(g, k, ns, &name);
                if !child_uid.is_empty() {
                    self.collect_garbage(g, ns, &child_uid);
                }
            }
        }
    }

    fn remove(&self, g: &mut Inner, kind: Kind, ns: &str, name: &str) -> Option<Arc<Value>> {
        let key = (kind, ns.to_string());
        let old = g.objects.get_mut(&key)?.remove(name)?;
        if g.objects.get(&key).is_some_and(|b| b.is_empty()) {
            g.objects.remove(&key);
        }
        let rv = g.rv + 1;
        let mut gone = (*old).clone();
        meta::set_rv(&mut gone, rv);
        let gone = Arc::new(gone);
        self.commit(g, kind, EventType::Deleted, gone.clone(), rv);
        Some(gone)
    }

    /// Records a change: bumps the version, appends to history, broadcasts (under the lock, so
    /// subscribers see events in order).
    fn commit(&self, g: &mut Inner, kind: Kind, type_: EventType, object: Arc<Value>, rv: u64) {
        g.rv = rv;
        let ev = StoreEvent {
            kind,
            type_,
            object,
            resource_version: rv,
        };
        g.history.push_back(ev.clone());
        trim_history(g);
        let _ = self.tx.send(ev);
    }
}

fn trim_history(g: &mut Inner) {
    while g.history.len() > g.history_limit {
        if let Some(e) = g.history.pop_front() {
            g.history_floor = e.resource_version;
        }
    }
    if g.history_limit == 0 {
        g.history_floor = g.rv;
    }
}

#[cfg(test)]
mod tests;
