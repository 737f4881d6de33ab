//! The loop's side of operations: `PrepareOp`, `RunOp`, `ListTags` and `CancelOp` run off the
//! UI task; answers come back on the UI channel as messages.
use crate::msg::{Command, OpPreview};

/// The loop's side: runs `PrepareOp`, `RunOp` and `CancelOp` off the UI task with one
/// `OpContext` built at start (the constructor the CLI uses), answering on the UI channel.
pub struct OpsRunner {
    ctx: std::sync::Arc<crate::ops::OpContext>,
    tx: tokio::sync::mpsc::Sender<crate::msg::Msg>,
    parent: tokio_util::sync::CancellationToken,
    runs: std::collections::HashMap<
        u64,
        (
            tokio_util::sync::CancellationToken,
            tokio::task::JoinHandle<()>,
        ),
    >,
}

impl OpsRunner {
    pub fn new(
        config: &crate::config::Config,
        read_only: bool,
        tx: tokio::sync::mpsc::Sender<crate::msg::Msg>,
        parent: tokio_util::sync::CancellationToken,
    ) -> OpsRunner {
        let ctx = crate::ops::OpContext::new(config.clone(), read_only);
        OpsRunner {
            ctx: std::sync::Arc::new(ctx),
            tx,
            parent,
            runs: Default::default(),
        }
    }

    /// Runs an operation command; gives any other command back.
    pub fn run(&mut self, cmd: Command) -> Result<(), Command> {
        use crate::msg::Msg;
        match cmd {
            Command::PrepareOp(request) => {
                let (ctx, tx) = (self.ctx.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let result = crate::ops::prepare(ctx, request.clone())
                        .await
                        .map(|p| OpPreview(std::sync::Arc::new(p)))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::OpPrepared { request, result }).await;
                });
            }
            Command::RunOp {
                run,
                preview,
                confirmation,
            } => {
                self.runs.retain(|_, (_, task)| !task.is_finished());
                let token = self.parent.child_token();
                let tx = self.tx.clone();
                let cancel = token.clone();
                let task = tokio::spawn(async move {
                    let Ok(preview) = std::sync::Arc::try_unwrap(preview.0) else {
                        tracing::error!(run, "preview still shared: not run");
                        return;
                    };
                    let (etx, mut erx) = tokio::sync::mpsc::channel(256);
                    let forward = tokio::spawn(async move {
                        while let Some(event) = erx.recv().await {
                            if tx.send(Msg::Op { run, event }).await.is_err() {
                                break;
                            }
                        }
                    });
                    let outcome = crate::ops::run(preview, confirmation, etx, cancel).await;
                    tracing::info!(run, status = outcome.status_word(), "operation ended");
                    let _ = forward.await;
                });
                self.runs.insert(run, (token, task));
            }
            Command::ListTags { repository } => {
                let (ctx, tx) = (self.ctx.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let result = match ctx.registry() {
                        Ok(Some(client)) => {
                            client.tags(&repository).await.map_err(|e| e.to_string())
                        }
                        Ok(None) => Err("no [registry] configured".into()),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Msg::OpTags { repository, result }).await;
                });
            }
            Command::CancelOp { run } => {
                if let Some((token, _)) = self.runs.get(&run) {
                    token.cancel();
                }
            }
            other => return Err(other),
        }
        Ok(())
    }
}
