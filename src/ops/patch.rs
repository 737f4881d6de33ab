//! The `patch` operation in one environment: set an image tag (checked against the registry),
//! restart (kubectl's `restartedAt`), scale (the scale subresource), pause and resume.
use super::deploy::{self, DeployChange};
use super::plan::Step;
use super::preview::{Check, CheckStatus, ImageChange};
use super::steps::{Effect, PatchBody, ScaleDeployment};
use super::{OpContext, OpError, PatchChange, Preview, Request};
use crate::backend::registry::image::ImageRef;
use serde_json::json;
use std::sync::Arc;

/// The image for `tag`: a full reference is used as is; a tag replaces the current image's tag
/// (and digest), keeping its host and repository.
pub fn image_for(current: &str, tag: &str) -> String {
    if tag.contains('/') || tag.contains('@') || tag.contains(':') {
        return tag.to_string();
    }
    match ImageRef::parse(current) {
        Some(r) => match r.host {
            Some(h) => format!("{h}/{}:{tag}", r.repository),
            None => format!("{}:{tag}", r.repository),
        },
        None => format!("{current}:{tag}"),
    }
}

/// Whether the registry has `tag` in the app's repository (a failed check is overridable: the
/// registry may lag or be a different one).
async fn registry_check(ctx: &OpContext, repo: Option<&str>, tag: &str) -> (Check, Option<String>) {
    let title = format!("tag {tag} exists in the registry");
    let client = match ctx.registry() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return (
                Check::new(
                    "registry-tag",
                    title,
                    CheckStatus::Skipped,
                    "no [registry] configured",
                ),
                None,
            );
        }
        Err(e) => {
            return (
                Check::fail("registry-tag", title, e.to_string()).overridable(),
                None,
            );
        }
    };
    let Some(repo) = repo else {
        return (
            Check::new(
                "registry-tag",
                title,
                CheckStatus::Skipped,
                "no repository configured for the app",
            ),
            None,
        );
    };
    match client.tags(repo).await {
        Ok(tags) if tags.iter().any(|t| t == tag) => {
            let digest = client.head_manifest(repo, tag).await.ok().map(|m| m.digest);
            (
                Check::pass("registry-tag", title, format!("found in {repo}")),
                digest,
            )
        }
        Ok(_) => (
            Check::fail("registry-tag", title, format!("{repo} has no tag {tag}")).overridable(),
            None,
        ),
        Err(e) => (
            Check::fail("registry-tag", title, format!("registry: {e}")).overridable(),
            None,
        ),
    }
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Patch { app, env, change } = &request else {
        return Err(OpError::Usage("patch: wrong request".into()));
    };
    let ns = super::checks::namespace(&ctx, env, app)?;
    let target = ctx.app(app);
    let name = target.deployment.clone();
    let client = ctx.kube(env).await?;
    let d = super::kube::get_deployment(&client, &ns, &name).await?;
    let paused = d.spec.paused.unwrap_or(false);
    let user = ctx.identity.user.clone();
    let change_of =
        |body, effect, description: String, wait: bool, verify: bool, extra: Vec<Check>| {
            DeployChange {
                app: app.clone(),
                env: env.clone(),
                namespace: ns.clone(),
                deployment: d.clone(),
                body,
                effect,
                step_description: description,
                wait,
                verify,
                extra_checks: extra,
            }
        };
    match change {
        PatchChange::Image(tag) => {
            let containers = deploy::containers(&ctx, app, &d, false);
            let repo = target.repository.clone().or_else(|| {
                containers
                    .first()
                    .and_then(|(_, i)| ImageRef::parse(i))
                    .map(|r| r.repository)
            });
            let (check, digest) = if tag.contains('/') || tag.contains('@') || tag.contains(':') {
                (
                    Check::new(
                        "registry-tag",
                        format!("image {tag}"),
                        CheckStatus::Skipped,
                        "a full reference: not looked up",
                    ),
                    None,
                )
            } else {
                registry_check(&ctx, repo.as_deref(), tag).await
            };
            let images: Vec<(String, String)> = containers
                .iter()
                .map(|(c, cur)| (c.clone(), image_for(cur, tag)))
                .collect();
            let changes: Vec<ImageChange> = containers
                .iter()
                .zip(&images)
                .map(|((c, cur), (_, new))| ImageChange {
                    env: env.clone(),
                    container: c.clone(),
                    from: cur.clone(),
                    to: new.clone(),
                    digest: digest.clone(),
                })
                .collect();
            let cause = format!("shipdeck set image {tag} by {user}");
            let body = PatchBody::Strategic(deploy::set_image_body(&images, &cause));
            let description = format!(
                "Set image of deployment/{name} in {env}: {}",
                images
                    .iter()
                    .map(|(c, i)| format!("{c}={i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut p = deploy::build(
                ctx.clone(),
                request.clone(),
                change_of(
                    body,
                    Effect::Images(images),
                    description,
                    true,
                    true,
                    vec![check],
                ),
            )
            .await?;
            p.images = changes;
            Ok(p)
        }
        PatchChange::Restart => {
            let at = ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let body = PatchBody::Strategic(
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}}),
            );
            let check = paused_check(&name, paused);
            let description = format!("Restart deployment/{name} in {env} (restartedAt {at})");
            if paused {
                // kubectl refuses; so does the dry-run-free preview.
                let mut p = refused_preview(&ctx, &request, app, env, &ns, &name, &client).await;
                p.checks.push(check);
                return Ok(p);
            }
            deploy::build(
                ctx.clone(),
                request.clone(),
                change_of(body, Effect::Unknown, description, true, true, vec![check]),
            )
            .await
        }
        PatchChange::Pause | PatchChange::Resume => {
            let pause = matches!(change, PatchChange::Pause);
            let body = PatchBody::Strategic(json!({"spec": {"paused": pause}}));
            let description = format!(
                "{} deployment/{name} in {env}",
                if pause { "Pause" } else { "Resume" }
            );
            deploy::build(
                ctx.clone(),
                request.clone(),
                change_of(
                    body,
                    Effect::Paused(pause),
                    description,
                    !pause,
                    false,
                    vec![],
                ),
            )
            .await
        }
        PatchChange::Replicas(n) => {
            if *n < 0 {
                return Err(OpError::Usage("--replicas must be 0 or more".into()));
            }
            let rv = super::kube::resource_version(&d);
            let mut checks_out = deploy::base_checks(
                &ctx,
                &client,
                app,
                env,
                &ns,
                &[
                    super::checks::Write::new("patch", "apps", "deployments", Some(&name))
                        .subresource("scale"),
                ],
            )
            .await;
            let plan = deploy::new_plan(&ctx, &request, app, env, &ns, &name);
            let mut p = Preview::new(ctx.clone(), plan);
            p.confirm_name = super::checks::confirm_name(&ctx, env, app);
            let current = d.spec.replicas.unwrap_or(1);
            if current == *n {
                p.noop = true;
                p.notes.push(format!(
                    "deployment/{name} in {env} already has {n} replicas: nothing to do"
                ));
                p.checks = checks_out;
                return Ok(p);
            }
            let dry = super::steps::scale(&client, &ns, &name, *n, "", true);
            if let Some(answered) = deploy::dry_run(&mut p, &checks_out, dry).await? {
                p.notes
                    .push(format!("replicas {current} → {answered} (server dry-run)"));
            }
            p.plan.steps.push(Step::new(
                "scale-deployment",
                format!("Scale deployment/{name} in {env} from {current} to {n} replicas"),
                json!({"namespace": ns, "deployment": name, "replicas": n, "resourceVersion": rv}),
                ScaleDeployment {
                    env: env.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                    replicas: *n,
                    resource_version: rv,
                    previewed: super::steps::user_view(&d),
                },
            ));
            if !paused {
                p.plan.steps.push(deploy::wait_step(env, &ns, &name));
            }
            checks_out.push(Check::pass(
                "paused",
                "scale allowed",
                if paused {
                    "paused: not waiting for a rollout"
                } else {
                    "not paused"
                },
            ));
            p.checks = checks_out;
            Ok(p)
        }
    }
}

fn paused_check(name: &str, paused: bool) -> Check {
    let title = format!("deployment/{name} not paused");
    if paused {
        Check::fail(
            "paused",
            title,
            "can't restart paused deployment (run `shipdeck patch --resume` first)",
        )
    } else {
        Check::pass("paused", title, "not paused")
    }
}

/// A preview with the base checks and no steps (a hard check failed before any dry-run).
async fn refused_preview(
    ctx: &Arc<OpContext>,
    request: &Request,
    app: &str,
    env: &str,
    ns: &str,
    name: &str,
    client: &kube::Client,
) -> Preview {
    let checks_out = deploy::base_checks(
        ctx,
        client,
        app,
        env,
        ns,
        &[super::checks::Write::new(
            "patch",
            "apps",
            "deployments",
            Some(name),
        )],
    )
    .await;
    let plan = deploy::new_plan(ctx, request, app, env, ns, name);
    let mut p = Preview::new(ctx.clone(), plan);
    p.confirm_name = super::checks::confirm_name(ctx, env, app);
    p.checks = checks_out;
    p
}
