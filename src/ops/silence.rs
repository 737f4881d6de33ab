//! The `silence` operations: create a silence for an app's alerts (or one alert) for a duration,
//! and expire one, through Alertmanager.
use super::plan::{Plan, Step, StepCtx, StepExec, StepOutput, new_op_id};
use super::preview::Check;
use super::{OpContext, OpError, Preview, Request};
use crate::model::alerts::{NewSilence, SilenceMatcher};
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;

fn matcher(name: &str, value: &str) -> SilenceMatcher {
    SilenceMatcher {
        name: name.into(),
        value: value.into(),
        is_regex: false,
        is_equal: true,
    }
}

/// The matchers: `app="<app>"`, plus `alertname="<alert>"` when one is named.
pub fn matchers(app: &str, alert: Option<&str>) -> Vec<SilenceMatcher> {
    let mut m = vec![];
    if let Some(a) = alert {
        m.push(matcher("alertname", a));
    }
    m.push(matcher("app", app));
    m
}

struct CreateSilence {
    matchers: Vec<SilenceMatcher>,
    duration_secs: u64,
    comment: String,
}

impl StepExec for CreateSilence {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let am = cx.ctx.require_alertmanager()?;
            let now = cx.ctx.clock.now();
            let ends = now
                .checked_add(jiff::SignedDuration::from_secs(self.duration_secs as i64))
                .map_err(|e| OpError::Usage(format!("duration: {e}")))?;
            let s = NewSilence {
                id: None,
                matchers: self.matchers.clone(),
                starts_at: now,
                ends_at: ends,
                created_by: format!(
                    "{}@{} (shipdeck)",
                    cx.ctx.identity.user, cx.ctx.identity.host
                ),
                comment: self.comment.clone(),
            };
            let id = am
                .create_silence(&s)
                .await
                .map_err(|e| OpError::backend("alertmanager", e))?;
            Ok(
                StepOutput::done(format!("silence {id} created until {ends}"))
                    .with_detail(json!({"silence_id": id, "ends_at": ends.to_string()})),
            )
        })
    }
}

struct ExpireSilence {
    id: String,
}

impl StepExec for ExpireSilence {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let am = cx.ctx.require_alertmanager()?;
            if let Ok(s) = am.silence(&self.id).await
                && s.status.state == crate::model::alerts::SilenceState::Expired
            {
                return Ok(StepOutput::already(format!(
                    "silence {} is already expired",
                    self.id
                )));
            }
            am.expire_silence(&self.id)
                .await
                .map_err(|e| OpError::backend("alertmanager", e))?;
            Ok(StepOutput::done(format!("silence {} expired", self.id)))
        })
    }
}

fn writable(ctx: &OpContext) -> Check {
    if ctx.read_only || ctx.config.read_only {
        Check::fail(
            "read-only",
            "writable",
            "shipdeck runs read-only (--read-only or read_only = true)",
        )
    } else {
        Check::pass("read-only", "writable", "mutations allowed")
    }
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let am = ctx.alertmanager()?.ok_or_else(|| {
        OpError::Usage("silences need an [alertmanager] section in the configuration".into())
    })?;
    let mut plan = Plan::new(request.clone(), new_op_id(&ctx, &request));
    match &request {
        Request::Silence {
            app,
            alert,
            duration_secs,
            comment,
        } => {
            if comment.trim().is_empty() {
                return Err(OpError::Usage("a silence needs a --comment".into()));
            }
            if *duration_secs == 0 {
                return Err(OpError::Usage("--for must be longer than 0".into()));
            }
            let m = matchers(app, alert.as_deref());
            let text: Vec<String> = m
                .iter()
                .map(|m| format!("{}=\"{}\"", m.name, m.value))
                .collect();
            plan.steps.push(Step::new(
                "create-silence",
                format!(
                    "Create a silence {{{}}} for {}: {comment}",
                    text.join(", "),
                    super::request::human_secs(*duration_secs)
                ),
                json!({"matchers": m, "duration_secs": duration_secs, "comment": comment}),
                CreateSilence {
                    matchers: m,
                    duration_secs: *duration_secs,
                    comment: comment.clone(),
                },
            ));
        }
        Request::ExpireSilence { id } => {
            let s = am
                .silence(id)
                .await
                .map_err(|e| OpError::NotFound(format!("silence {id}: {e}")))?;
            let text: Vec<String> = s
                .matchers
                .iter()
                .map(|m| format!("{}=\"{}\"", m.name, m.value))
                .collect();
            plan.steps.push(Step::new(
                "expire-silence",
                format!(
                    "Expire silence {id} {{{}}} ({}, by {})",
                    text.join(", "),
                    format!("{:?}", s.status.state).to_lowercase(),
                    s.created_by
                ),
                json!({"silence_id": id}),
                ExpireSilence { id: id.clone() },
            ));
        }
        _ => return Err(OpError::Usage("silence: wrong request".into())),
    }
    let mut preview = Preview::new(ctx.clone(), plan);
    preview.checks.push(writable(&ctx));
    Ok(preview)
}
