//! Helpers of the ops tests: a demo estate with a written config and an `OpContext` whose journal
//! lives in a temp dir; run an operation and collect its events.
#![allow(dead_code)]
use shipdeck::config::Config;
use shipdeck::demo::kube_api::RecordedRequest;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::ops::{self, Confirmation, Identity, OpContext, OpEvent, Outcome, Preview, Request};
use std::sync::Arc;

pub struct Estate {
    pub demo: Demo,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Estate {
    pub async fn start(speed: f64) -> Estate {
        let demo = Demo::start(DemoOptions {
            speed,
            life_every_s: 0,
            // The engine's tests start the servers they need themselves.
            extras: false,
            ..DemoOptions::default()
        })
        .await
        .expect("start demo");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = demo.write_config(dir.path()).expect("write config");
        Estate { demo, dir, config }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A context as user `ana` on host `deck`, journal in the temp dir.
    pub fn ctx(&self) -> Arc<OpContext> {
        self.ctx_with(self.config.clone(), false)
    }

    pub fn ctx_with(&self, config: Config, read_only: bool) -> Arc<OpContext> {
        Arc::new(
            OpContext::new(config, read_only)
                .with_data_dir(self.data_dir())
                .with_identity(Identity {
                    user: "ana".into(),
                    host: "deck".into(),
                }),
        )
    }

    pub fn deploy(&self, ns: &str, name: &str) -> serde_json::Value {
        self.demo
            .store()
            .get(shipdeck::demo::store::Kind::Deployment, ns, name)
            .expect("deployment")
    }

    pub fn recorded(&mut self) -> Vec<RecordedRequest> {
        self.demo.kube_server().take_recorded()
    }
}

/// Runs a preview to the end; returns the outcome and every event.
pub async fn run(preview: Preview, confirm: Confirmation) -> (Outcome, Vec<OpEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = tokio::spawn(ops::run(
        preview,
        confirm,
        tx,
        tokio_util::sync::CancellationToken::new(),
    ));
    let mut events = vec![];
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (task.await.expect("run task"), events)
}

pub fn confirm(name: &str) -> Confirmation {
    Confirmation {
        typed_name: Some(name.into()),
        override_reason: None,
    }
}

pub async fn prepare(ctx: Arc<OpContext>, r: Request) -> Preview {
    match ops::prepare(ctx, r).await {
        Ok(p) => p,
        Err(e) => panic!("prepare failed: {e}"),
    }
}

/// (method, path, content type, body) of a recorded request.
pub fn shape(r: &RecordedRequest) -> (String, String, Option<String>, serde_json::Value) {
    (
        r.method.clone(),
        r.path.clone(),
        r.content_type.clone(),
        r.body.clone(),
    )
}
