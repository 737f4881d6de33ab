//! The overview panes follow the board's cursor once it rests: scrolling redraws the cursor only.
use super::fixtures::{self, estate};
use super::*;
use crate::backend::ci::{CiConfig, ProviderKind};
use crate::backend::prometheus::PrometheusConfig;
use crate::ui::theme::ColorMode;

/// The fixture estate loaded with `config`.
fn live_with(config: crate::config::Config) -> App {
    let mut app = fixtures::app_with(config, ColorMode::Full, 120, 40);
    for msg in estate() {
        app.update(msg);
    }
    app
}

/// The fixture estate with Prometheus configured, so a selection steers the metrics poller.
fn app_with_metrics() -> App {
    let mut config = fixtures::config();
    config.prometheus = Some(PrometheusConfig::new("http://127.0.0.1:9"));
    live_with(config)
}

fn metrics_selection(cmds: &[Command]) -> Vec<(String, String)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SelectMetrics { app, env, .. } => Some((app.clone(), env.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_selection_is_followed_at_once() {
    let app = app_with_metrics();
    assert_eq!(app.overview_selection(), Some(("api", "develop")));
    assert!(!app.follow_pending());
}

#[test]
fn keys_move_the_cursor_and_the_panes_follow_when_it_rests() {
    let mut app = app_with_metrics();
    // The loop sets this while keys arrive.
    app.follow_deferred = true;
    let mut cmds = app.update(Msg::Action(Action::Down));
    cmds.extend(app.update(Msg::Action(Action::Down)));
    assert_eq!(app.releases.selected_app(), Some("worker"));
    assert_eq!(
        app.overview_selection(),
        Some(("api", "develop")),
        "the panes wait for the cursor to rest"
    );
    assert!(app.follow_pending());
    assert!(
        metrics_selection(&cmds).is_empty(),
        "no poller steered mid-scroll"
    );
    // Backend news meanwhile does not make the panes jump either.
    app.update(Msg::AgesChanged);
    assert_eq!(app.overview_selection(), Some(("api", "develop")));

    app.dirty = false;
    let cmds = app.update(Msg::CursorRested);
    assert_eq!(app.overview_selection(), Some(("worker", "develop")));
    assert!(!app.follow_pending());
    assert!(app.dirty, "the panes redraw for the new app");
    assert_eq!(
        metrics_selection(&cmds),
        [("worker".to_string(), "develop".to_string())],
        "one poller request, for where the cursor stopped"
    );
}

#[test]
fn leaving_the_board_follows_at_once() {
    let mut app = app_with_metrics();
    app.follow_deferred = true;
    app.update(Msg::Action(Action::Down));
    assert!(app.follow_pending());
    // Tab to the next pane: its content must be the board's selection before any key lands in it.
    app.update(Msg::Action(Action::FocusNext));
    assert_ne!(app.focus, Pane::Releases);
    assert_eq!(app.overview_selection(), Some(("web", "develop")));
}

#[test]
fn without_the_loops_deferral_the_panes_follow_every_move() {
    let mut app = app_with_metrics();
    let cmds = app.update(Msg::Action(Action::Down));
    assert_eq!(app.overview_selection(), Some(("web", "develop")));
    assert_eq!(metrics_selection(&cmds).len(), 1);
}

fn app_with_ci() -> App {
    let mut config = fixtures::config();
    config.ci = Some(CiConfig::new(ProviderKind::Github, "http://127.0.0.1:9"));
    live_with(config)
}

#[test]
fn an_app_without_a_pipeline_shows_no_runs_and_the_ci_source_stays_healthy() {
    use crate::backend::pipelines::PipelineEvent;
    use crate::model::{SourceHealth, SourceId};
    let mut app = app_with_ci();
    app.update(Msg::Pipelines(PipelineEvent::NoPipeline {
        app: "api".into(),
        error: "not found: Not Found".into(),
    }));
    let runs = app.overview.runs.get("api").expect("api's runs");
    assert_eq!(runs.value.as_deref().map(<[_]>::len), Some(0));
    assert!(runs.error.is_none());
    assert!(
        !matches!(
            app.sources.get(&SourceId::Ci),
            Some(SourceHealth::Stale { .. })
        ),
        "a 404 for one app is not a CI outage"
    );
    assert!(!app.sources.any_stale());
}

#[test]
fn ci_runs_are_kept_for_watched_apps_and_the_shown_one_only() {
    use crate::backend::pipelines::PipelineEvent;
    let mut app = app_with_ci();
    for name in ["api", "web", "gone-app"] {
        app.update(Msg::Pipelines(PipelineEvent::Runs {
            app: name.into(),
            pipelines: Vec::new().into(),
        }));
    }
    assert!(app.overview.runs.contains_key("gone-app"));
    // The selection moves: only the watched apps (the board's, under CI_WATCH_MAX) and the shown
    // one keep their runs.
    app.update(Msg::Action(Action::Down));
    let mut kept: Vec<&str> = app.overview.runs.keys().map(String::as_str).collect();
    kept.sort();
    assert_eq!(kept, ["api", "web"]);
}
