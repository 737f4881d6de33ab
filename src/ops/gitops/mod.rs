//! GitOps promote: for an environment with `[environments.gitops]`, promote commits the image
//! change to the manifests repository (directly, or on a branch with a pull request) instead of
//! patching the Deployment, then (commit mode) waits for the CD controller to apply it and for the
//! rollout, and verifies as usual. Preview: repository, file, branch and the file's unified diff.
pub mod github;
pub mod steps;
pub mod yaml;

use super::checks;
use super::plan::Step;
use super::preview::{Check, ImageChange};
use super::steps::Effect;
use super::verify::VerifySpec;
use super::{OpContext, OpError, Preview, Request};
use k8s_openapi::api::apps::v1::Deployment;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The only manifests host for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    #[default]
    Github,
}

/// How the change reaches the branch the CD controller follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GitOpsMode {
    /// Commit straight to `branch`, then wait for the cluster to converge.
    #[default]
    Commit,
    /// Commit on a new branch and open a pull request against `branch`; the operation ends
    /// "waiting for review/merge".
    PullRequest,
}

/// `[environments.gitops]`: where this environment's manifests live.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitOpsConfig {
    #[serde(default)]
    pub provider: GitProvider,
    /// API base (`https://api.github.com`; GitHub Enterprise: `https://HOST/api/v3`).
    pub url: String,
    /// `owner/repo`; `{app}` and `{env}` are replaced.
    pub repo: String,
    /// The manifest holding the app's Deployment; `{app}` and `{env}` are replaced.
    #[serde(default = "default_path")]
    pub path: String,
    /// The branch the CD controller deploys from.
    #[serde(default = "default_branch")]
    pub branch: String,
    #[serde(default)]
    pub mode: GitOpsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Timeout of each GitHub call.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long the CD controller may take to apply a commit to the Deployment (commit mode)
    /// before the operation fails; the rollout wait after it uses `[ops] rollout_timeout_secs`.
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout_secs: u64,
}

fn default_path() -> String {
    "{env}/{app}/deployment.yaml".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_timeout() -> u64 {
    10
}
fn default_sync_timeout() -> u64 {
    300
}

impl GitOpsConfig {
    /// A commit-mode config with defaults (the demo, tests).
    pub fn new(url: &str, repo: &str) -> GitOpsConfig {
        GitOpsConfig {
            provider: GitProvider::Github,
            url: url.into(),
            repo: repo.into(),
            path: default_path(),
            branch: default_branch(),
            mode: GitOpsMode::Commit,
            token_env: None,
            token_file: None,
            timeout_secs: default_timeout(),
            sync_timeout_secs: default_sync_timeout(),
        }
    }

    pub fn repo_for(&self, app: &str, env: &str) -> String {
        expand(&self.repo, app, env)
    }

    pub fn path_for(&self, app: &str, env: &str) -> String {
        expand(&self.path, app, env)
    }

    /// Problems `Config::validate` reports as `(key suffix, expectation)`.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let repo = expand(&self.repo, "app", "env");
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.trim().is_empty()) {
            return Some(("repo", "\"owner/name\" (`{app}` and `{env}` allowed)"));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Some((
                "url",
                "an http(s) API base such as \"https://api.github.com\"",
            ));
        }
        let path = self.path.trim();
        if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
            return Some((
                "path",
                "a file path in the repository, such as \"{env}/{app}/deployment.yaml\"",
            ));
        }
        if self.branch.trim().is_empty() || self.branch.contains(' ') {
            return Some(("branch", "a branch name such as \"main\""));
        }
        if self.timeout_secs == 0 {
            return Some(("timeout_secs", "a number of seconds above 0"));
        }
        None
    }

    /// The client for the app's repository.
    pub fn client(&self, app: &str, env: &str) -> Result<github::Repo, OpError> {
        let token =
            crate::backend::http::read_token(self.token_env.as_deref(), self.token_file.as_deref())
                .map_err(|e| OpError::Usage(format!("[environments.gitops] of {env}: {e}")))?;
        Ok(github::Repo::new(
            &self.url,
            &self.repo_for(app, env),
            token,
            Duration::from_secs(self.timeout_secs.max(1)),
        ))
    }
}

fn expand(pattern: &str, app: &str, env: &str) -> String {
    pattern.replace("{app}", app).replace("{env}", env)
}

/// What the preview shows for a GitOps promote (also in `--output json` as `gitops`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitOpsPreview {
    pub repo: String,
    pub path: String,
    /// The branch the CD controller follows.
    pub branch: String,
    pub mode: GitOpsMode,
    /// Where the commit goes: `branch`, or the new pull-request branch.
    pub commit_branch: String,
    /// The blob the diff was computed from.
    pub blob_sha: String,
    /// Unified diff of the manifest; empty when it already has the images.
    pub unified: String,
}

/// Promote's decisions, handed over when the target environment is GitOps.
pub struct GitOpsChange {
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub deployment: Deployment,
    pub images: Vec<(String, String)>,
    pub changes: Vec<ImageChange>,
    pub extra_checks: Vec<Check>,
    /// change-cause-like line, used as the commit message's body.
    pub cause: String,
}

pub fn gitops_err(what: &str, e: impl std::fmt::Display) -> OpError {
    OpError::backend("gitops", format!("{what}: {e}"))
}

/// The preview and plan of a GitOps promote.
pub async fn build(
    ctx: Arc<OpContext>,
    request: Request,
    cfg: &GitOpsConfig,
    c: GitOpsChange,
) -> Result<Preview, OpError> {
    let name = c.deployment.metadata.name.clone().unwrap_or_default();
    let repo = cfg.client(&c.app, &c.env)?;
    let path = cfg.path_for(&c.app, &c.env);
    let where_ = format!("{}:{path}@{}", repo.full_name, cfg.branch);
    let file = repo
        .get_file(&path, &cfg.branch)
        .await
        .map_err(|e| gitops_err(&format!("reading {where_}"), e))?;
    let new_text = yaml::set_images(&file.text, &c.images)
        .map_err(|e| gitops_err(&format!("editing {where_}"), e))?;

    let mut checks_out = vec![checks::read_only(&ctx, &c.env)];
    checks_out.push(push_check(&repo).await);
    checks_out.push(checks::lock(&ctx, &c.app, &c.env));
    checks_out.extend(checks::protected(&ctx, &c.env, &c.app));
    checks_out.extend(c.extra_checks.iter().cloned());

    let plan = super::deploy::new_plan(&ctx, &request, &c.app, &c.env, &c.namespace, &name);
    let commit_branch = match cfg.mode {
        GitOpsMode::Commit => cfg.branch.clone(),
        GitOpsMode::PullRequest => format!("shipdeck/{}", plan.op_id),
    };
    let mut preview = Preview::new(ctx.clone(), plan);
    preview.confirm_name = checks::confirm_name(&ctx, &c.env, &c.app);
    preview.images = c.changes.clone();
    let unified = if new_text == file.text {
        String::new()
    } else {
        similar::udiff::unified_diff(
            similar::Algorithm::Myers,
            &file.text,
            &new_text,
            3,
            Some((&format!("a/{path}"), &format!("b/{path}"))),
        )
    };
    preview.gitops = Some(GitOpsPreview {
        repo: repo.full_name.clone(),
        path: path.clone(),
        branch: cfg.branch.clone(),
        mode: cfg.mode,
        commit_branch: commit_branch.clone(),
        blob_sha: file.sha.clone(),
        unified: unified.clone(),
    });
    preview.checks = checks_out;
    let in_cluster = Effect::Images(c.images.clone()).present(&c.deployment);
    if unified.is_empty() && in_cluster {
        preview.noop = true;
        preview.notes.push(format!(
            "{where_} and deployment/{name} in {} already have this image: nothing to do",
            c.env
        ));
        return Ok(preview);
    }
    let commit = steps::CommitManifest {
        repo: repo.clone(),
        path: path.clone(),
        branch: commit_branch.clone(),
        images: c.images.clone(),
        message: commit_message(&c, &name),
    };
    let images_text = c
        .images
        .iter()
        .map(|(n, i)| format!("{n}={i}"))
        .collect::<Vec<_>>()
        .join(", ");
    if unified.is_empty() {
        preview.notes.push(format!(
            "{where_} already has this image; waiting for the CD controller to apply it"
        ));
    } else if cfg.mode == GitOpsMode::PullRequest {
        preview.plan.steps.push(Step::new(
            "create-branch",
            format!(
                "Create branch {commit_branch} from {} in {}",
                cfg.branch, repo.full_name
            ),
            json!({"repo": repo.full_name, "branch": commit_branch, "from": cfg.branch}),
            steps::CreateBranch {
                repo: repo.clone(),
                branch: commit_branch.clone(),
                from: cfg.branch.clone(),
            },
        ));
        preview.plan.steps.push(commit_step(&commit, &images_text));
        preview.plan.steps.push(Step::new(
            "open-pull-request",
            format!(
                "Open a pull request {commit_branch} → {} in {} (then waiting for review/merge)",
                cfg.branch, repo.full_name
            ),
            json!({"repo": repo.full_name, "head": commit_branch, "base": cfg.branch}),
            steps::OpenPull {
                repo: repo.clone(),
                head: commit_branch.clone(),
                base: cfg.branch.clone(),
                title: format!("promote {} to {}: {images_text}", c.app, c.env),
                body: pull_body(&c, &path, &unified),
            },
        ));
        preview.plan.finish_note = Some(format!(
            "shipdeck does not wait for the merge: the CD controller rolls it out once it is on {}",
            cfg.branch
        ));
        return Ok(preview);
    } else {
        preview.plan.steps.push(commit_step(&commit, &images_text));
    }
    preview.plan.steps.push(Step::new(
        "wait-sync",
        format!(
            "Wait for the CD controller to apply the image to deployment/{name} in {}",
            c.env
        ),
        json!({"namespace": c.namespace, "deployment": name, "timeout_secs": cfg.sync_timeout_secs}),
        steps::WaitSync {
            env: c.env.clone(),
            namespace: c.namespace.clone(),
            name: name.clone(),
            images: c.images.clone(),
            timeout: Duration::from_secs(cfg.sync_timeout_secs.max(1)),
        },
    ));
    preview
        .plan
        .steps
        .push(super::deploy::wait_step(&c.env, &c.namespace, &name));
    if !ctx.ops().skip_verify && ctx.config.prometheus.is_some() {
        preview.plan.verify = Some(VerifySpec {
            app: c.app.clone(),
            env: c.env.clone(),
            namespace: c.namespace.clone(),
            started_at: None,
        });
    }
    Ok(preview)
}

/// The GitOps counterpart of the access review: may this token push to the repository?
async fn push_check(repo: &github::Repo) -> Check {
    let title = format!("may push to {}", repo.full_name);
    match repo.can_push().await {
        Ok(Some(true)) => Check::pass("access", title, "push permission"),
        Ok(Some(false)) => Check::fail(
            "access",
            title,
            "the token has no push permission on the repository",
        ),
        Ok(None) => Check::new(
            "access",
            title,
            super::CheckStatus::Warn,
            "GitHub did not say (no token configured?)",
        ),
        Err(e @ github::GitHubError::Unauthorized { .. }) => {
            Check::fail("access", title, e.to_string())
        }
        Err(e) => Check::new("access", title, super::CheckStatus::Warn, e.to_string()),
    }
}

fn commit_step(commit: &steps::CommitManifest, images_text: &str) -> Step {
    Step::new(
        "commit-manifest",
        format!(
            "Commit {} to {} on {}: {images_text}",
            commit.path, commit.repo.full_name, commit.branch
        ),
        json!({"repo": commit.repo.full_name, "path": commit.path, "branch": commit.branch, "images": commit.images}),
        commit.clone(),
    )
}

fn commit_message(c: &GitOpsChange, deployment: &str) -> String {
    let mut m = format!("promote {} to {}\n\n", c.app, c.env);
    for i in &c.changes {
        m.push_str(&format!(
            "deployment/{deployment} [{}]: {} -> {}\n",
            i.container, i.from, i.to
        ));
    }
    m.push('\n');
    m.push_str(&c.cause);
    m.push('\n');
    m
}

fn pull_body(c: &GitOpsChange, path: &str, unified: &str) -> String {
    let mut b = format!("Promote **{}** to **{}** (`{path}`).\n\n", c.app, c.env);
    b.push_str("| container | from | to |\n| --- | --- | --- |\n");
    for i in &c.changes {
        b.push_str(&format!(
            "| {} | `{}` | `{}` |\n",
            i.container, i.from, i.to
        ));
    }
    b.push_str(&format!("\n{}\n\n```diff\n{unified}```\n", c.cause));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_problems() {
        let mut c = GitOpsConfig::new("https://api.github.com", "shop/{app}-manifests");
        assert_eq!(c.repo_for("web", "production"), "shop/web-manifests");
        assert_eq!(
            c.path_for("web", "production"),
            "production/web/deployment.yaml"
        );
        assert_eq!(c.problem(), None);
        c.repo = "just-a-name".into();
        assert_eq!(c.problem().map(|p| p.0), Some("repo"));
        c.repo = "shop/m".into();
        c.url = "api.github.com".into();
        assert_eq!(c.problem().map(|p| p.0), Some("url"));
        c.url = "http://127.0.0.1:1".into();
        c.path = "/abs.yaml".into();
        assert_eq!(c.problem().map(|p| p.0), Some("path"));
    }
}
