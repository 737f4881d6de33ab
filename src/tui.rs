//! The UI task: one `select!` over terminal input, the backend channel, signals and timers that
//! exist only when needed (a frame deadline while dirty, an age timer aligned to the next visible
//! age-label change). No tick: idle means no wake-ups and no bytes to the terminal.
use crate::app::App;
use crate::backend::kube::KubeBackend;
use crate::clock::Clock;
use crate::config::Config;
use crate::keymap::{Keymap, Resolved};
use crate::model::board::build_board;
use crate::msg::{Command, InputEdit, Msg};
use crate::terminal::{self, TerminalGuard};
use color_eyre::eyre::WrapErr;
use futures::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use std::path::PathBuf;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages queued from all backends before they wait (backpressure, not loss).
pub const CHANNEL_CAPACITY: usize = 1024;
/// Messages handled after one wake-up before a frame is drawn.
const DRAIN_BUDGET: usize = 512;
/// Terminal events already waiting that are handled before the frame (a paste is one frame).
const INPUT_BUDGET: usize = 64;
/// Data-driven frames are at most this frequent (watch storms coalesce to ≤ 10 frames/s);
/// keys draw at once.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// A burst of resizes gets one frame this long after the last one.
pub const RESIZE_DEBOUNCE: Duration = Duration::from_millis(40);
/// Wake a little after an age label flips, never a little before.
const AGE_MARGIN: Duration = Duration::from_millis(5);
/// At most this many frames in any second, keys included: data-driven frames wait when keys have
/// used the budget (a storm plus fast typing stays within it; keys alone still draw at once).
pub const MAX_FRAMES_PER_SECOND: usize = 20;
/// The overview panes follow the board's cursor once no key arrived for this long: holding `j`
/// over ssh redraws the cursor only, and the panes change once, where the cursor stops.
pub const FOLLOW_REST: Duration = Duration::from_millis(120);

#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// Hide and refuse every mutation (`--read-only`).
    pub read_only: bool,
    pub clock: Clock,
    /// Where to write `{draws, bytes_written, key_latencies_us}` on exit (default: env
    /// `SHIPDECK_STATS`).
    pub stats_path: Option<PathBuf>,
}

/// Decides when to draw: keys draw at once, data at most every `FRAME_INTERVAL`, resizes after a
/// quiet `RESIZE_DEBOUNCE`. Factored out of the loop so idle behaviour is testable without a tty.
#[derive(Debug, Clone)]
pub struct Scheduler {
    last_draw: Option<Instant>,
    /// When the last `MAX_FRAMES_PER_SECOND` frames were drawn, oldest first.
    recent: std::collections::VecDeque<Instant>,
    urgent: bool,
    resize_quiet_at: Option<Instant>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler {
            last_draw: None,
            recent: std::collections::VecDeque::with_capacity(MAX_FRAMES_PER_SECOND),
            urgent: false,
            resize_quiet_at: None,
        }
    }

    /// A key was handled: its frame should not wait for the frame interval.
    pub fn input(&mut self) {
        self.urgent = true;
    }

    pub fn resized(&mut self, now: Instant) {
        self.resize_quiet_at = Some(now + RESIZE_DEBOUNCE);
    }

    /// The earliest instant a frame may be drawn, if one is wanted.
    fn frame_at(&self, dirty: bool) -> Option<Instant> {
        if !dirty {
            return None;
        }
        let budget = (self.recent.len() >= MAX_FRAMES_PER_SECOND)
            .then(|| self.recent.front().map(|t| *t + Duration::from_secs(1)))
            .flatten();
        let gate = match (self.urgent, self.last_draw) {
            (false, Some(t)) => Some((t + FRAME_INTERVAL).max(budget.unwrap_or(t))),
            _ => None,
        };
        match (gate, self.resize_quiet_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn frame_due(&self, dirty: bool, now: Instant) -> bool {
        dirty && self.frame_at(dirty).is_none_or(|t| now >= t)
    }

    /// When the loop must wake without input: the frame deadline or the age timer, whichever is
    /// first; `None` means sleep until something arrives.
    pub fn next_wakeup(&self, dirty: bool, age: Option<Instant>) -> Option<Instant> {
        self.frame_at(dirty).into_iter().chain(age).min()
    }

    pub fn drew(&mut self, now: Instant) {
        self.last_draw = Some(now);
        if self.recent.len() >= MAX_FRAMES_PER_SECOND {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.urgent = false;
        if self.resize_quiet_at.is_some_and(|t| now >= t) {
            self.resize_quiet_at = None;
        }
    }
}

/// Converts the app's next age-label change (wall clock) into an `Instant` for the timer.
pub fn age_instant(app: &App, now: Instant) -> Option<Instant> {
    // A running operation's elapsed time is an age label too.
    let deadline = app
        .next_age_deadline()
        .into_iter()
        .chain(app.ops_deadline())
        .min()?;
    let clock_now = app.clock.now();
    let ahead = Duration::try_from(deadline.duration_since(clock_now)).unwrap_or(Duration::ZERO);
    // The demo's clock may run faster than the wall (`--speed`) or stand still (`--paused`).
    let wait = app.clock.wall_wait(ahead)?;
    Some(now + wait + AGE_MARGIN)
}

#[derive(Debug, Default, serde::Serialize)]
struct Stats {
    draws: u64,
    bytes_written: u64,
    key_latencies_us: Vec<u64>,
    /// From `run_console` entry to the first frame flushed.
    first_frame_us: u64,
}

/// How the loop ended.
enum Exit {
    Quit,
    Signal(i32),
}

/// Runs the console until the user quits. The terminal is restored on every way out; on SIGHUP or
/// when the terminal goes away the process exits at once.
pub async fn run_console(config: Config, opts: ConsoleOptions) -> color_eyre::Result<()> {
    let started = Instant::now();
    // Bad bindings are a configuration error: reported before the terminal is touched.
    let keymap = Keymap::from_config(&config.keys)?;
    let stats_path = opts
        .stats_path
        .clone()
        .or_else(|| std::env::var_os("SHIPDECK_STATS").map(PathBuf::from));
    let mut sigterm = signal(SignalKind::terminate()).wrap_err("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).wrap_err("installing SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).wrap_err("installing SIGHUP handler")?;
    // Continued after a stop we did not ask for (`kill -STOP`, a shell's job control): the shell
    // may have reset the terminal, so re-enter and repaint.
    let mut sigcont = signal(SignalKind::from_raw(18)).wrap_err("installing SIGCONT handler")?;
    let mut resumed_at: Option<Instant> = None;

    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_CAPACITY);
    let cancel = CancellationToken::new();
    let mut guard = TerminalGuard::enter().wrap_err("setting up the terminal")?;
    let size = guard
        .terminal
        .size()
        .wrap_err("reading the terminal size")?;
    let mut app = App::new(config.clone(), keymap, opts.clock.clone(), opts.read_only);
    // Apps retired by an earlier sunset stay off the board.
    if let Ok(retired) = crate::ops::sunset::retired::load(&crate::ops::context::default_data_dir())
    {
        app.releases.retire(retired.keys().map(String::as_str));
    }
    // Run once the pollers exist (a narrow terminal hides the Metrics pane from the start).
    let early = app.update(Msg::Resize {
        width: size.width,
        height: size.height,
    });
    let mut sched = Scheduler::new();
    let mut stats = Stats::default();
    // The first frame (chrome and "loading") goes out before any backend work starts.
    match guard.draw(|f| crate::ui::render(&app, f)) {
        Ok(_) => stats.draws += 1,
        Err(e) if terminal::is_terminal_gone(&e) => std::process::exit(1),
        Err(e) => return Err(e).wrap_err("drawing"),
    }
    stats.first_frame_us = started.elapsed().as_micros() as u64;
    tracing::info!(
        width = size.width,
        height = size.height,
        first_frame_us = stats.first_frame_us,
        "console started"
    );
    app.dirty = false;
    sched.drew(Instant::now());
    let ui_tx = tx.clone();
    let backend = KubeBackend::spawn(&config, tx, cancel.child_token());
    let (pollers, failures) = crate::app::Pollers::spawn(&config, &opts.clock, &ui_tx, &cancel);
    for msg in failures {
        app.update(msg);
    }
    for cmd in early {
        if let Ok(Some(msg)) = pollers.run(cmd) {
            app.update(msg);
        }
    }
    let mut ops =
        crate::app::OpsRunner::new(&config, opts.read_only, ui_tx.clone(), cancel.child_token());
    let mut events = EventStream::new();
    let mut pending_keys: Vec<Instant> = Vec::new();
    let mut last_key: Option<Instant> = None;

    let exit = loop {
        let now = Instant::now();
        if sched.frame_due(app.dirty, now) {
            match guard.draw(|f| crate::ui::render(&app, f)) {
                Ok(wrote) => {
                    let flushed = Instant::now();
                    stats.draws += u64::from(wrote);
                    stats.key_latencies_us.extend(
                        pending_keys
                            .drain(..)
                            .map(|t| flushed.duration_since(t).as_micros() as u64),
                    );
                }
                Err(e) if terminal::is_terminal_gone(&e) => std::process::exit(1),
                Err(e) => break Err(e).wrap_err("drawing"),
            }
            app.dirty = false;
            sched.drew(Instant::now());
        }
        let age_at = age_instant(&app, Instant::now());
        let follow_at = last_key
            .filter(|_| app.follow_deferred && app.follow_pending())
            .map(|t| t + FOLLOW_REST);
        let timer = age_at.into_iter().chain(follow_at).min();
        let wake = sched.next_wakeup(app.dirty, timer);
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        let mut commands = Vec::new();
        tokio::select! {
            biased;
            _ = sighup.recv() => std::process::exit(129),
            _ = sigterm.recv() => break Ok(Exit::Signal(15)),
            _ = sigint.recv() => break Ok(Exit::Signal(2)),
            _ = sigcont.recv() => {
                // Our own Ctrl-z already re-entered and repaints; only foreign stops need this.
                if resumed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    guard.reenter().wrap_err("resuming")?;
                    app.dirty = true;
                }
            }
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if matches!(ev, Event::Key(_)) {
                        last_key = Some(Instant::now());
                        app.follow_deferred = true;
                    }
                    on_event(ev, &mut app, &mut sched, &mut pending_keys, &mut stats, &mut commands);
                    // Keys already typed (a paste, key repeat) are handled before the frame.
                    // `poll!` polls with this task's waker: `now_or_never` would hand crossterm's
                    // wake thread a no-op waker and the next key would wait for another wake-up.
                    for _ in 0..INPUT_BUDGET {
                        match futures::poll!(events.next()) {
                            Poll::Ready(Some(Ok(ev))) => on_event(
                                ev,
                                &mut app,
                                &mut sched,
                                &mut pending_keys,
                                &mut stats,
                                &mut commands,
                            ),
                            Poll::Ready(Some(Err(_)) | None) => std::process::exit(1),
                            Poll::Pending => break,
                        }
                    }
                }
                // The terminal went away (ssh dropped): nothing left to restore.
                Some(Err(_)) | None => std::process::exit(1),
            },
            msg = rx.recv() => {
                if let Some(msg) = msg {
                    commands.extend(app.update(msg));
                    // A burst becomes one frame: take what is already queued, within a budget.
                    for _ in 0..DRAIN_BUDGET {
                        match rx.try_recv() {
                            Ok(msg) => commands.extend(app.update(msg)),
                            Err(_) => break,
                        }
                    }
                }
            }
            _ = sleep => {
                if age_at.is_some_and(|t| t <= Instant::now()) {
                    app.update(Msg::AgesChanged);
                }
                if follow_at.is_some_and(|t| t <= Instant::now()) {
                    commands.extend(app.update(Msg::CursorRested));
                }
            }
        }
        let mut quit = false;
        for cmd in commands {
            tracing::debug!(command = command_name(&cmd), "running command");
            // The overview pollers' commands; the metrics generation comes back as a fact.
            let cmd = match pollers.run(cmd) {
                Ok(Some(msg)) => {
                    app.update(msg);
                    continue;
                }
                Ok(None) => continue,
                Err(cmd) => cmd,
            };
            // Operations run off the UI task; their answers come back as messages.
            let Err(cmd) = ops.run(cmd) else {
                continue;
            };
            match cmd {
                Command::Quit => quit = true,
                Command::Suspend => {
                    guard.suspend().wrap_err("suspending")?;
                    resumed_at = Some(Instant::now());
                    app.dirty = true;
                }
                Command::Repaint => {
                    guard.invalidate().wrap_err("repainting")?;
                    app.dirty = true;
                }
                Command::OpenDetail {
                    env,
                    namespace,
                    deployment,
                    selector,
                } => backend.open_detail(&env, &namespace, &deployment, selector),
                Command::CloseDetail => backend.close_detail(),
                Command::StreamLogs {
                    request,
                    env,
                    namespace,
                    pod,
                    container,
                } => backend.stream_logs(request, &env, &namespace, &pod, container),
                Command::StopLogs => backend.stop_logs(),
                Command::PrepareOp(_)
                | Command::RunOp { .. }
                | Command::CancelOp { .. }
                | Command::ListTags { .. } => {}
                // Run by `pollers` above.
                Command::SelectMetrics { .. }
                | Command::MetricsVisible(_)
                | Command::SelectPipelines { .. }
                | Command::WatchCiApps(_)
                | Command::WatchTags(_)
                | Command::OpenRun(_)
                | Command::CloseRun
                | Command::RefreshSources => {}
                Command::BuildBoard {
                    generation,
                    config,
                    deployments,
                } => {
                    let tx = ui_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let board = Box::new(build_board(&config, &deployments));
                        let _ = tx.blocking_send(Msg::BoardBuilt { generation, board });
                    });
                }
            }
        }
        if quit {
            break Ok(Exit::Quit);
        }
    };

    tracing::info!(
        draws = stats.draws,
        bytes = guard.bytes_written(),
        keys = stats.key_latencies_us.len(),
        "console stopping"
    );
    cancel.cancel();
    drop(backend);
    stats.bytes_written = guard.bytes_written();
    drop(guard);
    if let Some(path) = stats_path {
        let json = serde_json::to_vec(&stats)?;
        std::fs::write(&path, json)
            .wrap_err_with(|| format!("writing stats to {}", path.display()))?;
    }
    match exit? {
        Exit::Quit => Ok(()),
        Exit::Signal(n) => std::process::exit(128 + n),
    }
}

/// One terminal event: keys through the keymap into `update`, resizes into the debounce.
fn on_event(
    ev: Event,
    app: &mut App,
    sched: &mut Scheduler,
    pending_keys: &mut Vec<Instant>,
    stats: &mut Stats,
    commands: &mut Vec<Command>,
) {
    let received = Instant::now();
    match ev {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            let msg = match app.keymap.resolve(app.mode(), &key) {
                Some(Resolved::Action(a)) => Msg::Action(a),
                Some(Resolved::Text(c)) => Msg::Input(InputEdit::Insert(c)),
                Some(Resolved::Erase) => Msg::Input(InputEdit::Erase),
                None => return,
            };
            commands.extend(app.update(msg));
            if app.dirty {
                sched.input();
                pending_keys.push(received);
            } else {
                // Nothing to show: the key's latency ends here.
                stats
                    .key_latencies_us
                    .push(received.elapsed().as_micros() as u64);
            }
        }
        Event::Resize(width, height) => {
            sched.resized(received);
            commands.extend(app.update(Msg::Resize { width, height }));
        }
        _ => {}
    }
}

fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Quit => "quit",
        Command::Suspend => "suspend",
        Command::Repaint => "repaint",
        Command::OpenDetail { .. } => "open_detail",
        Command::CloseDetail => "close_detail",
        Command::StreamLogs { .. } => "stream_logs",
        Command::StopLogs => "stop_logs",
        Command::BuildBoard { .. } => "build_board",
        Command::PrepareOp(_) => "prepare_op",
        Command::RunOp { .. } => "run_op",
        Command::CancelOp { .. } => "cancel_op",
        Command::ListTags { .. } => "list_tags",
        Command::SelectMetrics { .. } => "select_metrics",
        Command::MetricsVisible(_) => "metrics_visible",
        Command::SelectPipelines { .. } => "select_pipelines",
        Command::WatchCiApps(_) => "watch_ci_apps",
        Command::WatchTags(_) => "watch_tags",
        Command::OpenRun(_) => "open_run",
        Command::CloseRun => "close_run",
        Command::RefreshSources => "refresh_sources",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_gated_keys_are_not() {
        let t0 = Instant::now();
        let mut s = Scheduler::new();
        assert!(s.frame_due(true, t0), "first frame at once");
        assert!(!s.frame_due(false, t0), "nothing to draw, no frame");
        s.drew(t0);
        // Data right after a frame waits for the interval.
        assert!(!s.frame_due(true, t0 + Duration::from_millis(5)));
        assert_eq!(s.next_wakeup(true, None), Some(t0 + FRAME_INTERVAL));
        assert!(s.frame_due(true, t0 + FRAME_INTERVAL));
        // A key draws at once.
        s.input();
        assert!(s.frame_due(true, t0 + Duration::from_millis(1)));
        // Idle: no wake-up unless an age label changes.
        assert_eq!(s.next_wakeup(false, None), None);
        let age = t0 + Duration::from_secs(7);
        assert_eq!(s.next_wakeup(false, Some(age)), Some(age));
    }

    #[test]
    fn keys_and_data_together_stay_within_twenty_frames_a_second() {
        let t0 = Instant::now();
        let mut s = Scheduler::new();
        // Twenty key frames in 950 ms use the second's budget...
        for i in 0..MAX_FRAMES_PER_SECOND as u64 {
            s.input();
            let at = t0 + Duration::from_millis(50 * i);
            assert!(s.frame_due(true, at), "a key draws at once");
            s.drew(at);
        }
        // ...so data waits until the oldest of them is a second old, even past the interval.
        let last = t0 + Duration::from_millis(950);
        assert_eq!(s.next_wakeup(true, None), Some(last + FRAME_INTERVAL));
        let mut crowded = Scheduler::new();
        for i in 0..MAX_FRAMES_PER_SECOND as u64 {
            crowded.input();
            crowded.drew(t0 + Duration::from_millis(10 * i));
        }
        let budget_free = t0 + Duration::from_secs(1);
        assert!(!crowded.frame_due(true, t0 + Duration::from_millis(500)));
        assert_eq!(crowded.next_wakeup(true, None), Some(budget_free));
        assert!(crowded.frame_due(true, budget_free));
        // A key still draws at once.
        crowded.input();
        assert!(crowded.frame_due(true, t0 + Duration::from_millis(500)));
    }

    #[test]
    fn a_resize_burst_gets_one_frame_after_it() {
        let t0 = Instant::now();
        let mut s = Scheduler::new();
        s.drew(t0);
        let mut now = t0;
        for _ in 0..10 {
            now += Duration::from_millis(10);
            s.resized(now);
            assert!(!s.frame_due(true, now), "no frame during the burst");
        }
        assert_eq!(s.next_wakeup(true, None), Some(now + RESIZE_DEBOUNCE));
        assert!(s.frame_due(true, now + RESIZE_DEBOUNCE));
        s.drew(now + RESIZE_DEBOUNCE);
        s.input();
        assert!(s.frame_due(true, now + RESIZE_DEBOUNCE), "debounce is over");
    }
}
