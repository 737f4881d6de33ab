//! The audit journal: one JSON line per step, before and after it runs, appended and fsync'd to
//! `<data dir>/audit.jsonl`; the reader for `shipdeck audit` and `--resume`; and the Kubernetes
//! Event recorded on the Deployment when an operation ends.
use super::plan::{Plan, Step};
use super::preview::Check;
use super::runner::{Outcome, OutcomeStatus};
use super::{OpContext, OpError, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRef {
    pub index: usize,
    pub name: String,
    pub description: String,
}

impl StepRef {
    pub fn of(index: usize, step: &Step) -> StepRef {
        StepRef {
            index,
            name: step.name.clone(),
            description: step.description.clone(),
        }
    }
}

/// One line of `audit.jsonl`. `phase` is `refused`, `start`, `step_begin`, `step_end`,
/// `step_skipped`, `verify` or `finish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub ts: String,
    pub op_id: String,
    pub phase: String,
    pub user: String,
    pub host: String,
    pub op: String,
    pub app: Option<String>,
    pub summary: String,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// `ok`, `already`, `failed`, `cancelled`, or the outcome's status word on `finish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

impl AuditRecord {
    pub fn base(ctx: &OpContext, plan: &Plan) -> AuditRecord {
        AuditRecord {
            ts: String::new(),
            op_id: plan.op_id.clone(),
            phase: String::new(),
            user: ctx.identity.user.clone(),
            host: ctx.identity.host.clone(),
            op: plan.request.kind().as_str().into(),
            app: plan.request.app().map(str::to_string),
            summary: plan.request.summary(),
            request: plan.request.clone(),
            plan: None,
            checks: None,
            step: None,
            detail: None,
            result: None,
            message: None,
            error: None,
            duration_ms: None,
            override_reason: None,
        }
    }

    pub fn phase(mut self, phase: &str) -> AuditRecord {
        self.phase = phase.into();
        self.ts = jiff::Timestamp::now().to_string();
        self
    }
}

/// Appends to the journal file; each line is written whole and fsync'd before `append` returns.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: PathBuf) -> Journal {
        Journal { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, rec: &AuditRecord) -> Result<(), OpError> {
        let err = |e: std::io::Error| OpError::Journal(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut line = serde_json::to_vec(rec).map_err(|e| OpError::Journal(e.to_string()))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        // One write call per line: with O_APPEND concurrent writers do not interleave lines.
        file.write_all(&line).map_err(err)?;
        file.sync_all().map_err(err)?;
        Ok(())
    }
}

/// Every record in the journal, oldest first; unreadable lines (a torn last line after a crash)
/// are skipped.
pub fn read(path: &Path) -> Result<Vec<AuditRecord>, OpError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(OpError::Journal(format!("{}: {e}", path.display()))),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Names of the steps of `op_id` that ended `ok` or `already` (or were skipped as done).
pub fn completed_steps(path: &Path, op_id: &str) -> Result<BTreeSet<String>, OpError> {
    Ok(read(path)?
        .into_iter()
        .filter(|r| r.op_id == op_id)
        .filter(|r| {
            (r.phase == "step_end" && matches!(r.result.as_deref(), Some("ok") | Some("already")))
                || r.phase == "step_skipped"
        })
        .filter_map(|r| r.step.map(|s| s.name))
        .collect())
}

/// One operation as `shipdeck audit` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpSummary {
    pub op_id: String,
    pub started: String,
    pub user: String,
    pub host: String,
    pub op: String,
    pub app: Option<String>,
    pub summary: String,
    /// `done`, `failed`, `regressed`, `cancelled`, `refused`, `no-op`, or `unfinished` (no
    /// `finish` line: the process died; `--resume` can continue it).
    pub result: String,
    pub message: Option<String>,
    pub steps_done: usize,
    pub steps_total: usize,
    pub override_reason: Option<String>,
    pub duration_ms: Option<u64>,
}

/// Groups the journal by operation, oldest first; `app` filters.
pub fn summaries(records: &[AuditRecord], app: Option<&str>) -> Vec<OpSummary> {
    let mut out: Vec<OpSummary> = vec![];
    for r in records {
        if app.is_some() && r.app.as_deref() != app {
            continue;
        }
        let i = match out.iter().position(|s| s.op_id == r.op_id) {
            Some(i) => i,
            None => {
                out.push(OpSummary {
                    op_id: r.op_id.clone(),
                    started: r.ts.clone(),
                    user: r.user.clone(),
                    host: r.host.clone(),
                    op: r.op.clone(),
                    app: r.app.clone(),
                    summary: r.summary.clone(),
                    result: "unfinished".into(),
                    message: None,
                    steps_done: 0,
                    steps_total: 0,
                    override_reason: None,
                    duration_ms: None,
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        match r.phase.as_str() {
            "start" => {
                s.steps_total = r.plan.as_ref().map_or(0, Vec::len);
                s.override_reason = r.override_reason.clone();
            }
            "step_end" if matches!(r.result.as_deref(), Some("ok") | Some("already")) => {
                s.steps_done += 1
            }
            "step_skipped" => s.steps_done += 1,
            "step_end" => s.message = r.message.clone(),
            "finish" | "refused" => {
                s.result = r.result.clone().unwrap_or_else(|| "refused".into());
                s.message = r.message.clone();
                s.duration_ms = r.duration_ms;
            }
            _ => {}
        }
    }
    out
}

/// The last unfinished or failed run of `request`'s kind for the app, for `--resume`.
pub fn last_resumable(path: &Path, op: &str, app: &str) -> Result<Option<String>, OpError> {
    let records = read(path)?;
    let ops = summaries(&records, Some(app));
    Ok(ops
        .iter()
        .rev()
        .find(|s| s.op == op)
        .filter(|s| matches!(s.result.as_str(), "unfinished" | "failed" | "cancelled"))
        .map(|s| s.op_id.clone()))
}

/// Records a core/v1 Event on each Deployment the plan names (reason `ShipdeckPromote`, ...;
/// source component `shipdeck`). Failures are logged, never fatal: the journal is the record.
pub async fn record_events(ctx: &OpContext, plan: &Plan, outcome: &Outcome) {
    use k8s_openapi::api::core::v1::Event;
    let reason = plan.request.kind().event_reason();
    let warning = matches!(
        outcome.status,
        OutcomeStatus::Failed { .. } | OutcomeStatus::Regressed
    );
    for target in &plan.events {
        let Ok(client) = ctx.kube(&target.env).await else {
            continue;
        };
        let now = ctx.clock.now();
        let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), &target.namespace);
        let uid = kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
            client,
            &target.namespace,
        )
        .get_opt(&target.deployment)
        .await
        .ok()
        .flatten()
        .and_then(|d| d.metadata.uid);
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": format!("{}.{}", target.deployment, event_suffix(&plan.op_id)),
                "namespace": target.namespace,
            },
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": target.deployment,
                "namespace": target.namespace,
                "uid": uid,
            },
            "reason": reason,
            "message": event_message(ctx, plan, outcome),
            "type": if warning { "Warning" } else { "Normal" },
            "source": {"component": "shipdeck", "host": ctx.identity.host},
            "reportingComponent": "shipdeck",
            "reportingInstance": ctx.identity.host,
            "firstTimestamp": now.to_string(),
            "lastTimestamp": now.to_string(),
            "count": 1,
        });
        let event: Event = match serde_json::from_value(body) {
            Ok(e) => e,
            Err(_) => continue,
        };
        if let Err(e) = api.create(&Default::default(), &event).await {
            tracing::warn!(error = %e, "recording the Kubernetes Event failed");
        }
    }
}

/// "promote web staging → production by ana@deck: done" (+ why, when it failed or regressed).
fn event_message(ctx: &OpContext, plan: &Plan, outcome: &Outcome) -> String {
    let mut m = format!(
        "{} by {}@{}: {}",
        plan.request.summary(),
        ctx.identity.user,
        ctx.identity.host,
        outcome.status_word()
    );
    if !matches!(outcome.status, OutcomeStatus::Done | OutcomeStatus::NoOp) {
        m.push_str(&format!(" ({})", outcome.message));
    }
    m
}

/// Event names must be DNS subdomains: lower-case, digits, `-` and `.`.
fn event_suffix(op_id: &str) -> String {
    op_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::plan::Plan;

    fn ctx(dir: &Path) -> OpContext {
        OpContext::new(crate::config::Config::default(), false).with_data_dir(dir)
    }

    fn rec(
        ctx: &OpContext,
        plan: &Plan,
        phase: &str,
        step: Option<&str>,
        result: Option<&str>,
    ) -> AuditRecord {
        let mut r = AuditRecord::base(ctx, plan).phase(phase);
        r.step = step.map(|n| StepRef {
            index: 0,
            name: n.into(),
            description: n.into(),
        });
        r.result = result.map(str::to_string);
        r
    }

    #[test]
    fn journal_round_trip_summaries_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let j = Journal::new(ctx.journal_path());
        let req = Request::Sunset {
            app: "worker".into(),
            resume: false,
        };
        let plan = Plan::new(req, "op-1".into());
        let mut start = rec(&ctx, &plan, "start", None, None);
        start.plan = Some(vec!["a".into(), "b".into(), "c".into()]);
        start.override_reason = Some("because".into());
        j.append(&start).unwrap();
        j.append(&rec(&ctx, &plan, "step_begin", Some("a"), None))
            .unwrap();
        j.append(&rec(&ctx, &plan, "step_end", Some("a"), Some("ok")))
            .unwrap();
        j.append(&rec(&ctx, &plan, "step_begin", Some("b"), None))
            .unwrap();
        j.append(&rec(&ctx, &plan, "step_end", Some("b"), Some("already")))
            .unwrap();
        j.append(&rec(&ctx, &plan, "step_begin", Some("c"), None))
            .unwrap();
        // Killed mid-write: a torn last line is skipped, the rest is intact.
        {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(ctx.journal_path())
                .unwrap();
            f.write_all(b"{\"ts\":\"2026-").unwrap();
        }
        let all = read(&ctx.journal_path()).unwrap();
        assert_eq!(all.len(), 6);
        let done = completed_steps(&ctx.journal_path(), "op-1").unwrap();
        assert_eq!(done.into_iter().collect::<Vec<_>>(), vec!["a", "b"]);
        let s = summaries(&all, Some("worker"));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].result, "unfinished");
        assert_eq!((s[0].steps_done, s[0].steps_total), (2, 3));
        assert_eq!(s[0].override_reason.as_deref(), Some("because"));
        assert!(summaries(&all, Some("web")).is_empty());
        assert_eq!(
            last_resumable(&ctx.journal_path(), "sunset", "worker").unwrap(),
            Some("op-1".into())
        );
    }

    #[test]
    fn lock_excludes_a_second_run_and_takes_over_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let plan = Plan::new(
            Request::Approve {
                app: "web".into(),
                env: "production".into(),
            },
            "op-2".into(),
        );
        let guard = crate::ops::lock::acquire(&ctx, &plan, "web", "production").unwrap();
        let err = crate::ops::lock::acquire(&ctx, &plan, "web", "production").unwrap_err();
        assert!(matches!(err, OpError::Locked(_)), "{err}");
        assert!(crate::ops::lock::holder(&ctx, "web", "production").is_some());
        drop(guard);
        assert!(crate::ops::lock::holder(&ctx, "web", "production").is_none());
        // A lock left by a process that is gone.
        let path = crate::ops::lock::lock_path(&ctx, "web", "production");
        std::fs::write(&path, r#"{"pid": 4000000000, "op_id": "old"}"#).unwrap();
        assert!(crate::ops::lock::holder(&ctx, "web", "production").is_none());
        let _g = crate::ops::lock::acquire(&ctx, &plan, "web", "production").unwrap();
    }
}
