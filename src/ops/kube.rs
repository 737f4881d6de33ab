//! Kubernetes calls shared by the operations: reads, patches (with `dryRun=All` for the preview
//! and the previewed resourceVersion as precondition), access reviews, rollout waits and diffs.
use super::OpError;
use super::plan::StepCtx;
use crate::model::kube::RolloutState;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every write carries this field manager.
pub const FIELD_MANAGER: &str = "shipdeck";

/// Maps a kube error to an `OpError` naming what was being done.
pub fn map_err(what: &str, e: kube::Error) -> OpError {
    match &e {
        kube::Error::Api(s) if s.code == 409 => OpError::Conflict {
            object: what.to_string(),
            expected: s.message.clone(),
        },
        kube::Error::Api(s) if s.code == 403 => {
            OpError::Forbidden(format!("{what}: {}", s.message))
        }
        kube::Error::Api(s) if s.code == 404 => OpError::NotFound(format!("{what}: {}", s.message)),
        _ => OpError::backend(
            "kubernetes",
            format!("{what}: {}", crate::backend::kube::client::describe(&e)),
        ),
    }
}

pub async fn get_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Deployment, OpError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.get(name)
        .await
        .map_err(|e| map_err(&format!("deployment/{name} in {ns}"), e))
}

/// The Deployment's ReplicaSets (by its selector, controlled by it).
pub async fn owned_replica_sets(
    client: &kube::Client,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, OpError> {
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let view = crate::backend::kube::project::deployment(d);
    let selector = crate::backend::kube::project::selector_string(&view.selector);
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| map_err(&format!("replicasets in {ns}"), e))?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    Ok(list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|r| r.controller == Some(true) && r.uid == uid))
        })
        .collect())
}

pub async fn pods(client: &kube::Client, ns: &str, selector: &str) -> Result<Vec<Pod>, OpError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| map_err(&format!("pods in {ns}"), e))?
        .items)
}

/// PATCH the Deployment (strategic merge, JSON Patch or merge) with fieldManager `shipdeck`;
/// `dry_run` adds `dryRun=All`.
pub async fn patch_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    patch: &Patch<Value>,
    dry_run: bool,
) -> Result<Deployment, OpError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    if dry_run {
        pp = pp.dry_run();
    }
    api.patch(name, &pp, patch)
        .await
        .map_err(|e| map_err(&format!("deployment/{name} in {ns}"), e))
}

/// Asks the API server whether we may `verb` the resource (SelfSubjectAccessReview).
pub async fn access_review(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: Option<&str>,
    ns: &str,
    name: Option<&str>,
) -> Result<(bool, String), OpError> {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let mut attrs = serde_json::json!({
        "namespace": ns, "verb": verb, "group": group, "resource": resource,
    });
    if let Some(s) = subresource {
        attrs["subresource"] = s.into();
    }
    if let Some(n) = name {
        attrs["name"] = n.into();
    }
    let body: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attrs},
    }))
    .map_err(|e| OpError::backend("kubernetes", e))?;
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&Default::default(), &body)
        .await
        .map_err(|e| map_err("selfsubjectaccessreview", e))?;
    let status = answer.status.unwrap_or_default();
    let reason = status.reason.unwrap_or_default();
    Ok((status.allowed && status.denied != Some(true), reason))
}

/// A pod template as YAML, for the preview's diff.
pub fn template_yaml(template: &Value) -> String {
    // Plain scalars (no folded `>` blocks): a long image reference stays on its own diff line.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(template, options)
        .unwrap_or_else(|_| serde_json::to_string_pretty(template).unwrap_or_default())
}

/// Unified diff of two pod templates (YAML); empty when equal.
pub fn template_diff(before: &Value, after: &Value, label: &str) -> String {
    let a = template_yaml(before);
    let b = template_yaml(after);
    if a == b {
        return String::new();
    }
    similar::udiff::unified_diff(
        similar::Algorithm::Myers,
        &a,
        &b,
        3,
        Some((&format!("{label} (now)"), &format!("{label} (after)"))),
    )
}

pub fn template_of(d: &Deployment) -> Value {
    serde_json::to_value(&d.spec.template).unwrap_or(Value::Null)
}

pub fn resource_version(d: &Deployment) -> String {
    d.metadata.resource_version.clone().unwrap_or_default()
}

/// Waits until the Deployment's rollout completes by kubectl's rules (watching it), with progress
/// events. Fails on ProgressDeadlineExceeded, on the timeout, or when the API server stays
/// unreachable for `[ops] api_unreachable_secs`; cancellation stops waiting (the rollout continues).
pub async fn wait_rollout(
    cx: &StepCtx,
    client: &kube::Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<String, OpError> {
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::{self, Event};
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, cfg).default_backoff().boxed();
    let deadline = Instant::now() + timeout;
    let mut down_since: Option<Instant> = None;
    let mut last_message = String::new();
    let grace = Duration::from_secs(cx.ctx.ops().api_unreachable_secs);
    loop {
        let next = tokio::select! {
            _ = cx.cancel.cancelled() => {
                return Err(OpError::Cancelled(format!(
                    "stopped waiting for deployment/{name}; the rollout continues on the cluster"
                )));
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                return Err(OpError::RolloutFailed(format!(
                    "deployment/{name} did not finish rolling out within {}s (last: {last_message})",
                    timeout.as_secs()
                )));
            }
            n = stream.next() => n,
        };
        let Some(item) = next else {
            return Err(OpError::backend("kubernetes", "the watch ended"));
        };
        let d = match item {
            Ok(Event::Apply(d)) | Ok(Event::InitApply(d))
                if d.metadata.name.as_deref() == Some(name) =>
            {
                d
            }
            // Only this Deployment's deletion matters (a server may send others' too).
            Ok(Event::Delete(d)) if d.metadata.name.as_deref() == Some(name) => {
                return Err(OpError::NotFound(format!(
                    "deployment/{name} in {ns} was deleted during the rollout"
                )));
            }
            Ok(_) => continue,
            Err(e) => {
                let since = *down_since.get_or_insert_with(Instant::now);
                let why = crate::backend::kube::client::describe_watcher(&e);
                if since.elapsed() >= grace {
                    return Err(OpError::backend(
                        "kubernetes",
                        format!(
                            "API server unreachable for {}s while waiting for deployment/{name}: {why}; the rollout may still be in progress — check `kubectl rollout status`",
                            since.elapsed().as_secs()
                        ),
                    ));
                }
                cx.progress(
                    format!("API server unreachable ({why}); retrying"),
                    None,
                    None,
                )
                .await;
                continue;
            }
        };
        down_since = None;
        let view = crate::backend::kube::project::deployment(&d);
        match view.rollout_state() {
            RolloutState::Complete => {
                let msg = format!("deployment {name:?} successfully rolled out");
                cx.progress(msg.clone(), Some(view.available), Some(view.desired))
                    .await;
                return Ok(msg);
            }
            RolloutState::Failed { message, .. } => return Err(OpError::RolloutFailed(message)),
            RolloutState::Paused => {
                return Err(OpError::RolloutFailed(format!(
                    "deployment/{name} is paused; resume it to continue the rollout"
                )));
            }
            RolloutState::WaitingForSpec => {
                last_message = "waiting for deployment spec update to be observed".into();
                cx.progress(last_message.clone(), None, Some(view.desired))
                    .await;
            }
            RolloutState::Progressing {
                updated,
                available,
                desired,
                message,
            } => {
                if message != last_message {
                    // New replicas that are available: the progress bar's numerator.
                    let ready = updated.min(available);
                    cx.progress(message.clone(), Some(ready), Some(desired))
                        .await;
                    last_message = message;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_images_stay_on_one_line() {
        let t = serde_json::json!({"spec": {"containers": [{"name": "web", "image": format!("registry.local/shop/web:1.4.2@sha256:{}", "a".repeat(64))}]}});
        let y = super::template_yaml(&t);
        assert!(
            y.contains("image: registry.local/shop/web:1.4.2@sha256:aaaa"),
            "{y}"
        );
        let d = super::template_diff(
            &serde_json::json!({"a": 1}),
            &serde_json::json!({"a": 2}),
            "t",
        );
        assert!(d.contains("-a: 1") && d.contains("+a: 2"), "{d}");
    }
}
