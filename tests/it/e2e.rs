//! End to end: the real binary in a pseudo-terminal against the built-in simulated estate.
use crate::pty::Term;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(30);
const STEP: Duration = Duration::from_secs(20);

#[test]
fn demo_board_detail_logs_filter_quit() {
    let mut term = Term::spawn(&["demo", "--seed", "7"], 120, 40, &[]);
    let board = term.wait_for("worker", BOOT);
    assert!(board.contains("production (blue)"), "{board}");
    term.wait_until(BOOT, "three live environments", |s| {
        s.matches('●').count() >= 4
    });

    // Move to api, right to staging, open the deployment detail.
    term.send("j");
    term.send("l");
    term.send("\r");
    let detail = term.wait_for("DEPLOYMENT api @ staging", STEP);
    term.wait_for("shop-green/api", STEP);
    assert!(detail.contains("HISTORY") || term.wait_for("HISTORY", STEP).contains("HISTORY"));
    term.wait_for("PODS", STEP);
    term.wait_until(STEP, "a pod row", |s| {
        s.contains("api-") && s.contains("Running")
    });

    // Logs of the selected pod.
    term.send("l");
    term.wait_until(STEP, "log lines", |s| {
        s.contains("LOGS") && (s.contains("GET ") || s.contains("POST "))
    });

    // Back to the board (one Esc at a time: two in one read would be one Alt-Esc), then filter.
    term.send("\x1b");
    term.wait_until(STEP, "logs closed", |s| !s.contains("LOGS"));
    term.send("\x1b");
    term.wait_until(STEP, "board focused", |s| !s.contains("DEPLOYMENT api"));
    term.send("/wor");
    term.wait_until(STEP, "filtered board", |s| {
        s.contains("worker") && !s.contains("▸ web") && !s.contains("  api ")
    });
    term.send("\r");

    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
    assert!(
        term.restored(),
        "terminal not restored:\n{}",
        term.contents()
    );
}

#[test]
fn small_terminal_and_help() {
    let mut term = Term::spawn(&["demo", "--seed", "7"], 80, 24, &[("NO_COLOR", "1")]);
    term.wait_for("worker", BOOT);
    term.send("?");
    term.wait_for("HELP", STEP);
    term.send("\x1b");
    term.wait_until(STEP, "help closed", |s| !s.contains("HELP"));
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
    assert!(term.restored());
}

#[test]
fn sigterm_restores_the_terminal() {
    let mut term = Term::spawn(&["demo", "--seed", "7"], 100, 30, &[]);
    term.wait_for("worker", BOOT);
    let pid = term.pid().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    term.wait_exit(STEP);
    assert!(
        term.restored(),
        "terminal not restored after SIGTERM:\n{}",
        term.contents()
    );
}

#[test]
fn bad_config_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "estate = 'x'\nbogus_key = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["--config", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("bogus_key"),
        "{err}"
    );
    assert!(
        err.lines().filter(|l| !l.trim().is_empty()).count() <= 6,
        "{err}"
    );

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["--config", "/nonexistent/shipdeck.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/shipdeck.toml"));
}

#[test]
fn conflicting_key_bindings_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(
        &path,
        "[[environments]]\nname='p'\nnamespace='n'\n[keys]\nquit = 'j'\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys.toml") && err.contains("`keys`"), "{err}");
}

/// The API server goes away while the console runs: the board keeps its data, the status bar says
/// stale with the error, nothing crashes; the server comes back on the same port: live again.
#[test]
fn api_server_down_then_back_while_the_console_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = rt.block_on(async {
        shipdeck::demo::Demo::start(shipdeck::demo::DemoOptions {
            extras: false,
            life_every_s: 0,
            ..Default::default()
        })
        .await
        .unwrap()
    });
    demo.write_config(dir.path()).unwrap();
    let config = dir.path().join("config.toml");
    let mut term = Term::spawn(&["--config", config.to_str().unwrap()], 120, 40, &[]);
    term.wait_for("worker", BOOT);
    term.wait_until(BOOT, "all environments live", |s| {
        s.contains("k8s:production ●") && !s.contains("stale")
    });

    rt.block_on(demo.kube_server().stop());
    let screen = term.wait_until(Duration::from_secs(60), "stale sources", |s| {
        s.contains("stale") && s.contains("worker")
    });
    assert!(
        screen.contains("1.4.1"),
        "board data kept while stale:\n{screen}"
    );

    rt.block_on(demo.kube_server().restart()).unwrap();
    term.wait_until(Duration::from_secs(60), "live again", |s| {
        !s.contains("stale") && s.contains("k8s:production ●")
    });
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
    assert!(term.restored());
    rt.block_on(demo.shutdown());
}
