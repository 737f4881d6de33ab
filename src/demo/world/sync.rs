//! The reconcile steps: a Deployment (revisions, rolling or recreate scaling, status and
//! conditions) and a ReplicaSet (pods to its size, status), as the real controllers do them.
use super::controller::{Controller, Task, controller_opts, status_opts};
use super::events::{DEPLOYMENT_CONTROLLER, Involved, REPLICASET_CONTROLLER};
use super::model::{DStatus, Deploy, Key, Rs, Stage, key};
use super::objects::{rs_json, rs_status_json, template_with_hash};
use super::rollout::{
    Condition, OldRs, encode_hash, get_condition, new_rs_target, normalize_template,
    old_rs_targets, resolve_fenceposts, set_condition,
};
use crate::demo::store::Kind;
use serde_json::{Map, Value, json};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations never copied onto its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

pub(super) fn progressing(reason: &str, status: &str, msg: String, now_s: i64) -> Condition {
    Condition::new("Progressing", status, reason, msg, now_s)
}

/// Whether the counts say the rollout is done (`DeploymentComplete`).
pub(super) fn complete(d: &Deploy, s: &DStatus) -> bool {
    s.updated == d.replicas
        && s.replicas == d.replicas
        && s.available == d.replicas
        && s.observed_generation >= d.generation
}

impl Controller {
    /// (active pods, ready, available) of a ReplicaSet from the model.
    pub fn rs_counts(&self, k: &Key) -> (i32, i32, i32) {
        let now = self.now_ms();
        let Some(rs) = self.rss.get(k) else {
            return (0, 0, 0);
        };
        let mut c = (0, 0, 0);
        for p in rs.pods.iter().filter_map(|p| self.pods.get(p)) {
            if p.stage == Stage::Terminating {
                continue;
            }
            c.0 += 1;
            if p.ready() {
                c.1 += 1;
            }
            if p.available(now, rs.min_ready_s) {
                c.2 += 1;
            }
        }
        c
    }

    fn deploy_event(&mut self, dk: &Key, reason: &str, msg: &str) {
        let Some(d) = self.deploys.get(dk) else {
            return;
        };
        let (ns, name, uid) = (d.ns.clone(), d.name.clone(), d.uid.clone());
        let now = self.now_ms();
        let inv = Involved {
            kind: "Deployment",
            api_version: "apps/v1",
            ns: &ns,
            name: &name,
            uid: &uid,
        };
        self.rec.record(
            &self.store,
            now,
            &inv,
            DEPLOYMENT_CONTROLLER,
            false,
            reason,
            msg,
        );
    }

    /// Sets a ReplicaSet's size, with the ScalingReplicaSet event and the replicas annotations.
    pub fn scale_rs(&mut self, dk: &Key, rk: &Key, to: i32, desired: i32, max: i32) {
        let Some(rs) = self.rss.get_mut(rk) else {
            return;
        };
        let from = rs.replicas;
        let annotations_same = rs.annotations.get(DESIRED) == Some(&json!(desired.to_string()))
            && rs.annotations.get(MAX) == Some(&json!(max.to_string()));
        if from == to && annotations_same {
            return;
        }
        rs.replicas = to;
        rs.annotations
            .insert(DESIRED.into(), json!(desired.to_string()));
        rs.annotations.insert(MAX.into(), json!(max.to_string()));
        let (ns, name, ann) = (rs.ns.clone(), rs.name.clone(), rs.annotations.clone());
        if let Ok(v) =
            self.store
                .modify_with(Kind::ReplicaSet, &ns, &name, &controller_opts(), |v| {
                    v["spec"]["replicas"] = json!(to);
                    v["metadata"]["annotations"] = Value::Object(ann);
                    Ok(())
                })
            && let Some(rs) = self.rss.get_mut(rk)
        {
            rs.generation = v
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
        }
        self.dirty_rs.insert(rk.clone());
        if from != to {
            let dir = if to > from { "up" } else { "down" };
            let msg = format!("Scaled {dir} replica set {name} from {from} to {to}");
            self.deploy_event(dk, "ScalingReplicaSet", &msg);
        }
    }

    /// Creates the ReplicaSet for the Deployment's current template.
    pub fn create_rs(&mut self, dk: &Key, replicas: i32, revision: i64, max: i32) -> Option<Key> {
        let now = self.now_ms();
        let d = self.deploys.get(dk)?;
        let hash = encode_hash(d.norm_hash);
        let name = format!("{}-{hash}", d.name);
        let mut annotations = Map::new();
        for (k, v) in &d.annotations {
            if !NOT_COPIED.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
        annotations.insert(DESIRED.into(), json!(d.replicas.to_string()));
        annotations.insert(MAX.into(), json!(max.to_string()));
        annotations.insert(REVISION.into(), json!(revision.to_string()));
        let mut rs = Rs {
            ns: d.ns.clone(),
            name: name.clone(),
            uid: String::new(),
            owner: dk.clone(),
            generation: 1,
            replicas,
            revision,
            created_ms: now,
            template: template_with_hash(&d.template_norm, &hash),
            norm_hash: d.norm_hash,
            annotations,
            min_ready_s: d.min_ready_s,
            pods: Default::default(),
            status: (0, 0, 0),
            observed: 1,
        };
        let mut body = rs_json(d, &rs, &hash);
        body["status"] = rs_status_json(&rs);
        let created = self
            .store
            .create_with(Kind::ReplicaSet, body, &controller_opts())
            .ok()?;
        rs.uid = created
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rk = key(&rs.ns, &name);
        self.rss.insert(rk.clone(), rs);
        if let Some(d) = self.deploys.get_mut(dk) {
            d.rs.insert(rk.clone());
        }
        self.dirty_rs.insert(rk.clone());
        if replicas > 0 {
            let msg = format!("Scaled up replica set {name} from 0 to {replicas}");
            self.deploy_event(dk, "ScalingReplicaSet", &msg);
        }
        Some(rk)
    }

    /// Copies the Deployment's annotations and gives the ReplicaSet `new_rev` if it is older
    /// (recording its old number in revision-history, as on a rollback).
    fn sync_new_rs_annotations(&mut self, dk: &Key, rk: &Key, new_rev: i64) {
        let Some(d) = self.deploys.get(dk) else {
            return;
        };
        let dann = d.annotations.clone();
        let Some(rs) = self.rss.get_mut(rk) else {
            return;
        };
        let mut changed = false;
        for (k, v) in dann {
            if !NOT_COPIED.contains(&k.as_str()) && rs.annotations.get(&k) != Some(&v) {
                rs.annotations.insert(k, v);
                changed = true;
            }
        }
        if rs.revision < new_rev {
            if rs.revision > 0 {
                let mut hist: Vec<String> = rs
                    .annotations
                    .get(REVISION_HISTORY)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                hist.push(rs.revision.to_string());
                rs.annotations
                    .insert(REVISION_HISTORY.into(), json!(hist.join(",")));
            }
            rs.revision = new_rev;
            rs.annotations
                .insert(REVISION.into(), json!(new_rev.to_string()));
            changed = true;
        }
        if changed {
            let (ns, name, ann) = (rs.ns.clone(), rs.name.clone(), rs.annotations.clone());
            let _ = self
                .store
                .modify_with(Kind::ReplicaSet, &ns, &name, &controller_opts(), |v| {
                    v["metadata"]["annotations"] = Value::Object(ann);
                    Ok(())
                });
        }
    }

    /// One reconcile of a Deployment.
    pub fn sync_deployment(&mut self, dk: &Key) {
        let now_s = self.now_ms() / 1000;
        let Some(d) = self.deploys.get(dk) else {
            return;
        };
        let mut rs_keys: Vec<Key> = d.rs.iter().cloned().collect();
        rs_keys.sort_by_key(|k| self.rss.get(k).map(|r| (r.created_ms, r.name.clone())));
        let mut new_key = rs_keys
            .iter()
            .find(|k| {
                self.rss.get(*k).is_some_and(|r| {
                    r.norm_hash == d.norm_hash && normalize_template(&r.template) == d.template_norm
                })
            })
            .cloned();
        let old_keys: Vec<Key> = rs_keys
            .iter()
            .filter(|k| Some(*k) != new_key.as_ref())
            .cloned()
            .collect();
        let (surge, unavail) = if d.recreate {
            (0, 0)
        } else {
            resolve_fenceposts(d.surge, d.unavailable, d.replicas)
        };
        let max_unavailable = if d.recreate || d.replicas == 0 {
            0
        } else {
            unavail.min(d.replicas)
        };
        let (replicas, paused, recreate, deadline) =
            (d.replicas, d.paused, d.recreate, d.deadline_s);
        let mut conds = d.status.conditions.clone();

        // checkPausedConditions
        if deadline.is_some() {
            let cur = get_condition(&conds, "Progressing").map(|c| c.reason.clone());
            if cur.as_deref() != Some("ProgressDeadlineExceeded") {
                let paused_cond = cur.as_deref() == Some("DeploymentPaused");
                if paused && !paused_cond {
                    set_condition(
                        &mut conds,
                        progressing(
                            "DeploymentPaused",
                            "Unknown",
                            "Deployment is paused".into(),
                            now_s,
                        ),
                    );
                } else if !paused && paused_cond {
                    set_condition(
                        &mut conds,
                        progressing(
                            "DeploymentResumed",
                            "Unknown",
                            "Deployment is resumed".into(),
                            now_s,
                        ),
                    );
                }
            }
        }

        let old_spec: i32 = old_keys
            .iter()
            .filter_map(|k| self.rss.get(k))
            .map(|r| r.replicas)
            .sum();
        let old_pods: usize = old_keys
            .iter()
            .filter_map(|k| self.rss.get(k))
            .map(|r| r.pods.len())
            .sum();
        let max_old_rev = old_keys
            .iter()
            .filter_map(|k| self.rss.get(k))
            .map(|r| r.revision)
            .max()
            .unwrap_or(0);
        match &new_key {
            Some(nk) => {
                self.sync_new_rs_annotations(dk, nk, max_old_rev + 1);
                if deadline.is_some() && get_condition(&conds, "Progressing").is_none() {
                    set_condition(
                        &mut conds,
                        progressing(
                            "FoundNewReplicaSet",
                            "True",
                            "Found new replica set".into(),
                            now_s,
                        ),
                    );
                }
            }
            None if !paused && (!recreate || old_pods == 0) => {
                let n = if recreate {
                    replicas
                } else {
                    new_rs_target(replicas, surge, old_spec, 0)
                };
                new_key = self.create_rs(dk, n, max_old_rev + 1, replicas + surge);
                if let (Some(nk), Some(_)) = (&new_key, deadline) {
                    let name = self.rss.get(nk).map(|r| r.name.clone()).unwrap_or_default();
                    let msg = format!("Created new replica set \"{name}\"");
                    set_condition(
                        &mut conds,
                        progressing("NewReplicaSetCreated", "True", msg, now_s),
                    );
                }
            }
            None => {}
        }
        // The Deployment's revision follows its new ReplicaSet.
        if let Some(rev) = new_key
            .as_ref()
            .and_then(|k| self.rss.get(k))
            .map(|r| r.revision.to_string())
            && let Some(d) = self.deploys.get(dk)
            && d.annotations.get(REVISION).and_then(Value::as_str) != Some(rev.as_str())
        {
            let (ns, name) = (d.ns.clone(), d.name.clone());
            let r2 = rev.clone();
            if let Ok(v) =
                self.store
                    .modify_with(Kind::Deployment, &ns, &name, &controller_opts(), |v| {
                        if !v["metadata"]
                            .get("annotations")
                            .is_some_and(Value::is_object)
                        {
                            v["metadata"]["annotations"] = json!({});
                        }
                        v["metadata"]["annotations"][REVISION] = json!(r2);
                        Ok(())
                    })
                && let Some(d) = self.deploys.get_mut(dk)
            {
                d.annotations = super::model::obj_of(&v["metadata"], "annotations");
            }
        }

        // Scaling.
        let max_total = replicas + surge;
        if paused {
            if let Some(nk) = &new_key
                && old_spec == 0
            {
                self.scale_rs(dk, nk, replicas, replicas, max_total);
            }
        } else if recreate {
            if old_spec > 0 {
                for ok in &old_keys {
                    self.scale_rs(dk, ok, 0, replicas, max_total);
                }
            } else if let Some(nk) = &new_key
                && old_pods == 0
            {
                self.scale_rs(dk, nk, replicas, replicas, max_total);
            }
        } else if let Some(nk) = &new_key {
            let new_spec = self.rss.get(nk).map(|r| r.replicas).unwrap_or(0);
            let target = if new_spec > replicas {
                replicas
            } else {
                new_rs_target(replicas, surge, old_spec + new_spec, new_spec)
            };
            self.scale_rs(dk, nk, target, replicas, max_total);
            let new_avail = self.rs_counts(nk).2;
            let olds: Vec<OldRs> = old_keys
                .iter()
                .map(|k| OldRs {
                    spec: self.rss.get(k).map(|r| r.replicas).unwrap_or(0),
                    available: self.rs_counts(k).2,
                })
                .collect();
            let targets = old_rs_targets(replicas, max_unavailable, target, new_avail, &olds);
            for (ok, t) in old_keys.iter().zip(targets) {
                if self.rss.get(ok).is_some_and(|r| r.replicas != t) {
                    self.scale_rs(dk, ok, t, replicas, max_total);
                }
            }
        }

        // Status.
        let Some(d) = self.deploys.get(dk) else {
            return;
        };
        let st = self.compute_status(d, new_key.as_ref(), conds, max_unavailable, now_s);
        let done = complete(d, &st);
        let deadline_due = match (deadline, get_condition(&st.conditions, "Progressing")) {
            (Some(secs), Some(c))
                if !paused
                    && !done
                    && c.status == "True"
                    && c.reason != "NewReplicaSetAvailable" =>
            {
                Some((c.last_update + secs + 1) * 1000)
            }
            _ => None,
        };
        let history_limit = d.history_limit;
        if st != d.status {
            // Written once at the end of the flush, whatever the passes in between.
            self.pending_status_d.insert(dk.clone());
        }
        if let Some(d) = self.deploys.get_mut(dk) {
            d.status = st;
            if d.deadline_due != deadline_due {
                d.deadline_due = deadline_due;
                if let Some(due) = deadline_due {
                    self.schedule(due, Task::Deadline(dk.clone()));
                }
            }
        }
        if done {
            self.cleanup_old(dk, new_key.as_ref(), history_limit);
        }
    }

    /// Deletes empty old ReplicaSets beyond `revisionHistoryLimit`, oldest first.
    fn cleanup_old(&mut self, dk: &Key, new_key: Option<&Key>, limit: usize) {
        let Some(d) = self.deploys.get(dk) else {
            return;
        };
        let mut olds: Vec<&Rs> =
            d.rs.iter()
                .filter(|k| Some(*k) != new_key)
                .filter_map(|k| self.rss.get(k))
                .collect();
        if olds.len() <= limit {
            return;
        }
        olds.sort_by_key(|r| (r.revision, r.created_ms));
        let excess = olds.len() - limit;
        let victims: Vec<(Key, String, String)> = olds
            .iter()
            .filter(|r| r.replicas == 0 && r.pods.is_empty())
            .take(excess)
            .map(|r| (key(&r.ns, &r.name), r.ns.clone(), r.name.clone()))
            .collect();
        for (k, ns, name) in victims {
            self.rss.remove(&k);
            if let Some(d) = self.deploys.get_mut(dk) {
                d.rs.remove(&k);
            }
            let _ = self.store.delete(Kind::ReplicaSet, &ns, &name);
        }
    }

    /// One reconcile of a ReplicaSet: pods up or down to its size, then its status.
    pub fn sync_rs(&mut self, rk: &Key) {
        let Some(rs) = self.rss.get(rk) else {
            return;
        };
        let mut active: Vec<(u8, i64, Key)> = rs
            .pods
            .iter()
            .filter_map(|k| self.pods.get(k).map(|p| (k, p)))
            .filter(|(_, p)| p.stage != Stage::Terminating)
            .map(|(k, p)| {
                let rank = match p.stage {
                    Stage::Pending => 0,
                    Stage::BackOff | Stage::Starting => 1,
                    _ => 2,
                };
                (rank, -p.created_ms, k.clone())
            })
            .collect();
        let want = rs.replicas.max(0) as usize;
        let (ns, name, uid, owner) = (
            rs.ns.clone(),
            rs.name.clone(),
            rs.uid.clone(),
            rs.owner.clone(),
        );
        if active.len() < want {
            for _ in active.len()..want {
                self.create_pod(rk);
            }
        } else if active.len() > want {
            active.sort();
            let victims: Vec<Key> = active
                .iter()
                .take(active.len() - want)
                .map(|v| v.2.clone())
                .collect();
            for pk in victims {
                let pod_name = pk
                    .split_once('/')
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_default();
                self.terminate_pod(&pk);
                let now = self.now_ms();
                let inv = Involved {
                    kind: "ReplicaSet",
                    api_version: "apps/v1",
                    ns: &ns,
                    name: &name,
                    uid: &uid,
                };
                let msg = format!("Deleted pod: {pod_name}");
                self.rec.record(
                    &self.store,
                    now,
                    &inv,
                    REPLICASET_CONTROLLER,
                    false,
                    "SuccessfulDelete",
                    &msg,
                );
            }
        }
        let counts = self.rs_counts(rk);
        let Some(rs) = self.rss.get_mut(rk) else {
            return;
        };
        if rs.status != counts || rs.generation_observed_stale() {
            rs.status = counts;
            rs.observed = rs.generation;
            self.pending_status_rs.insert(rk.clone());
            self.dirty_d.insert(owner);
        }
    }
}

impl Controller {
    /// Writes the statuses changed during a flush: ReplicaSets first, then Deployments.
    pub(super) fn write_pending_statuses(&mut self) {
        let opts = status_opts("kube-controller-manager");
        for rk in std::mem::take(&mut self.pending_status_rs) {
            if let Some(rs) = self.rss.get(&rk) {
                let body = rs_status_json(rs);
                let _ = self
                    .store
                    .modify_with(Kind::ReplicaSet, &rs.ns, &rs.name, &opts, |v| {
                        v["status"] = body;
                        Ok(())
                    });
            }
        }
        for dk in std::mem::take(&mut self.pending_status_d) {
            if let Some(d) = self.deploys.get(&dk) {
                let body = d.status.to_json();
                let _ = self
                    .store
                    .modify_with(Kind::Deployment, &d.ns, &d.name, &opts, |v| {
                        v["status"] = body;
                        Ok(())
                    });
            }
        }
    }
}
