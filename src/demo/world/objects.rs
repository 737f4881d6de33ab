//! The JSON the controller writes: ReplicaSets and Pods (spec and status) as the real controllers
//! and kubelet shape them.
use super::model::{Deploy, Pod, Rs, Stage, fmt_ms};
use super::rollout::{HASH_LABEL, fnv32a};
use serde_json::{Map, Value, json};

/// 64 hex characters derived from `s` (a stand-in for a sha256 digest).
pub fn fake_digest(s: &str) -> String {
    (0u8..8)
        .map(|i| {
            let mut b = s.as_bytes().to_vec();
            b.push(i);
            format!("{:08x}", fnv32a(&b))
        })
        .collect()
}

/// The image reference without its tag or digest (`127.0.0.1:5000/shop/web:1.0` → `127.0.0.1:5000/shop/web`).
pub fn image_repo(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

pub fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
           "controller": true, "blockOwnerDeletion": true})
}

/// The template with the hash label added to its labels.
pub fn template_with_hash(template: &Value, hash: &str) -> Value {
    let mut t = template.clone();
    if !t.is_object() {
        t = json!({});
    }
    if !t.get("metadata").is_some_and(Value::is_object) {
        t["metadata"] = json!({});
    }
    if !t["metadata"].get("labels").is_some_and(Value::is_object) {
        t["metadata"]["labels"] = json!({});
    }
    t["metadata"]["labels"][HASH_LABEL] = Value::String(hash.into());
    t
}

pub fn rs_json(d: &Deploy, rs: &Rs, hash: &str) -> Value {
    let labels = rs
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut selector = d.selector.clone();
    selector.insert(HASH_LABEL.into(), Value::String(hash.into()));
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": rs.name, "namespace": rs.ns, "labels": labels,
            "annotations": rs.annotations,
            "ownerReferences": [owner_ref("apps/v1", "Deployment", &d.name, &d.uid)],
        },
        "spec": {
            "replicas": rs.replicas,
            "minReadySeconds": rs.min_ready_s,
            "selector": {"matchLabels": selector},
            "template": rs.template,
        },
    })
}

/// RS status as the ReplicaSet controller writes it (zero counts omitted except `replicas`).
pub fn rs_status_json(rs: &Rs) -> Value {
    let (replicas, ready, available) = rs.status;
    let mut m = Map::new();
    m.insert("replicas".into(), json!(replicas));
    if replicas != 0 {
        m.insert("fullyLabeledReplicas".into(), json!(replicas));
    }
    if ready != 0 {
        m.insert("readyReplicas".into(), json!(ready));
    }
    if available != 0 {
        m.insert("availableReplicas".into(), json!(available));
    }
    m.insert("observedGeneration".into(), json!(rs.generation));
    Value::Object(m)
}

pub fn pod_json(p: &Pod, rs: &Rs) -> Value {
    let tmeta = rs
        .template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = rs
        .template
        .get("spec")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.insert("nodeName".into(), Value::String(p.node.clone()));
        for (k, v) in [
            ("restartPolicy", json!("Always")),
            ("schedulerName", json!("default-scheduler")),
            ("serviceAccountName", json!("default")),
            ("terminationGracePeriodSeconds", json!(30)),
            ("dnsPolicy", json!("ClusterFirst")),
        ] {
            s.entry(k).or_insert(v);
        }
    }
    let mut md = json!({
        "name": p.name, "namespace": p.ns, "generateName": format!("{}-", rs.name),
        "labels": tmeta.get("labels").cloned().unwrap_or_else(|| json!({})),
        "ownerReferences": [owner_ref("apps/v1", "ReplicaSet", &rs.name, &rs.uid)],
    });
    if let Some(a) = tmeta.get("annotations").filter(|a| a.is_object()) {
        md["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
           "status": pod_status_json(p)})
}

fn cond(type_: &str, ok: bool, since_ms: i64, reason: Option<&str>) -> Value {
    let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" },
        "lastProbeTime": null, "lastTransitionTime": fmt_ms(since_ms)});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

pub fn pod_status_json(p: &Pod) -> Value {
    let created = p.created_ms;
    let ready = p.stage == Stage::Ready;
    let ready_since = p.ready_since_ms.unwrap_or(created);
    let not_ready_reason = if ready {
        None
    } else {
        Some("ContainersNotReady")
    };
    let started = p.containers.iter().filter_map(|c| c.started_ms).min();
    let phase = if p.stage == Stage::Pending {
        "Pending"
    } else {
        "Running"
    };
    let conditions = vec![
        cond(
            "PodReadyToStartContainers",
            p.stage != Stage::Pending,
            started.unwrap_or(created),
            None,
        ),
        cond("Initialized", true, created, None),
        cond("Ready", ready, ready_since, not_ready_reason),
        cond("ContainersReady", ready, ready_since, not_ready_reason),
        cond("PodScheduled", true, created, None),
    ];
    let statuses: Vec<Value> = p
        .containers
        .iter()
        .map(|c| {
            let cid = format!(
                "containerd://{}",
                fake_digest(&format!("{}/{}/{}{}", p.ns, p.name, c.name, c.restarts))
            );
            let state = match (p.stage, c.started_ms) {
                (Stage::Pending, _) | (_, None) => {
                    json!({"waiting": {"reason": "ContainerCreating"}})
                }
                (Stage::BackOff, _) if c.bad => json!({"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!("back-off {}s restarting failed container={} pod={}_{}({})",
                        backoff_s(c.restarts), c.name, p.name, p.ns, p.uid)}}),
                (_, Some(t)) => json!({"running": {"startedAt": fmt_ms(t)}}),
            };
            let last = match c.last_crash {
                Some((s, f)) => json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": fmt_ms(s), "finishedAt": fmt_ms(f), "containerID": cid}}),
                None => json!({}),
            };
            let image_id = match &c.image_id {
                Some(d) => format!("{}@{d}", image_repo(&c.image)),
                None => format!("{}@sha256:{}", image_repo(&c.image), fake_digest(&c.image)),
            };
            let mut s = json!({
                "name": c.name, "image": c.image,
                "imageID": image_id,
                "ready": ready && !c.bad,
                "started": p.stage != Stage::Pending && !(p.stage == Stage::BackOff && c.bad),
                "restartCount": c.restarts,
                "state": state, "lastState": last,
            });
            if p.stage != Stage::Pending {
                s["containerID"] = json!(cid);
            }
            s
        })
        .collect();
    let mut st = json!({
        "phase": phase, "conditions": conditions,
        "hostIP": node_ip(&p.node), "hostIPs": [{"ip": node_ip(&p.node)}],
        "startTime": fmt_ms(created), "containerStatuses": statuses, "qosClass": "BestEffort",
    });
    if p.stage != Stage::Pending {
        st["podIP"] = json!(p.ip);
        st["podIPs"] = json!([{"ip": p.ip}]);
    }
    st
}

/// The kubelet's crash back-off after `restarts` restarts: 10 s doubling, capped at 5 min.
pub fn backoff_s(restarts: i32) -> i64 {
    let n = restarts.clamp(1, 10) - 1;
    (10i64 << n).min(300)
}

pub fn node_ip(node: &str) -> String {
    let n = node
        .rsplit('-')
        .next()
        .and_then(|s| s.parse::<u8>().ok())
        .unwrap_or(1);
    format!("10.0.0.{}", 10 + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_s(1), 10);
        assert_eq!(backoff_s(2), 20);
        assert_eq!(backoff_s(9), 300);
        assert_eq!(fake_digest("x").len(), 64);
    }

    #[test]
    fn image_repo_keeps_a_registry_port() {
        assert_eq!(
            image_repo("127.0.0.1:5000/shop/web:1.0"),
            "127.0.0.1:5000/shop/web"
        );
        assert_eq!(
            image_repo("registry.local/shop/web:1.4.2"),
            "registry.local/shop/web"
        );
        assert_eq!(image_repo("localhost:5000/web"), "localhost:5000/web");
        assert_eq!(image_repo("nginx@sha256:abc"), "nginx");
    }
}
