//! The simulated estate (`shipdeck demo`): in-process servers on 127.0.0.1 speaking the real protocols.
//!
//! Depends on nothing in `ui/` or `app/`; the console does not know it talks to the demo.
//! `Demo::start` builds the world (clock, controller, seeded estate) and serves it through the
//! simulated Kubernetes API and, unless `DemoOptions::extras` is off, Prometheus, Alertmanager,
//! the CI servers and the OCI registry (`estate_servers`), all on the world's clock; `serve` is
//! `shipdeck demo --serve`.

pub mod alertmanager;
pub mod ci;
pub mod cloudflare;
pub mod estate_servers;
pub mod githost;
mod gitops_seed;
pub mod kube_api;
pub mod prometheus;
pub mod registry;
pub mod store;
pub mod traffic;
pub mod world;

use crate::config::{App, Config, Environment};
use color_eyre::eyre::WrapErr;
use estate_servers::{Extras, ExtrasOptions};
use kube_api::{KubeApiOptions, KubeApiServer, LogBook};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::Store;
use world::{SimClock, World, WorldOptions, estate};

/// The kubeconfig context (and cluster, and user) name of the demo.
pub const CONTEXT: &str = "shipdeck-demo";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// None = the default estate; Some(N) = N apps × 3 namespaces (see `world::estate`).
    pub scale: Option<usize>,
    /// Pods per app of a `scale` estate (default 3: `--scale 3000` = 27,000 pods).
    pub scale_replicas: i32,
    pub seed: u64,
    /// Sim seconds per wall second (1.0: a rollout of `web` takes about 12 s).
    pub speed: f64,
    /// Start with the clock stopped (nothing progresses until `world().resume()`).
    pub paused: bool,
    /// Image tags containing this crash-loop.
    pub bad_marker: String,
    /// Port 0 / None = ephemeral on 127.0.0.1.
    pub kube_addr: Option<SocketAddr>,
    /// Develop gets a new build every this many sim seconds (0 = no new builds reach any
    /// environment by themselves). With `extras`, CI makes the builds (develop commits this
    /// often and CI deploys them); without, the world's own life loop does.
    pub life_every_s: u64,
    /// Start Prometheus, Alertmanager, the CI servers and the registry besides the Kubernetes
    /// API (default on; tests that need only Kubernetes turn it off).
    pub extras: bool,
    /// Production is a GitOps environment: a simulated GitHub (`githost`) holds one manifest per
    /// app (`shop/manifests`, `production/{app}/deployment.yaml` on `main`) and a CD controller
    /// applies `main` to `shop-blue`. Default estate only (ignored with `scale`).
    pub gitops: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            scale: None,
            scale_replicas: estate::SCALE_REPLICAS,
            seed: 1,
            speed: 1.0,
            paused: false,
            bad_marker: "-bad".into(),
            kube_addr: None,
            life_every_s: 90,
            extras: true,
            gitops: false,
        }
    }
}

/// The running simulated estate.
pub struct Demo {
    store: Store,
    world: World,
    kube: KubeApiServer,
    extras: Option<Extras>,
    githost: Option<githost::GitHost>,
    opts: DemoOptions,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("kube", &self.kube_url())
            .field("prometheus", &self.prometheus_url())
            .field("github", &self.github_url())
            .finish()
    }
}

impl Demo {
    pub async fn start(opts: DemoOptions) -> color_eyre::Result<Demo> {
        let begin = jiff::Timestamp::now()
            .checked_sub(estate::HISTORY_SPAN)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let clock = Arc::new(SimClock::new(begin, opts.speed, true));
        let c2 = clock.clone();
        let store = Store::new(Arc::new(move || c2.now()));
        let logs = LogBook::default();
        // The registry exists before the world so that seeded pods already report its digests.
        // (9,000 images at `--scale 3000`: off the async workers.)
        let registry = if opts.extras {
            let scale = opts.scale;
            let seeded =
                tokio::task::spawn_blocking(move || estate_servers::seeded_registry(scale))
                    .await
                    .wrap_err("seeding the simulated registry")?;
            Some(seeded)
        } else {
            None
        };
        let wopts = WorldOptions {
            scale: opts.scale,
            scale_replicas: opts.scale_replicas,
            seed: opts.seed,
            speed: opts.speed,
            paused: opts.paused,
            bad_marker: opts.bad_marker.clone(),
            // With CI running, CI makes develop's new builds.
            life_every_s: if opts.extras { 0 } else { opts.life_every_s },
            digest_of: registry.as_ref().map(estate_servers::digest_resolver),
            pins: if registry.is_some() {
                estate_servers::seeded_pins(opts.scale)
            } else {
                Vec::new()
            },
        };
        let world = World::start(store.clone(), clock, logs.clone(), &wopts).await;
        let extras =
            match registry {
                Some(registry) => {
                    let pods = match opts.scale {
                        None => 0,
                        Some(n) => n * 3 * opts.scale_replicas.max(0) as usize,
                    };
                    let eopts = ExtrasOptions {
                        scale: opts.scale,
                        seed: opts.seed,
                        develop_every_s: opts.life_every_s,
                        monitoring: pods <= estate_servers::MONITOR_MAX_PODS,
                    };
                    Some(Extras::start(&world, registry, &eopts).await.wrap_err(
                        "starting the simulated Prometheus, Alertmanager, CI and registry",
                    )?)
                }
                None => None,
            };
        let kopts = KubeApiOptions {
            addr: opts
                .kube_addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            logs,
            traffic: Some(Arc::new(world.clone())),
            ..KubeApiOptions::default()
        };
        let kube = KubeApiServer::start(store.clone(), kopts)
            .await
            .wrap_err("starting the simulated Kubernetes API server")?;
        let githost = if opts.gitops && opts.scale.is_none() {
            Some(
                gitops_seed::start(&world, opts.speed)
                    .await
                    .wrap_err("starting the simulated GitHub (manifests)")?,
            )
        } else {
            None
        };
        Ok(Demo {
            store,
            world,
            kube,
            extras,
            githost,
            opts,
        })
    }

    pub fn kube_url(&self) -> String {
        self.kube.url()
    }

    /// `http://127.0.0.1:PORT` of the simulated Prometheus (None: extras off, or a large `--scale`).
    pub fn prometheus_url(&self) -> Option<String> {
        self.extras
            .as_ref()
            .and_then(|e| e.prometheus.as_ref())
            .map(|p| p.url())
    }

    /// The simulated Alertmanager (None as for `prometheus_url`).
    pub fn alertmanager_url(&self) -> Option<String> {
        self.extras
            .as_ref()
            .and_then(|e| e.alertmanager.as_ref())
            .map(|a| a.url())
    }

    /// The simulated GitHub Actions REST API (repos `shop/<app>`).
    pub fn github_url(&self) -> Option<String> {
        self.extras.as_ref().map(|e| e.ci.github_url().to_string())
    }

    /// The simulated GitHub holding the manifests (`DemoOptions::gitops`).
    pub fn gitops_url(&self) -> Option<String> {
        self.githost.as_ref().map(|g| g.url())
    }

    /// The manifests repository, its pull requests and the CD controller, in-process.
    pub fn githost(&self) -> Option<&githost::GitHost> {
        self.githost.as_ref()
    }

    /// The simulated Jenkins (`wfapi`, multibranch job `<app>`).
    pub fn jenkins_url(&self) -> Option<String> {
        self.extras.as_ref().map(|e| e.ci.jenkins_url().to_string())
    }

    /// The simulated GitLab CI REST v4 (projects `shop/<app>`).
    pub fn gitlab_url(&self) -> Option<String> {
        self.extras.as_ref().map(|e| e.ci.gitlab_url().to_string())
    }

    /// The simulated OCI registry (repositories `shop/<app>`).
    pub fn registry_url(&self) -> Option<String> {
        self.extras.as_ref().map(|e| e.registry.url().to_string())
    }

    /// `[ci]` for one of the simulated CI servers (`config` uses GitHub Actions).
    pub fn ci_config(
        &self,
        kind: crate::backend::ci::ProviderKind,
    ) -> Option<crate::backend::ci::CiConfig> {
        use crate::backend::ci::ProviderKind;
        let ci = &self.extras.as_ref()?.ci;
        Some(match kind {
            ProviderKind::Github => ci.github_config(),
            ProviderKind::Jenkins => ci.jenkins_config(),
            ProviderKind::Gitlab => ci.gitlab_config(),
        })
    }

    /// The pipeline engine behind the CI servers (approve, trigger, runs).
    pub fn ci_engine(&self) -> Option<&Arc<ci::CiEngine>> {
        self.extras.as_ref().map(|e| e.ci.engine())
    }

    /// The registry's data (push, tags, digests) in-process.
    pub fn registry(&self) -> Option<&registry::SimRegistry> {
        self.extras.as_ref().map(|e| e.registry.registry())
    }

    /// Make Prometheus scrape and Alertmanager evaluate now (tests that moved the clock).
    pub fn sync_monitoring(&self) {
        if let Some(e) = &self.extras {
            for h in [&e.prometheus, &e.alertmanager].into_iter().flatten() {
                h.sync();
            }
        }
    }

    /// Pause/resume, speed, `set_image`, traffic (`TrafficSource`).
    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn options(&self) -> &DemoOptions {
        &self.opts
    }

    /// Stop/restart for failure tests.
    pub fn kube_server(&mut self) -> &mut KubeApiServer {
        &mut self.kube
    }

    /// A kubeconfig with one context `shipdeck-demo` pointing at the server.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {url}\n\
             contexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n\
             current-context: {CONTEXT}\nusers:\n- name: {CONTEXT}\n  user: {{}}\npreferences: {{}}\n",
            url = self.kube_url()
        )
    }

    /// The shipdeck config for this estate (kubeconfig at `kubeconfig`).
    pub fn config(&self, kubeconfig: &Path) -> Config {
        let env = |name: &str, ns: &str, branch: &str| Environment {
            name: name.into(),
            namespace: ns.into(),
            context: Some(CONTEXT.into()),
            kubeconfig: None,
            branch: Some(branch.into()),
            color: None,
            protected: false,
            read_only: false,
            promote_from: None,
            gitops: None,
        };
        let develop = env("develop", estate::DEVELOP_NS, "develop");
        let staging = Environment {
            color: Some("green".into()),
            promote_from: Some("develop".into()),
            ..env("staging", estate::STAGING_NS, "staging")
        };
        let production = Environment {
            color: Some("blue".into()),
            protected: true,
            promote_from: Some("staging".into()),
            gitops: self
                .githost
                .as_ref()
                .map(|g| crate::ops::gitops::GitOpsConfig::new(&g.url(), gitops_seed::REPO)),
            ..env("production", estate::PRODUCTION_NS, "master")
        };
        let apps = match self.opts.scale {
            Some(_) => Vec::new(),
            None => estate::APPS
                .iter()
                .map(|(name, _)| App {
                    name: (*name).into(),
                    deployment: None,
                    containers: Vec::new(),
                    repository: Some(format!("shop/{name}")),
                    pipeline: None,
                })
                .collect(),
        };
        let extras = self.extras.as_ref();
        let registry = extras.map(|e| {
            let mut r = crate::backend::registry::RegistryConfig::new(e.registry.url());
            r.interval_secs = 10;
            r
        });
        Config {
            estate: "shop".into(),
            kubeconfig: Some(kubeconfig.to_path_buf()),
            environments: vec![develop, staging, production],
            apps,
            prometheus: extras
                .and_then(|e| e.prometheus.as_ref())
                .map(prometheus::demo_config),
            alertmanager: extras
                .and_then(|e| e.alertmanager.as_ref())
                .map(alertmanager::demo_config),
            ci: extras.map(|e| e.ci.github_config()),
            registry,
            cloudflare: extras.map(|e| e.cloudflare.config()),
            // The demo's windows are short so a promote's verification is seen within a minute.
            ops: crate::ops::context::OpsConfig {
                verify_window_secs: 30,
                ..Default::default()
            },
            ..Config::default()
        }
    }

    /// Writes DIR/kubeconfig and DIR/config.toml; returns the config as loaded back.
    pub fn write_config(&self, dir: &Path) -> color_eyre::Result<Config> {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        let kc = dir.join("kubeconfig");
        std::fs::write(&kc, self.kubeconfig_yaml())
            .wrap_err_with(|| format!("writing {}", kc.display()))?;
        let config = self.config(&kc);
        let text = toml::to_string(&config).wrap_err("serialising the demo config")?;
        let file = dir.join("config.toml");
        std::fs::write(&file, text).wrap_err_with(|| format!("writing {}", file.display()))?;
        Ok(Config::load(&file)?)
    }

    /// Stops every server (their ports refuse connections afterwards) and the world.
    pub async fn shutdown(mut self) {
        if let Some(e) = self.extras.take() {
            e.shutdown().await;
        }
        if let Some(g) = self.githost.take() {
            g.shutdown().await;
        }
        self.kube.stop().await;
        self.world.shutdown().await;
    }

    /// `name: url` of every endpoint, as `serve` prints them.
    /// The simulated Cloudflare API base (`…/client/v4`).
    pub fn cloudflare_url(&self) -> Option<String> {
        self.extras.as_ref().map(|e| e.cloudflare.url())
    }

    pub fn endpoints(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![("kubernetes API", self.kube_url())];
        let more = [
            ("prometheus", self.prometheus_url()),
            ("alertmanager", self.alertmanager_url()),
            ("github actions", self.github_url()),
            ("jenkins", self.jenkins_url()),
            ("gitlab", self.gitlab_url()),
            ("registry", self.registry_url()),
            ("cloudflare", self.cloudflare_url()),
            ("gitops github", self.gitops_url()),
        ];
        v.extend(more.into_iter().filter_map(|(n, u)| u.map(|u| (n, u))));
        v
    }
}

/// `shipdeck demo --serve [--write-config DIR]`: starts the estate, prints its endpoints and runs
/// until Ctrl-C or SIGTERM.
pub async fn serve(opts: DemoOptions, write_config: Option<PathBuf>) -> color_eyre::Result<()> {
    serve_until(opts, write_config, wait_for_shutdown_signal()).await
}

/// `serve` that stops when `stop` completes instead of on a signal (tests).
pub async fn serve_until(
    opts: DemoOptions,
    write_config: Option<PathBuf>,
    stop: impl std::future::Future<Output = ()>,
) -> color_eyre::Result<()> {
    let demo = Demo::start(opts).await?;
    for (name, url) in demo.endpoints() {
        println!("{:<16}{url}", format!("{name}:"));
    }
    if let Some(dir) = &write_config {
        demo.write_config(dir)?;
        let kc = dir.join("kubeconfig");
        println!("kubeconfig:     {}", kc.display());
        println!("config:         {}", dir.join("config.toml").display());
        println!(
            "try:            KUBECONFIG={} kubectl get deploy -A",
            kc.display()
        );
        if let Some(gh) = demo.github_url() {
            println!("                curl {gh}/repos/shop/web/actions/runs");
        }
        if let Some(git) = demo.gitops_url() {
            println!(
                "                curl {git}/repos/{}/contents/production/web/deployment.yaml",
                gitops_seed::REPO
            );
        }
    }
    println!("running until Ctrl-C");
    stop.await;
    demo.shutdown().await;
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
