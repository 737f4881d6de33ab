//! The `promote` operation: the image running in the source environment, pinned by digest (from the
//! source pods' `imageID`), set on the target's containers by name (`kubectl set image`'s strategic
//! merge) with `kubernetes.io/change-cause`; then the rollout wait and verification. A GitOps target
//! environment commits the change to its manifests repository instead (`super::gitops`).
use super::deploy::{self, DeployChange};
use super::preview::{Check, ImageChange};
use super::steps::{Effect, PatchBody};
use super::{OpContext, OpError, Preview, Request};
use crate::backend::registry::image::ImageRef;
use crate::model::kube::RolloutState;
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

/// The digest (`sha256:…`) a pod reports for a container, from `containerStatuses[].imageID`.
pub fn digest_of(pods: &[Pod], container: &str, spec_image: &str) -> Option<String> {
    let mut fallback = None;
    for p in pods {
        let Some(statuses) = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
        else {
            continue;
        };
        for s in statuses.iter().filter(|s| s.name == container) {
            let Some((_, digest)) = s.image_id.rsplit_once('@') else {
                continue;
            };
            if !digest.starts_with("sha256:") {
                continue;
            }
            if s.image == spec_image {
                return Some(digest.to_string());
            }
            fallback.get_or_insert_with(|| digest.to_string());
        }
    }
    fallback
}

/// `host/repo:tag@sha256:…` (the tag kept for people; the digest is what runs), or the full
/// reference as is when no digest is known.
pub fn pinned(spec_image: &str, digest: Option<&str>) -> String {
    let Some(digest) = digest else {
        return spec_image.to_string();
    };
    match ImageRef::parse(spec_image) {
        Some(r) => {
            let mut s = String::new();
            if let Some(h) = &r.host {
                s.push_str(h);
                s.push('/');
            }
            s.push_str(&r.repository);
            if let Some(t) = &r.tag {
                s.push(':');
                s.push_str(t);
            }
            s.push('@');
            s.push_str(digest);
            s
        }
        None => spec_image.to_string(),
    }
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Promote {
        app,
        from,
        to,
        reason,
    } = &request
    else {
        return Err(OpError::Usage("promote: wrong request".into()));
    };
    let target_env = ctx.env(to)?;
    let from = match from.clone().or_else(|| target_env.promote_from.clone()) {
        Some(f) => f,
        None => {
            return Err(OpError::Usage(format!(
                "{to} has no promote_from in the configuration; pass --from ENV"
            )));
        }
    };
    if &from == to {
        return Err(OpError::Usage(
            "--from and --to name the same environment".into(),
        ));
    }
    let src_ns = super::checks::namespace(&ctx, &from, app)?;
    let dst_ns = super::checks::namespace(&ctx, to, app)?;
    let name = ctx.app(app).deployment;
    let src_client = ctx.kube(&from).await?;
    let dst_client = ctx.kube(to).await?;

    let src = super::kube::get_deployment(&src_client, &src_ns, &name).await?;
    let view = crate::backend::kube::project::deployment(&src);
    let mut extra: Vec<Check> = vec![];
    let rollout_title = format!("source rollout complete ({from})");
    extra.push(match view.rollout_state() {
        RolloutState::Complete => {
            Check::pass("source-rollout", rollout_title, "successfully rolled out")
        }
        RolloutState::Progressing { message, .. } => {
            Check::fail("source-rollout", rollout_title, message).overridable()
        }
        RolloutState::WaitingForSpec => Check::fail(
            "source-rollout",
            rollout_title,
            "waiting for the spec update to be observed",
        )
        .overridable(),
        RolloutState::Failed { message, .. } => {
            Check::fail("source-rollout", rollout_title, message).overridable()
        }
        RolloutState::Paused => Check::fail(
            "source-rollout",
            rollout_title,
            "the source deployment is paused",
        )
        .overridable(),
    });
    let health_title = format!("source healthy ({from})");
    extra.push(
        if view.desired > 0 && view.available >= view.desired && view.ready >= view.desired {
            Check::pass(
                "source-health",
                health_title,
                format!("{}/{} ready", view.ready, view.desired),
            )
        } else {
            Check::fail(
                "source-health",
                health_title,
                format!(
                    "{}/{} ready, {} available",
                    view.ready, view.desired, view.available
                ),
            )
            .overridable()
        },
    );
    extra.push(super::checks::critical_alerts(&ctx, app, to, &dst_ns).await);

    let selector = crate::backend::kube::project::selector_string(&view.selector);
    let pods = super::kube::pods(&src_client, &src_ns, &selector).await?;
    let dst = super::kube::get_deployment(&dst_client, &dst_ns, &name).await?;
    let dst_images = deploy::containers(&ctx, app, &dst, true);
    let src_images = deploy::containers(&ctx, app, &src, true);
    let mut images = vec![];
    let mut changes = vec![];
    for (container, current) in &dst_images {
        let Some((_, src_image)) = src_images.iter().find(|(n, _)| n == container) else {
            continue;
        };
        let digest = digest_of(&pods, container, src_image);
        let new = pinned(src_image, digest.as_deref());
        images.push((container.clone(), new.clone()));
        changes.push(ImageChange {
            env: to.clone(),
            container: container.clone(),
            from: current.clone(),
            to: new,
            digest,
        });
    }
    if images.is_empty() {
        return Err(OpError::Usage(format!(
            "deployment/{name} in {from} and {to} have no container in common"
        )));
    }
    let cause = match reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("shipdeck promote from {from} by {}: {r}", ctx.identity.user),
        None => format!("shipdeck promote from {from} by {}", ctx.identity.user),
    };
    if let Some(gitops) = &target_env.gitops {
        let mut preview = super::gitops::build(
            ctx.clone(),
            request.clone(),
            gitops,
            super::gitops::GitOpsChange {
                app: app.clone(),
                env: to.clone(),
                namespace: dst_ns,
                deployment: dst,
                images,
                changes,
                extra_checks: extra,
                cause,
            },
        )
        .await?;
        if let Request::Promote { from: f @ None, .. } = &mut preview.plan.request {
            *f = Some(from);
        }
        return Ok(preview);
    }
    let body = PatchBody::Strategic(deploy::set_image_body(&images, &cause));
    let step_description = format!(
        "Set image of deployment/{name} in {to}: {}",
        images
            .iter()
            .map(|(c, i)| format!("{c}={i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut preview = deploy::build(
        ctx.clone(),
        request.clone(),
        DeployChange {
            app: app.clone(),
            env: to.clone(),
            namespace: dst_ns,
            deployment: dst,
            body,
            effect: Effect::Images(images),
            step_description,
            wait: true,
            verify: true,
            extra_checks: extra,
        },
    )
    .await?;
    preview.images = changes;
    // Record the resolved source, so the journal and the Event say where the image came from.
    if let Request::Promote { from: f @ None, .. } = &mut preview.plan.request {
        *f = Some(from);
    }
    Ok(preview)
}
