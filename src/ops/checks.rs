//! Checks shared by the operations: read-only, access reviews, locks, protected environments and
//! critical alerts. Each returns a `Check` for the preview; `run` refuses on failures.
use super::preview::{Check, CheckStatus};
use super::{OpContext, OpError};

/// Global `--read-only`/`read_only` or the environment's `read_only`: never overridable.
pub fn read_only(ctx: &OpContext, env: &str) -> Check {
    let title = format!("writable ({env})");
    if ctx.read_only || ctx.config.read_only {
        Check::fail(
            "read-only",
            title,
            "shipdeck runs read-only (--read-only or read_only = true)",
        )
    } else if ctx.config.environment(env).is_some_and(|e| e.read_only) {
        Check::fail(
            "read-only",
            title,
            format!("environment {env} is read_only in the configuration"),
        )
    } else {
        Check::pass("read-only", title, "mutations allowed")
    }
}

/// A write the operation will make, for its access review.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl<'a> Write<'a> {
    pub fn new(verb: &'a str, group: &'a str, resource: &'a str, name: Option<&'a str>) -> Self {
        Write {
            verb,
            group,
            resource,
            subresource: None,
            name,
        }
    }

    pub fn subresource(mut self, s: &'a str) -> Self {
        self.subresource = Some(s);
        self
    }
}

/// One SelfSubjectAccessReview per write, in order; never overridable.
pub async fn access(
    client: &kube::Client,
    env: &str,
    ns: &str,
    writes: &[Write<'_>],
) -> Vec<Check> {
    let mut out = vec![];
    for w in writes {
        let res = match w.subresource {
            Some(s) => format!("{}/{s}", w.resource),
            None => w.resource.to_string(),
        };
        let title = format!("may {} {res} in {ns} ({env})", w.verb);
        let check = match super::kube::access_review(
            client,
            w.verb,
            w.group,
            w.resource,
            w.subresource,
            ns,
            w.name,
        )
        .await
        {
            Ok((true, _)) => Check::pass("access", title, "allowed (SelfSubjectAccessReview)"),
            Ok((false, reason)) => Check::fail(
                "access",
                title,
                if reason.is_empty() {
                    "denied by the API server (SelfSubjectAccessReview)".to_string()
                } else {
                    format!("denied: {reason}")
                },
            ),
            Err(e) => Check::fail(
                "access",
                title,
                format!("could not ask the API server: {e}"),
            ),
        };
        out.push(check);
    }
    out
}

/// One operation per app × environment: fails when a live process holds the lock.
pub fn lock(ctx: &OpContext, app: &str, env: &str) -> Check {
    let title = format!("no other operation on {app} in {env}");
    match super::lock::holder(ctx, app, env) {
        Some(h) => Check::fail("lock", title, format!("running: {h}")),
        None => Check::pass("lock", title, "free (lock file in the data directory)"),
    }
}

/// The name to type when the environment is protected.
pub fn confirm_name(ctx: &OpContext, env: &str, app: &str) -> Option<String> {
    ctx.config
        .environment(env)
        .filter(|e| e.protected)
        .map(|_| app.to_string())
}

pub fn protected(ctx: &OpContext, env: &str, app: &str) -> Option<Check> {
    confirm_name(ctx, env, app).map(|name| {
        Check::new(
            "protected",
            format!("{env} is protected"),
            CheckStatus::Warn,
            format!("confirm by typing `{name}`"),
        )
    })
}

/// No critical alert firing (not silenced) for the app in the namespace; overridable.
pub async fn critical_alerts(ctx: &OpContext, app: &str, env: &str, ns: &str) -> Check {
    let title = format!("no critical alert firing for {app} in {env}");
    let client = match ctx.alertmanager() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Check::new(
                "alerts",
                title,
                CheckStatus::Skipped,
                "no [alertmanager] configured",
            );
        }
        Err(e) => return Check::fail("alerts", title, e.to_string()).overridable(),
    };
    let q = crate::backend::alertmanager::AlertQuery {
        filter: vec![
            format!(
                "app=\"{}\"",
                crate::backend::prometheus::escape_label_value(app)
            ),
            format!(
                "namespace=\"{}\"",
                crate::backend::prometheus::escape_label_value(ns)
            ),
            "severity=\"critical\"".into(),
        ],
        active: Some(true),
        silenced: Some(false),
        inhibited: Some(false),
        ..Default::default()
    };
    match client.alerts(&q).await {
        Ok(alerts) if alerts.is_empty() => Check::pass("alerts", title, "none firing"),
        Ok(alerts) => {
            let names: Vec<String> = alerts
                .iter()
                .filter_map(|a| a.labels.get("alertname").cloned())
                .collect();
            Check::fail("alerts", title, format!("firing: {}", names.join(", "))).overridable()
        }
        Err(e) => Check::fail("alerts", title, format!("Alertmanager: {e}")).overridable(),
    }
}

/// A direct cluster change (patch, rollback) in a GitOps environment drifts from its manifests
/// repository; the CD controller may put the repository's version back. Said, never refused.
pub fn gitops_drift(ctx: &OpContext, env: &str, app: &str) -> Option<Check> {
    let g = ctx.config.environment(env)?.gitops.as_ref()?;
    Some(Check::new(
        "gitops-drift",
        format!("{env} is managed by GitOps"),
        CheckStatus::Warn,
        format!(
            "this changes the cluster, not {} {}: the CD controller may revert it; promote commits instead",
            g.repo_for(app, env),
            g.path_for(app, env)
        ),
    ))
}

/// The environment and namespace of an app, or a usage error.
pub fn namespace(ctx: &OpContext, env: &str, app: &str) -> Result<String, OpError> {
    Ok(ctx.env(env)?.namespace_for(app))
}
