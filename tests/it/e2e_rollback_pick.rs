//! End to end: the real binary in a pseudo-terminal on a simulated estate started here, opening
//! web @ production's detail, picking an older revision in the rollout history (not the previous
//! one), `r`, the preview naming that revision and its image, the typed confirmation, and the
//! Deployment's image through the simulated Kubernetes API afterwards; then `r` on the running
//! revision says why nothing would happen.
use crate::pty::Term;
use serde_json::Value;
use shipdeck::demo::{Demo, DemoOptions};
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(30);
const STEP: Duration = Duration::from_secs(10);
/// A rollout of web in the demo takes about 12 s of wall time at speed 1.
const ROLLOUT: Duration = Duration::from_secs(90);

/// The seeded production history of web (estate.rs): revisions 1–4 are 1.3.0, 1.3.1, 1.4.0 and
/// 1.4.1 (running). Revision 2 is two rows below the current one: not what a plain undo picks.
const PICKED_IMAGE: &str = "registry.local/shop/web:1.3.1";

/// The Deployment as the simulated API server returns it.
fn deployment(rt: &tokio::runtime::Runtime, demo: &Demo, ns: &str, name: &str) -> Value {
    let url = format!(
        "{}/apis/apps/v1/namespaces/{ns}/deployments/{name}",
        demo.kube_url()
    );
    rt.block_on(async {
        let resp = shipdeck::backend::http::client()
            .get(&url)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        resp.json::<Value>().await.unwrap()
    })
}

fn image_of(d: &Value) -> String {
    d.pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn revision_of(d: &Value) -> String {
    d.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The history row of `revision` as shown (`▸ 2   1.3.1 …`, `●4 …`), if on screen.
fn history_row(screen: &str, revision: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| {
            // The markers (▸ picked, ● current) sit before the number.
            let plain = l.trim_start_matches(['┃', '│']).replace(['▸', '●'], " ");
            let cells: Vec<&str> = plain.split_whitespace().collect();
            matches!(cells.as_slice(), [first, tag, ..]
                if *first == revision
                    && tag.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

#[test]
fn pick_an_older_revision_in_the_detail_and_roll_back_to_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let demo = rt.block_on(async {
        Demo::start(DemoOptions {
            life_every_s: 0,
            extras: false,
            ..Default::default()
        })
        .await
        .unwrap()
    });
    demo.write_config(conf.path()).unwrap();
    let before = deployment(&rt, &demo, "shop-blue", "web");
    assert_eq!(revision_of(&before), "4", "seeded history changed");
    assert_ne!(image_of(&before), PICKED_IMAGE);

    let config = conf.path().join("config.toml");
    let mut term = Term::spawn(
        &["--config", config.to_str().unwrap()],
        120,
        40,
        &[
            ("SHIPDECK_DATA_DIR", data.path().to_str().unwrap()),
            ("SHIPDECK_USER", "e2e"),
        ],
    );
    // Production's cell loaded (web runs revision 4's 1.4.1 there) before drilling in.
    term.wait_until(BOOT, "web's production cell on the board", |s| {
        s.lines()
            .any(|l| l.contains(" web ") && l.contains("1.4.1 ✓"))
    });
    // web is the first row and develop the first column: two steps right is production.
    term.send("ll");
    term.wait_for("▸ web", STEP);
    term.send("\r");
    let detail = term.wait_until(BOOT, "the history of web in production", |s| {
        s.contains("DEPLOYMENT web @ production") && history_row(s, "1").is_some()
    });
    let current = history_row(&detail, "4").unwrap_or_default();
    assert!(
        current.contains("●4") && current.contains("1.4.1"),
        "{detail}"
    );
    assert!(detail.contains("pick a revision"), "the hint: {detail}");

    // Top of the history (the running revision), then two down: revision 2.
    term.send("gjj");
    let picked = term.wait_until(STEP, "revision 2 picked", |s| {
        history_row(s, "2").is_some_and(|r| r.contains("▸ 2"))
    });
    assert!(
        history_row(&picked, "2").unwrap().contains("1.3.1"),
        "{picked}"
    );
    term.send("r");
    let modal = term.wait_for("type `web` to confirm", ROLLOUT);
    assert!(
        modal.contains("rollback web in production to revision 2"),
        "{modal}"
    );
    assert!(modal.contains(PICKED_IMAGE), "the image named: {modal}");
    term.send("web\r");
    term.wait_until(ROLLOUT, "the rollback done", |s| {
        s.lines()
            .any(|l| l.contains("rollback web in production to revision 2") && l.contains("done"))
    });

    // Through the API: the template is revision 2's, renumbered as the newest (kubectl's undo).
    let after = deployment(&rt, &demo, "shop-blue", "web");
    assert_eq!(image_of(&after), PICKED_IMAGE, "{after:#}");
    assert_eq!(revision_of(&after), "5", "{after:#}");

    // The detail follows: revision 5 runs 1.3.1; `r` on it refuses with kubectl's words.
    term.wait_until(STEP, "revision 5 current in the history", |s| {
        history_row(s, "5").is_some_and(|r| r.contains("●5") && r.contains("1.3.1"))
    });
    term.send("g");
    term.wait_until(STEP, "revision 5 picked", |s| {
        history_row(s, "5").is_some_and(|r| r.contains("▸●5"))
    });
    term.send("r");
    term.wait_for(
        "skipped rollback (current template already matches revision 5)",
        STEP,
    );
    assert_eq!(
        image_of(&deployment(&rt, &demo, "shop-blue", "web")),
        PICKED_IMAGE
    );
    term.send("q");
    assert_eq!(term.wait_exit(STEP), 0);
    assert!(term.restored());
    rt.block_on(demo.shutdown());
}
