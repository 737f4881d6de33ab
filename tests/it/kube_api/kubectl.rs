//! kubectl against the simulated API server (objects seeded straight into the store).
use crate::support::*;
use serde_json::Value;
use shipdeck::demo::store::Kind;
use std::time::Duration;

async fn estate() -> TestApi {
    let store = test_store();
    seed_namespace(&store, "shop");
    seed_deployment(&store, "shop", "web", "registry.local/shop/web:1.0", 3);
    seed_deployment(&store, "shop", "api", "registry.local/shop/api:1.0", 2);
    seed_pod(
        &store,
        "shop",
        "web-abc-1",
        "web",
        "registry.local/shop/web:1.0",
    );
    start_api(store).await
}

#[tokio::test]
async fn get_json_parses() {
    let api = estate().await;
    let out = api
        .kubectl(&["get", "deploy,rs,pods", "-n", "shop", "-o", "json"])
        .await;
    let v: Value = serde_json::from_str(out.ok()).expect("kubectl -o json output parses");
    let kinds: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "Deployment", "Pod"]);
}

#[tokio::test]
async fn get_deploy_prints_columns() {
    let api = estate().await;
    let out = api.kubectl(&["get", "deploy", "-n", "shop"]).await;
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let web: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("web"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&web[..4], ["web", "3/3", "3", "3"]);
    let pods = api.kubectl(&["get", "pods", "-n", "shop"]).await;
    let header: Vec<&str> = pods
        .ok()
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(pods.stdout.contains("Running"), "{}", pods.stdout);
}

#[tokio::test]
async fn describe_deploy() {
    let api = estate().await;
    let out = api.kubectl(&["describe", "deploy/web", "-n", "shop"]).await;
    let text = out.ok();
    assert!(text.contains("Name:") && text.contains("web"), "{text}");
    assert!(text.contains("registry.local/shop/web:1.0"), "{text}");
    assert!(
        text.contains("3 desired | 3 updated | 3 total | 3 available"),
        "{text}"
    );
}

#[tokio::test]
async fn scale_changes_replicas() {
    let api = estate().await;
    let out = api
        .kubectl(&["scale", "deploy/web", "--replicas=5", "-n", "shop"])
        .await;
    assert!(out.ok().contains("scaled"), "{}", out.stdout);
    let d = api.store.get(Kind::Deployment, "shop", "web").unwrap();
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);
}

#[tokio::test]
async fn dry_run_server_set_image_changes_nothing() {
    let api = estate().await;
    let before = api.store.get(Kind::Deployment, "shop", "web").unwrap();
    let rv = api.store.resource_version();
    let out = api
        .kubectl(&[
            "set",
            "image",
            "deploy/web",
            "web=registry.local/shop/web:2.0",
            "-n",
            "shop",
            "--dry-run=server",
        ])
        .await;
    assert!(out.ok().contains("image updated"), "{}", out.stdout);
    assert_eq!(
        api.store.get(Kind::Deployment, "shop", "web").unwrap(),
        before
    );
    assert_eq!(api.store.resource_version(), rv);
    // Without dry-run it does change.
    api.kubectl(&[
        "set",
        "image",
        "deploy/web",
        "web=registry.local/shop/web:2.0",
        "-n",
        "shop",
    ])
    .await
    .ok();
    let d = api.store.get(Kind::Deployment, "shop", "web").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/web:2.0"
    );
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"kubectl-set"), "{managers:?}");
}

#[tokio::test]
async fn get_pods_watch_sees_a_change() {
    let api = estate().await;
    let mut w = api.kubectl_spawn(&["get", "pods", "-n", "shop", "--watch"]);
    eventually(Duration::from_secs(30), "the initial pod listing", || {
        w.stdout().contains("web-abc-1").then_some(())
    })
    .await;
    seed_pod(
        &api.store,
        "shop",
        "web-abc-2",
        "web",
        "registry.local/shop/web:1.0",
    );
    eventually(
        Duration::from_secs(30),
        "the new pod in the watch output",
        || w.stdout().contains("web-abc-2").then_some(()),
    )
    .await;
    w.kill().await;
}

#[tokio::test]
async fn logs_and_access_review() {
    let api = estate().await;
    api.server
        .logs()
        .append("shop", "web-abc-1", "web", api.store.now(), "GET / 200");
    let out = api.kubectl(&["logs", "web-abc-1", "-n", "shop"]).await;
    assert_eq!(out.ok(), "GET / 200\n");
    let out = api
        .kubectl(&["auth", "can-i", "patch", "deployments", "-n", "shop"])
        .await;
    assert_eq!(out.ok().trim(), "yes");
}

#[tokio::test]
async fn apply_create_label_delete_and_events() {
    let api = estate().await;
    let file = api.dir.path().join("new.json");
    let mut d = deployment("shop", "cart", "registry.local/shop/cart:1.0", 2);
    std::fs::write(&file, d.to_string()).unwrap();
    let f = file.to_str().unwrap();
    api.kubectl(&["create", "-f", f]).await.ok();
    assert!(api.store.get(Kind::Deployment, "shop", "cart").is_some());
    d["spec"]["replicas"] = serde_json::json!(4);
    std::fs::write(&file, d.to_string()).unwrap();
    api.kubectl(&["apply", "-f", f]).await.ok();
    assert_eq!(
        api.store.get(Kind::Deployment, "shop", "cart").unwrap()["spec"]["replicas"],
        4
    );
    d["spec"]["replicas"] = serde_json::json!(1);
    std::fs::write(&file, d.to_string()).unwrap();
    api.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", f])
        .await
        .ok();
    assert_eq!(
        api.store.get(Kind::Deployment, "shop", "cart").unwrap()["spec"]["replicas"],
        1
    );
    api.kubectl(&["label", "deploy/cart", "-n", "shop", "team=payments"])
        .await
        .ok();
    api.kubectl(&["rollout", "restart", "deploy/cart", "-n", "shop"])
        .await
        .ok();
    let c = api.store.get(Kind::Deployment, "shop", "cart").unwrap();
    assert_eq!(c["metadata"]["labels"]["team"], "payments");
    assert!(
        c["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    api.kubectl(&["delete", "deploy/cart", "-n", "shop"])
        .await
        .ok();
    assert!(api.store.get(Kind::Deployment, "shop", "cart").is_none());
    api.store
        .create(
            Kind::Event,
            serde_json::json!({"metadata": {"name": "web.1", "namespace": "shop"},
                "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "shop"},
                "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-abc to 3",
                "type": "Normal", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1}),
        )
        .unwrap();
    let out = api.kubectl(&["get", "events", "-n", "shop"]).await;
    assert!(out.ok().contains("ScalingReplicaSet"), "{}", out.stdout);
    let out = api
        .kubectl(&["get", "deploy", "-n", "shop", "-o", "wide"])
        .await;
    assert!(
        out.ok().contains("registry.local/shop/web:1.0"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn access_review_honours_denials() {
    let store = test_store();
    seed_namespace(&store, "shop");
    let opts = shipdeck::demo::kube_api::KubeApiOptions {
        denied: vec![("delete".into(), "deployments".into())],
        ..Default::default()
    };
    let api = start_api_with(store, opts).await;
    let out = api
        .kubectl(&["auth", "can-i", "delete", "deployments", "-n", "shop"])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.starts_with("no"), "{}", out.stdout);
    let out = api
        .kubectl(&["auth", "can-i", "get", "deployments", "-n", "shop"])
        .await;
    assert_eq!(out.ok().trim(), "yes");
}

/// kubectl's typed clients send protobuf bodies; the server decodes what they write.
#[tokio::test]
async fn imperative_creates_send_protobuf() {
    let api = estate().await;
    api.kubectl(&["create", "namespace", "extra"]).await.ok();
    assert!(api.store.get(Kind::Namespace, "", "extra").is_some());
    let args = [
        "create",
        "deployment",
        "cart",
        "--image=registry.local/shop/cart:1.0",
        "--port=8080",
        "--replicas=2",
        "-n",
        "extra",
    ];
    api.kubectl(&args).await.ok();
    let d = api.store.get(Kind::Deployment, "extra", "cart").unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "cart");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (c["name"].as_str(), c["image"].as_str()),
        (Some("cart"), Some("registry.local/shop/cart:1.0"))
    );
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(
        d["metadata"].get("generateName").is_none(),
        "empty proto strings are dropped: {d}"
    );
    api.kubectl(&[
        "create",
        "service",
        "clusterip",
        "cart",
        "--tcp=80:8080",
        "-n",
        "extra",
    ])
    .await
    .ok();
    let s = api.store.get(Kind::Service, "extra", "cart").unwrap();
    assert_eq!(
        (
            s["spec"]["ports"][0]["port"].as_i64(),
            s["spec"]["ports"][0]["targetPort"].as_i64()
        ),
        (Some(80), Some(8080))
    );
    assert_eq!(s["spec"]["type"], "ClusterIP");
    let rv = api.store.resource_version();
    api.kubectl(&["create", "namespace", "dry", "--dry-run=server"])
        .await
        .ok();
    assert!(api.store.get(Kind::Namespace, "", "dry").is_none());
    assert_eq!(api.store.resource_version(), rv);
}
