//! Alert rules of the simulated Alertmanager, evaluated on the world's traffic figures:
//! HighErrorRate (5xx ratio per app × namespace), PodCrashLooping (restarts rising), RolloutStuck
//! (two images side by side with a pod not ready, for a while).
use crate::demo::traffic::PodTraffic;
use std::collections::{BTreeMap, HashMap, VecDeque};

pub type Labels = BTreeMap<String, String>;

/// Thresholds and windows, in simulated seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    /// HighErrorRate fires above this 5xx ratio (0.05 = 5 %).
    pub error_ratio: f64,
    /// Window over which the ratio is computed.
    pub error_window_secs: i64,
    /// Fewer requests than this in the window never fire (an idle app is not failing).
    pub min_requests: f64,
    /// How long the ratio must stay above the threshold (Prometheus `for:`).
    pub error_for_secs: i64,
    /// Namespaces whose HighErrorRate is `critical`; elsewhere `warning`.
    pub critical_namespaces: Vec<String>,
    /// PodCrashLooping fires when restarts rose within this window.
    pub crashloop_window_secs: i64,
    /// RolloutStuck fires after a rollout (two images, a pod not ready) lasted this long.
    pub stuck_after_secs: i64,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            error_ratio: 0.05,
            error_window_secs: 120,
            min_requests: 1.0,
            error_for_secs: 30,
            critical_namespaces: vec!["shop-blue".into()],
            crashloop_window_secs: 600,
            stuck_after_secs: 300,
        }
    }
}

impl AlertRules {
    pub fn severity_for(&self, namespace: &str) -> &'static str {
        if self.critical_namespaces.iter().any(|n| n == namespace) {
            "critical"
        } else {
            "warning"
        }
    }
}

/// An alert a rule currently produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub labels: Labels,
    pub annotations: Labels,
    /// When the condition became true (ms); the alert's `startsAt`.
    pub active_at: i64,
}

/// Per app × namespace over the window: (Δrequests, Δerrors, images, any pod not ready).
type AppWindow = (f64, f64, Vec<String>, bool);

#[derive(Debug, Clone, Copy)]
struct Point {
    t: i64,
    requests: f64,
    errors: f64,
    restarts: f64,
}

/// Per-pod history plus the pending state of every rule instance.
#[derive(Debug, Default)]
pub struct RuleState {
    history: HashMap<(String, String), (PodTraffic, VecDeque<Point>)>,
    /// Fingerprint → when the condition was first seen true.
    pending: HashMap<String, i64>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl RuleState {
    /// Records the pods at `now` (ms) and returns the alerts firing now.
    pub fn evaluate(&mut self, rules: &AlertRules, now: i64, pods: &[PodTraffic]) -> Vec<Firing> {
        let keep = rules
            .error_window_secs
            .max(rules.crashloop_window_secs)
            .max(60)
            * 1000;
        for p in pods {
            let entry = self
                .history
                .entry((p.namespace.clone(), p.pod.clone()))
                .or_insert_with(|| (p.clone(), VecDeque::new()));
            entry.0 = p.clone();
            if entry.1.back().is_none_or(|b| b.t < now) {
                entry.1.push_back(Point {
                    t: now,
                    requests: p.requests_total,
                    errors: p.errors_total,
                    restarts: f64::from(p.restarts),
                });
            }
        }
        self.history.retain(|_, (_, h)| {
            while h.front().is_some_and(|f| f.t < now - keep) {
                h.pop_front();
            }
            h.back().is_some_and(|b| b.t == now)
        });

        let mut candidates: Vec<(Labels, Labels, i64)> = Vec::new();
        // (namespace, app) → (Δrequests, Δerrors, images, any pod not ready)
        let mut apps: BTreeMap<(String, String), AppWindow> = BTreeMap::new();
        for (pod, hist) in self.history.values() {
            let Some(last) = hist.back() else { continue };
            let delta = |from: i64, f: fn(&Point) -> f64| {
                let base = hist.iter().find(|p| p.t >= from).map(f).unwrap_or(0.0);
                let d = f(last) - base;
                // A counter that went down was reset: count from zero.
                if d < 0.0 { f(last) } else { d }
            };
            let a = apps
                .entry((pod.namespace.clone(), pod.app.clone()))
                .or_default();
            a.0 += delta(now - rules.error_window_secs * 1000, |p| p.requests);
            a.1 += delta(now - rules.error_window_secs * 1000, |p| p.errors);
            if !a.2.contains(&pod.image) {
                a.2.push(pod.image.clone());
            }
            a.3 |= !pod.ready;
            if delta(now - rules.crashloop_window_secs * 1000, |p| p.restarts) > 0.0 {
                candidates.push((
                    labels(&[
                        ("alertname", "PodCrashLooping"),
                        ("severity", "warning"),
                        ("namespace", &pod.namespace),
                        ("app", &pod.app),
                        ("pod", &pod.pod),
                    ]),
                    labels(&[
                        ("summary", &format!("Pod {} is crash looping", pod.pod)),
                        (
                            "description",
                            &format!(
                                "Pod {}/{} restarted {} times in total; restarts rose in the last {} s.",
                                pod.namespace, pod.pod, pod.restarts, rules.crashloop_window_secs
                            ),
                        ),
                    ]),
                    0,
                ));
            }
        }
        for ((ns, app), (req, err, images, not_ready)) in &apps {
            if *req >= rules.min_requests && err / req > rules.error_ratio {
                let pct = format!("{:.1}%", err / req * 100.0);
                candidates.push((
                    labels(&[
                        ("alertname", "HighErrorRate"),
                        ("severity", rules.severity_for(ns)),
                        ("namespace", ns),
                        ("app", app),
                    ]),
                    labels(&[
                        ("summary", &format!("{app} in {ns}: {pct} of requests fail")),
                        (
                            "description",
                            &format!(
                                "The 5xx ratio of {app} in {ns} is {pct} over the last {} s (threshold {:.1}%).",
                                rules.error_window_secs,
                                rules.error_ratio * 100.0
                            ),
                        ),
                    ]),
                    rules.error_for_secs * 1000,
                ));
            }
            if images.len() > 1 && *not_ready {
                candidates.push((
                    labels(&[
                        ("alertname", "RolloutStuck"),
                        ("severity", "warning"),
                        ("namespace", ns),
                        ("app", app),
                    ]),
                    labels(&[
                        (
                            "summary",
                            &format!("Rollout of {app} in {ns} is not progressing"),
                        ),
                        (
                            "description",
                            &format!(
                                "{app} runs {} images side by side with pods not ready for {} s.",
                                images.len(),
                                rules.stuck_after_secs
                            ),
                        ),
                    ]),
                    rules.stuck_after_secs * 1000,
                ));
            }
        }

        let mut out = Vec::new();
        let mut still = HashMap::new();
        for (l, a, for_ms) in candidates {
            let fp = fingerprint(&l);
            let since = self.pending.get(&fp).copied().unwrap_or(now);
            still.insert(fp, since);
            if now - since >= for_ms {
                out.push(Firing {
                    labels: l,
                    annotations: a,
                    active_at: since,
                });
            }
        }
        self.pending = still;
        out
    }
}

/// Alertmanager's fingerprint: FNV-1a 64 over sorted `name 0xff value 0xff`, as 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h: u64 = 14_695_981_039_346_656_037;
    let mut feed = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(1_099_511_628_211);
    };
    for (k, v) in labels {
        k.bytes().for_each(&mut feed);
        feed(0xff);
        v.bytes().for_each(&mut feed);
        feed(0xff);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str, req: f64, err: f64, restarts: i32) -> PodTraffic {
        PodTraffic {
            namespace: ns.into(),
            pod: name.into(),
            app: "web".into(),
            image: "web:1".into(),
            requests_total: req,
            errors_total: err,
            latency_bucket_counts: vec![],
            latency_sum_seconds: 0.0,
            cpu_seconds_total: 0.0,
            memory_bytes: 0.0,
            restarts,
            ready: true,
        }
    }

    #[test]
    fn error_rate_fires_after_for_with_severity_by_namespace() {
        let rules = AlertRules::default();
        let mut st = RuleState::default();
        let mut fired = Vec::new();
        for i in 0..=10 {
            let t = i * 5000;
            let f = i as f64;
            fired = st.evaluate(
                &rules,
                t,
                &[
                    pod("shop-blue", "a", 100.0 * f, 10.0 * f, 0),
                    pod("shop-green", "b", 100.0 * f, 1.0 * f, 0),
                ],
            );
            if i < 6 {
                assert!(fired.is_empty(), "fired early at {i}: {fired:?}");
            }
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].labels["severity"], "critical");
        assert_eq!(fired[0].labels["namespace"], "shop-blue");
        assert_eq!(fired[0].active_at, 5000);
    }

    #[test]
    fn rollout_stuck_needs_two_images_and_a_pod_not_ready_for_a_while() {
        let rules = AlertRules {
            stuck_after_secs: 60,
            ..Default::default()
        };
        let mut st = RuleState::default();
        let mut new = pod("n", "b", 0.0, 0.0, 0);
        new.image = "web:2".into();
        new.ready = false;
        let pods = [pod("n", "a", 0.0, 0.0, 0), new];
        assert!(st.evaluate(&rules, 0, &pods).is_empty());
        assert!(st.evaluate(&rules, 59_000, &pods).is_empty());
        let f = st.evaluate(&rules, 60_000, &pods);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].labels["alertname"], "RolloutStuck");
        // Ready again: resolved, and the clock starts over.
        let mut ready = pods.clone();
        ready[1].ready = true;
        assert!(st.evaluate(&rules, 61_000, &ready).is_empty());
        assert!(st.evaluate(&rules, 62_000, &pods).is_empty());
    }

    #[test]
    fn crashloop_and_fingerprint() {
        let rules = AlertRules::default();
        let mut st = RuleState::default();
        st.evaluate(&rules, 0, &[pod("n", "a", 0.0, 0.0, 1)]);
        let f = st.evaluate(&rules, 5000, &[pod("n", "a", 0.0, 0.0, 2)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].labels["alertname"], "PodCrashLooping");
        // Same value as Prometheus' model.LabelsToSignature for {a="b"}.
        assert_eq!(fingerprint(&labels(&[("a", "b")])).len(), 16);
        assert_ne!(
            fingerprint(&labels(&[("a", "b")])),
            fingerprint(&labels(&[("a", "c")]))
        );
    }
}
