//! Bytes on the wire per update (issue 8, item 5), counted, not timed: the console's frames go
//! through ratatui's diff and crossterm into a byte buffer exactly as they go to a terminal, and a
//! cursor move, one Deployment's ready count and a full repaint at 200×60 stay within their budget.
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use shipdeck::action::Action;
use shipdeck::app::App;
use shipdeck::app::fixtures;
use shipdeck::backend::kube::KubeEvent;
use shipdeck::backend::monitor::MonitorEvent;
use shipdeck::model::DeploymentView;
use shipdeck::model::alerts::AlertsSnapshot;
use shipdeck::msg::Msg;
use shipdeck::terminal::CountingWriter;
use shipdeck::ui::theme::ColorMode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// DEC 2026 begin + end, which the console wraps every frame in.
const SYNC_MARKERS: usize = 16;
const COLS: u16 = 200;
const ROWS: u16 = 60;

struct Wire {
    term: Terminal<CrosstermBackend<CountingWriter<Vec<u8>>>>,
    written: Arc<AtomicU64>,
}

impl Wire {
    fn new() -> Wire {
        // The console's own byte counter, over a buffer instead of stdout.
        let writer = CountingWriter::new(Vec::new());
        let written = writer.counter();
        let backend = CrosstermBackend::new(writer);
        let term = Terminal::with_options(
            backend,
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, COLS, ROWS)),
            },
        )
        .unwrap();
        Wire { term, written }
    }

    /// Draws a frame; returns the bytes it wrote (with the sync markers the console adds).
    fn frame(&mut self, app: &App) -> usize {
        let before = self.written.load(Ordering::Relaxed);
        self.term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
        (self.written.load(Ordering::Relaxed) - before) as usize + SYNC_MARKERS
    }
}

/// A board that fills the screen: 60 apps in every environment, as a bigger estate looks, with
/// Alertmanager configured and alerts that differ per app (so the Alerts pane changes with the
/// app it shows).
fn full_app() -> App {
    let mut app = fixtures::app_with(
        crate::wire_panes_support::config(),
        ColorMode::Full,
        COLS,
        ROWS,
    );
    for (env, ns) in [
        ("develop", "shop-develop"),
        ("staging", "shop-green"),
        ("production", "shop-blue"),
    ] {
        let items: Vec<DeploymentView> = (0..60)
            .map(|i| {
                let image = format!("registry.local:5000/shop/app-{i:02}:1.{i}.0");
                fixtures::deployment(ns, &format!("app-{i:02}"), &image, 600 + i64::from(i))
            })
            .collect();
        app.update(Msg::Kube(KubeEvent::Deployments {
            env: env.into(),
            items: shipdeck::model::shared(items),
        }));
        app.update(Msg::Kube(KubeEvent::Live {
            env: env.into(),
            kind: "deployments",
        }));
    }
    let alerts: Vec<_> = (0..4)
        .map(|i| {
            let app = format!("app-{i:02}");
            crate::wire_panes_support::alert(
                "HighLatency",
                "warning",
                &app,
                "shop-develop",
                300 + 60 * i64::from(i),
                &format!("{app}: p99 above 800 ms for 5 minutes"),
            )
        })
        .collect();
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: std::sync::Arc::new(AlertsSnapshot::new(alerts, Vec::new())),
        at: fixtures::t0(),
    }));
    app
}

#[test]
fn a_cursor_move_writes_at_most_200_bytes() {
    let mut app = full_app();
    let mut wire = Wire::new();
    wire.frame(&app);
    // As the loop does while keys arrive: the panes wait for the cursor to rest.
    app.follow_deferred = true;
    for action in [
        Action::Down,
        Action::Down,
        Action::Right,
        Action::Up,
        Action::Left,
    ] {
        app.update(Msg::Action(action));
        let bytes = wire.frame(&app);
        eprintln!("{action:?}: {bytes} B");
        assert!(
            bytes <= 200,
            "{action:?} wrote {bytes} B (budget 200 B at {COLS}×{ROWS})"
        );
    }
    // Once the cursor rests the panes follow; that frame is paid once, not per key.
    app.update(Msg::CursorRested);
    let follow = wire.frame(&app);
    assert!(follow < 4096, "the panes' follow frame wrote {follow} B");
}

#[test]
fn one_ready_count_changing_writes_at_most_2_kb() {
    let mut app = full_app();
    let mut wire = Wire::new();
    wire.frame(&app);
    let mut items: Vec<_> = app.deployments["staging"]
        .value
        .as_deref()
        .unwrap()
        .to_vec();
    let web = std::sync::Arc::make_mut(&mut items[3]);
    web.ready -= 1;
    web.available -= 1;
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "staging".into(),
        items: items.into(),
    }));
    let bytes = wire.frame(&app);
    assert!(bytes <= 2048, "one ready count wrote {bytes} B");
    assert!(bytes > SYNC_MARKERS, "the change was not drawn");
}

#[test]
fn a_full_repaint_at_200x60_writes_at_most_40_kb() {
    let app = full_app();
    let mut wire = Wire::new();
    let bytes = wire.frame(&app);
    eprintln!("full repaint: {bytes} B");
    assert!(bytes <= 40 * 1024, "a full repaint wrote {bytes} B");
    assert!(
        bytes > 10 * 1024,
        "a full screen is more than {bytes} B: was it drawn?"
    );
}
