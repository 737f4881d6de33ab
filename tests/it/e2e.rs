//! End to end: the real binary in a pseudo-terminal against the built-in simulated estate.
use crate::pty::Term;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(30);

#[test]
fn demo_board_detail_logs_filter_quit() {
    let mut term = Term::spawn(&["demo", "--seed", "7"], 120, 40, &[]);
    term.wait_for("web", BOOT);
    term.wait_for("worker", BOOT);
    term.send("q");
    assert_eq!(term.wait_exit(Duration::from_secs(10)), 0);
    assert!(
        term.restored(),
        "terminal not restored:\n{}",
        term.contents()
    );
}
