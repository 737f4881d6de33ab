//! Differential test: the simulated Prometheus and the real one scrape the same world (the real one
//! through `/metrics` in text exposition, the simulation directly) and must give the same answers.
use crate::support_real_servers::{eventually, start_stack_with};
use crate::support_traffic::FakeTraffic;
use jiff::Timestamp;
use shipdeck::backend::prometheus::{PrometheusClient, QueryData};
use shipdeck::demo::prometheus::exposition::exposition;
use shipdeck::demo::prometheus::{PromSimOptions, start_prometheus_with};
use shipdeck::demo::traffic::TrafficSource;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

type Rows = Vec<(BTreeMap<String, String>, f64)>;

/// (query, relative tolerance): exact for gauges, loose for rates whose samples were taken at
/// different instants by the two scrapers.
const CASES: &[(&str, f64)] = &[
    ("sum(container_memory_working_set_bytes)", 0.0),
    (
        "sum by (namespace) (container_memory_working_set_bytes)",
        0.0,
    ),
    (
        "count without (pod) (container_memory_working_set_bytes)",
        0.0,
    ),
    ("max by (app) (kube_pod_status_ready)", 0.0),
    (
        r#"container_memory_working_set_bytes{app=~"we.*"} / 1024 / 1024"#,
        0.0,
    ),
    (
        r#"container_memory_working_set_bytes{app!~"a.*",namespace!="shop-blue"}"#,
        0.0,
    ),
    ("avg(container_memory_working_set_bytes)", 0.0),
    ("min by (app) (container_memory_working_set_bytes) - 1", 0.0),
    ("-sum(container_memory_working_set_bytes)", 0.0),
    ("sum(container_memory_working_set_bytes) > bool 1e12", 0.0),
    (
        "container_memory_working_set_bytes and on (pod) kube_pod_status_ready == 1",
        0.0,
    ),
    (
        "container_memory_working_set_bytes unless ignoring (container) kube_pod_status_ready",
        0.0,
    ),
    ("count(http_requests_total) or vector(0)", 0.0),
    ("count without (code) (http_requests_total)", 0.0),
    ("scalar(sum(container_memory_working_set_bytes)) * 2", 0.0),
    ("kube_pod_container_status_restarts_total", 0.0),
    (
        r#"absent(no_such_metric{app="web",namespace=~"shop.*"})"#,
        0.0,
    ),
    ("sqrt(sum(container_memory_working_set_bytes))", 0.0),
    (
        "log10(container_memory_working_set_bytes{pod=\"web-1\"})",
        0.0,
    ),
    (
        "container_memory_working_set_bytes * on (namespace, pod) group_left (condition) kube_pod_status_ready",
        0.0,
    ),
    (
        "sum by (namespace) (kube_pod_status_ready) / on (namespace) group_right container_memory_working_set_bytes",
        0.0,
    ),
    (
        "sum by (namespace, app) (rate(http_requests_total[5s]))",
        0.15,
    ),
    (
        r#"sum by (namespace, app) (rate(http_requests_total{code=~"5.."}[5s])) / sum by (namespace, app) (rate(http_requests_total[5s]))"#,
        0.01,
    ),
    (
        "histogram_quantile(0.9, sum by (le, app) (rate(http_request_duration_seconds_bucket[5s])))",
        0.01,
    ),
    ("sum(irate(container_cpu_usage_seconds_total[5s]))", 0.15),
    (
        r#"increase(http_requests_total{code="200",app="web"}[5s])"#,
        0.2,
    ),
];

fn rows(d: QueryData) -> Rows {
    let mut r: Rows = match d {
        QueryData::Vector(v) => v
            .into_iter()
            .map(|s| {
                let mut m = s.metric;
                // The scrapers' own labels differ (job names, instance): not part of the answer.
                m.remove("job");
                m.remove("instance");
                (m, s.v)
            })
            .collect(),
        QueryData::Scalar { v, .. } => vec![(BTreeMap::new(), v)],
        other => panic!("unexpected {other:?}"),
    };
    r.sort_by(|a, b| a.0.cmp(&b.0));
    r
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * a.abs().max(b.abs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_prometheus_answers_like_the_real_one() {
    let world = Arc::new(FakeTraffic::new());
    let w = world.clone();
    let stack = start_stack_with(Arc::new(move || exposition(&w.pods())), false).await;
    let opts = PromSimOptions {
        scrape_secs: 1,
        tick: Duration::from_millis(100),
        ..Default::default()
    };
    let sim = start_prometheus_with(world.clone(), "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let real = PrometheusClient::with_timeout(&stack.prometheus_url(), Duration::from_secs(5));
    let simulated = PrometheusClient::with_timeout(&sim.url(), Duration::from_secs(5));
    let logs = || stack.logs();
    // Both need a few seconds of samples for the [5s] windows.
    let history = r#"count_over_time(container_memory_working_set_bytes{app="web"}[1m])"#;
    eventually(
        Duration::from_secs(30),
        "7 s of real samples",
        logs,
        || async {
            match real.query(history, None).await.ok()?.data {
                QueryData::Vector(v) => v.first().filter(|s| s.v >= 7.0).map(|_| ()),
                _ => None,
            }
        },
    )
    .await;
    let at = Timestamp::now().as_millisecond() as f64 / 1000.0;
    let mut failures = Vec::new();
    for (q, tol) in CASES {
        let r = rows(
            real.query(q, Some(at))
                .await
                .unwrap_or_else(|e| panic!("real: {q}: {e}"))
                .data,
        );
        let s = rows(
            simulated
                .query(q, Some(at))
                .await
                .unwrap_or_else(|e| panic!("sim: {q}: {e}"))
                .data,
        );
        let same = r.len() == s.len()
            && r.iter()
                .zip(&s)
                .all(|(a, b)| a.0 == b.0 && close(a.1, b.1, *tol));
        assert!(!r.is_empty(), "{q}: the real Prometheus returned nothing");
        if !same {
            failures.push(format!("{q}\n  real: {r:?}\n  sim:  {s:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    sim.shutdown().await;
}
