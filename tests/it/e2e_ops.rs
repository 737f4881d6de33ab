//! End to end: the real binary (`shipdeck demo`) in a pseudo-terminal, promoting web from staging
//! to production through the preview modal (production is protected: the app name is typed), the
//! Operations pane following the rollout to completion, the board's production cell showing what
//! staging runs, then `r` rolling it back; `x` cancelling a promote mid-rollout; and `S` sunsetting
//! worker (it leaves the board); and a bad build promoted over the rails, flagged, then rolled back
//! with one key from the Operations pane.
use crate::pty::Term;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(30);
const STEP: Duration = Duration::from_secs(10);
/// A rollout of web in the demo takes about 12 s of wall time at speed 1.
const ROLLOUT: Duration = Duration::from_secs(90);

/// The web row of the board, as shown.
fn web_row(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(" web "))
        .unwrap_or_default()
        .to_string()
}

/// The web row's cells as (version label, state symbol), one per environment column.
fn web_cells(screen: &str) -> Vec<(String, String)> {
    let row = web_row(screen);
    let after = row.split(" web ").nth(1).unwrap_or_default().to_string();
    // Each column reads "<tag> <sym> <ready> <age> [≠]": a tag is the first long-enough word.
    let words: Vec<&str> = after.split_whitespace().collect();
    let mut cells = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w.len() >= 5
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            let sym = words.get(i + 1).copied().unwrap_or_default();
            cells.push((w.to_string(), sym.to_string()));
            i += 3;
        }
        i += 1;
    }
    cells
}

#[test]
fn promote_web_to_production_with_preview_and_typed_name() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut term = Term::spawn(
        &["demo", "--seed", "7"],
        120,
        40,
        &[("SHIPDECK_DATA_DIR", dir), ("SHIPDECK_USER", "e2e")],
    );
    term.wait_for("worker", BOOT);
    let board = term.wait_until(BOOT, "three live environments and web settled", |s| {
        let c = web_cells(s);
        s.matches('●').count() >= 4 && c.len() == 3 && c[1].1 == "✓" && c[2].1 == "✓"
    });
    let cells = web_cells(&board);
    let staging = cells[1].0.clone();
    assert_ne!(
        cells[2].0, staging,
        "production already runs staging's version: {board}"
    );
    // web is the first row and develop the first column: two steps right is production.
    term.send("ll");
    term.wait_for("▸ web", STEP);
    term.send("p");
    let modal = term.wait_for("type `web` to confirm", ROLLOUT);
    assert!(
        modal.contains("promote web staging → production"),
        "{modal}"
    );
    assert!(modal.contains("Checks:"), "{modal}");
    assert!(modal.contains("✓"), "checks shown with marks: {modal}");
    // `y` is not enough for a protected environment.
    term.send("y\r");
    term.wait_for("exactly to confirm", STEP);
    term.send("\x7f");
    term.send("web\r");
    // Live progress: step N/M while the rollout runs.
    term.wait_until(
        ROLLOUT,
        "the rollout's progress in the Operations pane",
        |s| {
            s.lines()
                .any(|l| l.contains("⟳ promote web staging → production") && l.contains("step "))
        },
    );
    let done = term.wait_until(ROLLOUT, "the promote done", |s| {
        s.lines()
            .any(|l| l.contains("promote web staging → production") && l.contains("done"))
    });
    assert!(!done.contains("failed"), "{done}");
    let after = term.wait_until(ROLLOUT, "production runs what staging runs", |s| {
        let c = web_cells(s);
        c.len() == 3 && c[2].0 == staging && c[2].1 == "✓"
    });
    assert_eq!(web_cells(&after)[2].0, staging, "{after}");
    // The journal recorded it in the data directory.
    let journal = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    assert!(journal.contains("\"promote\""), "{journal}");

    // One key rolls production back to what it ran before (protected: the name again).
    let before = cells[2].0.clone();
    term.send("r");
    let modal = term.wait_for("type `web` to confirm", ROLLOUT);
    assert!(modal.contains("rollback web in production"), "{modal}");
    term.send("web\r");
    term.wait_until(ROLLOUT, "the rollback done", |s| {
        s.lines()
            .any(|l| l.contains("rollback web in production") && l.contains("done"))
    });
    let back = term.wait_until(ROLLOUT, "production back on its old version", |s| {
        let c = web_cells(s);
        c.len() == 3 && c[2].0 == before && c[2].1 == "✓"
    });
    assert_eq!(web_cells(&back)[2].0, before, "{back}");
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
    assert!(term.restored());
}

#[test]
fn cancel_a_promote_while_it_waits_for_the_rollout() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut term = Term::spawn(
        &["demo", "--seed", "7"],
        120,
        40,
        &[("SHIPDECK_DATA_DIR", dir), ("SHIPDECK_USER", "e2e")],
    );
    term.wait_until(BOOT, "web settled in staging and production", |s| {
        let c = web_cells(s);
        s.matches('●').count() >= 4 && c.len() == 3 && c[1].1 == "✓" && c[2].1 == "✓"
    });
    term.send("ll");
    term.send("p");
    term.wait_for("type `web` to confirm", ROLLOUT);
    term.send("web\r");
    term.wait_until(ROLLOUT, "waiting for the rollout", |s| {
        s.lines()
            .any(|l| l.contains("⟳ promote web staging → production") && l.contains("step 2/"))
    });
    term.send("x");
    let screen = term.wait_until(ROLLOUT, "the promote cancelled", |s| {
        s.lines()
            .any(|l| l.contains("promote web staging → production") && l.contains("cancelled"))
    });
    let line = screen
        .lines()
        .find(|l| l.contains("cancelled"))
        .unwrap_or_default()
        .to_string();
    // It says what was done: the image was set before the wait was cancelled.
    assert!(line.contains("done:"), "{screen}");
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
}

#[test]
fn sunset_worker_removes_it_from_every_environment() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut term = Term::spawn(
        &["demo", "--seed", "7"],
        120,
        40,
        &[("SHIPDECK_DATA_DIR", dir), ("SHIPDECK_USER", "e2e")],
    );
    term.wait_until(BOOT, "worker on the board", |s| {
        s.matches('●').count() >= 4 && s.lines().any(|l| l.contains(" worker ") && l.contains('✓'))
    });
    // Rows: web, api, worker.
    term.send("jj");
    term.wait_for("▸ worker", STEP);
    term.send("S");
    let modal = term.wait_until(ROLLOUT, "the sunset preview", |s| {
        s.contains("sunset worker") && (s.contains("to confirm") || s.contains("y/Enter"))
    });
    if modal.contains("type `worker`") {
        term.send("worker\r");
    } else {
        term.send("y");
    }
    let done = term.wait_until(ROLLOUT, "the sunset finished", |s| {
        s.lines()
            .any(|l| l.contains("sunset worker") && (l.contains("done") || l.contains("failed")))
    });
    assert!(!done.contains("failed"), "{done}");
    // The retired app leaves the board (the config still lists it), and stays off after a restart.
    term.wait_until(ROLLOUT, "worker off the board", |s| {
        let board: Vec<&str> = s.lines().take(8).collect();
        !board.iter().any(|l| l.contains(" worker ")) && board.iter().any(|l| l.contains(" web "))
    });
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
}

/// A bad image promoted over the rails (typed reason) never becomes ready: the operation ends
/// failed or regressed with a suggested rollback, and `r` on it in the Operations pane rolls
/// production back to what it ran before.
#[test]
fn a_bad_promote_is_flagged_and_rolled_back_with_one_key() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let demo = rt.block_on(async {
        shipdeck::demo::Demo::start(shipdeck::demo::DemoOptions {
            life_every_s: 0,
            ..Default::default()
        })
        .await
        .unwrap()
    });
    demo.write_config(dir.path()).unwrap();
    let config = dir.path().join("config.toml");
    let data = dir.path().join("data");
    let mut term = Term::spawn(
        &["--config", config.to_str().unwrap()],
        120,
        40,
        &[
            ("SHIPDECK_DATA_DIR", data.to_str().unwrap()),
            ("SHIPDECK_USER", "e2e"),
        ],
    );
    term.wait_for("worker", BOOT);
    demo.world()
        .set_image(
            "shop-green",
            "web",
            "web",
            "registry.local/shop/web:1.4.3-bad",
        )
        .unwrap();
    term.wait_until(BOOT, "staging runs the bad build", |s| {
        web_row(s).contains("1.4.3-bad")
    });
    let before = web_cells(&term.contents())[2].0.clone();

    term.send("ll");
    term.send("p");
    // The source is not healthy: a typed reason overrides, then the protected name.
    term.wait_for("type a reason to override", ROLLOUT);
    term.send("hotfix canary\r");
    term.wait_for("type `web` to confirm", STEP);
    term.send("web\r");
    let ended = term.wait_until(Duration::from_secs(240), "the promote flagged", |s| {
        s.lines().any(|l| {
            l.contains("promote web staging → production")
                && (l.contains("regressed") || l.contains("failed"))
        })
    });
    assert!(
        !ended
            .lines()
            .any(|l| l.contains("promote web") && l.contains("done")),
        "{ended}"
    );

    // One key: r on the operation prepares the suggested rollback.
    term.send("5");
    term.send("r");
    let modal = term.wait_for("type `web` to confirm", ROLLOUT);
    assert!(modal.contains("rollback web in production"), "{modal}");
    term.send("web\r");
    term.wait_until(ROLLOUT, "production back on its old build", |s| {
        let c = web_cells(s);
        c.len() == 3 && c[2].0 == before && c[2].1 == "✓"
    });
    let journal = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert!(
        journal.contains("hotfix canary"),
        "the override reason is audited"
    );
    term.send("q");
    term.send("q");
    term.wait_exit(STEP);
    rt.block_on(demo.shutdown());
}
