//! The mutation engine: request → plan → preview (dry-runs, checks, diffs) → confirm → run with
//! progress → verify → audit. The CLI verbs and the console's modal call the same functions.
pub mod approve;
pub mod audit;
pub mod checks;
pub mod context;
pub mod deploy;
pub mod error;
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
