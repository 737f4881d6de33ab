//! Pod log streaming: follow a container's log, split it into lines and send bounded batches.
use super::client::{ClientSource, describe};
use super::watch::send;
use crate::backend::kube::KubeEvent;
use crate::msg::Msg;
use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A batch is sent after this long, or sooner when it reaches `BATCH_LINES`.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(50);
pub const BATCH_LINES: usize = 100;
/// A longer line is cut into pieces of this many bytes, so one line cannot grow without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// The log request must answer within this long (the stream itself may then stay quiet).
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct LogRequest {
    pub request: u64,
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
}

/// Streams the log until it ends, fails or `cancel` fires; always ends with `LogEnded` unless cancelled.
pub async fn stream(
    source: ClientSource,
    req: LogRequest,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let request = req.request;
    let error = tokio::select! {
        _ = cancel.cancelled() => return,
        r = follow(source, req, &tx, &cancel) => r.err(),
    };
    if cancel.is_cancelled() {
        return;
    }
    send(&tx, KubeEvent::LogEnded { request, error }, &cancel).await;
}

async fn follow(
    source: ClientSource,
    req: LogRequest,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let client = source.stream_client().await?;
    let api: Api<Pod> = Api::namespaced(client, &req.namespace);
    let params = LogParams {
        container: req.container.clone(),
        follow: true,
        tail_lines: Some(200),
        ..Default::default()
    };
    let reader = tokio::time::timeout(OPEN_TIMEOUT, api.log_stream(&req.pod, &params))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| describe(&e))?;
    futures::pin_mut!(reader);
    let mut splitter = LineSplitter::default();
    let mut batch: Vec<String> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut chunk = vec![0u8; 8192];
    loop {
        let read = tokio::select! {
            r = reader.read(&mut chunk) => Some(r),
            _ = sleep_until(deadline) => None,
        };
        match read {
            None => {}
            Some(Ok(0)) => {
                batch.extend(splitter.finish());
                flush(req.request, &mut batch, tx, cancel).await?;
                return Ok(());
            }
            Some(Ok(n)) => {
                batch.extend(splitter.push(&chunk[..n]));
                if batch.len() < BATCH_LINES {
                    if !batch.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + BATCH_INTERVAL);
                    }
                    continue;
                }
            }
            Some(Err(e)) => {
                flush(req.request, &mut batch, tx, cancel).await?;
                return Err(e.to_string());
            }
        }
        deadline = None;
        flush(req.request, &mut batch, tx, cancel).await?;
    }
}

async fn flush(
    request: u64,
    batch: &mut Vec<String>,
    tx: &mpsc::Sender<Msg>,
    cancel: &CancellationToken,
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut rest = std::mem::take(batch);
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(BATCH_LINES));
        let lines = std::mem::replace(&mut rest, tail);
        if !send(tx, KubeEvent::LogLines { request, lines }, cancel).await {
            return Err("the console stopped listening".into());
        }
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Splits a byte stream into lines (`\n`, with a trailing `\r` dropped), lossy UTF-8, bounded length.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.push(self.take());
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE_BYTES {
                    out.push(self.take());
                }
            }
        }
        out
    }

    /// The last line when the stream ended without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"one\r\ntw"), ["one"]);
        assert_eq!(s.push(b"o\n\nthr\xffee"), ["two", ""]);
        assert_eq!(s.finish().as_deref(), Some("thr\u{fffd}ee"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut s = LineSplitter::default();
        let lines = s.push(&vec![b'x'; MAX_LINE_BYTES * 2 + 3]);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() == MAX_LINE_BYTES));
        assert_eq!(s.finish().map(|l| l.len()), Some(3));
    }
}
