//! The `rollback` operation: exactly `kubectl rollout undo` (apis.md §1.5) — the target
//! ReplicaSet's template (pod-template-hash label removed) and annotations (six Deployment keys
//! kept) in one JSON Patch; refuses paused; no-op when already there; then waits for the rollout.
use super::checks::{self, Write};
use super::plan::{EventTarget, Plan, Step, new_op_id};
use super::preview::{AnnotationChange, Check, ImageChange, TemplateDiff};
use super::steps::{Effect, PatchBody, PatchDeployment, WaitRollout};
use super::{OpContext, OpError, Preview, Request};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Deployment annotations kubectl keeps (everything else comes from the ReplicaSet).
pub const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// kubectl's choice of target: `to_revision`, else the second-highest revision.
pub fn target(sets: &[ReplicaSet], to_revision: Option<i64>) -> Result<&ReplicaSet, OpError> {
    match to_revision {
        Some(n) if n > 0 => sets.iter().find(|rs| revision_of(rs) == n).ok_or_else(|| {
            OpError::NotFound(format!("unable to find specified revision {n} in history"))
        }),
        _ => {
            let mut revs: Vec<(i64, &ReplicaSet)> =
                sets.iter().map(|rs| (revision_of(rs), rs)).collect();
            revs.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
            revs.get(1)
                .map(|(_, rs)| *rs)
                .ok_or_else(|| OpError::NotFound("no rollout history found".into()))
        }
    }
}

/// kubectl's words when the target revision's template is the one running (nothing to do).
pub fn skipped_note(revision: i64) -> String {
    format!("skipped rollback (current template already matches revision {revision})")
}

/// `(container, image)` of a pod template, in template order.
fn template_images(template: &Value) -> Vec<(String, String)> {
    template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c.get("name")?.as_str()?.to_string(),
                c.get("image")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The container images rolling back changes, current → target, by container name.
pub fn image_changes(env: &str, current: &Value, target: &Value) -> Vec<ImageChange> {
    let now = template_images(current);
    template_images(target)
        .into_iter()
        .filter_map(|(container, to)| {
            let from = now
                .iter()
                .find(|(c, _)| *c == container)
                .map(|(_, i)| i.clone())
                .unwrap_or_default();
            (from != to).then(|| ImageChange {
                env: env.to_string(),
                container,
                from,
                to,
                digest: None,
            })
        })
        .collect()
}

/// The template and annotations kubectl would write for rolling `d` back to `rs`.
pub fn undo_body(d: &Deployment, rs: &ReplicaSet) -> (Value, BTreeMap<String, String>) {
    let mut template = serde_json::to_value(rs.spec.template.clone()).unwrap_or(Value::Null);
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    let mut annotations = BTreeMap::new();
    let current = d.metadata.annotations.clone().unwrap_or_default();
    for k in ANNOTATIONS_TO_SKIP {
        if let Some(v) = current.get(k) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in rs.metadata.annotations.clone().unwrap_or_default() {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k, v);
        }
    }
    (template, annotations)
}

/// kubectl's JSON Patch: replace `/spec/template` and `/metadata/annotations`.
pub fn undo_patch(template: &Value, annotations: &BTreeMap<String, String>) -> Value {
    json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Rollback {
        app,
        env,
        to_revision,
    } = &request
    else {
        return Err(OpError::Usage("rollback: wrong request".into()));
    };
    let (app, env, to_revision) = (app.clone(), env.clone(), *to_revision);
    let ns = checks::namespace(&ctx, &env, &app)?;
    let target_app = ctx.app(&app);
    let name = target_app.deployment.clone();
    let client = ctx.kube(&env).await?;
    let op_id = new_op_id(&ctx, &request);
    let mut plan = Plan::new(request.clone(), op_id);
    plan.locks.push((app.clone(), env.clone()));
    plan.events.push(EventTarget {
        env: env.clone(),
        namespace: ns.clone(),
        deployment: name.clone(),
    });

    let mut checks_out: Vec<Check> = vec![checks::read_only(&ctx, &env)];
    checks_out.extend(
        checks::access(
            &client,
            &env,
            &ns,
            &[Write::new("patch", "apps", "deployments", Some(&name))],
        )
        .await,
    );
    checks_out.push(checks::lock(&ctx, &app, &env));
    checks_out.extend(checks::protected(&ctx, &env, &app));
    checks_out.extend(checks::gitops_drift(&ctx, &env, &app));

    let d = super::kube::get_deployment(&client, &ns, &name).await?;
    let rv = super::kube::resource_version(&d);
    let paused = d.spec.paused.unwrap_or(false);
    checks_out.push(if paused {
        Check::fail(
            "paused",
            format!("deployment/{name} not paused"),
            "you cannot rollback a paused deployment; resume it first with `shipdeck patch --resume`",
        )
    } else {
        Check::pass("paused", format!("deployment/{name} not paused"), "not paused")
    });
    let sets = super::kube::owned_replica_sets(&client, &d).await?;
    let rs = target(&sets, to_revision)?;
    let revision = revision_of(rs);
    let (template, annotations) = undo_body(&d, rs);
    let current_template = super::kube::template_of(&d);

    let mut preview = Preview::new(ctx.clone(), plan);
    preview.confirm_name = checks::confirm_name(&ctx, &env, &app);
    if super::steps::templates_equal_ignoring_hash(&current_template, &template) {
        preview.noop = true;
        preview.notes.push(skipped_note(revision));
        preview.checks = checks_out;
        return Ok(preview);
    }
    let body = PatchBody::Json(undo_patch(&template, &annotations));
    // The preview's server-side dry-run of the same patch.
    let after = if paused {
        None
    } else {
        super::deploy::dry_run(
            &mut preview,
            &checks_out,
            super::kube::patch_deployment(&client, &ns, &name, &body.to_kube()?, true),
        )
        .await?
    };
    let after_template = after
        .as_ref()
        .map(super::kube::template_of)
        .unwrap_or_else(|| template.clone());
    preview.diffs.push(TemplateDiff {
        env: env.clone(),
        object: format!("deployment/{name}"),
        namespace: ns.clone(),
        unified: super::kube::template_diff(&current_template, &after_template, "spec.template"),
    });
    // The images of the target revision, named in the preview (the diff shows them in context).
    preview.images = image_changes(&env, &current_template, &template);
    let now = d.metadata.annotations.clone().unwrap_or_default();
    let keys: std::collections::BTreeSet<&String> = now.keys().chain(annotations.keys()).collect();
    for k in keys {
        let (a, b) = (now.get(k), annotations.get(k));
        if a != b {
            preview.annotations.push(AnnotationChange {
                key: k.clone(),
                from: a.cloned(),
                to: b.cloned(),
            });
        }
    }
    preview.notes.push(format!(
        "roll back deployment/{name} in {ns} to revision {revision} (ReplicaSet {})",
        rs.metadata.name.clone().unwrap_or_default()
    ));
    preview.plan.steps.push(Step::new(
        "patch-deployment",
        format!("Roll back deployment/{name} in {env} to revision {revision} (JSON Patch of template and annotations)"),
        json!({"namespace": ns, "deployment": name, "revision": revision, "resourceVersion": rv, "patch": body}),
        PatchDeployment {
            env: env.clone(),
            namespace: ns.clone(),
            name: name.clone(),
            patch: body,
            resource_version: rv,
            previewed: super::steps::user_view(&d),
            effect: Effect::Template(template),
        },
    ));
    preview.plan.steps.push(Step::new(
        "wait-rollout",
        format!("Wait for deployment/{name} in {env} to roll out"),
        json!({"namespace": ns, "deployment": name}),
        WaitRollout {
            env,
            namespace: ns,
            name,
        },
    ));
    preview.checks = checks_out;
    Ok(preview)
}
