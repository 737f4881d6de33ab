//! The Prometheus side of verify: queries the error ratio and p99 before and after the rollout.
use super::plan::StepCtx;
use super::verify::{VerifyReport, VerifySpec};

pub async fn verify(cx: &StepCtx, spec: &VerifySpec) -> VerifyReport {
    let window = cx.ctx.ops().verify_window_secs;
    let _ = spec;
    VerifyReport::inconclusive(window, "verify: not implemented yet")
}
