//! kube-rs against the simulated API server: pagination, the resilient watcher, the four patch
//! types, dry-run, conflicts, subresources, logs and the bearer token.
use crate::support::*;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use shipdeck::demo::kube_api::KubeApiOptions;
use shipdeck::demo::store::Kind;
use std::collections::HashSet;
use std::time::Duration;

fn api_err(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

type WatchItem = Result<watcher::Event<Deployment>, watcher::Error>;

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<WatchItem>) -> WatchItem {
    let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    ev.expect("watcher event in time").expect("stream open")
}

async fn one_deployment() -> (TestApi, Api<Deployment>) {
    let store = test_store();
    seed_namespace(&store, "shop");
    seed_deployment(&store, "shop", "web", "registry.local/shop/web:1.0", 3);
    let t = start_api(store).await;
    let api = Api::namespaced(t.client().await, "shop");
    (t, api)
}

#[tokio::test]
async fn list_paginates_over_5000_deployments() {
    let store = test_store();
    for n in 0..5 {
        seed_namespace(&store, &format!("ns{n}"));
        for i in 0..1000 {
            store
                .create(
                    Kind::Deployment,
                    deployment(&format!("ns{n}"), &format!("app{i:04}"), "img:1", 1),
                )
                .unwrap();
        }
    }
    let t = start_api(store).await;
    let api: Api<Deployment> = Api::all(t.client().await);
    let mut seen = HashSet::new();
    let (mut pages, mut token) = (0, None::<String>);
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(tok) = &token {
            lp = lp.continue_token(tok);
        }
        let list = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(list.items.len() <= 500);
        for d in &list.items {
            let key = (
                d.metadata.namespace.clone().unwrap(),
                d.metadata.name.clone().unwrap(),
            );
            assert!(seen.insert(key), "an item came twice");
        }
        token = list.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 5000);
    assert_eq!(pages, 10);
    assert_eq!(t.server.request_count().lists, 10);
    // A selector narrows the pages without losing items.
    let lp = ListParams::default()
        .labels("app in (app0001,app0002)")
        .limit(3);
    let (mut sizes, mut token) = (Vec::new(), None::<String>);
    loop {
        let lp = match &token {
            Some(tok) => lp.clone().continue_token(tok),
            None => lp.clone(),
        };
        let page = api.list(&lp).await.unwrap();
        sizes.push(page.items.len());
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [3, 3, 3, 1]);
}

#[tokio::test]
async fn watcher_relists_after_410_and_goes_on() {
    let (mut t, api) = one_deployment().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(api.clone(), watcher::Config::default()).default_backoff();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    // Initial list.
    assert!(matches!(next(&mut rx).await, Ok(watcher::Event::Init)));
    assert!(matches!(
        next(&mut rx).await,
        Ok(watcher::Event::InitApply(_))
    ));
    assert!(matches!(next(&mut rx).await, Ok(watcher::Event::InitDone)));
    // A live change arrives.
    seed_deployment(&t.store, "shop", "api", "img:1", 1);
    match next(&mut rx).await {
        Ok(watcher::Event::Apply(d)) => assert_eq!(d.metadata.name.as_deref(), Some("api")),
        other => panic!("expected Apply(api), got {other:?}"),
    }
    // The server goes down; meanwhile the history the watcher would resume from is compacted.
    t.server.stop().await;
    seed_deployment(&t.store, "shop", "worker", "img:1", 1);
    t.store.compact_history();
    t.server.restart().await.unwrap();
    // The watcher errors (410 or connection), re-lists and sees all three.
    let mut relisted = Vec::new();
    loop {
        match next(&mut rx).await {
            Ok(watcher::Event::Init) => relisted.clear(),
            Ok(watcher::Event::InitApply(d)) => relisted.push(d.metadata.name.unwrap()),
            Ok(watcher::Event::InitDone) => break,
            Ok(other) => panic!("unexpected event before the re-list: {other:?}"),
            Err(_) => {} // the outage and the 410 surface as errors; the stream goes on
        }
    }
    relisted.sort();
    assert_eq!(relisted, ["api", "web", "worker"]);
    t.store.delete(Kind::Deployment, "shop", "api").unwrap();
    match next(&mut rx).await {
        Ok(watcher::Event::Delete(d)) => assert_eq!(d.metadata.name.as_deref(), Some("api")),
        other => panic!("expected Delete(api), got {other:?}"),
    }
    task.abort();
}

#[tokio::test]
async fn raw_watch_from_an_expired_version_gets_410() {
    let (t, api) = one_deployment().await;
    seed_deployment(&t.store, "shop", "api", "img:1", 1);
    t.store.compact_history();
    let wp = kube::api::WatchParams::default().timeout(5);
    let mut s = api.watch(&wp, "2").await.unwrap().boxed();
    match s.next().await {
        Some(Ok(kube::core::WatchEvent::Error(e))) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn patches_of_every_type() {
    let (t, api) = one_deployment().await;
    // Strategic: containers merge by name, other fields stay.
    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.local/shop/web:2.0"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&p))
        .await
        .unwrap();
    let c = &d.spec.template.spec.as_ref().unwrap().containers;
    assert_eq!(
        (c.len(), c[0].image.as_deref()),
        (1, Some("registry.local/shop/web:2.0"))
    );
    assert_eq!(d.metadata.generation, Some(2));
    // Merge: labels added, a null removes.
    let p = json!({"metadata": {"labels": {"tier": "front", "app": null}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    let labels = d.metadata.labels.unwrap();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert!(!labels.contains_key("app"));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "metadata changes keep the generation"
    );
    // JSON patch, with a passing test op.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 4}
    ]))
    .unwrap();
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(4));
    // Server-side apply: updates an existing object and creates a missing one.
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 6}});
    let d = api
        .patch(
            "web",
            &PatchParams::apply("shipdeck").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(6));
    let mf = d.metadata.managed_fields.unwrap();
    assert!(mf.iter().any(
        |m| m.manager.as_deref() == Some("shipdeck") && m.operation.as_deref() == Some("Apply")
    ));
    let mut new = deployment("shop", "fresh", "img:1", 1);
    new["metadata"].as_object_mut().unwrap().remove("namespace");
    let d = api
        .patch(
            "fresh",
            &PatchParams::apply("shipdeck"),
            &Patch::Apply(&new),
        )
        .await
        .unwrap();
    assert!(d.metadata.uid.is_some());
    assert!(t.store.get(Kind::Deployment, "shop", "fresh").is_some());
    // Status in a main-resource patch is ignored; the status subresource takes it.
    let p = json!({"status": {"readyReplicas": 1}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().ready_replicas, Some(3));
    let d = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().ready_replicas, Some(1));
}

#[tokio::test]
async fn dry_run_leaves_the_store_unchanged() {
    let (t, api) = one_deployment().await;
    let before = t.store.get(Kind::Deployment, "shop", "web").unwrap();
    let rv = t.store.resource_version();
    let p = json!({"spec": {"replicas": 9}});
    let d = api
        .patch("web", &PatchParams::default().dry_run(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(9));
    let new: Deployment = serde_json::from_value(deployment("shop", "dry", "img:1", 1)).unwrap();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let created = api.create(&pp, &new).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("dry"));
    api.delete("web", &DeleteParams::default().dry_run())
        .await
        .unwrap();
    assert_eq!(
        t.store.get(Kind::Deployment, "shop", "web").unwrap(),
        before
    );
    assert!(t.store.get(Kind::Deployment, "shop", "dry").is_none());
    assert_eq!(t.store.resource_version(), rv);
}

#[tokio::test]
async fn stale_replace_conflicts_and_crud_works() {
    let (t, api) = one_deployment().await;
    let old = api.get("web").await.unwrap();
    t.store
        .modify(Kind::Deployment, "shop", "web", |d| {
            d["spec"]["replicas"] = json!(7)
        })
        .unwrap();
    let err = api_err(
        api.replace("web", &PostParams::default(), &old)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        t.store.get(Kind::Deployment, "shop", "web").unwrap()["spec"]["replicas"],
        7
    );
    let mut fresh = api.get("web").await.unwrap();
    fresh.spec.replicas = Some(2);
    let d = api
        .replace("web", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(2));
    let err = api_err(api.create(&PostParams::default(), &d).await.unwrap_err());
    assert_eq!(err.reason, "AlreadyExists");
    assert!(api.get_opt("nope").await.unwrap().is_none());
    api.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(t.store.get(Kind::Deployment, "shop", "web").is_none());
}

#[tokio::test]
async fn scale_subresource_and_logs() {
    let (t, api) = one_deployment().await;
    let s = api.get_scale("web").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(3));
    assert_eq!(s.status.unwrap().selector.as_deref(), Some("app=web"));
    let p = json!({"spec": {"replicas": 1}});
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(
        t.store.get(Kind::Deployment, "shop", "web").unwrap()["spec"]["replicas"],
        1
    );

    seed_pod(&t.store, "shop", "web-1", "web", "img:1");
    let pods: Api<Pod> = Api::namespaced(t.client().await, "shop");
    // No lines from the world yet: synthetic ones.
    let text = pods.logs("web-1", &LogParams::default()).await.unwrap();
    assert!(text.starts_with("starting web (img:1)\n"), "{text}");
    for i in 0..5 {
        t.server
            .logs()
            .append("shop", "web-1", "web", t.store.now(), &format!("line {i}"));
    }
    let lp = LogParams {
        tail_lines: Some(2),
        ..Default::default()
    };
    assert_eq!(pods.logs("web-1", &lp).await.unwrap(), "line 3\nline 4\n");
    let lp = LogParams {
        follow: true,
        tail_lines: Some(1),
        ..Default::default()
    };
    let mut lines = pods.log_stream("web-1", &lp).await.unwrap().lines();
    assert_eq!(lines.next().await.unwrap().unwrap(), "line 4");
    t.server
        .logs()
        .append("shop", "web-1", "web", t.store.now(), "line 5");
    let next = tokio::time::timeout(Duration::from_secs(10), lines.next())
        .await
        .unwrap();
    assert_eq!(next.unwrap().unwrap(), "line 5");
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let store = test_store();
    seed_namespace(&store, "shop");
    let opts = KubeApiOptions {
        token: Some("s3cret".into()),
        ..Default::default()
    };
    let t = start_api_with(store, opts).await;
    let ok: Api<Deployment> = Api::namespaced(t.client().await, "shop");
    assert!(
        ok.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let dir = tempfile::tempdir().unwrap();
    write_kubeconfig(dir.path(), &t.url(), Some("wrong"));
    let yaml = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let bad: Api<Deployment> = Api::namespaced(kube::Client::try_from(cfg).unwrap(), "shop");
    let err = api_err(bad.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn events_are_served_in_both_groups() {
    let (t, _) = one_deployment().await;
    for (name, pod, reason) in [("a.1", "web-1", "BackOff"), ("b.1", "web-2", "Pulled")] {
        t.store
            .create(
                Kind::Event,
                json!({"metadata": {"name": name, "namespace": "shop"},
                    "involvedObject": {"kind": "Pod", "name": pod, "namespace": "shop"},
                    "reason": reason, "message": format!("{reason} on {pod}"), "type": "Normal",
                    "source": {"component": "kubelet"}, "count": 2}),
            )
            .unwrap();
    }
    let client = t.client().await;
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "shop");
    let lp = ListParams::default().fields("involvedObject.kind=Pod,involvedObject.name=web-1");
    let list = core.list(&lp).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].reason.as_deref(), Some("BackOff"));
    let v1: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "shop");
    let list = v1
        .list(&ListParams::default().fields("regarding.name=web-2"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(
        (
            e.note.as_deref(),
            e.reporting_controller.as_deref(),
            e.deprecated_count
        ),
        (Some("Pulled on web-2"), Some("kubelet"), Some(2))
    );
    assert_eq!(
        v1.get("a.1")
            .await
            .unwrap()
            .regarding
            .unwrap()
            .name
            .as_deref(),
        Some("web-1")
    );
    let err = api_err(
        v1.delete("a.1", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 405);
    // A watch shows the events.k8s.io form too.
    let wp = kube::api::WatchParams::default().timeout(1);
    let mut s = v1.watch(&wp, "0").await.unwrap().boxed();
    match s.next().await {
        Some(Ok(kube::core::WatchEvent::Added(e))) => assert!(e.note.is_some()),
        other => panic!("expected an ADDED events.k8s.io Event, got {other:?}"),
    }
}

struct FixedTraffic;

impl shipdeck::demo::traffic::TrafficSource for FixedTraffic {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::UNIX_EPOCH
    }

    fn pods(&self) -> Vec<shipdeck::demo::traffic::PodTraffic> {
        vec![shipdeck::demo::traffic::PodTraffic {
            namespace: "shop".into(),
            pod: "web-1".into(),
            app: "web".into(),
            image: "img:1".into(),
            requests_total: 40.0,
            errors_total: 4.0,
            latency_bucket_counts: vec![40.0; shipdeck::demo::traffic::LATENCY_BUCKETS.len()],
            latency_sum_seconds: 0.4,
            cpu_seconds_total: 2.0,
            memory_bytes: 5e7,
            restarts: 1,
            ready: true,
        }]
    }
}

#[tokio::test]
async fn pod_proxy_serves_metrics_from_the_traffic_source() {
    let store = test_store();
    seed_namespace(&store, "shop");
    seed_pod(&store, "shop", "web-1", "web", "img:1");
    seed_pod(&store, "shop", "web-2", "web", "img:1");
    let opts = KubeApiOptions {
        traffic: Some(std::sync::Arc::new(FixedTraffic)),
        ..Default::default()
    };
    let t = start_api_with(store, opts).await;
    let client = t.client().await;
    let get = |path: &str| {
        http::Request::get(path)
            .header("accept", "text/plain;version=0.0.4")
            .body(Vec::new())
            .unwrap()
    };
    let text = client
        .request_text(get("/api/v1/namespaces/shop/pods/web-1:8080/proxy/metrics"))
        .await
        .unwrap();
    assert!(
        text.contains("http_requests_total{code=\"500\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    // A pod without traffic figures serves nothing; an unknown pod is not found.
    // (kube-rs retries 503s with backoff, so this one goes through plain HTTP.)
    let url = format!(
        "{}/api/v1/namespaces/shop/pods/web-2:8080/proxy/metrics",
        t.url()
    );
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let status: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status["reason"], "ServiceUnavailable");
    let err = api_err(
        client
            .request_text(get("/api/v1/namespaces/shop/pods/nope:8080/proxy/metrics"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn watcher_with_streaming_lists() {
    let (t, api) = one_deployment().await;
    seed_deployment(&t.store, "shop", "api", "img:1", 1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(api, watcher::Config::default().streaming_lists()).default_backoff();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    assert!(matches!(next(&mut rx).await, Ok(watcher::Event::Init)));
    let mut names = Vec::new();
    loop {
        match next(&mut rx).await {
            Ok(watcher::Event::InitApply(d)) => names.push(d.metadata.name.unwrap()),
            Ok(watcher::Event::InitDone) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["api", "web"]);
    t.store.delete(Kind::Deployment, "shop", "web").unwrap();
    assert!(matches!(next(&mut rx).await, Ok(watcher::Event::Delete(_))));
    assert_eq!(
        t.server.request_count().lists,
        0,
        "a streaming list needs no LIST"
    );
    task.abort();
}
