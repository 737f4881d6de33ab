//! The traffic figures the simulated world keeps per pod, which the simulated Prometheus and
//! Alertmanager turn into series and alerts. The world (controller simulation) produces them.
use jiff::Timestamp;

/// Upper bounds of the latency histogram buckets, in seconds (`le` labels; +Inf is implied).
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How far back a `TrafficSource` remembers its pods (`pods_at`), in simulated seconds: the console's
/// default 30-minute metric window plus the 5-minute range of its longest `rate()` (p99 latency), so
/// a backfilled Prometheus answers every point of the window from the first second.
pub const HISTORY_SECS: i64 = 35 * 60;

/// Monotonic counters and gauges of one running pod, as of `TrafficSource::now`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTraffic {
    pub namespace: String,
    pub pod: String,
    /// The app (Deployment) the pod belongs to.
    pub app: String,
    pub image: String,
    /// Counters since the pod started.
    pub requests_total: f64,
    pub errors_total: f64,
    /// Cumulative counts per bucket of `LATENCY_BUCKETS`, then the +Inf count (= requests_total).
    pub latency_bucket_counts: Vec<f64>,
    pub latency_sum_seconds: f64,
    pub cpu_seconds_total: f64,
    pub memory_bytes: f64,
    pub restarts: i32,
    pub ready: bool,
}

/// What the monitoring simulations read from the world.
pub trait TrafficSource: Send + Sync {
    /// The simulated clock's current time.
    fn now(&self) -> Timestamp;
    /// Every running pod's figures as of `now()`.
    fn pods(&self) -> Vec<PodTraffic>;

    /// Every pod that was running at `at_ms` (a past simulated time, unix ms, no earlier than
    /// `HISTORY_SECS` before `now()`), with its figures as of then, on the same closed forms as
    /// `pods()`, so counters read this way never exceed the later live ones. Sources that keep no
    /// history return nothing (the simulated Prometheus then starts empty).
    fn pods_at(&self, at_ms: i64) -> Vec<PodTraffic> {
        let _ = at_ms;
        Vec::new()
    }

    /// One pod's figures (None when it is not running). Sources with many pods override this.
    fn pod(&self, namespace: &str, pod: &str) -> Option<PodTraffic> {
        self.pods()
            .into_iter()
            .find(|p| p.namespace == namespace && p.pod == pod)
    }
}
