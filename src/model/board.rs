//! The estate board: apps × environments, built from the configuration and the Deployment snapshots.
//!
//! `build_board` is pure; the console rebuilds it on every snapshot and `shipdeck status` prints it.
use crate::config::{Config, Environment};
use crate::model::{DeploymentView, Fresh, RolloutState, image_label, split_image};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One environment column of the board.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnvColumn {
    pub name: String,
    /// The namespace, or the pattern with `{app}` as configured.
    pub namespace: String,
    pub color: Option<String>,
    pub protected: bool,
    pub promote_from: Option<String>,
    /// Promotions commit to a manifests repository instead of patching the cluster.
    pub gitops: bool,
    /// Whether a snapshot of this environment has arrived (cells are unknown until then).
    pub loaded: bool,
    /// The last error of the environment's source, if its data is stale or missing.
    pub error: Option<String>,
    pub fetched_at: Option<Timestamp>,
}

/// What one app runs in one environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoardCell {
    pub deployment: Arc<DeploymentView>,
    /// The tag (or short digest) of the primary container's image.
    pub tag_label: String,
    pub state: RolloutState,
    pub ready: i32,
    pub desired: i32,
    pub changed_at: Option<Timestamp>,
    /// The environment runs something its `promote_from` environment does not.
    pub drift: bool,
}

impl BoardCell {
    /// The primary container's full image reference ("" when the template has no containers).
    pub fn image(&self) -> &str {
        self.deployment.primary_image().unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoardRow {
    pub app: String,
    /// Deployment name of the app (the same in every environment).
    pub deployment: String,
    /// One per environment column; `None` when the app is not deployed there (or not loaded yet).
    pub cells: Vec<Option<BoardCell>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Board {
    pub envs: Vec<EnvColumn>,
    pub rows: Vec<BoardRow>,
}

impl Board {
    pub fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| e.name == name)
    }

    pub fn row(&self, app: &str) -> Option<&BoardRow> {
        self.rows.iter().find(|r| r.app == app)
    }

    pub fn cell(&self, app: &str, env: &str) -> Option<&BoardCell> {
        let i = self.env_index(env)?;
        self.row(app)?.cells.get(i)?.as_ref()
    }
}

/// Builds the board. Apps come from `config.apps`, or when that is empty they are discovered: the
/// sorted union of Deployment names (in the namespace the environment gives that name) across
/// environments.
pub fn build_board(
    config: &Config,
    deployments: &BTreeMap<String, Fresh<crate::model::Deployments>>,
) -> Board {
    let envs: Vec<EnvColumn> = config
        .environments
        .iter()
        .map(|e| {
            let fresh = deployments.get(&e.name);
            EnvColumn {
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                color: e.color.clone(),
                protected: e.protected,
                promote_from: e.promote_from.clone(),
                gitops: e.gitops.is_some(),
                loaded: fresh.is_some_and(|f| f.value.is_some()),
                error: fresh.and_then(|f| f.error.clone()),
                fetched_at: fresh.and_then(|f| f.fetched_at),
            }
        })
        .collect();
    let items = |env: &Environment| -> &[Arc<DeploymentView>] {
        deployments
            .get(&env.name)
            .and_then(|f| f.value.as_deref())
            .unwrap_or(&[])
    };

    // (app name, deployment name)
    let apps: Vec<(String, String)> = if config.apps.is_empty() {
        let mut names = BTreeSet::new();
        for env in &config.environments {
            for d in items(env) {
                if d.namespace == env.namespace_for(&d.name) {
                    names.insert(d.name.clone());
                }
            }
        }
        names.into_iter().map(|n| (n.clone(), n)).collect()
    } else {
        config
            .apps
            .iter()
            .map(|a| (a.name.clone(), a.deployment_name().to_string()))
            .collect()
    };

    // Per environment: (namespace, name) → Deployment, so a board of 10,000 apps stays linear.
    let index: Vec<HashMap<(&str, &str), &Arc<DeploymentView>>> = config
        .environments
        .iter()
        .map(|env| {
            items(env)
                .iter()
                .map(|d| ((d.namespace.as_str(), d.name.as_str()), d))
                .collect()
        })
        .collect();
    let rows = apps
        .into_iter()
        .map(|(app, deployment)| {
            let mut cells: Vec<Option<BoardCell>> = config
                .environments
                .iter()
                .zip(&index)
                .map(|(env, found)| {
                    let ns = env.namespace_for(&app);
                    found
                        .get(&(ns.as_str(), deployment.as_str()))
                        .map(|d| cell(d))
                })
                .collect();
            mark_drift(config, &mut cells);
            BoardRow {
                app,
                deployment,
                cells,
            }
        })
        .collect();
    Board { envs, rows }
}

fn cell(d: &Arc<DeploymentView>) -> BoardCell {
    BoardCell {
        tag_label: d.primary_image().map(image_label).unwrap_or_default(),
        state: d.rollout_state(),
        ready: d.ready,
        desired: d.desired,
        changed_at: d.last_change(),
        drift: false,
        deployment: Arc::clone(d),
    }
}

fn mark_drift(config: &Config, cells: &mut [Option<BoardCell>]) {
    for (i, env) in config.environments.iter().enumerate() {
        let Some(src) = env.promote_from.as_deref() else {
            continue;
        };
        let Some(j) = config.environments.iter().position(|e| e.name == src) else {
            continue;
        };
        let source = cells.get(j).and_then(|c| c.as_ref()).map(BoardCell::image);
        let target = cells.get(i).and_then(|c| c.as_ref()).map(BoardCell::image);
        // Only a comparison of two running images is drift; a missing source is shown as missing.
        let drift = matches!((source, target), (Some(s), Some(t)) if !same_image(s, t));
        if let Some(Some(c)) = cells.get_mut(i) {
            c.drift = drift;
        }
    }
}

/// What the board marks on a cell besides its rollout: a firing critical alert, a failed latest CI
/// run of the branch that feeds the environment, a tag that moved in the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellMarks {
    pub critical_alert: bool,
    pub ci_failed: bool,
    pub tag_moved: bool,
}

impl CellMarks {
    pub fn any(&self) -> bool {
        self.critical_alert || self.ci_failed || self.tag_moved
    }
}

/// Marker data as indexed maps, kept apart from the board: the board is rebuilt per Kubernetes
/// snapshot and 10,000 apps must stay cheap, so marks are looked up only for the cells in view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// app → namespaces where a critical alert fires (not silenced or inhibited).
    pub critical: HashMap<String, BTreeSet<String>>,
    /// app → branches whose latest CI run failed.
    pub ci_failed: HashMap<String, BTreeSet<String>>,
    /// repository → tag → the digest the registry has for it now.
    pub tag_digests: HashMap<String, HashMap<String, String>>,
}

impl Markers {
    /// The marks of one cell: `app` in `namespace`, fed by `branch`, running `image` parsed into
    /// (repository, tag, digest) (a moved tag is only known when the running digest is).
    pub fn cell(
        &self,
        app: &str,
        namespace: &str,
        branch: Option<&str>,
        image: Option<(&str, &str, &str)>,
    ) -> CellMarks {
        CellMarks {
            critical_alert: self
                .critical
                .get(app)
                .is_some_and(|s| s.contains(namespace)),
            ci_failed: branch
                .is_some_and(|b| self.ci_failed.get(app).is_some_and(|s| s.contains(b))),
            tag_moved: image.is_some_and(|(repo, tag, digest)| {
                self.tag_digests
                    .get(repo)
                    .and_then(|t| t.get(tag))
                    .is_some_and(|d| d != digest)
            }),
        }
    }
}

/// Two references name the same image: equal digests when both have one, else equal references
/// without their digests.
pub fn same_image(a: &str, b: &str) -> bool {
    let (ra, ta, da) = split_image(a);
    let (rb, tb, db) = split_image(b);
    match (da, db) {
        (Some(x), Some(y)) => x == y,
        _ => ra == rb && ta == tb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::App;
    use std::path::Path;

    fn config(apps: &[&str]) -> Config {
        let mut c = Config::parse(
            r#"
            [[environments]]
            name = "develop"
            namespace = "shop-develop"
            [[environments]]
            name = "staging"
            namespace = "shop-green"
            color = "green"
            [[environments]]
            name = "production"
            namespace = "{app}-blue"
            protected = true
            promote_from = "staging"
            "#,
            Path::new("t.toml"),
        )
        .unwrap();
        c.apps = apps
            .iter()
            .map(|a| App {
                name: a.to_string(),
                deployment: None,
                containers: vec![],
                repository: None,
                pipeline: None,
            })
            .collect();
        c
    }

    fn dep(ns: &str, name: &str, image: &str) -> DeploymentView {
        DeploymentView {
            namespace: ns.into(),
            name: name.into(),
            uid: format!("{ns}/{name}"),
            resource_version: "1".into(),
            generation: 1,
            observed_generation: 1,
            revision: 1,
            change_cause: None,
            desired: 3,
            paused: false,
            progress_deadline_seconds: Some(600),
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 3,
            unavailable: 0,
            conditions: vec![],
            containers: vec![crate::model::ContainerImage {
                name: name.into(),
                image: image.into(),
            }],
            selector: BTreeMap::new(),
            created: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        }
    }

    fn snapshots(
        envs: &[(&str, Vec<DeploymentView>)],
    ) -> BTreeMap<String, Fresh<crate::model::Deployments>> {
        envs.iter()
            .map(|(name, items)| {
                let mut f = Fresh::default();
                f.set(crate::model::shared(items.clone()), Timestamp::UNIX_EPOCH);
                (name.to_string(), f)
            })
            .collect()
    }

    #[test]
    fn discovery_is_sorted_union_and_missing_cells_are_none() {
        let snaps = snapshots(&[
            (
                "develop",
                vec![
                    dep("shop-develop", "worker", "r/worker:1"),
                    dep("shop-develop", "web", "r/web:2"),
                ],
            ),
            ("staging", vec![dep("shop-green", "api", "r/api:1")]),
            // Not loaded: production is missing from the map.
        ]);
        let b = build_board(&config(&[]), &snaps);
        let apps: Vec<_> = b.rows.iter().map(|r| r.app.as_str()).collect();
        assert_eq!(apps, ["api", "web", "worker"]);
        assert_eq!(b.cell("web", "develop").unwrap().tag_label, "2");
        assert!(b.cell("web", "staging").is_none());
        assert!(b.cell("api", "develop").is_none());
        assert!(b.envs[0].loaded && !b.envs[2].loaded);
        assert_eq!(b.rows[0].cells.len(), 3);
    }

    #[test]
    fn app_namespace_pattern_selects_per_app_namespace() {
        let snaps = snapshots(&[(
            "production",
            vec![
                dep("web-blue", "web", "r/web:1"),
                dep("api-blue", "api", "r/api:1"),
                // Wrong namespace for the pattern: not this app's deployment.
                dep("api-blue", "web", "r/web:bogus"),
            ],
        )]);
        let b = build_board(&config(&["web", "api"]), &snaps);
        assert_eq!(b.rows[0].app, "web");
        assert_eq!(b.cell("web", "production").unwrap().tag_label, "1");
        assert_eq!(
            b.cell("api", "production").unwrap().deployment.namespace,
            "api-blue"
        );
        // Discovery applies the same rule.
        let b = build_board(&config(&[]), &snaps);
        assert_eq!(b.rows.len(), 2);
        assert_eq!(b.cell("web", "production").unwrap().tag_label, "1");
    }

    #[test]
    fn drift_against_promote_from() {
        let snaps = snapshots(&[
            (
                "staging",
                vec![
                    dep("shop-green", "web", "r/web:2"),
                    dep("shop-green", "api", "r/api@sha256:aaa"),
                    dep("shop-green", "worker", "r/worker:1"),
                ],
            ),
            (
                "production",
                vec![
                    dep("web-blue", "web", "r/web:1"),
                    dep("api-blue", "api", "r/api:7@sha256:aaa"),
                    dep("worker-blue", "worker", "r/worker:1"),
                    dep("cron-blue", "cron", "r/cron:1"),
                ],
            ),
        ]);
        let b = build_board(&config(&["web", "api", "worker", "cron"]), &snaps);
        assert!(b.cell("web", "production").unwrap().drift);
        // Same digest, different tag: the same image.
        assert!(!b.cell("api", "production").unwrap().drift);
        assert!(!b.cell("worker", "production").unwrap().drift);
        // Source does not run the app: nothing to compare.
        assert!(!b.cell("cron", "production").unwrap().drift);
        // Staging has no promote_from.
        assert!(!b.cell("web", "staging").unwrap().drift);
    }

    #[test]
    fn cell_fields_and_errors() {
        let mut d = dep("shop-develop", "web", "r/web@sha256:0123456789abcdef");
        d.updated = 1;
        d.ready = 2;
        let mut snaps = snapshots(&[("develop", vec![d])]);
        snaps.get_mut("develop").unwrap().fail("connection refused");
        let b = build_board(&config(&[]), &snaps);
        let c = b.cell("web", "develop").unwrap();
        assert_eq!(c.tag_label, "0123456789ab");
        assert_eq!((c.ready, c.desired), (2, 3));
        assert!(matches!(
            c.state,
            RolloutState::Progressing { updated: 1, .. }
        ));
        assert_eq!(c.changed_at, Some("2026-01-01T00:00:00Z".parse().unwrap()));
        assert_eq!(b.envs[0].error.as_deref(), Some("connection refused"));
        assert!(b.envs[0].loaded);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["rows"][0]["cells"][0]["state"]["state"], "progressing");
    }

    #[test]
    fn large_boards_build_quickly() {
        let items: Vec<_> = (0..10_000)
            .map(|i| dep("shop-develop", &format!("app-{i:05}"), "r/a:1"))
            .collect();
        let snaps = snapshots(&[("develop", items.clone()), ("staging", vec![])]);
        let t = std::time::Instant::now();
        let b = build_board(&config(&[]), &snaps);
        assert_eq!(b.rows.len(), 10_000);
        assert!(b.rows.iter().all(|r| r.cells[0].is_some()));
        // 10,000 apps: a linear build is far below this even in a debug build.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn markers_by_app_namespace_branch_and_digest() {
        let mut m = Markers::default();
        m.critical
            .entry("web".into())
            .or_default()
            .insert("shop-blue".into());
        m.ci_failed
            .entry("api".into())
            .or_default()
            .insert("develop".into());
        m.tag_digests
            .entry("shop/web".into())
            .or_default()
            .insert("1.4".into(), "sha256:new".into());
        let web = m.cell(
            "web",
            "shop-blue",
            Some("master"),
            Some(("shop/web", "1.4", "sha256:old")),
        );
        assert!(web.critical_alert && web.tag_moved && !web.ci_failed && web.any());
        // Same digest: not moved; other namespace: no alert.
        let same = m.cell(
            "web",
            "shop-green",
            Some("staging"),
            Some(("shop/web", "1.4", "sha256:new")),
        );
        assert!(!same.any());
        assert!(
            m.cell("api", "shop-develop", Some("develop"), None)
                .ci_failed
        );
        assert!(!m.cell("api", "shop-develop", None, None).ci_failed);
    }

    #[test]
    fn same_image_rules() {
        assert!(same_image("r/a:1", "r/a:1"));
        assert!(!same_image("r/a:1", "r/a:2"));
        assert!(same_image("r/a:1@sha256:x", "r/b@sha256:x"));
        assert!(same_image("r/a:1@sha256:x", "r/a:1"));
        assert!(!same_image("r/a:1@sha256:x", "r/a:1@sha256:y"));
    }
}
