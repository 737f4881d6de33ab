//! kubectl against the whole simulated estate (`Demo::start` at high speed): rollout status,
//! set image, history, undo (renumbering as a cluster does), scale, a crash-looping image hitting
//! the progress deadline, describe.
use crate::support::kubectl::{self, KubectlOutput};
use serde_json::Value;
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use std::path::PathBuf;
use std::time::Duration;

pub struct Sim {
    pub demo: Demo,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Sim {
    pub async fn start(speed: f64) -> Sim {
        let demo = Demo::start(DemoOptions {
            speed,
            life_every_s: 0,
            ..DemoOptions::default()
        })
        .await
        .expect("start demo");
        let dir = tempfile::tempdir().expect("temp dir");
        demo.write_config(dir.path()).expect("write config");
        let kubeconfig = dir.path().join("kubeconfig");
        Sim {
            demo,
            dir,
            kubeconfig,
        }
    }

    pub async fn k(&self, args: &[&str]) -> KubectlOutput {
        kubectl::run(
            &self.kubeconfig,
            &self.dir.path().join("cache"),
            args,
            Duration::from_secs(90),
        )
        .await
    }

    pub fn deploy(&self, ns: &str, name: &str) -> Value {
        self.demo
            .store()
            .get(Kind::Deployment, ns, name)
            .expect("deployment")
    }

    pub fn image(&self, ns: &str, name: &str) -> String {
        self.deploy(ns, name)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// (revision, change-cause) rows of `kubectl rollout history`.
fn history_rows(out: &str) -> Vec<(i64, String)> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (rev, cause) = l.split_once(char::is_whitespace)?;
            Some((rev.parse().ok()?, cause.trim().to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_history_and_undo_behave_as_on_a_cluster() {
    let s = Sim::start(20.0).await;
    let ns = ["-n", "shop-blue"];
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/web",
            ns[0],
            ns[1],
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.ok().contains("successfully rolled out"),
        "{}",
        out.stdout
    );

    let h = s
        .k(&["rollout", "history", "deploy/web", ns[0], ns[1]])
        .await;
    let rows = history_rows(h.ok());
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "{}",
        h.stdout
    );
    assert_eq!(rows[3].1, "promote 1.4.1 from staging");

    let out = s
        .k(&[
            "set",
            "image",
            "deploy/web",
            "web=registry.local/shop/web:2.0.0",
            ns[0],
            ns[1],
        ])
        .await;
    assert!(out.ok().contains("image updated"), "{}", out.stdout);
    s.k(&[
        "annotate",
        "deploy/web",
        "--overwrite",
        "kubernetes.io/change-cause=deploy 2.0.0 by hand",
        ns[0],
        ns[1],
    ])
    .await
    .ok();
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/web",
            ns[0],
            ns[1],
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.ok().contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    let rows = history_rows(
        s.k(&["rollout", "history", "deploy/web", ns[0], ns[1]])
            .await
            .ok(),
    );
    assert_eq!(
        rows.last().cloned(),
        Some((5, "deploy 2.0.0 by hand".to_string())),
        "{rows:?}"
    );
    let d = s.deploy("shop-blue", "web");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
    assert_eq!(d["status"]["updatedReplicas"], 3);

    // Undo: back to revision 4's template, which becomes revision 6.
    let out = s.k(&["rollout", "undo", "deploy/web", ns[0], ns[1]]).await;
    assert!(out.ok().contains("rolled back"), "{}", out.stdout);
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/web",
            ns[0],
            ns[1],
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.ok().contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    assert_eq!(s.image("shop-blue", "web"), "registry.local/shop/web:1.4.1");
    let rows = history_rows(
        s.k(&["rollout", "history", "deploy/web", ns[0], ns[1]])
            .await
            .ok(),
    );
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 5, 6],
        "{rows:?}"
    );
    assert_eq!(rows[4].1, "promote 1.4.1 from staging");

    // Undo to an explicit revision: 2 (1.3.1) becomes 7.
    let out = s
        .k(&[
            "rollout",
            "undo",
            "deploy/web",
            "--to-revision=2",
            ns[0],
            ns[1],
        ])
        .await;
    assert!(out.ok().contains("rolled back"), "{}", out.stdout);
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/web",
            ns[0],
            ns[1],
            "--timeout=60s",
        ])
        .await;
    out.ok();
    assert_eq!(s.image("shop-blue", "web"), "registry.local/shop/web:1.3.1");
    let rows = history_rows(
        s.k(&["rollout", "history", "deploy/web", ns[0], ns[1]])
            .await
            .ok(),
    );
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 3, 5, 6, 7],
        "{rows:?}"
    );
    let rs = s.demo.store().list(Kind::ReplicaSet, Some("shop-blue")).0;
    let r7 = rs
        .iter()
        .find(|r| r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "7")
        .expect("revision 7");
    assert_eq!(
        r7["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "2"
    );
    let out = s
        .k(&[
            "rollout",
            "undo",
            "deploy/web",
            "--to-revision=99",
            ns[0],
            ns[1],
        ])
        .await;
    assert!(
        !out.success() && out.stderr.contains("unable to find specified revision"),
        "{out:?}"
    );
    s.demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_converges_and_a_bad_image_exceeds_the_progress_deadline() {
    let s = Sim::start(20.0).await;
    let out = s
        .k(&["scale", "deploy/api", "--replicas=5", "-n", "shop-blue"])
        .await;
    assert!(out.ok().contains("scaled"), "{}", out.stdout);
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "shop-blue",
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.ok().contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    assert_eq!(
        s.deploy("shop-blue", "api")["status"]["availableReplicas"],
        5
    );
    let pods = s
        .k(&[
            "get",
            "pods",
            "-n",
            "shop-blue",
            "-l",
            "app=api",
            "-o",
            "json",
        ])
        .await;
    let pods: Value = serde_json::from_str(pods.ok()).expect("pod list json");
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(5));

    let out = s
        .k(&[
            "set",
            "image",
            "deploy/worker",
            "worker=registry.local/shop/worker:1.0.1-bad",
            "-n",
            "shop-blue",
        ])
        .await;
    out.ok();
    let out = s
        .k(&[
            "rollout",
            "status",
            "deploy/worker",
            "-n",
            "shop-blue",
            "--timeout=80s",
        ])
        .await;
    assert!(!out.success(), "{out:?}");
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{out:?}"
    );
    let d = s.deploy("shop-blue", "worker");
    assert_eq!(d["status"]["availableReplicas"], 2, "old pods keep serving");
    let pods = s
        .k(&[
            "get",
            "pods",
            "-n",
            "shop-blue",
            "-l",
            "app=worker",
            "-o",
            "json",
        ])
        .await;
    let pods: Value = serde_json::from_str(pods.ok()).expect("pod list json");
    let crashing = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .is_some_and(|i| i.ends_with("-bad"))
        })
        .expect("a crash-looping pod");
    let cs = &crashing["status"]["containerStatuses"][0];
    assert!(cs["restartCount"].as_i64().unwrap_or(0) >= 1, "{cs}");
    assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
    s.demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_get_show_what_a_cluster_shows() {
    let s = Sim::start(20.0).await;
    let out = s.k(&["describe", "deploy/web", "-n", "shop-blue"]).await;
    let text = out.ok();
    for want in [
        "Conditions:",
        "Available",
        "MinimumReplicasAvailable",
        "NewReplicaSetAvailable",
        "NewReplicaSet:",
        "Events:",
        "ScalingReplicaSet",
        "registry.local/shop/web:1.4.1",
    ] {
        assert!(text.contains(want), "describe lacks {want:?}:\n{text}");
    }
    let out = s.k(&["get", "deploy", "-n", "shop-blue"]).await;
    let text = out.ok();
    assert!(
        text.contains("READY") && text.contains("UP-TO-DATE"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("web ") && l.contains("3/3")),
        "{text}"
    );
    let out = s
        .k(&["get", "deploy,rs,pods", "-n", "shop-blue", "-o", "json"])
        .await;
    let list: Value = serde_json::from_str(out.ok()).expect("json");
    let items = list["items"].as_array().expect("items");
    let count = |k: &str| items.iter().filter(|i| i["kind"] == k).count();
    assert_eq!(count("Deployment"), 3);
    assert_eq!(count("Pod"), 7);
    assert!(count("ReplicaSet") >= 9, "history ReplicaSets kept");
    s.demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_the_rollout_and_server_dry_run_changes_nothing() {
    let s = Sim::start(10.0).await;
    let ns = "shop-develop";
    let rs_before = s.demo.store().list(Kind::ReplicaSet, Some(ns)).0.len();
    let out = s
        .k(&[
            "set",
            "image",
            "deploy/web",
            "web=registry.local/shop/web:9.9.9",
            "-n",
            ns,
            "--dry-run=server",
        ])
        .await;
    assert!(out.ok().contains("server dry run"), "{}", out.stdout);
    assert_eq!(s.image(ns, "web"), "registry.local/shop/web:1.5.1");
    let out = s
        .k(&[
            "rollout",
            "undo",
            "deploy/web",
            "-n",
            ns,
            "--dry-run=server",
        ])
        .await;
    out.ok();
    assert_eq!(s.image(ns, "web"), "registry.local/shop/web:1.5.1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.demo.store().list(Kind::ReplicaSet, Some(ns)).0.len(),
        rs_before
    );

    let mut watch = kubectl::spawn(
        &s.kubeconfig,
        &s.dir.path().join("cache"),
        &[
            "get",
            "pods",
            "-n",
            ns,
            "-l",
            "app=web",
            "--watch",
            "--output-watch-events",
        ],
    );
    crate::support::eventually(Duration::from_secs(30), "watch listing", || {
        watch.stdout().contains("web-").then_some(())
    })
    .await;
    s.demo
        .world()
        .set_image(ns, "web", "web", "registry.local/shop/web:1.6.0")
        .expect("set image");
    let new_rs = crate::support::eventually(Duration::from_secs(30), "the new ReplicaSet", || {
        s.demo
            .store()
            .list(Kind::ReplicaSet, Some(ns))
            .0
            .into_iter()
            .find(|r| {
                r["spec"]["template"]["spec"]["containers"][0]["image"]
                    == "registry.local/shop/web:1.6.0"
            })
            .and_then(|r| r["metadata"]["name"].as_str().map(str::to_string))
    })
    .await;
    let seen = crate::support::eventually(Duration::from_secs(30), "new pods in the watch", || {
        let out = watch.stdout();
        (out.contains("ADDED") && out.contains(&format!("{new_rs}-")) && out.contains("DELETED"))
            .then_some(out)
    })
    .await;
    assert!(seen.contains("Running"), "{seen}");
    watch.kill().await;
    s.demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_describes_and_logs_like_one() {
    let s = Sim::start(20.0).await;
    let ns = "shop-green";
    s.k(&[
        "set",
        "image",
        "deploy/web",
        "web=registry.local/shop/web:1.5.0-bad",
        "-n",
        ns,
    ])
    .await
    .ok();
    let pod = crate::support::eventually(Duration::from_secs(30), "a restarted bad pod", || {
        s.demo
            .store()
            .list(Kind::Pod, Some(ns))
            .0
            .into_iter()
            .find_map(|p| {
                let cs = &p["status"]["containerStatuses"][0];
                (cs["image"].as_str()?.ends_with("-bad") && cs["restartCount"].as_i64()? >= 2)
                    .then(|| p["metadata"]["name"].as_str().map(str::to_string))
                    .flatten()
            })
    })
    .await;
    let out = s.k(&["describe", "pod", &pod, "-n", ns]).await;
    let text = out.ok();
    for want in [
        "Restart Count:",
        "Last State:",
        "Terminated",
        "Exit Code:    1",
        "BackOff",
        "Back-off restarting failed container web",
    ] {
        assert!(text.contains(want), "describe pod lacks {want:?}:\n{text}");
    }
    let out = s.k(&["logs", &pod, "-n", ns]).await;
    assert!(out.ok().contains("panic:"), "{}", out.stdout);
    let out = s.k(&["get", "pods", &pod, "-n", ns, "--no-headers"]).await;
    let cols: Vec<&str> = out.ok().split_whitespace().collect();
    assert_eq!(cols[1], "0/1", "{cols:?}");
    assert!(cols[3].parse::<i64>().unwrap_or(0) >= 2, "{cols:?}");
    s.demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_starts_a_bare_pod() {
    let s = Sim::start(20.0).await;
    let out = s
        .k(&[
            "run",
            "probe",
            "--image=registry.local/shop/probe:1",
            "-n",
            "shop-develop",
        ])
        .await;
    assert!(out.ok().contains("created"), "{}", out.stdout);
    let out = s
        .k(&[
            "wait",
            "--for=condition=Ready",
            "pod/probe",
            "-n",
            "shop-develop",
            "--timeout=60s",
        ])
        .await;
    assert!(out.ok().contains("condition met"), "{}", out.stdout);
    s.demo.shutdown().await;
}
