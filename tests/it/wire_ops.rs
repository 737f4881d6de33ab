//! The console's mutation keys: key → `PrepareOp`, `OpPrepared` → modal, confirm → `RunOp` with
//! the confirmation (typed name for protected environments, reason for failed checks), read-only
//! refusals, the patch menu and tag list, silences from the Alerts pane, `R`; and snapshots of
//! the preview modal at 120×40 and 80×24 (the Operations pane: `wire_ops_pane.rs`).
use futures::future::BoxFuture;
use shipdeck::action::Action;
use shipdeck::app::fixtures::{self, t0};
use shipdeck::app::{App, OpModal, Stage};
use shipdeck::keymap::Mode;
use shipdeck::msg::{Command, InputEdit, Msg, OpPreview};
use shipdeck::ops::plan::Plan;
use shipdeck::ops::{
    Check, ImageChange, OpContext, OpError, Outcome, OutcomeStatus, PatchChange, Preview, Request,
    Step, StepCtx, StepExec, StepOutput, TemplateDiff,
};
use shipdeck::ui::theme::ColorMode;
use std::sync::Arc;

pub(crate) struct Noop;

impl StepExec for Noop {
    fn run<'a>(&'a self, _cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async { Ok(StepOutput::done("ok")) })
    }
}

pub(crate) fn live(w: u16, h: u16) -> App {
    fixtures::live_app(ColorMode::Full, w, h)
}

pub(crate) fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
}

pub(crate) fn typed(app: &mut App, s: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in s.chars() {
        out.extend(app.update(Msg::Input(InputEdit::Insert(c))));
    }
    out
}

/// Selects `app` × `env` on the board.
pub(crate) fn select(app: &mut App, name: &str, env: &str) {
    act(app, Action::Top);
    while app.releases.selected_app() != Some(name) {
        act(app, Action::Down);
    }
    while app.releases.selected_env() != Some(env) {
        act(app, Action::Right);
    }
}

/// A promote preview like the engine's: images, a diff, steps and checks.
pub(crate) fn promote_preview(request: Request, failed_check: bool) -> OpPreview {
    let ctx = Arc::new(OpContext::new(fixtures::config(), false).with_data_dir("/nonexistent"));
    let mut plan = Plan::new(request, "20261127T120000Z-promote-web-0001".into());
    plan.steps = vec![
        Step::new(
            "patch-deployment",
            "Patch Deployment web in production: image web@sha256:a1f3c2…",
            serde_json::Value::Null,
            Noop,
        ),
        Step::new(
            "wait-rollout",
            "Wait for the rollout of web in production",
            serde_json::Value::Null,
            Noop,
        ),
        Step::new(
            "verify",
            "Verify error ratio and p99 for 5m",
            serde_json::Value::Null,
            Noop,
        ),
    ];
    let mut p = Preview::new(ctx, plan);
    p.images.push(ImageChange {
        env: "production".into(),
        container: "web".into(),
        from: "registry.local:5000/shop/web:9e01bb".into(),
        to: "registry.local:5000/shop/web@sha256:a1f3c2".into(),
        digest: Some("sha256:a1f3c2".into()),
    });
    p.diffs.push(TemplateDiff {
        env: "production".into(),
        object: "deployment/web".into(),
        namespace: "shop-blue".into(),
        unified: "@@ -3 +3 @@\n-    image: registry.local:5000/shop/web:9e01bb\n+    image: registry.local:5000/shop/web@sha256:a1f3c2\n".into(),
    });
    p.checks.push(Check::pass(
        "access",
        "access review",
        "may patch deployments in shop-blue",
    ));
    p.checks.push(Check::pass(
        "source-rollout",
        "source rollout",
        "staging complete 3/3",
    ));
    if failed_check {
        p.checks.push(
            Check::fail(
                "alerts",
                "critical alerts",
                "HighErrorRate firing for web in production",
            )
            .overridable(),
        );
    } else {
        p.checks
            .push(Check::pass("alerts", "critical alerts", "none firing"));
    }
    p.confirm_name = Some("web".into());
    OpPreview(Arc::new(p))
}

pub(crate) fn promote_web() -> Request {
    Request::Promote {
        app: "web".into(),
        from: Some("staging".into()),
        to: "production".into(),
        reason: None,
    }
}

/// `p` on web @ production → PrepareOp → the preview arrives in the modal.
pub(crate) fn open_preview(app: &mut App, failed_check: bool) -> OpPreview {
    select(app, "web", "production");
    let cmds = act(app, Action::Promote);
    assert_eq!(cmds, vec![Command::PrepareOp(promote_web())]);
    let preview = promote_preview(promote_web(), failed_check);
    app.update(Msg::OpPrepared {
        request: promote_web(),
        result: Ok(preview.clone()),
    });
    preview
}

pub(crate) fn outcome(
    request: Request,
    status: OutcomeStatus,
    suggested: Option<Request>,
) -> Outcome {
    Outcome {
        op_id: "op-1".into(),
        request,
        status,
        message: "error ratio 0.4% → 12.0%".into(),
        steps_done: vec!["patch-deployment".into(), "wait-rollout".into()],
        steps_total: 3,
        verify: None,
        suggested_rollback: suggested,
        elapsed_ms: 52_000,
    }
}

#[test]
fn promote_key_prepares_off_the_ui_and_shows_the_preview() {
    let mut app = live(120, 40);
    let preview = open_preview(&mut app, false);
    assert_eq!(app.mode(), Mode::Filter, "the modal takes text");
    match &app.ops.modal {
        Some(OpModal::Preview {
            stage, preview: p, ..
        }) => {
            assert_eq!(*stage, Stage::Name, "production is protected");
            assert_eq!(*p, preview);
        }
        other => panic!("expected the preview, got {other:?}"),
    }
}

#[test]
fn promote_from_an_env_without_source_goes_to_the_env_that_promotes_from_it() {
    let mut app = live(120, 40);
    select(&mut app, "web", "develop");
    let cmds = act(&mut app, Action::Promote);
    assert_eq!(
        cmds,
        vec![Command::PrepareOp(Request::Promote {
            app: "web".into(),
            from: Some("develop".into()),
            to: "staging".into(),
            reason: None,
        })]
    );
    match &app.ops.modal {
        Some(OpModal::Preparing { rule: Some(r), .. }) => {
            assert!(r.contains("develop has no source"), "{r}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn protected_env_needs_the_typed_name() {
    let mut app = live(120, 40);
    let preview = open_preview(&mut app, false);
    // `y` is text here: not a confirmation.
    assert!(typed(&mut app, "y").is_empty());
    assert!(act(&mut app, Action::Open).is_empty(), "wrong name: no run");
    match &app.ops.modal {
        Some(OpModal::Preview {
            error: Some(e),
            stage,
            ..
        }) => {
            assert_eq!(*stage, Stage::Name);
            assert!(e.contains("`web`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    app.update(Msg::Input(InputEdit::Erase));
    typed(&mut app, "web");
    let cmds = act(&mut app, Action::Open);
    assert_eq!(cmds.len(), 1);
    match &cmds[0] {
        Command::RunOp {
            run,
            preview: p,
            confirmation,
        } => {
            assert_eq!(*run, 1);
            assert_eq!(*p, preview);
            assert_eq!(confirmation.typed_name.as_deref(), Some("web"));
            assert_eq!(confirmation.override_reason, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(app.ops.modal.is_none());
    assert_eq!(app.ops.runs.len(), 1);
    assert!(app.ops.runs[0].running());
}

#[test]
fn failed_check_is_overridden_only_with_a_reason() {
    let mut app = live(120, 40);
    open_preview(&mut app, true);
    let stage = |app: &App| match &app.ops.modal {
        Some(OpModal::Preview { stage, .. }) => *stage,
        other => panic!("{other:?}"),
    };
    assert_eq!(stage(&app), Stage::Reason);
    assert!(
        act(&mut app, Action::Open).is_empty(),
        "empty reason refused"
    );
    assert_eq!(stage(&app), Stage::Reason);
    typed(&mut app, "hotfix for INC-42");
    assert!(act(&mut app, Action::Open).is_empty());
    assert_eq!(stage(&app), Stage::Name);
    typed(&mut app, "web");
    let cmds = act(&mut app, Action::Open);
    match &cmds[..] {
        [Command::RunOp { confirmation, .. }] => {
            assert_eq!(
                confirmation.override_reason.as_deref(),
                Some("hotfix for INC-42")
            );
            assert_eq!(confirmation.typed_name.as_deref(), Some("web"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unprotected_env_confirms_with_y_and_esc_cancels() {
    let mut app = live(120, 40);
    select(&mut app, "api", "staging");
    let cmds = act(&mut app, Action::Rollback);
    let req = Request::Rollback {
        app: "api".into(),
        env: "staging".into(),
        to_revision: None,
    };
    assert_eq!(cmds, vec![Command::PrepareOp(req.clone())]);
    let ctx = Arc::new(OpContext::new(fixtures::config(), false));
    let preview = OpPreview(Arc::new(Preview::new(
        ctx,
        Plan::new(req.clone(), "op-r".into()),
    )));
    app.update(Msg::OpPrepared {
        request: req.clone(),
        result: Ok(preview.clone()),
    });
    // Esc cancels without running.
    assert!(act(&mut app, Action::Back).is_empty());
    assert!(app.ops.modal.is_none());
    assert_eq!(app.mode(), Mode::Normal);
    // Again, and `y` runs it.
    act(&mut app, Action::Rollback);
    app.update(Msg::OpPrepared {
        request: req,
        result: Ok(preview.clone()),
    });
    let cmds = typed(&mut app, "y");
    assert!(
        matches!(&cmds[..], [Command::RunOp { confirmation, .. }] if confirmation.typed_name.is_none())
    );
}

#[test]
fn a_preview_arriving_after_esc_is_dropped_and_errors_show() {
    let mut app = live(120, 40);
    select(&mut app, "web", "production");
    act(&mut app, Action::Promote);
    act(&mut app, Action::Back);
    app.update(Msg::OpPrepared {
        request: promote_web(),
        result: Ok(promote_preview(promote_web(), false)),
    });
    assert!(app.ops.modal.is_none(), "late preview ignored");
    act(&mut app, Action::Promote);
    app.update(Msg::OpPrepared {
        request: promote_web(),
        result: Err("kubernetes (production): connection refused".into()),
    });
    assert!(
        matches!(&app.ops.modal, Some(OpModal::Failed { message, .. }) if message.contains("refused"))
    );
    act(&mut app, Action::Open);
    assert!(app.ops.modal.is_none());
}

#[test]
fn read_only_refuses_every_mutation_key() {
    let mut app = App::new(
        fixtures::config(),
        shipdeck::keymap::Keymap::default(),
        fixtures::clock(),
        true,
    );
    for msg in fixtures::estate() {
        app.update(msg);
    }
    for a in [
        Action::Promote,
        Action::Rollback,
        Action::Patch,
        Action::Sunset,
        Action::Silence,
        Action::Approve,
        Action::Rerun,
        Action::CancelOp,
    ] {
        let cmds = act(&mut app, a);
        assert!(cmds.is_empty(), "{a:?} → {cmds:?}");
        assert!(app.ops.modal.is_none());
        let n = app.notice.clone().unwrap_or_default();
        assert!(n.contains("read-only"), "{a:?}: {n}");
    }
}

#[test]
fn patch_menu_and_silence_form_build_requests() {
    let mut app = live(120, 40);
    select(&mut app, "api", "staging");
    act(&mut app, Action::Patch);
    // 3 = scale: a field for the replicas.
    assert!(typed(&mut app, "3").is_empty());
    typed(&mut app, "x");
    assert!(act(&mut app, Action::Open).is_empty(), "not a number");
    app.update(Msg::Input(InputEdit::Erase));
    typed(&mut app, "5");
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Patch {
            app: "api".into(),
            env: "staging".into(),
            change: PatchChange::Replicas(5),
        })]
    );
    act(&mut app, Action::Back);
    // Restart by ↓ Enter.
    act(&mut app, Action::Patch);
    act(&mut app, Action::Down);
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Patch {
            app: "api".into(),
            env: "staging".into(),
            change: PatchChange::Restart,
        })]
    );
    act(&mut app, Action::Back);
    // Image tag typed.
    act(&mut app, Action::Patch);
    typed(&mut app, "1");
    typed(&mut app, "v2.3.1");
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Patch {
            app: "api".into(),
            env: "staging".into(),
            change: PatchChange::Image("v2.3.1".into()),
        })]
    );
    act(&mut app, Action::Back);
    // Silence: duration prefilled (2h), then a comment.
    act(&mut app, Action::Silence);
    assert!(act(&mut app, Action::Open).is_empty());
    assert!(act(&mut app, Action::Open).is_empty(), "comment required");
    typed(&mut app, "maintenance");
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Silence {
            app: "api".into(),
            alert: None,
            duration_secs: 7200,
            comment: "maintenance".into(),
        })]
    );
    act(&mut app, Action::Back);
    assert_eq!(
        act(&mut app, Action::Sunset),
        vec![Command::PrepareOp(Request::Sunset {
            app: "api".into(),
            resume: false
        })]
    );
    act(&mut app, Action::Back);
    assert_eq!(
        act(&mut app, Action::Approve),
        vec![Command::PrepareOp(Request::Approve {
            app: "api".into(),
            env: "staging".into(),
        })]
    );
}

// ---- snapshots ----

pub(crate) fn draw(app: &App) -> String {
    crate::wire_panes_support::text(&crate::wire_panes_support::draw(app))
}

/// The lines from the first containing `from` to the first after it containing `to` (inclusive):
/// the snapshot holds only this feature's part of the screen, not the other panes.
pub(crate) fn crop(screen: &str, from: &str, to: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines.iter().position(|l| l.contains(from)).unwrap();
    let end = start + lines[start..].iter().position(|l| l.contains(to)).unwrap();
    lines[start..=end].join("\n")
}

#[test]
fn snapshot_preview_modal() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = live(w, h);
        open_preview(&mut app, true);
        typed(&mut app, "hotfix");
        let screen = draw(&app);
        assert!(screen.contains("✓ access review"), "{screen}");
        assert!(screen.contains("✗ critical alerts"), "{screen}");
        let modal = crop(&screen, "┌ promote web", "scroll");
        insta::assert_snapshot!(format!("preview_modal_{w}x{h}"), modal);
    }
}

#[test]
fn silence_from_the_alerts_pane_prefills_the_highlighted_alert() {
    use shipdeck::backend::alertmanager::AlertmanagerConfig;
    use shipdeck::backend::monitor::MonitorEvent;
    use shipdeck::model::alerts::{Alert, AlertState, AlertStatus, AlertsSnapshot};
    let mut config = fixtures::config();
    config.alertmanager = Some(AlertmanagerConfig::new("http://127.0.0.1:9"));
    let mut app = App::new(
        config,
        shipdeck::keymap::Keymap::default(),
        fixtures::clock(),
        false,
    );
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    for msg in fixtures::estate() {
        app.update(msg);
    }
    let labels = [
        ("alertname", "HighErrorRate"),
        ("severity", "critical"),
        ("app", "api"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let alert = Alert {
        labels,
        annotations: Default::default(),
        starts_at: t0(),
        ends_at: t0(),
        updated_at: t0(),
        fingerprint: "f1".into(),
        status: AlertStatus {
            state: AlertState::Active,
            silenced_by: vec![],
            inhibited_by: vec![],
        },
        receivers: vec![],
        generator_url: String::new(),
    };
    let mut silenced = alert.clone();
    silenced.fingerprint = "f2".into();
    silenced
        .labels
        .insert("alertname".into(), "PodCrashLooping".into());
    silenced.labels.insert("severity".into(), "warning".into());
    silenced.status.state = AlertState::Suppressed;
    silenced.status.silenced_by = vec!["5f1c2a9e".into()];
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: Arc::new(AlertsSnapshot::new(vec![alert, silenced], vec![])),
        at: t0(),
    }));
    select(&mut app, "api", "staging");
    act(&mut app, Action::FocusPane4);
    act(&mut app, Action::Silence);
    match &app.ops.modal {
        Some(OpModal::Input { field, text, .. }) => {
            assert_eq!(
                *field,
                shipdeck::app::Field::SilenceDuration {
                    app: "api".into(),
                    alert: Some("HighErrorRate".into()),
                }
            );
            assert_eq!(text, "2h");
        }
        other => panic!("{other:?}"),
    }
    act(&mut app, Action::Open);
    typed(&mut app, "deploy in progress");
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Silence {
            app: "api".into(),
            alert: Some("HighErrorRate".into()),
            duration_secs: 7200,
            comment: "deploy in progress".into(),
        })]
    );
    // The next alert is silenced: `s` on it expires its silence.
    act(&mut app, Action::Back);
    act(&mut app, Action::Down);
    assert_eq!(
        act(&mut app, Action::Silence),
        vec![Command::PrepareOp(Request::ExpireSilence {
            id: "5f1c2a9e".into()
        })]
    );
}

#[test]
fn patch_image_lists_the_registrys_tags_when_configured() {
    use shipdeck::backend::registry::RegistryConfig;
    let mut config = fixtures::config();
    config.registry = Some(RegistryConfig::new("http://127.0.0.1:9"));
    config.apps = vec![shipdeck::config::App {
        name: "web".into(),
        deployment: None,
        containers: vec![],
        repository: Some("shop/web".into()),
        pipeline: None,
    }];
    let mut app = App::new(
        config,
        shipdeck::keymap::Keymap::default(),
        fixtures::clock(),
        false,
    );
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    for msg in fixtures::estate() {
        app.update(msg);
    }
    select(&mut app, "web", "staging");
    act(&mut app, Action::Patch);
    assert_eq!(
        typed(&mut app, "1"),
        vec![Command::ListTags {
            repository: "shop/web".into()
        }]
    );
    // A late answer for another repository is ignored.
    app.update(Msg::OpTags {
        repository: "shop/api".into(),
        result: Ok(vec!["x".into()]),
    });
    assert!(matches!(
        &app.ops.modal,
        Some(OpModal::Tags { tags: None, .. })
    ));
    app.update(Msg::OpTags {
        repository: "shop/web".into(),
        result: Ok(vec!["1.4.1".into(), "1.4.2".into(), "1.5.2".into()]),
    });
    let screen = draw(&app);
    assert!(screen.contains("▸ 1.5.2"), "newest first: {screen}");
    act(&mut app, Action::Down);
    assert_eq!(
        act(&mut app, Action::Open),
        vec![Command::PrepareOp(Request::Patch {
            app: "web".into(),
            env: "staging".into(),
            change: PatchChange::Image("1.4.2".into()),
        })]
    );
    // Typing in the list enters a tag by hand.
    act(&mut app, Action::Back);
    act(&mut app, Action::Patch);
    typed(&mut app, "1");
    typed(&mut app, "v9");
    assert!(matches!(&app.ops.modal, Some(OpModal::Input { text, .. }) if text == "v9"));
}

#[test]
fn rerun_key_builds_a_rerun_of_the_environments_branch() {
    let mut app = live(120, 40);
    select(&mut app, "web", "staging");
    assert_eq!(
        act(&mut app, Action::Rerun),
        vec![Command::PrepareOp(Request::Rerun {
            app: "web".into(),
            branch: "staging".into(),
        })]
    );
}

#[test]
fn a_read_only_environment_refuses_without_preparing() {
    let mut config = fixtures::config();
    config.environments[2].read_only = true;
    let mut app = App::new(
        config,
        shipdeck::keymap::Keymap::default(),
        fixtures::clock(),
        false,
    );
    for msg in fixtures::estate() {
        app.update(msg);
    }
    select(&mut app, "web", "production");
    assert!(act(&mut app, Action::Promote).is_empty());
    assert!(app.ops.modal.is_none());
    let n = app.notice.clone().unwrap_or_default();
    assert!(n.contains("production is read_only"), "{n}");
    // Other environments still work.
    select(&mut app, "web", "staging");
    assert_eq!(act(&mut app, Action::Rollback).len(), 1);
}
