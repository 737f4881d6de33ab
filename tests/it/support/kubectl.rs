//! Running kubectl against the simulated API server, with a deadline and a clear message when
//! kubectl is not installed.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// kubectl's path; panics (failing the test) when it is missing.
pub fn kubectl_bin() -> PathBuf {
    for p in ["/usr/bin/kubectl", "/usr/local/bin/kubectl"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("kubectl");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("kubectl not found: install the Debian package kubernetes-client (kubectl)");
}

#[derive(Debug)]
pub struct KubectlOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with both streams unless kubectl exited 0.
    pub fn ok(&self) -> &str {
        assert!(
            self.success(),
            "kubectl failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

fn command(kubeconfig: &Path, cache: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(kubectl_bin());
    c.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(home) = cache.parent() {
        c.env("HOME", home);
    }
    c
}

/// Runs kubectl to completion; panics when it outlives `deadline`.
pub async fn run(
    kubeconfig: &Path,
    cache: &Path,
    args: &[&str],
    deadline: Duration,
) -> KubectlOutput {
    let child = command(kubeconfig, cache, args)
        .spawn()
        .expect("spawn kubectl");
    match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Ok(Ok(out)) => KubectlOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("kubectl {args:?}: {e}"),
        Err(_) => panic!("kubectl {args:?} did not finish within {deadline:?}"),
    }
}

/// A kubectl left running (e.g. `--watch`); its stdout is collected as it comes. Killed on drop.
pub struct Running {
    child: tokio::process::Child,
    out: Arc<Mutex<String>>,
}

pub fn spawn(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Running {
    let mut child = command(kubeconfig, cache, args)
        .spawn()
        .expect("spawn kubectl");
    let out = Arc::new(Mutex::new(String::new()));
    if let Some(mut stdout) = child.stdout.take() {
        let out = out.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut o) = out.lock() {
                    o.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    Running { child, out }
}

impl Running {
    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
