//! The whole demo estate: CI deploys that move the board by themselves, the registry knowing every
//! running tag (and the pods reporting its digests), a bad image seen by the simulated Prometheus
//! and Alertmanager through the real clients, the written config naming every source, graceful
//! pod deletion, and a shutdown that closes every port.
use crate::support::eventually;
use shipdeck::backend::alertmanager::{AlertQuery, AlertmanagerClient};
use shipdeck::backend::ci::{self, ProviderKind};
use shipdeck::backend::prometheus::{
    PrometheusClient, QueryData, default_queries, render_template,
};
use shipdeck::backend::registry::{RegistryClient, RegistryConfig};
use shipdeck::config::Config;
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::model::pipeline::StageStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

fn image_of(demo: &Demo, ns: &str, app: &str) -> (String, String) {
    let d = demo.store().get(Kind::Deployment, ns, app).unwrap();
    (
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string(),
        d["metadata"]["annotations"]["kubernetes.io/change-cause"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

/// `(image, imageID)` of the app's pods in `ns`.
fn pod_images(demo: &Demo, ns: &str, app: &str) -> Vec<(String, String)> {
    demo.store()
        .list(Kind::Pod, Some(ns))
        .0
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .filter_map(|p| {
            let c = &p["status"]["containerStatuses"][0];
            Some((
                c["image"].as_str()?.to_string(),
                c["imageID"].as_str()?.to_string(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_develop_pipeline_runs_its_stages_and_its_tag_reaches_shop_develop() {
    let demo = Demo::start(DemoOptions {
        speed: 40.0,
        life_every_s: 90,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    shipdeck::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo.write_config(dir.path()).unwrap();
    let github = ci::from_config(&cfg).unwrap().expect("[ci] in the config");
    assert_eq!(github.kind(), ProviderKind::Github);
    // Run number → stages seen running, and the run's short sha once it succeeded.
    let mut seen_running: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (number, sha) = loop {
        assert!(
            Instant::now() < deadline,
            "no develop run went from running to deployed: {seen_running:?}"
        );
        let run = github.latest_run("web", "develop").await.unwrap().unwrap();
        let n = run.number.unwrap();
        for s in &run.stages {
            if s.status == StageStatus::Running {
                seen_running.entry(n).or_default().insert(s.name.clone());
            }
        }
        // A run we watched in progress has finished: its image must now be in shop-develop.
        if run.status == StageStatus::Success && seen_running.contains_key(&n) {
            assert!(run.stages.iter().all(|s| s.status == StageStatus::Success));
            break (n, run.commit.short_sha().to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (image, cause) = eventually(Duration::from_secs(5), "the CI deploy", || {
        let (image, cause) = image_of(&demo, "shop-develop", "web");
        image
            .ends_with(&format!(":{sha}"))
            .then_some((image, cause))
    })
    .await;
    assert_eq!(image, format!("registry.local/shop/web:{sha}"));
    assert_eq!(cause, format!("deploy {sha} from CI run #{number}"));
    // The controller rolls it out; the new pods report the digest CI pushed.
    let digest = demo.registry().unwrap().digest("shop/web", &sha).unwrap();
    eventually(Duration::from_secs(10), "a pod of the new build", || {
        pod_images(&demo, "shop-develop", "web")
            .into_iter()
            .find(|(i, _)| *i == image)
    })
    .await;
    for (i, id) in pod_images(&demo, "shop-develop", "web") {
        if i == image {
            assert_eq!(id, format!("registry.local/shop/web@{digest}"));
        }
    }
    // Master waits for a person; approving it deploys production.
    let engine = demo.ci_engine().unwrap();
    let waiting = engine
        .runs("web", "master")
        .into_iter()
        .find(|r| r.status() == shipdeck::demo::ci::engine::SimStatus::Waiting)
        .expect("master waits for approval");
    let before = image_of(&demo, "shop-blue", "web").0;
    engine.approve(waiting.id).unwrap();
    let tag = &waiting.commit.sha[..7];
    eventually(Duration::from_secs(10), "the production deploy", || {
        let (image, cause) = image_of(&demo, "shop-blue", "web");
        (image != before && image.ends_with(tag) && cause.contains("from CI run #")).then_some(())
    })
    .await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_knows_every_running_tag_and_pods_report_its_digests() {
    let demo = Demo::start(DemoOptions {
        paused: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    shipdeck::install_crypto();
    let client = RegistryClient::new(&RegistryConfig::new(&demo.registry_url().unwrap())).unwrap();
    let tags = client.tags("shop/web").await.unwrap();
    for ns in ["shop-develop", "shop-green", "shop-blue"] {
        for app in ["web", "api", "worker"] {
            let (image, _) = image_of(&demo, ns, app);
            let parsed = shipdeck::backend::registry::ImageRef::parse(&image).unwrap();
            let tag = parsed.tag.as_deref().unwrap();
            let repo = format!("shop/{app}");
            let listed = if app == "web" {
                tags.clone()
            } else {
                client.tags(&repo).await.unwrap()
            };
            assert!(
                listed.iter().any(|t| t == tag),
                "{repo}:{tag} in {listed:?}"
            );
            let head = client.head_manifest(&repo, tag).await.unwrap();
            // A tag pinned to a digest (production's worker) runs that digest, which the registry
            // still serves although the tag has moved since.
            let running = match &parsed.digest {
                Some(pinned) => {
                    assert_ne!(&head.digest, pinned, "{image}: the seeded tag moved");
                    let by_digest = client.head_manifest(&repo, pinned).await.unwrap();
                    assert_eq!(&by_digest.digest, pinned);
                    pinned.clone()
                }
                None => head.digest.clone(),
            };
            let pods = pod_images(&demo, ns, app);
            assert!(!pods.is_empty(), "{ns}/{app} has pods");
            for (i, id) in pods.iter().filter(|(i, _)| *i == image) {
                assert_eq!(*id, format!("registry.local/{repo}@{running}"), "{i}");
            }
        }
    }
    // History tags too, each its own image.
    assert!(tags.len() >= 7, "{tags:?}");
    let a = client.head_manifest("shop/web", "1.3.0").await.unwrap();
    let b = client.head_manifest("shop/web", "1.4.2").await.unwrap();
    assert_ne!(a.digest, b.digest);
    // A tag pushed again moves in the registry; running pods keep the digest they started with.
    let pods_before = pod_images(&demo, "shop-green", "web");
    let moved = demo
        .registry()
        .unwrap()
        .push_image("shop/web", "1.4.2", "rebuilt 1.4.2");
    assert_ne!(moved, b.digest);
    assert_eq!(
        client
            .head_manifest("shop/web", "1.4.2")
            .await
            .unwrap()
            .digest,
        moved
    );
    assert_eq!(pod_images(&demo, "shop-green", "web"), pods_before);
    assert!(
        pods_before
            .iter()
            .all(|(_, id)| id.ends_with(&b.digest) && !id.ends_with(&moved))
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_in_staging_raises_the_error_ratio_and_fires_high_error_rate() {
    let demo = Demo::start(DemoOptions {
        speed: 30.0,
        // No CI deploys: nothing replaces the bad image while we watch.
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    shipdeck::install_crypto();
    let prom =
        PrometheusClient::with_timeout(&demo.prometheus_url().unwrap(), Duration::from_secs(5));
    let am =
        AlertmanagerClient::with_timeout(&demo.alertmanager_url().unwrap(), Duration::from_secs(5));
    let template = default_queries()
        .into_iter()
        .find(|(name, _)| name == "errors")
        .unwrap()
        .1;
    let query = render_template(&template.query, "web", "shop-green", "staging");
    let ratio = async |prom: &PrometheusClient| -> Option<f64> {
        match prom.query(&query, None).await.ok()?.data {
            QueryData::Vector(v) => v.first().map(|s| s.v).filter(|v| v.is_finite()),
            _ => None,
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let good = loop {
        if let Some(r) = ratio(&prom).await {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no error ratio for web/shop-green"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(good < 0.05, "good level {good}");
    demo.world()
        .set_image(
            "shop-green",
            "web",
            "web",
            "registry.local/shop/web:9.9.9-bad",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let bad = loop {
        let r = ratio(&prom).await.unwrap_or(0.0);
        if r > 0.05 && r > 3.0 * good {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the error ratio stayed at {r} (good {good})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("web/shop-green error ratio: good {good:.4}, bad {bad:.4}");
    let q = AlertQuery {
        filter: vec![
            r#"alertname="HighErrorRate""#.into(),
            r#"app="web""#.into(),
            r#"namespace="shop-green""#.into(),
        ],
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        if let Some(a) = am.alerts(&q).await.unwrap().into_iter().next() {
            break a;
        }
        assert!(Instant::now() < deadline, "HighErrorRate never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert.labels["severity"], "warning");
    assert!(
        am.alerts(&AlertQuery {
            filter: vec![
                r#"alertname="HighErrorRate""#.into(),
                r#"namespace="shop-blue""#.into()
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty(),
        "production is healthy"
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_written_config_loads_and_names_every_source() {
    let demo = Demo::start(DemoOptions {
        paused: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = demo.write_config(dir.path()).unwrap();
    let cfg = Config::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(cfg, written);
    let prom = cfg.prometheus.as_ref().expect("[prometheus]");
    assert_eq!(Some(prom.url.clone()), demo.prometheus_url());
    assert_eq!(prom.interval_secs, 2);
    let am = cfg.alertmanager.as_ref().expect("[alertmanager]");
    assert_eq!(Some(am.url.clone()), demo.alertmanager_url());
    let ci = cfg.ci.as_ref().expect("[ci]");
    assert_eq!(ci.provider, ProviderKind::Github);
    assert_eq!(Some(ci.url.clone()), demo.github_url());
    assert_eq!(ci.repo.as_deref(), Some("shop/{app}"));
    let reg = cfg.registry.as_ref().expect("[registry]");
    assert_eq!(Some(reg.url.clone()), demo.registry_url());
    let repos: Vec<_> = cfg
        .apps
        .iter()
        .map(|a| (a.name.as_str(), a.repository.as_deref()))
        .collect();
    assert_eq!(
        repos,
        vec![
            ("web", Some("shop/web")),
            ("api", Some("shop/api")),
            ("worker", Some("shop/worker"))
        ]
    );
    // Every named source answers.
    let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    for section in [
        "[prometheus]",
        "[alertmanager]",
        "[ci]",
        "[registry]",
        "[cloudflare]",
    ] {
        assert!(text.contains(section), "{section} in {text}");
    }
    let names: Vec<&str> = demo.endpoints().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        vec![
            "kubernetes API",
            "prometheus",
            "alertmanager",
            "github actions",
            "jenkins",
            "gitlab",
            "registry",
            "cloudflare"
        ]
    );
    shipdeck::install_crypto();
    let http = reqwest::Client::new();
    for (name, url) in demo.endpoints() {
        let path = match name {
            "kubernetes API" => "/version",
            "prometheus" | "alertmanager" => "/-/ready",
            "github actions" => "/repos/shop/web/actions/runs",
            "jenkins" => "/job/web/job/develop/wfapi/runs",
            "gitlab" => "/api/v4/projects/shop%2Fweb/pipelines",
            "cloudflare" => "/zones?name=shop.example",
            _ => "/v2/",
        };
        let status = http
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{name} {url}{path}: {status}");
    }
    // Each simulated CI server answers its provider with the same runs.
    let engine = demo.ci_engine().unwrap();
    for kind in [
        ProviderKind::Github,
        ProviderKind::Jenkins,
        ProviderKind::Gitlab,
    ] {
        let cfg = demo.ci_config(kind).unwrap();
        let p = ci::provider(&cfg, BTreeMap::new()).unwrap();
        for branch in ["develop", "staging", "master"] {
            let run = p.latest_run("api", branch).await.unwrap().expect("a run");
            let newest = &engine.runs("api", branch)[0];
            assert_eq!(run.commit.sha, newest.commit.sha, "{kind:?} {branch}");
        }
    }
    // Without extras: Kubernetes only, and the config says so.
    let bare = Demo::start(DemoOptions {
        paused: true,
        extras: false,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = bare.write_config(dir.path()).unwrap();
    assert!(cfg.prometheus.is_none() && cfg.ci.is_none() && cfg.registry.is_none());
    assert_eq!(bare.endpoints().len(), 1);
    bare.shutdown().await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_shows_terminating_pods_before_they_go() {
    let demo = Demo::start(DemoOptions {
        speed: 10.0,
        extras: false,
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    demo.world()
        .set_image("shop-blue", "web", "web", "registry.local/shop/web:1.5.0")
        .unwrap();
    let store = demo.store();
    let name = eventually(Duration::from_secs(20), "a Terminating pod", || {
        store
            .list(Kind::Pod, Some("shop-blue"))
            .0
            .into_iter()
            .find(|p| {
                p["metadata"]["labels"]["app"] == "web"
                    && p["metadata"].get("deletionTimestamp").is_some()
            })
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
    })
    .await;
    let p = store.get(Kind::Pod, "shop-blue", &name).unwrap();
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(
        p["spec"]["containers"][0]["image"],
        "registry.local/shop/web:1.4.1"
    );
    eventually(Duration::from_secs(20), "the pod gone", || {
        store
            .get(Kind::Pod, "shop-blue", &name)
            .is_none()
            .then_some(())
    })
    .await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_port() {
    let demo = Demo::start(DemoOptions {
        paused: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let addrs: Vec<(&str, String)> = demo
        .endpoints()
        .into_iter()
        .map(|(n, u)| {
            let hostport = u.trim_start_matches("http://");
            (
                n,
                hostport.split('/').next().unwrap_or(hostport).to_string(),
            )
        })
        .collect();
    assert_eq!(addrs.len(), 8);
    for (name, a) in &addrs {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_ok(),
            "{name} listens on {a}"
        );
    }
    demo.shutdown().await;
    for (name, a) in &addrs {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{name} still accepts on {a}"
        );
    }
}
