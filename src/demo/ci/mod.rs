//! The simulated CI servers: one pipeline engine on the simulated clock, served as GitHub Actions
//! REST, Jenkins `wfapi` and GitLab CI REST v4 on 127.0.0.1 ephemeral ports, advanced by a ticker so deploys happen
//! (and the board moves) without anyone polling.
pub mod engine;
pub mod github;
pub mod gitlab;
pub mod jenkins;
mod logs;

pub use engine::{CiEngine, CiSimOptions, ClockFn, DeployHook, NoDeploy, SimError, SimRun};

use crate::backend::ci::{CiConfig, ProviderKind};
use crate::demo::registry::{RegistryServer, SimRegistry, serve_registry};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CiServeOptions {
    /// Jenkins refuses POSTs without the crumb from `/crumbIssuer/api/json`.
    pub jenkins_require_crumb: bool,
    /// Real-time period of the engine ticker.
    pub tick: Duration,
}

impl Default for CiServeOptions {
    fn default() -> Self {
        CiServeOptions {
            jenkins_require_crumb: false,
            tick: Duration::from_millis(500),
        }
    }
}

/// The running CI servers; dropping it stops them.
pub struct CiServers {
    github: String,
    jenkins: String,
    gitlab: String,
    engine: Arc<CiEngine>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl CiServers {
    pub fn github_url(&self) -> &str {
        &self.github
    }
    pub fn jenkins_url(&self) -> &str {
        &self.jenkins
    }
    pub fn gitlab_url(&self) -> &str {
        &self.gitlab
    }
    pub fn engine(&self) -> &Arc<CiEngine> {
        &self.engine
    }
    /// `[ci]` for the simulated GitHub Actions (repo `{owner}/{app}`).
    pub fn github_config(&self) -> CiConfig {
        let mut c = CiConfig::new(ProviderKind::Github, &self.github);
        c.repo = Some(format!("{}/{{app}}", self.engine.options().owner));
        c.branches = self.engine.options().branches.clone();
        c.interval_secs = 2;
        c
    }
    /// `[ci]` for the simulated Jenkins (multibranch job `{app}`).
    pub fn jenkins_config(&self) -> CiConfig {
        let mut c = CiConfig::new(ProviderKind::Jenkins, &self.jenkins);
        c.job = Some("{app}".into());
        c.branches = self.engine.options().branches.clone();
        c.interval_secs = 2;
        c
    }
}

impl CiServers {
    /// `[ci]` for the simulated GitLab (project `{owner}/{app}`).
    pub fn gitlab_config(&self) -> CiConfig {
        let mut c = CiConfig::new(ProviderKind::Gitlab, &self.gitlab);
        c.project = Some(format!("{}/{{app}}", self.engine.options().owner));
        c.branches = self.engine.options().branches.clone();
        c.interval_secs = 2;
        c
    }
}

impl CiServers {
    /// Stops the servers and the ticker and waits until their listeners are closed.
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for CiServers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve(
    make: impl FnOnce(&str) -> axum::Router,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = make(&url);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, task))
}

/// Serves `engine` as GitHub Actions and Jenkins, with default options.
pub async fn start_ci(engine: Arc<CiEngine>) -> std::io::Result<CiServers> {
    start_ci_with(engine, CiServeOptions::default()).await
}

pub async fn start_ci_with(
    engine: Arc<CiEngine>,
    opts: CiServeOptions,
) -> std::io::Result<CiServers> {
    let (github, t1) = serve(|u| github::router(engine.clone(), u)).await?;
    let (jenkins, t2) =
        serve(|u| jenkins::router(engine.clone(), u, opts.jenkins_require_crumb)).await?;
    let (gitlab, t3) = serve(|u| gitlab::router(engine.clone(), u)).await?;
    let ticker = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(opts.tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                engine.advance();
            }
        })
    };
    Ok(CiServers {
        github,
        jenkins,
        gitlab,
        engine,
        tasks: vec![t1, t2, t3, ticker],
    })
}

/// The registry and the CI servers wired together: pushes land in the registry, images name its
/// host, deploys go to `hook`.
pub async fn start_ci_and_registry(
    mut opts: CiSimOptions,
    clock: ClockFn,
    hook: Arc<dyn DeployHook>,
) -> std::io::Result<(CiServers, RegistryServer)> {
    let registry = serve_registry(SimRegistry::new(true)).await?;
    opts.image_host = registry.host().to_string();
    let engine = CiEngine::new(opts, clock, hook, Some(registry.registry().clone()));
    Ok((start_ci(engine).await?, registry))
}
