//! One operation per app × environment: a lock file per pair in `<data dir>/locks/`, created
//! exclusively (O_EXCL) and removed when the run ends. A lock whose process is gone is stale and
//! taken over. (Local to the machine; a Kubernetes Lease would extend it to a team.)
use super::plan::Plan;
use super::{OpContext, OpError};
use std::path::PathBuf;

#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn lock_path(ctx: &OpContext, app: &str, env: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    ctx.data_dir
        .join("locks")
        .join(format!("{}__{}.lock", clean(app), clean(env)))
}

/// Who holds the lock, when someone alive does: "promote web (op …) by ana@host, pid 123".
pub fn holder(ctx: &OpContext, app: &str, env: &str) -> Option<String> {
    let path = lock_path(ctx, app, env);
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = v.get("pid").and_then(|p| p.as_u64())?;
    if !process_alive(pid) {
        return None;
    }
    Some(format!(
        "{} (op {}) by {}@{}, pid {pid}",
        v.get("summary").and_then(|s| s.as_str()).unwrap_or("?"),
        v.get("op_id").and_then(|s| s.as_str()).unwrap_or("?"),
        v.get("user").and_then(|s| s.as_str()).unwrap_or("?"),
        v.get("host").and_then(|s| s.as_str()).unwrap_or("?"),
    ))
}

fn process_alive(pid: u64) -> bool {
    if pid == u64::from(std::process::id()) {
        return true;
    }
    PathBuf::from(format!("/proc/{pid}")).exists()
}

pub fn acquire(ctx: &OpContext, plan: &Plan, app: &str, env: &str) -> Result<LockGuard, OpError> {
    let path = lock_path(ctx, app, env);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| OpError::Journal(format!("{}: {e}", dir.display())))?;
    }
    let body = serde_json::json!({
        "op_id": plan.op_id,
        "summary": plan.request.summary(),
        "user": ctx.identity.user,
        "host": ctx.identity.host,
        "pid": std::process::id(),
    })
    .to_string();
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(body.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| OpError::Journal(format!("{}: {e}", path.display())))?;
                return Ok(LockGuard { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(h) = holder(ctx, app, env) {
                    return Err(OpError::Locked(format!(
                        "another operation is running on {app} in {env}: {h}"
                    )));
                }
                // Stale: its process is gone.
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => return Err(OpError::Journal(format!("{}: {e}", path.display()))),
        }
    }
    Err(OpError::Locked(format!(
        "could not take the lock for {app} in {env}"
    )))
}

pub fn acquire_all(ctx: &OpContext, plan: &Plan) -> Result<Vec<LockGuard>, OpError> {
    plan.locks
        .iter()
        .map(|(app, env)| acquire(ctx, plan, app, env))
        .collect()
}
