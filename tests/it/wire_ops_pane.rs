//! The Operations pane: `OpEvent`s fold into running and recent operations, `x` cancels, a
//! regressed one rolls back with `r`, the list is bounded, a running operation's elapsed time wakes
//! the loop once a second; snapshots at 120×40 and 80×24.
use crate::wire_ops::{act, crop, draw, live, open_preview, outcome, promote_web, typed};
use shipdeck::action::Action;
use shipdeck::app::fixtures::t0;
use shipdeck::app::{App, OpModal, Pane};
use shipdeck::msg::{Command, Msg};
use shipdeck::ops::{OpError, OpEvent, OutcomeStatus, Request};

/// Confirms the web promote and returns its run id.
fn start_promote(app: &mut App) -> u64 {
    open_preview(app, false);
    typed(app, "web");
    match &act(app, Action::Open)[..] {
        [Command::RunOp { run, .. }] => *run,
        other => panic!("{other:?}"),
    }
}

fn started_events(run: u64) -> Vec<Msg> {
    vec![
        Msg::Op {
            run,
            event: OpEvent::Started {
                op_id: "op-1".into(),
                summary: promote_web().summary(),
                total: 3,
            },
        },
        Msg::Op {
            run,
            event: OpEvent::Step {
                index: 0,
                total: 3,
                name: "patch-deployment".into(),
                description: "Patch Deployment web".into(),
            },
        },
        Msg::Op {
            run,
            event: OpEvent::StepDone {
                index: 0,
                name: "patch-deployment".into(),
                message: "patched".into(),
                already: false,
                elapsed_ms: 40,
            },
        },
        Msg::Op {
            run,
            event: OpEvent::Step {
                index: 1,
                total: 3,
                name: "wait-rollout".into(),
                description: "waiting for rollout".into(),
            },
        },
        Msg::Op {
            run,
            event: OpEvent::Progress {
                index: 1,
                message: "2 of 4 updated replicas are available".into(),
                ready: Some(2),
                desired: Some(4),
            },
        },
    ]
}

#[test]
fn op_events_update_the_operations_pane_and_x_cancels() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    for m in started_events(run) {
        app.update(m);
    }
    let e = &app.ops.runs[0];
    assert_eq!(e.progress.step, Some(1));
    assert_eq!((e.progress.ready, e.progress.desired), (Some(2), Some(4)));
    assert!((e.progress.fraction() - 0.5).abs() < 1e-9);
    // Events of an unknown run change nothing.
    app.dirty = false;
    app.update(Msg::Op {
        run: 99,
        event: OpEvent::Progress {
            index: 0,
            message: "x".into(),
            ready: None,
            desired: None,
        },
    });
    assert!(!app.dirty);
    assert_eq!(
        act(&mut app, Action::CancelOp),
        vec![Command::CancelOp { run }]
    );
    assert!(app.ops.runs[0].cancel_requested);
    app.update(Msg::Op {
        run,
        event: OpEvent::Finished(Box::new(outcome(
            promote_web(),
            OutcomeStatus::Cancelled,
            None,
        ))),
    });
    assert!(!app.ops.runs[0].running());
    assert!(
        act(&mut app, Action::CancelOp).is_empty(),
        "nothing running"
    );
    assert_eq!(app.notice.as_deref(), Some("no operation is running"));
}

fn rollback_web() -> Request {
    Request::Rollback {
        app: "web".into(),
        env: "production".into(),
        to_revision: Some(7),
    }
}

#[test]
fn regressed_then_r_in_operations_prepares_the_suggested_rollback() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    app.update(Msg::Op {
        run,
        event: OpEvent::Finished(Box::new(outcome(
            promote_web(),
            OutcomeStatus::Regressed,
            Some(rollback_web()),
        ))),
    });
    assert!(app.ops.runs[0].regressed());
    act(&mut app, Action::FocusPane5);
    assert_eq!(app.focus, Pane::Operations);
    assert_eq!(
        act(&mut app, Action::Rollback),
        vec![Command::PrepareOp(rollback_web())]
    );
    assert!(matches!(
        &app.ops.modal,
        Some(OpModal::Preparing { request, .. }) if *request == rollback_web()
    ));
}

#[test]
fn recent_operations_are_bounded() {
    let mut app = live(120, 40);
    for _ in 0..(shipdeck::app::RECENT_MAX + 5) {
        let run = start_promote(&mut app);
        app.update(Msg::Op {
            run,
            event: OpEvent::Finished(Box::new(outcome(promote_web(), OutcomeStatus::Done, None))),
        });
    }
    assert_eq!(app.ops.runs.len(), shipdeck::app::RECENT_MAX);
    assert_eq!(
        app.ops.runs[0].run,
        shipdeck::app::RECENT_MAX as u64 + 5,
        "newest first"
    );
}

#[test]
fn snapshot_operations_pane() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = live(w, h);
        // One regressed, one failed, one cancelled, one running.
        let kinds = [
            OutcomeStatus::Regressed,
            OutcomeStatus::Failed {
                error: OpError::RolloutFailed("progress deadline exceeded".into()),
            },
            OutcomeStatus::Cancelled,
        ];
        for status in kinds {
            let run = start_promote(&mut app);
            app.update(Msg::Op {
                run,
                event: OpEvent::Finished(Box::new(outcome(promote_web(), status, None))),
            });
        }
        let run = start_promote(&mut app);
        for m in started_events(run) {
            app.update(m);
        }
        app.clock.advance(jiff::SignedDuration::from_secs(41));
        act(&mut app, Action::FocusPane5);
        let screen = draw(&app);
        assert!(screen.contains("step 2/3"), "{screen}");
        assert!(screen.contains("0:41"), "{screen}");
        let pane = crop(&screen, "OPERATIONS", "┗");
        insta::assert_snapshot!(format!("operations_pane_{w}x{h}"), pane);
    }
    let _ = t0();
}

#[test]
fn a_running_operation_wakes_the_loop_once_a_second_and_a_finished_one_does_not() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    assert_eq!(
        app.ops_deadline(),
        Some(t0() + jiff::SignedDuration::from_secs(1))
    );
    app.clock.advance(jiff::SignedDuration::from_millis(1500));
    assert_eq!(
        app.ops_deadline(),
        Some(t0() + jiff::SignedDuration::from_secs(2))
    );
    let wake = shipdeck::tui::age_instant(&app, std::time::Instant::now()).unwrap();
    assert!(wake <= std::time::Instant::now() + std::time::Duration::from_millis(600));
    app.update(Msg::Op {
        run,
        event: OpEvent::Finished(Box::new(outcome(promote_web(), OutcomeStatus::Done, None))),
    });
    assert_eq!(app.ops_deadline(), None);
}

#[test]
fn enter_on_an_operation_shows_its_details_and_r_rolls_back() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    app.update(Msg::Op {
        run,
        event: OpEvent::Finished(Box::new(outcome(
            promote_web(),
            OutcomeStatus::Regressed,
            Some(rollback_web()),
        ))),
    });
    act(&mut app, Action::FocusPane5);
    act(&mut app, Action::Open);
    assert!(matches!(app.ops.modal, Some(OpModal::Details { run: r }) if r == run));
    let screen = draw(&app);
    assert!(
        screen.contains("steps done (2/3): patch-deployment, wait-rollout"),
        "{screen}"
    );
    assert!(screen.contains("r roll back"), "{screen}");
    assert_eq!(
        typed(&mut app, "r"),
        vec![Command::PrepareOp(rollback_web())]
    );
}

#[test]
fn hostile_strings_in_an_operation_are_stripped() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    let evil = Request::Rollback {
        app: "we\x1b]0;pwned\x07b".into(),
        env: "prod\x1b[2Juction".into(),
        to_revision: None,
    };
    let mut o = outcome(
        evil,
        OutcomeStatus::Failed {
            error: OpError::RolloutFailed("x".into()),
        },
        None,
    );
    o.message = "boom\x1b[31m red\r\nnext".into();
    app.update(Msg::Op {
        run,
        event: OpEvent::Finished(Box::new(o)),
    });
    act(&mut app, Action::FocusPane5);
    act(&mut app, Action::Open);
    let screen = draw(&app);
    assert!(
        !screen.contains('\x1b') && !screen.contains('\x07'),
        "{screen:?}"
    );
    assert!(screen.contains("failed"), "{screen}");
}

#[test]
fn quitting_with_an_operation_running_asks_twice() {
    let mut app = live(120, 40);
    let run = start_promote(&mut app);
    assert!(act(&mut app, Action::Quit).is_empty());
    let n = app.notice.clone().unwrap_or_default();
    assert!(n.contains("q again quits"), "{n}");
    assert_eq!(act(&mut app, Action::Quit), vec![Command::Quit]);
    // Nothing running: one press.
    let mut app = live(120, 40);
    let run2 = start_promote(&mut app);
    app.update(Msg::Op {
        run: run2,
        event: OpEvent::Finished(Box::new(outcome(promote_web(), OutcomeStatus::Done, None))),
    });
    assert_eq!(act(&mut app, Action::Quit), vec![Command::Quit]);
    let _ = run;
}
