//! Optional Slack incoming webhook on completion, failure and regression: escaped text, retries
//! only on 429 and 5xx.
use super::OpContext;
use super::runner::{Outcome, OutcomeStatus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `[slack]`: the webhook URL is a secret, so it comes from an environment variable or a file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default)]
    pub webhook_env: Option<String>,
    #[serde(default)]
    pub webhook_file: Option<PathBuf>,
    /// Also notify successful operations (failures and regressions are always sent).
    #[serde(default = "yes")]
    pub on_success: bool,
}

fn yes() -> bool {
    true
}

/// Slack's escaping of external strings.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn webhook_url(cfg: &SlackConfig) -> Option<String> {
    if let Some(var) = &cfg.webhook_env
        && let Ok(v) = std::env::var(var)
        && !v.trim().is_empty()
    {
        return Some(v.trim().to_string());
    }
    let path = cfg.webhook_file.as_ref()?;
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// The message text for an outcome.
pub fn message(ctx: &OpContext, outcome: &Outcome) -> String {
    let icon = match outcome.status {
        OutcomeStatus::Done | OutcomeStatus::NoOp => ":white_check_mark:",
        OutcomeStatus::Regressed => ":warning:",
        _ => ":x:",
    };
    let mut text = format!(
        "{icon} shipdeck {}: {} by {}@{}\n{}",
        outcome.status_word(),
        escape(&outcome.request.summary()),
        escape(&ctx.identity.user),
        escape(&ctx.identity.host),
        escape(&outcome.message)
    );
    if let Some(r) = &outcome.suggested_rollback {
        text.push_str(&format!("\nSuggested: {}", escape(&r.summary())));
    }
    text
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Sent,
    /// 4xx other than 429: Slack's body (`invalid_payload`, `no_service`, ...).
    Permanent(String),
    /// Gave up after retries.
    Failed(String),
}

/// Posts `{"text": text}`; retries 429 (after Retry-After, capped) and 5xx up to three times.
pub async fn send(url: &str, text: &str) -> SendResult {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return SendResult::Failed(e.to_string()),
    };
    let body = serde_json::json!({ "text": text });
    let mut last = String::new();
    for attempt in 0..3u32 {
        match client.post(url).json(&body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = resp.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return SendResult::Sent;
                }
                if (400..500).contains(&status) && status != 429 {
                    return SendResult::Permanent(format!("{status} {}", text.trim()));
                }
                last = format!("{status} {}", text.trim());
                let wait = retry_after.unwrap_or(1 << attempt).min(5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
        }
    }
    SendResult::Failed(last)
}

/// Notifies the configured webhook, if any. Errors are logged, never fatal.
pub async fn notify(ctx: &OpContext, outcome: &Outcome) {
    let Some(cfg) = &ctx.config.slack else {
        return;
    };
    let success = matches!(outcome.status, OutcomeStatus::Done | OutcomeStatus::NoOp);
    if success && !cfg.on_success {
        return;
    }
    if matches!(outcome.status, OutcomeStatus::Refused { .. }) {
        return;
    }
    let Some(url) = webhook_url(cfg) else {
        tracing::warn!("[slack] is configured but no webhook URL was found");
        return;
    };
    match send(&url, &message(ctx, outcome)).await {
        SendResult::Sent => {}
        other => tracing::warn!(?other, "slack notification failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
