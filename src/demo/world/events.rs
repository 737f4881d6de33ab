//! core/v1 Events as the controllers and kubelet emit them: repeats bump `count` and
//! `lastTimestamp`; a bounded number is kept per namespace (oldest deleted first).
use super::model::fmt_ms;
use crate::demo::store::{Kind, Store};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};

/// Events kept per namespace before the oldest are deleted.
pub const EVENTS_PER_NAMESPACE: usize = 400;

/// The object an event is about.
#[derive(Debug, Clone)]
pub struct Involved<'a> {
    pub kind: &'a str,
    pub api_version: &'a str,
    pub ns: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Who reports it: `deployment-controller`, `replicaset-controller`, `default-scheduler`, `kubelet` (with host).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

pub const DEPLOYMENT_CONTROLLER: Source<'static> = Source {
    component: "deployment-controller",
    host: None,
};
pub const REPLICASET_CONTROLLER: Source<'static> = Source {
    component: "replicaset-controller",
    host: None,
};
pub const SCHEDULER: Source<'static> = Source {
    component: "default-scheduler",
    host: None,
};

type DedupKey = (String, String, String, String);

#[derive(Default)]
pub struct Recorder {
    /// Per namespace, event names oldest first with their dedup key.
    order: HashMap<String, VecDeque<(String, DedupKey)>>,
    /// Dedup key → (event name, count).
    index: HashMap<DedupKey, (String, i64)>,
    seq: u64,
    /// Off for the large estates' seeding (no one reads 27,000 Scheduled events).
    pub enabled: bool,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            enabled: true,
            ..Recorder::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        store: &Store,
        now_ms: i64,
        obj: &Involved<'_>,
        source: Source<'_>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        if !self.enabled {
            return;
        }
        let dkey: DedupKey = (
            obj.ns.to_string(),
            format!("{}/{}", obj.kind, obj.name),
            reason.to_string(),
            message.to_string(),
        );
        let ts = fmt_ms(now_ms);
        if let Some((name, count)) = self.index.get_mut(&dkey) {
            *count += 1;
            let c = *count;
            let ts2 = ts.clone();
            if store
                .modify(Kind::Event, obj.ns, name, |e| {
                    e["count"] = json!(c);
                    e["lastTimestamp"] = json!(ts2);
                })
                .is_ok()
            {
                return;
            }
            self.index.remove(&dkey);
        }
        self.seq += 1;
        let name = format!(
            "{}.{:x}",
            obj.name,
            now_ms as u64 * 1_000_000 + self.seq % 1_000_000
        );
        let mut src = json!({"component": source.component});
        if let Some(h) = source.host {
            src["host"] = json!(h);
        }
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": obj.ns},
            "involvedObject": {"kind": obj.kind, "namespace": obj.ns, "name": obj.name,
                "uid": obj.uid, "apiVersion": obj.api_version},
            "reason": reason, "message": message, "source": src,
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
            "type": if warning { "Warning" } else { "Normal" },
            "eventTime": Value::Null,
            "reportingComponent": source.component,
            "reportingInstance": source.host.unwrap_or(""),
        });
        if store.create(Kind::Event, ev).is_err() {
            return;
        }
        self.index.insert(dkey.clone(), (name.clone(), 1));
        let q = self.order.entry(obj.ns.to_string()).or_default();
        q.push_back((name, dkey));
        while q.len() > EVENTS_PER_NAMESPACE {
            if let Some((old, k)) = q.pop_front() {
                self.index.remove(&k);
                let _ = store.delete(Kind::Event, obj.ns, &old);
            }
        }
    }
}
