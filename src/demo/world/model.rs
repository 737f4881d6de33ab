//! The controller's own view of Deployments, ReplicaSets and Pods: the typed state it reconciles,
//! kept in step with the store so a reconcile never scans or parses the whole cluster.
use super::rollout::{Condition, IntOrPercent, normalize_template, normalized_fnv};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub type Key = String;

pub fn key(ns: &str, name: &str) -> Key {
    format!("{ns}/{name}")
}

pub fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn parse_time_s(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// Deployment status as the controller writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DStatus {
    pub observed_generation: i64,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    pub unavailable: i32,
    pub conditions: Vec<Condition>,
}

impl DStatus {
    pub fn from_json(v: Option<&Value>) -> DStatus {
        let Some(v) = v else {
            return DStatus::default();
        };
        let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
        let conditions = v
            .get("conditions")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| Condition {
                        type_: str_of(c, "type"),
                        status: str_of(c, "status"),
                        reason: str_of(c, "reason"),
                        message: str_of(c, "message"),
                        last_update: parse_time_s(c.get("lastUpdateTime")),
                        last_transition: parse_time_s(c.get("lastTransitionTime")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        DStatus {
            observed_generation: v
                .get("observedGeneration")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            replicas: n("replicas"),
            updated: n("updatedReplicas"),
            ready: n("readyReplicas"),
            available: n("availableReplicas"),
            unavailable: n("unavailableReplicas"),
            conditions,
        }
    }

    /// The API form: zero counts omitted, as the apiserver serialises them.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.observed_generation != 0 {
            m.insert("observedGeneration".into(), json!(self.observed_generation));
        }
        for (k, v) in [
            ("replicas", self.replicas),
            ("updatedReplicas", self.updated),
            ("readyReplicas", self.ready),
            ("availableReplicas", self.available),
            ("unavailableReplicas", self.unavailable),
        ] {
            if v != 0 {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.conditions.is_empty() {
            let cs: Vec<Value> = self
                .conditions
                .iter()
                .map(|c| {
                    json!({
                        "type": c.type_, "status": c.status,
                        "lastUpdateTime": fmt_ms(c.last_update * 1000),
                        "lastTransitionTime": fmt_ms(c.last_transition * 1000),
                        "reason": c.reason, "message": c.message,
                    })
                })
                .collect();
            m.insert("conditions".into(), Value::Array(cs));
        }
        Value::Object(m)
    }
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

#[derive(Debug, Clone)]
pub struct Deploy {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub generation: i64,
    pub replicas: i32,
    pub paused: bool,
    pub recreate: bool,
    pub surge: IntOrPercent,
    pub unavailable: IntOrPercent,
    pub deadline_s: Option<i64>,
    pub history_limit: usize,
    pub min_ready_s: i64,
    /// The pod template normalized (`normalize_template`), and its FNV.
    pub template_norm: Value,
    pub norm_hash: u32,
    pub selector: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub labels: Map<String, Value>,
    /// As last written (or read, for a new Deployment).
    pub status: DStatus,
    /// Keys of the ReplicaSets it owns.
    pub rs: BTreeSet<Key>,
    /// Due time of the pending progress-deadline check, if any.
    pub deadline_due: Option<i64>,
}

const P25: IntOrPercent = IntOrPercent::Percent(25);

impl Deploy {
    pub fn from_json(v: &Value) -> Option<Deploy> {
        let md = v.get("metadata")?;
        let spec = v.get("spec")?;
        let template_norm = normalize_template(spec.get("template").unwrap_or(&Value::Null));
        let strategy = spec.get("strategy");
        let rolling = strategy.and_then(|s| s.get("rollingUpdate"));
        Some(Deploy {
            ns: md.get("namespace")?.as_str()?.to_string(),
            name: md.get("name")?.as_str()?.to_string(),
            uid: md
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            generation: md.get("generation").and_then(Value::as_i64).unwrap_or(1),
            replicas: spec.get("replicas").and_then(Value::as_i64).unwrap_or(1) as i32,
            paused: spec.get("paused").and_then(Value::as_bool).unwrap_or(false),
            recreate: strategy.and_then(|s| s.get("type")).and_then(Value::as_str)
                == Some("Recreate"),
            surge: IntOrPercent::parse(rolling.and_then(|r| r.get("maxSurge")), P25),
            unavailable: IntOrPercent::parse(rolling.and_then(|r| r.get("maxUnavailable")), P25),
            deadline_s: match spec.get("progressDeadlineSeconds") {
                Some(Value::Number(n)) => n.as_i64(),
                _ => Some(600),
            },
            history_limit: spec
                .get("revisionHistoryLimit")
                .and_then(Value::as_u64)
                .unwrap_or(10) as usize,
            min_ready_s: spec
                .get("minReadySeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            norm_hash: normalized_fnv(&template_norm),
            template_norm,
            selector: spec
                .pointer("/selector/matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            annotations: obj_of(md, "annotations"),
            labels: obj_of(md, "labels"),
            status: DStatus::from_json(v.get("status")),
            rs: BTreeSet::new(),
            deadline_due: None,
        })
    }

    pub fn key(&self) -> Key {
        key(&self.ns, &self.name)
    }

    /// The app label (the traffic and log figures are per app).
    pub fn app(&self) -> String {
        self.labels
            .get("app")
            .and_then(Value::as_str)
            .unwrap_or(&self.name)
            .to_string()
    }
}

pub fn obj_of(v: &Value, k: &str) -> Map<String, Value> {
    v.get(k)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Rs {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub owner: Key,
    pub generation: i64,
    pub replicas: i32,
    pub revision: i64,
    pub created_ms: i64,
    /// With the `pod-template-hash` label.
    pub template: Value,
    /// FNV of the normalized template (equal for equal templates).
    pub norm_hash: u32,
    pub annotations: Map<String, Value>,
    pub min_ready_s: i64,
    pub pods: BTreeSet<Key>,
    /// (replicas, ready, available) as last written.
    pub status: (i32, i32, i32),
    /// The generation the last written status observed.
    pub observed: i64,
}

impl Rs {
    pub fn generation_observed_stale(&self) -> bool {
        self.observed != self.generation
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Scheduled, containers being created.
    Pending,
    /// Containers running, readiness not yet passed.
    Starting,
    Ready,
    /// Crash-looping: waiting in back-off.
    BackOff,
    /// Deleted by its ReplicaSet; goes away when due.
    Terminating,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// The registry digest (`sha256:…`) the image resolved to when the pod was created.
    pub image_id: Option<String>,
    pub bad: bool,
    pub restarts: i32,
    pub started_ms: Option<i64>,
    /// (startedAt, finishedAt) of the last crash.
    pub last_crash: Option<(i64, i64)>,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub ns: String,
    pub name: String,
    pub uid: String,
    /// Its ReplicaSet ("" for a bare pod).
    pub rs: Key,
    /// The app its traffic and logs are counted under.
    pub app: String,
    pub node: String,
    pub ip: String,
    pub created_ms: i64,
    pub stage: Stage,
    pub ready_since_ms: Option<i64>,
    pub containers: Vec<Container>,
    /// The due time of this pod's next transition; timers for other times are stale.
    pub next_due: Option<i64>,
}

impl Pod {
    pub fn key(&self) -> Key {
        key(&self.ns, &self.name)
    }

    pub fn ready(&self) -> bool {
        self.stage == Stage::Ready
    }

    pub fn available(&self, now_ms: i64, min_ready_s: i64) -> bool {
        self.ready()
            && self
                .ready_since_ms
                .is_some_and(|t| t + min_ready_s * 1000 <= now_ms)
    }

    pub fn bad(&self) -> bool {
        self.containers.iter().any(|c| c.bad)
    }
}
