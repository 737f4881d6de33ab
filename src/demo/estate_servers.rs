//! The servers around the simulated Kubernetes API in `shipdeck demo`: Prometheus and Alertmanager
//! over the world's traffic, the CI servers (GitHub Actions, Jenkins, GitLab) and the OCI registry on
//! the world's clock, and the deploy hook through which a finished CI deploy moves a Deployment.
use super::alertmanager::{AmSimOptions, start_alertmanager_with};
use super::ci::{CiEngine, CiServers, CiSimOptions, ClockFn, DeployHook, start_ci};
use super::cloudflare::{CloudflareSeed, CloudflareSim, start_cloudflare};
use super::prometheus::{PromSimOptions, SimServerHandle, start_prometheus_with};
use super::registry::{RegistryServer, SimRegistry, serve_registry};
use super::traffic::TrafficSource;
use super::world::{DigestResolver, World, estate};
use crate::backend::registry::ImageRef;
use jiff::SignedDuration;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The registry host image references of the estate name (`registry.local/shop/web:1.4.2`), CI's
/// new builds included; the config's `[registry]` url is where the simulated registry listens.
pub const IMAGE_HOST: &str = "registry.local";
/// Registry repositories are `shop/<app>`.
pub const REPOSITORY_PREFIX: &str = "shop/";
/// Above this many pods (a large `--scale`), Prometheus and Alertmanager are not started: their
/// per-pod series would cost more memory than the rest of the estate.
pub const MONITOR_MAX_PODS: usize = 3000;
/// How often staging and master get a new commit (develop follows `DemoOptions::life_every_s`).
pub const STAGING_COMMIT_EVERY: SignedDuration = SignedDuration::from_mins(5);
pub const MASTER_COMMIT_EVERY: SignedDuration = SignedDuration::from_mins(10);

/// The branch each namespace is deployed from.
pub const BRANCH_NAMESPACES: [(&str, &str); 3] = [
    ("develop", estate::DEVELOP_NS),
    ("staging", estate::STAGING_NS),
    ("master", estate::PRODUCTION_NS),
];

/// The apps of an estate (`scale`: `app-0001`…).
pub fn app_names(scale: Option<usize>) -> Vec<String> {
    match scale {
        None => estate::APPS.iter().map(|(a, _)| a.to_string()).collect(),
        Some(n) => (1..=n).map(|i| format!("app-{i:04}")).collect(),
    }
}

/// A registry holding every tag the seeded estate runs or ran (`shop/<app>`, one image per tag).
pub fn seeded_registry(scale: Option<usize>) -> SimRegistry {
    let reg = SimRegistry::new(true);
    for app in app_names(scale) {
        let repo = format!("{REPOSITORY_PREFIX}{app}");
        for tag in estate::tags(&app) {
            if scale.is_none() && (app.as_str(), tag.as_str()) == (MOVED.1, MOVED.2) {
                // Built once (what production was promoted with, by digest), then pushed again
                // under the same tag: the board marks the cell ⇄ (the tag moved since).
                reg.push_image(&repo, &tag, &moved_first_label());
            }
            reg.push_image(&repo, &tag, &format!("{repo}:{tag} (seeded)"));
        }
    }
    reg
}

/// The default estate's moved tag: (namespace, app, tag) — production's worker runs `1.0.0` pinned
/// to the digest of its first build; the registry's `1.0.0` was rebuilt afterwards.
const MOVED: (&str, &str, &str) = (estate::PRODUCTION_NS, "worker", "1.0.0");

fn moved_first_label() -> String {
    format!("{REPOSITORY_PREFIX}{}:{} (first build)", MOVED.1, MOVED.2)
}

/// The world's pins for `seeded_registry`'s estate: the Deployment running the moved tag by the
/// digest it was promoted with.
pub fn seeded_pins(scale: Option<usize>) -> Vec<(String, String, String)> {
    if scale.is_some() {
        return Vec::new();
    }
    let (ns, app, tag) = MOVED;
    let digest = SimRegistry::image_digest(&moved_first_label());
    vec![(
        ns.to_string(),
        app.to_string(),
        format!("{}@{digest}", estate::image(app, tag)),
    )]
}

/// Resolves an image reference to the digest `registry` holds for its repository and tag (the host
/// is ignored: every host in the estate is this registry). A reference by digest is its digest.
pub fn digest_resolver(registry: &SimRegistry) -> DigestResolver {
    let reg = registry.clone();
    DigestResolver::new(move |image| {
        let r = ImageRef::parse(image)?;
        if let Some(d) = r.digest {
            return Some(d);
        }
        reg.digest(&r.repository, r.tag.as_deref()?)
    })
}

/// Sets the app's Deployment image in the namespace of the branch a CI run deployed.
pub struct StoreDeployHook {
    world: World,
    /// Off while the engine replays the runs that finished before the demo started (the seeded
    /// estate already is their outcome), and for good when new builds are turned off.
    armed: AtomicBool,
}

impl StoreDeployHook {
    pub fn new(world: World) -> Arc<StoreDeployHook> {
        Arc::new(StoreDeployHook {
            world,
            armed: AtomicBool::new(false),
        })
    }

    pub fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::SeqCst);
    }

    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }
}

impl DeployHook for StoreDeployHook {
    fn deploy(&self, app: &str, branch: &str, image: &str) {
        self.deploy_run(app, branch, image, 0);
    }

    fn deploy_run(&self, app: &str, branch: &str, image: &str, number: u64) {
        if !self.is_armed() {
            return;
        }
        let Some((_, ns)) = BRANCH_NAMESPACES.iter().find(|(b, _)| *b == branch) else {
            return;
        };
        let tag = image.rsplit_once(':').map_or(image, |(_, t)| t);
        let cause = if number > 0 {
            format!("deploy {tag} from CI run #{number}")
        } else {
            format!("deploy {tag} from CI")
        };
        if let Err(e) = self
            .world
            .set_image_with_cause(ns, app, app, image, Some(&cause))
        {
            tracing::warn!(app, branch, image, "CI deploy not applied: {e}");
        }
    }
}

/// What to start around the world.
#[derive(Debug, Clone)]
pub struct ExtrasOptions {
    pub scale: Option<usize>,
    pub seed: u64,
    /// Develop's commit cadence in sim seconds; 0 = CI deploys nothing (runs still show).
    pub develop_every_s: u64,
    /// Whether to start Prometheus and Alertmanager.
    pub monitoring: bool,
}

/// The running extra servers.
pub struct Extras {
    pub prometheus: Option<SimServerHandle>,
    pub alertmanager: Option<SimServerHandle>,
    pub ci: CiServers,
    pub registry: RegistryServer,
    /// The production edge (DNS records, tunnel ingress rules, Access apps) of every app.
    pub cloudflare: CloudflareSim,
    pub hook: Arc<StoreDeployHook>,
}

impl Extras {
    /// Starts every server on 127.0.0.1 with an ephemeral port. `registry` is the one the world's
    /// digest resolver reads (see `seeded_registry`).
    pub async fn start(
        world: &World,
        registry: SimRegistry,
        opts: &ExtrasOptions,
    ) -> std::io::Result<Extras> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (prometheus, alertmanager) = if opts.monitoring {
            let source: Arc<dyn TrafficSource> = Arc::new(world.clone());
            let popts = match opts.scale {
                None => PromSimOptions::default(),
                // Bounded memory for large estates: fewer, shorter series.
                Some(_) => PromSimOptions {
                    scrape_secs: 15,
                    retention_secs: 1800,
                    ..PromSimOptions::default()
                },
            };
            let p = start_prometheus_with(source.clone(), any, popts).await?;
            let a = start_alertmanager_with(source, any, AmSimOptions::default()).await?;
            (Some(p), Some(a))
        } else {
            (None, None)
        };
        let registry = serve_registry(registry).await?;
        let hook = StoreDeployHook::new(world.clone());
        let clock = world.clock().clone();
        let clockfn: ClockFn = Arc::new(move || clock.now());
        let cloudflare =
            start_cloudflare(CloudflareSeed::for_apps(&app_names(opts.scale)), any).await?;
        let mut apps = app_names(opts.scale);
        // A scaled estate builds only its first few apps (pipelines are for looking at).
        apps.truncate(3);
        let mut branch_every = vec![
            ("staging".to_string(), STAGING_COMMIT_EVERY),
            ("master".to_string(), MASTER_COMMIT_EVERY),
        ];
        if opts.develop_every_s > 0 {
            branch_every.push((
                "develop".into(),
                SignedDuration::from_secs(opts.develop_every_s as i64),
            ));
        }
        let copts = CiSimOptions {
            apps,
            image_host: IMAGE_HOST.into(),
            repository_prefix: REPOSITORY_PREFIX.into(),
            owner: REPOSITORY_PREFIX.trim_end_matches('/').into(),
            seed: opts.seed,
            commit_every_branch: branch_every,
            ..CiSimOptions::default()
        };
        let engine = CiEngine::new(
            copts,
            clockfn,
            hook.clone(),
            Some(registry.registry().clone()),
        );
        hook.arm(opts.develop_every_s > 0);
        let ci = start_ci(engine).await?;
        Ok(Extras {
            prometheus,
            alertmanager,
            ci,
            registry,
            cloudflare,
            hook,
        })
    }

    /// Stops every server and waits until their listeners are closed.
    pub async fn shutdown(self) {
        self.hook.arm(false);
        if let Some(p) = self.prometheus {
            p.shutdown().await;
        }
        if let Some(a) = self.alertmanager {
            a.shutdown().await;
        }
        self.ci.shutdown().await;
        self.registry.shutdown().await;
        self.cloudflare.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_finds_seeded_tags_whatever_the_host() {
        let reg = seeded_registry(None);
        let r = digest_resolver(&reg);
        let d = r.resolve("registry.local/shop/web:1.4.2").unwrap();
        assert_eq!(Some(d.clone()), reg.digest("shop/web", "1.4.2"));
        assert_eq!(r.resolve("127.0.0.1:5000/shop/web:1.4.2"), Some(d));
        assert_ne!(
            r.resolve("registry.local/shop/web:1.4.1"),
            r.resolve("registry.local/shop/web:1.4.2")
        );
        assert_eq!(r.resolve("registry.local/shop/web:9.9.9"), None);
        assert_eq!(
            r.resolve("registry.local/shop/web@sha256:abc").as_deref(),
            Some("sha256:abc")
        );
        assert!(reg.tags("shop/api").contains(&"2.2.0".to_string()));
        assert_eq!(seeded_registry(Some(2)).tags("shop/app-0002").len(), 3);
    }

    #[test]
    fn production_worker_runs_a_tag_that_moved_since() {
        let reg = seeded_registry(None);
        let pins = seeded_pins(None);
        let [(ns, app, image)] = &pins[..] else {
            panic!("one pin expected: {pins:?}");
        };
        assert_eq!(
            (ns.as_str(), app.as_str()),
            (estate::PRODUCTION_NS, "worker")
        );
        let (reference, pinned) = image.split_once('@').expect("tag@digest");
        assert!(reference.ends_with("/worker:1.0.0"), "{image}");
        let now = reg.digest("shop/worker", "1.0.0").expect("the tag exists");
        assert_ne!(now, pinned, "the tag must point elsewhere now");
        assert!(pinned.starts_with("sha256:"));
        // A scaled estate has no pins.
        assert!(seeded_pins(Some(3)).is_empty());
    }
}
