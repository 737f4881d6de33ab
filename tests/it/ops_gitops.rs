//! GitOps promote against the in-process demo with `gitops` on (production's manifests in the
//! simulated GitHub's `shop/manifests`, a CD controller applying `main`): commit mode through the
//! real binary (preview diff, commit, rollout by the CD controller, audit with the commit sha),
//! pull-request mode (a PR, no cluster change until it is merged), the sha-conflict retry, and
//! the console's `p` in a pty. `client` has the edges (permissions, typed errors, bad config).
use crate::ops_support::{confirm, prepare, run};
use serde_json::Value;
use shipdeck::config::Config;
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::ops::gitops::GitOpsMode;
use shipdeck::ops::{self, Identity, OpContext, OutcomeStatus, Request};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

mod client;

const REPO: &str = "shop/manifests";
const FILE: &str = "production/web/deployment.yaml";
const OLD: &str = "registry.local/shop/web:1.4.1";

struct GitEstate {
    demo: Demo,
    dir: tempfile::TempDir,
    config: Config,
}

impl GitEstate {
    /// `extras`: also Prometheus (verify), Alertmanager, CI and the registry.
    async fn start(extras: bool) -> GitEstate {
        let demo = Demo::start(DemoOptions {
            speed: 40.0,
            life_every_s: 0,
            extras,
            gitops: true,
            ..DemoOptions::default()
        })
        .await
        .expect("start demo");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = demo.write_config(dir.path()).expect("write config");
        GitEstate { demo, dir, config }
    }

    fn ctx(&self, mode: GitOpsMode) -> Arc<OpContext> {
        let mut config = self.config.clone();
        config.environments[2]
            .gitops
            .as_mut()
            .expect("production is GitOps")
            .mode = mode;
        Arc::new(
            OpContext::new(config, false)
                .with_data_dir(self.dir.path().join("data"))
                .with_identity(Identity {
                    user: "ana".into(),
                    host: "deck".into(),
                }),
        )
    }

    fn host(&self) -> &shipdeck::demo::githost::GitHost {
        self.demo.githost().expect("gitops host")
    }

    fn image(&self) -> String {
        let d = self
            .demo
            .store()
            .get(Kind::Deployment, "shop-blue", "web")
            .expect("deployment");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("data/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }
}

fn promote() -> Request {
    Request::Promote {
        app: "web".into(),
        from: None,
        to: "production".into(),
        reason: None,
    }
}

async fn shipdeck(e: &GitEstate, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.arg("--config")
        .arg(e.dir.path().join("config.toml"))
        .args(args)
        .env("SHIPDECK_DATA_DIR", e.dir.path().join("data"))
        .env("SHIPDECK_USER", "ana")
        .env("HOME", e.dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
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

/// Polls `f` until it holds or `secs` pass.
async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_mode_commits_and_the_cd_controller_rolls_it_out() {
    let e = GitEstate::start(true).await;
    let host = e.host();
    let before = host.file(REPO, "main", FILE).expect("seeded manifest");
    assert!(
        before.contains(&format!("image: {OLD}  # set by shipdeck promote")),
        "{before}"
    );
    assert_eq!(e.image(), OLD);
    let head_before = host.head(REPO, "main").expect("main");
    let commits_before = host.log(REPO, "main").len();

    // --dry-run: the manifest diff instead of a Deployment patch; nothing written.
    let o = shipdeck(&e, &["promote", "web", "--to", "production", "--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "Manifests (GitOps): shop/manifests production/web/deployment.yaml (commit to main"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "-          image: {OLD}  # set by shipdeck promote"
        )),
        "{out}"
    );
    assert!(
        out.contains("+          image: registry.local/shop/web:1.4.2@sha256:"),
        "{out}"
    );
    assert!(!out.contains("Template diff"), "{out}");
    assert!(
        out.contains("[ok  ] may push to shop/manifests: push permission"),
        "{out}"
    );
    assert!(
        out.contains("Commit production/web/deployment.yaml to shop/manifests on main"),
        "{out}"
    );
    assert!(out.contains("Wait for the CD controller"), "{out}");
    assert_eq!(host.head(REPO, "main"), Some(head_before.clone()));

    let o = shipdeck(&e, &["promote", "web", "--to", "production", "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("done: promote web staging → production: done; verify: error ratio"),
        "{out}"
    );

    // One new commit on main, the file changed on the image line only.
    let log = host.log(REPO, "main");
    assert_eq!(log.len(), commits_before + 1, "{log:?}");
    let (sha, message, _) = &log[0];
    assert!(
        message.starts_with("promote web to production"),
        "{message}"
    );
    let after = host.file(REPO, "main", FILE).expect("manifest");
    let new_image = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .and_then(|l| l.split("  #").next())
        .expect("image line")
        .to_string();
    assert!(
        new_image.starts_with("registry.local/shop/web:1.4.2@sha256:"),
        "{after}"
    );
    assert_eq!(after, before.replace(OLD, &new_image));

    // The CD controller applied it and the verb waited for the rollout.
    assert_eq!(e.image(), new_image);
    let d = e
        .demo
        .store()
        .get(Kind::Deployment, "shop-blue", "web")
        .expect("deployment");
    let cause = d["metadata"]["annotations"]["kubernetes.io/change-cause"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cause.starts_with(&format!("argocd sync {REPO}@{}", &sha[..7])),
        "{cause}"
    );
    let replicas = d["spec"]["replicas"].as_i64().unwrap();
    assert_eq!(
        d["status"]["updatedReplicas"].as_i64(),
        Some(replicas),
        "{d}"
    );
    assert_eq!(
        d["status"]["availableReplicas"].as_i64(),
        Some(replicas),
        "{d}"
    );

    // The audit journal has the commit sha, and the run finished done.
    let audit = e.audit();
    let commit_line = audit
        .iter()
        .find(|l| l["phase"] == "step_end" && l["step"]["name"] == "commit-manifest")
        .expect("commit step in the journal");
    assert_eq!(commit_line["result"], "ok");
    assert_eq!(commit_line["detail"]["commit"].as_str(), Some(sha.as_str()));
    assert_eq!(commit_line["detail"]["repo"], REPO);
    let finish = audit
        .iter()
        .rfind(|l| l["phase"] == "finish")
        .expect("finish");
    assert_eq!(finish["result"], "done", "{finish}");
    let verify = audit
        .iter()
        .find(|l| l["phase"] == "verify")
        .expect("verify line");
    assert_eq!(verify["result"], "healthy", "{verify}");
    let steps: Vec<&str> = audit
        .iter()
        .filter(|l| l["phase"] == "step_end")
        .filter_map(|l| l["step"]["name"].as_str())
        .collect();
    assert_eq!(steps, ["commit-manifest", "wait-sync", "wait-rollout"]);

    // A direct rollback in the GitOps environment is allowed but warns about the drift.
    let o = shipdeck(&e, &["rollback", "web", "--env", "production", "--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("[warn] production is managed by GitOps: this changes the cluster, not shop/manifests production/web/deployment.yaml"),
        "{out}"
    );

    // Promoting again: nothing to do (the manifest and the cluster have the image).
    let o = shipdeck(&e, &["promote", "web", "--to", "production", "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(host.log(REPO, "main").len(), commits_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_mode_changes_nothing_until_merged() {
    let e = GitEstate::start(false).await;
    let host = e.host();
    let head_before = host.head(REPO, "main").expect("main");
    let p = prepare(e.ctx(GitOpsMode::PullRequest), promote()).await;
    let g = p.gitops.clone().expect("gitops preview");
    assert_eq!(g.mode, GitOpsMode::PullRequest);
    assert!(g.commit_branch.starts_with("shipdeck/"), "{g:?}");
    let names: Vec<&str> = p.plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["create-branch", "commit-manifest", "open-pull-request"]
    );
    let new_image = p.images[0].to.clone();
    let (outcome, events) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert!(
        outcome.message.contains("waiting for review/merge")
            && outcome
                .message
                .contains("opened pull request #1 https://github.local/shop/manifests/pull/1"),
        "{}",
        outcome.message
    );
    let pr_done = events.iter().any(|ev| {
        matches!(ev, ops::OpEvent::StepDone { name, message, .. }
            if name == "open-pull-request" && message.contains("#1") && message.contains("waiting for review/merge"))
    });
    assert!(pr_done, "{events:?}");

    // Through the simulated API: one open PR from the branch, listing the image change.
    let api = e.demo.gitops_url().expect("url");
    let http = reqwest::Client::new();
    let pulls: Value = http
        .get(format!("{api}/repos/{REPO}/pulls?state=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pulls = pulls.as_array().expect("list");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0]["base"]["ref"], "main");
    assert_eq!(
        pulls[0]["head"]["ref"].as_str(),
        Some(g.commit_branch.as_str())
    );
    let body = pulls[0]["body"].as_str().unwrap_or_default();
    assert!(body.contains(OLD) && body.contains(&new_image), "{body}");
    assert!(
        host.file(REPO, &g.commit_branch, FILE)
            .expect("file on the branch")
            .contains(&new_image)
    );
    assert_eq!(host.head(REPO, "main"), Some(head_before));
    let audit = e.audit();
    let pr_line = audit
        .iter()
        .find(|l| l["phase"] == "step_end" && l["step"]["name"] == "open-pull-request")
        .expect("PR step in the journal");
    assert_eq!(pr_line["detail"]["pull_request"], 1);
    assert!(
        pr_line["detail"]["pull_request_url"]
            .as_str()
            .unwrap_or("")
            .ends_with("/pull/1")
    );

    // The cluster does not change while the PR waits (well past the CD controller's delay).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(e.image(), OLD);

    // A reviewer merges it: the CD controller rolls it out.
    let merged = http
        .put(format!("{api}/repos/{REPO}/pulls/1/merge"))
        .json(&serde_json::json!({"merge_method": "merge"}))
        .send()
        .await
        .unwrap();
    assert_eq!(merged.status(), 200);
    let merged: Value = merged.json().await.unwrap();
    assert_eq!(merged["merged"], true);
    assert_eq!(host.head(REPO, "main").as_deref(), merged["sha"].as_str());
    assert!(
        eventually(30, || e.image() == new_image).await,
        "CD controller applied the merge"
    );
    let pr: Value = http
        .get(format!("{api}/repos/{REPO}/pulls/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (pr["state"].as_str(), pr["merged"].as_bool()),
        (Some("closed"), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha_conflict_is_retried_once_then_fails_clearly() {
    let e = GitEstate::start(false).await;
    let host = e.host();

    // Someone commits to the file between our read and our write, once: re-read and retried.
    let p = prepare(e.ctx(GitOpsMode::Commit), promote()).await;
    let new_image = p.images[0].to.clone();
    host.interfere(REPO, FILE, 1);
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    let file = host.file(REPO, "main", FILE).expect("manifest");
    assert!(file.contains(&new_image), "{file}");
    assert!(
        file.contains("# touched by someone else"),
        "their change is kept: {file}"
    );
    let log = host.log(REPO, "main");
    assert_eq!(log[1].2, "someone-else", "{log:?}");
    assert!(log[0].1.starts_with("promote web to production"), "{log:?}");
    let commit_line = e
        .audit()
        .into_iter()
        .find(|l| l["phase"] == "step_end" && l["step"]["name"] == "commit-manifest")
        .expect("commit step");
    assert_eq!(commit_line["detail"]["attempts"], 2);
    assert_eq!(
        commit_line["detail"]["commit"].as_str(),
        Some(log[0].0.as_str())
    );
    let puts = host
        .requests()
        .iter()
        .filter(|(m, p)| m == "PUT" && p.ends_with(FILE))
        .count();
    assert_eq!(puts, 2);

    // Twice in a row: fails with a clear message, nothing of ours written.
    let p = prepare(
        e.ctx(GitOpsMode::Commit),
        Request::Promote {
            app: "api".into(),
            from: None,
            to: "production".into(),
            reason: None,
        },
    )
    .await;
    let api_file = "production/api/deployment.yaml";
    host.interfere(REPO, api_file, 2);
    let (outcome, _) = run(p, confirm("api")).await;
    assert!(
        matches!(outcome.status, OutcomeStatus::Failed { .. }),
        "{:?}",
        outcome.status
    );
    assert!(
        outcome.message.contains("changed again while committing"),
        "{}",
        outcome.message
    );
    assert_eq!(outcome.exit_code(), 1);
    let text = host.file(REPO, "main", api_file).expect("api manifest");
    assert!(
        text.contains("registry.local/shop/api:") && !text.contains("@sha256:"),
        "{text}"
    );
}

/// The console's `p` on a GitOps environment: the modal shows the manifest diff, the typed name
/// confirms, the Operations pane follows commit → sync → rollout to done, and the journal has the
/// commit.
#[test]
fn the_console_promotes_through_the_manifests_repository() {
    use crate::pty::Term;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut term = Term::spawn(
        &["demo", "--gitops", "--seed", "7", "--speed", "4"],
        120,
        40,
        &[("SHIPDECK_DATA_DIR", dir), ("SHIPDECK_USER", "e2e")],
    );
    let wait = Duration::from_secs(60);
    term.wait_for("worker", wait);
    // The board says which environment promotes through the manifests repository.
    term.wait_for("production (blue) · gitops", wait);
    term.wait_until(wait, "live environments and web settled", |s| {
        let web = s.lines().find(|l| l.contains(" web ")).unwrap_or_default();
        s.matches('●').count() >= 4 && web.matches('✓').count() >= 2
    });
    // web is the first row and develop the first column: two steps right is production.
    term.send("ll");
    term.wait_for("▸ web", Duration::from_secs(10));
    term.send("p");
    let modal = term.wait_for("type `web` to confirm", wait);
    assert!(
        modal.contains("Manifests (GitOps): shop/manifests production/web/deployment.yaml"),
        "{modal}"
    );
    term.send("web\r");
    let done = term.wait_until(wait, "the promote done", |s| {
        s.lines()
            .any(|l| l.contains("promote web staging → production") && l.contains("done"))
    });
    assert!(!done.contains("failed"), "{done}");
    let journal = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    let commit = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["phase"] == "step_end" && l["step"]["name"] == "commit-manifest")
        .expect("commit step journaled");
    assert_eq!(commit["result"], "ok", "{commit}");
    assert_eq!(commit["detail"]["commit"].as_str().map(str::len), Some(40));
    term.send("q");
    assert_eq!(term.wait_exit(Duration::from_secs(10)), 0);
    assert!(term.restored());
}
