//! Unit tests of the store: metadata, conflicts, history and garbage collection.
use super::*;
use serde_json::json;

fn store() -> Store {
    let t: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
    Store::new(Arc::new(move || t))
}

fn deploy(ns: &str, name: &str, image: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}}}
    })
}

#[test]
fn create_sets_server_fields_and_rejects_duplicates() {
    let s = store();
    let d = s
        .create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap();
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["metadata"]["creationTimestamp"], "2026-01-02T03:04:05Z");
    assert_eq!(d["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert_eq!(
        d["metadata"]["resourceVersion"],
        s.resource_version().to_string()
    );
    assert_eq!(
        d["metadata"]["managedFields"][0]["manager"],
        DEFAULT_MANAGER
    );
    let err = s
        .create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
}

#[test]
fn update_checks_resource_version_and_bumps_generation_on_spec_only() {
    let s = store();
    let d = s
        .create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap();
    let mut stale = d.clone();
    let mut st = d.clone();
    st["status"] = json!({"replicas": 2});
    let d2 = s.update(Kind::Deployment, st).unwrap();
    assert_eq!(d2["metadata"]["generation"], 1);
    stale["spec"]["replicas"] = json!(3);
    let err = s.update(Kind::Deployment, stale).unwrap_err();
    assert_eq!(err.reason, "Conflict");
    assert_eq!(s.get(Kind::Deployment, "a", "web").unwrap(), d2);
    let d3 = s
        .modify(Kind::Deployment, "a", "web", |o| {
            o["spec"]["replicas"] = json!(4)
        })
        .unwrap();
    assert_eq!(d3["metadata"]["generation"], 2);
    assert_eq!(d3["metadata"]["uid"], d["metadata"]["uid"]);
}

#[test]
fn invalid_writes_leave_the_store_unchanged() {
    let s = store();
    s.create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap();
    let before = s.get(Kind::Deployment, "a", "web").unwrap();
    let rv = s.resource_version();
    let err = s
        .modify(Kind::Deployment, "a", "web", |o| {
            o["spec"]["replicas"] = json!(-1)
        })
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let err = s
        .modify(Kind::Deployment, "a", "web", |o| {
            o.as_object_mut().unwrap().remove("metadata");
        })
        .unwrap_err();
    assert_eq!(err.code, 422);
    let mut bad = deploy("a", "other", "");
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    assert_eq!(s.create(Kind::Deployment, bad).unwrap_err().code, 422);
    assert_eq!(s.get(Kind::Deployment, "a", "web").unwrap(), before);
    assert_eq!(s.resource_version(), rv);
}

#[test]
fn dry_run_stores_nothing() {
    let s = store();
    let rv = s.resource_version();
    let dry = WriteOptions {
        dry_run: true,
        ..Default::default()
    };
    let d = s
        .create_with(Kind::Deployment, deploy("a", "web", "x:1"), &dry)
        .unwrap();
    assert_eq!(d["metadata"]["name"], "web");
    assert!(s.get(Kind::Deployment, "a", "web").is_none());
    assert_eq!(s.resource_version(), rv);
}

#[test]
fn list_is_sorted_and_events_since_honours_history() {
    let s = store();
    for (ns, n) in [("b", "z"), ("a", "y"), ("a", "x")] {
        s.create(Kind::Deployment, deploy(ns, n, "x:1")).unwrap();
    }
    s.create(Kind::Namespace, json!({"metadata": {"name": "a"}}))
        .unwrap();
    let (items, rv) = s.list(Kind::Deployment, None);
    let names: Vec<_> = items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "y", "z"]);
    assert_eq!(rv, s.resource_version());
    assert_eq!(s.list(Kind::Deployment, Some("a")).0.len(), 2);
    let evs = s.events_since(1, Kind::Deployment).unwrap();
    assert_eq!(evs.len(), 3);
    assert!(evs.iter().all(|e| e.type_ == EventType::Added));
    s.set_history_limit(2);
    assert_eq!(s.events_since(1, Kind::Deployment).unwrap_err().code, 410);
    assert_eq!(s.events_since(rv - 1, Kind::Deployment).unwrap().len(), 0);
    s.compact_history();
    assert_eq!(
        s.events_since(rv - 1, Kind::Deployment).unwrap_err().reason,
        "Expired"
    );
    assert!(s.events_since(rv, Kind::Deployment).unwrap().is_empty());
}

#[test]
fn delete_cascades_to_owned_objects() {
    let s = store();
    let d = s
        .create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap();
    let owner = |o: &Value, kind: &str| {
        json!([{"apiVersion": "apps/v1", "kind": kind,
        "name": o["metadata"]["name"], "uid": o["metadata"]["uid"], "controller": true}])
    };
    let mut rs = deploy("a", "web-abc", "x:1");
    rs["metadata"]["ownerReferences"] = owner(&d, "Deployment");
    let rs = s.create(Kind::ReplicaSet, rs).unwrap();
    let pod = json!({"metadata": {"name": "web-abc-1", "namespace": "a",
        "ownerReferences": owner(&rs, "ReplicaSet")}, "spec": {}});
    s.create(Kind::Pod, pod).unwrap();
    s.create(
        Kind::Pod,
        json!({"metadata": {"name": "lone", "namespace": "a"}}),
    )
    .unwrap();
    let mut rx = s.subscribe();
    s.delete(Kind::Deployment, "a", "web").unwrap();
    assert!(s.list(Kind::ReplicaSet, None).0.is_empty());
    let pods = s.list(Kind::Pod, None).0;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["name"], "lone");
    let mut deleted = Vec::new();
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.type_, EventType::Deleted);
        deleted.push(e.kind);
    }
    assert_eq!(deleted, [Kind::Deployment, Kind::ReplicaSet, Kind::Pod]);
    assert_eq!(s.delete(Kind::Pod, "a", "gone").unwrap_err().code, 404);
}

#[test]
fn graceful_deletion_sets_deletion_timestamp_once_and_plain_writes_cannot() {
    let s = store();
    s.create(Kind::Deployment, deploy("a", "web", "x:1"))
        .unwrap();
    // A plain update cannot start a deletion (the apiserver ignores the field)...
    let d = s
        .modify(Kind::Deployment, "a", "web", |v| {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-02T03:00:00Z");
            v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        })
        .unwrap();
    assert!(d["metadata"].get("deletionTimestamp").is_none(), "{d}");
    assert!(d["metadata"].get("deletionGracePeriodSeconds").is_none());
    // ...graceful deletion does, once...
    let graceful = WriteOptions {
        graceful_delete: true,
        ..Default::default()
    };
    let d = s
        .modify_with(Kind::Deployment, "a", "web", &graceful, |v| {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-02T03:04:05Z");
            v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
            Ok(())
        })
        .unwrap();
    assert_eq!(d["metadata"]["deletionTimestamp"], "2026-01-02T03:04:05Z");
    assert_eq!(d["metadata"]["deletionGracePeriodSeconds"], 30);
    // ...and later writes neither move nor clear it.
    let d = s
        .modify(Kind::Deployment, "a", "web", |v| {
            v["metadata"]["deletionTimestamp"] = json!("2030-01-01T00:00:00Z");
        })
        .unwrap();
    assert_eq!(d["metadata"]["deletionTimestamp"], "2026-01-02T03:04:05Z");
    let d = s
        .modify(Kind::Deployment, "a", "web", |v| {
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("deletionTimestamp");
            }
        })
        .unwrap();
    assert_eq!(d["metadata"]["deletionTimestamp"], "2026-01-02T03:04:05Z");
}
