//! The Pipelines, Metrics and Alerts panes wired into the console: update() tests for the poller
//! messages (metrics generations, alerts, CI runs, registry tags, stale and recovered), the
//! Commands emitted on navigation, the board's markers, and whole-screen snapshots with every pane
//! live at 120×40 and 80×24.
use jiff::{SignedDuration, Timestamp};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use shipdeck::action::Action;
use shipdeck::app::App;
use shipdeck::app::Pane;
use shipdeck::app::fixtures::{self, ago, t0};
use shipdeck::backend::alertmanager::AlertmanagerConfig;
use shipdeck::backend::ci::{CiConfig, ProviderKind};
use shipdeck::backend::kube::KubeEvent;
use shipdeck::backend::monitor::MonitorEvent;
use shipdeck::backend::pipelines::{PipelineEvent, RegistryEvent, TagState};
use shipdeck::backend::prometheus::PrometheusConfig;
use shipdeck::backend::registry::RegistryConfig;
use shipdeck::keymap::Keymap;
use shipdeck::model::SourceHealth;
use shipdeck::model::SourceId;
use shipdeck::model::alerts::{
    Alert, AlertState, AlertStatus, AlertsSnapshot, Receiver, Silence, SilenceMatcher,
    SilenceState, SilenceStatus,
};
use shipdeck::model::metrics::{MetricSeries, MetricsSnapshot, Unit};
use shipdeck::model::pipeline::{Commit, Pipeline, RunDetail, Stage, StageStatus};
use shipdeck::msg::{Command, Msg};
use shipdeck::ui::theme::{ColorMode, Theme};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const REG: &str = "registry.local:5000/shop";

/// The fixture estate with every overview source configured (addresses never dialled).
fn config() -> shipdeck::config::Config {
    let mut c = fixtures::config();
    c.prometheus = Some(PrometheusConfig::new("http://127.0.0.1:9"));
    c.alertmanager = Some(AlertmanagerConfig::new("http://127.0.0.1:9"));
    c.ci = Some(CiConfig::new(ProviderKind::Github, "http://127.0.0.1:9"));
    c.registry = Some(RegistryConfig::new("http://127.0.0.1:9"));
    c
}

/// The fixture estate, with web in production running a pinned tag (tag and digest).
fn estate() -> Vec<Msg> {
    fixtures::estate()
        .into_iter()
        .map(|m| match m {
            Msg::Kube(KubeEvent::Deployments { env, items }) if env == "production" => {
                let mut v: Vec<_> = items.to_vec();
                v[0].containers[0].image = format!("{REG}/web:9e01bb@sha256:aaaa");
                Msg::Kube(KubeEvent::Deployments {
                    env,
                    items: Arc::from(v),
                })
            }
            m => m,
        })
        .collect()
}

/// An app with the estate loaded; returns it and every Command the loading produced.
fn app(mode: ColorMode, w: u16, h: u16) -> (App, Vec<Command>) {
    let mut app = App::new(config(), Keymap::default(), fixtures::clock(), false);
    app.theme = Theme::new(mode);
    let mut cmds = app.update(Msg::Resize {
        width: w,
        height: h,
    });
    for m in estate() {
        cmds.extend(app.update(m));
    }
    (app, cmds)
}

fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
}

fn series(label: &str, unit: Unit, f: impl Fn(usize) -> f64) -> MetricSeries {
    let end = t0().as_second() as f64;
    MetricSeries {
        key: label.into(),
        label: label.into(),
        unit,
        points: (0..120)
            .map(|i| (end - 1800.0 + i as f64 * 15.0 + 15.0, f(i)))
            .collect(),
        error: None,
    }
}

fn metrics(app: &str, env: &str, generation: u64) -> Arc<MetricsSnapshot> {
    Arc::new(MetricsSnapshot {
        app: app.into(),
        env: env.into(),
        namespace: format!("shop-{env}"),
        generation,
        window_secs: 1800,
        step_secs: 15.0,
        end: t0().as_second() as f64,
        series: vec![
            series("req/s", Unit::ReqPerSec, |i| 100.0 + i as f64 * 2.6),
            series(
                "5xx %",
                Unit::Percent,
                |i| if i < 100 { 0.001 } else { 0.041 },
            ),
            series("p99 ms", Unit::Millis, |i| 0.2 + i as f64 * 0.005),
        ],
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(name: &str, sev: &str, app: &str, ns: &str, started: i64, summary: &str) -> Alert {
    Alert {
        fingerprint: format!("{name}{app}{ns}"),
        labels: labels(&[
            ("alertname", name),
            ("severity", sev),
            ("app", app),
            ("namespace", ns),
        ]),
        annotations: labels(&[("summary", summary)]),
        starts_at: ago(started),
        ends_at: t0() + SignedDuration::from_mins(4),
        updated_at: t0(),
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

/// HighErrorRate critical for api in staging (shop-green) and a silenced warning for web.
fn alerts() -> Arc<AlertsSnapshot> {
    let mut silenced = alert(
        "PodCrashLooping",
        "warning",
        "api",
        "shop-develop",
        600,
        "api-5c9 is crash looping",
    );
    silenced.status.state = AlertState::Suppressed;
    silenced.status.silenced_by = vec!["5f1c2a9e-0000-4000-8000-000000000001".into()];
    Arc::new(AlertsSnapshot::new(
        vec![
            alert(
                "HighErrorRate",
                "critical",
                "api",
                "shop-green",
                180,
                "api in shop-green: 12.3% of requests fail",
            ),
            silenced,
        ],
        vec![Silence {
            id: "5f1c2a9e-0000-4000-8000-000000000001".into(),
            status: SilenceStatus {
                state: SilenceState::Active,
            },
            updated_at: ago(60),
            matchers: vec![SilenceMatcher::equal("app", "api")],
            starts_at: ago(60),
            ends_at: t0() + SignedDuration::from_mins(59),
            created_by: "alice".into(),
            comment: "fixing".into(),
        }],
    ))
}

fn stage(name: &str, status: StageStatus, secs: u64) -> Stage {
    Stage {
        name: name.into(),
        status,
        started: Some(ago(600)),
        duration: Some(Duration::from_secs(secs)),
    }
}

fn run(app: &str, branch: &str, id: &str, status: StageStatus, stages: Vec<Stage>) -> Pipeline {
    Pipeline {
        app: app.into(),
        branch: branch.into(),
        run_id: id.into(),
        number: id.parse().ok(),
        status,
        stages,
        commit: Commit {
            sha: "77d0e1f00ba4".into(),
            author: "dana".into(),
            message: "api: retry the payment call".into(),
        },
        started: Some(ago(600)),
        url: None,
    }
}

/// api: develop failed in test, staging green, master waiting for approval.
fn api_runs() -> Msg {
    use StageStatus::*;
    Msg::Pipelines(PipelineEvent::Runs {
        app: "api".into(),
        pipelines: Arc::from(vec![
            run(
                "api",
                "develop",
                "41",
                Failed,
                vec![stage("test", Failed, 42)],
            ),
            run(
                "api",
                "staging",
                "40",
                Success,
                vec![
                    stage("test", Success, 40),
                    stage("build", Success, 80),
                    stage("push", Success, 9),
                ],
            ),
            run(
                "api",
                "master",
                "39",
                WaitingApproval,
                vec![
                    stage("test", Success, 40),
                    stage("build", Success, 80),
                    stage("approve", WaitingApproval, 0),
                ],
            ),
        ]),
    })
}

/// Every overview source answers; the metrics are for the current selection.
fn live_overview(app: &mut App) {
    app.update(Msg::MetricsSelected { generation: 1 });
    app.update(Msg::Monitor(MonitorEvent::Metrics {
        snapshot: metrics("api", "develop", 1),
        at: ago(5),
    }));
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: alerts(),
        at: ago(5),
    }));
    app.update(api_runs());
    app.update(Msg::Registry(RegistryEvent::Tags(Arc::new(
        [(
            ("shop/web".to_string(), "9e01bb".to_string()),
            TagState::Digest("sha256:bbbb".into()),
        )]
        .into_iter()
        .collect(),
    ))));
}

fn draw(app: &App) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
    term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
    term.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{screen}"))
}

#[test]
fn loading_the_estate_selects_the_first_cell_and_watches_the_board() {
    let (_, cmds) = app(ColorMode::None, 120, 40);
    assert!(cmds.contains(&Command::SelectMetrics {
        app: "api".into(),
        env: "develop".into(),
        namespace: "shop-develop".into(),
    }));
    assert!(cmds.contains(&Command::SelectPipelines { app: "api".into() }));
    let apps = cmds.iter().rev().find_map(|c| match c {
        Command::WatchCiApps(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(apps.unwrap(), ["api", "web", "worker"]);
    // Only images that name a tag and a digest can show a moved tag.
    let tags = cmds.iter().rev().find_map(|c| match c {
        Command::WatchTags(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(
        tags.unwrap(),
        [("shop/web".to_string(), "9e01bb".to_string())]
    );
}

#[test]
fn navigation_emits_the_selection_commands() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    let cmds = act(&mut app, Action::Down);
    assert_eq!(
        cmds,
        [
            Command::SelectMetrics {
                app: "web".into(),
                env: "develop".into(),
                namespace: "shop-develop".into(),
            },
            Command::SelectPipelines { app: "web".into() },
        ]
    );
    // Another environment: the metrics follow, the pipelines (per app) do not.
    let cmds = act(&mut app, Action::Right);
    assert_eq!(
        cmds,
        [Command::SelectMetrics {
            app: "web".into(),
            env: "staging".into(),
            namespace: "shop-green".into(),
        }]
    );
    // Nothing changed: nothing asked.
    assert!(act(&mut app, Action::Help).is_empty());
    act(&mut app, Action::Back);
    assert_eq!(act(&mut app, Action::Refresh), [Command::RefreshSources]);
}

#[test]
fn a_hidden_metrics_pane_asks_no_queries() {
    let (mut app, cmds) = app(ColorMode::None, 80, 24);
    // Stacked with the board focused: Metrics is one collapsed line.
    assert!(cmds.contains(&Command::MetricsVisible(false)), "{cmds:?}");
    assert_eq!(
        act(&mut app, Action::FocusPane3),
        [Command::MetricsVisible(true)]
    );
    assert_eq!(
        act(&mut app, Action::FocusPane1),
        [Command::MetricsVisible(false)]
    );
    // Wide: always on screen.
    let cmds = app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    assert_eq!(cmds, [Command::MetricsVisible(true)]);
    assert!(act(&mut app, Action::FocusPane2).is_empty());
}

#[test]
fn stale_metrics_generations_are_dropped() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    app.update(Msg::MetricsSelected { generation: 2 });
    app.update(Msg::Monitor(MonitorEvent::Metrics {
        snapshot: metrics("api", "develop", 1),
        at: ago(5),
    }));
    let m = app.overview.metrics.as_ref().unwrap();
    assert!(m.value.is_none(), "generation 1 is an older selection");
    app.update(Msg::Monitor(MonitorEvent::MetricsFailed {
        app: "api".into(),
        env: "develop".into(),
        generation: 1,
        error: "timeout".into(),
    }));
    assert!(app.overview.metrics.as_ref().unwrap().error.is_none());
    app.update(Msg::Monitor(MonitorEvent::Metrics {
        snapshot: metrics("api", "develop", 2),
        at: ago(5),
    }));
    let m = app.overview.metrics.as_ref().unwrap();
    assert_eq!(m.value.as_ref().unwrap().generation, 2);
    assert_eq!(
        app.sources.get(&SourceId::Prometheus),
        Some(&SourceHealth::Live)
    );
    // Stale: the data stays, the source says why and since when.
    app.update(Msg::Monitor(MonitorEvent::MetricsFailed {
        app: "api".into(),
        env: "develop".into(),
        generation: 2,
        error: "timeout".into(),
    }));
    let m = app.overview.metrics.as_ref().unwrap();
    assert!(m.value.is_some() && m.error.as_deref() == Some("timeout"));
    assert_eq!(
        app.sources.get(&SourceId::Prometheus),
        Some(&SourceHealth::Stale {
            since: Some(ago(5)),
            error: "query: timeout".into()
        })
    );
    app.update(Msg::Monitor(MonitorEvent::Metrics {
        snapshot: metrics("api", "develop", 2),
        at: t0(),
    }));
    assert_eq!(
        app.sources.get(&SourceId::Prometheus),
        Some(&SourceHealth::Live)
    );
    assert!(app.overview.metrics.as_ref().unwrap().error.is_none());
}

#[test]
fn alerts_snapshot_marks_the_board_and_survives_a_failure() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: alerts(),
        at: ago(5),
    }));
    assert!(app.overview.markers.critical["api"].contains("shop-green"));
    // api is selected: both of its alerts are listed; ↓ moves within them, not past the end.
    assert_eq!(app.visible_alert_count(), 2);
    act(&mut app, Action::FocusPane4);
    assert_eq!(app.focus, Pane::Alerts);
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    assert_eq!(app.overview.alert_row, 1);
    assert_eq!(
        app.releases.selected_app(),
        Some("api"),
        "the board did not move"
    );

    app.update(Msg::Monitor(MonitorEvent::AlertsFailed {
        error: "connection refused".into(),
    }));
    let a = app.overview.alerts.as_ref().unwrap();
    assert!(a.value.is_some(), "stale data stays on screen");
    assert!(matches!(
        app.sources.get(&SourceId::Alertmanager),
        Some(SourceHealth::Stale { .. })
    ));
    let screen = text(&draw(&app));
    assert!(
        screen.contains("stale 5s: connection refused") && screen.contains("HighErro"),
        "{screen}"
    );
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: Arc::new(AlertsSnapshot::default()),
        at: t0(),
    }));
    assert!(app.overview.markers.critical.is_empty());
    assert_eq!(
        app.sources.get(&SourceId::Alertmanager),
        Some(&SourceHealth::Live)
    );
}

#[test]
fn pipelines_runs_detail_and_ci_marker() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    app.update(api_runs());
    assert!(app.overview.markers.ci_failed["api"].contains("develop"));
    act(&mut app, Action::FocusPane2);
    act(&mut app, Action::Down);
    assert_eq!(app.overview.branch_row, 1);
    let cmds = act(&mut app, Action::Open);
    let opened = match cmds.as_slice() {
        // The run takes the lower area: Metrics is hidden meanwhile.
        [Command::OpenRun(r), Command::MetricsVisible(false)] => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            opened.app.as_str(),
            opened.branch.as_str(),
            opened.id.as_str()
        ),
        ("api", "staging", "40")
    );
    // A detail for another run is dropped; this run's is kept.
    let detail = |id: &str| RunDetail {
        pipeline: run("api", "staging", id, StageStatus::Success, vec![]),
        jobs: vec![],
        approvals: vec![],
        log_tail: None,
    };
    let mut other = opened.clone();
    other.id = "39".into();
    app.update(Msg::Pipelines(PipelineEvent::Detail {
        run: other,
        detail: Arc::new(detail("39")),
    }));
    assert!(app.overview.run.as_ref().unwrap().1.value.is_none());
    app.update(Msg::Pipelines(PipelineEvent::Detail {
        run: opened.clone(),
        detail: Arc::new(detail("40")),
    }));
    assert!(app.overview.run.as_ref().unwrap().1.value.is_some());
    // ↑↓ scroll the open run (two lines here: the header and the commit).
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    assert_eq!(app.overview.run_scroll, 1);
    assert_eq!(app.overview.branch_row, 1, "the branch cursor stays");
    assert_eq!(
        act(&mut app, Action::Back),
        [Command::CloseRun, Command::MetricsVisible(true)]
    );
    assert!(app.overview.run.is_none());
    // Tab away from an open run closes it.
    act(&mut app, Action::Open);
    assert_eq!(
        act(&mut app, Action::FocusNext),
        [Command::CloseRun, Command::MetricsVisible(true)]
    );
    assert_eq!(app.focus, Pane::Metrics);

    // Stale and recovered.
    app.update(Msg::Pipelines(PipelineEvent::Failed {
        app: "api".into(),
        error: "HTTP 502".into(),
    }));
    assert!(matches!(
        app.sources.get(&SourceId::Ci),
        Some(SourceHealth::Stale { .. })
    ));
    assert!(app.overview.runs["api"].value.is_some());
    app.update(api_runs());
    assert_eq!(app.sources.get(&SourceId::Ci), Some(&SourceHealth::Live));
}

#[test]
fn registry_tags_flag_a_moved_tag_and_recover() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    live_overview(&mut app);
    let screen = text(&draw(&app));
    assert!(line_with(&screen, "web ").contains('⇄'), "{screen}");
    app.update(Msg::Registry(RegistryEvent::Failed {
        error: "HTTP 401".into(),
    }));
    assert!(matches!(
        app.sources.get(&SourceId::Registry),
        Some(SourceHealth::Stale { .. })
    ));
    // Same digest as running: no flag.
    app.update(Msg::Registry(RegistryEvent::Tags(Arc::new(
        [(
            ("shop/web".to_string(), "9e01bb".to_string()),
            TagState::Digest("sha256:aaaa".into()),
        )]
        .into_iter()
        .collect(),
    ))));
    assert_eq!(
        app.sources.get(&SourceId::Registry),
        Some(&SourceHealth::Live)
    );
    let screen = text(&draw(&app));
    assert!(!line_with(&screen, "web ").contains('⇄'), "{screen}");
}

#[test]
fn metrics_chart_opens_with_the_rollout_marker_and_closes() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    live_overview(&mut app);
    act(&mut app, Action::FocusPane3);
    act(&mut app, Action::Down);
    assert_eq!(app.overview.metrics_row, 1);
    act(&mut app, Action::Open);
    assert!(app.overview.chart_open);
    let screen = text(&draw(&app));
    assert!(
        screen.contains("5xx %") && screen.contains("-30m"),
        "{screen}"
    );
    assert_eq!(
        app.rollout_started(),
        Some(ago(700)),
        "api in develop failed 700 s ago"
    );
    act(&mut app, Action::Back);
    assert!(!app.overview.chart_open);
}

#[test]
fn whole_screen_with_every_pane_live() {
    for (w, h) in [(120, 40), (80, 24)] {
        let (mut app, _) = app(ColorMode::None, w, h);
        live_overview(&mut app);
        let screen = text(&draw(&app));
        insta::assert_snapshot!(format!("wire_live_{w}x{h}"), screen);
        // Board markers: api has a critical alert in staging and a failed develop run.
        let api = line_with(&screen, "▸ api");
        assert!(api.contains("✗CI"), "{api}");
        assert!(api.contains(" !"), "{api}");
        // Every status-bar source is live.
        assert!(!screen.contains("stale"), "{screen}");
    }
    // 80×24: the focused pane takes the space, the others are one line each.
    let (mut app, _) = app(ColorMode::None, 80, 24);
    live_overview(&mut app);
    act(&mut app, Action::FocusPane2);
    let screen = text(&draw(&app));
    insta::assert_snapshot!("wire_pipelines_80x24", screen);
    assert!(screen.contains("approve"), "{screen}");
    act(&mut app, Action::FocusPane4);
    let screen = text(&draw(&app));
    insta::assert_snapshot!("wire_alerts_80x24", screen);
    assert!(screen.contains("HighErrorRate"), "{screen}");
}

#[test]
fn markers_keep_meaning_in_colour() {
    let (mut app, _) = app(ColorMode::Ansi16, 120, 40);
    live_overview(&mut app);
    let buf = draw(&app);
    let screen = text(&buf);
    let y = screen.lines().position(|l| l.contains("▸ api")).unwrap() as u16;
    let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    let x = row
        .find("✗CI")
        .map(|i| row[..i].chars().count() as u16)
        .unwrap();
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Red);
}

#[test]
fn unconfigured_sources_keep_their_one_line_hint() {
    let mut app = fixtures::live_app(ColorMode::None, 120, 40);
    let cmds = act(&mut app, Action::Down);
    assert!(cmds.is_empty(), "no pollers to steer: {cmds:?}");
    let screen = text(&draw(&app));
    for hint in [
        "no CI source configured",
        "no Prometheus source configured",
        "no Alertmanager source configured",
    ] {
        assert!(screen.contains(hint), "{hint}: {screen}");
    }
}

#[test]
fn ages_of_the_overview_join_the_age_timer() {
    let (mut app, _) = app(ColorMode::None, 120, 40);
    live_overview(&mut app);
    let before = app.next_age_deadline().unwrap();
    // A running stage's elapsed time changes every second.
    app.update(Msg::Pipelines(PipelineEvent::Runs {
        app: "api".into(),
        pipelines: Arc::from(vec![run(
            "api",
            "develop",
            "42",
            StageStatus::Running,
            vec![Stage {
                name: "build".into(),
                status: StageStatus::Running,
                started: Some(ago(30)),
                duration: None,
            }],
        )]),
    }));
    let deadline = app.next_age_deadline().unwrap();
    assert!(
        deadline <= t0() + SignedDuration::from_secs(1),
        "{deadline}"
    );
    assert!(deadline <= before);
    let _: Timestamp = deadline;
}

#[test]
fn no_size_panics_with_every_pane_live() {
    for w in [20u16, 40, 80, 99, 100, 120, 200] {
        for h in [5u16, 10, 24, 29, 30, 40, 50] {
            let (mut app, _) = app(ColorMode::Full, w, h);
            live_overview(&mut app);
            for a in [
                Action::FocusPane2,
                Action::Open,
                Action::FocusPane3,
                Action::Open,
                Action::FocusPane4,
                Action::Down,
            ] {
                act(&mut app, a);
                draw(&app);
            }
        }
    }
}

/// The loop's side: pollers start per configured source, a selection answers with its
/// generation, and an unreachable Prometheus becomes a failure message for that generation.
#[tokio::test]
async fn pollers_answer_selections_and_report_failures_as_messages() {
    let mut c = config();
    // Port 1 on loopback: connection refused at once.
    c.prometheus = Some(PrometheusConfig::new("http://127.0.0.1:1"));
    c.alertmanager = Some(AlertmanagerConfig::new("http://127.0.0.1:1"));
    c.ci = None;
    c.registry = None;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (pollers, failures) = shipdeck::app::Pollers::spawn(&c, &fixtures::clock(), &tx, &cancel);
    assert!(failures.is_empty(), "{failures:?}");
    let answer = pollers
        .run(Command::SelectMetrics {
            app: "web".into(),
            env: "develop".into(),
            namespace: "shop-develop".into(),
        })
        .unwrap();
    let Some(Msg::MetricsSelected { generation }) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(generation, 1);
    // Not one of the pollers' commands: handed back.
    assert!(matches!(pollers.run(Command::Quit), Err(Command::Quit)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut metrics_failed, mut alerts_failed) = (false, false);
    while !(metrics_failed && alerts_failed) {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("both pollers report the refused connection")
            .unwrap();
        match msg {
            Msg::Monitor(MonitorEvent::MetricsFailed { generation, .. }) => {
                assert_eq!(generation, 1);
                metrics_failed = true;
            }
            Msg::Monitor(MonitorEvent::AlertsFailed { .. }) => alerts_failed = true,
            _ => {}
        }
    }
    cancel.cancel();
}

/// A configured source that cannot start (unreadable token) stays a visible failure: at start and
/// again for every new selection, so the pane says why instead of "loading…" forever.
#[tokio::test]
async fn a_source_that_cannot_start_keeps_saying_why() {
    let mut c = config();
    let mut p = PrometheusConfig::new("http://127.0.0.1:1");
    p.token_file = Some("/nonexistent/shipdeck-token".into());
    c.prometheus = Some(p);
    c.alertmanager = None;
    c.ci = None;
    c.registry = None;
    let (tx, _rx) = tokio::sync::mpsc::channel::<Msg>(8);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (pollers, failures) = shipdeck::app::Pollers::spawn(&c, &fixtures::clock(), &tx, &cancel);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (mut app, _) = app(ColorMode::None, 120, 40);
    for m in failures {
        app.update(m);
    }
    assert!(matches!(
        app.sources.get(&SourceId::Prometheus),
        Some(SourceHealth::Stale { .. })
    ));
    for cmd in act(&mut app, Action::Down) {
        if let Ok(Some(m)) = pollers.run(cmd) {
            app.update(m);
        }
    }
    let error = app.overview.metrics.as_ref().unwrap().error.clone();
    assert!(error.unwrap().contains("shipdeck-token"));
    let screen = text(&draw(&app));
    assert!(screen.contains("no data yet"), "{screen}");
    cancel.cancel();
}

/// `Enter` on a failed branch: the run takes the lower area with its jobs, steps and the failing
/// step's log tail (hostile bytes stripped); `Enter` on Metrics: the full chart.
#[test]
fn whole_screen_with_the_run_detail_and_the_chart() {
    use shipdeck::model::pipeline::{Job, LogTail, Step};
    let (mut app, _) = app(ColorMode::None, 120, 40);
    live_overview(&mut app);
    act(&mut app, Action::FocusPane2);
    let opened = match act(&mut app, Action::Open).first() {
        Some(Command::OpenRun(r)) => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(opened.branch, "develop");
    let step = |name: &str, status: StageStatus, secs: u64| Step {
        name: name.into(),
        status,
        started: Some(ago(600)),
        duration: Some(Duration::from_secs(secs)),
    };
    app.update(Msg::Pipelines(PipelineEvent::Detail {
        run: opened,
        detail: Arc::new(RunDetail {
            pipeline: run(
                "api",
                "develop",
                "41",
                StageStatus::Failed,
                vec![stage("test", StageStatus::Failed, 42)],
            ),
            jobs: vec![Job {
                id: "7".into(),
                name: "test".into(),
                status: StageStatus::Failed,
                started: Some(ago(600)),
                duration: Some(Duration::from_secs(42)),
                steps: vec![
                    step("checkout", StageStatus::Success, 2),
                    step("cargo test", StageStatus::Failed, 40),
                ],
            }],
            approvals: vec![],
            log_tail: Some(LogTail {
                job: "test".into(),
                step: Some("cargo test".into()),
                lines: vec![
                    "test payment::retries ... FAILED".into(),
                    "\u{1b}[2J\u{1b}]0;pwned\u{7}assertion failed: left == right".into(),
                ],
            }),
        }),
    }));
    let screen = text(&draw(&app));
    insta::assert_snapshot!("wire_run_detail_120x40", screen);
    assert!(screen.contains("cargo test") && screen.contains("assertion failed"));
    assert!(!screen.contains("pwned") && !screen.contains('\u{1b}'));
    act(&mut app, Action::FocusPane3);
    act(&mut app, Action::Down);
    act(&mut app, Action::Open);
    let screen = text(&draw(&app));
    insta::assert_snapshot!("wire_chart_120x40", screen);
    assert!(
        screen.contains("rollout") && screen.contains("5xx %"),
        "{screen}"
    );
}
