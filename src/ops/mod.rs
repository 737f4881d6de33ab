//! The mutation engine: request → plan → preview (dry-runs, checks, diffs) → confirm → run with
//! progress → verify → audit. The CLI verbs and the console's modal call the same functions.
//!
//! How a caller (the CLI in `verbs.rs`, the console's modal) drives it:
//! 1. `let ctx = Arc::new(OpContext::new(config, read_only))` once (`set_kube` to share clients);
//! 2. `let preview = ops::prepare(ctx.clone(), request).await?` — reads, server-side dry-runs,
//!    checks; nothing is written. Show `preview.render_text(width)`; ask for the app name when
//!    `preview.confirm_name` is set, and for a reason when `preview.needs_override()`;
//!    `preview.hard_failures()` cannot be overridden (read-only, access, lock, paused);
//! 3. `ops::spawn(preview, Confirmation { typed_name, override_reason })` (or `ops::run` with your
//!    own channel and token) — `OpEvent`s: `Started`, per step `Step` → `Progress`* →
//!    `StepDone`, then one `Finished(outcome)`; fold them with `OpProgress` for a progress bar;
//!    `cancel.cancel()` stops between steps (and stops waiting on a rollout);
//! 4. `Outcome.status` (`done`, `no_op`, `regressed`, `failed`, `cancelled`, `refused`),
//!    `Outcome.suggested_rollback` after a regression (prepare it for the one-key rollback),
//!    `Outcome.exit_code()` for scripts. Recent operations: `audit::summaries(&audit::read(..))`.
pub mod approve;
pub mod audit;
pub mod checks;
pub mod context;
pub mod deploy;
pub mod error;
pub mod gitops;
pub mod kube;
pub mod lock;
pub mod notify;
pub mod patch;
pub mod plan;
pub mod preview;
pub mod preview_text;
pub mod progress;
pub mod promote;
pub mod request;
pub mod rerun;
pub mod rollback;
pub mod runner;
pub mod silence;
pub mod steps;
pub mod sunset;
pub mod verify;
mod verify_prom;

pub use context::{Identity, OpContext};
pub use error::OpError;
pub use plan::{Plan, Step, StepCtx, StepExec, StepOutput};
pub use preview::{
    AnnotationChange, Check, CheckStatus, ImageChange, ObjectRef, Preview, TemplateDiff,
};
pub use progress::{OpProgress, RunHandle, spawn};
pub use request::{OpKind, PatchChange, Request};
pub use runner::{Confirmation, OpEvent, Outcome, OutcomeStatus, run};
pub use verify::VerifyReport;

/// Reads current state and builds the preview: plan, server-side dry-runs, diffs and checks.
/// Nothing is written. The preview carries the context, so `run(preview, ..)` needs nothing more.
pub async fn prepare(ctx: std::sync::Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    preview::prepare(ctx, request).await
}
