//! The seeded estate: namespaces, Deployments with a history of revisions, Services and Ingresses.
//!
//! Default: apps `web` (3 replicas), `api` (2), `worker` (2) in `shop-develop`, `shop-green` and
//! `shop-blue`, develop ahead of staging ahead of production, and `shop-green/api` rolling out to a
//! new build when the world starts. `scale: Some(N)`: apps `app-0001`…`app-N` with
//! R pods each (`scale_replicas`, default `SCALE_REPLICAS` = 3) in the same three namespaces and one
//! revision each: 3N Deployments, 3N ReplicaSets, 3N × R pods, 3N Services and N Ingresses
//! (production only). `--scale 3000`: 9,000 Deployments and 27,000 pods.
//!
//! History is built by running the real controller in "instant" mode while the paused clock is
//! stepped through the past, so ReplicaSets, revisions, pods and events look like a cluster's.
use super::controller::Controller;
use crate::demo::store::Kind;
use serde_json::{Value, json};

pub const DEVELOP_NS: &str = "shop-develop";
pub const STAGING_NS: &str = "shop-green";
pub const PRODUCTION_NS: &str = "shop-blue";
pub const NAMESPACES: [&str; 3] = [DEVELOP_NS, STAGING_NS, PRODUCTION_NS];
/// The default apps and their replicas.
pub const APPS: [(&str, i32); 3] = [("web", 3), ("api", 2), ("worker", 2)];
pub const REGISTRY: &str = "registry.local/shop";
/// Pods per app in `--scale` estates unless set otherwise.
pub const SCALE_REPLICAS: i32 = 3;
/// `progressDeadlineSeconds` of the seeded Deployments (sim seconds; shows within a minute at speed 1).
pub const PROGRESS_DEADLINE_S: i64 = 60;
/// How far back the seeded history starts (the clock must start at least this far before now).
pub const HISTORY_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(15 * 24);

/// What `seed` leaves for after the controller starts.
#[derive(Debug, Default)]
pub struct Seeded {
    /// (namespace, app, image, change-cause) to roll out right away.
    pub rollout_at_start: Option<(String, String, String, String)>,
}

pub fn image(app: &str, tag: &str) -> String {
    format!("{REGISTRY}/{app}:{tag}")
}

const H: i64 = 3600;
const D: i64 = 24 * H;

/// (age in seconds, tag) of each revision, oldest first.
fn history(ns: &str, app: &str) -> Vec<(i64, &'static str)> {
    match (app, ns) {
        ("web", PRODUCTION_NS) => vec![
            (12 * D, "1.3.0"),
            (8 * D, "1.3.1"),
            (5 * D, "1.4.0"),
            (2 * D, "1.4.1"),
        ],
        ("web", STAGING_NS) => vec![(6 * D, "1.4.0"), (3 * D, "1.4.1"), (D, "1.4.2")],
        ("web", _) => vec![(3 * D, "1.4.2"), (D + 2 * H, "1.5.0"), (5 * H, "1.5.1")],
        ("api", PRODUCTION_NS) => vec![(11 * D, "2.0.3"), (4 * D, "2.1.0")],
        ("api", STAGING_NS) => vec![(5 * D, "2.1.0"), (2 * D, "2.1.1")],
        ("api", _) => vec![(2 * D + H, "2.2.0"), (7 * H, "2.3.0")],
        (_, PRODUCTION_NS) => vec![(10 * D, "0.9.1"), (6 * D, "0.9.2"), (3 * D, "1.0.0")],
        (_, STAGING_NS) => vec![(4 * D, "1.0.0"), (D + 3 * H, "1.0.1")],
        _ => vec![(2 * D + 5 * H, "1.0.1"), (3 * H, "1.1.0")],
    }
}

/// Every tag the seeded estate uses for `app`, in version order (for a registry simulation to serve);
/// apps of a `--scale` estate use `SCALE_TAGS`.
pub fn tags(app: &str) -> Vec<String> {
    if !APPS.iter().any(|(a, _)| *a == app) {
        return SCALE_TAGS.iter().map(|t| t.to_string()).collect();
    }
    let mut out: Vec<String> = NAMESPACES
        .iter()
        .flat_map(|ns| history(ns, app))
        .map(|(_, t)| t.to_string())
        .collect();
    let version =
        |t: &String| -> Vec<u64> { t.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    out.sort_by_key(version);
    out.dedup();
    if app == "api" && !out.iter().any(|t| t == "2.2.0") {
        out.push("2.2.0".into());
        out.sort_by_key(version);
    }
    out
}

/// Tags of the `--scale` apps: production, staging, develop.
pub const SCALE_TAGS: [&str; 3] = ["1.0.0", "1.0.1", "1.1.0"];

fn cause(ns: &str, tag: &str) -> String {
    match ns {
        PRODUCTION_NS => format!("promote {tag} from staging"),
        STAGING_NS => format!("promote {tag} from develop"),
        _ => format!("deploy {tag} from CI"),
    }
}

pub fn deployment_json(ns: &str, app: &str, replicas: i32, image: &str, cause: &str) -> Value {
    let mut container = json!({"name": app, "image": image, "imagePullPolicy": "IfNotPresent"});
    if app != "worker" {
        container["ports"] = json!([{"containerPort": 8080, "name": "http", "protocol": "TCP"}]);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": ns, "labels": {"app": app},
            "annotations": {"kubernetes.io/change-cause": cause}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_S,
            "minReadySeconds": 0,
            "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [container], "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}},
        },
    })
}

fn service_json(ns: &str, app: &str, n: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
        "spec": {"type": "ClusterIP", "selector": {"app": app},
            "clusterIP": format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    })
}

fn ingress_json(ns: &str, app: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": format!("{app}.shop.example.com"),
            "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": app, "port": {"number": 80}}}}]}}]},
    })
}

fn step_clock_to(c: &Controller, at_ms: i64) {
    let now = c.now_ms();
    if at_ms > now {
        c.clock
            .advance(jiff::SignedDuration::from_millis(at_ms - now));
    }
}

/// Creates the Deployment or applies a new revision to it, and lets the controller roll it out.
fn apply_revision(
    c: &mut Controller,
    ns: &str,
    app: &str,
    replicas: i32,
    image: &str,
    cause: &str,
) {
    let existing = c.deploys.contains_key(&super::model::key(ns, app));
    let written = if existing {
        c.store.modify(Kind::Deployment, ns, app, |v| {
            v["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
            v["metadata"]["annotations"]["kubernetes.io/change-cause"] = json!(cause);
        })
    } else {
        c.store.create(
            Kind::Deployment,
            deployment_json(ns, app, replicas, image, cause),
        )
    };
    if let Ok(v) = written {
        c.on_deploy_json(&v);
        c.flush();
    }
}

/// Seeds the estate. The clock must be paused at (now − HISTORY_SPAN) or earlier; it ends near now.
pub(super) fn seed(
    c: &mut Controller,
    scale: Option<usize>,
    scale_replicas: i32,
    pins: &[(String, String, String)],
) -> Seeded {
    c.instant = true;
    let start = c.now_ms();
    let now = jiff::Timestamp::now().as_millisecond();
    for ns in NAMESPACES {
        let _ = c.store.create(
            Kind::Namespace,
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        );
    }
    match scale {
        Some(n) => {
            c.rec.enabled = false;
            step_clock_to(c, now - 3_600_000);
            let tags = [
                (DEVELOP_NS, "1.1.0"),
                (STAGING_NS, "1.0.1"),
                (PRODUCTION_NS, "1.0.0"),
            ];
            for i in 1..=n {
                let app = format!("app-{i:04}");
                for (ns, tag) in tags {
                    let _ = c.store.create(Kind::Service, service_json(ns, &app, i));
                    if ns == PRODUCTION_NS {
                        let _ = c.store.create(Kind::Ingress, ingress_json(ns, &app));
                    }
                    let img = image(&app, tag);
                    apply_revision(c, ns, &app, scale_replicas, &img, &cause(ns, tag));
                }
            }
            Seeded::default()
        }
        None => {
            let mut n = 0;
            for ns in NAMESPACES {
                for (app, _) in APPS {
                    n += 1;
                    let _ = c.store.create(Kind::Service, service_json(ns, app, n));
                    if ns == PRODUCTION_NS {
                        let _ = c.store.create(Kind::Ingress, ingress_json(ns, app));
                    }
                }
            }
            let mut steps: Vec<(i64, &str, &str, i32, &str)> = Vec::new();
            for ns in NAMESPACES {
                for (app, replicas) in APPS {
                    for (age, tag) in history(ns, app) {
                        steps.push(((now - age * 1000).max(start), ns, app, replicas, tag));
                    }
                }
            }
            steps.sort_by_key(|s| s.0);
            for (at, ns, app, replicas, tag) in steps {
                step_clock_to(c, at);
                let newest = history(ns, app).last().is_some_and(|(_, t)| *t == tag);
                let img = pins
                    .iter()
                    .find(|(pns, papp, _)| newest && pns == ns && papp == app)
                    .map_or_else(|| image(app, tag), |(_, _, pinned)| pinned.clone());
                apply_revision(c, ns, app, replicas, &img, &cause(ns, tag));
            }
            Seeded {
                rollout_at_start: Some((
                    STAGING_NS.into(),
                    "api".into(),
                    image("api", "2.2.0"),
                    cause(STAGING_NS, "2.2.0"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_ordered_and_cover_every_environment() {
        assert_eq!(
            tags("web"),
            vec![
                "1.3.0", "1.3.1", "1.4.0", "1.4.1", "1.4.2", "1.5.0", "1.5.1"
            ]
        );
        assert!(tags("api").contains(&"2.2.0".to_string()));
        assert_eq!(tags("app-0007"), vec!["1.0.0", "1.0.1", "1.1.0"]);
    }
}
