//! Controller tests on a paused clock stepped by hand: whole rollouts, undo, crash loops, pause.
use super::controller::Controller;
use super::estate::deployment_json;
use super::traffic::TrafficTable;
use super::*;
use crate::demo::store::{Kind, StoreEvent};
use serde_json::{Value, json};
use tokio::sync::broadcast;

struct T {
    c: Controller,
    rx: broadcast::Receiver<StoreEvent>,
}

fn setup() -> T {
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let clock = Arc::new(SimClock::new(t0, 1.0, true));
    let c2 = clock.clone();
    let store = Store::new(Arc::new(move || c2.now()));
    let rx = store.subscribe();
    let c = Controller::new(
        store,
        clock,
        7,
        Arc::new(TrafficTable::default()),
        "-bad".into(),
        LogBook::default(),
    );
    T { c, rx }
}

impl T {
    fn pump(&mut self) {
        while let Ok(e) = self.rx.try_recv() {
            self.c.on_event(&e);
        }
        self.c.flush();
    }

    /// Runs `secs` of sim time in 250 ms steps, calling `each` after every step.
    fn run(&mut self, secs: i64, mut each: impl FnMut(&Controller)) {
        for _ in 0..secs * 4 {
            self.pump();
            self.c.advance_and_run(250);
            self.pump();
            each(&self.c);
        }
    }

    fn deploy(&self, name: &str) -> Value {
        self.c.store.get(Kind::Deployment, "ns", name).unwrap()
    }

    fn rs_list(&self) -> Vec<Value> {
        self.c.store.list(Kind::ReplicaSet, Some("ns")).0
    }

    fn pods(&self) -> Vec<Value> {
        self.c.store.list(Kind::Pod, Some("ns")).0
    }

    fn set_image(&mut self, name: &str, image: &str) {
        self.c
            .store
            .modify(Kind::Deployment, "ns", name, |v| {
                v["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
            })
            .unwrap();
        self.pump();
    }
}

fn cond<'a>(d: &'a Value, t: &str) -> &'a Value {
    d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .unwrap_or(&Value::Null)
}

fn rs_by_revision(t: &T, rev: &str) -> Value {
    t.rs_list()
        .into_iter()
        .find(|r| r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == rev)
        .unwrap_or_else(|| panic!("no RS with revision {rev}"))
}

#[test]
fn whole_rollout_respects_surge_and_reaches_complete() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "web", 3, "r/web:1", "first"),
        )
        .unwrap();
    t.run(30, |_| {});
    let d = t.deploy("web");
    assert_eq!(d["status"]["replicas"], 3, "{d}");
    assert_eq!(d["status"]["updatedReplicas"], 3);
    assert_eq!(d["status"]["availableReplicas"], 3);
    assert!(d["status"].get("unavailableReplicas").is_none());
    assert_eq!(d["status"]["observedGeneration"], 1);
    assert_eq!(cond(&d, "Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(cond(&d, "Progressing")["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let rs1 = rs_by_revision(&t, "1");
    let name1 = rs1["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name1.starts_with("web-"));
    assert_eq!(
        rs1["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "first"
    );
    assert_eq!(
        rs1["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    let hash = rs1["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(name1, format!("web-{hash}"));
    let pods = t.pods();
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name1}-"))
        );
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
        assert!(p["spec"]["nodeName"].as_str().unwrap().starts_with("node-"));
    }

    // Version 2: never more than 4 pods (surge 1), never fewer than 3 available (unavailable 0).
    t.set_image("web", "r/web:2");
    let mut max_pods = 0;
    let mut saw_progressing = false;
    t.run(40, |c| {
        let active = c
            .pods
            .values()
            .filter(|p| p.stage != model::Stage::Terminating)
            .count();
        max_pods = max_pods.max(active);
        let d = c.store.get(Kind::Deployment, "ns", "web").unwrap();
        let avail = d["status"]["availableReplicas"].as_i64().unwrap_or(0);
        assert!(avail >= 3, "availability dropped: {}", d["status"]);
        saw_progressing |= cond(&d, "Progressing")["reason"] == "ReplicaSetUpdated";
    });
    assert_eq!(max_pods, 4);
    assert!(saw_progressing);
    let d = t.deploy("web");
    assert_eq!(d["status"]["updatedReplicas"], 3, "{}", d["status"]);
    assert_eq!(d["status"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["status"]["observedGeneration"], 2);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(cond(&d, "Progressing")["reason"], "NewReplicaSetAvailable");
    assert_eq!(rs_by_revision(&t, "1")["spec"]["replicas"], 0);
    assert_eq!(t.pods().len(), 3);
    let events = t.c.store.list(Kind::Event, Some("ns")).0;
    let scaled: Vec<&str> = events
        .iter()
        .filter(|e| e["reason"] == "ScalingReplicaSet")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        scaled.contains(&format!("Scaled down replica set {name1} from 3 to 2").as_str()),
        "{scaled:?}"
    );

    // Back to version 1: the old ReplicaSet is reused with revision 3, history "1".
    t.set_image("web", "r/web:1");
    t.run(40, |_| {});
    let rs = rs_by_revision(&t, "3");
    assert_eq!(rs["metadata"]["name"], name1.as_str());
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(rs["spec"]["replicas"], 3);
    assert_eq!(
        t.deploy("web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(t.rs_list().len(), 2);
}

#[test]
fn bad_image_crash_loops_until_progress_deadline() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "api", 2, "r/api:1", "ok"),
        )
        .unwrap();
    t.run(20, |_| {});
    t.set_image("api", "r/api:2-bad");
    t.run(50, |_| {});
    let d = t.deploy("api");
    assert_ne!(
        cond(&d, "Progressing")["reason"],
        "ProgressDeadlineExceeded",
        "too early"
    );
    t.run(30, |_| {});
    let d = t.deploy("api");
    let p = cond(&d, "Progressing");
    assert_eq!(p["reason"], "ProgressDeadlineExceeded", "{}", d["status"]);
    assert_eq!(p["status"], "False");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("has timed out progressing")
    );
    // Old pods keep serving: 2 available; the new one crash-loops.
    assert_eq!(d["status"]["availableReplicas"], 2);
    let bad: Vec<Value> = t
        .pods()
        .into_iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == "r/api:2-bad")
        .collect();
    assert_eq!(bad.len(), 1);
    let cs = &bad[0]["status"]["containerStatuses"][0];
    assert!(cs["restartCount"].as_i64().unwrap() >= 2, "{cs}");
    assert_eq!(cs["ready"], false);
    assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
    let events = t.c.store.list(Kind::Event, Some("ns")).0;
    let backoff = events
        .iter()
        .find(|e| e["reason"] == "BackOff")
        .expect("BackOff event");
    assert_eq!(backoff["type"], "Warning");
    assert!(
        backoff["message"]
            .as_str()
            .unwrap()
            .starts_with("Back-off restarting failed container api in pod")
    );
    // Traffic: the bad pod errs far more than a good one.
    let traffic = t.c.traffic.snapshot(t.c.now_ms());
    let ratio = |p: &crate::demo::traffic::PodTraffic| p.errors_total / p.requests_total.max(1e-9);
    let bad_t = traffic.iter().find(|p| p.image.ends_with("-bad")).unwrap();
    let good_t = traffic.iter().find(|p| !p.image.ends_with("-bad")).unwrap();
    assert!(ratio(bad_t) > 0.2 && ratio(bad_t) > ratio(good_t) * 2.0);
}

#[test]
fn paused_deployment_does_not_progress_until_resumed() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "web", 2, "r/web:1", "ok"),
        )
        .unwrap();
    t.run(20, |_| {});
    t.c.store
        .modify(Kind::Deployment, "ns", "web", |v| {
            v["spec"]["paused"] = json!(true)
        })
        .unwrap();
    t.pump();
    t.set_image("web", "r/web:2");
    t.run(30, |_| {});
    assert_eq!(t.rs_list().len(), 1, "no new ReplicaSet while paused");
    let d = t.deploy("web");
    assert_eq!(cond(&d, "Progressing")["reason"], "DeploymentPaused");
    assert_eq!(cond(&d, "Progressing")["status"], "Unknown");
    t.c.store
        .modify(Kind::Deployment, "ns", "web", |v| {
            v["spec"]["paused"] = json!(false)
        })
        .unwrap();
    t.run(30, |_| {});
    let d = t.deploy("web");
    assert_eq!(t.rs_list().len(), 2);
    assert_eq!(
        cond(&d, "Progressing")["reason"],
        "NewReplicaSetAvailable",
        "{}",
        d["status"]
    );
    assert_eq!(d["status"]["updatedReplicas"], 2);
}

#[test]
fn scaling_and_deleting_pods_converge() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "web", 3, "r/web:1", "ok"),
        )
        .unwrap();
    t.run(20, |_| {});
    t.c.store
        .modify(Kind::Deployment, "ns", "web", |v| {
            v["spec"]["replicas"] = json!(5)
        })
        .unwrap();
    t.run(20, |_| {});
    assert_eq!(t.deploy("web")["status"]["availableReplicas"], 5);
    assert_eq!(t.rs_list()[0]["spec"]["replicas"], 5);
    // A pod deleted by hand is replaced.
    let victim = t.pods()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    t.c.store.delete(Kind::Pod, "ns", &victim).unwrap();
    t.run(20, |_| {});
    let names: Vec<String> = t
        .pods()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 5);
    assert!(!names.contains(&victim));
    t.c.store
        .modify(Kind::Deployment, "ns", "web", |v| {
            v["spec"]["replicas"] = json!(2)
        })
        .unwrap();
    t.run(20, |_| {});
    assert_eq!(t.pods().len(), 2);
    assert_eq!(t.deploy("web")["status"]["replicas"], 2);
    // Deleting the Deployment leaves nothing behind in the model.
    t.c.store.delete(Kind::Deployment, "ns", "web").unwrap();
    t.pump();
    assert!(t.c.pods.is_empty() && t.c.rss.is_empty() && t.c.deploys.is_empty());
}

#[test]
fn recreate_strategy_stops_old_pods_first() {
    let mut t = setup();
    let mut d = deployment_json("ns", "db", 2, "r/db:1", "ok");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    t.c.store.create(Kind::Deployment, d).unwrap();
    t.run(20, |_| {});
    t.set_image("db", "r/db:2");
    let mut mixed = false;
    t.run(30, |c| {
        let images: std::collections::BTreeSet<String> = c
            .pods
            .values()
            .map(|p| p.containers[0].image.clone())
            .collect();
        mixed |= images.len() > 1;
    });
    assert!(!mixed, "old and new pods never coexist");
    assert_eq!(t.deploy("db")["status"]["updatedReplicas"], 2);
}

#[test]
fn resync_after_missed_events_replaces_lost_pods() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "web", 2, "r/web:1", "ok"),
        )
        .unwrap();
    t.run(20, |_| {});
    let victim = t.pods()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    t.c.store.delete(Kind::Pod, "ns", &victim).unwrap();
    // The controller never sees the DELETED event (as after a lagged stream).
    while t.rx.try_recv().is_ok() {}
    t.c.resync();
    t.run(20, |_| {});
    let names: Vec<String> = t
        .pods()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(!names.contains(&victim));
    assert_eq!(t.deploy("web")["status"]["availableReplicas"], 2);
}

#[test]
fn events_repeat_by_count_and_are_capped_per_namespace() {
    let t = setup();
    let mut rec = super::events::Recorder::new();
    let inv = super::events::Involved {
        kind: "Pod",
        api_version: "v1",
        ns: "ns",
        name: "p",
        uid: "u",
    };
    for _ in 0..3 {
        rec.record(
            &t.c.store,
            1000,
            &inv,
            super::events::SCHEDULER,
            true,
            "BackOff",
            "same",
        );
    }
    let evs = t.c.store.list(Kind::Event, Some("ns")).0;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["count"], 3);
    assert_eq!(evs[0]["type"], "Warning");
    for i in 0..EVENTS_PER_NAMESPACE + 10 {
        rec.record(
            &t.c.store,
            2000,
            &inv,
            super::events::SCHEDULER,
            false,
            "X",
            &format!("m{i}"),
        );
    }
    assert_eq!(
        t.c.store.list(Kind::Event, Some("ns")).0.len(),
        EVENTS_PER_NAMESPACE
    );
}

#[test]
fn a_replicaset_scaled_by_hand_is_put_back() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Deployment,
            deployment_json("ns", "web", 3, "r/web:1", "ok"),
        )
        .unwrap();
    t.run(20, |_| {});
    let rs = t.rs_list()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    t.c.store
        .modify(Kind::ReplicaSet, "ns", &rs, |v| {
            v["spec"]["replicas"] = json!(5)
        })
        .unwrap();
    t.run(20, |_| {});
    assert_eq!(t.rs_list()[0]["spec"]["replicas"], 3);
    assert_eq!(t.pods().len(), 3);
    let events = t.c.store.list(Kind::Event, Some("ns")).0;
    let msg = format!("Scaled down replica set {rs} from 5 to 3");
    assert!(events.iter().any(|e| e["message"] == msg.as_str()));
}

#[test]
fn a_bare_pod_is_run_by_the_kubelet() {
    let mut t = setup();
    t.c.store
        .create(
            Kind::Pod,
            json!({"metadata": {"name": "solo", "namespace": "ns", "labels": {"run": "solo"}},
                   "spec": {"containers": [{"name": "solo", "image": "r/solo:1"}]}}),
        )
        .unwrap();
    t.run(10, |_| {});
    let p = t.c.store.get(Kind::Pod, "ns", "solo").unwrap();
    assert_eq!(p["status"]["phase"], "Running", "{p}");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
    assert!(p["spec"]["nodeName"].as_str().unwrap().starts_with("node-"));
    let traffic = t.c.traffic.snapshot(t.c.now_ms());
    assert_eq!(traffic.len(), 1);
    assert_eq!(traffic[0].app, "solo");
    t.c.store.delete(Kind::Pod, "ns", "solo").unwrap();
    t.pump();
    assert!(t.c.pods.is_empty());
    assert!(t.c.traffic.is_empty());
}
