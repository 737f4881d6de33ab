//! Verify after promote and patch: the app's error ratio and p99 latency in the target over a
//! window after the rollout, against the same window before it (Prometheus).
use super::plan::StepCtx;
use super::{PatchChange, Request};
use serde::{Deserialize, Serialize};

/// What to compare, fixed when the plan is built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifySpec {
    pub app: String,
    pub env: String,
    pub namespace: String,
    /// Prometheus time (seconds) when the rollout started; read at the start of the run when absent.
    pub started_at: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Regressed,
    /// No Prometheus, no data, or cancelled: nothing could be concluded.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Regressed => "regressed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    pub window_secs: u64,
    pub error_ratio_before: Option<f64>,
    pub error_ratio_after: Option<f64>,
    pub p99_before: Option<f64>,
    pub p99_after: Option<f64>,
    /// "error ratio 0.4% → 12.0% (+11.6 points > 2.0)".
    pub summary: String,
}

impl VerifyReport {
    pub fn inconclusive(window_secs: u64, why: impl Into<String>) -> VerifyReport {
        VerifyReport {
            verdict: Verdict::Inconclusive,
            window_secs,
            error_ratio_before: None,
            error_ratio_after: None,
            p99_before: None,
            p99_after: None,
            summary: why.into(),
        }
    }
}

/// The rollback a regression offers (one key in the console).
pub fn rollback_for(request: &Request) -> Option<Request> {
    match request {
        Request::Promote { app, to, .. } => Some(Request::Rollback {
            app: app.clone(),
            env: to.clone(),
            to_revision: None,
        }),
        Request::Patch {
            app,
            env,
            change: PatchChange::Image(_) | PatchChange::Restart,
        } => Some(Request::Rollback {
            app: app.clone(),
            env: env.clone(),
            to_revision: None,
        }),
        _ => None,
    }
}

/// Compares the thresholds of `[ops]`; pure, so it is unit-tested.
pub fn judge(
    ops: &super::context::OpsConfig,
    err_before: Option<f64>,
    err_after: Option<f64>,
    p99_before: Option<f64>,
    p99_after: Option<f64>,
) -> (Verdict, String) {
    let mut parts = vec![];
    let mut regressed = false;
    let mut known = false;
    if let (Some(b), Some(a)) = (err_before, err_after) {
        known = true;
        let delta = a - b;
        let bad = delta > ops.regression_error_ratio_delta;
        regressed |= bad;
        parts.push(format!(
            "error ratio {:.2}% → {:.2}%{}",
            b * 100.0,
            a * 100.0,
            if bad {
                format!(
                    " (+{:.2} points > {:.2})",
                    delta * 100.0,
                    ops.regression_error_ratio_delta * 100.0
                )
            } else {
                String::new()
            }
        ));
    }
    if let (Some(b), Some(a)) = (p99_before, p99_after) {
        known = true;
        let bad = b > 0.0 && a > b * ops.regression_p99_factor;
        regressed |= bad;
        parts.push(format!(
            "p99 {:.0}ms → {:.0}ms{}",
            b * 1000.0,
            a * 1000.0,
            if bad {
                format!(" (> {}× before)", ops.regression_p99_factor)
            } else {
                String::new()
            }
        ));
    }
    if !known {
        return (
            Verdict::Inconclusive,
            "verify: no data before or after".into(),
        );
    }
    let verdict = if regressed {
        Verdict::Regressed
    } else {
        Verdict::Healthy
    };
    (verdict, format!("verify: {}", parts.join(", ")))
}

/// Runs verification (waits out the window; cancellable). Never fails: problems are inconclusive.
pub async fn verify(cx: &StepCtx, spec: &VerifySpec) -> VerifyReport {
    super::verify_prom::verify(cx, spec).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let ops = super::super::context::OpsConfig::default();
        let (v, s) = judge(&ops, Some(0.004), Some(0.12), Some(0.1), Some(0.11));
        assert_eq!(v, Verdict::Regressed, "{s}");
        assert!(s.contains("0.40% → 12.00%"), "{s}");
        let (v, _) = judge(&ops, Some(0.004), Some(0.01), Some(0.1), Some(0.2));
        assert_eq!(v, Verdict::Regressed);
        let (v, _) = judge(&ops, Some(0.004), Some(0.01), Some(0.1), Some(0.12));
        assert_eq!(v, Verdict::Healthy);
        let (v, _) = judge(&ops, None, None, None, None);
        assert_eq!(v, Verdict::Inconclusive);
    }
}
