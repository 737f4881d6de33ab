//! What the simulated jobs print: per stage, a few plausible lines, with a failing test or build
//! error when the stage failed. GitHub job logs and the Jenkins console are built from these.
use super::engine::{SimRun, SimStatus, StageKind};

impl SimRun {
    /// Log lines of one stage as far as it has run.
    pub fn stage_log(&self, idx: usize) -> Vec<String> {
        let Some(s) = self.stages.get(idx) else {
            return Vec::new();
        };
        let failed = s.status == SimStatus::Failed;
        let short = &self.commit.sha[..7.min(self.commit.sha.len())];
        let mut lines = match s.kind {
            StageKind::Test => vec![
                format!("$ cargo test --workspace  # {} @ {short}", self.app),
                "running 42 tests".to_string(),
                "test orders::create ... ok".to_string(),
                "test orders::cancel ... ok".to_string(),
            ],
            StageKind::Build => vec![
                format!("$ docker build -t {}:{short} .", self.app),
                "Step 1/6 : FROM rust:1-slim AS build".to_string(),
                "Step 4/6 : RUN cargo build --release".to_string(),
            ],
            StageKind::Push => vec![format!(
                "$ docker push {}",
                self.image
                    .clone()
                    .unwrap_or_else(|| format!("{}:{short}", self.app))
            )],
            StageKind::Approval => vec!["Waiting for approval of the production deploy".into()],
            StageKind::Deploy => vec![format!(
                "$ kubectl set image deployment/{} {}={}",
                self.app,
                self.app,
                self.image.clone().unwrap_or_default()
            )],
        };
        match (s.kind, s.status, failed) {
            (StageKind::Test, _, true) => lines.extend([
                "test checkout::total_includes_tax ... FAILED".to_string(),
                "failures:".to_string(),
                "---- checkout::total_includes_tax stdout ----".to_string(),
                "assertion `left == right` failed: left: 1190, right: 1200".to_string(),
                "test result: FAILED. 41 passed; 1 failed".to_string(),
                "error: test failed, to rerun pass `--lib`".to_string(),
            ]),
            (StageKind::Build, _, true) => lines.extend([
                "error[E0308]: mismatched types --> src/cart.rs:88:19".to_string(),
                "error: could not compile `shop` due to 1 previous error".to_string(),
                "The command '/bin/sh -c cargo build --release' returned a non-zero code: 101"
                    .to_string(),
            ]),
            (StageKind::Test, SimStatus::Success, _) => {
                lines.push("test result: ok. 42 passed; 0 failed".into())
            }
            (StageKind::Build, SimStatus::Success, _) => {
                lines.push(format!("Successfully tagged {}:{short}", self.app))
            }
            (StageKind::Push, SimStatus::Success, _)
            | (StageKind::Deploy, SimStatus::Success, _) => lines.push("done".into()),
            _ => {}
        }
        lines
    }
}
