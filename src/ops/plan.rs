//! `Plan` and `Step`: the ordered, idempotent steps of an operation, and the trait each step's
//! code implements (so sunset's Cloudflare and registry steps plug into the same runner).
use super::runner::OpEvent;
use super::{OpContext, OpError, Request};
use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a step does when run. Implementations must be idempotent: running a step that already
/// took effect succeeds (and says so with `StepOutput::already`).
pub trait StepExec: Send + Sync {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>>;
}

/// A step's result, recorded in the journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepOutput {
    /// One line: "patched web (resourceVersion 812)".
    pub message: String,
    /// Data for the journal (ids created, digests deleted, ...).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    /// Nothing needed doing (the step's effect was already there).
    pub already: bool,
}

impl StepOutput {
    pub fn done(message: impl Into<String>) -> StepOutput {
        StepOutput {
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn already(message: impl Into<String>) -> StepOutput {
        StepOutput {
            message: message.into(),
            already: true,
            ..Default::default()
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> StepOutput {
        self.detail = detail;
        self
    }
}

/// Handed to a running step: the context, progress reporting and cancellation.
pub struct StepCtx {
    pub ctx: Arc<OpContext>,
    pub op_id: String,
    pub index: usize,
    pub total: usize,
    pub cancel: CancellationToken,
    pub(crate) sink: mpsc::Sender<OpEvent>,
}

impl StepCtx {
    /// Reports progress inside a step (`ready` of `desired` replicas, when it is a rollout).
    pub async fn progress(
        &self,
        message: impl Into<String>,
        ready: Option<i32>,
        desired: Option<i32>,
    ) {
        let _ = self
            .sink
            .send(OpEvent::Progress {
                index: self.index,
                message: message.into(),
                ready,
                desired,
            })
            .await;
    }
}

pub struct Step {
    /// Stable name, unique in the plan (`patch-deployment`, `wait-rollout`): the journal and
    /// `--resume` match steps by it.
    pub name: String,
    /// What the user reads: "Patch Deployment web in production: image web@sha256:…".
    pub description: String,
    /// What the step will do, for the journal and `--output json`.
    pub detail: serde_json::Value,
    pub exec: Arc<dyn StepExec>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish()
    }
}

impl Step {
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        detail: serde_json::Value,
        exec: impl StepExec + 'static,
    ) -> Step {
        Step {
            name: name.into(),
            description: description.into(),
            detail,
            exec: Arc::new(exec),
        }
    }
}

/// Where the Kubernetes Event about the operation goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTarget {
    pub env: String,
    pub namespace: String,
    pub deployment: String,
}

#[derive(Debug)]
pub struct Plan {
    /// Unique per run (`20261127T192500Z-promote-web-1a2b`); the journal groups lines by it.
    pub op_id: String,
    pub request: Request,
    pub steps: Vec<Step>,
    /// App × environment pairs locked while the plan runs.
    pub locks: Vec<(String, String)>,
    /// Verification after the steps (promote, patch image/restart).
    pub verify: Option<super::verify::VerifySpec>,
    /// Deployments that get a `Shipdeck*` Event when the operation ends.
    pub events: Vec<EventTarget>,
    /// `--resume`: the operation id whose finished steps are skipped (sunset).
    pub resume_of: Option<String>,
    /// Said after "done" in the outcome (a GitOps pull request: "waiting for review/merge").
    pub finish_note: Option<String>,
}

impl Plan {
    pub fn new(request: Request, op_id: String) -> Plan {
        Plan {
            op_id,
            request,
            steps: vec![],
            locks: vec![],
            verify: None,
            events: vec![],
            resume_of: None,
            finish_note: None,
        }
    }

    /// One line per step, for the journal.
    pub fn summary(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.description.clone()).collect()
    }
}

/// A new operation id: UTC time, kind, app and a random suffix.
pub fn new_op_id(ctx: &OpContext, request: &Request) -> String {
    let now = ctx.clock.now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let suffix: u32 = rand::random::<u32>() & 0xffff;
    let app = request.app().unwrap_or("-");
    format!("{now}-{}-{app}-{suffix:04x}", request.kind().as_str())
}
