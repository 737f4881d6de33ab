//! A `TrafficSource` for tests: pods with a request rate and an error ratio, integrated on the real
//! clock (so the simulated servers and the real ones share one "now"), changeable while running.
use jiff::Timestamp;
use shipdeck::demo::traffic::{LATENCY_BUCKETS, PodTraffic, TrafficSource};
use std::sync::Mutex;

pub const MEMORY_BYTES: f64 = 104_857_600.0;
/// An app name that would break a naive template: quote, backslash.
pub const WEIRD_APP: &str = "we\"b\\x";

struct PodState {
    traffic: PodTraffic,
    rps: f64,
    error_ratio: f64,
    restarts_per_sec: f64,
    restarts: f64,
}

pub struct FakeTraffic {
    state: Mutex<(Timestamp, Vec<PodState>)>,
}

fn pod(namespace: &str, app: &str, name: &str) -> PodTraffic {
    PodTraffic {
        namespace: namespace.into(),
        pod: name.into(),
        app: app.into(),
        image: format!("{app}:1"),
        requests_total: 0.0,
        errors_total: 0.0,
        latency_bucket_counts: vec![0.0; LATENCY_BUCKETS.len() + 1],
        latency_sum_seconds: 0.0,
        cpu_seconds_total: 0.0,
        memory_bytes: MEMORY_BYTES,
        restarts: 0,
        ready: true,
    }
}

impl FakeTraffic {
    /// `web` in shop-green at 10 req/s with 10 % errors; `api` in shop-blue healthy; the weird app.
    pub fn new() -> Self {
        let mk = |ns, app, name, rps, err| PodState {
            traffic: pod(ns, app, name),
            rps,
            error_ratio: err,
            restarts_per_sec: 0.0,
            restarts: 0.0,
        };
        Self {
            state: Mutex::new((
                Timestamp::now(),
                vec![
                    mk("shop-green", "web", "web-1", 10.0, 0.1),
                    mk("shop-blue", "api", "api-1", 5.0, 0.0),
                    mk("shop-green", WEIRD_APP, "weird-1", 1.0, 0.0),
                ],
            )),
        }
    }

    pub fn set_error_ratio(&self, app: &str, ratio: f64) {
        let mut st = self.state.lock().unwrap();
        advance(&mut st);
        for p in st.1.iter_mut().filter(|p| p.traffic.app == app) {
            p.error_ratio = ratio;
        }
    }

    pub fn set_restarting(&self, app: &str, per_sec: f64) {
        let mut st = self.state.lock().unwrap();
        advance(&mut st);
        for p in st.1.iter_mut().filter(|p| p.traffic.app == app) {
            p.restarts_per_sec = per_sec;
        }
    }
}

fn advance(st: &mut (Timestamp, Vec<PodState>)) {
    let now = Timestamp::now();
    let dt = now.duration_since(st.0).as_secs_f64().max(0.0);
    st.0 = now;
    for p in &mut st.1 {
        let n = p.rps * dt;
        let t = &mut p.traffic;
        t.requests_total += n;
        t.errors_total += n * p.error_ratio;
        // Every request takes 20 ms: buckets from 0.025 s up hold them all.
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            if *b >= 0.025 {
                t.latency_bucket_counts[i] += n;
            }
        }
        let last = t.latency_bucket_counts.len() - 1;
        t.latency_bucket_counts[last] += n;
        t.latency_sum_seconds += n * 0.02;
        t.cpu_seconds_total += dt * 0.25;
        p.restarts += dt * p.restarts_per_sec;
        t.restarts = p.restarts as i32;
    }
}

impl TrafficSource for FakeTraffic {
    fn now(&self) -> Timestamp {
        let mut st = self.state.lock().unwrap();
        advance(&mut st);
        st.0
    }

    fn pods(&self) -> Vec<PodTraffic> {
        let mut st = self.state.lock().unwrap();
        advance(&mut st);
        st.1.iter().map(|p| p.traffic.clone()).collect()
    }
}
