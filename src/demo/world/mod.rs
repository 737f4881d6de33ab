//! The simulated world behind the Kubernetes API: the clock, the deployment/ReplicaSet/kubelet
//! simulation (`controller`, `sync`), per-pod traffic and logs, and the seeded estate.
//!
//! `World` is the cheap-to-clone handle; the controller runs as one task that owns its model.
pub mod clock;
mod controller;
pub mod estate;
mod events;
mod life;
mod model;
mod objects;
mod pods;
pub mod rollout;
mod status;
pub mod storm;
mod sync;
pub mod traffic;

#[cfg(test)]
mod tests;

pub use clock::SimClock;
pub use controller::{LOG_FEED_MAX_PODS, NODES};
pub use events::EVENTS_PER_NAMESPACE;
pub use life::next_build;

use crate::demo::kube_api::LogBook;
use crate::demo::store::{ApiError, Kind, Store};
use crate::demo::traffic::{PodTraffic, TrafficSource};
use controller::{Cmd, Controller};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How the world is built.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// None = the default estate (3 apps × 3 namespaces with history).
    pub scale: Option<usize>,
    /// Pods per app of a `scale` estate.
    pub scale_replicas: i32,
    pub seed: u64,
    pub speed: f64,
    pub paused: bool,
    /// Image tags containing this crash-loop (empty = none does).
    pub bad_marker: String,
    /// Develop gets a new build every `life_every_s` sim seconds (default estate only; 0 = off).
    pub life_every_s: u64,
    /// Gives pods' `imageID` the registry's digest of their image (None: a made-up digest).
    pub digest_of: Option<DigestResolver>,
    /// (namespace, app, image): the newest seeded revision of that Deployment runs this image
    /// instead of its plain tag (a tag pinned to a digest, as a promote leaves it).
    pub pins: Vec<(String, String, String)>,
}

/// Looks up the registry digest (`sha256:…`) of an image reference, so pods report what the
/// registry holds while the world stays independent of the registry simulation.
#[derive(Clone)]
pub struct DigestResolver(pub Arc<DigestFn>);

/// Image reference → `sha256:…` digest, if the registry knows it.
pub type DigestFn = dyn Fn(&str) -> Option<String> + Send + Sync;

impl DigestResolver {
    pub fn new(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> DigestResolver {
        DigestResolver(Arc::new(f))
    }

    pub fn resolve(&self, image: &str) -> Option<String> {
        (self.0)(image)
    }
}

impl std::fmt::Debug for DigestResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestResolver")
    }
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            scale: None,
            scale_replicas: estate::SCALE_REPLICAS,
            seed: 1,
            speed: 1.0,
            paused: false,
            bad_marker: "-bad".into(),
            life_every_s: 0,
            digest_of: None,
            pins: Vec::new(),
        }
    }
}

struct Inner {
    store: Store,
    clock: Arc<SimClock>,
    traffic: Arc<traffic::TrafficTable>,
    logs: LogBook,
    cmd: mpsc::UnboundedSender<Cmd>,
    task: Mutex<Option<JoinHandle<()>>>,
    bad_marker: String,
}

/// Handle on the running world; cheap to clone.
#[derive(Clone)]
pub struct World {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("now", &self.now()).finish()
    }
}

impl World {
    /// Seeds the estate into `store` (whose clock must read `clock`), then starts the controller.
    /// The clock is moved to the wall clock's now and runs unless `opts.paused`.
    pub async fn start(
        store: Store,
        clock: Arc<SimClock>,
        logs: LogBook,
        opts: &WorldOptions,
    ) -> World {
        let traffic = Arc::new(traffic::TrafficTable::default());
        let mut c = Controller::new(
            store.clone(),
            clock.clone(),
            opts.seed,
            traffic.clone(),
            opts.bad_marker.clone(),
            logs.clone(),
        );
        c.digest_of = opts.digest_of.clone();
        // Seeding a large estate takes seconds: keep it off the async workers.
        let (scale, replicas) = (opts.scale, opts.scale_replicas.max(0));
        let pins = opts.pins.clone();
        let (mut c, seeded) = match tokio::task::spawn_blocking(move || {
            let seeded = estate::seed(&mut c, scale, replicas, &pins);
            (c, seeded)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let lag = jiff::Timestamp::now().duration_since(clock.now());
        if lag.is_positive() {
            clock.advance(lag);
        }
        c.instant = false;
        c.rec.enabled = true;
        if c.traffic.len() <= LOG_FEED_MAX_PODS {
            c.start_log_feed();
        }
        if opts.scale.is_none() && opts.life_every_s > 0 {
            c.start_life(estate::DEVELOP_NS, opts.life_every_s as i64 * 1000);
        }
        let rx = store.subscribe();
        let (tx, crx) = mpsc::unbounded_channel();
        let task = tokio::spawn(c.run(rx, crx));
        if !opts.paused {
            clock.resume();
        }
        let world = World {
            inner: Arc::new(Inner {
                store,
                clock,
                traffic,
                logs,
                cmd: tx,
                task: Mutex::new(Some(task)),
                bad_marker: opts.bad_marker.clone(),
            }),
        };
        if let Some((ns, app, image, cause)) = seeded.rollout_at_start {
            let _ = world.set_image_with_cause(&ns, &app, &app, &image, Some(&cause));
        }
        // Benchmarks: `SHIPDECK_DEMO_STORM=1000x10@30` (see `storm`).
        if let Some(spec) = std::env::var(storm::STORM_ENV)
            .ok()
            .filter(|s| !s.is_empty())
        {
            match spec.parse::<storm::StormSpec>() {
                Ok(spec) => {
                    world.storm(spec, opts.seed);
                }
                Err(e) => tracing::warn!("{}: {e}", storm::STORM_ENV),
            }
        }
        world
    }

    /// Starts a change storm over the pods now in the store (benchmarks; see `storm`).
    pub fn storm(&self, spec: storm::StormSpec, seed: u64) -> Arc<storm::StormProgress> {
        storm::spawn(self.inner.store.clone(), spec, seed).0
    }

    pub fn clock(&self) -> &Arc<SimClock> {
        &self.inner.clock
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    pub fn pause(&self) {
        self.inner.clock.pause();
    }

    pub fn resume(&self) {
        self.inner.clock.resume();
    }

    pub fn is_paused(&self) -> bool {
        self.inner.clock.is_paused()
    }

    pub fn set_speed(&self, speed: f64) {
        self.inner.clock.set_speed(speed);
    }

    pub fn speed(&self) -> f64 {
        self.inner.clock.speed()
    }

    /// Jumps sim time forward; due transitions then run at once.
    pub fn advance(&self, by: jiff::SignedDuration) {
        self.inner.clock.advance(by);
    }

    pub fn bad_marker(&self) -> &str {
        &self.inner.bad_marker
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn logs(&self) -> &LogBook {
        &self.inner.logs
    }

    /// Sets one container's image, as `kubectl set image` would (the controller rolls it out).
    pub fn set_image(
        &self,
        ns: &str,
        deploy: &str,
        container: &str,
        image: &str,
    ) -> Result<(), ApiError> {
        self.set_image_with_cause(ns, deploy, container, image, None)
    }

    /// `set_image` plus the `kubernetes.io/change-cause` annotation.
    pub fn set_image_with_cause(
        &self,
        ns: &str,
        deploy: &str,
        container: &str,
        image: &str,
        cause: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut found = false;
        self.inner.store.modify(Kind::Deployment, ns, deploy, |v| {
            if let Some(cs) = v
                .pointer_mut("/spec/template/spec/containers")
                .and_then(Value::as_array_mut)
            {
                for c in cs.iter_mut() {
                    if c.get("name").and_then(Value::as_str) == Some(container) {
                        c["image"] = json!(image);
                        found = true;
                    }
                }
            }
            if let Some(cause) = cause {
                if !v["metadata"]
                    .get("annotations")
                    .is_some_and(Value::is_object)
                {
                    v["metadata"]["annotations"] = json!({});
                }
                v["metadata"]["annotations"]["kubernetes.io/change-cause"] = json!(cause);
            }
        })?;
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found("containers", container))
        }
    }

    /// Every running pod's traffic figures now.
    pub fn traffic(&self) -> Vec<PodTraffic> {
        self.inner.traffic.snapshot(self.inner.clock.now_ms())
    }

    /// Stops the controller task (the store stays readable).
    pub async fn shutdown(&self) {
        let _ = self.inner.cmd.send(Cmd::Shutdown);
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl TrafficSource for World {
    fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    fn pods(&self) -> Vec<PodTraffic> {
        self.traffic()
    }

    fn pods_at(&self, at_ms: i64) -> Vec<PodTraffic> {
        self.inner.traffic.snapshot_at(at_ms)
    }

    fn pod(&self, namespace: &str, pod: &str) -> Option<PodTraffic> {
        self.inner
            .traffic
            .get(&model::key(namespace, pod), self.inner.clock.now_ms())
    }
}
