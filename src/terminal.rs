//! TerminalGuard: raw mode + alternate screen + hidden cursor, restored on Drop, on panic and before
//! exit; suspend/resume for Ctrl-z; a byte-counting writer so benchmarks see what reaches the tty.
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use ratatui::crossterm::terminal::{
    self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute, queue};
use ratatui::layout::Rect;
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts the bytes written through it (the idle check and the ssh-bandwidth figures read this).
#[derive(Debug)]
pub struct CountingWriter<W: Write> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> CountingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            count: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        self.count.clone()
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub type Backend = CrosstermBackend<CountingWriter<BufWriter<Stdout>>>;

/// Whether the terminal is currently in our mode (raw + alternate screen); makes restore idempotent.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether we pushed keyboard enhancement flags (they must be popped on restore).
static ENHANCED: AtomicBool = AtomicBool::new(false);
static HOOK: std::sync::Once = std::sync::Once::new();

/// Owns the terminal while the console runs; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Terminal<Backend>,
    bytes: Arc<AtomicU64>,
    /// What is on screen (the last frame written), to skip frames that change nothing.
    last: Buffer,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, hides the cursor and installs the panic hook.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        let writer = CountingWriter::new(BufWriter::with_capacity(1 << 16, io::stdout()));
        let bytes = writer.counter();
        let terminal = Terminal::new(CrosstermBackend::new(writer))?;
        let mut guard = TerminalGuard {
            terminal,
            bytes,
            last: Buffer::empty(Rect::ZERO),
        };
        guard.activate()?;
        Ok(guard)
    }

    fn activate(&mut self) -> io::Result<()> {
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let out = self.terminal.backend_mut();
        execute!(out, EnterAlternateScreen, cursor::Hide)?;
        if wants_keyboard_enhancement()
            && terminal::supports_keyboard_enhancement().unwrap_or(false)
        {
            execute!(
                self.terminal.backend_mut(),
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )?;
            ENHANCED.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Total bytes written to the terminal so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn byte_counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Renders a frame and writes it inside a synchronized update (DEC 2026), so a slow link never
    /// shows half a frame. Only changed cells are written; when nothing changed, nothing at all is
    /// written (not even the sync markers) and `false` is returned.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> io::Result<bool> {
        self.terminal.autoresize()?;
        let mut frame = self.terminal.get_frame();
        render(&mut frame);
        let current = self.terminal.current_buffer_mut();
        if *current == self.last {
            // Keep the on-screen buffer as the diff base; start the next frame from blank.
            current.reset();
            return Ok(false);
        }
        self.last = current.clone();
        queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.flush()?;
        self.terminal.swap_buffers();
        let out = self.terminal.backend_mut();
        queue!(out, EndSynchronizedUpdate)?;
        out.flush()?;
        Ok(true)
    }

    /// Forgets what is on screen so the next draw repaints every cell (Ctrl-L, resume).
    pub fn invalidate(&mut self) -> io::Result<()> {
        self.last = Buffer::empty(Rect::ZERO);
        // `Terminal::clear` would ask the terminal for the cursor position (and wait for an
        // answer that a pty harness or a slow link may never send); a same-size resize clears
        // the screen and resets the diff base without any query.
        let size = self.terminal.size()?;
        self.terminal
            .resize(Rect::new(0, 0, size.width, size.height))
    }

    /// After a stop we did not ask for: raw mode and the alternate screen again, then a full
    /// repaint (the shell may have reset the terminal meanwhile).
    pub fn reenter(&mut self) -> io::Result<()> {
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        execute!(
            self.terminal.backend_mut(),
            EnterAlternateScreen,
            cursor::Hide
        )?;
        self.invalidate()
    }

    /// Ctrl-z: restores the terminal, stops the process (SIGTSTP, as the shell's job control
    /// expects), and on `fg` re-enters; the caller redraws fully afterwards.
    ///
    /// The signal is sent by `sh -c 'kill -TSTP <pid>'` (a shell builtin), so neither `libc` nor
    /// `unsafe` is needed; the call returns once the process is continued.
    pub fn suspend(&mut self) -> io::Result<()> {
        let _ = self.terminal.backend_mut().flush();
        restore();
        let pid = std::process::id();
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TSTP {pid}")])
            .status();
        let result = self.activate().and_then(|()| self.invalidate());
        status.map(|_| ()).and(result)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.terminal.backend_mut().flush();
        restore();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor; safe to call many times and from
/// the panic hook (it writes to stdout directly, not through the guard).
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        EndSynchronizedUpdate,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The kitty keyboard protocol is only asked for where it is known to exist: the query waits up to
/// two seconds for an answer on terminals that ignore it, which would delay the first frame.
fn wants_keyboard_enhancement() -> bool {
    if std::env::var_os("SHIPDECK_NO_KEYBOARD_ENHANCEMENT").is_some() {
        return false;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    let program = std::env::var("TERM_PROGRAM").unwrap_or_default();
    std::env::var_os("KITTY_WINDOW_ID").is_some()
        || term.contains("kitty")
        || term.contains("foot")
        || term.contains("ghostty")
        || matches!(program.as_str(), "WezTerm" | "ghostty")
}

/// Whether an I/O error means the terminal is gone (ssh dropped): then the process exits at once.
pub fn is_terminal_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof | io::ErrorKind::NotConnected
    ) || err.raw_os_error() == Some(5) // EIO: the pty's other side closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_writer_counts() {
        let mut w = CountingWriter::new(Vec::new());
        let c = w.counter();
        w.write_all(b"hello").unwrap();
        w.write_all(b"\x1b[?2026h").unwrap();
        assert_eq!(c.load(Ordering::Relaxed), 13);
    }

    #[test]
    fn eio_means_gone() {
        assert!(is_terminal_gone(&io::Error::from_raw_os_error(5)));
        assert!(is_terminal_gone(&io::Error::from(
            io::ErrorKind::BrokenPipe
        )));
        assert!(!is_terminal_gone(&io::Error::from(
            io::ErrorKind::Interrupted
        )));
    }
}
