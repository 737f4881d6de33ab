//! The common shape of promote and patch: checks for one Deployment write, the server-side dry-run
//! and template diff, then the steps (patch, wait for the rollout) and verification.
use super::checks::{self, Write};
use super::plan::{EventTarget, Plan, Step, new_op_id};
use super::preview::{Check, TemplateDiff};
use super::steps::{Effect, PatchBody, PatchDeployment, WaitRollout};
use super::verify::VerifySpec;
use super::{OpContext, OpError, Preview, Request};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use std::sync::Arc;

/// What the caller decided; `build` adds checks, dry-run, diff and steps.
pub struct DeployChange {
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub deployment: Deployment,
    pub body: PatchBody,
    pub effect: Effect,
    pub step_description: String,
    pub wait: bool,
    pub verify: bool,
    /// Checks the caller computed (source health, alerts, paused, registry tag, ...).
    pub extra_checks: Vec<Check>,
}

/// The checks every Deployment write carries: writable, access review, lock, protected.
pub async fn base_checks(
    ctx: &OpContext,
    client: &kube::Client,
    app: &str,
    env: &str,
    ns: &str,
    writes: &[Write<'_>],
) -> Vec<Check> {
    let mut out = vec![checks::read_only(ctx, env)];
    out.extend(checks::access(client, env, ns, writes).await);
    out.push(checks::lock(ctx, app, env));
    out.extend(checks::protected(ctx, env, app));
    out.extend(checks::gitops_drift(ctx, env, app));
    out
}

pub fn new_plan(
    ctx: &OpContext,
    request: &Request,
    app: &str,
    env: &str,
    ns: &str,
    name: &str,
) -> Plan {
    let mut plan = Plan::new(request.clone(), new_op_id(ctx, request));
    plan.locks.push((app.to_string(), env.to_string()));
    plan.events.push(EventTarget {
        env: env.to_string(),
        namespace: ns.to_string(),
        deployment: name.to_string(),
    });
    plan
}

pub async fn build(
    ctx: Arc<OpContext>,
    request: Request,
    c: DeployChange,
) -> Result<Preview, OpError> {
    let name = c.deployment.metadata.name.clone().unwrap_or_default();
    let client = ctx.kube(&c.env).await?;
    let mut checks_out = base_checks(
        &ctx,
        &client,
        &c.app,
        &c.env,
        &c.namespace,
        &[Write::new("patch", "apps", "deployments", Some(&name))],
    )
    .await;
    checks_out.extend(c.extra_checks);
    let plan = new_plan(&ctx, &request, &c.app, &c.env, &c.namespace, &name);
    let mut preview = Preview::new(ctx.clone(), plan);
    preview.confirm_name = checks::confirm_name(&ctx, &c.env, &c.app);
    if c.effect.present(&c.deployment) {
        preview.noop = true;
        preview.notes.push(format!(
            "deployment/{name} in {} already has this change: nothing to do",
            c.env
        ));
        preview.checks = checks_out;
        return Ok(preview);
    }
    let rv = super::kube::resource_version(&c.deployment);
    let before = super::kube::template_of(&c.deployment);
    // The dry-run carries no precondition: the controller's status updates move the
    // resourceVersion all the time, and nothing is written anyway.
    if let Some(after) = dry_run(
        &mut preview,
        &checks_out,
        super::kube::patch_deployment(&client, &c.namespace, &name, &c.body.to_kube()?, true),
    )
    .await?
    {
        preview.diffs.push(TemplateDiff {
            env: c.env.clone(),
            object: format!("deployment/{name}"),
            namespace: c.namespace.clone(),
            unified: super::kube::template_diff(
                &before,
                &super::kube::template_of(&after),
                "spec.template",
            ),
        });
    }
    preview.plan.steps.push(Step::new(
        "patch-deployment",
        c.step_description,
        json!({"namespace": c.namespace, "deployment": name, "resourceVersion": rv, "patch": c.body}),
        PatchDeployment {
            env: c.env.clone(),
            namespace: c.namespace.clone(),
            name: name.clone(),
            patch: c.body,
            resource_version: rv,
            previewed: super::steps::user_view(&c.deployment),
            effect: c.effect,
        },
    ));
    if c.wait {
        preview
            .plan
            .steps
            .push(wait_step(&c.env, &c.namespace, &name));
    }
    if c.verify && !ctx.ops().skip_verify && ctx.config.prometheus.is_some() {
        preview.plan.verify = Some(VerifySpec {
            app: c.app.clone(),
            env: c.env.clone(),
            namespace: c.namespace.clone(),
            started_at: None,
        });
    }
    preview.checks = checks_out;
    Ok(preview)
}

/// Runs the preview's server-side dry-run unless the access review already said no (then the
/// dry-run would only repeat the 403); a 403 from the dry-run itself becomes a note, since the
/// failed access check already refuses the run.
pub async fn dry_run<T>(
    preview: &mut Preview,
    checks: &[Check],
    call: impl std::future::Future<Output = Result<T, OpError>>,
) -> Result<Option<T>, OpError> {
    let denied = checks
        .iter()
        .any(|c| c.id == "access" && c.status == super::preview::CheckStatus::Fail);
    if denied {
        preview
            .notes
            .push("no server-side dry-run: the access review denied the write".into());
        return Ok(None);
    }
    match call.await {
        Ok(v) => Ok(Some(v)),
        Err(OpError::Forbidden(m)) => {
            preview
                .notes
                .push(format!("server-side dry-run forbidden: {m}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub fn wait_step(env: &str, ns: &str, name: &str) -> Step {
    Step::new(
        "wait-rollout",
        format!("Wait for deployment/{name} in {env} to roll out (kubectl's rules)"),
        json!({"namespace": ns, "deployment": name}),
        WaitRollout {
            env: env.to_string(),
            namespace: ns.to_string(),
            name: name.to_string(),
        },
    )
}

/// The containers an operation changes: the app's configured names, else `default_all` ? all :
/// the first.
pub fn containers(
    ctx: &OpContext,
    app: &str,
    d: &Deployment,
    default_all: bool,
) -> Vec<(String, String)> {
    let target = ctx.app(app);
    let all: Vec<(String, String)> = d
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if !target.containers.is_empty() {
        return all
            .into_iter()
            .filter(|(n, _)| target.containers.contains(n))
            .collect();
    }
    if default_all {
        all
    } else {
        all.into_iter().take(1).collect()
    }
}

/// `kubectl set image`'s strategic merge body (containers merge by name), plus change-cause.
pub fn set_image_body(images: &[(String, String)], change_cause: &str) -> serde_json::Value {
    let containers: Vec<serde_json::Value> = images
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i}))
        .collect();
    json!({
        "metadata": {"annotations": {"kubernetes.io/change-cause": change_cause}},
        "spec": {"template": {"spec": {"containers": containers}}},
    })
}
