//! Step implementations shared by promote, rollback and patch: a Deployment patch carrying the
//! previewed resourceVersion, a scale, and the wait for the rollout.
use super::OpError;
use super::plan::{StepCtx, StepExec, StepOutput};
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// A patch body and its type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "body", rename_all = "snake_case")]
pub enum PatchBody {
    /// `application/strategic-merge-patch+json`
    Strategic(Value),
    /// `application/json-patch+json`
    Json(Value),
    /// `application/merge-patch+json`
    Merge(Value),
}

impl PatchBody {
    /// The body with the resourceVersion precondition: in `metadata` for merge patches, a
    /// leading `replace /metadata/resourceVersion` for JSON Patch. Either way a concurrent change
    /// makes the server answer 409 Conflict instead of overwriting it.
    pub fn with_rv(&self, rv: &str) -> PatchBody {
        match self {
            PatchBody::Strategic(v) => PatchBody::Strategic(put_rv(v.clone(), rv)),
            PatchBody::Merge(v) => PatchBody::Merge(put_rv(v.clone(), rv)),
            PatchBody::Json(v) => {
                let mut ops = vec![
                    json!({"op": "replace", "path": "/metadata/resourceVersion", "value": rv}),
                ];
                ops.extend(v.as_array().cloned().unwrap_or_default());
                PatchBody::Json(Value::Array(ops))
            }
        }
    }

    pub fn to_kube(&self) -> Result<Patch<Value>, OpError> {
        Ok(match self {
            PatchBody::Strategic(v) => Patch::Strategic(v.clone()),
            PatchBody::Merge(v) => Patch::Merge(v.clone()),
            PatchBody::Json(v) => Patch::Json(
                serde_json::from_value(v.clone())
                    .map_err(|e| OpError::Usage(format!("bad JSON Patch: {e}")))?,
            ),
        })
    }
}

fn put_rv(mut v: Value, rv: &str) -> Value {
    if let Some(obj) = v.as_object_mut() {
        let md = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(md) = md.as_object_mut() {
            md.insert("resourceVersion".into(), json!(rv));
        }
    }
    v
}

/// How a patch step recognises that its effect is already there (for idempotent re-runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Effect {
    /// The pod template equals this one (the `pod-template-hash` label ignored).
    Template(Value),
    /// These containers run these images.
    Images(Vec<(String, String)>),
    Paused(bool),
    /// Not recognisable (restart): a changed resourceVersion is always a conflict.
    Unknown,
}

impl Effect {
    pub fn present(&self, d: &Deployment) -> bool {
        match self {
            Effect::Template(t) => templates_equal_ignoring_hash(&super::kube::template_of(d), t),
            Effect::Images(list) => list.iter().all(|(name, image)| {
                d.spec.template.spec.as_ref().is_some_and(|s| {
                    s.containers
                        .iter()
                        .any(|c| &c.name == name && c.image.as_deref() == Some(image))
                })
            }),
            Effect::Paused(p) => d.spec.paused.unwrap_or(false) == *p,
            Effect::Unknown => false,
        }
    }
}

/// kubectl's `equalIgnoreHash`.
pub fn templates_equal_ignoring_hash(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(labels) = v
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.remove("pod-template-hash");
            if labels.is_empty()
                && let Some(md) = v.pointer_mut("/metadata").and_then(Value::as_object_mut)
            {
                md.remove("labels");
            }
        }
        v
    };
    strip(a) == strip(b)
}

/// What people (not controllers) change on a Deployment: spec, labels and annotations other
/// than the controller's `deployment.kubernetes.io/*`. Status updates move the resourceVersion
/// without changing this, and are not a concurrent change.
pub fn user_view(d: &Deployment) -> Value {
    let annotations: std::collections::BTreeMap<&String, &String> = d
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("deployment.kubernetes.io/"))
        .collect();
    json!({"spec": d.spec, "labels": d.metadata.labels, "annotations": annotations})
}

/// The resourceVersion to send: the previewed one, or the current one when only the controller
/// touched the object since (status); `None` when someone changed what the preview showed.
fn precondition(previewed_rv: &str, previewed: &Value, current: &Deployment) -> Option<String> {
    let rv = super::kube::resource_version(current);
    if rv == previewed_rv || user_view(current) == *previewed {
        Some(rv)
    } else {
        None
    }
}

/// PATCH a Deployment carrying the resourceVersion of the preview (or a newer one when only the
/// controller's status moved it). If someone changed the object since the preview: already done
/// when its effect is there, else a conflict (nothing written). A change landing between our
/// read and our write gets the server's 409 the same way.
pub struct PatchDeployment {
    pub env: String,
    pub namespace: String,
    pub name: String,
    pub patch: PatchBody,
    pub resource_version: String,
    /// `user_view` of the Deployment the preview was built from.
    pub previewed: Value,
    pub effect: Effect,
}

impl StepExec for PatchDeployment {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let client = cx.ctx.kube(&self.env).await?;
            let current = super::kube::get_deployment(&client, &self.namespace, &self.name).await?;
            let rv = super::kube::resource_version(&current);
            let Some(send_rv) = precondition(&self.resource_version, &self.previewed, &current)
            else {
                if self.effect.present(&current) {
                    return Ok(StepOutput::already(format!(
                        "deployment/{} already has the change (resourceVersion {rv})",
                        self.name
                    )));
                }
                return Err(OpError::Conflict {
                    object: format!("deployment/{} in {}", self.name, self.namespace),
                    expected: self.resource_version.clone(),
                });
            };
            let patch = self.patch.with_rv(&send_rv).to_kube()?;
            let d =
                super::kube::patch_deployment(&client, &self.namespace, &self.name, &patch, false)
                    .await
                    .map_err(|e| match e {
                        OpError::Conflict { object, .. } => OpError::Conflict {
                            object,
                            expected: self.resource_version.clone(),
                        },
                        other => other,
                    })?;
            let new_rv = super::kube::resource_version(&d);
            Ok(StepOutput::done(format!(
                "patched deployment/{} (resourceVersion {send_rv} → {new_rv})",
                self.name
            ))
            .with_detail(json!({"resourceVersion": new_rv, "generation": d.metadata.generation})))
        })
    }
}

/// PATCH the scale subresource (merge) with the previewed resourceVersion.
pub struct ScaleDeployment {
    pub env: String,
    pub namespace: String,
    pub name: String,
    pub replicas: i32,
    pub resource_version: String,
    pub previewed: Value,
}

impl StepExec for ScaleDeployment {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let client = cx.ctx.kube(&self.env).await?;
            let current = super::kube::get_deployment(&client, &self.namespace, &self.name).await?;
            let Some(send_rv) = precondition(&self.resource_version, &self.previewed, &current)
            else {
                if current.spec.replicas == Some(self.replicas) {
                    return Ok(StepOutput::already(format!(
                        "deployment/{} already has {} replicas",
                        self.name, self.replicas
                    )));
                }
                return Err(OpError::Conflict {
                    object: format!("deployment/{} in {}", self.name, self.namespace),
                    expected: self.resource_version.clone(),
                });
            };
            scale(
                &client,
                &self.namespace,
                &self.name,
                self.replicas,
                &send_rv,
                false,
            )
            .await?;
            Ok(StepOutput::done(format!(
                "scaled deployment/{} to {}",
                self.name, self.replicas
            )))
        })
    }
}

/// The scale subresource patch (dry-run for the preview).
pub async fn scale(
    client: &kube::Client,
    ns: &str,
    name: &str,
    replicas: i32,
    rv: &str,
    dry_run: bool,
) -> Result<i32, OpError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut pp = PatchParams {
        field_manager: Some(super::kube::FIELD_MANAGER.into()),
        ..Default::default()
    };
    if dry_run {
        pp = pp.dry_run();
    }
    // An empty `rv` (the preview's dry-run) sends no precondition.
    let body = if rv.is_empty() {
        json!({"spec": {"replicas": replicas}})
    } else {
        json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": replicas}})
    };
    let s = api
        .patch_scale(name, &pp, &Patch::Merge(&body))
        .await
        .map_err(|e| super::kube::map_err(&format!("deployment/{name}/scale in {ns}"), e))?;
    Ok(s.spec.and_then(|s| s.replicas).unwrap_or(0))
}

/// Waits for the rollout by kubectl's rules.
pub struct WaitRollout {
    pub env: String,
    pub namespace: String,
    pub name: String,
}

impl StepExec for WaitRollout {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let client = cx.ctx.kube(&self.env).await?;
            let timeout = Duration::from_secs(cx.ctx.ops().rollout_timeout_secs.max(1));
            let msg = super::kube::wait_rollout(cx, &client, &self.namespace, &self.name, timeout)
                .await?;
            Ok(StepOutput::done(msg))
        })
    }
}
