//! Watch semantics over plain HTTP: replay from a resourceVersion, selectors, bookmarks,
//! `timeoutSeconds`, Table events, the request counters, stop/restart and injected faults.
use crate::support::*;
use futures::StreamExt;
use serde_json::Value;
use shipdeck::demo::kube_api::KubeApiOptions;
use shipdeck::demo::store::Kind;
use std::time::{Duration, Instant};

/// Reads the watch at `path` until it ends (or 10 s pass) and returns its events.
async fn read_watch(url: &str, accept: &str) -> (Vec<Value>, Duration) {
    shipdeck::install_crypto();
    let start = Instant::now();
    let resp = reqwest::Client::new()
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("watch");
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.expect("chunk"));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the watch ends on timeoutSeconds");
    let events = buf
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("one JSON event per line"))
        .collect();
    (events, start.elapsed())
}

#[tokio::test]
async fn watch_replays_filters_bookmarks_and_times_out() {
    let store = test_store();
    seed_namespace(&store, "shop");
    let rv = store.resource_version();
    seed_deployment(&store, "shop", "web", "img:1", 1);
    seed_deployment(&store, "shop", "api", "img:1", 1);
    store
        .modify(Kind::Deployment, "shop", "web", |d| {
            d["spec"]["replicas"] = 2.into()
        })
        .unwrap();
    store.delete(Kind::Deployment, "shop", "api").unwrap();
    let opts = KubeApiOptions {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let t = start_api_with(store, opts).await;
    let url = format!(
        "{}/apis/apps/v1/namespaces/shop/deployments?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1",
        t.url()
    );
    let (events, took) = read_watch(&url, "application/json").await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        &types[..4],
        ["ADDED", "ADDED", "MODIFIED", "DELETED"],
        "{types:?}"
    );
    assert!(
        types[4..].iter().all(|t| *t == "BOOKMARK") && types.len() >= 6,
        "{types:?}"
    );
    let last_rv = events.last().unwrap()["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap();
    assert_eq!(last_rv, t.store.resource_version().to_string());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A label selector, and no resourceVersion: the current state, then nothing (timeout).
    let url = format!(
        "{}/apis/apps/v1/deployments?watch=true&labelSelector=app%3Dweb&timeoutSeconds=1",
        t.url()
    );
    let (events, _) = read_watch(&url, "application/json").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0]["type"].as_str(),
            events[0]["object"]["spec"]["replicas"].as_i64()
        ),
        (Some("ADDED"), Some(2))
    );

    // Table events for kubectl get --watch.
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let url = format!(
        "{}/apis/apps/v1/namespaces/shop/deployments?watch=1&timeoutSeconds=1",
        t.url()
    );
    let (events, _) = read_watch(&url, table).await;
    assert_eq!(events[0]["object"]["kind"], "Table");
    assert_eq!(events[0]["object"]["rows"][0]["cells"][0], "web");

    let counts = t.server.request_count();
    assert_eq!((counts.watches, counts.lists, counts.writes), (3, 0, 0));
}

#[tokio::test]
async fn stop_ends_open_watches() {
    let store = test_store();
    seed_namespace(&store, "shop");
    let mut t = start_api(store).await;
    let url = format!("{}/api/v1/namespaces?watch=1", t.url());
    let reader = tokio::spawn(async move { read_watch(&url, "application/json").await });
    eventually(Duration::from_secs(5), "the watch to open", || {
        (t.server.request_count().watches == 1).then_some(())
    })
    .await;
    t.server.stop().await;
    let (events, took) = reader.await.unwrap();
    assert_eq!(events.len(), 1, "the namespace, then the end of the stream");
    assert!(took < Duration::from_secs(5));
    assert!(
        reqwest::get(format!("{}/version", t.url())).await.is_err(),
        "the listener is closed"
    );
    t.server.restart().await.unwrap();
    let v: Value = reqwest::get(format!("{}/version", t.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["minor"], "32");
}

#[tokio::test]
async fn injected_failures_and_latency() {
    let store = test_store();
    seed_namespace(&store, "shop");
    let t = start_api(store).await;
    let url = format!("{}/api/v1/namespaces", t.url());
    t.server.inject_failures(2, 429);
    for _ in 0..2 {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let s: Value = r.json().await.unwrap();
        assert_eq!(s["reason"], "TooManyRequests");
    }
    // Discovery is never failed; the third resource request succeeds.
    assert_eq!(
        reqwest::get(format!("{}/version", t.url()))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 200);
    t.server.set_latency(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let store = test_store();
    seed_namespace(&store, "shop");
    seed_pod(&store, "shop", "a", "web", "img:1");
    seed_pod(&store, "shop", "b", "web", "img:1");
    let t = start_api(store).await;
    let url = format!(
        "{}/api/v1/namespaces/shop/pods?watch=1&fieldSelector=status.phase%3DRunning&timeoutSeconds=2",
        t.url()
    );
    let reader = tokio::spawn(async move { read_watch(&url, "application/json").await });
    eventually(Duration::from_secs(5), "the watch to open", || {
        (t.server.request_count().watches == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let phase = |p: &'static str| move |o: &mut Value| o["status"]["phase"] = p.into();
    t.store
        .modify(Kind::Pod, "shop", "a", phase("Succeeded"))
        .unwrap(); // leaves
    t.store
        .modify(Kind::Pod, "shop", "a", phase("Running"))
        .unwrap(); // comes back
    t.store
        .modify(Kind::Pod, "shop", "b", |o| {
            o["metadata"]["labels"]["x"] = "1".into()
        })
        .unwrap();
    t.store
        .modify(Kind::Pod, "shop", "b", phase("Failed"))
        .unwrap();
    t.store
        .modify(Kind::Pod, "shop", "b", |o| {
            o["metadata"]["labels"]["x"] = "2".into()
        })
        .unwrap(); // not shown
    let (events, _) = reader.await.unwrap();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let want = [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
        ("ADDED", "a"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, want);
}
