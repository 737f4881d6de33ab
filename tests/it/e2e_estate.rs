//! End to end on the whole simulated estate, in a pseudo-terminal: CI moves builds by itself, and a
//! bad image shows up in the metrics and alerts.
use crate::pty::Term;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(30);

/// Is `word` a short commit sha (CI's tags in the demo)?
fn is_sha(word: &str) -> bool {
    word.len() == 7
        && word.chars().all(|c| c.is_ascii_hexdigit())
        && word.chars().any(|c| c.is_ascii_digit())
}

#[test]
fn a_pipeline_advances_and_its_build_reaches_develop_on_its_own() {
    // Speed 20: a develop build is committed every 90 sim s and its run takes 85 sim s.
    let mut term = Term::spawn(&["demo", "--seed", "3", "--speed", "20"], 120, 40, &[]);
    term.wait_for("worker", BOOT);
    term.wait_for("PIPELINES web", BOOT);
    // A develop run shows stages running, then a build deployed to shop-develop replaces 1.5.1 with
    // the commit's tag on the board's develop column.
    term.wait_until(Duration::from_secs(60), "a running develop stage", |s| {
        s.lines()
            .any(|l| l.contains(" develop ") && l.contains('●'))
    });
    let screen = term.wait_until(Duration::from_secs(90), "a CI build on develop", |s| {
        s.lines().skip(3).take(3).any(|row| {
            // The develop column is the first cell after the app name.
            row.split_whitespace().nth(2).is_some_and(is_sha)
        })
    });
    assert!(screen.contains("✓"), "{screen}");
    term.send("q");
    assert_eq!(term.wait_exit(Duration::from_secs(20)), 0);
}

#[test]
fn a_bad_image_raises_the_error_ratio_and_fires_high_error_rate() {
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
    let mut term = Term::spawn(&["--config", config.to_str().unwrap()], 120, 40, &[]);
    term.wait_for("worker", BOOT);
    // web @ staging: the metrics pane follows the selected environment.
    term.send("l");
    term.wait_for("METRICS web @ staging", BOOT);
    term.wait_until(BOOT, "a 5xx ratio on screen", |s| {
        s.lines()
            .any(|l| l.contains("5xx %") && l.contains('%') && !l.contains("no data"))
    });
    demo.world()
        .set_image(
            "shop-green",
            "web",
            "web",
            "registry.local/shop/web:9.9.9-bad",
        )
        .unwrap();
    // Crash-looping pods serve errors: the ratio climbs past a few percent and the alert fires.
    term.wait_until(Duration::from_secs(120), "a high 5xx ratio", |s| {
        s.lines().filter(|l| l.contains("5xx %")).any(|l| {
            // The value is the last number before a '%' in the Metrics pane's row.
            l.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '%'))
                .filter_map(|w| w.strip_suffix('%'))
                .filter_map(|v| v.parse::<f64>().ok())
                .any(|v| v >= 2.0)
        })
    });
    // The Alerts pane (narrow at 120 columns: two lines per alert) names the alert whole, then
    // web in shop-green under it.
    term.wait_until(
        Duration::from_secs(120),
        "HighErrorRate in the Alerts pane",
        |s| {
            let lines: Vec<&str> = s.lines().collect();
            lines
                .windows(2)
                .any(|w| w[0].contains("HighErrorRate") && w[1].contains("web shop-green"))
        },
    );
    term.send("q");
    assert_eq!(term.wait_exit(Duration::from_secs(20)), 0);
    rt.block_on(demo.shutdown());
}
