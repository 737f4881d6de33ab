//! The Kubernetes backend and `status` against the simulated estate (`demo::Demo`): the same
//! scenarios as the fake-server tests, through the real simulated API server.
use super::wait_for;
use shipdeck::backend::kube::{KubeBackend, KubeEvent};
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::model::board::build_board;
use shipdeck::model::{DeploymentView, Fresh};
use shipdeck::msg::Msg;
use shipdeck::status::{StatusOutput, status};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn demo() -> Demo {
    shipdeck::install_crypto();
    Demo::start(DemoOptions {
        paused: true,
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

/// Collects one Deployments snapshot per environment (the latest of each) until all arrived.
async fn snapshots(
    rx: &mut mpsc::Receiver<Msg>,
    envs: usize,
    mut accept: impl FnMut(&str, &[Arc<DeploymentView>]) -> bool,
) -> BTreeMap<String, Fresh<shipdeck::model::Deployments>> {
    let mut got = BTreeMap::new();
    while got.len() < envs {
        let (env, items) = wait_for(rx, 20, "deployments of every environment", |e| match e {
            KubeEvent::Deployments { env, items } if accept(env, items) => {
                Some((env.clone(), items.clone()))
            }
            _ => None,
        })
        .await;
        let mut fresh = Fresh::default();
        fresh.set(items, jiff::Timestamp::now());
        got.insert(env, fresh);
    }
    got
}

fn image_of(items: &[Arc<DeploymentView>], name: &str) -> String {
    items
        .iter()
        .find(|d| d.name == name)
        .and_then(|d| d.primary_image())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn the_board_goes_live_follows_changes_and_survives_a_server_restart() {
    let mut demo = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let config = demo.write_config(dir.path()).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let _backend = KubeBackend::spawn(&config, tx, cancel.clone());

    let snaps = snapshots(&mut rx, 3, |_, _| true).await;
    let board = build_board(&config, &snaps);
    let apps: Vec<_> = board.rows.iter().map(|r| r.app.as_str()).collect();
    assert_eq!(apps, ["web", "api", "worker"]);
    for row in &board.rows {
        assert!(
            row.cells.iter().all(Option::is_some),
            "{} missing somewhere",
            row.app
        );
    }

    // A change through the API arrives as a new snapshot.
    let image = "registry.local/shop/web:9.9.9";
    demo.world()
        .set_image("shop-develop", "web", "web", image)
        .unwrap();
    wait_for(
        &mut rx,
        10,
        "develop snapshot with the new image",
        |e| match e {
            KubeEvent::Deployments { env, items } if env == "develop" => {
                (image_of(items, "web") == image).then_some(())
            }
            _ => None,
        },
    )
    .await;

    // The API server goes away: every environment reports it; the backend keeps running.
    demo.kube_server().stop().await;
    let mut failed = std::collections::BTreeSet::new();
    while failed.len() < 3 {
        let env = wait_for(&mut rx, 20, "Failed for every environment", |e| match e {
            KubeEvent::Failed { env, kind, error } if error == "connection refused" => {
                assert_eq!(*kind, "deployments");
                Some(env.clone())
            }
            _ => None,
        })
        .await;
        failed.insert(env);
    }
    // Changed while it was down; after the restart the fresh data and Live arrive.
    let later = "registry.local/shop/web:10.0.0";
    demo.world()
        .set_image("shop-blue", "web", "web", later)
        .unwrap();
    demo.kube_server().restart().await.unwrap();
    let mut live = std::collections::BTreeSet::new();
    let mut fresh = false;
    while live.len() < 3 || !fresh {
        wait_for(
            &mut rx,
            40,
            "fresh production data and Live everywhere",
            |e| {
                match e {
                    KubeEvent::Deployments { env, items } if env == "production" => {
                        fresh |= image_of(items, "web") == later;
                    }
                    KubeEvent::Live { env, .. } => {
                        live.insert(env.clone());
                    }
                    _ => return None,
                }
                Some(())
            },
        )
        .await;
    }
    cancel.cancel();
}

#[tokio::test]
async fn detail_and_logs_against_the_simulated_estate() {
    let demo = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let config = demo.write_config(dir.path()).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let backend = KubeBackend::spawn(&config, tx, cancel.clone());
    let snaps = snapshots(&mut rx, 3, |_, _| true).await;
    let develop = snaps["develop"].value.clone().unwrap();
    let web = develop.iter().find(|d| d.name == "web").unwrap().clone();

    backend.open_detail("develop", &web.namespace, &web.name, web.selector.clone());
    let (mut rs, mut pods) = (None, None);
    while rs.is_none() || pods.is_none() {
        wait_for(&mut rx, 20, "detail snapshots", |e| {
            match e {
                KubeEvent::ReplicaSets { items, .. } => rs = Some(items.clone()),
                KubeEvent::Pods { items, .. } => pods = Some(items.clone()),
                _ => return None,
            }
            Some(())
        })
        .await;
    }
    let rs = rs.unwrap();
    let pods = pods.unwrap();
    assert!(!rs.is_empty(), "web has ReplicaSets");
    assert!(
        rs.iter()
            .all(|r| r.owner_uid.as_deref() == Some(web.uid.as_str())),
        "only web's ReplicaSets: {rs:?}"
    );
    assert!(
        rs.windows(2).all(|w| w[0].revision >= w[1].revision),
        "newest revision first"
    );
    assert!(!pods.is_empty(), "web has pods");
    assert!(pods.iter().all(|p| p.labels == web.selector
        || web.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))));

    let pod = pods[0].name.clone();
    backend.stream_logs(3, "develop", &web.namespace, &pod, None);
    let lines = wait_for(&mut rx, 20, "log lines (or the end)", |e| match e {
        KubeEvent::LogLines { request: 3, lines } => Some(Ok(lines.clone())),
        KubeEvent::LogEnded { request: 3, error } => Some(Err(error.clone())),
        _ => None,
    })
    .await;
    let lines = lines.unwrap_or_else(|e| panic!("log ended before any line: {e:?}"));
    assert!(!lines.is_empty());
    backend.stop_logs();
    backend.close_detail();
    cancel.cancel();
}

#[tokio::test]
async fn status_over_the_simulated_estate() {
    let demo = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let config = demo.write_config(dir.path()).unwrap();
    let report = status(&config, None, None, StatusOutput::Json)
        .await
        .unwrap();
    assert!(report.ok, "{}", report.text);
    let j: serde_json::Value = serde_json::from_str(&report.text).unwrap();
    let apps: Vec<_> = j["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["web", "api", "worker"]);
    for app in j["apps"].as_array().unwrap() {
        for env in ["develop", "staging", "production"] {
            let cell = &app["cells"][env];
            assert!(cell["image"].as_str().is_some(), "{app}");
            assert!(cell["desired"].as_i64().unwrap() > 0, "{app}");
        }
    }
    let table = status(&config, Some("web"), None, StatusOutput::Table)
        .await
        .unwrap();
    assert!(table.ok);
    assert_eq!(table.text.lines().count(), 2, "{}", table.text);
    assert!(table.text.starts_with("APP"), "{}", table.text);
}
