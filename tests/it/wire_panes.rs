//! The Pipelines, Metrics and Alerts panes wired into the console: update() tests for the poller
//! messages (metrics generations, alerts, CI runs, registry tags, stale and recovered), the
//! Commands emitted on navigation and the board's markers.
use super::wire_panes_support::*;
use shipdeck::action::Action;
use shipdeck::app::Pane;
use shipdeck::app::fixtures::{ago, t0};
use shipdeck::backend::monitor::MonitorEvent;
use shipdeck::backend::pipelines::{PipelineEvent, RegistryEvent, TagState};
use shipdeck::model::SourceHealth;
use shipdeck::model::SourceId;
use shipdeck::model::alerts::AlertsSnapshot;
use shipdeck::model::pipeline::{RunDetail, StageStatus};
use shipdeck::msg::{Command, Msg};
use shipdeck::ui::theme::ColorMode;
use std::sync::Arc;

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
    // The detail says what moved: the tag, where it points now, what runs.
    crate::wire_ops::select(&mut app, "web", "production");
    act(&mut app, Action::Open);
    let screen = text(&draw(&app));
    assert!(
        screen.contains("⇄ tag 9e01bb has moved: the registry serves sha256:"),
        "{screen}"
    );
    assert!(screen.contains("this runs sha256:aaaa"), "{screen}");
    act(&mut app, Action::Back);
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
