//! Shared helpers of the integration tests: a simulated API server on a fresh store, a kubeconfig
//! pointing at it, kubectl with a deadline, a kube-rs client, and small object builders.
#![allow(dead_code)]

pub mod kubectl;

#[allow(unused_imports)]
pub use kubectl::{KubectlOutput, kubectl_bin};

use serde_json::{Value, json};
use shipdeck::demo::kube_api::{KubeApiOptions, KubeApiServer};
use shipdeck::demo::store::{Kind, Store};
use std::path::PathBuf;
use std::time::Duration;

/// A running simulated API server with its own temp dir (kubeconfig, kubectl cache).
pub struct TestApi {
    pub server: KubeApiServer,
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// A store on the system clock.
pub fn test_store() -> Store {
    Store::with_system_clock()
}

/// Starts a server on `store` with default options (no token, ephemeral port).
pub async fn start_api(store: Store) -> TestApi {
    start_api_with(store, KubeApiOptions::default()).await
}

pub async fn start_api_with(store: Store, opts: KubeApiOptions) -> TestApi {
    let token = opts.token.clone();
    let server = KubeApiServer::start(store.clone(), opts)
        .await
        .expect("start the simulated API server");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = write_kubeconfig(dir.path(), &server.url(), token.as_deref());
    TestApi {
        server,
        store,
        dir,
        kubeconfig,
    }
}

/// Writes `dir/kubeconfig` with one cluster/context (`sim`) at `url`, namespace `default`.
pub fn write_kubeconfig(dir: &std::path::Path, url: &str, token: Option<&str>) -> PathBuf {
    let user = match token {
        Some(t) => format!("    token: {t}\n"),
        None => "    {}\n".to_string(),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {url}\nusers:\n- name: sim\n  user:\n{user}contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\n    namespace: default\ncurrent-context: sim\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

impl TestApi {
    /// Runs kubectl against this server (fresh cache dir) and waits up to 60 s.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        kubectl::run(
            &self.kubeconfig,
            &self.dir.path().join("cache"),
            args,
            Duration::from_secs(60),
        )
        .await
    }

    /// Starts kubectl without waiting (for `--watch`); killed on drop.
    pub fn kubectl_spawn(&self, args: &[&str]) -> kubectl::Running {
        kubectl::spawn(&self.kubeconfig, &self.dir.path().join("cache"), args)
    }

    /// A kube-rs client for this server, built from the kubeconfig (token included).
    pub async fn client(&self) -> kube::Client {
        shipdeck::install_crypto();
        let yaml = std::fs::read_to_string(&self.kubeconfig).expect("read kubeconfig");
        let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("parse kubeconfig");
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(cfg).expect("kube client")
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// Creates a namespace in the store.
pub fn seed_namespace(store: &Store, ns: &str) -> Value {
    store
        .create(
            Kind::Namespace,
            json!({"metadata": {"name": ns}, "status": {"phase": "Active"}}),
        )
        .expect("create namespace")
}

/// A Deployment object (not stored) with one container named after it.
pub fn deployment(ns: &str, name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}
            }
        }
    })
}

/// Stores a Deployment whose status says all `replicas` are ready (no controller needed).
pub fn seed_deployment(store: &Store, ns: &str, name: &str, image: &str, replicas: i64) -> Value {
    let mut d = deployment(ns, name, image, replicas);
    d["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    d["status"] = json!({
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}-abc\" has successfully progressed.")}
        ]
    });
    store
        .create(Kind::Deployment, d)
        .expect("create deployment")
}

/// Stores a running, ready Pod owned by nothing, labelled `app=<app>`.
pub fn seed_pod(store: &Store, ns: &str, name: &str, app: &str, image: &str) -> Value {
    store
        .create(
            Kind::Pod,
            json!({
                "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": image}], "nodeName": "sim-node-1"},
                "status": {"phase": "Running", "podIP": "10.0.0.7",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": app, "image": image, "ready": true, "restartCount": 0,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
            }),
        )
        .expect("create pod")
}

/// Polls `f` every 20 ms until it returns Some, or panics with `what` after `timeout`.
pub async fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
