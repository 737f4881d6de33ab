//! Regression guards for the benchmark targets that do not depend on timing (issue 8): after the
//! initial sync the console's Kubernetes backend sends no list requests while the estate changes
//! (a change storm included), only watches, and after a storm its last snapshot equals the server's
//! state. The idle scheduler (no draw, no wake-up over a simulated minute) is guarded in `render.rs`.
use crate::kube_backend::wait_for;
use serde_json::Value;
use shipdeck::backend::kube::{KubeBackend, KubeEvent};
use shipdeck::demo::store::Kind;
use shipdeck::demo::world::storm::StormSpec;
use shipdeck::demo::{Demo, DemoOptions};

use shipdeck::msg::Msg;
use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const APPS: usize = 6;

async fn scaled_demo() -> Demo {
    shipdeck::install_crypto();
    Demo::start(DemoOptions {
        scale: Some(APPS),
        paused: true,
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

/// `(namespace, name) → readyReplicas` as the server holds them now.
fn server_ready(demo: &Demo) -> BTreeMap<(String, String), i64> {
    let (items, _) = demo.store().list(Kind::Deployment, None);
    items
        .iter()
        .map(|d| {
            let s = |p: &str| {
                d.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let ready = d
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            ((s("/metadata/namespace"), s("/metadata/name")), ready)
        })
        .collect()
}

fn backend_ready(
    latest: &BTreeMap<String, shipdeck::model::Deployments>,
) -> BTreeMap<(String, String), i64> {
    latest
        .values()
        .flat_map(|items| items.iter())
        .map(|d| ((d.namespace.clone(), d.name.clone()), i64::from(d.ready)))
        .collect()
}

/// Takes snapshots until the backend's latest view of every environment equals the server's.
async fn until_backend_matches_server(
    demo: &Demo,
    rx: &mut mpsc::Receiver<Msg>,
    latest: &mut BTreeMap<String, shipdeck::model::Deployments>,
) {
    let want = server_ready(demo);
    while backend_ready(latest) != want {
        let (env, items) = wait_for(
            rx,
            20,
            "snapshots equal to the server's state",
            |e| match e {
                KubeEvent::Deployments { env, items } => Some((env.clone(), items.clone())),
                _ => None,
            },
        )
        .await;
        latest.insert(env, items);
    }
}

#[tokio::test]
async fn steady_state_sends_watches_not_lists_and_ends_a_storm_on_the_final_state() {
    let mut demo = scaled_demo().await;
    let dir = tempfile::tempdir().unwrap();
    let config = demo.write_config(dir.path()).unwrap();
    let envs = config.environments.len();
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let _backend = KubeBackend::spawn(&config, tx, cancel.clone());

    // Initial sync: every environment live with all its Deployments.
    let mut latest: BTreeMap<String, shipdeck::model::Deployments> = BTreeMap::new();
    let mut live = BTreeSet::new();
    while live.len() < envs || latest.len() < envs {
        wait_for(&mut rx, 30, "initial sync of every environment", |e| {
            match e {
                KubeEvent::Live { env, kind } if *kind == "deployments" => {
                    live.insert(env.clone());
                }
                KubeEvent::Deployments { env, items } => {
                    latest.insert(env.clone(), items.clone());
                }
                _ => return None,
            }
            Some(())
        })
        .await;
    }
    until_backend_matches_server(&demo, &mut rx, &mut latest).await;
    let synced = demo.kube_server().request_count();
    assert!(synced.lists > 0, "the initial sync lists: {synced:?}");

    // Changes: an image change and a storm of pod flips moving Deployments' ready counts.
    demo.world()
        .set_image(
            "shop-develop",
            "app-0001",
            "app-0001",
            "registry.local/shop/app-0001:9.9.9",
        )
        .unwrap();
    let storm = demo.world().storm(
        StormSpec {
            per_second: 400,
            seconds: 1,
            delay: Duration::ZERO,
        },
        7,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !storm.is_done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "storm did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(storm.changes(), 400, "the storm wrote every change");
    until_backend_matches_server(&demo, &mut rx, &mut latest).await;
    let develop_image = latest
        .values()
        .flat_map(|items| items.iter())
        .find(|d| d.namespace == "shop-develop" && d.name == "app-0001")
        .and_then(|d| d.primary_image().map(str::to_string));
    assert_eq!(
        develop_image.as_deref(),
        Some("registry.local/shop/app-0001:9.9.9")
    );

    let after = demo.kube_server().request_count();
    assert_eq!(
        after.lists, synced.lists,
        "no list request after the initial sync: {synced:?} → {after:?}"
    );
    assert_eq!(
        after.gets, synced.gets,
        "no polling gets after the initial sync: {synced:?} → {after:?}"
    );
    cancel.cancel();
}

#[tokio::test]
async fn the_debug_endpoint_reports_counts_without_counting_itself() {
    let mut demo = scaled_demo().await;
    let url = format!("{}/debug/requests", demo.kube_url());
    let before = demo.kube_server().request_count();
    let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let again: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(body, again, "reading the counts does not move them");
    assert_eq!(body["lists"], before.lists);
    assert_eq!(body["total"], before.total);
    assert_eq!(demo.kube_server().request_count(), before);

    // A storm started over HTTP writes its changes and says when it is done.
    let client = reqwest::Client::new();
    let storm_url = format!("{}/debug/storm", demo.kube_url());
    let resp = client
        .post(format!("{storm_url}?perSecond=200&seconds=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let rv0 = demo.store().resource_version();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s: Value = reqwest::get(&storm_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["done"] == true {
            assert_eq!(s["changes"], 200);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "storm not done: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each change writes the pod and its Deployment.
    assert!(demo.store().resource_version() >= rv0 + 400);
    // A standing failure set over HTTP: the next request gets it, then it is over.
    let fail_url = format!("{}/debug/fail", demo.kube_url());
    let ns_url = format!("{}/api/v1/namespaces", demo.kube_url());
    let set = client
        .post(format!("{fail_url}?code=403&count=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let denied = reqwest::get(&ns_url).await.unwrap();
    assert_eq!(denied.status(), 403);
    let status: Value = denied.json().await.unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(reqwest::get(&ns_url).await.unwrap().status(), 200);
    let bad = client
        .post(format!("{storm_url}?perSecond=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
