//! Prometheus client contract: the same assertions against the simulated Prometheus and the real
//! Prometheus 2.42; bad answers (proxy 502, bad_data, timeout, garbage) become typed errors.
use crate::support_real_servers::{eventually, start_stack};
use crate::support_traffic::{FakeTraffic, MEMORY_BYTES, WEIRD_APP};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use jiff::Timestamp;
use shipdeck::backend::monitor::{
    MetricsPollSettings, MonitorEvent, spawn_metrics_poller, spawn_metrics_poller_with,
};
use shipdeck::backend::prometheus::{
    PromError, PrometheusClient, PrometheusConfig, QueryData, default_queries, render_template,
};
use shipdeck::clock::Clock;
use shipdeck::demo::prometheus::{PromSimOptions, start_prometheus_with};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MEM: &str = r#"sum(container_memory_working_set_bytes{namespace="{namespace}",app="{app}"})"#;

fn vector(
    r: Result<shipdeck::backend::prometheus::QueryResult, PromError>,
) -> Vec<(f64, std::collections::BTreeMap<String, String>)> {
    match r.unwrap().data {
        QueryData::Vector(v) => v.into_iter().map(|s| (s.v, s.metric)).collect(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

/// The assertions every Prometheus must pass, simulated or real.
async fn contract(client: &PrometheusClient, logs: &(dyn Fn() -> String + Sync)) {
    assert!(client.ready().await.unwrap());
    let mem = render_template(MEM, "web", "shop-green", "staging");
    let v = eventually(
        Duration::from_secs(25),
        "the first scrape",
        logs,
        || async {
            let v = vector(client.query(&mem, None).await);
            (!v.is_empty()).then_some(v)
        },
    )
    .await;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, MEMORY_BYTES);

    // An app name with `"` and `\` is escaped: it matches exactly the series with that label value.
    let weird = render_template(
        r#"container_memory_working_set_bytes{app="{app}"}"#,
        WEIRD_APP,
        "shop-green",
        "staging",
    );
    let v = vector(client.query(&weird, None).await);
    assert_eq!(v.len(), 1, "{weird}: {v:?}");
    assert_eq!(v[0].1["app"], WEIRD_APP);
    // And an injection attempt is just an app that does not exist.
    let inject = render_template(
        MEM,
        r#"web"}) or vector(1) or sum(up{a=""#,
        "shop-green",
        "x",
    );
    assert!(vector(client.query(&inject, None).await).is_empty());

    // Every default query answers once two scrapes are in; values as the target exposes them.
    let qs: Vec<String> = default_queries()
        .iter()
        .map(|(_, q)| render_template(&q.query, "web", "shop-green", "staging"))
        .collect();
    let values = eventually(Duration::from_secs(25), "rates", logs, || async {
        let mut out = Vec::new();
        for q in &qs {
            let v = vector(client.query(q, None).await);
            out.push(v.first().map(|s| s.0)?);
        }
        Some(out)
    })
    .await;
    let [req, err, p99, cpu, mem_v] = values[..] else {
        panic!("{values:?}")
    };
    // [1m] windows are not full yet: rates are low but there; the ratio and quantile are not.
    assert!(req > 0.0, "req/s {req}");
    assert!((0.05..0.2).contains(&err), "error ratio {err}");
    assert!(p99 > 0.01 && p99 <= 0.025, "p99 {p99}");
    assert!(cpu > 0.0, "cpu {cpu}");
    let short = render_template(
        r#"sum(rate(http_requests_total{namespace="{namespace}",app="{app}"}[5s]))"#,
        "web",
        "shop-green",
        "staging",
    );
    let rate = eventually(Duration::from_secs(10), "a 5 s rate", logs, || async {
        let v = vector(client.query(&short, None).await);
        v.first().map(|s| s.0).filter(|v| *v > 5.0)
    })
    .await;
    assert!((5.0..15.0).contains(&rate), "req/s {rate}");
    assert_eq!(mem_v, MEMORY_BYTES);

    // Scalars, NaN and ±Inf.
    match client.query("1 + 1", None).await.unwrap().data {
        QueryData::Scalar { v, .. } => assert_eq!(v, 2.0),
        other => panic!("{other:?}"),
    }
    match client.query("0 / 0", None).await.unwrap().data {
        QueryData::Scalar { v, .. } => assert!(v.is_nan()),
        other => panic!("{other:?}"),
    }
    let inf = vector(client.query("vector(1) / 0", None).await);
    assert_eq!(inf[0].0, f64::INFINITY);
    let ninf = vector(client.query("vector(-1) / 0", None).await);
    assert_eq!(ninf[0].0, f64::NEG_INFINITY);

    // Ranges; a 30-day range at 1 s steps is raised under the 11,000-point limit instead of a 400.
    let now = Timestamp::now().as_second() as f64;
    match client
        .query_range(&mem, now - 60.0, now, 1.0)
        .await
        .unwrap()
        .data
    {
        QueryData::Matrix(m) => {
            assert_eq!(m.len(), 1);
            assert!(!m[0].values.is_empty());
            assert!(m[0].values.iter().all(|(_, v)| *v == MEMORY_BYTES));
        }
        other => panic!("{other:?}"),
    }
    let long = client
        .query_range(&mem, now - 30.0 * 86_400.0, now, 1.0)
        .await;
    assert!(matches!(long.unwrap().data, QueryData::Matrix(_)));

    // A long query goes as a POST form.
    let alternatives: Vec<String> = (0..300).map(|i| format!("app-{i}")).collect();
    let long_q = format!(
        r#"sum(container_memory_working_set_bytes{{namespace="shop-green",app=~"web|{}"}})"#,
        alternatives.join("|")
    );
    assert!(long_q.len() > 2000);
    assert_eq!(vector(client.query(&long_q, None).await)[0].0, MEMORY_BYTES);

    // Errors in Prometheus's own shape.
    match client.query("sum(", None).await {
        Err(PromError::BadData(m)) => assert!(m.contains("invalid parameter"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// The poller delivers a snapshot with every default row filled.
async fn poller_contract(client: PrometheusClient, logs: &(dyn Fn() -> String + Sync)) {
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let settings = MetricsPollSettings {
        interval: Duration::from_millis(500),
        window_secs: 300,
        queries: PrometheusConfig::new("unused").effective_queries(),
        clock: Clock::System,
    };
    let handle = spawn_metrics_poller_with(client, settings, tx, cancel.clone());
    let generation = handle.select("web", "staging", "shop-green");
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    let snap = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(MonitorEvent::Metrics { snapshot, .. }))
                if snapshot
                    .series
                    .iter()
                    .all(|s| s.current().is_some_and(|v| v > 0.0)) =>
            {
                break snapshot;
            }
            Ok(Some(_)) => {}
            _ => panic!("no full snapshot within 25 s\n{}", logs()),
        }
    };
    cancel.cancel();
    assert_eq!(snap.generation, generation);
    assert_eq!((snap.app.as_str(), snap.env.as_str()), ("web", "staging"));
    let keys: Vec<&str> = snap.series.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["requests", "errors", "latency_p99", "cpu", "memory"]);
    assert!(snap.series.iter().all(|s| s.error.is_none()));
}

async fn sim() -> shipdeck::demo::prometheus::SimServerHandle {
    let opts = PromSimOptions {
        scrape_secs: 1,
        tick: Duration::from_millis(100),
        ..Default::default()
    };
    start_prometheus_with(
        Arc::new(FakeTraffic::new()),
        "127.0.0.1:0".parse().unwrap(),
        opts,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_simulated_prometheus() {
    let server = sim().await;
    let client = PrometheusClient::with_timeout(&server.url(), Duration::from_secs(5));
    contract(&client, &|| "simulated".into()).await;
    poller_contract(client, &|| "simulated".into()).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_real_prometheus() {
    let stack = start_stack(false).await;
    let client = PrometheusClient::with_timeout(&stack.prometheus_url(), Duration::from_secs(5));
    let logs = || stack.logs();
    contract(&client, &logs).await;
    poller_contract(client, &logs).await;
}

#[tokio::test]
async fn simulated_prometheus_speaks_prometheus_errors() {
    let server = sim().await;
    let client = PrometheusClient::with_timeout(&server.url(), Duration::from_secs(5));
    match client.query("topk(1, http_requests_total)", None).await {
        Err(PromError::Api { error_type, .. }) => assert_eq!(error_type, "execution"),
        other => panic!("{other:?}"),
    }
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{}/api/v1/query_range?query=up&start=10&end=200000&step=1",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorType"], "bad_data");
    let series: serde_json::Value = http
        .get(format!(
            "{}/api/v1/series?match[]=http_requests_total{{app=\"web\"}}",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(series["data"].as_array().unwrap().len(), 2, "{series}");
}

/// A server answering like the things in front of Prometheus do when they fail.
async fn hostile_server() -> String {
    let app = Router::new()
        .route(
            "/proxy/{*rest}",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>") }),
        )
        .route(
            "/baddata/api/v1/query",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#,
                )
            }),
        )
        .route(
            "/exec/api/v1/query",
            get(|| async {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    r#"{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}"#,
                )
            }),
        )
        .route(
            "/slow/api/v1/query",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "{}"
            }),
        )
        .route("/garbage/api/v1/query", get(|| async { "\u{1b}[31mnot json" }))
        .route(
            "/warn/api/v1/query",
            get(|| async {
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"NaN"]}]},"warnings":["partial data"]}"#
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn bad_answers_become_typed_errors() {
    let base = hostile_server().await;
    let c = |p: &str| {
        PrometheusClient::with_timeout(&format!("{base}/{p}"), Duration::from_millis(400))
    };
    match c("proxy").query("up", None).await {
        Err(PromError::Http { status, body }) => {
            assert_eq!(status, 502);
            assert!(body.contains("502 Bad Gateway"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    match c("baddata").query("up", None).await {
        Err(PromError::BadData(m)) => assert!(m.contains("unclosed left parenthesis")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c("exec").query("up", None).await,
        Err(PromError::Api { ref error_type, .. }) if error_type == "execution"
    ));
    let started = std::time::Instant::now();
    assert_eq!(c("slow").query("up", None).await, Err(PromError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(
        c("garbage").query("up", None).await,
        Err(PromError::Decode(_))
    ));
    let ok = c("warn").query("up", None).await.unwrap();
    assert_eq!(ok.warnings, ["partial data"]);
    // A closed port.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let r = PrometheusClient::with_timeout(&closed, Duration::from_secs(2))
        .query("up", None)
        .await;
    assert!(matches!(r, Err(PromError::Unreachable(_))), "{r:?}");
}

#[tokio::test]
async fn poller_reports_failures_and_drops_stale_selections() {
    let base = hostile_server().await;
    let mut cfg = PrometheusConfig::new(format!("{base}/proxy"));
    cfg.interval_secs = 1;
    cfg.timeout_secs = 1;
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let handle = spawn_metrics_poller(&cfg, tx, cancel.clone()).unwrap();
    handle.select("web", "staging", "shop-green");
    let g2 = handle.select("api", "production", "shop-blue");
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        MonitorEvent::MetricsFailed {
            app,
            generation,
            error,
            ..
        } => {
            assert_eq!((app.as_str(), generation), ("api", g2));
            assert!(error.contains("502"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // The same failure again is not re-sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), rx.recv())
            .await
            .is_err()
    );
    cancel.cancel();
}

#[test]
fn escaping_keeps_the_query_shape() {
    use promql_parser::parser::{Expr, parse};
    for app in [
        r#"a"b\c"#,
        "line\nbreak",
        r#"web"}) or vector(1) or sum(up{a=""#,
        r#"\"#,
    ] {
        let q = render_template(
            r#"sum(rate(http_requests_total{namespace="{namespace}",app="{app}"}[1m]))"#,
            app,
            "shop-green",
            "staging",
        );
        let expr = parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let Expr::Aggregate(agg) = expr else {
            panic!("{q} parsed as another shape")
        };
        let Expr::Call(call) = *agg.expr else {
            panic!("{q}")
        };
        let Expr::MatrixSelector(ms) = &*call.args.args[0] else {
            panic!("{q}")
        };
        let m = &ms.vs.matchers.matchers;
        assert_eq!(m.len(), 2, "{q}");
        assert_eq!(m.iter().find(|m| m.name == "app").unwrap().value, app);
        assert_eq!(
            m.iter().find(|m| m.name == "namespace").unwrap().value,
            "shop-green"
        );
    }
}

#[test]
fn config_sections_parse_and_merge_over_the_defaults() {
    let text = r#"
[[environments]]
name = "production"
namespace = "shop-blue"

[prometheus]
url = "http://127.0.0.1:9090"
token_env = "PROM_TOKEN"
interval_secs = 5

[prometheus.queries.errors]
label = "errors"
query = 'sum(rate(http_requests_total{app="{app}",code=~"5.."}[5m]))'
unit = "req_per_sec"
order = 15

[prometheus.queries.memory]
label = "mem"
query = ""

[alertmanager]
url = "http://127.0.0.1:9093"
filter = ['team="shop"']
"#;
    let cfg = shipdeck::config::Config::parse(text, std::path::Path::new("t.toml")).unwrap();
    let p = cfg.prometheus.unwrap();
    assert_eq!(
        (p.interval_secs, p.timeout_secs, p.window_secs),
        (5, 10, 1800)
    );
    let rows: Vec<(String, String)> = p
        .effective_queries()
        .into_iter()
        .map(|(k, q)| (k, q.label))
        .collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys, ["requests", "errors", "latency_p99", "cpu"]);
    assert_eq!(rows[1].1, "errors");
    let a = cfg.alertmanager.unwrap();
    assert_eq!(a.filter, ["team=\"shop\""]);
    let bad = shipdeck::config::Config::parse(
        "[[environments]]\nname='p'\nnamespace='n'\n[prometheus]\nurl='x'\nbogus=1\n",
        std::path::Path::new("t.toml"),
    );
    assert!(bad.unwrap_err().to_string().contains("bogus"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_error_ratio_rises_after_a_bad_release() {
    let world = Arc::new(FakeTraffic::new());
    let opts = PromSimOptions {
        scrape_secs: 1,
        tick: Duration::from_millis(100),
        ..Default::default()
    };
    let server = start_prometheus_with(world.clone(), "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let client = PrometheusClient::with_timeout(&server.url(), Duration::from_secs(5));
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let settings = MetricsPollSettings {
        interval: Duration::from_millis(300),
        window_secs: 120,
        queries: PrometheusConfig::new("unused").effective_queries(),
        clock: Clock::System,
    };
    let handle = spawn_metrics_poller_with(client, settings, tx, cancel.clone());
    handle.select("api", "production", "shop-blue");
    let error_ratio = |e: &MonitorEvent| match e {
        MonitorEvent::Metrics { snapshot, .. } => snapshot
            .series
            .iter()
            .find(|s| s.key == "errors")
            .and_then(|s| s.current()),
        _ => None,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut healthy = false;
    loop {
        let ev = tokio::time::timeout(deadline - std::time::Instant::now(), rx.recv())
            .await
            .expect("error ratio never rose")
            .unwrap();
        match error_ratio(&ev) {
            Some(r) if r == 0.0 && !healthy => {
                healthy = true;
                world.set_error_ratio("api", 0.5);
            }
            Some(r) if healthy && r > 0.2 => break,
            _ => {}
        }
    }
    cancel.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_poller_skips_unchanged_results() {
    let server = sim().await;
    // Let a few scrapes land, then freeze the poller's clock in the past: every poll asks the same.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let clock = Clock::fixed(Timestamp::now() - jiff::SignedDuration::from_secs(1));
    let client = PrometheusClient::with_timeout(&server.url(), Duration::from_secs(5));
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let settings = MetricsPollSettings {
        interval: Duration::from_millis(100),
        window_secs: 120,
        queries: PrometheusConfig::new("unused").effective_queries(),
        clock,
    };
    let handle = spawn_metrics_poller_with(client, settings, tx, cancel.clone());
    handle.select("web", "staging", "shop-green");
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, MonitorEvent::Metrics { .. }), "{first:?}");
    assert!(
        tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .is_err()
    );
    // Hidden, it asks nothing, even on a new selection; shown again, it answers at once.
    handle.set_visible(false);
    handle.select("web", "production", "shop-blue");
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.recv())
            .await
            .is_err()
    );
    handle.set_visible(true);
    let shown = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(shown, MonitorEvent::Metrics { ref snapshot, .. } if snapshot.env == "production")
    );
    // A new selection is news again.
    handle.select("api", "production", "shop-blue");
    let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(next, MonitorEvent::Metrics { ref snapshot, .. } if snapshot.app == "api"));
    cancel.cancel();
}
