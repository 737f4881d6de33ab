//! `Preview`: what an operation will change and every check's result, built by `prepare` from
//! reads and server-side dry-runs; `render_text` is what the CLI prints and the console's modal shows.
use super::plan::Plan;
use super::{OpContext, OpError, Request};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Worth knowing, never refuses (no Alertmanager configured, ...).
    Warn,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable id: `access`, `read-only`, `source-rollout`, `source-health`, `alerts`, `lock`,
    /// `protected`, `paused`, `registry-tag`, ...
    pub id: String,
    /// What was checked, for people.
    pub title: String,
    pub status: CheckStatus,
    pub detail: String,
    /// Whether a typed reason can override a failure (read-only, access and locks cannot).
    pub overridable: bool,
}

impl Check {
    pub fn new(
        id: &str,
        title: impl Into<String>,
        status: CheckStatus,
        detail: impl Into<String>,
    ) -> Check {
        Check {
            id: id.into(),
            title: title.into(),
            status,
            detail: detail.into(),
            overridable: false,
        }
    }

    pub fn pass(id: &str, title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(id, title, CheckStatus::Pass, detail)
    }

    pub fn fail(id: &str, title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(id, title, CheckStatus::Fail, detail)
    }

    pub fn overridable(mut self) -> Check {
        self.overridable = true;
        self
    }
}

/// The pod template before and after (from the dry-run), as a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateDiff {
    pub env: String,
    /// `deployment/web` in namespace `shop-production`.
    pub object: String,
    pub namespace: String,
    pub unified: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChange {
    pub env: String,
    pub container: String,
    pub from: String,
    pub to: String,
    /// The digest rolled out, when known.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnotationChange {
    pub key: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// An object that will be deleted (sunset): Kubernetes, Cloudflare or registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// `kubernetes`, `cloudflare`, `registry`, `alertmanager`.
    pub system: String,
    /// `deployment`, `service`, `dns_record`, `tunnel_ingress`, `access_app`, `tag`, ...
    pub kind: String,
    pub name: String,
    /// Namespace, zone, repository, ...
    pub scope: String,
}

#[derive(Debug)]
pub struct Preview {
    pub ctx: Arc<OpContext>,
    pub plan: Plan,
    pub checks: Vec<Check>,
    pub diffs: Vec<TemplateDiff>,
    pub images: Vec<ImageChange>,
    pub annotations: Vec<AnnotationChange>,
    pub deletions: Vec<ObjectRef>,
    /// Anything else worth saying ("already at revision 4: nothing to do").
    pub notes: Vec<String>,
    /// The text to type to confirm (the app name) when an environment is protected.
    pub confirm_name: Option<String>,
    /// Nothing to do: running it only records the no-op.
    pub noop: bool,
    /// A GitOps promote: the manifests repository, file, branch and the file's diff.
    pub gitops: Option<super::gitops::GitOpsPreview>,
}

impl Preview {
    pub fn new(ctx: Arc<OpContext>, plan: Plan) -> Preview {
        Preview {
            ctx,
            plan,
            checks: vec![],
            diffs: vec![],
            images: vec![],
            annotations: vec![],
            deletions: vec![],
            notes: vec![],
            confirm_name: None,
            noop: false,
            gitops: None,
        }
    }

    pub fn request(&self) -> &Request {
        &self.plan.request
    }

    pub fn op_id(&self) -> &str {
        &self.plan.op_id
    }

    pub fn failed_checks(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .collect()
    }

    /// Failed checks no reason can override (read-only, access, lock).
    pub fn hard_failures(&self) -> Vec<&Check> {
        self.failed_checks()
            .into_iter()
            .filter(|c| !c.overridable)
            .collect()
    }

    /// Whether `run` would refuse without an override reason.
    pub fn needs_override(&self) -> bool {
        !self.failed_checks().is_empty()
    }

    pub fn render_text(&self, width: u16) -> String {
        super::preview_text::render(self, width)
    }

    /// The stable `--output json` form (see the report / docs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "op_id": self.plan.op_id,
            "request": self.plan.request,
            "summary": self.plan.request.summary(),
            "steps": self.plan.steps.iter().map(|s| serde_json::json!({
                "name": s.name, "description": s.description, "detail": s.detail,
            })).collect::<Vec<_>>(),
            "checks": self.checks,
            "diffs": self.diffs,
            "images": self.images,
            "annotations": self.annotations,
            "deletions": self.deletions,
            "notes": self.notes,
            "confirm_name": self.confirm_name,
            "noop": self.noop,
            "gitops": self.gitops,
        })
    }
}

/// Builds the preview for any request (the op modules do the work).
pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    match &request {
        Request::Promote { .. } => super::promote::prepare(ctx, request).await,
        Request::Rollback { .. } => super::rollback::prepare(ctx, request).await,
        Request::Patch { .. } => super::patch::prepare(ctx, request).await,
        Request::Approve { .. } => super::approve::prepare(ctx, request).await,
        Request::Silence { .. } | Request::ExpireSilence { .. } => {
            super::silence::prepare(ctx, request).await
        }
        Request::Sunset { .. } => super::sunset::prepare(ctx, request).await,
        Request::Rerun { .. } => super::rerun::prepare(ctx, request).await,
    }
}
