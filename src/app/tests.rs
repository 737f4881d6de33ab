//! update() tests: navigation, filter, drill-in/back, stale → recovered, dirty discipline, logs.
use super::fixtures::{self, t0};
use super::*;
use crate::backend::kube::KubeEvent;
use crate::keymap::Mode;
use crate::model::SourceHealth;
use crate::ui::theme::ColorMode;
use jiff::SignedDuration;

fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(Msg::Input(InputEdit::Insert(c)));
    }
}

fn live() -> App {
    fixtures::live_app(ColorMode::Full, 120, 40)
}

fn selected(app: &App) -> (String, String) {
    (
        app.releases.selected_app().unwrap_or("").to_string(),
        app.releases.selected_env().unwrap_or("").to_string(),
    )
}

#[test]
fn rows_clamp_and_environments_wrap() {
    let mut app = live();
    let apps: Vec<_> = app
        .releases
        .board
        .rows
        .iter()
        .map(|r| r.app.clone())
        .collect();
    assert_eq!(apps, ["api", "web", "worker"]);
    assert_eq!(selected(&app), ("api".into(), "develop".into()));
    act(&mut app, Action::Up);
    assert_eq!(selected(&app).0, "api", "clamped at the top");
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    assert_eq!(selected(&app).0, "worker", "clamped at the bottom");
    act(&mut app, Action::Top);
    assert_eq!(selected(&app).0, "api");
    act(&mut app, Action::Bottom);
    assert_eq!(selected(&app).0, "worker");
    act(&mut app, Action::Left);
    assert_eq!(selected(&app).1, "production", "wraps to the last column");
    act(&mut app, Action::Right);
    assert_eq!(selected(&app).1, "develop", "wraps to the first column");
    // The env picker moves the column too.
    act(&mut app, Action::EnvPicker);
    assert_eq!(app.mode(), Mode::Picker);
    act(&mut app, Action::Down);
    act(&mut app, Action::Open);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(selected(&app).1, "staging");
}

#[test]
fn selection_follows_the_app_when_rows_change() {
    let mut app = live();
    act(&mut app, Action::Down); // web
    // A snapshot without api: web moves up a row but stays selected.
    let items: Vec<_> = app.deployments["develop"]
        .value
        .as_ref()
        .unwrap()
        .iter()
        .filter(|d| d.name != "api")
        .cloned()
        .collect();
    for env in ["develop", "staging", "production"] {
        let keep: Vec<_> = app.deployments[env]
            .value
            .as_ref()
            .unwrap()
            .iter()
            .filter(|d| d.name != "api")
            .cloned()
            .collect();
        app.update(Msg::Kube(KubeEvent::Deployments {
            env: env.into(),
            items: Arc::from(if env == "develop" {
                items.clone()
            } else {
                keep
            }),
        }));
    }
    assert_eq!(selected(&app).0, "web");
    assert_eq!(app.releases.selected, 0);
}

#[test]
fn filter_typing_clear_and_keep() {
    let mut app = live();
    act(&mut app, Action::Filter);
    assert_eq!(app.mode(), Mode::Filter);
    typed(&mut app, "W");
    assert_eq!(
        app.releases.visible.len(),
        2,
        "case-insensitive: web, worker"
    );
    typed(&mut app, "e");
    assert_eq!(app.releases.visible.len(), 1);
    assert_eq!(selected(&app).0, "web");
    app.update(Msg::Input(InputEdit::Erase));
    assert_eq!(app.releases.visible.len(), 2);
    // Esc clears and leaves the filter.
    act(&mut app, Action::Back);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.releases.filter, "");
    assert_eq!(app.releases.visible.len(), 3);
    // Enter keeps it; a later Esc clears it.
    act(&mut app, Action::Filter);
    typed(&mut app, "zzz");
    assert!(app.releases.visible.is_empty());
    assert_eq!(app.releases.selected_app(), None);
    act(&mut app, Action::Down); // nothing to move to, nothing breaks
    act(&mut app, Action::Open);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.releases.filter, "zzz");
    assert!(act(&mut app, Action::Open).is_empty(), "no row to open");
    act(&mut app, Action::Back);
    assert_eq!(app.releases.visible.len(), 3);
    // Tab away while typing: the filter stays, typing ends.
    act(&mut app, Action::Filter);
    typed(&mut app, "wo");
    act(&mut app, Action::FocusNext);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.releases.filter, "wo");
}

#[test]
fn drill_in_logs_and_back() {
    let mut app = live();
    act(&mut app, Action::Down); // web
    act(&mut app, Action::Left); // production
    let cmds = act(&mut app, Action::Open);
    assert_eq!(
        cmds,
        vec![Command::OpenDetail {
            env: "production".into(),
            namespace: "shop-blue".into(),
            deployment: "web".into(),
            selector: BTreeMap::from([("app".to_string(), "web".to_string())]),
        }]
    );
    assert_eq!(app.focus, Pane::Detail);
    assert_eq!(app.mode(), Mode::Detail);
    for msg in fixtures::detail_msgs(false) {
        app.update(msg);
    }
    let d = app.detail.as_ref().unwrap();
    let revs: Vec<_> = d
        .history
        .value
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(revs, [3, 2, 1], "history newest first");
    let events = d.events.value.as_ref().unwrap();
    assert_eq!(events[0].type_, "Warning", "warnings first");
    assert_eq!(events[1].reason, "ScalingReplicaSet", "then newest");
    assert!(events.iter().all(|e| e.involved_name != "other-app-xyz-1"));
    act(&mut app, Action::Down);
    let cmds = act(&mut app, Action::Logs);
    assert_eq!(
        cmds,
        vec![Command::StreamLogs {
            request: 1,
            env: "production".into(),
            namespace: "shop-blue".into(),
            pod: "web-5d8f7-bbbbb".into(),
            container: None,
        }]
    );
    assert_eq!(app.mode(), Mode::Logs);
    assert_eq!(act(&mut app, Action::Back), vec![Command::StopLogs]);
    assert_eq!(app.focus, Pane::Detail);
    assert_eq!(act(&mut app, Action::Back), vec![Command::CloseDetail]);
    assert_eq!(app.focus, Pane::Releases);
    assert!(app.detail.is_none());
}

#[test]
fn detail_follows_environment_and_missing_cells_say_so() {
    let mut app = live();
    act(&mut app, Action::Bottom); // worker
    act(&mut app, Action::Left); // production: worker is not deployed there
    assert!(act(&mut app, Action::Open).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("not deployed"));
    act(&mut app, Action::Left); // staging
    assert!(matches!(
        act(&mut app, Action::Open)[..],
        [Command::OpenDetail { .. }]
    ));
    // Right from staging → production, where worker is missing: the detail closes.
    let cmds = act(&mut app, Action::Right);
    assert_eq!(cmds, vec![Command::CloseDetail]);
    assert_eq!(app.focus, Pane::Releases);
}

#[test]
fn stale_then_recovered() {
    let mut app = live();
    let id = SourceId::Kube("production".into());
    app.update(Msg::Kube(KubeEvent::Live {
        env: "production".into(),
        kind: "deployments",
    }));
    assert_eq!(app.sources.get(&id), Some(&SourceHealth::Live));
    app.dirty = false;
    app.update(Msg::Kube(KubeEvent::Failed {
        env: "production".into(),
        kind: "deployments",
        error: "connection refused".into(),
    }));
    assert!(app.dirty);
    match app.sources.get(&id) {
        Some(SourceHealth::Stale { since, error }) => {
            assert_eq!(*since, Some(t0()));
            assert!(error.contains("connection refused"), "{error}");
        }
        other => panic!("not stale: {other:?}"),
    }
    let col = &app.releases.board.envs[2];
    assert_eq!(col.error.as_deref(), Some("connection refused"));
    assert!(
        app.releases.board.cell("web", "production").is_some(),
        "data stays on screen"
    );
    // A repeated failure with the same error changes nothing visible.
    app.dirty = false;
    app.update(Msg::Kube(KubeEvent::Failed {
        env: "production".into(),
        kind: "deployments",
        error: "connection refused".into(),
    }));
    assert!(!app.dirty);
    app.update(Msg::Kube(KubeEvent::Live {
        env: "production".into(),
        kind: "deployments",
    }));
    assert_eq!(app.sources.get(&id), Some(&SourceHealth::Live));
    assert_eq!(app.releases.board.envs[2].error, None);
    // Recovery by snapshot alone works too.
    app.update(Msg::Kube(KubeEvent::Failed {
        env: "production".into(),
        kind: "deployments",
        error: "timeout".into(),
    }));
    assert!(app.sources.any_stale());
    let items = app.deployments["production"].value.clone().unwrap();
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "production".into(),
        items,
    }));
    assert!(!app.sources.any_stale());
    assert_eq!(app.releases.board.envs[2].error, None);
}

#[test]
fn detail_watch_failure_is_stale_per_section() {
    let mut app = fixtures::detail_app(ColorMode::Full, 120, 40, false);
    app.update(Msg::Kube(KubeEvent::Failed {
        env: "production".into(),
        kind: "pods",
        error: "403 forbidden".into(),
    }));
    let d = app.detail.as_ref().unwrap();
    assert!(d.pods.is_stale() && d.pods.value.is_some());
    assert!(!d.history.is_stale());
    // Closing the detail forgets the failure of its watch.
    act(&mut app, Action::Back);
    assert!(!app.sources.any_stale());
}

#[test]
fn no_op_messages_leave_dirty_false() {
    let mut app = live();
    app.dirty = false;
    act(&mut app, Action::Up); // already at the top
    assert!(!app.dirty);
    act(&mut app, Action::FocusPane1); // already focused
    assert!(!app.dirty);
    // The same snapshot again: nothing visible changed.
    let items = app.deployments["staging"].value.clone().unwrap();
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "staging".into(),
        items,
    }));
    assert!(!app.dirty);
    // Log lines for a stream nobody shows.
    app.update(Msg::Kube(KubeEvent::LogLines {
        request: 99,
        lines: vec!["x".into()],
    }));
    assert!(!app.dirty);
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    assert!(!app.dirty);
    // Typing outside the filter does nothing.
    app.update(Msg::Input(InputEdit::Insert('x')));
    assert!(!app.dirty);
    act(&mut app, Action::Down);
    assert!(app.dirty);
}

#[test]
fn log_buffer_is_bounded_and_old_streams_are_ignored() {
    let mut config = fixtures::config();
    config.ui.log_lines = 5;
    let mut app = App::new(config, Keymap::default(), fixtures::clock(), false);
    for msg in fixtures::estate() {
        app.update(msg);
    }
    act(&mut app, Action::Down);
    act(&mut app, Action::Left);
    act(&mut app, Action::Open);
    for msg in fixtures::detail_msgs(false) {
        app.update(msg);
    }
    act(&mut app, Action::Logs);
    act(&mut app, Action::Back);
    act(&mut app, Action::Logs); // request 2 replaces request 1
    let request = app.logs.as_ref().unwrap().request;
    assert_eq!(request, 2);
    app.update(Msg::Kube(KubeEvent::LogLines {
        request: 1,
        lines: vec!["stale stream".into()],
    }));
    assert!(app.logs.as_ref().unwrap().is_empty());
    for i in 0..3 {
        app.update(Msg::Kube(KubeEvent::LogLines {
            request,
            lines: (0..4).map(|j| format!("line {}", i * 4 + j)).collect(),
        }));
    }
    let logs = app.logs.as_ref().unwrap();
    assert_eq!(logs.len(), 5);
    assert_eq!(logs.dropped, 7);
    assert_eq!(logs.window(5).next(), Some("line 7"));
    app.update(Msg::Kube(KubeEvent::LogEnded {
        request,
        error: Some("pod deleted".into()),
    }));
    assert_eq!(
        app.logs.as_ref().unwrap().ended,
        Some(Some("pod deleted".into()))
    );
}

#[test]
fn mutations_wait_for_the_engine_and_read_only_refuses() {
    // The mutation keys' flows are in tests/it/wire_ops.rs; `x` with nothing running says so.
    let mut app = live();
    assert!(act(&mut app, Action::CancelOp).is_empty());
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("no operation is running")
    );
    act(&mut app, Action::Down);
    assert_eq!(app.notice, None, "a key clears the notice");
    let mut ro = App::new(
        fixtures::config(),
        Keymap::default(),
        fixtures::clock(),
        true,
    );
    act(&mut ro, Action::Rollback);
    assert!(ro.notice.as_deref().unwrap().starts_with("read-only"));
    assert_eq!(act(&mut ro, Action::Quit), vec![Command::Quit]);
    assert_eq!(act(&mut ro, Action::Suspend), vec![Command::Suspend]);
    assert_eq!(act(&mut ro, Action::Redraw), vec![Command::Repaint]);
}

#[test]
fn help_is_a_modal_that_quit_closes() {
    let mut app = live();
    act(&mut app, Action::Help);
    assert_eq!(app.mode(), Mode::Help);
    assert!(act(&mut app, Action::Quit).is_empty());
    assert_eq!(app.mode(), Mode::Normal);
}

#[test]
fn focus_cycles_visible_panes() {
    let mut app = live();
    act(&mut app, Action::FocusNext);
    assert_eq!(app.focus, Pane::Pipelines);
    act(&mut app, Action::FocusPrev);
    act(&mut app, Action::FocusPrev);
    assert_eq!(app.focus, Pane::Operations);
    act(&mut app, Action::FocusPane3);
    assert_eq!(app.focus, Pane::Metrics);
}

#[test]
fn age_deadline_is_the_next_label_change() {
    let app = live();
    // web in production changed 41 s ago: its label flips from 41s to 42s in one second.
    assert_eq!(
        app.next_age_deadline(),
        Some(t0().checked_add(SignedDuration::from_secs(1)).unwrap())
    );
    let empty = fixtures::app(ColorMode::Full, 120, 40);
    assert_eq!(
        empty.next_age_deadline(),
        None,
        "no ages on screen, no timer"
    );
}

#[test]
fn logs_name_a_container_when_the_pod_has_several() {
    use crate::model::ContainerImage;
    let mut app = live();
    act(&mut app, Action::Down);
    act(&mut app, Action::Left);
    act(&mut app, Action::Open);
    let mut msgs = fixtures::detail_msgs(false);
    if let Msg::Kube(KubeEvent::Pods { items, .. }) = &mut msgs[1] {
        let mut pods = items.to_vec();
        pods[0].containers = ["istio-proxy", "web"]
            .iter()
            .map(|n| ContainerImage {
                name: n.to_string(),
                image: "x".into(),
            })
            .collect();
        *items = Arc::from(pods);
    }
    for msg in msgs {
        app.update(msg);
    }
    match &act(&mut app, Action::Logs)[..] {
        [Command::StreamLogs { container, .. }] => {
            assert_eq!(container.as_deref(), Some("istio-proxy"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_estates_build_the_board_off_the_loop_one_at_a_time() {
    use crate::model::board::build_board;
    let mut app = fixtures::app(ColorMode::Full, 120, 40);
    let items = |n: usize| -> crate::model::Deployments {
        crate::model::shared(
            (0..n).map(|i| fixtures::deployment("shop-develop", &format!("a{i:05}"), "r/a:1", 60)),
        )
    };
    let snapshot = |n| {
        Msg::Kube(KubeEvent::Deployments {
            env: "develop".into(),
            items: items(n),
        })
    };
    let cmds = app.update(snapshot(data::ASYNC_BOARD_MIN));
    let [
        Command::BuildBoard {
            generation,
            config,
            deployments,
        },
    ] = &cmds[..]
    else {
        panic!("{cmds:?}");
    };
    assert!(app.releases.board.rows.is_empty(), "not built inline");
    // More data while building: no second build in flight.
    assert!(app.update(snapshot(data::ASYNC_BOARD_MIN + 1)).is_empty());
    let board = Box::new(build_board(config, deployments));
    let next = app.update(Msg::BoardBuilt {
        generation: *generation,
        board,
    });
    assert_eq!(app.releases.board.rows.len(), data::ASYNC_BOARD_MIN);
    assert!(app.dirty);
    // The newer data gets its own build right after.
    let [
        Command::BuildBoard {
            generation,
            config,
            deployments,
        },
    ] = &next[..]
    else {
        panic!("{next:?}");
    };
    let board = Box::new(build_board(config, deployments));
    assert!(
        app.update(Msg::BoardBuilt {
            generation: *generation,
            board
        })
        .is_empty()
    );
    assert_eq!(app.releases.board.rows.len(), data::ASYNC_BOARD_MIN + 1);
}

/// Every action of the help screen, pressed in every mode, changes state without panicking and
/// the screen still renders.
#[test]
fn every_action_in_every_mode() {
    let setups: Vec<(&str, Vec<Action>)> = vec![
        ("board", vec![]),
        ("detail", vec![Action::Down, Action::Left, Action::Open]),
        (
            "logs",
            vec![Action::Down, Action::Left, Action::Open, Action::Logs],
        ),
        ("filter", vec![Action::Filter]),
        ("help", vec![Action::Help]),
        ("picker", vec![Action::EnvPicker]),
    ];
    for (name, setup) in &setups {
        for action in Action::ALL {
            let mut app = live();
            for a in setup {
                act(&mut app, *a);
            }
            if *name != "board" && *name != "filter" {
                for msg in fixtures::detail_msgs(true) {
                    app.update(msg);
                }
            }
            let cmds = act(&mut app, action);
            if action == Action::Quit && matches!(*name, "board" | "detail" | "logs" | "filter") {
                assert_eq!(cmds, vec![Command::Quit], "{name}: quit");
            }
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
            term.draw(|f| crate::ui::render(&app, f)).unwrap();
        }
    }
}

#[test]
fn command_palette_finds_and_runs_an_action() {
    let mut app = live();
    act(&mut app, Action::CommandPalette);
    assert_eq!(
        app.mode(),
        Mode::Filter,
        "printable keys are the palette's text"
    );
    typed(&mut app, "env");
    let Some(Modal::Palette { input, .. }) = app.modals.last() else {
        panic!("palette open");
    };
    assert_eq!(input, "env");
    assert_eq!(super::palette_matches("env")[0], Action::EnvPicker);
    // Enter runs the first match: the environment picker replaces the palette.
    act(&mut app, Action::Open);
    assert!(matches!(app.modals.last(), Some(Modal::EnvPicker { .. })));
    act(&mut app, Action::Back);

    // By description, and Esc closes without running anything.
    act(&mut app, Action::CommandPalette);
    typed(&mut app, "roll back");
    assert_eq!(super::palette_matches("roll back"), vec![Action::Rollback]);
    act(&mut app, Action::Back);
    assert!(app.modals.is_empty());
    assert_eq!(app.mode(), Mode::Normal);

    // ↓ moves through the matches; nothing matches → Enter does nothing.
    act(&mut app, Action::CommandPalette);
    typed(&mut app, "focus");
    act(&mut app, Action::Down);
    assert!(matches!(
        app.modals.last(),
        Some(Modal::Palette { cursor: 1, .. })
    ));
    typed(&mut app, "zzz");
    assert!(super::palette_matches("focuszzz").is_empty());
    assert!(app.update(Msg::Action(Action::Open)).is_empty());
    assert!(app.modals.is_empty());
}
