//! The simulated apiserver's object store: JSON objects per (kind, namespace), resourceVersions,
//! a bounded change history for watches, and garbage collection of owned objects on delete.
//!
//! Shared by the HTTP layer (`kube_api`) and the deployment controller (`world`). Every write runs
//! under one lock and is broadcast as a `StoreEvent`, so watchers see changes in resourceVersion order.
//!
//! Objects are kept as compact JSON bytes, not `serde_json::Value`: a parsed Pod costs ~14 KiB
//! (every JSON map is a B-tree node), its bytes ~1.2 KiB, and lists are served without
//! re-serialising. Reads parse; the events of writes carry the parsed object they were made from.
mod error;
mod meta;
mod types;

pub use error::ApiError;
pub use types::*;

use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::broadcast;

/// One stored object: its JSON, and the uids GC needs without parsing.
#[derive(Clone)]
struct Entry {
    json: Bytes,
    uid: Box<str>,
    owners: Box<[Box<str>]>,
}

impl Entry {
    fn new(obj: &Value) -> Entry {
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        let owners = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .map(Box::from)
                    .collect()
            })
            .unwrap_or_default();
        Entry {
            json: Bytes::from(serde_json::to_vec(obj).unwrap_or_default()),
            uid: uid.into(),
            owners,
        }
    }

    fn parse(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// A stored object as bytes, for serving lists without parsing.
#[derive(Debug, Clone)]
pub struct RawObject {
    pub namespace: Arc<str>,
    pub name: String,
    /// The object's JSON.
    pub json: Bytes,
}

impl RawObject {
    pub fn parse(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

type Bucket = BTreeMap<String, Entry>;

/// A change as kept in the history (bytes; parsed when a watch resumes).
struct Change {
    kind: Kind,
    type_: EventType,
    json: Bytes,
    rv: u64,
}

struct Inner {
    /// (kind, namespace) → name → object. The namespace is shared by all its entries' RawObjects.
    objects: BTreeMap<(Kind, String), (Arc<str>, Bucket)>,
    rv: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    /// Every change with resource_version > history_floor is still in `history`.
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

fn scope(kind: Kind, ns: &str) -> &str {
    if kind.namespaced() { ns } else { "" }
}

impl Inner {
    fn entry(&self, kind: Kind, ns: &str, name: &str) -> Option<&Entry> {
        self.objects
            .get(&(kind, ns.to_string()))
            .and_then(|(_, b)| b.get(name))
    }

    /// The buckets of a kind: one namespace or all, in namespace order.
    fn buckets(&self, kind: Kind, ns: Option<&str>) -> Vec<(&Arc<str>, &Bucket)> {
        match ns.filter(|_| kind.namespaced()) {
            Some(ns) => self
                .objects
                .get(&(kind, ns.to_string()))
                .map(|(n, b)| vec![(n, b)])
                .unwrap_or_default(),
            None => self
                .objects
                .range((kind, String::new())..)
                .take_while(|((k, _), _)| *k == kind)
                .map(|(_, (n, b))| (n, b))
                .collect(),
        }
    }

    fn insert(&mut self, kind: Kind, ns: &str, name: &str, e: Entry) {
        let (_, b) = self
            .objects
            .entry((kind, ns.to_string()))
            .or_insert_with(|| (Arc::from(ns), Bucket::new()));
        b.insert(name.to_string(), e);
    }
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
        let json = self.get_raw(kind, ns, name)?;
        serde_json::from_slice(&json).ok()
    }

    /// Like `get`, as an `Arc` (a fresh parse; kept for callers that share the object).
    pub fn get_arc(&self, kind: Kind, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.get(kind, ns, name).map(Arc::new)
    }

    /// The object's JSON bytes.
    pub fn get_raw(&self, kind: Kind, ns: &str, name: &str) -> Option<Bytes> {
        let g = self.read();
        g.entry(kind, scope(kind, ns), name).map(|e| e.json.clone())
    }

    /// Does the object exist? (No parsing.)
    pub fn contains(&self, kind: Kind, ns: &str, name: &str) -> bool {
        self.read().entry(kind, scope(kind, ns), name).is_some()
    }

    /// Objects of a kind (in one namespace or all), sorted by (namespace, name), and the store's resourceVersion.
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> (Vec<Value>, u64) {
        let (raw, rv) = self.list_raw(kind, ns);
        (raw.iter().map(RawObject::parse).collect(), rv)
    }

    /// Like `list`, each object in an `Arc`.
    pub fn list_arc(&self, kind: Kind, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (raw, rv) = self.list_raw(kind, ns);
        (raw.iter().map(|r| Arc::new(r.parse())).collect(), rv)
    }

    /// Like `list`, as JSON bytes (cheap: no parsing, no copying of the objects).
    pub fn list_raw(&self, kind: Kind, ns: Option<&str>) -> (Vec<RawObject>, u64) {
        let g = self.read();
        let mut out = Vec::new();
        for (ns, b) in g.buckets(kind, ns) {
            out.extend(b.iter().map(|(name, e)| RawObject {
                namespace: ns.clone(),
                name: name.clone(),
                json: e.json.clone(),
            }));
        }
        (out, g.rv)
    }

    /// Number of objects of a kind (all namespaces).
    pub fn count(&self, kind: Kind) -> usize {
        let g = self.read();
        g.buckets(kind, None).iter().map(|(_, b)| b.len()).sum()
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
        // History is in rv order: skip to the first change after rv.
        let start = g.history.partition_point(|c| c.rv <= rv);
        Ok(g.history
            .range(start..)
            .filter(|c| c.kind == kind)
            .map(|c| StoreEvent {
                kind: c.kind,
                type_: c.type_,
                object: Arc::new(serde_json::from_slice(&c.json).unwrap_or(Value::Null)),
                resource_version: c.rv,
            })
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
        let ns = ns_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        if g.entry(kind, &ns, &name).is_some() {
            return Err(ApiError::already_exists(&kind.resource(), &name));
        }
        let rv = g.rv + 1;
        meta::stamp_created(&mut obj, rv, now, opts);
        if opts.dry_run {
            return Ok(obj);
        }
        let entry = Entry::new(&obj);
        let json = entry.json.clone();
        g.insert(kind, &ns, &name, entry);
        let obj = Arc::new(obj);
        self.commit(&mut g, kind, EventType::Added, obj.clone(), json, rv);
        Ok(Arc::unwrap_or_clone(obj))
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
        let ns = scope(kind, ns_of(&obj)).to_string();
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
    /// `f` runs while the store's write lock is held: it must not call the store (that deadlocks).
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
        let ns = scope(kind, ns);
        let now = self.now();
        let mut g = self.write();
        let old = g
            .entry(kind, ns, name)
            .map(Entry::parse)
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
        let entry = Entry::new(&new);
        let json = entry.json.clone();
        g.insert(kind, ns, name, entry);
        let new = Arc::new(new);
        self.commit(&mut g, kind, EventType::Modified, new.clone(), json, rv);
        Ok(Arc::unwrap_or_clone(new))
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
        let ns = scope(kind, ns);
        let mut g = self.write();
        let uid = match g.entry(kind, ns, name) {
            None => return Err(ApiError::not_found(&kind.resource(), name)),
            Some(e) if opts.dry_run => return Ok(e.parse()),
            Some(e) => e.uid.to_string(),
        };
        let deleted = self.remove(&mut g, kind, ns, name);
        if !opts.orphan {
            if kind == Kind::Namespace {
                // Everything in the namespace goes with it.
                for k in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
                    let names: Vec<String> = g
                        .objects
                        .get(&(k, name.to_string()))
                        .map(|(_, b)| b.keys().cloned().collect())
                        .unwrap_or_default();
                    for n in names {
                        self.remove(&mut g, k, name, &n);
                    }
                }
            } else if !uid.is_empty() {
                self.collect_garbage(&mut g, ns, &uid);
            }
        }
        Ok(deleted.unwrap_or_default())
    }

    /// Deletes the objects in `ns` owned by `uid`, and theirs.
    fn collect_garbage(&self, g: &mut Inner, ns: &str, uid: &str) {
        for k in [Kind::ReplicaSet, Kind::Pod] {
            let owned: Vec<(String, String)> = g
                .objects
                .get(&(k, ns.to_string()))
                .map(|(_, b)| {
                    b.iter()
                        .filter(|(_, e)| e.owners.iter().any(|o| &**o == uid))
                        .map(|(n, e)| (n.clone(), e.uid.to_string()))
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

    fn remove(&self, g: &mut Inner, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        let key = (kind, ns.to_string());
        let (_, bucket) = g.objects.get_mut(&key)?;
        let old = bucket.remove(name)?;
        if bucket.is_empty() {
            g.objects.remove(&key);
        }
        let rv = g.rv + 1;
        let mut gone = old.parse();
        meta::set_rv(&mut gone, rv);
        let json = Bytes::from(serde_json::to_vec(&gone).unwrap_or_default());
        let gone = Arc::new(gone);
        self.commit(g, kind, EventType::Deleted, gone.clone(), json, rv);
        Some(Arc::unwrap_or_clone(gone))
    }

    /// Records a change: bumps the version, appends to history, broadcasts (under the lock, so
    /// subscribers see events in order).
    fn commit(
        &self,
        g: &mut Inner,
        kind: Kind,
        type_: EventType,
        object: Arc<Value>,
        json: Bytes,
        rv: u64,
    ) {
        g.rv = rv;
        g.history.push_back(Change {
            kind,
            type_,
            json,
            rv,
        });
        trim_history(g);
        let _ = self.tx.send(StoreEvent {
            kind,
            type_,
            object,
            resource_version: rv,
        });
    }
}

fn trim_history(g: &mut Inner) {
    while g.history.len() > g.history_limit {
        if let Some(c) = g.history.pop_front() {
            g.history_floor = c.rv;
        }
    }
    if g.history_limit == 0 {
        g.history_floor = g.rv;
    }
}

#[cfg(test)]
mod tests;
