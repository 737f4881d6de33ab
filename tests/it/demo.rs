//! The demo estate as a whole: default shape, `--scale` counts, seed repeatability, the written
//! config, and traffic figures that tell a bad image from a good one.
use crate::support::eventually;
use shipdeck::config::Config;
use shipdeck::demo::store::Kind;
use shipdeck::demo::traffic::TrafficSource;
use shipdeck::demo::{Demo, DemoOptions};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn images(demo: &Demo, ns: &str) -> Vec<(String, String)> {
    let (ds, _) = demo.store().list(Kind::Deployment, Some(ns));
    ds.iter()
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap_or("").to_string(),
                d["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_estate_has_three_apps_in_three_namespaces_with_drift() {
    let demo = Demo::start(DemoOptions {
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let store = demo.store();
    let (nss, _) = store.list(Kind::Namespace, None);
    let names: BTreeSet<&str> = nss
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["shop-blue", "shop-develop", "shop-green"])
    );
    assert_eq!(store.count(Kind::Deployment), 9);
    assert_eq!(store.count(Kind::Service), 9);
    assert_eq!(store.list(Kind::Ingress, Some("shop-blue")).0.len(), 3);
    assert_eq!(store.count(Kind::Ingress), 3);
    let blue = images(&demo, "shop-blue");
    assert!(
        blue.contains(&("web".into(), "registry.local/shop/web:1.4.1".into())),
        "{blue:?}"
    );
    let green = images(&demo, "shop-green");
    assert!(
        green.contains(&("web".into(), "registry.local/shop/web:1.4.2".into())),
        "{green:?}"
    );
    let dev = images(&demo, "shop-develop");
    assert!(
        dev.contains(&("web".into(), "registry.local/shop/web:1.5.1".into())),
        "{dev:?}"
    );
    for (ns, app, replicas) in [
        ("shop-blue", "web", 3),
        ("shop-blue", "api", 2),
        ("shop-develop", "worker", 2),
    ] {
        let d = store.get(Kind::Deployment, ns, app).unwrap();
        assert_eq!(d["spec"]["replicas"], replicas);
        assert_eq!(d["metadata"]["labels"]["app"], app);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["name"], app);
    }
    // History: web in production has 4 revisions, with change-causes.
    let rs: Vec<_> = store
        .list(Kind::ReplicaSet, Some("shop-blue"))
        .0
        .into_iter()
        .filter(|r| r["metadata"]["labels"]["app"] == "web")
        .collect();
    assert_eq!(rs.len(), 4);
    assert!(rs.iter().any(
        |r| r["metadata"]["annotations"]["kubernetes.io/change-cause"]
            == "promote 1.3.0 from staging"
    ));
    assert!(!store.list(Kind::Event, Some("shop-blue")).0.is_empty());
    // shop-green/api is rolling out to 2.2.0 at start and gets there.
    eventually(Duration::from_secs(60), "shop-green/api rolled out", || {
        let d = store.get(Kind::Deployment, "shop-green", "api")?;
        let done = d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.local/shop/api:2.2.0"
            && d["status"]["updatedReplicas"] == 2
            && d["status"]["replicas"] == 2
            && d["status"]["availableReplicas"] == 2
            && d["status"]["observedGeneration"] == d["metadata"]["generation"];
        done.then_some(())
    })
    .await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_100_builds_the_documented_counts() {
    let t = Instant::now();
    let demo = Demo::start(DemoOptions {
        scale: Some(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let took = t.elapsed();
    let store = demo.store();
    assert_eq!(store.count(Kind::Deployment), 300);
    assert_eq!(store.count(Kind::ReplicaSet), 300);
    assert_eq!(store.count(Kind::Pod), 900);
    assert_eq!(store.count(Kind::Service), 300);
    assert_eq!(store.count(Kind::Ingress), 100);
    let d = store
        .get(Kind::Deployment, "shop-blue", "app-0042")
        .unwrap();
    assert_eq!(d["status"]["availableReplicas"], 3);
    assert_eq!(demo.world().pods().len(), 900);
    eprintln!("scale 100 started in {took:?}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_makes_the_world_repeatable() {
    let names = |demo: &Demo| -> Vec<String> {
        let mut v: Vec<String> = demo
            .store()
            .list(Kind::Pod, None)
            .0
            .iter()
            .filter(|p| p["metadata"]["namespace"] != "shop-green")
            .map(|p| format!("{} {}", p["metadata"]["name"], p["spec"]["nodeName"]))
            .collect();
        v.sort();
        v
    };
    let opts = |seed| DemoOptions {
        seed,
        paused: true,
        ..DemoOptions::default()
    };
    let a = Demo::start(opts(7)).await.unwrap();
    let b = Demo::start(opts(7)).await.unwrap();
    let c = Demo::start(opts(8)).await.unwrap();
    assert_eq!(names(&a), names(&b));
    assert_ne!(names(&a), names(&c));
    assert_eq!(names(&a).len(), 14);
    for d in [a, b, c] {
        d.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_config_output_loads_and_points_at_the_server() {
    let demo = Demo::start(DemoOptions {
        paused: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo.write_config(dir.path()).unwrap();
    let loaded = Config::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(cfg, loaded);
    assert_eq!(loaded.estate, "shop");
    let envs: Vec<(&str, &str)> = loaded
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.namespace.as_str()))
        .collect();
    assert_eq!(
        envs,
        vec![
            ("develop", "shop-develop"),
            ("staging", "shop-green"),
            ("production", "shop-blue")
        ]
    );
    let prod = loaded.environment("production").unwrap();
    assert!(prod.protected);
    assert_eq!(prod.promote_from.as_deref(), Some("staging"));
    assert_eq!(prod.branch.as_deref(), Some("master"));
    assert_eq!(prod.context.as_deref(), Some("shipdeck-demo"));
    assert_eq!(loaded.apps.len(), 3);
    assert_eq!(loaded.apps[0].repository.as_deref(), Some("shop/web"));
    let kc = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    assert!(kc.contains(&demo.kube_url()));
    assert_eq!(
        loaded.kubeconfig.as_deref(),
        Some(dir.path().join("kubeconfig").as_path())
    );
    // kube-rs reads the kubeconfig and lists the Deployments.
    shipdeck::install_crypto();
    let kcfg = kube::config::Kubeconfig::from_yaml(&kc).unwrap();
    let opts = kube::config::KubeConfigOptions {
        context: Some("shipdeck-demo".into()),
        ..Default::default()
    };
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kcfg, &opts)
            .await
            .unwrap(),
    )
    .unwrap();
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "shop-blue");
    let list = api.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 3);
    demo.shutdown().await;

    let scaled = Demo::start(DemoOptions {
        scale: Some(3),
        scale_replicas: 1,
        paused: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(
        scaled.store().count(Kind::Pod),
        9,
        "3 apps × 3 namespaces × 1 pod"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(
        scaled.write_config(dir.path()).unwrap().apps.is_empty(),
        "apps are discovered at scale"
    );
    scaled.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_errs_more_for_a_bad_image() {
    let demo = Demo::start(DemoOptions {
        speed: 20.0,
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let world = demo.world();
    world
        .set_image(
            "shop-develop",
            "api",
            "api",
            "registry.local/shop/api:2.3.1-bad",
        )
        .unwrap();
    let ratio = |p: &shipdeck::demo::traffic::PodTraffic| p.errors_total / p.requests_total;
    let (bad, good) = eventually(Duration::from_secs(30), "traffic from the bad pod", || {
        let pods = world.pods();
        let bad = pods
            .iter()
            .find(|p| p.image.ends_with("-bad") && p.requests_total > 50.0)?;
        let good = pods
            .iter()
            .find(|p| p.namespace == "shop-blue" && p.requests_total > 50.0)?;
        Some((ratio(bad), ratio(good)))
    })
    .await;
    assert!(bad > 0.2 && good < 0.05, "bad {bad}, good {good}");
    let some = world.pods().into_iter().next().unwrap();
    let one = world
        .pod(&some.namespace, &some.pod)
        .expect("one pod's figures");
    assert_eq!(
        (one.app.as_str(), one.image.as_str()),
        (some.app.as_str(), some.image.as_str())
    );
    assert!(one.requests_total >= some.requests_total);
    assert!(world.pod("shop-blue", "no-such-pod").is_none());
    // The same figures as each pod's /metrics through the API server's pod proxy.
    let url = format!(
        "{}/api/v1/namespaces/{}/pods/{}:8080/proxy/metrics",
        demo.kube_url(),
        some.namespace,
        some.pod
    );
    shipdeck::install_crypto();
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(text.contains("# TYPE"), "{text}");
    let served: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("http_request_duration_seconds_count "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a request count");
    assert!(
        served >= some.requests_total,
        "{served} < {}",
        some.requests_total
    );
    let t0 = world.now();
    let before: f64 = world.pods().iter().map(|p| p.requests_total).sum();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(world.now() > t0);
    let after: f64 = world
        .pods()
        .iter()
        .filter(|p| p.namespace == "shop-blue")
        .map(|p| p.requests_total)
        .sum();
    assert!(after > 0.0 && before > 0.0);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_the_config_serves_kubectl_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = DemoOptions {
        paused: true,
        ..DemoOptions::default()
    };
    let task = tokio::spawn(shipdeck::demo::serve_until(
        opts,
        Some(dir.path().to_path_buf()),
        async move {
            let _ = rx.await;
        },
    ));
    let kc = dir.path().join("kubeconfig");
    eventually(Duration::from_secs(30), "config.toml written", || {
        dir.path().join("config.toml").exists().then_some(())
    })
    .await;
    Config::load(&dir.path().join("config.toml")).unwrap();
    let out = crate::support::kubectl::run(
        &kc,
        &dir.path().join("cache"),
        &["get", "deploy", "-A", "--context", "shipdeck-demo"],
        Duration::from_secs(60),
    )
    .await;
    let text = out.ok();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("shop-")).count(),
        9,
        "{text}"
    );
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_world_stops_progress_until_resumed() {
    let demo = Demo::start(DemoOptions {
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let world = demo.world();
    world.pause();
    assert!(world.is_paused());
    let frozen = world.now();
    world
        .set_image("shop-blue", "web", "web", "registry.local/shop/web:1.5.0")
        .unwrap();
    let store = demo.store();
    // The controller still reacts to the change (a new ReplicaSet and a Pending pod)...
    eventually(Duration::from_secs(10), "the new ReplicaSet", || {
        let d = store.get(Kind::Deployment, "shop-blue", "web")?;
        (d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...but no pod becomes ready while time stands still.
    assert_eq!(world.now(), frozen);
    let d = store.get(Kind::Deployment, "shop-blue", "web").unwrap();
    assert_eq!(d["status"]["updatedReplicas"], 1, "{}", d["status"]);
    let pending = store
        .list(Kind::Pod, Some("shop-blue"))
        .0
        .iter()
        .filter(|p| p["status"]["phase"] == "Pending")
        .count();
    assert_eq!(pending, 1);
    world.set_speed(50.0);
    world.resume();
    eventually(Duration::from_secs(20), "the rollout to finish", || {
        let d = store.get(Kind::Deployment, "shop-blue", "web")?;
        let s = &d["status"];
        (s["updatedReplicas"] == 3 && s["replicas"] == 3 && s["availableReplicas"] == 3)
            .then_some(())
    })
    .await;
    assert_eq!(world.speed(), 50.0);
    demo.shutdown().await;
}
