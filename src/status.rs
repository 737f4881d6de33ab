//! `shipdeck status`: the estate board once, as a plain table or stable JSON, for scripts.
//!
//! Every environment's Deployments are listed once (with a timeout); an environment that cannot be
//! read is reported in the output and makes `StatusReport::ok` false (the binary then exits 1).
//!
//! # JSON schema (`--output json`, stable)
//! ```text
//! {
//!   "estate": "shop",
//!   "ok": true,                          // false when a shown environment could not be read
//!   "environments": [                    // in configuration order (only --env when given)
//!     { "name": "production",
//!       "namespace": "{app}-blue",       // as configured (may hold the {app} pattern)
//!       "color": "blue",                 // or null
//!       "protected": true,
//!       "promote_from": "staging",       // or null
//!       "error": null }                  // or a short message: "connection refused", "timeout",
//!   ],                                   //   "401 Unauthorized", "kubeconfig …"
//!   "apps": [                            // configured order, or discovered apps sorted by name
//!     { "app": "web",
//!       "deployment": "web",
//!       "cells": {                       // one key per environment above
//!         "production": null,            // null: not deployed there, or the environment failed
//!         "staging": {
//!           "namespace": "shop-green",
//!           "image": "registry/shop/web:1.4.2",   // primary (first) container's image
//!           "tag": "1.4.2",              // tag, else 12 hex digits of the digest
//!           "state": "complete",         // complete | progressing | failed | paused | waiting_for_spec
//!           "reason": null,              // failed: "ProgressDeadlineExceeded"
//!           "message": null,             // progressing/failed: kubectl's message
//!           "ready": 3, "desired": 3, "updated": 3, "available": 3,
//!           "revision": 7,               // deployment.kubernetes.io/revision
//!           "drift": false,              // runs something its promote_from environment does not
//!           "changed_at": "2026-01-02T03:04:05Z" } } }   // RFC 3339 or null
//!   ]
//! }
//! ```
use crate::backend::kube::DeploymentWatch;
use crate::backend::kube::client::{ClientSource, describe};
use crate::backend::kube::project;
use crate::clock::age;
use crate::config::{Config, Environment};
use crate::model::board::{Board, BoardCell, build_board};
use crate::model::{DeploymentView, Fresh, RolloutState};
use crate::text;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Listing one environment gives up after this long.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StatusOutput {
    #[default]
    Table,
    Json,
}

/// What `status` printed, and whether every shown environment answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub text: String,
    pub ok: bool,
}

/// A filter names something the configuration (or the estate) does not have: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no environment named {0:?} in the configuration")]
    UnknownEnvironment(String),
    #[error("no app named {0:?}")]
    UnknownApp(String),
}

/// Lists every needed environment once, builds the board and renders it.
pub async fn status(
    config: &Config,
    app: Option<&str>,
    env: Option<&str>,
    output: StatusOutput,
) -> color_eyre::Result<StatusReport> {
    crate::install_crypto();
    if let Some(e) = env
        && config.environment(e).is_none()
    {
        return Err(StatusError::UnknownEnvironment(e.to_string()).into());
    }
    // The shown environment plus its promotion source (drift needs it).
    let needed: Vec<&Environment> = config
        .environments
        .iter()
        .filter(|e| match env.and_then(|n| config.environment(n)) {
            Some(shown) => e.name == shown.name || shown.promote_from.as_ref() == Some(&e.name),
            None => true,
        })
        .collect();
    let fetched = futures::future::join_all(needed.iter().map(|e| fetch(config, e))).await;
    let snapshots: BTreeMap<String, Fresh<crate::model::Deployments>> = needed
        .iter()
        .zip(fetched)
        .map(|(e, r)| {
            let mut fresh = Fresh::default();
            match r {
                Ok(items) => fresh.set(crate::model::shared(items), Timestamp::now()),
                Err(error) => fresh.fail(error),
            }
            (e.name.clone(), fresh)
        })
        .collect();
    let board = filter(build_board(config, &snapshots), app, env)?;
    let ok = board.envs.iter().all(|e| e.error.is_none());
    let text = match output {
        StatusOutput::Table => render_table(&board, Timestamp::now()),
        StatusOutput::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(&config.estate, &board))?;
            text.push('\n');
            text
        }
    };
    Ok(StatusReport { text, ok })
}

/// `shipdeck status` end to end: prints the board to stdout and returns the exit code: 0 when
/// every shown environment answered, 1 when one could not be read, 2 for an unknown app or
/// environment (the message goes to stderr).
pub async fn run(
    config: &Config,
    app: Option<&str>,
    env: Option<&str>,
    output: StatusOutput,
) -> std::process::ExitCode {
    use std::io::Write;
    match status(config, app, env, output).await {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(report.text.as_bytes())
                .and_then(|_| out.flush());
            std::process::ExitCode::from(if report.ok && written.is_ok() { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("shipdeck status: {e}");
            let usage = e.downcast_ref::<StatusError>().is_some();
            std::process::ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Keeps the asked-for app and environment.
pub fn filter(mut board: Board, app: Option<&str>, env: Option<&str>) -> color_eyre::Result<Board> {
    if let Some(app) = app {
        board.rows.retain(|r| r.app == app);
        if board.rows.is_empty() {
            return Err(StatusError::UnknownApp(app.to_string()).into());
        }
    }
    if let Some(env) = env {
        let Some(i) = board.env_index(env) else {
            return Err(StatusError::UnknownEnvironment(env.to_string()).into());
        };
        board.envs = vec![board.envs.swap_remove(i)];
        for row in &mut board.rows {
            row.cells = vec![row.cells.swap_remove(i)];
        }
    }
    Ok(board)
}

async fn fetch(config: &Config, env: &Environment) -> Result<Vec<DeploymentView>, String> {
    let source = ClientSource::for_env(config, env);
    let work = async {
        let client = source.client().await?;
        let mut out = Vec::new();
        match DeploymentWatch::plan(config, env) {
            DeploymentWatch::Namespaces(namespaces) => {
                for ns in namespaces {
                    out.extend(list(Api::namespaced(client.clone(), &ns)).await?);
                }
            }
            DeploymentWatch::AllMatching { pattern } => {
                let all = list(Api::all(client)).await?;
                out.extend(
                    all.into_iter()
                        .filter(|d| d.namespace == pattern.replace("{app}", &d.name)),
                );
            }
        }
        Ok(out)
    };
    tokio::time::timeout(LIST_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err("timeout".into()))
}

async fn list(api: Api<Deployment>) -> Result<Vec<DeploymentView>, String> {
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api.list(&params).await.map_err(|e| describe(&e))?;
        out.extend(page.items.iter().map(project::deployment));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

fn state_name(state: &RolloutState) -> &'static str {
    match state {
        RolloutState::Complete => "complete",
        RolloutState::WaitingForSpec => "waiting_for_spec",
        RolloutState::Progressing { .. } => "progressing",
        RolloutState::Failed { .. } => "failed",
        RolloutState::Paused => "paused",
    }
}

fn cell_json(c: &BoardCell) -> Value {
    let (reason, message) = match &c.state {
        RolloutState::Failed { reason, message } => (Some(reason.as_str()), Some(message.as_str())),
        RolloutState::Progressing { message, .. } => (None, Some(message.as_str())),
        _ => (None, None),
    };
    let d = &c.deployment;
    json!({
        "namespace": d.namespace,
        "image": c.image(),
        "tag": c.tag_label,
        "state": state_name(&c.state),
        "reason": reason,
        "message": message,
        "ready": c.ready,
        "desired": c.desired,
        "updated": d.updated,
        "available": d.available,
        "revision": d.revision,
        "drift": c.drift,
        "changed_at": c.changed_at.map(|t| t.to_string()),
    })
}

/// The stable JSON document (schema at the top of this file).
pub fn to_json(estate: &str, board: &Board) -> Value {
    let environments: Vec<Value> = board
        .envs
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "namespace": e.namespace,
                "color": e.color,
                "protected": e.protected,
                "promote_from": e.promote_from,
                "error": e.error,
            })
        })
        .collect();
    let apps: Vec<Value> = board
        .rows
        .iter()
        .map(|r| {
            let cells: serde_json::Map<String, Value> = board
                .envs
                .iter()
                .zip(&r.cells)
                .map(|(e, c)| (e.name.clone(), c.as_ref().map_or(Value::Null, cell_json)))
                .collect();
            json!({"app": r.app, "deployment": r.deployment, "cells": cells})
        })
        .collect();
    json!({
        "estate": estate,
        "ok": board.envs.iter().all(|e| e.error.is_none()),
        "environments": environments,
        "apps": apps,
    })
}

fn symbol(state: &RolloutState) -> &'static str {
    match state {
        RolloutState::Complete => "✓",
        RolloutState::Progressing { .. } | RolloutState::WaitingForSpec => "⟳",
        RolloutState::Failed { .. } => "✗",
        RolloutState::Paused => "⏸",
    }
}

fn cell_text(c: &BoardCell, now: Timestamp) -> String {
    let mut s = format!(
        "{} {} {}/{}",
        symbol(&c.state),
        text::cell(&c.tag_label, 24),
        c.ready,
        c.desired
    );
    match &c.state {
        RolloutState::Failed { reason, .. } => s.push_str(&format!(" {}", text::cell(reason, 30))),
        RolloutState::Paused => s.push_str(" paused"),
        RolloutState::WaitingForSpec => s.push_str(" waiting"),
        _ => {}
    }
    if let Some(t) = c.changed_at {
        s.push(' ');
        s.push_str(&age(now, t));
    }
    if c.drift {
        s.push_str(" (drift)");
    }
    s
}

/// The plain table: APP, then one column per environment; failures listed below it.
pub fn render_table(board: &Board, now: Timestamp) -> String {
    let mut header = vec!["APP".to_string()];
    header.extend(board.envs.iter().map(|e| match &e.color {
        Some(c) => format!("{} ({})", text::sanitize(&e.name), text::sanitize(c)),
        None => text::sanitize(&e.name).into_owned(),
    }));
    let mut rows = vec![header];
    for r in &board.rows {
        let mut row = vec![text::cell(&r.app, 40)];
        for (e, c) in board.envs.iter().zip(&r.cells) {
            row.push(match c {
                Some(c) => cell_text(c, now),
                None if e.error.is_some() && !e.loaded => "?".into(),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| text::width(&r[i])).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - text::width(cell) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if board.rows.is_empty() {
        out.push_str("(no apps)\n");
    }
    for e in &board.envs {
        if let Some(error) = &e.error {
            out.push_str(&format!(
                "{}: unreachable: {}\n",
                text::sanitize(&e.name),
                text::sanitize(error)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContainerImage;
    use crate::model::board::{BoardRow, EnvColumn};

    fn view(image: &str, ready: i32) -> DeploymentView {
        DeploymentView {
            namespace: "ns".into(),
            name: "web".into(),
            uid: "u".into(),
            resource_version: "1".into(),
            generation: 1,
            observed_generation: 1,
            revision: 4,
            change_cause: None,
            desired: 3,
            paused: false,
            progress_deadline_seconds: None,
            replicas: 3,
            updated: 3,
            ready,
            available: ready,
            unavailable: 0,
            conditions: vec![],
            containers: vec![ContainerImage {
                name: "web".into(),
                image: image.into(),
            }],
            selector: BTreeMap::new(),
            created: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        }
    }

    fn env(name: &str, error: Option<&str>) -> EnvColumn {
        EnvColumn {
            name: name.into(),
            namespace: "ns".into(),
            color: None,
            protected: false,
            promote_from: None,
            gitops: false,
            loaded: error.is_none(),
            error: error.map(str::to_string),
            fetched_at: None,
        }
    }

    fn cell(d: DeploymentView, drift: bool) -> BoardCell {
        BoardCell {
            tag_label: crate::model::image_label(d.primary_image().unwrap()),
            state: d.rollout_state(),
            ready: d.ready,
            desired: d.desired,
            changed_at: d.last_change(),
            drift,
            deployment: d.into(),
        }
    }

    fn board() -> Board {
        Board {
            envs: vec![
                env("staging", None),
                env("production", Some("connection refused")),
            ],
            rows: vec![
                BoardRow {
                    app: "web".into(),
                    deployment: "web".into(),
                    cells: vec![Some(cell(view("r/web:1.2", 3), true)), None],
                },
                BoardRow {
                    app: "api\u{1b}[2J".into(),
                    deployment: "api".into(),
                    cells: vec![None, None],
                },
            ],
        }
    }

    #[test]
    fn table_aligns_and_reports_failures() {
        let now: Timestamp = "2026-01-01T00:02:00Z".parse().unwrap();
        let t = render_table(&board(), now);
        assert_eq!(
            t,
            "APP  staging               production\n\
             web  ✓ 1.2 3/3 2m (drift)  ?\n\
             api  -                     ?\n\
             production: unreachable: connection refused\n"
        );
    }

    #[test]
    fn json_cells_and_nulls() {
        let j = to_json("shop", &board());
        assert_eq!(j["ok"], false);
        assert_eq!(j["environments"][1]["error"], "connection refused");
        let web = &j["apps"][0]["cells"]["staging"];
        assert_eq!(web["tag"], "1.2");
        assert_eq!(web["state"], "complete");
        assert_eq!(web["drift"], true);
        assert_eq!(web["changed_at"], "2026-01-01T00:00:00Z");
        assert_eq!(web["revision"], 4);
        assert!(j["apps"][0]["cells"]["production"].is_null());
    }

    #[test]
    fn filters() {
        let b = filter(board(), Some("web"), Some("production")).unwrap();
        assert_eq!(b.rows.len(), 1);
        assert_eq!(b.envs.len(), 1);
        assert_eq!(b.rows[0].cells.len(), 1);
        assert!(filter(board(), Some("nope"), None).is_err());
    }
}
