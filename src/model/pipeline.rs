//! Provider-neutral CI data: the latest run per branch (stages as chips), a run's detail (jobs,
//! steps, log tail) and the approval gates a run waits on. Strings are raw; panes sanitize.
use jiff::Timestamp;
use std::time::Duration;

/// Status of a run, a stage, a job or a step, folded from every provider's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StageStatus {
    Queued,
    Running,
    Success,
    Failed,
    WaitingApproval,
    Skipped,
    Cancelled,
}

impl StageStatus {
    /// The chip symbol; the meaning survives without colours.
    pub fn symbol(self) -> &'static str {
        match self {
            StageStatus::Success => "✓",
            StageStatus::Failed => "✗",
            StageStatus::Running => "●",
            StageStatus::WaitingApproval => "⏸",
            StageStatus::Queued => "○",
            StageStatus::Skipped => "–",
            StageStatus::Cancelled => "⊘",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StageStatus::Success
                | StageStatus::Failed
                | StageStatus::Skipped
                | StageStatus::Cancelled
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            StageStatus::Queued => "queued",
            StageStatus::Running => "running",
            StageStatus::Success => "success",
            StageStatus::Failed => "failed",
            StageStatus::WaitingApproval => "waiting for approval",
            StageStatus::Skipped => "skipped",
            StageStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub status: StageStatus,
    pub started: Option<Timestamp>,
    /// Elapsed so far while running, total once finished.
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    pub sha: String,
    pub author: String,
    /// The full message; panes show the first line, sanitized.
    pub message: String,
}

impl Commit {
    pub fn short_sha(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }

    pub fn title(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

/// Identifies one run across calls: providers need the app and branch to address it (Jenkins).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunRef {
    pub app: String,
    pub branch: String,
    /// GitHub run id, Jenkins build number, GitLab pipeline id.
    pub id: String,
}

/// The latest run of one app on one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub app: String,
    pub branch: String,
    pub run_id: String,
    /// Human run number (`#12`) where the provider has one.
    pub number: Option<u64>,
    pub status: StageStatus,
    pub stages: Vec<Stage>,
    pub commit: Commit,
    pub started: Option<Timestamp>,
    pub url: Option<String>,
}

impl Pipeline {
    pub fn run_ref(&self) -> RunRef {
        RunRef {
            app: self.app.clone(),
            branch: self.branch.clone(),
            id: self.run_id.clone(),
        }
    }

    pub fn waiting_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.status == StageStatus::WaitingApproval)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub status: StageStatus,
    pub started: Option<Timestamp>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Provider id used for the job's log (GitHub job id, Jenkins stage node id, GitLab job id).
    pub id: String,
    pub name: String,
    pub status: StageStatus,
    pub started: Option<Timestamp>,
    pub duration: Option<Duration>,
    pub steps: Vec<Step>,
}

/// A gate waiting for a person: GitHub pending deployment, Jenkins input step, GitLab manual job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub run: RunRef,
    /// GitHub environment id, Jenkins input id, GitLab job id.
    pub id: String,
    /// Environment or stage name (`production`).
    pub name: String,
    pub message: String,
}

/// The tail of the failing job's log, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    pub job: String,
    pub step: Option<String>,
    /// Raw lines (unsanitized), oldest first.
    pub lines: Vec<String>,
}

/// What `Enter` on a pipeline shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDetail {
    pub pipeline: Pipeline,
    pub jobs: Vec<Job>,
    pub approvals: Vec<Approval>,
    pub log_tail: Option<LogTail>,
}

impl RunDetail {
    /// The first failed job (and its first failed step), whose log tail the detail shows.
    pub fn failing_job(&self) -> Option<(&Job, Option<&Step>)> {
        let job = self.jobs.iter().find(|j| j.status == StageStatus::Failed)?;
        Some((
            job,
            job.steps.iter().find(|s| s.status == StageStatus::Failed),
        ))
    }
}

/// Overall status from stage statuses, for providers whose run status is coarse.
pub fn overall_status(stages: &[Stage]) -> StageStatus {
    let any = |s: StageStatus| stages.iter().any(|x| x.status == s);
    if any(StageStatus::Failed) {
        StageStatus::Failed
    } else if any(StageStatus::Cancelled) {
        StageStatus::Cancelled
    } else if any(StageStatus::WaitingApproval) {
        StageStatus::WaitingApproval
    } else if any(StageStatus::Running) {
        StageStatus::Running
    } else if any(StageStatus::Queued) || stages.is_empty() {
        StageStatus::Queued
    } else {
        StageStatus::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: StageStatus) -> Stage {
        Stage {
            name: "x".into(),
            status,
            started: None,
            duration: None,
        }
    }

    #[test]
    fn overall() {
        use StageStatus::*;
        assert_eq!(
            overall_status(&[st(Success), st(Failed), st(Skipped)]),
            Failed
        );
        assert_eq!(
            overall_status(&[st(Success), st(WaitingApproval)]),
            WaitingApproval
        );
        assert_eq!(
            overall_status(&[st(Success), st(Running), st(Queued)]),
            Running
        );
        assert_eq!(overall_status(&[st(Success), st(Skipped)]), Success);
        assert_eq!(overall_status(&[]), Queued);
    }

    #[test]
    fn commit_short() {
        let c = Commit {
            sha: "a1f3c2d9e8".into(),
            author: "ann".into(),
            message: "fix: thing\n\nbody".into(),
        };
        assert_eq!(c.short_sha(), "a1f3c2d");
        assert_eq!(c.title(), "fix: thing");
    }
}
