//! `shipdeck sunset` through the real binary against the simulated estate: dry run, exit codes
//! on failure and `--resume`, and the process killed (SIGKILL) in the middle of a step.
use crate::sunset_support::*;
use shipdeck::demo::cloudflare::Fault;

/// `shipdeck sunset` through the real binary: dry run, a failure (exit 1), `--resume` (exit 0),
/// and nothing left to resume (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_dry_run_failure_and_resume_exit_codes() {
    let e = estate(true).await;
    let file = write_cli_config(&e);
    let shipdeck = |args: &[&str]| {
        let mut cmd = shipdeck_cmd(&e, &file, args);
        async move {
            let out = cmd.output().await.unwrap();
            (
                out.status.code().unwrap(),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    };
    let (code, stdout, stderr) = shipdeck(&["sunset", APP, "--dry-run"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tunnel_ingress worker.shop.example"),
        "{stdout}"
    );
    assert!(stdout.contains("Dry run: nothing was changed."), "{stdout}");
    assert_eq!(writes(&e.take_log()), vec![]);

    e.cf.inject(Fault::bad_tunnel_config());
    let (code, stdout, stderr) = shipdeck(&["sunset", APP, "--yes"]).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("1056"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(e.kube_left().len(), 7);

    let (code, stdout, stderr) = shipdeck(&["sunset", APP, "--resume", "--yes"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_all_gone(&e).await;

    let (code, stdout, stderr) = shipdeck(&["sunset", APP, "--resume", "--yes"]).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("nothing to resume"), "{stderr}");
}

/// The real process killed (SIGKILL) in the middle of a step, then `shipdeck sunset --resume`:
/// the journal keeps what was done, the resumed run skips it, and no step takes effect twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killed_mid_run_then_resume_from_the_journal() {
    let e = estate(true).await;
    let file = write_cli_config(&e);
    // The Access application's DELETE hangs: the process is killed while it waits.
    e.cf.stall(
        axum::http::Method::DELETE,
        "/access/apps/",
        std::time::Duration::from_secs(3),
    );
    let mut child = shipdeck_cmd(&e, &file, &["sunset", APP, "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::eventually(
        std::time::Duration::from_secs(20),
        "the Access step to begin",
        || {
            e.journal()
                .iter()
                .any(|r| {
                    r.phase == "step_begin"
                        && r.step
                            .as_ref()
                            .is_some_and(|s| s.name == "cloudflare-access-app")
                })
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    let j = e.journal();
    let first = j[0].op_id.clone();
    assert!(j.iter().all(|r| r.phase != "finish"));
    let ended: Vec<String> = j
        .iter()
        .filter(|r| r.phase == "step_end")
        .map(|r| r.step.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(
        ended,
        vec!["cloudflare-tunnel-rule", "cloudflare-dns-record"]
    );
    assert_eq!(e.kube_left().len(), 7, "killed before any Kubernetes write");

    let out = shipdeck_cmd(&e, &file, &["sunset", APP, "--resume", "--yes"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_gone(&e).await;
    let j = e.journal();
    let ops = shipdeck::ops::audit::summaries(&j, Some(APP));
    assert_eq!(ops.len(), 2);
    assert_eq!(
        (ops[0].op_id.as_str(), ops[0].result.as_str()),
        (first.as_str(), "unfinished")
    );
    assert_eq!(ops[1].result, "done");
    for name in sunset_step_names() {
        let of = |phase: &str, result: Option<&str>| {
            j.iter()
                .filter(|r| {
                    r.phase == phase
                        && r.step.as_ref().is_some_and(|s| s.name == name)
                        && (result.is_none() || r.result.as_deref() == result)
                })
                .count()
        };
        assert!(of("step_end", Some("ok")) <= 1, "{name} took effect twice");
        assert_eq!(of("step_end", Some("failed")), 0, "{name}");
        let skipped = of("step_skipped", None);
        let first_run_done =
            ["cloudflare-tunnel-rule", "cloudflare-dns-record"].contains(&name.as_str());
        assert_eq!(skipped, usize::from(first_run_done), "{name}");
        assert_eq!(
            of("step_end", None) + skipped,
            1 + usize::from(first_run_done),
            "{name}"
        );
    }
    let tunnel_puts = e.cf.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(tunnel_puts, 1, "the tunnel was written once");
}
