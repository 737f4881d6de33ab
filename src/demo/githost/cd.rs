//! The simulated CD controller (Argo CD–like): after each change to a manifests repository's
//! default branch, and a short delay, it sets each target Deployment's container images to the
//! manifest's, through the world's `set_image` (the path `kubectl set image` takes), so the
//! deployment controller rolls them out as usual.
use super::Shared;
use crate::demo::store::Kind;
use crate::demo::world::World;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One manifest file applied to one Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdTarget {
    pub repo: String,
    pub path: String,
    pub namespace: String,
    pub deployment: String,
}

pub fn spawn(
    shared: Arc<Shared>,
    world: World,
    targets: Vec<CdTarget>,
    delay: Duration,
) -> tokio::task::JoinHandle<()> {
    let mut rx = shared.changes.subscribe();
    tokio::spawn(async move {
        loop {
            if rx.changed().await.is_err() {
                return;
            }
            tokio::time::sleep(delay).await;
            // Changes during the delay are covered by this sync.
            rx.borrow_and_update();
            sync(&shared, &world, &targets);
        }
    })
}

/// Applies the default branch of every target's repository now.
pub fn sync(shared: &Shared, world: &World, targets: &[CdTarget]) {
    for t in targets {
        let Some(branch) = shared.default_branch(&t.repo) else {
            continue;
        };
        let Some(text) = shared.file(&t.repo, &branch, &t.path) else {
            continue;
        };
        let Ok(images) = crate::ops::gitops::yaml::images(&text) else {
            tracing::warn!(repo = %t.repo, path = %t.path, "cd: manifest without containers");
            continue;
        };
        let Some(d) = world
            .store()
            .get(Kind::Deployment, &t.namespace, &t.deployment)
        else {
            continue;
        };
        let head = shared.head(&t.repo, &branch).unwrap_or_default();
        let cause = format!(
            "argocd sync {}@{} ({})",
            t.repo,
            head.get(..7).unwrap_or(&head),
            t.path
        );
        for (container, image) in images {
            let current = d
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
                })
                .and_then(|c| c.get("image"))
                .and_then(Value::as_str);
            if current.is_some_and(|c| c != image)
                && let Err(e) = world.set_image_with_cause(
                    &t.namespace,
                    &t.deployment,
                    &container,
                    &image,
                    Some(&cause),
                )
            {
                tracing::warn!(deployment = %t.deployment, "cd: set image failed: {}", e.message);
            }
        }
    }
}
