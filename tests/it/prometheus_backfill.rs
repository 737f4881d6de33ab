//! The demo's simulated Prometheus starts with history: right after `Demo::start`, the console's
//! request-rate range query over the last 30 minutes is answered across the whole window, for the
//! default estate and a `--scale` one.
use shipdeck::backend::prometheus::{
    PrometheusClient, QueryData, default_queries, range_step, render_template,
};
use shipdeck::demo::{Demo, DemoOptions};
use std::time::Duration;

/// The console's default window (`[prometheus] window_secs`).
const WINDOW_SECS: f64 = 1800.0;

/// Asks what the Metrics pane asks (`backend::monitor::fetch`: step-aligned end, default window)
/// for `app` in `namespace`, and checks the answer covers the window.
async fn assert_full_window(demo: &Demo, app: &str, namespace: &str, env: &str) {
    let client =
        PrometheusClient::with_timeout(&demo.prometheus_url().unwrap(), Duration::from_secs(5));
    let template = default_queries()
        .into_iter()
        .find(|(name, _)| name == "requests")
        .unwrap()
        .1;
    let query = render_template(&template.query, app, namespace, env);
    let step = range_step(WINDOW_SECS, None);
    let now = demo.world().now().as_millisecond() as f64 / 1000.0;
    let end = (now / step).floor() * step;
    let start = end - WINDOW_SECS;
    let res = client.query_range(&query, start, end, step).await.unwrap();
    let QueryData::Matrix(rows) = res.data else {
        panic!("{query}: not a matrix: {:?}", res.data);
    };
    assert_eq!(rows.len(), 1, "{query}: {rows:?}");
    let points = &rows[0].values;
    let expected = (WINDOW_SECS / step) as usize + 1;
    assert!(
        points.len() as f64 >= 0.9 * expected as f64,
        "{query}: {} of {expected} points: {points:?}",
        points.len()
    );
    // Across the whole window, not bunched at its end, and all serving traffic.
    let first = points.first().unwrap().0;
    assert!(
        first <= start + 0.1 * WINDOW_SECS,
        "{query}: starts at {first}"
    );
    assert!(points.iter().all(|p| p.1 > 0.0), "{query}: {points:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_backfill_fills_the_console_window_at_once() {
    let demo = Demo::start(DemoOptions {
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    shipdeck::install_crypto();
    assert_full_window(&demo, "web", "shop-blue", "production").await;
    assert_full_window(&demo, "api", "shop-green", "staging").await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_backfill_fills_the_console_window_of_a_scaled_estate() {
    let demo = Demo::start(DemoOptions {
        scale: Some(3),
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    shipdeck::install_crypto();
    assert_full_window(&demo, "app-0002", "shop-develop", "develop").await;
    demo.shutdown().await;
}
