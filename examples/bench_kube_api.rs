//! Scale figure for the simulated API server: a store with 9,000 Deployments, 9,000 ReplicaSets
//! and 27,000 Pods (`--scale 3000`), served on 127.0.0.1; prints the memory it takes (RSS delta)
//! and the time of a paginated list of all Deployments through kube-rs. Run: scripts/bench-kube-api.
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use serde_json::json;
use shipdeck::demo::kube_api::{KubeApiOptions, KubeApiServer};
use shipdeck::demo::store::{Kind, Store};
use std::time::Instant;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn owner(kind: &str, o: &serde_json::Value) -> serde_json::Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": o["metadata"]["name"],
        "uid": o["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

fn fill(store: &Store, scale: usize) -> color_eyre::Result<()> {
    for env in ["shop-develop", "shop-green", "shop-blue"] {
        store.create(Kind::Namespace, json!({"metadata": {"name": env}}))?;
        for i in 0..scale {
            let app = format!("app{i:05}");
            let image = format!("registry.local/shop/{app}:1.4.{}", i % 10);
            let labels = json!({"app": app});
            let template = json!({"metadata": {"labels": labels},
                "spec": {"containers": [{"name": app, "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}});
            let d = store.create(Kind::Deployment, json!({
                "metadata": {"name": app, "namespace": env, "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": "1"}},
                "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": template},
                "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                    "availableReplicas": 3, "conditions": [
                        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
            }))?;
            let rs_name = format!("{app}-7d9f8b6c5");
            let rs = store.create(Kind::ReplicaSet, json!({
                "metadata": {"name": rs_name, "namespace": env, "labels": {"app": app, "pod-template-hash": "7d9f8b6c5"},
                    "annotations": {"deployment.kubernetes.io/revision": "1"}, "ownerReferences": owner("Deployment", &d)},
                "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": template},
                "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}
            }))?;
            for p in 0..3 {
                store.create(Kind::Pod, json!({
                    "metadata": {"name": format!("{rs_name}-x{p}"), "namespace": env,
                        "labels": {"app": app, "pod-template-hash": "7d9f8b6c5"}, "ownerReferences": owner("ReplicaSet", &rs)},
                    "spec": template["spec"],
                    "status": {"phase": "Running", "podIP": format!("10.{}.{}.{p}", i / 250, i % 250),
                        "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [{"name": app, "image": image, "ready": true, "restartCount": 0,
                            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
                }))?;
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    shipdeck::install_crypto();
    let scale: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let base = rss_mib();
    let store = Store::with_system_clock();
    let t = Instant::now();
    fill(&store, scale)?;
    let filled = rss_mib();
    println!(
        "store: {} Deployments, {} ReplicaSets, {} Pods built in {:.2?}; RSS {:.0} MiB -> {:.0} MiB (+{:.0} MiB)",
        store.count(Kind::Deployment),
        store.count(Kind::ReplicaSet),
        store.count(Kind::Pod),
        t.elapsed(),
        base,
        filled,
        filled - base
    );
    let server = KubeApiServer::start(store.clone(), KubeApiOptions::default()).await?;
    // Raw HTTP: the server's cost plus the transfer, no client-side decoding.
    let http = reqwest::Client::new();
    for round in 1..=3 {
        let t = Instant::now();
        let (mut bytes, mut pages, mut token) = (0, 0, String::new());
        loop {
            let url = format!(
                "{}/apis/apps/v1/deployments?limit=500&continue={token}",
                server.url()
            );
            let body = http.get(url).send().await?.bytes().await?;
            bytes += body.len();
            pages += 1;
            // metadata precedes items in our lists: read the token from the head.
            let head = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            match head
                .split("\"continue\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                Some(t) => token = t.to_string(),
                None => break,
            }
        }
        println!(
            "list all Deployments via HTTP (limit 500), round {round}: {pages} pages, {:.1} MiB, {:.2?}",
            bytes as f64 / 1048576.0,
            t.elapsed()
        );
    }
    // What `kubectl get deploy -A` asks for: Table pages of 500.
    let t = Instant::now();
    let (mut rows, mut token) = (0, String::new());
    loop {
        let url = format!(
            "{}/apis/apps/v1/deployments?limit=500&continue={token}",
            server.url()
        );
        let table: serde_json::Value = http
            .get(url)
            .header(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .send()
            .await?
            .json()
            .await?;
        rows += table["rows"].as_array().map_or(0, Vec::len);
        match table["metadata"]["continue"].as_str() {
            Some(c) => token = c.to_string(),
            None => break,
        }
    }
    println!(
        "Table list of all Deployments (kubectl get deploy -A, limit 500): {rows} rows, {:.2?}",
        t.elapsed()
    );
    println!(
        "RSS after serving the raw lists: {:.0} MiB (+{:.0} MiB over the start)",
        rss_mib(),
        rss_mib() - base
    );
    let cfg = kube::Config::new(server.url().parse()?);
    let api: Api<Deployment> = Api::all(kube::Client::try_from(cfg)?);
    for round in 1..=3 {
        let t = Instant::now();
        let (mut n, mut pages, mut token) = (0, 0, None::<String>);
        loop {
            let mut lp = ListParams::default().limit(500);
            if let Some(tok) = &token {
                lp = lp.continue_token(tok);
            }
            let page = api.list(&lp).await?;
            n += page.items.len();
            pages += 1;
            token = page.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        println!(
            "list all Deployments via kube-rs (limit 500), round {round}: {n} items in {pages} pages, {:.2?}",
            t.elapsed()
        );
    }
    let t = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    println!(
        "list all Deployments in one page: {} items, {:.2?}",
        all.items.len(),
        t.elapsed()
    );
    println!(
        "RSS after the kube-rs lists too (client-side objects included): {:.0} MiB (+{:.0} MiB over the start)",
        rss_mib(),
        rss_mib() - base
    );
    Ok(())
}
