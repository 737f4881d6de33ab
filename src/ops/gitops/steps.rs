//! The steps of a GitOps promote: create the pull-request branch, commit the manifest (re-read
//! and retried once when someone else changed it in between), open the pull request, and wait for
//! the CD controller to apply the image to the Deployment.
use super::github::{GitHubError, Repo};
use super::{gitops_err, yaml};
use crate::ops::OpError;
use crate::ops::plan::{StepCtx, StepExec, StepOutput};
use crate::ops::steps::Effect;
use futures::future::BoxFuture;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Writes the images into the manifest on `branch` with the blob sha just read.
#[derive(Debug, Clone)]
pub struct CommitManifest {
    pub repo: Repo,
    pub path: String,
    pub branch: String,
    pub images: Vec<(String, String)>,
    pub message: String,
}

impl StepExec for CommitManifest {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let where_ = format!("{}:{}@{}", self.repo.full_name, self.path, self.branch);
            let mut attempt = 0;
            loop {
                attempt += 1;
                let file = self
                    .repo
                    .get_file(&self.path, &self.branch)
                    .await
                    .map_err(|e| gitops_err(&format!("reading {where_}"), e))?;
                let text = yaml::set_images(&file.text, &self.images)
                    .map_err(|e| gitops_err(&format!("editing {where_}"), e))?;
                if text == file.text {
                    let head = self
                        .repo
                        .branch_head(&self.branch)
                        .await
                        .map_err(|e| gitops_err(&where_, e))?;
                    return Ok(StepOutput::already(format!(
                        "{where_} already has the image (head {})",
                        short(&head)
                    ))
                    .with_detail(json!({"repo": self.repo.full_name, "path": self.path,
                                        "branch": self.branch, "commit": head})));
                }
                match self
                    .repo
                    .put_file(&self.path, &self.branch, &text, &file.sha, &self.message)
                    .await
                {
                    Ok(commit) => {
                        return Ok(StepOutput::done(format!(
                            "committed {} to {} on {} ({})",
                            short(&commit.sha),
                            self.repo.full_name,
                            self.branch,
                            self.path
                        ))
                        .with_detail(json!({
                            "repo": self.repo.full_name, "path": self.path, "branch": self.branch,
                            "commit": commit.sha, "commit_url": commit.html_url,
                            "blob_before": file.sha, "attempts": attempt,
                        })));
                    }
                    Err(GitHubError::ShaMismatch { .. }) if attempt == 1 => {
                        cx.progress(
                            format!(
                                "{where_} changed while committing: re-reading it and retrying once"
                            ),
                            None,
                            None,
                        )
                        .await;
                    }
                    Err(GitHubError::ShaMismatch { .. }) => {
                        return Err(gitops_err(
                            &format!("committing to {where_}"),
                            "the file changed again while committing (someone else is writing it); nothing was written — prepare again",
                        ));
                    }
                    Err(e) => return Err(gitops_err(&format!("committing to {where_}"), e)),
                }
            }
        })
    }
}

/// A branch for the pull request, from the base branch's head.
pub struct CreateBranch {
    pub repo: Repo,
    pub branch: String,
    pub from: String,
}

impl StepExec for CreateBranch {
    fn run<'a>(&'a self, _cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let what = format!("branch {} in {}", self.branch, self.repo.full_name);
            let head = self
                .repo
                .branch_head(&self.from)
                .await
                .map_err(|e| gitops_err(&what, e))?;
            match self.repo.create_branch(&self.branch, &head).await {
                Ok(()) => Ok(StepOutput::done(format!(
                    "created {what} at {} ({})",
                    short(&head),
                    self.from
                ))
                .with_detail(json!({"branch": self.branch, "from": self.from, "sha": head}))),
                Err(GitHubError::AlreadyExists(_)) => {
                    Ok(StepOutput::already(format!("{what} already exists")))
                }
                Err(e) => Err(gitops_err(&format!("creating {what}"), e)),
            }
        })
    }
}

/// Opens the pull request (or finds the one an earlier run opened).
pub struct OpenPull {
    pub repo: Repo,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
}

impl StepExec for OpenPull {
    fn run<'a>(&'a self, _cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let what = format!("pull request {} → {}", self.head, self.base);
            if let Some(pr) = self
                .repo
                .find_pull(&self.head)
                .await
                .map_err(|e| gitops_err(&what, e))?
            {
                return Ok(StepOutput::already(format!(
                    "pull request #{} {} already open; waiting for review/merge",
                    pr.number, pr.html_url
                ))
                .with_detail(json!({"pull_request": pr.number, "pull_request_url": pr.html_url})));
            }
            let pr = self
                .repo
                .open_pull(&self.title, &self.head, &self.base, &self.body)
                .await
                .map_err(|e| gitops_err(&format!("opening {what}"), e))?;
            Ok(StepOutput::done(format!(
                "opened pull request #{} {}; waiting for review/merge",
                pr.number, pr.html_url
            ))
            .with_detail(
                json!({"pull_request": pr.number, "pull_request_url": pr.html_url,
                                "repo": self.repo.full_name, "head": self.head, "base": self.base}),
            ))
        })
    }
}

/// Polls the Deployment until its containers run the committed images (the CD controller applied
/// the commit); the rollout wait follows as its own step.
pub struct WaitSync {
    pub env: String,
    pub namespace: String,
    pub name: String,
    pub images: Vec<(String, String)>,
    pub timeout: Duration,
}

impl StepExec for WaitSync {
    fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
        Box::pin(async move {
            let client = cx.ctx.kube(&self.env).await?;
            let started = Instant::now();
            let deadline = started + self.timeout;
            let effect = Effect::Images(self.images.clone());
            let mut said = false;
            loop {
                let d =
                    crate::ops::kube::get_deployment(&client, &self.namespace, &self.name).await?;
                if effect.present(&d) {
                    return Ok(StepOutput::done(format!(
                        "the CD controller applied the image to deployment/{} after {:.1}s",
                        self.name,
                        started.elapsed().as_secs_f64()
                    )));
                }
                if !said {
                    said = true;
                    cx.progress(
                        format!(
                            "waiting for the CD controller to sync deployment/{}",
                            self.name
                        ),
                        None,
                        None,
                    )
                    .await;
                }
                tokio::select! {
                    _ = cx.cancel.cancelled() => {
                        return Err(OpError::Cancelled(format!(
                            "stopped waiting for the CD controller; the commit stays in the repository and deployment/{} will still be synced", self.name
                        )));
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        return Err(gitops_err(
                            &format!("deployment/{} in {}", self.name, self.env),
                            format!("the CD controller did not apply the commit within {}s; the commit is in the repository — check the CD controller", self.timeout.as_secs()),
                        ));
                    }
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
            }
        })
    }
}
