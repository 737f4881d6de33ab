//! `demo --gitops`: starts the simulated GitHub, seeds `shop/manifests` with one Deployment
//! manifest per app of production (what the world runs), and starts the CD controller on it.
use super::githost::{GitHost, cd::CdTarget};
use super::store::Kind;
use super::world::{World, estate};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const REPO: &str = "shop/manifests";
pub const BRANCH: &str = "main";
/// The environment name in the manifest paths (`{env}` of the default `path`).
pub const ENV: &str = "production";

pub async fn start(world: &World, speed: f64) -> std::io::Result<GitHost> {
    let clock = world.clock().clone();
    let mut host = GitHost::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Arc::new(move || clock.now()),
    )
    .await?;
    host.create_repo(REPO, BRANCH);
    let (deployments, _) = world
        .store()
        .list(Kind::Deployment, Some(estate::PRODUCTION_NS));
    let mut targets = vec![];
    for d in &deployments {
        let Some(name) = d.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let path = format!("{ENV}/{name}/deployment.yaml");
        let _ = host.commit_file(
            REPO,
            BRANCH,
            &path,
            &manifest(d),
            &format!("add {name}"),
            "shipdeck-demo",
        );
        targets.push(CdTarget {
            repo: REPO.into(),
            path,
            namespace: estate::PRODUCTION_NS.into(),
            deployment: name.into(),
        });
    }
    // Argo CD reacts to a webhook within seconds: about 3 simulated seconds here.
    let delay = Duration::from_secs_f64((3.0 / speed.max(0.01)).clamp(0.2, 5.0));
    host.start_cd(world.clone(), targets, delay);
    Ok(host)
}

/// The Deployment as a person would write it in the manifests repository.
fn manifest(d: &Value) -> String {
    let s = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or("");
    let name = s("/metadata/name");
    let mut out = format!(
        "# {name} in production — applied to {ns} by the CD controller.\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\n",
        ns = estate::PRODUCTION_NS
    );
    let labels = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let label_lines = |indent: &str| {
        labels.iter().fold(String::new(), |mut acc, (k, v)| {
            let _ = writeln!(acc, "{indent}{k}: {}", v.as_str().unwrap_or(""));
            acc
        })
    };
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let _ = write!(
        out,
        "spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n{}  template:\n    metadata:\n      labels:\n{}    spec:\n      containers:\n",
        label_lines("      "),
        label_lines("        ")
    );
    for c in d
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cs = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            out,
            "        - name: {}\n          image: {}  # set by shipdeck promote\n",
            cs("name"),
            cs("image")
        );
    }
    out
}
