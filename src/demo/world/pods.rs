//! The kubelet's part: pods created Pending on a node, started, made Ready or crash-looping with
//! back-off, terminated; each step writes the pod status, events and log lines.
use super::controller::{Controller, NODES, Task, controller_opts, graceful_opts, status_opts};
use super::events::{Involved, Source};
use super::model::{Container, Deploy, Key, Pod, Stage, key};
use super::objects::{backoff_s, pod_json, pod_status_json};
use crate::demo::store::Kind;
use rand::Rng;
use serde_json::{Value, json};

impl Controller {
    pub(super) fn pod_event(
        &mut self,
        pk: &Key,
        warning: bool,
        reason: &str,
        message: &str,
        kubelet: bool,
    ) {
        let Some(p) = self.pods.get(pk) else {
            return;
        };
        let (ns, name, uid, node) = (p.ns.clone(), p.name.clone(), p.uid.clone(), p.node.clone());
        let now = self.now_ms();
        let src = if kubelet {
            Source {
                component: "kubelet",
                host: Some(&node),
            }
        } else {
            super::events::SCHEDULER
        };
        let inv = Involved {
            kind: "Pod",
            api_version: "v1",
            ns: &ns,
            name: &name,
            uid: &uid,
        };
        self.rec
            .record(&self.store, now, &inv, src, warning, reason, message);
    }

    /// Creates one pod of a ReplicaSet, Pending on a node, with its first transition scheduled.
    pub fn create_pod(&mut self, rs_key: &Key) {
        let now = self.now_ms();
        let ip = self.next_ip();
        let Some(rs) = self.rss.get(rs_key) else {
            return;
        };
        let mut name;
        loop {
            let suffix: String = (0..5)
                .map(|_| {
                    let a = b"bcdfghjklmnpqrstvwxz2456789";
                    a[self.rng.random_range(0..a.len())] as char
                })
                .collect();
            name = format!("{}-{suffix}", rs.name);
            if !self.pods.contains_key(&key(&rs.ns, &name)) {
                break;
            }
        }
        let node = NODES[self.rng.random_range(0..NODES.len())].to_string();
        let containers = self.containers_of(rs.template.pointer("/spec/containers"));
        let app = self
            .deploys
            .get(&rs.owner)
            .map(Deploy::app)
            .unwrap_or_default();
        let mut pod = Pod {
            ns: rs.ns.clone(),
            name: name.clone(),
            uid: String::new(),
            rs: rs_key.clone(),
            app,
            node: node.clone(),
            ip,
            created_ms: now,
            stage: Stage::Pending,
            ready_since_ms: None,
            containers,
            next_due: None,
        };
        let instant = self.instant;
        if instant {
            // Seeding: born Ready, one write instead of three.
            pod.stage = Stage::Ready;
            pod.ready_since_ms = Some(now);
            for c in pod.containers.iter_mut() {
                c.started_ms = Some(now);
            }
        }
        let body = pod_json(&pod, rs);
        let (rs_ns, rs_name, rs_uid) = (rs.ns.clone(), rs.name.clone(), rs.uid.clone());
        let Ok(created) = self.store.create_with(Kind::Pod, body, &controller_opts()) else {
            return;
        };
        pod.uid = created
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let pk = pod.key();
        if !instant {
            let due = now + self.draw(self.timings.pending_ms);
            pod.next_due = Some(due);
            self.schedule(due, Task::Pod(pk.clone()));
        }
        self.pods.insert(pk.clone(), pod);
        if let Some(rs) = self.rss.get_mut(rs_key) {
            rs.pods.insert(pk.clone());
        }
        let inv = Involved {
            kind: "ReplicaSet",
            api_version: "apps/v1",
            ns: &rs_ns,
            name: &rs_name,
            uid: &rs_uid,
        };
        let msg = format!("Created pod: {name}");
        self.rec.record(
            &self.store,
            now,
            &inv,
            super::events::REPLICASET_CONTROLLER,
            false,
            "SuccessfulCreate",
            &msg,
        );
        let msg = format!("Successfully assigned {rs_ns}/{name} to {node}");
        self.pod_event(&pk, false, "Scheduled", &msg, false);
        if instant {
            let started: Vec<(String, String)> = self
                .pods
                .get(&pk)
                .map(|p| {
                    p.containers
                        .iter()
                        .map(|c| (c.name.clone(), c.image.clone()))
                        .collect()
                })
                .unwrap_or_default();
            self.traffic_start(&pk);
            self.traffic.set_state(&pk, true, 0, now);
            for (c, image) in started {
                let pulled = format!("Container image \"{image}\" already present on machine");
                self.pod_event(&pk, false, "Pulled", &pulled, true);
                self.pod_event(
                    &pk,
                    false,
                    "Created",
                    &format!("Created container: {c}"),
                    true,
                );
                self.pod_event(
                    &pk,
                    false,
                    "Started",
                    &format!("Started container {c}"),
                    true,
                );
                self.log_line(&pk, &c, &format!("starting {c} ({image})"));
                self.log_line(&pk, &c, "ready to serve requests");
            }
        }
    }

    /// Starts deleting a pod: not ready, Killing event, gone after a short grace.
    pub fn terminate_pod(&mut self, pk: &Key) {
        let now = self.now_ms();
        let due = now + self.draw(self.timings.terminate_ms);
        let Some(p) = self.pods.get_mut(pk) else {
            return;
        };
        if p.stage == Stage::Terminating {
            return;
        }
        if self.instant {
            let (ns, name, rs) = (p.ns.clone(), p.name.clone(), p.rs.clone());
            self.drop_pod(pk);
            let _ = self.store.delete(Kind::Pod, &ns, &name);
            self.dirty_rs.insert(rs);
            return;
        }
        p.stage = Stage::Terminating;
        p.next_due = Some(due);
        let names: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
        let (ns, name) = (p.ns.clone(), p.name.clone());
        let status = pod_status_json(p);
        let ts = super::model::fmt_ms(now);
        let _ = self
            .store
            .modify_with(Kind::Pod, &ns, &name, &graceful_opts(), |v| {
                v["metadata"]["deletionTimestamp"] = json!(ts);
                v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                v["status"] = status;
                Ok(())
            });
        self.traffic.remove(pk, now);
        self.schedule(due, Task::Pod(pk.clone()));
        for c in names {
            self.log_line(pk, &c, "received SIGTERM, draining connections");
            self.pod_event(
                pk,
                false,
                "Killing",
                &format!("Stopping container {c}"),
                true,
            );
        }
    }

    fn write_pod_status(&mut self, pk: &Key) {
        let Some(p) = self.pods.get(pk) else {
            return;
        };
        let status = pod_status_json(p);
        let _ = self
            .store
            .modify_with(Kind::Pod, &p.ns, &p.name, &status_opts("kubelet"), |v| {
                v["status"] = status;
                Ok(())
            });
    }

    /// One lifecycle step of a pod.
    pub(super) fn on_pod_timer(&mut self, pk: &Key, due: i64) {
        let now = self.now_ms();
        let Some(p) = self.pods.get_mut(pk) else {
            return;
        };
        if p.next_due != Some(due) {
            return;
        }
        p.next_due = None;
        let rs_key = p.rs.clone();
        match p.stage {
            Stage::Terminating => {
                let (ns, name) = (p.ns.clone(), p.name.clone());
                self.drop_pod(pk);
                let _ = self.store.delete(Kind::Pod, &ns, &name);
                self.dirty_rs.insert(rs_key.clone());
                if let Some(owner) = self.rss.get(&rs_key).map(|r| r.owner.clone()) {
                    self.dirty_d.insert(owner);
                }
                return;
            }
            Stage::Pending | Stage::BackOff => {
                let restarting = p.stage == Stage::BackOff;
                p.stage = Stage::Starting;
                let mut started = Vec::new();
                for c in p.containers.iter_mut() {
                    if !restarting || c.bad {
                        c.started_ms = Some(now);
                        started.push((c.name.clone(), c.image.clone()));
                    }
                }
                let bad = p.bad();
                let step = if bad {
                    self.timings.crash_ms
                } else {
                    self.timings.readiness_ms
                };
                let next = now + self.draw(step);
                if let Some(p) = self.pods.get_mut(pk) {
                    p.next_due = Some(next);
                }
                self.schedule(next, Task::Pod(pk.clone()));
                for (c, image) in &started {
                    self.log_line(pk, c, &format!("starting {c} ({image})"));
                    if self.is_bad(image) {
                        self.log_line(pk, c, "loading configuration from /etc/app/config.yaml");
                    } else {
                        self.log_line(pk, c, "listening on :8080");
                    }
                }
                for (c, image) in started {
                    let pulled = format!("Container image \"{image}\" already present on machine");
                    self.pod_event(pk, false, "Pulled", &pulled, true);
                    self.pod_event(
                        pk,
                        false,
                        "Created",
                        &format!("Created container: {c}"),
                        true,
                    );
                    self.pod_event(
                        pk,
                        false,
                        "Started",
                        &format!("Started container {c}"),
                        true,
                    );
                }
                if !restarting {
                    self.traffic_start(pk);
                }
            }
            Stage::Starting if p.bad() => {
                p.stage = Stage::BackOff;
                let mut max_restarts = 0;
                let mut crashed = Vec::new();
                for c in p.containers.iter_mut().filter(|c| c.bad) {
                    c.restarts += 1;
                    c.last_crash = Some((c.started_ms.unwrap_or(now), now));
                    max_restarts = max_restarts.max(c.restarts);
                    crashed.push(c.name.clone());
                }
                let (name, ns, uid) = (p.name.clone(), p.ns.clone(), p.uid.clone());
                let next = now + backoff_s(max_restarts) * 1000;
                p.next_due = Some(next);
                self.schedule(next, Task::Pod(pk.clone()));
                self.traffic.set_state(pk, false, max_restarts, now);
                for c in &crashed {
                    self.log_line(
                        pk,
                        c,
                        "panic: runtime error: invalid memory address or nil pointer dereference",
                    );
                    self.log_line(
                        pk,
                        c,
                        "goroutine 1 [running]: main.main() /src/main.go:42 +0x1d",
                    );
                }
                for c in crashed {
                    let msg = format!(
                        "Back-off restarting failed container {c} in pod {name}_{ns}({uid})"
                    );
                    self.pod_event(pk, true, "BackOff", &msg, true);
                }
            }
            Stage::Starting => {
                p.stage = Stage::Ready;
                p.ready_since_ms = Some(now);
                let restarts = p.containers.iter().map(|c| c.restarts).max().unwrap_or(0);
                let names: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
                self.traffic.set_state(pk, true, restarts, now);
                for c in names {
                    self.log_line(pk, &c, "ready to serve requests");
                }
                let min_ready = self.rss.get(&rs_key).map(|r| r.min_ready_s).unwrap_or(0);
                if min_ready > 0
                    && let Some(owner) = self.rss.get(&rs_key).map(|r| r.owner.clone())
                {
                    self.schedule(now + min_ready * 1000, Task::Sync(owner));
                }
            }
            Stage::Ready => return,
        }
        self.write_pod_status(pk);
        self.dirty_rs.insert(rs_key);
    }

    fn traffic_start(&mut self, pk: &Key) {
        let now = self.now_ms();
        let Some(p) = self.pods.get(pk) else {
            return;
        };
        let image = p
            .containers
            .first()
            .map(|c| c.image.clone())
            .unwrap_or_default();
        self.traffic
            .start(pk, &p.ns, &p.name, &p.app, &image, p.bad(), now);
    }

    fn next_ip(&mut self) -> String {
        self.ip_counter = self.ip_counter.wrapping_add(1);
        format!(
            "10.244.{}.{}",
            (self.ip_counter >> 8) & 0xff,
            self.ip_counter & 0xff
        )
    }

    fn containers_of(&self, spec_containers: Option<&Value>) -> Vec<Container> {
        let s = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        spec_containers
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| Container {
                        name: s(c, "name"),
                        bad: self.is_bad(&s(c, "image")),
                        image_id: self
                            .digest_of
                            .as_ref()
                            .and_then(|r| r.resolve(&s(c, "image"))),
                        image: s(c, "image"),
                        restarts: 0,
                        started_ms: None,
                        last_crash: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A pod someone created without a controller (`kubectl run`): the kubelet runs it like ours.
    pub(super) fn adopt_bare_pod(&mut self, v: &Value) {
        let md = v.get("metadata");
        let s = |k: &str| {
            md.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (ns, name, uid) = (s("namespace"), s("name"), s("uid"));
        let owned = md
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        let has_status = v.pointer("/status/phase").is_some();
        if owned || has_status || ns.is_empty() || name.is_empty() {
            return;
        }
        let now = self.now_ms();
        let node = match v.pointer("/spec/nodeName").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => NODES[self.rng.random_range(0..NODES.len())].to_string(),
        };
        let app = v
            .pointer("/metadata/labels/app")
            .or_else(|| v.pointer("/metadata/labels/run"))
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        let due = now + self.draw(self.timings.pending_ms);
        let pod = Pod {
            ns: ns.clone(),
            name: name.clone(),
            uid,
            rs: String::new(),
            app,
            node: node.clone(),
            ip: self.next_ip(),
            created_ms: now,
            stage: Stage::Pending,
            ready_since_ms: None,
            containers: self.containers_of(v.pointer("/spec/containers")),
            next_due: Some(due),
        };
        let status = pod_status_json(&pod);
        let pk = pod.key();
        let written = self
            .store
            .modify_with(Kind::Pod, &ns, &name, &controller_opts(), |o| {
                o["spec"]["nodeName"] = json!(node);
                o["status"] = status;
                Ok(())
            });
        if written.is_err() {
            return;
        }
        self.pods.insert(pk.clone(), pod);
        self.schedule(due, Task::Pod(pk.clone()));
        let msg = format!("Successfully assigned {ns}/{name} to {node}");
        self.pod_event(&pk, false, "Scheduled", &msg, false);
    }
}
