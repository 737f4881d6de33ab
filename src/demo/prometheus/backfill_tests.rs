//! Tests of the simulated Prometheus's backfill: a fresh store holds the console's whole window,
//! counters run on across the backfill/live boundary, and the history is a function of the world.
use super::eval;
use super::store::{Labels, Store};
use crate::demo::traffic::{HISTORY_SECS, PodTraffic, TrafficSource};
use crate::demo::world::traffic::TrafficTable;
use jiff::Timestamp;
use std::sync::Mutex;

/// 2026-01-01T00:00:00Z, ms.
const T0: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;
const REQ_RATE: &str = r#"sum(rate(http_requests_total{namespace="ns",app="web"}[1m]))"#;

/// The world's traffic table on a hand-moved clock.
struct Estate {
    table: TrafficTable,
    now: Mutex<i64>,
}

impl Estate {
    fn set_now(&self, t: i64) {
        *self.now.lock().unwrap() = t;
    }
}

impl TrafficSource for Estate {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(*self.now.lock().unwrap()).unwrap()
    }
    fn pods(&self) -> Vec<PodTraffic> {
        self.table.snapshot(*self.now.lock().unwrap())
    }
    fn pods_at(&self, at_ms: i64) -> Vec<PodTraffic> {
        self.table.snapshot_at(at_ms)
    }
}

/// Two steady web pods for 2 h; a third that crash-looped for a while 20 min ago; a bad release
/// replaced one pod 8 min ago (so its siblings were degraded since). Now is `T0`.
fn estate() -> Estate {
    let t = TrafficTable::default();
    let start = |name: &str, bad: bool, at: i64| {
        let k = format!("ns/{name}");
        t.start(&k, "ns", name, "web", "r/web:1", bad, at);
        t.set_state(&k, true, 0, at);
    };
    start("web-a", false, T0 - 120 * MIN);
    start("web-b", false, T0 - 120 * MIN);
    start("web-c", false, T0 - 120 * MIN);
    t.set_state(&"ns/web-c".to_string(), false, 1, T0 - 20 * MIN);
    t.set_state(&"ns/web-c".to_string(), true, 1, T0 - 17 * MIN);
    t.remove(&"ns/web-b".to_string(), T0 - 8 * MIN);
    start("web-d", true, T0 - 8 * MIN);
    Estate {
        table: t,
        now: Mutex::new(T0),
    }
}

/// A Prometheus started at `T0` on `e`: backfilled, then one live scrape.
fn started(e: &Estate, scrape_secs: i64, retention_secs: i64) -> Store {
    let mut s = Store::new(scrape_secs, retention_secs);
    let n = s.backfill(T0, HISTORY_SECS * 1000, |t| e.pods_at(t));
    assert_eq!(
        n as i64,
        (HISTORY_SECS.min(retention_secs) / scrape_secs),
        "scrapes"
    );
    assert!(s.due(T0));
    s.scrape(T0, &e.pods());
    s
}

fn range(s: &Store, q: &str, start: i64, end: i64, step: i64) -> Vec<eval::RangeRow> {
    eval::range(s, &eval::parse(q).unwrap(), start, end, step).unwrap()
}

fn is_counter(l: &Labels) -> bool {
    let name = &l["__name__"];
    name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count")
}

#[test]
fn a_fresh_store_answers_the_console_window() {
    let e = estate();
    for (scrape, retention) in [(5, 7200), (15, 1800)] {
        let s = started(&e, scrape, retention);
        // The console's default query: 30 min ending now, 15 s step (`range_step(1800)`).
        let rows = range(&s, REQ_RATE, T0 - 30 * MIN, T0, 15_000);
        assert_eq!(rows.len(), 1);
        let pts = &rows[0].points;
        assert!(pts.len() >= 120, "{scrape}s: {} points", pts.len());
        assert!(
            pts[0].0 <= T0 - 29 * MIN && pts.last().unwrap().0 == T0,
            "{pts:?}"
        );
        // Two, then three pods of 40 req/s each (the bad one at half rate), give or take the wave.
        assert!(pts.iter().all(|p| (40.0..170.0).contains(&p.1)), "{pts:?}");
        // Every default query has points across the window, even p99's 5-minute rate.
        for (_, _, q, _) in crate::backend::prometheus::DEFAULT_QUERIES {
            let q = q.replace("{namespace}", "ns").replace("{app}", "web");
            let rows = range(&s, &q, T0 - 30 * MIN, T0, 15_000);
            let n = rows.first().map_or(0, |r| r.points.len());
            assert!(n >= 110, "{scrape}s: {q}: {n} points");
        }
    }
    // A pod's past states are its own: web-c served, stopped while crash-looping, served again.
    let s = started(&e, 5, 7200);
    let c = r#"sum(rate(http_requests_total{pod="web-c"}[1m]))"#;
    let at = |t: i64| range(&s, c, t, t, 1000)[0].points[0].1;
    assert!(at(T0 - 25 * MIN) > 20.0, "{}", at(T0 - 25 * MIN));
    assert_eq!(at(T0 - 18 * MIN), 0.0);
    assert!(at(T0 - 15 * MIN) > 20.0, "{}", at(T0 - 15 * MIN));
    // The pod replaced 8 min ago is in the history until then, and stale after.
    let s = started(&e, 5, 7200);
    let b = r#"http_requests_total{pod="web-b",code="200"}"#;
    let rows = range(&s, b, T0 - 30 * MIN, T0, 60_000);
    let last = rows[0].points.last().unwrap().0;
    assert!((T0 - 9 * MIN..T0 - 7 * MIN).contains(&last), "{last}");
}

#[test]
fn rate_runs_on_across_the_boundary() {
    let e = estate();
    let mut s = started(&e, 5, 7200);
    // Keep scraping live for 10 min after the start.
    for i in 1..=120 {
        e.set_now(T0 + i * 5000);
        assert!(s.maybe_scrape(T0 + i * 5000, &e.pods()));
    }
    // Raw counters never go down, backfilled or live.
    for series in s.series().filter(|x| is_counter(&x.labels)) {
        let v: Vec<f64> = series.samples.iter().map(|x| x.1).collect();
        assert!(
            v.windows(2).all(|w| w[1] >= w[0]),
            "{:?} decreases",
            series.labels
        );
    }
    // Per pod, the 1-minute rate 5 min either side of the start is positive and has no step at the
    // boundary: neighbouring points differ by a few per cent (the wave and the noise), no more.
    let q = r#"rate(http_requests_total{pod=~"web-a|web-c|web-d",code="200"}[1m])"#;
    let rows = range(&s, q, T0 - 5 * MIN, T0 + 5 * MIN, 5000);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.points.len(), 121, "{:?}", r.labels);
        for w in r.points.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            assert!(a > 0.0 && b > 0.0, "{:?}: {w:?}", r.labels);
            assert!(
                (b / a - 1.0).abs() < 0.05,
                "{:?}: a step at {w:?}",
                r.labels
            );
        }
    }
}

#[test]
fn the_history_is_a_function_of_the_world() {
    let dump = |s: &Store| {
        let mut v: Vec<(Labels, Vec<(i64, f64)>)> = s
            .series()
            .map(|x| (x.labels.clone(), x.samples.iter().copied().collect()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let a = dump(&started(&estate(), 5, 7200));
    let b = dump(&started(&estate(), 5, 7200));
    assert_eq!(a, b);
    assert!(a.iter().all(|(_, x)| !x.is_empty()));
    // The backfill holds exactly what scraping the past one interval at a time would.
    let e = estate();
    let mut scraped = Store::new(5, 7200);
    for k in (1..=HISTORY_SECS / 5).rev() {
        scraped.scrape(T0 - k * 5000, &e.pods_at(T0 - k * 5000));
    }
    scraped.scrape(T0, &e.pods());
    let filled = started(&e, 5, 7200);
    assert_eq!(dump(&scraped), a);
    let stale = |s: &Store| {
        let mut v: Vec<(Labels, Option<i64>)> =
            s.series().map(|x| (x.labels.clone(), x.stale_at)).collect();
        v.sort();
        v
    };
    assert_eq!(stale(&scraped), stale(&filled));
    assert!(
        stale(&filled)
            .iter()
            .any(|(_, at)| *at == Some(T0 - 8 * MIN))
    );
    // A store started later, at a live scrape's time, agrees with the one scraping all along.
    let e = estate();
    let mut live = started(&e, 5, 7200);
    e.set_now(T0 + 5000);
    live.scrape(T0 + 5000, &e.pods());
    let mut late = Store::new(5, 7200);
    late.backfill(T0 + 5000, HISTORY_SECS * 1000, |t| e.pods_at(t));
    late.scrape(T0 + 5000, &e.pods());
    let (live, late) = (dump(&live), dump(&late));
    for (labels, samples) in &late {
        let (_, all) = live.iter().find(|(l, _)| l == labels).unwrap();
        assert!(all.ends_with(samples), "{labels:?}");
    }
}
