//! Sunset's Kubernetes steps: scale the Deployment to 0 through the `scale` subresource (as
//! `kubectl scale` does) and wait a bounded time for its pods to go, then delete the Deployment,
//! Service and Ingress (background propagation). A 404 means "already gone".
use super::Target;
use crate::ops::OpError;
use crate::ops::plan::{StepCtx, StepExec, StepOutput};
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long scale-down waits for the pods to terminate before deleting anyway.
pub const DRAIN_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);
/// The field manager of shipdeck's writes (the same as the other operations).
const FIELD_MANAGER: &str = "shipdeck";

fn map_err(what: &str, e: kube::Error) -> OpError {
    match &e {
        kube::Error::Api(s) if s.code == 403 => {
            OpError::Forbidden(format!("{what}: {}", s.message))
        }
        _ => OpError::backend(
            "kubernetes",
            format!("{what}: {}", crate::backend::kube::client::describe(&e)),
        ),
    }
}

fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

pub(crate) async fn exists(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<bool, OpError> {
    let what = format!("{kind}/{name} in {ns}");
    let r = match kind {
        "deployment" => Api::<Deployment>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|o| o.is_some()),
        "service" => Api::<Service>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|o| o.is_some()),
        "ingress" => Api::<Ingress>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|o| o.is_some()),
        _ => return Err(OpError::Usage(format!("unknown kind {kind}"))),
    };
    r.map_err(|e| map_err(&what, e))
}

/// Deletes one object; `Ok(false)` when it was not there.
async fn delete(client: &kube::Client, ns: &str, kind: &str, name: &str) -> Result<bool, OpError> {
    let dp = DeleteParams::background();
    let r = match kind {
        "deployment" => Api::<Deployment>::namespaced(client.clone(), ns)
            .delete(name, &dp)
            .await
            .map(|_| ()),
        "service" => Api::<Service>::namespaced(client.clone(), ns)
            .delete(name, &dp)
            .await
            .map(|_| ()),
        "ingress" => Api::<Ingress>::namespaced(client.clone(), ns)
            .delete(name, &dp)
            .await
            .map(|_| ()),
        _ => return Err(OpError::Usage(format!("unknown kind {kind}"))),
    };
    match r {
        Ok(()) => Ok(true),
        Err(e) if is_404(&e) => Ok(false),
        Err(e) => Err(map_err(&format!("deleting {kind}/{name} in {ns}"), e)),
    }
}

pub(crate) struct ScaleDown {
    pub t: Arc<Target>,
    pub env: String,
    pub ns: String,
}

impl StepExec for ScaleDown {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(self.exec(cx))
    }
}

impl ScaleDown {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let name = &self.t.deployment;
        let ns = &self.ns;
        let what = format!("deployment/{name} in {ns}");
        let client = cx.ctx.kube(&self.env).await?;
        let api: Api<Deployment> = Api::namespaced(client, ns);
        let Some(d) = api.get_opt(name).await.map_err(|e| map_err(&what, e))? else {
            return Ok(StepOutput::already(format!("{what} is gone")));
        };
        let spec_replicas = d.spec.replicas.unwrap_or(1);
        let pods = |d: &Deployment| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        if spec_replicas == 0 && pods(&d) == 0 {
            return Ok(StepOutput::already(format!("{what} is already at 0")));
        }
        if spec_replicas != 0 {
            let pp = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            match api
                .patch_scale(name, &pp, &Patch::Merge(json!({"spec": {"replicas": 0}})))
                .await
            {
                Ok(_) => {}
                Err(e) if is_404(&e) => {
                    return Ok(StepOutput::already(format!("{what} is gone")));
                }
                Err(e) => return Err(map_err(&format!("scaling {what}"), e)),
            }
        }
        // Let the pods drain so the delete is graceful; bounded, then delete regardless.
        let started = Instant::now();
        let mut left = pods(&d);
        while left > 0 && started.elapsed() < DRAIN_WAIT {
            if cx.cancel.is_cancelled() {
                break;
            }
            cx.progress(
                format!("{left} pod(s) of {what} terminating"),
                Some(left),
                Some(0),
            )
            .await;
            tokio::time::sleep(POLL).await;
            left = match api.get_opt(name).await {
                Ok(Some(d)) => pods(&d),
                Ok(None) => 0,
                Err(e) => return Err(map_err(&what, e)),
            };
        }
        let msg = if left > 0 {
            format!("scaled {what} from {spec_replicas} to 0; {left} pod(s) still terminating")
        } else {
            format!("scaled {what} from {spec_replicas} to 0; no pods left")
        };
        Ok(StepOutput::done(msg).with_detail(json!({"from": spec_replicas, "pods_left": left})))
    }
}

pub(crate) struct DeleteWorkloads {
    pub t: Arc<Target>,
    pub env: String,
    pub ns: String,
}

impl StepExec for DeleteWorkloads {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(self.exec(cx))
    }
}

impl DeleteWorkloads {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let name = &self.t.deployment;
        let client = cx.ctx.kube(&self.env).await?;
        let mut deleted = vec![];
        let mut absent = vec![];
        for kind in super::KUBE_KINDS {
            if delete(&client, &self.ns, kind, name).await? {
                deleted.push(format!("{kind}/{name}"));
            } else {
                absent.push(format!("{kind}/{name}"));
            }
        }
        let detail = json!({"namespace": self.ns, "deleted": deleted, "absent": absent});
        if deleted.is_empty() {
            return Ok(
                StepOutput::already(format!("nothing of {name} left in {}", self.ns))
                    .with_detail(detail),
            );
        }
        let mut msg = format!("deleted {} in {}", deleted.join(", "), self.ns);
        if !absent.is_empty() {
            msg.push_str(&format!(" ({} not there)", absent.join(", ")));
        }
        Ok(StepOutput::done(msg).with_detail(detail))
    }
}
