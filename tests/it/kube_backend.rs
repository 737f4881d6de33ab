//! The Kubernetes backend against a fake API server: snapshots, debounced changes, 410 re-list,
//! server outage and recovery, detail watches, log streaming.
pub mod fake;
mod sim;

use fake::FakeKube;
use serde_json::{Value, json};
use shipdeck::backend::kube::{KubeBackend, KubeEvent};
use shipdeck::config::Config;
use shipdeck::msg::Msg;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub fn deployment(ns: &str, name: &str, image: &str, ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "generation": 2,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                "lastUpdateTime": "2026-01-02T00:00:00Z"}]}
    })
}

/// A config with the given (env name, namespace) pairs, all on the fake's kubeconfig.
pub fn config(kubeconfig: &Path, envs: &[(&str, &str)], apps: &[&str]) -> Config {
    let mut text = format!("estate = \"shop\"\nkubeconfig = {:?}\n", kubeconfig);
    for a in apps {
        text.push_str(&format!("[[apps]]\nname = \"{a}\"\n"));
    }
    for (name, ns) in envs {
        text.push_str(&format!(
            "[[environments]]\nname = \"{name}\"\nnamespace = \"{ns}\"\ncontext = \"fake\"\n"
        ));
    }
    Config::parse(&text, Path::new("test.toml")).unwrap()
}

/// Waits (up to `secs`) for a backend message matching `pick`, ignoring the others.
pub async fn wait_for<T>(
    rx: &mut mpsc::Receiver<Msg>,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&KubeEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Msg::Kube(e))) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("channel closed while waiting for {what}"),
            Err(_) => panic!("timed out after {secs}s waiting for {what}"),
        }
    }
}

fn deployments(e: &KubeEvent) -> Option<Vec<(String, String, String, i32)>> {
    match e {
        KubeEvent::Deployments { items, .. } => Some(
            items
                .iter()
                .map(|d| {
                    let image = d.primary_image().unwrap_or("").to_string();
                    (d.namespace.clone(), d.name.clone(), image, d.ready)
                })
                .collect(),
        ),
        _ => None,
    }
}

struct Setup {
    fake: FakeKube,
    rx: mpsc::Receiver<Msg>,
    backend: KubeBackend,
    _dir: tempfile::TempDir,
}

async fn setup(envs: &[(&str, &str)], apps: &[&str], seed: impl FnOnce(&FakeKube)) -> Setup {
    let fake = FakeKube::start().await;
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path(), &["fake"]);
    let config = config(&kc, envs, apps);
    let (tx, rx) = mpsc::channel(64);
    let backend = KubeBackend::spawn(&config, tx, CancellationToken::new());
    Setup {
        fake,
        rx,
        backend,
        _dir: dir,
    }
}

#[tokio::test]
async fn snapshot_arrives_with_projections_then_live() {
    let mut s = setup(&[("develop", "shop-develop")], &[], |f| {
        f.apply(
            "deployments",
            deployment("shop-develop", "web", "r/web:1.2", 3),
        );
        f.apply(
            "deployments",
            deployment("shop-develop", "api", "r/api:7", 1),
        );
        f.apply("deployments", deployment("elsewhere", "db", "r/db:1", 1));
    })
    .await;
    let snap = wait_for(&mut s.rx, 10, "first snapshot", |e| match e {
        KubeEvent::Deployments { env, items } if env == "develop" => Some(items.clone()),
        _ => None,
    })
    .await;
    let names: Vec<_> = snap.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["api", "web"],
        "only the environment's namespace, sorted"
    );
    let web = &snap[1];
    assert_eq!(web.primary_image(), Some("r/web:1.2"));
    assert_eq!((web.desired, web.ready, web.revision), (3, 3, 2));
    assert_eq!(web.selector.get("app").map(String::as_str), Some("web"));
    assert_eq!(web.uid, "uid-shop-develop-web");
    assert_eq!(snap[0].ready, 1);
    let live = wait_for(&mut s.rx, 5, "Live", |e| match e {
        KubeEvent::Live { env, kind } => Some((env.clone(), *kind)),
        _ => None,
    })
    .await;
    assert_eq!(live, ("develop".to_string(), "deployments"));
    assert_eq!(s.fake.count("LIST deployments shop-develop"), 1);
    assert_eq!(s.fake.count("LIST deployments elsewhere"), 0);
}

#[tokio::test]
async fn a_change_arrives_as_one_new_snapshot_within_the_debounce() {
    let mut s = setup(&[("develop", "shop-develop")], &[], |f| {
        f.apply(
            "deployments",
            deployment("shop-develop", "web", "r/web:1", 3),
        );
    })
    .await;
    wait_for(&mut s.rx, 10, "first snapshot", deployments).await;
    // Wait until the watch is connected so the change travels over it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.fake.open_watches("deployments") == 0 {
        assert!(Instant::now() < deadline, "watch never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t0 = Instant::now();
    // A burst of three changes becomes one snapshot.
    s.fake.apply(
        "deployments",
        deployment("shop-develop", "web", "r/web:2", 1),
    );
    s.fake.apply(
        "deployments",
        deployment("shop-develop", "web", "r/web:2", 2),
    );
    s.fake.apply(
        "deployments",
        deployment("shop-develop", "api", "r/api:1", 0),
    );
    let snap = wait_for(&mut s.rx, 5, "changed snapshot", deployments).await;
    let elapsed = t0.elapsed();
    assert_eq!(
        snap,
        [
            ("shop-develop".into(), "api".into(), "r/api:1".into(), 0),
            ("shop-develop".into(), "web".into(), "r/web:2".into(), 2)
        ]
    );
    assert!(elapsed < Duration::from_millis(1000), "took {elapsed:?}");
    s.fake.delete("deployments", "shop-develop", "api");
    let snap = wait_for(&mut s.rx, 5, "snapshot after delete", deployments).await;
    assert_eq!(snap.len(), 1);
    // Steady state: one list, then watches only.
    assert_eq!(
        s.fake.count("LIST deployments"),
        1,
        "{:?}",
        s.fake.requests()
    );
}

#[tokio::test]
async fn a_410_makes_the_watcher_relist_and_go_on() {
    let mut s = setup(&[("develop", "shop-develop")], &[], |f| {
        f.apply(
            "deployments",
            deployment("shop-develop", "web", "r/web:1", 3),
        );
    })
    .await;
    wait_for(&mut s.rx, 10, "first snapshot", deployments).await;
    wait_for(&mut s.rx, 5, "Live", |e| {
        matches!(e, KubeEvent::Live { .. }).then_some(())
    })
    .await;
    s.fake.apply(
        "deployments",
        deployment("shop-develop", "web", "r/web:3", 3),
    );
    s.fake.expire_watches(true);
    let error = wait_for(&mut s.rx, 10, "Failed 410", |e| match e {
        KubeEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error, "410 Expired; re-listing");
    s.fake.expire_watches(false);
    let snap = wait_for(&mut s.rx, 10, "snapshot after re-list", |e| {
        deployments(e).filter(|d| d[0].2 == "r/web:3")
    })
    .await;
    assert_eq!(snap.len(), 1);
    wait_for(&mut s.rx, 5, "Live again", |e| {
        matches!(e, KubeEvent::Live { .. }).then_some(())
    })
    .await;
    assert!(
        s.fake.count("LIST deployments") >= 2,
        "{:?}",
        s.fake.requests()
    );
}

#[tokio::test]
async fn server_stops_then_failed_and_comes_back_live_with_fresh_data() {
    let mut s = setup(&[("develop", "shop-develop")], &[], |f| {
        f.apply(
            "deployments",
            deployment("shop-develop", "web", "r/web:1", 3),
        );
    })
    .await;
    wait_for(&mut s.rx, 10, "first snapshot", deployments).await;
    wait_for(&mut s.rx, 5, "Live", |e| {
        matches!(e, KubeEvent::Live { .. }).then_some(())
    })
    .await;
    s.fake.stop().await;
    let error = wait_for(&mut s.rx, 15, "Failed connection refused", |e| match e {
        KubeEvent::Failed { env, kind, error } if error.contains("refused") => {
            assert_eq!((env.as_str(), *kind), ("develop", "deployments"));
            Some(error.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(error, "connection refused");
    // Changed while the server was down.
    s.fake.apply(
        "deployments",
        deployment("shop-develop", "web", "r/web:9", 2),
    );
    s.fake.restart().await;
    let t0 = Instant::now();
    let snap = wait_for(&mut s.rx, 40, "fresh snapshot after restart", |e| {
        deployments(e).filter(|d| d.first().is_some_and(|w| w.2 == "r/web:9"))
    })
    .await;
    assert_eq!(snap[0].3, 2);
    wait_for(&mut s.rx, 5, "Live after restart", |e| {
        matches!(e, KubeEvent::Live { .. }).then_some(())
    })
    .await;
    eprintln!("recovered {:?} after restart", t0.elapsed());
}

#[tokio::test]
async fn app_pattern_namespaces_are_watched_per_app() {
    let mut s = setup(&[("production", "{app}-blue")], &["web", "api"], |f| {
        f.apply("deployments", deployment("web-blue", "web", "r/web:1", 3));
        f.apply("deployments", deployment("api-blue", "api", "r/api:1", 3));
    })
    .await;
    let snap = wait_for(&mut s.rx, 10, "snapshot", deployments).await;
    assert_eq!(snap.len(), 2, "{snap:?}");
    assert_eq!(s.fake.count("LIST deployments web-blue"), 1);
    assert_eq!(s.fake.count("LIST deployments api-blue"), 1);

    // Discovery with a pattern: all namespaces, filtered to `{app}` = deployment name.
    let mut s = setup(&[("production", "{app}-blue")], &[], |f| {
        f.apply("deployments", deployment("web-blue", "web", "r/web:1", 3));
        f.apply("deployments", deployment("web-blue", "sidecar", "r/x:1", 3));
    })
    .await;
    let snap = wait_for(&mut s.rx, 10, "snapshot", deployments).await;
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(s.fake.count("LIST deployments *"), 1);
}

#[tokio::test]
async fn a_missing_context_is_failed_not_a_crash() {
    let fake = FakeKube::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path(), &["other"]);
    let config = config(&kc, &[("develop", "shop-develop")], &[]);
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let _backend = KubeBackend::spawn(&config, tx, cancel.clone());
    let error = wait_for(&mut rx, 5, "Failed", |e| match e {
        KubeEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        error.contains("kubeconfig") && error.contains("fake"),
        "{error}"
    );
    cancel.cancel();
}

fn seed_detail(f: &FakeKube) {
    f.apply("deployments", deployment("shop", "web", "r/web:2", 1));
    for (name, rev, image) in [("web-aaa", "1", "r/web:1"), ("web-bbb", "2", "r/web:2")] {
        f.apply("replicasets", json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web", "pod-template-hash": &name[4..]},
                "annotations": {"deployment.kubernetes.io/revision": rev},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-shop-web", "controller": true}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"replicas": 1}
        }));
    }
    f.apply(
        "replicasets",
        json!({"metadata": {"name": "api-ccc", "namespace": "shop", "labels": {"app": "api"}},
        "spec": {"selector": {}}, "status": {"replicas": 1}}),
    );
    f.apply("pods", json!({
        "metadata": {"name": "web-bbb-x1", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "r/web:2"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "web", "image": "r/web:2", "imageID": "",
            "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
    }));
    f.apply(
        "pods",
        json!({"metadata": {"name": "api-ccc-y", "namespace": "shop", "labels": {"app": "api"}}}),
    );
    f.apply("events", json!({"metadata": {"name": "e1", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "web-bbb-x1"}, "type": "Warning", "reason": "BackOff",
        "message": "Back-off restarting failed container", "lastTimestamp": "2026-01-01T00:00:00Z"}));
    f.apply("events", json!({"metadata": {"name": "e2", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "api-ccc-y"}, "type": "Warning", "reason": "Other"}));
}

#[tokio::test]
async fn detail_watchers_start_and_stop() {
    let mut s = setup(&[("develop", "shop")], &[], seed_detail).await;
    wait_for(&mut s.rx, 10, "deployments", deployments).await;
    let selector = [("app".to_string(), "web".to_string())].into();
    s.backend.open_detail("develop", "shop", "web", selector);
    let mut rs = None;
    let mut pods = None;
    let mut events = None;
    while rs.is_none() || pods.is_none() || events.is_none() {
        wait_for(&mut s.rx, 10, "detail snapshots", |e| {
            match e {
                KubeEvent::ReplicaSets { items, .. } => rs = Some(items.clone()),
                KubeEvent::Pods { items, .. } => pods = Some(items.clone()),
                KubeEvent::Events { items, .. } => events = Some(items.clone()),
                _ => return None,
            }
            Some(())
        })
        .await;
    }
    let rs = rs.unwrap();
    let names: Vec<_> = rs.iter().map(|r| (r.name.as_str(), r.revision)).collect();
    assert_eq!(
        names,
        [("web-bbb", 2), ("web-aaa", 1)],
        "selector applied, newest revision first"
    );
    assert_eq!(rs[0].owner_uid.as_deref(), Some("uid-shop-web"));
    let pods = pods.unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].waiting_reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(pods[0].last_termination.as_deref(), Some("Error (exit 1)"));
    let events = events.unwrap();
    assert_eq!(
        events.len(),
        1,
        "only events about web's objects: {events:?}"
    );
    assert_eq!(events[0].reason, "BackOff");
    assert!(s.fake.requests().iter().any(|r| r == "LIST pods shop"));

    // A pod change arrives while open.
    s.fake.apply(
        "pods",
        json!({"metadata": {"name": "web-bbb-x2", "namespace": "shop", "labels": {"app": "web"}}}),
    );
    let pods = wait_for(&mut s.rx, 5, "pods change", |e| match e {
        KubeEvent::Pods { items, .. } if items.len() == 2 => Some(items.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pods[1].name, "web-bbb-x2");

    s.backend.close_detail();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ["replicasets", "pods", "events"]
        .iter()
        .any(|k| s.fake.open_watches(k) > 0)
    {
        assert!(
            Instant::now() < deadline,
            "detail watches still open after close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        s.fake.open_watches("deployments") > 0,
        "the board watch stays"
    );
}

#[tokio::test]
async fn a_log_stream_delivers_lines_in_batches_and_ends() {
    let s = setup(&[("develop", "shop")], &[], |f| {
        let text: String = (0..250).map(|i| format!("line {i}\r\n")).collect();
        f.set_log("shop", "web-1", &format!("{text}last without newline"));
    })
    .await;
    let mut rx = s.rx;
    s.backend
        .stream_logs(7, "develop", "shop", "web-1", Some("web".into()));
    let mut lines = Vec::new();
    let error = loop {
        let got = wait_for(&mut rx, 10, "log lines", |e| match e {
            KubeEvent::LogLines { request, lines } => Some(Ok((*request, lines.clone()))),
            KubeEvent::LogEnded { request, error } => Some(Err((*request, error.clone()))),
            _ => None,
        })
        .await;
        match got {
            Ok((request, batch)) => {
                assert_eq!(request, 7);
                assert!(batch.len() <= 100, "batch of {}", batch.len());
                lines.extend(batch);
            }
            Err((request, error)) => {
                assert_eq!(request, 7);
                break error;
            }
        }
    };
    assert_eq!(error, None);
    assert_eq!(lines.len(), 251);
    assert_eq!(lines[0], "line 0");
    assert_eq!(lines[249], "line 249");
    assert_eq!(lines[250], "last without newline");
    let log_request = s
        .fake
        .requests()
        .into_iter()
        .find(|r| r.starts_with("LOG"))
        .unwrap();
    assert!(log_request.contains("follow=true"), "{log_request}");
    assert!(log_request.contains("tailLines=200"), "{log_request}");
    assert!(log_request.contains("container=web"), "{log_request}");

    // A missing pod ends with the server's error.
    s.backend.stream_logs(8, "develop", "shop", "nope", None);
    let error = wait_for(&mut rx, 10, "LogEnded", |e| match e {
        KubeEvent::LogEnded { request: 8, error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("404 NotFound")),
        "{error:?}"
    );
}

#[tokio::test]
async fn stop_logs_ends_a_following_stream_without_more_messages() {
    let s = setup(&[("develop", "shop")], &[], |f| {
        f.set_log_following("shop", "web-1", "first\nsecond\n");
    })
    .await;
    let mut rx = s.rx;
    s.backend.stream_logs(1, "develop", "shop", "web-1", None);
    let lines = wait_for(&mut rx, 10, "log lines", |e| match e {
        KubeEvent::LogLines { request: 1, lines } => Some(lines.clone()),
        _ => None,
    })
    .await;
    assert_eq!(lines, ["first", "second"]);
    assert_eq!(s.fake.open_logs(), 1, "the stream follows");
    s.backend.stop_logs();
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.fake.open_logs() > 0 {
        assert!(
            Instant::now() < deadline,
            "log connection still open after stop_logs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more for request 1 (a stopped stream sends no LogEnded).
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(msg) = rx.try_recv() {
        assert!(
            !matches!(
                msg,
                Msg::Kube(KubeEvent::LogLines { .. } | KubeEvent::LogEnded { .. })
            ),
            "{msg:?}"
        );
    }
}

#[tokio::test]
async fn refusals_and_malformed_bodies_are_failed_then_recover() {
    let mut s = setup(&[("develop", "shop-develop")], &[], |f| {
        f.apply(
            "deployments",
            deployment("shop-develop", "web", "r/web:1", 3),
        );
    })
    .await;
    wait_for(&mut s.rx, 10, "first snapshot", deployments).await;
    for (code, reason, expected) in [
        (401, "Unauthorized", "401 Unauthorized"),
        (403, "Forbidden", "403 Forbidden"),
    ] {
        s.fake.refuse(Some((code, reason)));
        let error = wait_for(&mut s.rx, 15, expected, |e| match e {
            KubeEvent::Failed { error, .. } if error.starts_with(expected) => Some(error.clone()),
            _ => None,
        })
        .await;
        assert!(error.starts_with(expected), "{error}");
        s.fake.refuse(None);
        wait_for(&mut s.rx, 40, "Live after the refusal", |e| {
            matches!(e, KubeEvent::Live { .. }).then_some(())
        })
        .await;
    }
    s.fake.malformed(true);
    let error = wait_for(&mut s.rx, 15, "Failed on a malformed body", |e| match e {
        KubeEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(error.starts_with("malformed answer: "), "{error}");
    s.fake.malformed(false);
    let snap = wait_for(
        &mut s.rx,
        40,
        "snapshot after the malformed body",
        deployments,
    )
    .await;
    assert_eq!(snap.len(), 1);
}

#[tokio::test]
async fn dropping_the_backend_stops_its_watches_but_not_the_callers_token() {
    let fake = FakeKube::start().await;
    fake.apply("deployments", deployment("shop", "web", "r/web:1", 3));
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path(), &["fake"]);
    let (tx, mut rx) = mpsc::channel(16);
    let root = CancellationToken::new();
    let backend = KubeBackend::spawn(&config(&kc, &[("develop", "shop")], &[]), tx, root.clone());
    wait_for(&mut rx, 10, "snapshot", deployments).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.open_watches("deployments") == 0 {
        assert!(Instant::now() < deadline, "watch never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(backend);
    while fake.open_watches("deployments") > 0 {
        assert!(Instant::now() < deadline, "watch still open after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!root.is_cancelled());
}
