//! Projections from k8s-openapi objects to the compact views the panes read (no managed fields,
//! no full objects kept).
use crate::model::{
    ConditionView, ContainerImage, DeploymentView, EventView, PodView, ReplicaSetView,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a String> {
    meta.annotations.as_ref()?.get(key)
}

fn revision(meta: &ObjectMeta) -> i64 {
    annotation(meta, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn created(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.creation_timestamp.as_ref().map(|t| t.0)
}

fn containers(template: Option<&PodTemplateSpec>) -> Vec<ContainerImage> {
    template
        .and_then(|t| t.spec.as_ref())
        .map(pod_containers)
        .unwrap_or_default()
}

/// The (name, image) of every container of a pod spec.
fn pod_containers(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<ContainerImage> {
    spec.containers
        .iter()
        .map(|c| ContainerImage {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
        })
        .collect()
}

pub fn deployment(d: &Deployment) -> DeploymentView {
    let meta = &d.metadata;
    let spec = &d.spec;
    let status = d.status.clone().unwrap_or_default();
    DeploymentView {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        generation: meta.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        revision: revision(meta),
        change_cause: annotation(meta, CHANGE_CAUSE).cloned(),
        desired: spec.replicas.unwrap_or(1),
        paused: spec.paused.unwrap_or(false),
        progress_deadline_seconds: spec.progress_deadline_seconds,
        replicas: status.replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        unavailable: status.unavailable_replicas.unwrap_or(0),
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| ConditionView {
                type_: c.type_.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                reason: c.reason,
                message: c.message,
                last_update: c.last_update_time.map(|t| t.0),
                last_transition: c.last_transition_time.map(|t| t.0),
            })
            .collect(),
        containers: containers(Some(&spec.template)),
        selector: spec.selector.match_labels.clone().unwrap_or_default(),
        created: created(meta),
    }
}

pub fn replica_set(rs: &ReplicaSet) -> ReplicaSetView {
    let meta = &rs.metadata;
    let status = rs.status.as_ref();
    ReplicaSetView {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        owner_uid: meta
            .owner_references
            .as_ref()
            .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
            .map(|r| r.uid.clone()),
        revision: revision(meta),
        change_cause: annotation(meta, CHANGE_CAUSE).cloned(),
        template_hash: meta
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
            .cloned(),
        containers: containers(rs.spec.template.as_ref()),
        desired: rs.spec.replicas.unwrap_or(1),
        replicas: status.map_or(0, |s| s.replicas),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        created: created(meta),
    }
}

pub fn pod(p: &Pod) -> PodView {
    let meta = &p.metadata;
    let status = p.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let phase = if meta.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into())
    };
    let waiting_reason = statuses
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    // The container that restarted most recently says why it last stopped.
    let last_termination = statuses
        .iter()
        .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
        .max_by_key(|t| t.finished_at.as_ref().map(|f| f.0))
        .map(|t| {
            let reason = t.reason.as_deref().unwrap_or("Terminated");
            format!("{reason} (exit {})", t.exit_code)
        });
    let total = p
        .spec
        .as_ref()
        .map_or(statuses.len(), |s| s.containers.len());
    PodView {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        owner: meta
            .owner_references
            .as_ref()
            .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
            .map(|r| r.name.clone()),
        labels: meta.labels.clone().unwrap_or_default(),
        phase,
        ready_containers: statuses.iter().filter(|c| c.ready).count() as i32,
        total_containers: total as i32,
        restarts: statuses.iter().map(|c| c.restart_count).sum(),
        waiting_reason,
        last_termination,
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
        containers: p.spec.as_ref().map(pod_containers).unwrap_or_default(),
        created: created(meta),
    }
}

pub fn event(e: &Event) -> EventView {
    let last_seen = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(e.last_timestamp.as_ref().map(|t| t.0))
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(created(&e.metadata));
    let count = e
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1);
    EventView {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count,
        involved_kind: e.involved_object.kind.clone().unwrap_or_default(),
        involved_name: e.involved_object.name.clone().unwrap_or_default(),
        last_seen,
    }
}

/// Whether an event concerns a Deployment or the ReplicaSets and Pods it owns, by their generated
/// names: ReplicaSet `{deployment}-{hash}`, Pod `{deployment}-{hash}-{suffix}` (so `web-admin`'s
/// objects do not count as `web`'s).
pub fn event_concerns(e: &EventView, deployment: &str) -> bool {
    let dashes = e
        .involved_name
        .strip_prefix(deployment)
        .and_then(|rest| rest.strip_prefix('-'))
        .map(|rest| rest.matches('-').count());
    match e.involved_kind.as_str() {
        "Deployment" => e.involved_name == deployment,
        "ReplicaSet" => dashes == Some(0),
        "Pod" => dashes == Some(1),
        _ => false,
    }
}

/// Events as the detail shows them: Warnings first, then newest first, at most `cap`.
pub fn order_events(mut events: Vec<EventView>, cap: usize) -> Vec<EventView> {
    events.sort_by(|a, b| {
        (b.type_ == "Warning")
            .cmp(&(a.type_ == "Warning"))
            .then(b.last_seen.cmp(&a.last_seen))
    });
    events.truncate(cap);
    events
}

/// A label selector as the API's `labelSelector` parameter: `k=v,k2=v2`.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RolloutState;
    use serde_json::json;

    #[test]
    fn deployment_projection() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop-blue", "uid": "u1", "resourceVersion": "42",
                "generation": 4, "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "promote 1.2"},
                "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "r/web:1.2"}, {"name": "proxy", "image": "r/envoy:1"}]}}},
            "status": {"observedGeneration": 4, "replicas": 5, "updatedReplicas": 2, "readyReplicas": 4,
                "availableReplicas": 4, "unavailableReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                    "lastUpdateTime": "2026-01-02T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        let v = deployment(&d);
        assert_eq!(
            (v.namespace.as_str(), v.name.as_str()),
            ("shop-blue", "web")
        );
        assert_eq!((v.generation, v.observed_generation, v.revision), (4, 4, 3));
        assert_eq!(v.change_cause.as_deref(), Some("promote 1.2"));
        assert_eq!((v.desired, v.replicas, v.updated, v.ready), (4, 5, 2, 4));
        assert_eq!(v.unavailable, 1);
        assert_eq!(v.primary_image(), Some("r/web:1.2"));
        assert_eq!(v.containers.len(), 2);
        assert_eq!(v.selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(v.conditions[0].reason.as_deref(), Some("ReplicaSetUpdated"));
        assert_eq!(
            v.last_change(),
            Some("2026-01-02T00:00:00Z".parse().unwrap())
        );
        assert!(matches!(
            v.rollout_state(),
            RolloutState::Progressing {
                updated: 2,
                desired: 4,
                ..
            }
        ));

        // An empty status (a brand new object): counts are zero, replicas default to 1.
        let bare: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "x", "generation": 1},
            "spec": {"selector": {}, "template": {}}
        }))
        .unwrap();
        let v = deployment(&bare);
        assert_eq!((v.desired, v.ready, v.observed_generation), (1, 0, 0));
        assert_eq!(v.rollout_state(), RolloutState::WaitingForSpec);
        assert_eq!(v.primary_image(), None);
    }

    #[test]
    fn replica_set_projection() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-5d9c", "namespace": "n", "uid": "rs1",
                "labels": {"app": "web", "pod-template-hash": "5d9c"},
                "annotations": {"deployment.kubernetes.io/revision": "7", "kubernetes.io/change-cause": "rollback"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "web", "image": "r/web:0.9"}]}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        }))
        .unwrap();
        let v = replica_set(&rs);
        assert_eq!(v.owner_uid.as_deref(), Some("d1"));
        assert_eq!(v.revision, 7);
        assert_eq!(v.change_cause.as_deref(), Some("rollback"));
        assert_eq!(v.template_hash.as_deref(), Some("5d9c"));
        assert_eq!(v.containers[0].image, "r/web:0.9");
        assert_eq!((v.desired, v.replicas, v.ready, v.available), (2, 2, 1, 0));
    }

    #[test]
    fn pod_projection() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-5d9c-abcde", "namespace": "n", "labels": {"app": "web"},
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c", "uid": "rs1", "controller": true}]},
            "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "r/web:bad"}, {"name": "side", "image": "r/side:1"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "web", "image": "r/web:bad", "imageID": "", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T00:05:00Z"}}},
                {"name": "side", "image": "r/side:1", "imageID": "", "ready": true, "restartCount": 1,
                 "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T00:01:00Z"}}}
            ]}
        }))
        .unwrap();
        let v = pod(&p);
        assert_eq!(v.phase, "Running");
        assert_eq!(v.owner.as_deref(), Some("web-5d9c"));
        assert_eq!(
            (v.ready_containers, v.total_containers, v.restarts),
            (1, 2, 5)
        );
        assert_eq!(v.waiting_reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(v.last_termination.as_deref(), Some("Error (exit 1)"));
        assert_eq!(v.node.as_deref(), Some("node-1"));

        let mut deleting = p.clone();
        deleting.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(super::pod(&deleting).phase, "Terminating");

        let pending: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        let v = super::pod(&pending);
        assert_eq!(
            (v.phase.as_str(), v.restarts, v.total_containers),
            ("Unknown", 0, 0)
        );
        assert_eq!(v.last_termination, None);
    }

    #[test]
    fn event_projection_and_order() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "web.1", "namespace": "n"},
            "involvedObject": {"kind": "Pod", "name": "web-5d9c-abcde"},
            "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
            "count": 7, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:09:00Z"
        }))
        .unwrap();
        let v = event(&e);
        assert_eq!(
            (v.type_.as_str(), v.reason.as_str(), v.count),
            ("Warning", "BackOff", 7)
        );
        assert_eq!(v.last_seen, Some("2026-01-01T00:09:00Z".parse().unwrap()));
        assert!(event_concerns(&v, "web"));
        assert!(!event_concerns(&v, "we"));
        assert!(!event_concerns(&v, "api"));
        let about = |kind: &str, name: &str| EventView {
            involved_kind: kind.into(),
            involved_name: name.into(),
            ..v.clone()
        };
        assert!(event_concerns(&about("ReplicaSet", "web-5d9c"), "web"));
        assert!(event_concerns(&about("Deployment", "web"), "web"));
        assert!(!event_concerns(&about("Deployment", "web-admin"), "web"));
        assert!(!event_concerns(
            &about("ReplicaSet", "web-admin-5d9c"),
            "web"
        ));
        assert!(!event_concerns(
            &about("Pod", "web-admin-5d9c-abcde"),
            "web"
        ));

        let newer: Event = serde_json::from_value(json!({
            "metadata": {"name": "web.2", "namespace": "n"},
            "involvedObject": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "message": "Scaled up",
            "eventTime": "2026-01-01T00:10:00.000000Z"
        }))
        .unwrap();
        let n = event(&newer);
        assert_eq!((n.type_.as_str(), n.count), ("Normal", 1));
        assert_eq!(n.last_seen, Some("2026-01-01T00:10:00Z".parse().unwrap()));
        let mut older = n.clone();
        older.last_seen = Some("2026-01-01T00:01:00Z".parse().unwrap());
        older.reason = "Old".into();
        let ordered = order_events(vec![older, n, v], 2);
        let reasons: Vec<_> = ordered.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["BackOff", "ScalingReplicaSet"]);
    }

    #[test]
    fn selector_format() {
        let s: BTreeMap<String, String> =
            [("app".into(), "web".into()), ("tier".into(), "fe".into())].into();
        assert_eq!(selector_string(&s), "app=web,tier=fe");
    }
}
