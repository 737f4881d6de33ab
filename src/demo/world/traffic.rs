//! Per-pod traffic kept by the world: request rate per app (base, daily-ish wave, gentle noise),
//! 5xx ratio (high for bad images and their siblings), a latency histogram, CPU and memory.
//! Counters are integrals computed on read from closed forms, so nothing ticks. Each pod also keeps
//! its state changes of the last `HISTORY_SECS` (and removed pods linger that long), so its figures
//! can be read as of any recent past moment (`snapshot_at`, the simulated Prometheus's backfill).
use super::model::Key;
use super::rollout::fnv32a;
use crate::demo::traffic::{HISTORY_SECS, LATENCY_BUCKETS, PodTraffic};
use std::collections::{HashMap, VecDeque};
use std::f64::consts::PI;
use std::sync::Mutex;

/// Period of the slow "daily" wave, sim seconds (a compressed day, so a demo shows it).
pub const WAVE_PERIOD_S: f64 = 1200.0;
const WAVE_AMPLITUDE: f64 = 0.3;
const NOISE_PERIOD_S: f64 = 97.0;
const NOISE_AMPLITUDE: f64 = 0.08;
/// 5xx ratios: healthy, a bad image, a healthy pod whose app has crash-looping pods.
pub const ERROR_RATIO_GOOD: f64 = 0.002;
pub const ERROR_RATIO_BAD: f64 = 0.35;
pub const ERROR_RATIO_SIBLING: f64 = 0.2;

/// Requests per second of one pod of `app` at the wave's mean.
pub fn base_rps(app: &str) -> f64 {
    match app {
        "web" => 40.0,
        "api" => 25.0,
        "worker" => 6.0,
        other => 2.0 + f64::from(fnv32a(other.as_bytes()) % 180) / 10.0,
    }
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf).
fn phi(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-z * z).exp();
    let erf = if z >= 0.0 { y } else { -y };
    0.5 * (1.0 + erf)
}

/// A log-normal latency profile: bucket fractions (≤ le) and the mean.
#[derive(Debug, Clone)]
struct Profile {
    fractions: Vec<f64>,
    mean: f64,
}

fn profile(median: f64, sigma: f64) -> Profile {
    Profile {
        fractions: LATENCY_BUCKETS
            .iter()
            .map(|le| phi((le.ln() - median.ln()) / sigma))
            .collect(),
        mean: median * (sigma * sigma / 2.0).exp(),
    }
}

#[derive(Debug, Clone, Default)]
struct Acc {
    at_ms: i64,
    requests: f64,
    errors: f64,
    latency_sum: f64,
    buckets: Vec<f64>,
    cpu: f64,
}

/// A pod's state during one past stretch: from `acc.at_ms` until the next stretch (or the current).
#[derive(Debug, Clone)]
struct Seg {
    acc: Acc,
    ready: bool,
    degraded: bool,
    restarts: i32,
}

/// How long state changes and removed pods are remembered, ms.
const HISTORY_MS: i64 = HISTORY_SECS * 1000;
/// At most this many removed pods are remembered (the oldest go first): a bound even when a fast
/// clock churns pods.
const GONE_MAX: usize = 20_000;

#[derive(Debug, Clone)]
struct Entry {
    ns: String,
    pod: String,
    app: String,
    image: String,
    bad: bool,
    degraded: bool,
    ready: bool,
    restarts: i32,
    base: f64,
    phase: f64,
    /// The current stretch starts at `acc.at_ms`.
    acc: Acc,
    started_ms: i64,
    /// Earlier stretches within `HISTORY_MS`, oldest first.
    past: Vec<Seg>,
}

impl Entry {
    fn rate_factor(&self) -> f64 {
        if self.bad {
            0.5
        } else if self.ready {
            1.0
        } else {
            0.0
        }
    }

    fn error_ratio(&self) -> f64 {
        if self.bad {
            ERROR_RATIO_BAD
        } else if self.degraded {
            ERROR_RATIO_SIBLING
        } else {
            ERROR_RATIO_GOOD
        }
    }

    fn profile(&self) -> Profile {
        if self.bad || self.degraded {
            profile(0.25, 1.0)
        } else {
            profile(
                0.03 + f64::from(fnv32a(self.app.as_bytes()) % 40) / 1000.0,
                0.6,
            )
        }
    }

    /// Requests served in [t0, t1] (sim seconds) at the current factor.
    fn requests_between(&self, t0: f64, t1: f64) -> f64 {
        let f = self.rate_factor();
        if f == 0.0 || t1 <= t0 {
            return 0.0;
        }
        let wave = |t: f64| (2.0 * PI * t / WAVE_PERIOD_S + self.phase).cos();
        let noise = |t: f64| (2.0 * PI * t / NOISE_PERIOD_S + 3.0 * self.phase).cos();
        let b = self.base * f;
        b * (t1 - t0)
            + b * WAVE_AMPLITUDE * WAVE_PERIOD_S / (2.0 * PI) * (wave(t0) - wave(t1))
            + b * NOISE_AMPLITUDE * NOISE_PERIOD_S / (2.0 * PI) * (noise(t0) - noise(t1))
    }

    /// The counters as of `now_ms` (acc plus the closed form since).
    fn at(&self, now_ms: i64) -> Acc {
        let mut a = self.acc.clone();
        if now_ms <= a.at_ms {
            return a;
        }
        let r = self.requests_between(a.at_ms as f64 / 1000.0, now_ms as f64 / 1000.0);
        let p = self.profile();
        a.requests += r;
        a.errors += r * self.error_ratio();
        a.latency_sum += r * p.mean;
        for (b, f) in a.buckets.iter_mut().zip(p.fractions.iter()) {
            *b += r * f;
        }
        a.cpu += 0.01 * (now_ms - a.at_ms) as f64 / 1000.0 + 0.002 * r;
        a.at_ms = now_ms;
        a
    }

    fn accumulate(&mut self, now_ms: i64) {
        self.acc = self.at(now_ms);
    }

    /// Closes the current stretch at `now_ms` (remembered in `past`), then applies `f`.
    fn change(&mut self, now_ms: i64, f: impl FnOnce(&mut Entry)) {
        if now_ms > self.acc.at_ms {
            self.past.push(Seg {
                acc: self.acc.clone(),
                ready: self.ready,
                degraded: self.degraded,
                restarts: self.restarts,
            });
            self.accumulate(now_ms);
            // Forget stretches that ended before the remembered history.
            let cutoff = now_ms - HISTORY_MS;
            let ends: Vec<i64> = self.past.iter().skip(1).map(|s| s.acc.at_ms).collect();
            let stale = ends
                .iter()
                .chain([&self.acc.at_ms])
                .take_while(|end| **end <= cutoff)
                .count();
            self.past.drain(..stale);
        }
        f(self);
    }

    /// The pod's figures as of `t_ms` (None when it was not running then or that is forgotten).
    fn figures_at(&self, t_ms: i64) -> Option<PodTraffic> {
        if t_ms < self.started_ms {
            return None;
        }
        if t_ms >= self.acc.at_ms {
            return Some(figures(self, t_ms));
        }
        let i = self.past.partition_point(|s| s.acc.at_ms <= t_ms);
        let seg = self.past.get(i.checked_sub(1)?)?;
        let then = Entry {
            ns: self.ns.clone(),
            pod: self.pod.clone(),
            app: self.app.clone(),
            image: self.image.clone(),
            bad: self.bad,
            degraded: seg.degraded,
            ready: seg.ready,
            restarts: seg.restarts,
            base: self.base,
            phase: self.phase,
            acc: seg.acc.clone(),
            started_ms: self.started_ms,
            past: Vec::new(),
        };
        Some(figures(&then, t_ms))
    }
}

/// The traffic state of every running pod; the controller updates it, monitoring reads it.
#[derive(Debug, Default)]
pub struct TrafficTable {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pods: HashMap<Key, Entry>,
    /// Running bad pods per (namespace, app).
    bad: HashMap<(String, String), usize>,
    /// Pods removed within `HISTORY_MS` (at most `GONE_MAX`), with when, oldest first.
    gone: VecDeque<(Entry, i64)>,
}

impl TrafficTable {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A pod's containers started.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &self,
        k: &Key,
        ns: &str,
        pod: &str,
        app: &str,
        image: &str,
        bad: bool,
        now_ms: i64,
    ) {
        self.with(|g| {
            let app_key = (ns.to_string(), app.to_string());
            let degraded = g.bad.get(&app_key).copied().unwrap_or(0) > 0;
            let e = Entry {
                ns: ns.into(),
                pod: pod.into(),
                app: app.into(),
                image: image.into(),
                bad,
                degraded,
                ready: false,
                restarts: 0,
                base: base_rps(app),
                phase: f64::from(fnv32a(pod.as_bytes()) % 6283) / 1000.0,
                acc: Acc {
                    at_ms: now_ms,
                    buckets: vec![0.0; LATENCY_BUCKETS.len()],
                    ..Acc::default()
                },
                started_ms: now_ms,
                past: Vec::new(),
            };
            g.pods.insert(k.clone(), e);
            if bad {
                let n = g.bad.entry(app_key.clone()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    set_degraded(g, &app_key, true, now_ms);
                }
            }
        });
    }

    pub fn set_state(&self, k: &Key, ready: bool, restarts: i32, now_ms: i64) {
        self.with(|g| {
            if let Some(e) = g.pods.get_mut(k) {
                e.change(now_ms, |e| {
                    e.ready = ready;
                    e.restarts = restarts;
                });
            }
        });
    }

    pub fn remove(&self, k: &Key, now_ms: i64) {
        self.with(|g| {
            let Some(e) = g.pods.remove(k) else {
                return;
            };
            let bad = e.bad.then(|| (e.ns.clone(), e.app.clone()));
            g.gone.push_back((e, now_ms));
            while g.gone.len() > GONE_MAX
                || g.gone
                    .front()
                    .is_some_and(|(_, at)| *at <= now_ms - HISTORY_MS)
            {
                g.gone.pop_front();
            }
            if let Some(app_key) = bad {
                let n = g.bad.entry(app_key.clone()).or_insert(1);
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.bad.remove(&app_key);
                    // Siblings recover from now on; their counters keep what they served.
                    set_degraded(g, &app_key, false, now_ms);
                }
            }
        });
    }

    /// Every pod's figures as of `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> Vec<PodTraffic> {
        self.with(|g| {
            let mut out: Vec<PodTraffic> = g.pods.values().map(|e| figures(e, now_ms)).collect();
            out.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
            out
        })
    }

    /// The figures of every pod running at `at_ms`, as of then, for a moment within the last
    /// `HISTORY_SECS` (earlier moments lack what was forgotten).
    pub fn snapshot_at(&self, at_ms: i64) -> Vec<PodTraffic> {
        self.with(|g| {
            let live = g.pods.values().filter_map(|e| e.figures_at(at_ms));
            let gone = g
                .gone
                .iter()
                .filter(|(_, ended)| at_ms < *ended)
                .filter_map(|(e, _)| e.figures_at(at_ms));
            let mut out: Vec<PodTraffic> = live.chain(gone).collect();
            out.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
            out
        })
    }

    /// One pod's figures as of `now_ms`.
    pub fn get(&self, k: &Key, now_ms: i64) -> Option<PodTraffic> {
        self.with(|g| g.pods.get(k).map(|e| figures(e, now_ms)))
    }

    /// (namespace, pod, app, image, bad, ready) of the pods that are running, for the log feed.
    pub fn running(&self) -> Vec<(String, String, String, bool, bool)> {
        self.with(|g| {
            g.pods
                .values()
                .map(|e| (e.ns.clone(), e.pod.clone(), e.app.clone(), e.bad, e.ready))
                .collect()
        })
    }

    pub fn len(&self) -> usize {
        self.with(|g| g.pods.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn figures(e: &Entry, now_ms: i64) -> PodTraffic {
    let a = e.at(now_ms);
    let mut buckets = a.buckets.clone();
    buckets.push(a.requests);
    let wave = (2.0 * PI * now_ms as f64 / 1000.0 / WAVE_PERIOD_S + e.phase).sin();
    let mut memory = 60e6 + e.base * 1.5e6 + 4e6 * wave;
    if e.bad {
        memory += 30e6;
    }
    PodTraffic {
        namespace: e.ns.clone(),
        pod: e.pod.clone(),
        app: e.app.clone(),
        image: e.image.clone(),
        requests_total: a.requests,
        errors_total: a.errors,
        latency_bucket_counts: buckets,
        latency_sum_seconds: a.latency_sum,
        cpu_seconds_total: a.cpu,
        memory_bytes: memory,
        restarts: e.restarts,
        ready: e.ready,
    }
}

fn set_degraded(g: &mut Inner, app_key: &(String, String), degraded: bool, now_ms: i64) {
    for e in g.pods.values_mut() {
        if !e.bad && e.ns == app_key.0 && e.app == app_key.1 && e.degraded != degraded {
            e.change(now_ms, |e| e.degraded = degraded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_and_bad_pods_err_more() {
        let t = TrafficTable::default();
        let (good, bad) = ("ns/web-a".to_string(), "ns/web-b".to_string());
        t.start(&good, "ns", "web-a", "web", "r/web:1", false, 0);
        t.set_state(&good, true, 0, 0);
        let s1 = t.snapshot(60_000);
        assert!(s1[0].requests_total > 1000.0, "{:?}", s1[0]);
        let good_ratio_before = s1[0].errors_total / s1[0].requests_total;
        t.start(&bad, "ns", "web-b", "web", "r/web:1-bad", true, 60_000);
        let s2 = t.snapshot(120_000);
        let g = s2.iter().find(|p| p.pod == "web-a").unwrap();
        let b = s2.iter().find(|p| p.pod == "web-b").unwrap();
        assert!(g.requests_total > s1[0].requests_total);
        assert!(g.errors_total >= s1[0].errors_total);
        assert!(b.errors_total / b.requests_total > 0.3);
        assert!(g.errors_total / g.requests_total > good_ratio_before);
        // Histogram is cumulative and ends with the total.
        let bc = &g.latency_bucket_counts;
        assert_eq!(bc.len(), LATENCY_BUCKETS.len() + 1);
        assert!(bc.windows(2).all(|w| w[0] <= w[1] + 1e-9));
        assert_eq!(*bc.last().unwrap(), g.requests_total);
        t.remove(&bad, 120_000);
        let s3 = t.snapshot(120_000);
        assert!(s3[0].errors_total >= g.errors_total - 1e-9);
    }
}
