//! The operation verbs through the real binary against an in-process demo estate: `--dry-run`,
//! `--yes`, exit codes, no prompt without a terminal, `--output json`, `--read-only`, audit.
use crate::ops_support::Estate;
use serde_json::Value;
use std::process::Output;

async fn shipdeck(e: &Estate, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.arg("--config")
        .arg(e.dir.path().join("config.toml"))
        .args(args)
        .env("SHIPDECK_DATA_DIR", e.data_dir())
        .env("SHIPDECK_USER", "ana")
        .env("HOME", e.dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("shipdeck finished in time")
        .expect("run shipdeck")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn image(e: &Estate, ns: &str) -> Value {
    e.deploy(ns, "web")["spec"]["template"]["spec"]["containers"][0]["image"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_dry_run_confirm_and_exit_codes() {
    let e = Estate::start(40.0).await;
    let before = image(&e, "shop-blue");

    // --dry-run: the preview with the server-side diff, nothing changed, exit 0.
    let o = shipdeck(&e, &["rollback", "web", "--env", "production", "--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Template diff"), "{out}");
    assert!(
        out.contains("-  - image: registry.local/shop/web:1.4.1"),
        "{out}"
    );
    assert!(
        out.contains("+  - image: registry.local/shop/web:1.4.0"),
        "{out}"
    );
    assert!(out.contains("Protected environment: type `web`"), "{out}");
    assert!(out.contains("Dry run: nothing was changed."), "{out}");
    assert_eq!(image(&e, "shop-blue"), before);

    // No terminal and no --yes: stops after the preview, exit 4, no prompt.
    let o = shipdeck(&e, &["rollback", "web", "--env", "production"]).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("pass --yes"),
        "{}",
        text(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("[y/N]"));
    assert_eq!(image(&e, "shop-blue"), before);

    // --read-only: refused by a rail, exit 3, even with --yes.
    let o = shipdeck(
        &e,
        &[
            "--read-only",
            "patch",
            "web",
            "--env",
            "staging",
            "--restart",
            "--yes",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("read-only"),
        "{}",
        text(&o)
    );

    // Usage errors: exit 2.
    let o = shipdeck(
        &e,
        &["patch", "web", "--env", "nowhere", "--restart", "--yes"],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown environment `nowhere`"));
    let o = shipdeck(&e, &["patch", "web", "--env", "staging"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = shipdeck(
        &e,
        &["silence", "web", "--for", "2h", "--comment", "x", "--yes"],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[alertmanager]"),
        "{}",
        text(&o)
    );

    // --yes --output json: scale staging, one JSON document.
    let o = shipdeck(
        &e,
        &[
            "patch",
            "web",
            "--env",
            "staging",
            "--replicas",
            "4",
            "--yes",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "dry_run",
            "error",
            "exit_code",
            "message",
            "outcome",
            "preview"
        ]
    );
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["outcome"]["status"], "done", "{v:#}");
    assert_eq!(
        v["outcome"]["steps_done"],
        serde_json::json!(["scale-deployment", "wait-rollout"])
    );
    assert_eq!(
        v["preview"]["request"],
        serde_json::json!({"op": "patch", "app": "web", "env": "staging", "change": {"kind": "replicas", "value": 4}})
    );
    assert_eq!(e.deploy("shop-green", "web")["spec"]["replicas"], 4);

    // Protected production with --yes: the rollback runs to completion.
    let o = shipdeck(&e, &["rollback", "web", "--env", "production", "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[1/2] Roll back deployment/web"), "{out}");
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(image(&e, "shop-blue"), "registry.local/shop/web:1.4.0");

    // Promote staging → production by digest (dry-run JSON names the digest).
    let o = shipdeck(
        &e,
        &[
            "promote",
            "web",
            "--to",
            "production",
            "--dry-run",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    let to = v["preview"]["images"][0]["to"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        to.starts_with("registry.local/shop/web:1.4.2@sha256:"),
        "{v:#}"
    );
    assert_eq!(v["preview"]["confirm_name"], "web");

    // The journal lists what ran (the refusal too).
    let o = shipdeck(&e, &["audit", "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ops = json(&o);
    let results: Vec<(String, String)> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["op"].as_str().unwrap().into(),
                o["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("patch".into(), "done".into()),
            ("rollback".into(), "done".into()),
        ],
        "{ops:#}"
    );
    assert_eq!(ops[1]["user"], "ana");
    let o = shipdeck(&e, &["audit", "--app", "web"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("rollback web in production"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_verbs_preview_and_refuse_clearly() {
    let e = Estate::start(40.0).await;
    // sunset --dry-run: the objects to delete, nothing deleted.
    let o = shipdeck(&e, &["sunset", "worker", "--dry-run", "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["preview"]["request"]["op"], "sunset");
    let deletions = v["preview"]["deletions"].as_array().unwrap();
    assert!(
        deletions
            .iter()
            .any(|d| d["kind"] == "deployment" && d["name"] == "worker"),
        "{v:#}"
    );
    assert!(
        e.demo
            .store()
            .get(
                shipdeck::demo::store::Kind::Deployment,
                "shop-blue",
                "worker"
            )
            .is_some()
    );

    // Verbs whose backend is not configured: exit 2 with the section named.
    let o = shipdeck(&e, &["approve", "web", "--env", "production", "--yes"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[ci]"),
        "{}",
        text(&o)
    );
    let o = shipdeck(&e, &["silence", "--expire", "abc", "--yes"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = shipdeck(&e, &["silence", "web", "--for", "soon", "--comment", "x"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--for soon"),
        "{}",
        text(&o)
    );

    // --read-only refuses even a dry run (exit 3), in JSON too.
    let o = shipdeck(
        &e,
        &[
            "promote",
            "web",
            "--to",
            "production",
            "--dry-run",
            "--read-only",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["error"]["kind"], "refused", "{v:#}");
    assert_eq!(v["exit_code"], 3);

    // A protected environment without --yes and without a terminal: exit 4, nothing changed.
    let before = image(&e, "shop-blue");
    let o = shipdeck(
        &e,
        &["promote", "web", "--to", "production", "--reason", "r"],
    )
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(image(&e, "shop-blue"), before);
    let o = shipdeck(
        &e,
        &[
            "patch",
            "web",
            "--env",
            "production",
            "--restart",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kubectl.kubernetes.io/restartedAt"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_terminal_the_verbs_prompt() {
    use crate::pty::Term;
    use std::time::Duration;
    let e = Estate::start(40.0).await;
    let cfg = e.dir.path().join("config.toml");
    let data = e.data_dir();
    let env = [
        ("SHIPDECK_DATA_DIR", data.to_str().unwrap()),
        ("SHIPDECK_USER", "ana"),
        ("HOME", e.dir.path().to_str().unwrap()),
    ];
    let cfg = cfg.to_str().unwrap();

    // [y/N]: anything but yes is no (exit 4), nothing changed.
    let mut t = Term::spawn(
        &[
            "--config",
            cfg,
            "patch",
            "web",
            "--env",
            "staging",
            "--replicas",
            "2",
        ],
        140,
        50,
        &env,
    );
    t.wait_for("Proceed? [y/N]", Duration::from_secs(30));
    t.send("n\r");
    assert_eq!(t.wait_exit(Duration::from_secs(30)), 4, "{}", t.contents());
    assert_eq!(e.deploy("shop-green", "web")["spec"]["replicas"], 3);

    // Protected production: the app name typed, then the rollback runs to completion.
    let mut t = Term::spawn(
        &["--config", cfg, "rollback", "web", "--env", "production"],
        140,
        50,
        &env,
    );
    t.wait_for("Type `web` to confirm:", Duration::from_secs(30));
    t.send("web\r");
    let screen = t.wait_for("done: rollback web in production", Duration::from_secs(60));
    assert!(screen.contains("[2/2] Wait for deployment/web"), "{screen}");
    assert_eq!(t.wait_exit(Duration::from_secs(30)), 0);
    assert_eq!(image(&e, "shop-blue"), "registry.local/shop/web:1.4.0");

    // The wrong name is not a confirmation.
    let mut t = Term::spawn(
        &["--config", cfg, "rollback", "web", "--env", "production"],
        140,
        50,
        &env,
    );
    t.wait_for("Type `web` to confirm:", Duration::from_secs(30));
    t.send("api\r");
    assert_eq!(t.wait_exit(Duration::from_secs(30)), 4, "{}", t.contents());
    assert_eq!(image(&e, "shop-blue"), "registry.local/shop/web:1.4.0");
}
