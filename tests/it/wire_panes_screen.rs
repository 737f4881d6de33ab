//! The overview panes on the whole screen (every pane live at 120×40 and 80×24, the open run, the
//! full chart, every size without panics) and the loop's pollers answering the selection Commands.
use super::wire_panes_support::*;
use jiff::{SignedDuration, Timestamp};
use shipdeck::action::Action;
use shipdeck::app::fixtures::{self, ago, t0};
use shipdeck::backend::alertmanager::AlertmanagerConfig;
use shipdeck::backend::monitor::MonitorEvent;
use shipdeck::backend::pipelines::PipelineEvent;
use shipdeck::backend::prometheus::PrometheusConfig;
use shipdeck::model::SourceHealth;
use shipdeck::model::SourceId;
use shipdeck::model::pipeline::{RunDetail, Stage, StageStatus};
use shipdeck::msg::{Command, Msg};
use shipdeck::ui::theme::ColorMode;
use std::sync::Arc;
use std::time::Duration;

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
