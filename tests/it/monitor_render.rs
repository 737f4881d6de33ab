//! Snapshots of the Metrics and Alerts panes (data, NaN, no data, stale; firing, silenced, none,
//! stale), with hostile strings in labels and annotations, and the full chart.
use jiff::{SignedDuration, Timestamp};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use shipdeck::model::Fresh;
use shipdeck::model::alerts::{
    Alert, AlertState, AlertStatus, AlertsSnapshot, Receiver, Silence, SilenceMatcher,
    SilenceState, SilenceStatus,
};
use shipdeck::model::metrics::{MetricSeries, MetricsSnapshot, Unit};
use shipdeck::ui::alerts::{AlertsPaneData, render_alerts, visible_alerts};
use shipdeck::ui::metrics::{ChartData, MetricsPaneData, render_metric_chart, render_metrics};
use std::collections::BTreeMap;
use std::sync::Arc;

fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn ago(secs: i64) -> Timestamp {
    now() - SignedDuration::from_secs(secs)
}

fn draw(w: u16, h: u16, f: impl FnOnce(&mut ratatui::Frame)) -> (String, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(f).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    (out, buf)
}

fn series(key: &str, label: &str, unit: Unit, f: impl Fn(usize) -> f64) -> MetricSeries {
    let end = now().as_second() as f64;
    MetricSeries {
        key: key.into(),
        label: label.into(),
        unit,
        points: (0..120)
            .map(|i| (end - 1800.0 + i as f64 * 15.0 + 15.0, f(i)))
            .collect(),
        error: None,
    }
}

fn metrics_snapshot() -> MetricsSnapshot {
    let mut nan = series("latency_p99", "p99", Unit::Millis, |i| {
        0.2 + i as f64 * 0.001
    });
    nan.points.last_mut().unwrap().1 = f64::NAN;
    let mut empty = series("cpu", "cpu", Unit::Cores, |_| 0.0);
    empty.points.clear();
    let mut failed = series("memory", "mem\u{1b}]0;pwned\u{7}", Unit::Mib, |_| 0.0);
    failed.points.clear();
    failed.error = Some("bad query: 1:5: parse error: unclosed left parenthesis".into());
    MetricsSnapshot {
        app: "web".into(),
        env: "production".into(),
        namespace: "shop-blue".into(),
        generation: 3,
        window_secs: 1800,
        step_secs: 15.0,
        end: now().as_second() as f64,
        series: vec![
            series("requests", "req/s", Unit::ReqPerSec, |i| {
                100.0 + i as f64 * 2.6
            }),
            series("errors", "5xx %", Unit::Percent, |i| {
                if i < 100 { 0.001 } else { 0.041 }
            }),
            nan,
            empty,
            failed,
        ],
    }
}

fn metrics_data(fresh: Option<Fresh<Arc<MetricsSnapshot>>>) -> MetricsPaneData {
    MetricsPaneData {
        app: "web".into(),
        env: "production".into(),
        metrics: fresh,
        now: now(),
        rollout_started: Some(ago(600)),
        selected: Some(0),
    }
}

fn fresh<T>(value: Option<T>, at: Option<Timestamp>, error: Option<&str>) -> Fresh<T> {
    Fresh {
        value,
        fetched_at: at,
        error: error.map(String::from),
    }
}

#[test]
fn metrics_pane_with_data_nan_and_no_data() {
    let data = metrics_data(Some(fresh(
        Some(Arc::new(metrics_snapshot())),
        Some(ago(5)),
        None,
    )));
    let (text, _) = draw(60, 8, |f| render_metrics(f, f.area(), &data, false));
    insta::assert_snapshot!("metrics_data", text);
    assert!(text.contains("409 req/s") && text.contains("NaN") && text.contains("no data"));
    assert!(!text.contains("pwned"));
}

#[test]
fn metrics_pane_stale_keeps_data_and_says_why() {
    let data = metrics_data(Some(fresh(
        Some(Arc::new(metrics_snapshot())),
        Some(ago(125)),
        Some("timeout"),
    )));
    let (text, buf) = draw(60, 8, |f| render_metrics(f, f.area(), &data, true));
    insta::assert_snapshot!("metrics_stale", text);
    assert!(text.starts_with("⚠ stale 2m: timeout"));
    assert_eq!(buf[(0, 0)].fg, Color::Yellow);
    let (_, plain) = draw(60, 8, |f| render_metrics(f, f.area(), &data, false));
    assert_eq!(plain[(0, 0)].fg, Color::Reset);
}

#[test]
fn metrics_pane_without_data() {
    let failed = metrics_data(Some(fresh(
        None,
        None,
        Some("unreachable: connection refused"),
    )));
    let (text, _) = draw(60, 3, |f| render_metrics(f, f.area(), &failed, false));
    insta::assert_snapshot!("metrics_no_data_failed", text);
    let loading = metrics_data(Some(Fresh::default()));
    let (text, _) = draw(60, 2, |f| render_metrics(f, f.area(), &loading, false));
    assert_eq!(text.trim(), "loading…");
    let off = metrics_data(None);
    let (text, _) = draw(70, 2, |f| render_metrics(f, f.area(), &off, false));
    assert!(text.contains("not configured"), "{text}");
}

#[test]
fn full_chart_with_rollout_marker() {
    let snap = metrics_snapshot();
    let chart = ChartData::from_snapshot(&snap, 1, Some(ago(600))).unwrap();
    let (text, _) = draw(70, 16, |f| render_metric_chart(f, f.area(), &chart, false));
    insta::assert_snapshot!("metrics_chart", text);
    assert!(text.contains("rollout") && text.contains("-30m") && text.contains("now"));
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(name: &str, sev: &str, app: &str, ns: &str, started: i64, summary: &str) -> Alert {
    let l = labels(&[
        ("alertname", name),
        ("severity", sev),
        ("app", app),
        ("namespace", ns),
    ]);
    Alert {
        fingerprint: format!("{:016x}", l.len() * 7919 + started as usize),
        labels: l,
        annotations: labels(&[("summary", summary)]),
        starts_at: ago(started),
        ends_at: now() + SignedDuration::from_mins(4),
        updated_at: now(),
        status: AlertStatus {
            state: AlertState::Active,
            silenced_by: vec![],
            inhibited_by: vec![],
        },
        receivers: vec![Receiver {
            name: "default".into(),
        }],
        generator_url: String::new(),
    }
}

fn alerts_snapshot() -> AlertsSnapshot {
    let mut silenced = alert(
        "HighErrorRate",
        "warning",
        "api",
        "shop-green",
        3600,
        "api in shop-green: 7.0% of requests fail",
    );
    silenced.status.state = AlertState::Suppressed;
    silenced.status.silenced_by = vec!["5f1c2a9e-0000-4000-8000-000000000001".into()];
    AlertsSnapshot::new(
        vec![
            alert(
                "PodCrashLooping",
                "warning",
                "web",
                "shop-blue",
                90,
                "Pod web-7d4b9c is crash looping",
            ),
            alert(
                "HighErrorRate",
                "critical",
                "web\u{1b}[5m",
                "shop-blue",
                180,
                "\u{1b}[2Jweb in shop-blue: \u{1b}[31m12.3%\u{1b}[0m of requests fail\r\n\u{1b}]0;pwned\u{7}",
            ),
            silenced,
        ],
        vec![Silence {
            id: "5f1c2a9e-0000-4000-8000-000000000001".into(),
            status: SilenceStatus {
                state: SilenceState::Active,
            },
            updated_at: ago(60),
            matchers: vec![
                SilenceMatcher::equal("alertname", "HighErrorRate"),
                SilenceMatcher::equal("app", "api"),
            ],
            starts_at: ago(60),
            ends_at: now() + SignedDuration::from_mins(59) + SignedDuration::from_secs(30),
            created_by: "alice".into(),
            comment: "deploying a fix \u{1b}[1mnow".into(),
        }],
    )
}

fn alerts_data(fresh: Option<Fresh<Arc<AlertsSnapshot>>>, app: Option<&str>) -> AlertsPaneData {
    AlertsPaneData {
        alerts: fresh,
        app: app.map(String::from),
        now: now(),
        selected: None,
    }
}

#[test]
fn alerts_pane_firing_and_silenced() {
    let snap = Arc::new(alerts_snapshot());
    let data = alerts_data(Some(fresh(Some(snap.clone()), Some(ago(3)), None)), None);
    let (text, _) = draw(90, 9, |f| render_alerts(f, f.area(), &data, false));
    insta::assert_snapshot!("alerts_firing_silenced", text);
    assert!(!text.contains("pwned") && !text.contains('\u{1b}'));
    // Grouped by severity (critical first), then alertname.
    let order: Vec<&str> = visible_alerts(&snap, None)
        .iter()
        .map(|a| a.name())
        .collect();
    assert_eq!(order, ["HighErrorRate", "HighErrorRate", "PodCrashLooping"]);
    assert_eq!(visible_alerts(&snap, None)[0].severity(), "critical");
    assert!(text.contains("silenced by 5f1c2a9e") && text.contains("ends in 59m"));
}

#[test]
fn alerts_pane_none_and_stale() {
    let empty = alerts_data(
        Some(fresh(
            Some(Arc::new(AlertsSnapshot::default())),
            Some(ago(1)),
            None,
        )),
        Some("web"),
    );
    let (text, _) = draw(60, 2, |f| render_alerts(f, f.area(), &empty, false));
    insta::assert_snapshot!("alerts_none", text);
    let stale = alerts_data(
        Some(fresh(
            Some(Arc::new(alerts_snapshot())),
            Some(ago(400)),
            Some("HTTP 502: <html>502 Bad Gateway</html>"),
        )),
        Some("api"),
    );
    let (text, buf) = draw(90, 6, |f| render_alerts(f, f.area(), &stale, true));
    insta::assert_snapshot!("alerts_stale", text);
    assert_eq!(buf[(0, 0)].fg, Color::Yellow);
    assert!(text.contains("stale 6m"));
}

#[test]
fn tiny_and_narrow_areas_never_panic() {
    let m = metrics_data(Some(fresh(
        Some(Arc::new(metrics_snapshot())),
        Some(ago(125)),
        Some("timeout"),
    )));
    let a = alerts_data(
        Some(fresh(
            Some(Arc::new(alerts_snapshot())),
            Some(ago(1)),
            Some("x"),
        )),
        None,
    );
    let chart = ChartData::from_snapshot(&metrics_snapshot(), 0, Some(ago(600))).unwrap();
    for w in [1u16, 2, 5, 9, 17, 30] {
        for h in [1u16, 2, 4] {
            draw(w, h, |f| render_metrics(f, f.area(), &m, true));
            draw(w, h, |f| render_alerts(f, f.area(), &a, true));
            draw(w, h, |f| render_metric_chart(f, f.area(), &chart, true));
        }
    }
    let (text, _) = draw(30, 6, |f| render_alerts(f, f.area(), &a, false));
    assert!(text.lines().all(|l| shipdeck::text::width(l) <= 30));
}

#[test]
fn alerts_pane_scrolls_to_the_selected_alert() {
    let mut data = alerts_data(
        Some(fresh(Some(Arc::new(alerts_snapshot())), Some(ago(1)), None)),
        None,
    );
    data.selected = Some(2);
    let (text, _) = draw(70, 3, |f| render_alerts(f, f.area(), &data, false));
    insta::assert_snapshot!("alerts_scrolled", text);
    assert!(text.contains("▸! PodCrashLooping"), "{text}");
    assert!(text.contains("… 2 more"), "{text}");
}

#[test]
fn a_narrow_alerts_pane_shows_whole_names_on_two_lines() {
    // The pane's width at 120 columns, three panes side by side.
    let mut data = alerts_data(
        Some(fresh(Some(Arc::new(alerts_snapshot())), Some(ago(1)), None)),
        None,
    );
    data.selected = Some(2);
    let (text, _) = draw(38, 12, |f| render_alerts(f, f.area(), &data, false));
    insta::assert_snapshot!("alerts_narrow", text);
    for name in ["HighErrorRate", "PodCrashLooping"] {
        assert!(text.contains(name), "{name} cut in:\n{text}");
    }
    assert!(text.contains("web shop-blue · Pod web-7d4b9c"), "{text}");
    assert!(text.contains("▸! PodCrashLooping"), "{text}");
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn an_alert_storm_keeps_the_most_severe_and_counts_the_rest() {
    use shipdeck::model::alerts::ALERTS_KEPT;
    let mut alerts: Vec<Alert> = (0..ALERTS_KEPT + 3)
        .map(|i| {
            let mut a = alert("DiskFilling", "warning", "web", "shop-blue", 60, "disk");
            a.fingerprint = format!("w{i:08}");
            a
        })
        .collect();
    alerts.push(alert(
        "HighErrorRate",
        "critical",
        "api",
        "shop-green",
        30,
        "5xx",
    ));
    alerts.push(alert(
        "HighErrorRate",
        "critical",
        "web",
        "shop-blue",
        30,
        "5xx",
    ));
    let snap = AlertsSnapshot::new(alerts, Vec::new());
    assert_eq!(snap.alerts.len(), ALERTS_KEPT);
    assert_eq!(snap.dropped, 5);
    assert_eq!(snap.alerts[0].severity(), "critical");
    assert_eq!(snap.alerts[1].severity(), "critical");
    assert!(snap.critical_firing("web", "shop-blue"));
    let data = alerts_data(
        Some(fresh(Some(Arc::new(snap)), Some(ago(1)), None)),
        Some("api"),
    );
    let (text, _) = draw(90, 8, |f| render_alerts(f, f.area(), &data, false));
    assert!(text.contains("… and 5 more not kept"), "{text}");
}

#[test]
fn ten_thousand_alerts_render_quickly() {
    let mut snap = alerts_snapshot();
    let base = snap.alerts[0].clone();
    for i in 0..10_000 {
        let mut a = base.clone();
        a.labels.insert("pod".into(), format!("web-{i}"));
        a.fingerprint = format!("{i:016x}");
        snap.alerts.push(a);
    }
    let snap = AlertsSnapshot::new(snap.alerts, snap.silences);
    let mut data = alerts_data(Some(fresh(Some(Arc::new(snap)), Some(ago(1)), None)), None);
    data.selected = Some(5_000);
    let started = std::time::Instant::now();
    let (text, _) = draw(120, 20, |f| render_alerts(f, f.area(), &data, false));
    let took = started.elapsed();
    eprintln!("10k alerts: one frame in {took:?}");
    assert!(text.contains("more"), "{text}");
}
