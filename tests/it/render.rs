//! Render snapshots of the board and the detail (text only) at 80×24, 120×40 and 200×50, colour
//! assertions on chosen cells, every size down to 20×5 without panics, and the idle scheduler.
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use shipdeck::action::Action;
use shipdeck::app::fixtures::{self, t0};
use shipdeck::app::{App, Pane};
use shipdeck::backend::kube::KubeEvent;
use shipdeck::msg::Msg;
use shipdeck::tui::{Scheduler, age_instant};
use shipdeck::ui::theme::ColorMode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

fn draw(app: &App) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
    term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
    term.backend().buffer().clone()
}

/// The buffer as lines of text (wide characters occupy their cell; the spacer cell is skipped).
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..area.width {
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

fn find(buf: &Buffer, needle: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(i) = row.find(needle) {
            let x = row[..i].chars().count() as u16;
            return (x, y);
        }
    }
    panic!("{needle:?} not on screen:\n{}", text(buf));
}

fn snapshot_all(name: &str, make: impl Fn(u16, u16) -> App) {
    for (w, h) in SIZES {
        let app = make(w, h);
        let screen = text(&draw(&app));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
    }
}

#[test]
fn board_loading() {
    snapshot_all("board_loading", |w, h| fixtures::app(ColorMode::None, w, h));
}

#[test]
fn board_live() {
    snapshot_all("board_live", |w, h| {
        fixtures::live_app(ColorMode::None, w, h)
    });
}

fn stale(w: u16, h: u16) -> App {
    let mut app = fixtures::live_app(ColorMode::None, w, h);
    for env in ["develop", "staging"] {
        app.update(Msg::Kube(KubeEvent::Live {
            env: env.into(),
            kind: "deployments",
        }));
    }
    app.clock.advance(jiff::SignedDuration::from_secs(150));
    app.update(Msg::Kube(KubeEvent::Failed {
        env: "production".into(),
        kind: "deployments",
        error: "connect: connection refused (127.0.0.1:6443)".into(),
    }));
    app
}

#[test]
fn board_stale_with_error() {
    snapshot_all("board_stale", stale);
    let buf = draw(&stale(120, 40));
    let screen = text(&buf);
    assert!(screen.contains("! stale"), "{screen}");
    assert!(screen.contains("connection refused"), "{screen}");
    // The data stays: web's rolling cell in production is still drawn.
    assert!(screen.contains("9e01bb"), "{screen}");
}

#[test]
fn board_empty() {
    snapshot_all("board_empty", |w, h| {
        let mut app = fixtures::app(ColorMode::None, w, h);
        for env in ["develop", "staging", "production"] {
            app.update(Msg::Kube(KubeEvent::Deployments {
                env: env.into(),
                items: Arc::from(vec![]),
            }));
        }
        app
    });
}

#[test]
fn board_hostile_strings() {
    snapshot_all("board_hostile", |w, h| {
        let mut app = fixtures::live_app(ColorMode::None, w, h);
        fixtures::add_hostile_app(&mut app);
        app
    });
}

#[test]
fn detail_live() {
    snapshot_all("detail_live", |w, h| {
        fixtures::detail_app(ColorMode::None, w, h, false)
    });
}

#[test]
fn detail_loading() {
    snapshot_all("detail_loading", |w, h| {
        let mut app = fixtures::live_app(ColorMode::None, w, h);
        app.update(Msg::Action(Action::Down));
        app.update(Msg::Action(Action::Left));
        app.update(Msg::Action(Action::Open));
        app
    });
}

#[test]
fn detail_empty() {
    snapshot_all("detail_empty", |w, h| {
        let mut app = fixtures::live_app(ColorMode::None, w, h);
        app.update(Msg::Action(Action::Down));
        app.update(Msg::Action(Action::Left));
        app.update(Msg::Action(Action::Open));
        app.update(Msg::Kube(KubeEvent::ReplicaSets {
            env: "production".into(),
            items: Arc::from(vec![]),
        }));
        app.update(Msg::Kube(KubeEvent::Pods {
            env: "production".into(),
            items: Arc::from(vec![]),
        }));
        app.update(Msg::Kube(KubeEvent::Events {
            env: "production".into(),
            items: Arc::from(vec![]),
        }));
        app
    });
}

#[test]
fn detail_stale_with_error() {
    snapshot_all("detail_stale", |w, h| {
        let mut app = fixtures::detail_app(ColorMode::None, w, h, false);
        app.clock.advance(jiff::SignedDuration::from_secs(90));
        app.update(Msg::Kube(KubeEvent::Failed {
            env: "production".into(),
            kind: "pods",
            error: "HTTP 503: apiserver unavailable".into(),
        }));
        app.update(Msg::Kube(KubeEvent::Failed {
            env: "production".into(),
            kind: "deployments",
            error: "HTTP 503: apiserver unavailable".into(),
        }));
        app
    });
}

#[test]
fn detail_hostile_strings() {
    snapshot_all("detail_hostile", |w, h| {
        fixtures::detail_app(ColorMode::None, w, h, true)
    });
    let buf = draw(&fixtures::detail_app(ColorMode::None, 200, 50, true));
    let screen = text(&buf);
    assert!(!screen.contains('\u{1b}'), "no escape reaches a cell");
    assert!(!screen.contains('\u{7}'));
    assert!(screen.contains("web-5d8f7-evil"), "{screen}");
    assert!(screen.contains("日本語"), "{screen}");
}

/// No cell of any screen holds a control character, whatever the outside strings contain.
#[test]
fn no_control_character_reaches_a_cell() {
    let hostile_env = "prod\u{1b}]0;pwned\u{7}\u{9b}31m";
    let mut states: Vec<App> = Vec::new();
    for (w, h) in [(80, 24), (200, 50)] {
        states.push(fixtures::detail_app(ColorMode::Full, w, h, true));
        let mut app = fixtures::detail_app(ColorMode::None, w, h, true);
        app.update(Msg::Action(Action::Logs));
        let request = app.logs.as_ref().unwrap().request;
        app.update(Msg::Kube(KubeEvent::LogLines {
            request,
            lines: vec!["\u{1b}[2J\u{1b}]0;pwned\u{7}x\r\u{8}\u{0}\u{85}y".into()],
        }));
        app.update(Msg::Kube(KubeEvent::LogEnded {
            request,
            error: Some("gone\u{1b}[31m\u{7}".into()),
        }));
        states.push(app);
        // A hostile app name in a notice, and a failing source with a hostile error.
        let mut app = fixtures::live_app(ColorMode::Full, w, h);
        fixtures::add_hostile_app(&mut app);
        app.update(Msg::Action(Action::Down));
        app.update(Msg::Action(Action::Left));
        app.update(Msg::Action(Action::Open));
        app.update(Msg::Kube(KubeEvent::Failed {
            env: "staging".into(),
            kind: "deployments",
            error: format!("bad\u{1b}[2Jnews {hostile_env}"),
        }));
        states.push(app);
    }
    for app in &states {
        let buf = draw(app);
        for c in buf.content() {
            assert!(
                !c.symbol().chars().any(|ch| ch.is_control()),
                "control character in {:?}:\n{}",
                c.symbol(),
                text(&buf)
            );
        }
    }
}

#[test]
fn logs_hostile_line() {
    snapshot_all("logs_hostile", |w, h| {
        let mut app = fixtures::detail_app(ColorMode::None, w, h, true);
        app.update(Msg::Action(Action::Logs));
        let request = app.logs.as_ref().unwrap().request;
        app.update(Msg::Kube(KubeEvent::LogLines {
            request,
            lines: vec![
                "GET /healthz 200".into(),
                "\u{1b}[2J\u{1b}]0;pwned\u{7}boom: 日本語 panic".into(),
                format!("very long {}", "x".repeat(400)),
            ],
        }));
        app
    });
}

#[test]
fn board_filter_and_picker() {
    let mut app = fixtures::live_app(ColorMode::None, 80, 24);
    app.update(Msg::Action(Action::Filter));
    app.update(Msg::Input(shipdeck::msg::InputEdit::Insert('w')));
    let screen = text(&draw(&app));
    insta::assert_snapshot!("board_filtering_80x24", screen);
    assert!(screen.contains("/w▏ 2 of 3"), "{screen}");
    app.update(Msg::Action(Action::Open));
    app.update(Msg::Action(Action::EnvPicker));
    insta::assert_snapshot!("env_picker_80x24", text(&draw(&app)));
}

#[test]
fn help_lists_bindings() {
    let mut app = fixtures::live_app(ColorMode::None, 120, 40);
    app.update(Msg::Action(Action::Help));
    let screen = text(&draw(&app));
    insta::assert_snapshot!("help_120x40", screen);
    assert!(screen.contains("Shift-Tab"), "{screen}");
}

#[test]
fn failed_cell_is_red_in_colour_and_marked_without() {
    for mode in [ColorMode::Full, ColorMode::Ansi16] {
        let app = fixtures::live_app(mode, 120, 40);
        let buf = draw(&app);
        let (x, y) = find(&buf, "✗ deadline");
        let fg = buf[(x, y)].fg;
        let red = match mode {
            ColorMode::Ansi16 => fg == Color::Red,
            _ => fg == Color::Indexed(203),
        };
        assert!(red, "{mode:?}: failed cell fg is {fg:?}");
        let (x, y) = find(&buf, "✓ 3/3");
        assert_ne!(
            buf[(x, y)].fg,
            Color::Reset,
            "{mode:?}: complete has a colour"
        );
    }
    let app = fixtures::live_app(ColorMode::None, 120, 40);
    let buf = draw(&app);
    let (x, y) = find(&buf, "✗ deadline");
    assert_eq!(buf[(x, y)].fg, Color::Reset, "NO_COLOR: no colour at all");
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "colour at {x},{y}"
            );
        }
    }
    // Meaning by symbols: paused, progressing, drift.
    let screen = text(&buf);
    for sym in ["⏸", "⟳", "≠"] {
        assert!(screen.contains(sym), "{sym} missing:\n{screen}");
    }
}

#[test]
fn stale_badge_stands_out() {
    let mut app = stale(120, 40);
    app.theme = shipdeck::ui::theme::Theme::new(ColorMode::Full);
    let buf = draw(&app);
    let (x, y) = find(&buf, "! stale 2m");
    assert_eq!(buf[(x, y)].fg, Color::Indexed(214));
    app.theme = shipdeck::ui::theme::Theme::new(ColorMode::None);
    let buf = draw(&app);
    let (x, y) = find(&buf, "! stale 2m");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn selection_stays_visible_with_many_rows() {
    let mut app = fixtures::app(ColorMode::None, 80, 24);
    let items: Vec<_> = (0..500)
        .map(|i| fixtures::deployment("shop-develop", &format!("app-{i:04}"), "r/a:1", 3600))
        .collect();
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "develop".into(),
        items: shipdeck::model::shared(items),
    }));
    for _ in 0..100 {
        app.update(Msg::Action(Action::Down));
    }
    let screen = text(&draw(&app));
    assert!(screen.contains("▸ app-0100"), "{screen}");
    app.update(Msg::Action(Action::Bottom));
    let screen = text(&draw(&app));
    assert!(screen.contains("▸ app-0499"), "{screen}");
    // Scrolling back up one row does not jump the view.
    app.update(Msg::Action(Action::Up));
    let screen = text(&draw(&app));
    assert!(
        screen.contains("▸ app-0498") && screen.contains("app-0499"),
        "{screen}"
    );
}

#[test]
fn every_size_renders_without_panic_or_overlap() {
    let states: Vec<Box<dyn Fn(u16, u16) -> App>> = vec![
        Box::new(|w, h| fixtures::app(ColorMode::Full, w, h)),
        Box::new(|w, h| fixtures::live_app(ColorMode::Full, w, h)),
        Box::new(|w, h| fixtures::detail_app(ColorMode::Full, w, h, true)),
        Box::new(|w, h| {
            let mut app = fixtures::detail_app(ColorMode::Ansi16, w, h, true);
            app.update(Msg::Action(Action::Logs));
            app
        }),
        Box::new(|w, h| {
            let mut app = fixtures::live_app(ColorMode::None, w, h);
            app.update(Msg::Action(Action::Help));
            app
        }),
    ];
    for make in &states {
        for w in [1, 5, 20, 33, 60, 80, 99, 100, 150, 250] {
            for h in [1, 2, 3, 5, 8, 12, 24, 29, 30, 60] {
                let app = make(w, h);
                let buf = draw(&app);
                assert_eq!(buf.area.width, w);
            }
        }
    }
    // 20×5 still shows the title, the focused pane and the status bar.
    let app = fixtures::live_app(ColorMode::None, 20, 5);
    let screen = text(&draw(&app));
    assert!(screen.starts_with(" shipdeck"), "{screen}");
}

#[test]
fn narrow_terminal_stacks_panes_and_focused_grows() {
    let mut app = fixtures::live_app(ColorMode::None, 80, 24);
    let screen = text(&draw(&app));
    assert!(screen.contains("▸ PIPELINES"), "{screen}");
    app.update(Msg::Action(Action::FocusNext));
    assert_eq!(app.focus, Pane::Pipelines);
    let screen = text(&draw(&app));
    assert!(screen.contains("▸ RELEASES"), "{screen}");
    assert!(screen.contains("no CI source configured"), "{screen}");
}

/// Drives the loop's decisions over a simulated minute with no messages: the only wake-ups are
/// age-label changes and nothing else draws.
#[test]
fn idle_minute_has_no_draws_beyond_age_changes() {
    // All ages on screen are hours old: no label changes in a minute, so no wake-up at all.
    let mut app = fixtures::app(ColorMode::None, 120, 40);
    let items: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| fixtures::deployment("shop-develop", n, "r/x:1", 5 * 3600 + 600))
        .collect();
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "develop".into(),
        items: shipdeck::model::shared(items),
    }));
    let (wakeups, draws) = simulate_idle(&mut app, Duration::from_secs(60));
    assert_eq!((wakeups, draws), (0, 1), "only the first frame");

    // One cell changed 5m30s ago: exactly one wake-up (5m → 6m at +30 s) and one frame.
    let mut app = fixtures::app(ColorMode::None, 120, 40);
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "develop".into(),
        items: shipdeck::model::shared(vec![fixtures::deployment(
            "shop-develop",
            "a",
            "r/x:1",
            330,
        )]),
    }));
    let (wakeups, draws) = simulate_idle(&mut app, Duration::from_secs(60));
    assert_eq!((wakeups, draws), (1, 2));
    assert_eq!(app.clock.now().duration_since(t0()).as_secs(), 60);
}

/// Returns (age wake-ups, frames drawn) over `span` of simulated time with no input.
fn simulate_idle(app: &mut App, span: Duration) -> (u32, u32) {
    let start = Instant::now();
    let end = start + span;
    let mut now = start;
    let mut sched = Scheduler::new();
    let (mut wakeups, mut draws) = (0, 0);
    let mut last_screen = String::new();
    loop {
        if sched.frame_due(app.dirty, now) {
            let screen = text(&draw(app));
            // A frame only counts if the screen changed (the terminal guard writes nothing else).
            if screen != last_screen {
                draws += 1;
                last_screen = screen;
            }
            app.dirty = false;
            sched.drew(now);
        }
        let age = age_instant(app, now);
        let Some(wake) = sched.next_wakeup(app.dirty, age) else {
            break;
        };
        if wake > end {
            break;
        }
        app.clock
            .advance(jiff::SignedDuration::try_from(wake - now).unwrap());
        now = wake;
        if age.is_some_and(|t| t <= now) {
            wakeups += 1;
            app.update(Msg::AgesChanged);
        }
    }
    let rest = end.saturating_duration_since(now);
    app.clock
        .advance(jiff::SignedDuration::try_from(rest).unwrap());
    (wakeups, draws)
}

type Counting = ratatui::backend::CrosstermBackend<shipdeck::terminal::CountingWriter<Vec<u8>>>;

/// Bytes a frame writes through the real crossterm backend (what an ssh link carries).
fn frame_bytes(
    term: &mut Terminal<Counting>,
    count: &std::sync::atomic::AtomicU64,
    app: &App,
) -> u64 {
    let before = count.load(std::sync::atomic::Ordering::Relaxed);
    term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
    count.load(std::sync::atomic::Ordering::Relaxed) - before
}

#[test]
fn a_cursor_move_writes_few_bytes() {
    for mode in [ColorMode::Full, ColorMode::None] {
        let mut app = fixtures::live_app(mode, 120, 40);
        let writer = shipdeck::terminal::CountingWriter::new(Vec::new());
        let count = writer.counter();
        let mut term = Terminal::with_options(
            ratatui::backend::CrosstermBackend::new(writer),
            ratatui::TerminalOptions {
                viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 120, 40)),
            },
        )
        .unwrap();
        let full = frame_bytes(&mut term, &count, &app);
        let same = frame_bytes(&mut term, &count, &app);
        app.update(Msg::Action(Action::Down));
        let down = frame_bytes(&mut term, &count, &app);
        app.update(Msg::Action(Action::Right));
        let right = frame_bytes(&mut term, &count, &app);
        println!("{mode:?}: full {full} B, unchanged {same} B, down {down} B, right {right} B");
        // ratatui still resets attributes and hides the cursor (TerminalGuard skips such frames).
        assert!(
            same <= 30,
            "an unchanged frame writes (almost) nothing: {same} B"
        );
        assert!(
            down < 300 && right < 300,
            "{mode:?}: down {down} B, right {right} B"
        );
    }
}

/// A storm of snapshots (one every 5 ms for 2 s) is coalesced to at most 10 frames a second,
/// and after the storm the screen shows the last event.
#[test]
fn a_watch_storm_coalesces_and_ends_on_the_last_event() {
    let mut app = fixtures::live_app(ColorMode::None, 120, 40);
    let mut sched = Scheduler::new();
    let start = Instant::now();
    let mut now = start;
    let mut frames = 0;
    let mut last_screen = String::new();
    let mut draw_if_due = |app: &mut App, sched: &mut Scheduler, now: Instant| {
        if sched.frame_due(app.dirty, now) {
            last_screen = text(&draw(app));
            app.dirty = false;
            sched.drew(now);
            true
        } else {
            false
        }
    };
    let base = app.deployments["staging"].value.clone().unwrap();
    for i in 0..400 {
        let mut items = base.to_vec();
        let web = std::sync::Arc::make_mut(&mut items[0]);
        web.ready = i % 3; // web in staging: 0/3, 1/3, 2/3, ...
        web.desired = 3;
        app.update(Msg::Kube(KubeEvent::Deployments {
            env: "staging".into(),
            items: items.into(),
        }));
        frames += u32::from(draw_if_due(&mut app, &mut sched, now));
        now += Duration::from_millis(5);
        if let Some(wake) = sched.next_wakeup(app.dirty, None)
            && wake <= now
        {
            frames += u32::from(draw_if_due(&mut app, &mut sched, now));
        }
    }
    // Quiet: the pending frame comes at its deadline, then nothing.
    while let Some(wake) = sched.next_wakeup(app.dirty, None) {
        now = now.max(wake);
        frames += u32::from(draw_if_due(&mut app, &mut sched, now));
    }
    let seconds = (now - start).as_secs_f64();
    assert!(
        f64::from(frames) <= seconds * 10.0 + 2.0,
        "{frames} frames in {seconds:.1} s"
    );
    assert!(frames >= 10, "the storm was drawn at all: {frames}");
    assert_eq!(
        last_screen,
        text(&draw(&app)),
        "the screen shows the last event"
    );
    assert!(last_screen.contains("a1f3c2 ✓ 0/3"), "{last_screen}");
}
