//! The simulated Prometheus's TSDB: series synthesised from a `TrafficSource`, a bounded ring each.
//!
//! The cap: each series keeps the samples of the last `retention_secs` (default 2 h, 1 440 samples
//! at the default 5 s scrape; a scaled estate uses 30 min at 15 s, 121 samples), and series whose
//! samples all fell out of retention are dropped. A backfill writes within the same bound.
use crate::demo::traffic::{LATENCY_BUCKETS, PodTraffic};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A label set including `__name__`.
pub type Labels = BTreeMap<String, String>;

/// Default time between two scrapes, in simulated seconds.
pub const DEFAULT_SCRAPE_SECS: i64 = 5;
/// Default retention, in simulated seconds (2 h).
pub const DEFAULT_RETENTION_SECS: i64 = 7200;
/// Instant selectors look back this far for the latest sample (Prometheus's lookback delta).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Labels,
    /// (unix ms, value), in time order.
    pub samples: VecDeque<(i64, f64)>,
    /// Set when the series' pod disappeared: instant selectors stop returning it from then on.
    pub stale_at: Option<i64>,
    /// The last scrape that saw the series.
    seen_at: i64,
}

impl Series {
    /// The latest sample within the lookback window before `t`, unless the series went stale.
    pub fn instant(&self, t: i64) -> Option<(i64, f64)> {
        let idx = self.samples.partition_point(|s| s.0 <= t);
        let s = *self.samples.get(idx.checked_sub(1)?)?;
        if s.0 <= t - LOOKBACK_MS {
            return None;
        }
        match self.stale_at {
            Some(st) if st <= t && s.0 < st => None,
            _ => Some(s),
        }
    }

    /// Samples with `from < t <= to`.
    pub fn range(&self, from: i64, to: i64) -> Vec<(i64, f64)> {
        let a = self.samples.partition_point(|s| s.0 <= from);
        let b = self.samples.partition_point(|s| s.0 <= to);
        self.samples.range(a..b).copied().collect()
    }
}

#[derive(Debug)]
pub struct Store {
    series: HashMap<Labels, Series>,
    scrape_ms: i64,
    retention_ms: i64,
    last_scrape: Option<i64>,
}

impl Store {
    pub fn new(scrape_secs: i64, retention_secs: i64) -> Self {
        Self {
            series: HashMap::new(),
            scrape_ms: scrape_secs.max(1) * 1000,
            retention_ms: retention_secs.max(60) * 1000,
            last_scrape: None,
        }
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.series.values()
    }

    /// Whether a scrape interval has passed since the last scrape.
    pub fn due(&self, now_ms: i64) -> bool {
        self.last_scrape
            .is_none_or(|last| now_ms >= last + self.scrape_ms)
    }

    /// Records one scrape at `now_ms` when a scrape interval has passed since the last one.
    /// Returns whether it scraped.
    pub fn maybe_scrape(&mut self, now_ms: i64, pods: &[PodTraffic]) -> bool {
        if !self.due(now_ms) {
            return false;
        }
        self.scrape(now_ms, pods);
        true
    }

    /// The scrape interval, ms.
    pub fn scrape_ms(&self) -> i64 {
        self.scrape_ms
    }

    /// The retention, ms.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// Fills an empty store with the history a Prometheus scraping all along would hold at
    /// `now_ms`: one scrape every scrape interval over the last `span_ms` (at most the retention),
    /// read from `pods_at`, ending one interval before `now_ms`. The caller scrapes `now_ms` live,
    /// so the grid runs on without a gap. Returns the number of backfilled scrapes.
    pub fn backfill(
        &mut self,
        now_ms: i64,
        span_ms: i64,
        mut pods_at: impl FnMut(i64) -> Vec<PodTraffic>,
    ) -> usize {
        if self.last_scrape.is_some() || !self.series.is_empty() {
            return 0;
        }
        let n = span_ms.min(self.retention_ms).max(0) / self.scrape_ms;
        // Room for the backfill and the next live scrape (the ring pushes before it trims), so a
        // store whose retention is the span (a scaled estate) never grows its rings again.
        let ring = (n + 2) as usize;
        // Each pod's series (namespace → pod → index), built on its first sighting: a backfill of
        // thousands of pods builds every label set once, not once per scrape.
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let mut pods: Vec<Vec<Series>> = Vec::new();
        for k in (1..=n).rev() {
            let t = now_ms - k * self.scrape_ms;
            for p in pods_at(t) {
                let i = match index.get(&p.namespace).and_then(|m| m.get(&p.pod)) {
                    Some(i) => *i,
                    None => {
                        let series = pod_series(&p).into_iter().map(|labels| Series {
                            labels,
                            samples: VecDeque::with_capacity(ring),
                            stale_at: None,
                            seen_at: t,
                        });
                        pods.push(series.collect());
                        let ns = index.entry(p.namespace.clone()).or_default();
                        ns.insert(p.pod.clone(), pods.len() - 1);
                        pods.len() - 1
                    }
                };
                let Some(series) = pods.get_mut(i) else {
                    continue;
                };
                for (s, v) in series.iter_mut().zip(pod_values(&p)) {
                    s.samples.push_back((t, v));
                    s.seen_at = t;
                    s.stale_at = None;
                }
            }
            // As in `scrape`: the series of a pod this scrape did not see go stale now.
            for series in &mut pods {
                if series
                    .first()
                    .is_some_and(|s| s.seen_at != t && s.stale_at.is_none())
                {
                    series.iter_mut().for_each(|s| s.stale_at = Some(t));
                }
            }
            self.last_scrape = Some(t);
        }
        for s in pods.into_iter().flatten() {
            self.series.insert(s.labels.clone(), s);
        }
        n as usize
    }

    /// Appends one sample per series of every pod at `now_ms`; series of vanished pods go stale.
    pub fn scrape(&mut self, now_ms: i64, pods: &[PodTraffic]) {
        for p in pods {
            for (labels, v) in pod_samples(p) {
                // Look up before inserting: a scrape of an existing series clones no labels.
                let s = match self.series.get_mut(&labels) {
                    Some(s) => s,
                    None => self.series.entry(labels.clone()).or_insert(Series {
                        labels,
                        samples: VecDeque::new(),
                        stale_at: None,
                        seen_at: now_ms,
                    }),
                };
                s.stale_at = None;
                s.seen_at = now_ms;
                if s.samples.back().is_none_or(|b| b.0 < now_ms) {
                    s.samples.push_back((now_ms, v));
                }
            }
        }
        let cutoff = now_ms - self.retention_ms;
        self.series.retain(|_, s| {
            if s.seen_at != now_ms && s.stale_at.is_none() {
                s.stale_at = Some(now_ms);
            }
            while s.samples.front().is_some_and(|f| f.0 < cutoff) {
                s.samples.pop_front();
            }
            !s.samples.is_empty()
        });
        self.last_scrape = Some(now_ms);
    }
}

/// Prometheus's spelling of a bucket bound (`0.005`, `1`, `+Inf`).
pub fn le_label(b: f64) -> String {
    if b.is_infinite() {
        "+Inf".into()
    } else {
        format!("{b}")
    }
}

fn labels(name: &str, p: &PodTraffic, extra: &[(&str, String)]) -> Labels {
    let mut l = Labels::new();
    l.insert("__name__".into(), name.into());
    l.insert("job".into(), "shipdeck-sim".into());
    l.insert("namespace".into(), p.namespace.clone());
    l.insert("app".into(), p.app.clone());
    l.insert("pod".into(), p.pod.clone());
    for (k, v) in extra {
        l.insert((*k).into(), v.clone());
    }
    l
}

/// Every series one pod exposes, with its current value.
pub fn pod_samples(p: &PodTraffic) -> Vec<(Labels, f64)> {
    pod_series(p).into_iter().zip(pod_values(p)).collect()
}

/// The label sets of every series one pod exposes, in `pod_values` order.
pub fn pod_series(p: &PodTraffic) -> Vec<Labels> {
    let container = [("container", p.app.clone())];
    let mut out = vec![
        labels("http_requests_total", p, &[("code", "200".into())]),
        labels("http_requests_total", p, &[("code", "500".into())]),
        labels("http_request_duration_seconds_sum", p, &[]),
        labels("http_request_duration_seconds_count", p, &[]),
        labels("container_cpu_usage_seconds_total", p, &container),
        labels("container_memory_working_set_bytes", p, &container),
        labels("kube_pod_container_status_restarts_total", p, &container),
        labels("kube_pod_status_ready", p, &[("condition", "true".into())]),
    ];
    for b in LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]) {
        out.push(labels(
            "http_request_duration_seconds_bucket",
            p,
            &[("le", le_label(b))],
        ));
    }
    out
}

/// The current value of every series one pod exposes, in `pod_series` order (no labels built: a
/// backfill reads thousands of pods at hundreds of moments).
pub fn pod_values(p: &PodTraffic) -> Vec<f64> {
    let ok = (p.requests_total - p.errors_total).max(0.0);
    let mut out = vec![
        ok,
        p.errors_total,
        p.latency_sum_seconds,
        p.requests_total,
        p.cpu_seconds_total,
        p.memory_bytes,
        f64::from(p.restarts),
        if p.ready { 1.0 } else { 0.0 },
    ];
    for i in 0..=LATENCY_BUCKETS.len() {
        out.push(if i == LATENCY_BUCKETS.len() {
            p.requests_total
        } else {
            p.latency_bucket_counts.get(i).copied().unwrap_or(0.0)
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn pod(name: &str, req: f64) -> PodTraffic {
        PodTraffic {
            namespace: "ns".into(),
            pod: name.into(),
            app: "web".into(),
            image: "web:1".into(),
            requests_total: req,
            errors_total: req / 10.0,
            latency_bucket_counts: vec![req; LATENCY_BUCKETS.len() + 1],
            latency_sum_seconds: req * 0.01,
            cpu_seconds_total: req / 100.0,
            memory_bytes: 1e8,
            restarts: 0,
            ready: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::pod;
    use super::*;

    #[test]
    fn each_series_has_its_own_value() {
        let mut p = pod("a", 100.0);
        p.restarts = 2;
        let v = |name: &str, extra: (&str, &str)| {
            pod_samples(&p)
                .into_iter()
                .find(|(l, _)| {
                    l["__name__"] == name && (extra.0.is_empty() || l[extra.0] == extra.1)
                })
                .map(|x| x.1)
        };
        assert_eq!(v("http_requests_total", ("code", "200")), Some(90.0));
        assert_eq!(v("http_requests_total", ("code", "500")), Some(10.0));
        assert_eq!(v("http_request_duration_seconds_sum", ("", "")), Some(1.0));
        assert_eq!(
            v("http_request_duration_seconds_count", ("", "")),
            Some(100.0)
        );
        assert_eq!(
            v("http_request_duration_seconds_bucket", ("le", "+Inf")),
            Some(100.0)
        );
        assert_eq!(v("container_cpu_usage_seconds_total", ("", "")), Some(1.0));
        assert_eq!(v("container_memory_working_set_bytes", ("", "")), Some(1e8));
        assert_eq!(
            v("kube_pod_container_status_restarts_total", ("", "")),
            Some(2.0)
        );
        assert_eq!(v("kube_pod_status_ready", ("condition", "true")), Some(1.0));
        assert_eq!(pod_samples(&p).len(), 8 + LATENCY_BUCKETS.len() + 1);
    }

    #[test]
    fn ring_is_bounded_and_pods_go_stale() {
        let mut s = Store::new(5, 60);
        for i in 0..100 {
            s.scrape(i * 5000, &[pod("a", i as f64)]);
        }
        let max = s.series().map(|x| x.samples.len()).max().unwrap();
        assert!(max <= 13, "{max}");
        s.scrape(100 * 5000, &[pod("b", 1.0)]);
        let a = s
            .series()
            .find(|x| {
                x.labels["pod"] == "a" && x.labels.get("code").map(String::as_str) == Some("200")
            })
            .unwrap();
        assert_eq!(a.instant(99 * 5000).map(|x| x.1), Some(99.0 - 9.9));
        assert_eq!(a.instant(100 * 5000 + 1), None);
        assert!(!s.maybe_scrape(100 * 5000 + 10, &[]));
    }
}
