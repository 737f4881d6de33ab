//! The Prometheus side of verify: Prometheus's own clock (`time()`, so the demo's fast clock
//! works), the error ratio and p99 over the window before the rollout and the window after it.
use super::plan::StepCtx;
use super::verify::{VerifyReport, VerifySpec, judge};
use crate::backend::prometheus::{PrometheusClient, QueryData, escape_label_value};
use std::time::Duration;

/// Prometheus's current time (seconds), from `time()`.
pub async fn prom_now(client: &PrometheusClient) -> Option<f64> {
    match client.query("time()", None).await.ok()?.data {
        QueryData::Scalar { v, .. } => Some(v),
        QueryData::Vector(s) => s.first().map(|s| s.v),
        _ => None,
    }
}

async fn scalar(client: &PrometheusClient, q: &str, at: f64) -> Option<f64> {
    match client.query(q, Some(at)).await.ok()?.data {
        QueryData::Vector(s) => s.first().map(|s| s.v).filter(|v| v.is_finite()),
        QueryData::Scalar { v, .. } => Some(v).filter(|v| v.is_finite()),
        _ => None,
    }
}

pub fn error_ratio_query(app: &str, ns: &str, window: u64) -> String {
    let sel = format!(
        "namespace=\"{}\",app=\"{}\"",
        escape_label_value(ns),
        escape_label_value(app)
    );
    format!(
        "sum(increase(http_requests_total{{{sel},code=~\"5..\"}}[{window}s])) / sum(increase(http_requests_total{{{sel}}}[{window}s]))"
    )
}

pub fn p99_query(app: &str, ns: &str, window: u64) -> String {
    let sel = format!(
        "namespace=\"{}\",app=\"{}\"",
        escape_label_value(ns),
        escape_label_value(app)
    );
    format!(
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[{window}s])))"
    )
}

/// Called before the steps run: the time the "before" window ends.
pub async fn mark_start(ctx: &super::OpContext) -> Option<f64> {
    let client = ctx.prometheus().ok()??;
    prom_now(&client).await
}

pub async fn verify(cx: &StepCtx, spec: &VerifySpec) -> VerifyReport {
    let window = cx.ctx.ops().verify_window_secs.max(1);
    let client = match cx.ctx.prometheus() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return VerifyReport::inconclusive(window, "verify: no [prometheus] configured");
        }
        Err(e) => return VerifyReport::inconclusive(window, format!("verify: {e}")),
    };
    let Some(after_start) = prom_now(&client).await else {
        return VerifyReport::inconclusive(window, "verify: Prometheus did not answer time()");
    };
    let before_end = spec.started_at.unwrap_or(after_start);
    let after_end = after_start + window as f64;
    // Wait out the window on Prometheus's clock, reporting progress; cancellable.
    loop {
        let Some(now) = prom_now(&client).await else {
            return VerifyReport::inconclusive(window, "verify: Prometheus stopped answering");
        };
        if now >= after_end {
            break;
        }
        let done = (now - after_start).max(0.0) as u64;
        cx.progress(
            format!(
                "verifying {} in {}: {done}s of {window}s",
                spec.app, spec.env
            ),
            None,
            None,
        )
        .await;
        tokio::select! {
            _ = cx.cancel.cancelled() => {
                return VerifyReport::inconclusive(window, "verify: cancelled before the window ended");
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    let eq = error_ratio_query(&spec.app, &spec.namespace, window);
    let pq = p99_query(&spec.app, &spec.namespace, window);
    let eb = scalar(&client, &eq, before_end).await;
    let ea = scalar(&client, &eq, after_end).await;
    let pb = scalar(&client, &pq, before_end).await;
    let pa = scalar(&client, &pq, after_end).await;
    let (verdict, summary) = judge(cx.ctx.ops(), eb, ea, pb, pa);
    VerifyReport {
        verdict,
        window_secs: window,
        error_ratio_before: eb,
        error_ratio_after: ea,
        p99_before: pb,
        p99_after: pa,
        summary,
    }
}
