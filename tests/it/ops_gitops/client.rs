//! GitOps promote's edges: a token without push permission refuses, the GitHub client's typed
//! errors (stale sha, existing branch, missing file, directory, timeout) against the simulated
//! GitHub, and bad `[environments.gitops]` keys exiting 2.
use super::{FILE, GitEstate, OLD, REPO, confirm, prepare, promote, run, text};
use serde_json::Value;
use shipdeck::ops::gitops::GitOpsMode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_permission_refuses_and_the_client_reports_typed_errors() {
    use shipdeck::ops::gitops::github::{GitHubError, Repo};
    let e = GitEstate::start(false).await;
    let host = e.host();
    let head = host.head(REPO, "main").expect("main");

    // A read-only token: the preview says so and the run refuses (exit 3) without a write.
    host.set_read_only(true);
    let p = prepare(e.ctx(GitOpsMode::Commit), promote()).await;
    let access = p
        .checks
        .iter()
        .find(|c| c.id == "access")
        .expect("access check");
    assert_eq!(
        access.status,
        shipdeck::ops::CheckStatus::Fail,
        "{access:?}"
    );
    assert!(!access.overridable);
    let (outcome, _) = run(p, confirm("web")).await;
    assert_eq!(outcome.exit_code(), 3, "{}", outcome.message);
    assert_eq!(host.head(REPO, "main"), Some(head.clone()));
    host.set_read_only(false);

    // The client against the simulated API: stale sha, existing branch, missing file.
    shipdeck::install_crypto();
    let api = e.demo.gitops_url().expect("url");
    let repo = Repo::new(&api, REPO, None, Duration::from_secs(5));
    let file = repo.get_file(FILE, "main").await.unwrap();
    assert!(file.text.contains(OLD));
    let stale = repo
        .put_file(
            FILE,
            "main",
            "x: 1\n",
            "0000000000000000000000000000000000000000",
            "m",
        )
        .await;
    assert!(
        matches!(stale, Err(GitHubError::ShaMismatch { .. })),
        "{stale:?}"
    );
    assert_eq!(
        repo.create_branch("main", &head).await,
        Err(GitHubError::AlreadyExists("refs/heads/main".into()))
    );
    assert!(matches!(
        repo.get_file("nope.yaml", "main").await,
        Err(GitHubError::NotFound(_))
    ));
    // Paths and branches are percent-encoded on the wire.
    host.commit_file(REPO, "main", "odd dir/a#b.yaml", "k: v\n", "odd", "bob")
        .unwrap();
    assert_eq!(
        repo.get_file("odd dir/a#b.yaml", "main")
            .await
            .unwrap()
            .text,
        "k: v\n"
    );
    let head = host.head(REPO, "main").expect("main");
    // A directory is listed (GitHub's shape), and is not a file to the client.
    let listing: Value = reqwest::get(format!("{api}/repos/{REPO}/contents/production?ref=main"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "web", "worker"], "{listing}");
    assert!(matches!(
        repo.get_file("production", "main").await,
        Err(GitHubError::Decode(_))
    ));
    assert_eq!(host.head(REPO, "main"), Some(head));

    // A server that accepts and never answers: a timeout, not a hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let slow = Repo::new(
        &format!("http://{addr}"),
        REPO,
        None,
        Duration::from_secs(1),
    );
    let started = std::time::Instant::now();
    assert_eq!(
        slow.get_file(FILE, "main").await,
        Err(GitHubError::Timeout(1))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_gitops_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[environments]]\nname = 'production'\nnamespace = 'shop-blue'\n\
                [environments.gitops]\nurl = 'https://api.github.com'\nrepo = 'shop/manifests'\n";
    let file = dir.path().join("c.toml");
    for (config_text, key) in [
        (format!("{base}mode = 'merge'\n"), "mode"),
        (format!("{base}branches = 'main'\n"), "branches"),
        (
            base.replace("shop/manifests", "manifests"),
            "environments[0].gitops.repo",
        ),
    ] {
        std::fs::write(&file, config_text).unwrap();
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .arg("--config")
            .arg(&file)
            .args(["promote", "web", "--to", "production", "--dry-run"])
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(key) && err.contains("c.toml"), "{err}");
    }
}
