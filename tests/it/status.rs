//! `shipdeck status` over a known estate (fake API server): table, stable JSON, filters, and an
//! unreachable environment reported in the output with the error flag set.
use crate::kube_backend::deployment;
use crate::kube_backend::fake::FakeKube;
use serde_json::Value;
use shipdeck::config::Config;
use shipdeck::status::{StatusError, StatusOutput, run, status};
use std::path::Path;
use std::process::ExitCode;

struct Estate {
    _fake: FakeKube,
    _dir: tempfile::TempDir,
    config: Config,
}

/// staging (green) and production (blue, promoted from staging) on the fake; `lab` on a dead port.
async fn estate() -> Estate {
    let fake = FakeKube::start().await;
    fake.apply(
        "deployments",
        deployment("shop-green", "web", "r/web:1.3", 3),
    );
    fake.apply("deployments", deployment("shop-green", "api", "r/api:7", 2));
    fake.apply(
        "deployments",
        deployment("shop-blue", "web", "r/web:1.2", 3),
    );
    fake.apply("deployments", deployment("shop-blue", "api", "r/api:7", 2));
    let mut failing = deployment("shop-blue", "worker", "r/worker:2", 0);
    failing["status"]["conditions"][0]["reason"] = "ProgressDeadlineExceeded".into();
    fake.apply("deployments", failing);
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path(), &["fake"]);

    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let dead_kc = dir.path().join("dead-kubeconfig");
    std::fs::write(
        &dead_kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster:\n    server: http://127.0.0.1:{dead_port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: u\n"
        ),
    )
    .unwrap();

    let text = format!(
        r#"
estate = "shop"
kubeconfig = {kc:?}
[[environments]]
name = "staging"
namespace = "shop-green"
context = "fake"
color = "green"
[[environments]]
name = "production"
namespace = "shop-blue"
context = "fake"
color = "blue"
protected = true
promote_from = "staging"
[[environments]]
name = "lab"
namespace = "lab"
kubeconfig = {dead_kc:?}
"#
    );
    let config = Config::parse(&text, Path::new("status.toml")).unwrap();
    Estate {
        _fake: fake,
        _dir: dir,
        config,
    }
}

#[tokio::test]
async fn json_over_a_known_estate_with_an_unreachable_environment() {
    let e = estate().await;
    let report = status(&e.config, None, None, StatusOutput::Json)
        .await
        .unwrap();
    assert!(!report.ok, "the lab environment is unreachable");
    let j: Value = serde_json::from_str(&report.text).unwrap();
    assert_eq!(j["estate"], "shop");
    assert_eq!(j["ok"], false);
    let envs: Vec<_> = j["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["error"].as_str()))
        .collect();
    assert_eq!(
        envs,
        [
            ("staging", None),
            ("production", None),
            ("lab", Some("connection refused"))
        ]
    );
    assert_eq!(j["environments"][1]["promote_from"], "staging");
    assert_eq!(j["environments"][1]["protected"], true);
    assert_eq!(j["environments"][0]["color"], "green");

    let apps: Vec<_> = j["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["api", "web", "worker"], "discovered and sorted");
    let web = &j["apps"][1]["cells"];
    assert_eq!(web["production"]["tag"], "1.2");
    assert_eq!(web["production"]["image"], "r/web:1.2");
    assert_eq!(web["production"]["state"], "complete");
    assert_eq!(web["production"]["ready"], 3);
    assert_eq!(web["production"]["desired"], 3);
    assert_eq!(web["production"]["drift"], true);
    assert_eq!(web["production"]["changed_at"], "2026-01-02T00:00:00Z");
    assert_eq!(web["staging"]["drift"], false);
    assert!(web["lab"].is_null());
    assert_eq!(j["apps"][0]["cells"]["production"]["drift"], false);
    let worker = &j["apps"][2]["cells"];
    assert_eq!(worker["production"]["state"], "failed");
    assert_eq!(worker["production"]["reason"], "ProgressDeadlineExceeded");
    assert!(worker["staging"].is_null());
}

#[tokio::test]
async fn table_over_a_known_estate() {
    let e = estate().await;
    let report = status(&e.config, None, None, StatusOutput::Table)
        .await
        .unwrap();
    assert!(!report.ok);
    let lines: Vec<&str> = report.text.lines().collect();
    assert!(
        lines[0].starts_with("APP")
            && lines[0].contains("staging (green)")
            && lines[0].contains("production (blue)")
            && lines[0].contains("lab"),
        "{}",
        report.text
    );
    let web = lines.iter().find(|l| l.starts_with("web")).unwrap();
    assert!(web.contains("✓ 1.3 3/3"), "{web}");
    assert!(
        web.contains("✓ 1.2 3/3") && web.contains("(drift)"),
        "{web}"
    );
    assert!(web.trim_end().ends_with('?'), "lab unknown: {web}");
    let worker = lines.iter().find(|l| l.starts_with("worker")).unwrap();
    assert!(
        worker.contains("✗ 2 0/3 ProgressDeadlineExceeded"),
        "{worker}"
    );
    assert!(worker.contains(" - "), "not deployed in staging: {worker}");
    assert_eq!(
        lines.last().copied(),
        Some("lab: unreachable: connection refused")
    );
    // Columns line up: each environment header starts where its cells start.
    let col = lines[0].find("production").unwrap();
    let web_cells: Vec<usize> = web.match_indices('✓').map(|(i, _)| i).collect();
    assert_eq!(
        lines[0][..col].chars().count(),
        web[..web_cells[1]].chars().count()
    );
}

#[tokio::test]
async fn filters_and_the_error_flag_follow_what_is_shown() {
    let e = estate().await;
    let report = status(
        &e.config,
        Some("web"),
        Some("production"),
        StatusOutput::Json,
    )
    .await
    .unwrap();
    assert!(report.ok, "lab is not shown, so its failure does not count");
    let j: Value = serde_json::from_str(&report.text).unwrap();
    assert_eq!(j["environments"].as_array().unwrap().len(), 1);
    assert_eq!(j["apps"].as_array().unwrap().len(), 1);
    // Drift still compares with staging, which was fetched but is not shown.
    assert_eq!(j["apps"][0]["cells"]["production"]["drift"], true);
    assert!(j["apps"][0]["cells"].get("staging").is_none());

    let err = status(&e.config, Some("nope"), None, StatusOutput::Table)
        .await
        .unwrap_err();
    assert!(matches!(
        err.downcast_ref::<StatusError>(),
        Some(StatusError::UnknownApp(_))
    ));
    let err = status(&e.config, None, Some("qa"), StatusOutput::Table)
        .await
        .unwrap_err();
    assert!(matches!(
        err.downcast_ref::<StatusError>(),
        Some(StatusError::UnknownEnvironment(_))
    ));
}

#[tokio::test]
async fn exit_codes() {
    let e = estate().await;
    let code = |c: ExitCode| format!("{c:?}");
    assert_eq!(
        code(run(&e.config, None, Some("production"), StatusOutput::Json).await),
        code(ExitCode::from(0))
    );
    assert_eq!(
        code(run(&e.config, None, None, StatusOutput::Table).await),
        code(ExitCode::from(1)),
        "lab is unreachable"
    );
    assert_eq!(
        code(run(&e.config, None, Some("qa"), StatusOutput::Table).await),
        code(ExitCode::from(2))
    );
}
