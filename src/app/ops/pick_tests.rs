//! update() tests of picking a revision in the detail's history and `r` rolling back to it.
use crate::action::Action;
use crate::app::fixtures;
use crate::app::{App, OpModal};
use crate::backend::kube::KubeEvent;
use crate::model::ReplicaSetView;
use crate::msg::{Command, Msg};
use crate::ops::Request;
use crate::ui::theme::ColorMode;
use std::sync::Arc;

fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
}

/// web @ production open: the Deployment runs revision 3; history 3 (9e01bb), 2 (a1f3c2), 1.
fn detail() -> App {
    fixtures::detail_app(ColorMode::Full, 120, 40, false)
}

fn picked(app: &App) -> Option<i64> {
    app.detail.as_ref().and_then(|d| d.history_cursor)
}

fn rollback(to_revision: Option<i64>) -> Vec<Command> {
    vec![Command::PrepareOp(Request::Rollback {
        app: "web".into(),
        env: "production".into(),
        to_revision,
    })]
}

#[test]
fn the_cursor_walks_the_history_then_the_pods() {
    let mut app = detail();
    // Opened on the first pod, as before: nothing picked in the history.
    assert_eq!(picked(&app), None);
    assert_eq!(
        app.detail.as_ref().unwrap().selected_pod().unwrap().name,
        "web-5d8f7-aaaaa"
    );
    // Up from the first pod: the history row drawn just above it (the oldest revision).
    app.dirty = false;
    act(&mut app, Action::Up);
    assert_eq!(picked(&app), Some(1));
    assert!(app.dirty, "moving the cursor redraws");
    assert!(
        app.detail.as_ref().unwrap().selected_pod().is_none(),
        "no pod is selected while the cursor is on the history"
    );
    act(&mut app, Action::Up);
    assert_eq!(picked(&app), Some(2));
    act(&mut app, Action::Top);
    assert_eq!(picked(&app), Some(3), "Top: the newest revision");
    app.dirty = false;
    act(&mut app, Action::Up);
    assert_eq!(picked(&app), Some(3));
    assert!(!app.dirty, "no move, no redraw");
    // Down past the oldest revision: back on the first pod.
    for _ in 0..3 {
        act(&mut app, Action::Down);
    }
    let d = app.detail.as_ref().unwrap();
    assert_eq!((d.history_cursor, d.pod_cursor), (None, 0));
    act(&mut app, Action::Bottom);
    let d = app.detail.as_ref().unwrap();
    assert_eq!((d.history_cursor, d.pod_cursor), (None, 2));
}

#[test]
fn logs_need_the_cursor_on_a_pod() {
    let mut app = detail();
    act(&mut app, Action::Up);
    assert_eq!(picked(&app), Some(1));
    assert!(act(&mut app, Action::Logs).is_empty());
    assert!(app.logs.is_none());
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.contains("move down to a pod"), "{notice}");
    act(&mut app, Action::Down);
    assert!(matches!(
        act(&mut app, Action::Logs).as_slice(),
        [Command::StreamLogs { pod, .. }] if pod == "web-5d8f7-aaaaa"
    ));
}

#[test]
fn r_on_a_picked_revision_prepares_a_rollback_to_it() {
    let mut app = detail();
    act(&mut app, Action::Top);
    act(&mut app, Action::Down);
    assert_eq!(picked(&app), Some(2));
    let cmds = act(&mut app, Action::Rollback);
    assert_eq!(cmds, rollback(Some(2)));
    match &app.ops.modal {
        Some(OpModal::Preparing { request, rule }) => {
            assert_eq!(
                request.summary(),
                "rollback web in production to revision 2"
            );
            // The revision's image is named before the engine answers.
            assert_eq!(rule.as_deref(), Some("picked in the history: web a1f3c2"));
        }
        other => panic!("expected the preparing modal, got {other:?}"),
    }
}

#[test]
fn r_on_the_current_revision_says_why_nothing_would_happen() {
    let mut app = detail();
    act(&mut app, Action::Top);
    assert_eq!(picked(&app), Some(3));
    let cmds = act(&mut app, Action::Rollback);
    assert!(
        cmds.is_empty(),
        "no plan for the running revision: {cmds:?}"
    );
    assert!(app.ops.modal.is_none());
    let notice = app.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("skipped rollback (current template already matches revision 3)"),
        "{notice}"
    );
}

#[test]
fn r_without_a_pick_keeps_rolling_back_to_the_previous_revision() {
    // In the detail with the cursor on the pods.
    let mut app = detail();
    assert_eq!(act(&mut app, Action::Rollback), rollback(None));
    // On the board, even with a revision picked in the detail.
    let mut app = detail();
    act(&mut app, Action::Top);
    act(&mut app, Action::Down);
    act(&mut app, Action::FocusPane1);
    assert_eq!(act(&mut app, Action::Rollback), rollback(None));
}

#[test]
fn the_pick_follows_its_revision_when_the_history_changes() {
    let mut app = detail();
    act(&mut app, Action::Top);
    act(&mut app, Action::Down);
    assert_eq!(picked(&app), Some(2));
    let mut history: Vec<ReplicaSetView> =
        app.detail.as_ref().unwrap().history.value.clone().unwrap();
    // A new rollout lands on top: the pick stays on revision 2, not on the second row.
    let mut newest = history[0].clone();
    newest.revision = 4;
    newest.name = "web-99999".into();
    newest.uid = "rs-99999".into();
    history.insert(0, newest);
    app.update(Msg::Kube(KubeEvent::ReplicaSets {
        env: "production".into(),
        items: Arc::from(history.clone()),
    }));
    assert_eq!(picked(&app), Some(2));
    assert_eq!(act(&mut app, Action::Rollback), rollback(Some(2)));
    // The picked revision leaves the history: nothing stays picked (the cursor is on the pods).
    app.ops.modal = None;
    history.retain(|r| r.revision != 2);
    app.update(Msg::Kube(KubeEvent::ReplicaSets {
        env: "production".into(),
        items: Arc::from(history),
    }));
    assert_eq!(picked(&app), None);
    assert_eq!(act(&mut app, Action::Rollback), rollback(None));
}

#[test]
fn read_only_refuses_a_picked_rollback() {
    let mut app = detail();
    app.read_only = true;
    act(&mut app, Action::Top);
    act(&mut app, Action::Down);
    assert!(act(&mut app, Action::Rollback).is_empty());
    assert!(app.ops.modal.is_none());
    assert!(app.notice.clone().unwrap_or_default().contains("read-only"));
}
