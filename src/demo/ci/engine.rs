//! The pipeline engine behind the simulated CI servers: per app and branch, runs of test → build →
//! push → deploy (master: an approval gate before the production deploy) on the simulated clock.
//! A finished push stores an image in the simulated registry; a finished deploy calls the
//! `DeployHook`. Failures in test or build come from a seeded RNG, so a seed replays the same story.
use crate::demo::registry::SimRegistry;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub type ClockFn = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Called when a deploy stage finishes: the integrator points it at the simulated Kubernetes store
/// (set the app's Deployment image in the branch's namespace).
pub trait DeployHook: Send + Sync {
    fn deploy(&self, app: &str, branch: &str, image: &str);
    /// `deploy` with the run's number (for a change-cause naming the run); defaults to `deploy`.
    fn deploy_run(&self, app: &str, branch: &str, image: &str, number: u64) {
        let _ = number;
        self.deploy(app, branch, image);
    }
}

/// A hook that deploys nothing.
pub struct NoDeploy;
impl DeployHook for NoDeploy {
    fn deploy(&self, _: &str, _: &str, _: &str) {}
}

#[derive(Debug, Clone)]
pub struct CiSimOptions {
    pub apps: Vec<String>,
    pub branches: Vec<String>,
    /// The branch whose deploy waits for approval (production).
    pub production_branch: String,
    /// GitHub owner (`/repos/{owner}/{app}`).
    pub owner: String,
    /// Registry repository of an app: prefix + app (`shop/web`).
    pub repository_prefix: String,
    /// Registry host in image references (`127.0.0.1:PORT`); `start_ci` fills it from the registry.
    pub image_host: String,
    pub seed: u64,
    /// A new commit lands on each branch this often (once the previous run has finished).
    pub commit_every: SignedDuration,
    /// Per-branch overrides of `commit_every` (`develop` busier than `master`).
    pub commit_every_branch: Vec<(String, SignedDuration)>,
    /// Durations of test, build, push and deploy.
    pub stage_secs: [i64; 4],
    /// Percent of runs failing in test, and in build.
    pub fail_test_pct: u32,
    pub fail_build_pct: u32,
}

impl Default for CiSimOptions {
    fn default() -> Self {
        CiSimOptions {
            apps: ["web", "api", "worker"].map(String::from).to_vec(),
            branches: ["develop", "staging", "master"].map(String::from).to_vec(),
            production_branch: "master".into(),
            owner: "shop".into(),
            repository_prefix: "shop/".into(),
            image_host: "registry.local".into(),
            seed: 1,
            commit_every: SignedDuration::from_mins(5),
            commit_every_branch: Vec::new(),
            stage_secs: [20, 40, 10, 15],
            fail_test_pct: 12,
            fail_build_pct: 6,
        }
    }
}

impl CiSimOptions {
    /// How often a new commit lands on `branch`.
    pub fn commit_every_on(&self, branch: &str) -> SignedDuration {
        self.commit_every_branch
            .iter()
            .find(|(b, _)| b == branch)
            .map_or(self.commit_every, |(_, d)| *d)
    }

    /// The environment a branch deploys to.
    pub fn environment(&self, branch: &str) -> String {
        if branch == self.production_branch {
            "production".into()
        } else {
            branch.to_string()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Test,
    Build,
    Push,
    Approval,
    Deploy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    Pending,
    Running,
    Waiting,
    Success,
    Failed,
    Skipped,
    Cancelled,
}

impl SimStatus {
    pub fn done(self) -> bool {
        matches!(
            self,
            SimStatus::Success | SimStatus::Failed | SimStatus::Skipped | SimStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone)]
pub struct SimStage {
    pub name: String,
    pub kind: StageKind,
    pub secs: i64,
    pub status: SimStatus,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct SimCommit {
    pub sha: String,
    pub author: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct SimRun {
    /// Unique across the engine (GitHub run id, GitLab pipeline id).
    pub id: u64,
    /// Per app and branch (Jenkins build number).
    pub number: u64,
    pub attempt: u32,
    pub app: String,
    pub branch: String,
    pub commit: SimCommit,
    pub created: Timestamp,
    pub stages: Vec<SimStage>,
    /// Index of the stage that fails this attempt.
    pub fail_at: Option<usize>,
    pub approved_at: Option<Timestamp>,
    pub image: Option<String>,
    pub finished: Option<Timestamp>,
}

impl SimRun {
    pub fn status(&self) -> SimStatus {
        let any = |s| self.stages.iter().any(|x| x.status == s);
        if any(SimStatus::Failed) {
            SimStatus::Failed
        } else if any(SimStatus::Cancelled) {
            SimStatus::Cancelled
        } else if any(SimStatus::Waiting) {
            SimStatus::Waiting
        } else if self.finished.is_some() {
            SimStatus::Success
        } else if any(SimStatus::Running) || any(SimStatus::Success) {
            SimStatus::Running
        } else {
            SimStatus::Pending
        }
    }

    pub fn started(&self) -> Timestamp {
        self.created
    }
}

/// A side effect to run once the engine lock is released.
enum Effect {
    Push {
        repo: String,
        tag: String,
        label: String,
    },
    Deploy {
        app: String,
        branch: String,
        image: String,
        number: u64,
    },
}

struct State {
    runs: BTreeMap<(String, String), Vec<SimRun>>,
    next_id: u64,
    rng: rand::rngs::StdRng,
}

pub struct CiEngine {
    opts: CiSimOptions,
    clock: ClockFn,
    hook: Arc<dyn DeployHook>,
    registry: Option<SimRegistry>,
    state: Mutex<State>,
    /// Held for a whole `advance`, effects included, so that when any `advance` returns, the
    /// effects of every stage finished so far have run (the ticker and requests both advance).
    advancing: Mutex<()>,
}

const AUTHORS: [&str; 4] = ["ana", "bo", "chen", "dee"];
const MESSAGES: [&str; 6] = [
    "fix: rounding in cart totals",
    "feat: add order export",
    "chore: bump dependencies",
    "perf: cache product lookups",
    "fix: retry payment webhook",
    "refactor: split checkout service",
];
const HISTORY: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no such run")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
}

impl CiEngine {
    pub fn new(
        opts: CiSimOptions,
        clock: ClockFn,
        hook: Arc<dyn DeployHook>,
        registry: Option<SimRegistry>,
    ) -> Arc<CiEngine> {
        let now = clock();
        let mut st = State {
            runs: BTreeMap::new(),
            next_id: 1000,
            rng: rand::rngs::StdRng::seed_from_u64(opts.seed),
        };
        // First runs start in the past at staggered offsets, so the demo opens with runs in every
        // state: finished, running, and (master) waiting for approval.
        for (a, app) in opts.apps.iter().enumerate() {
            for (b, branch) in opts.branches.iter().enumerate() {
                let back = 30 + ((a * 37 + b * 53) % 120) as i64;
                let created = now
                    .checked_sub(SignedDuration::from_secs(back))
                    .unwrap_or(now);
                new_run(&opts, &mut st, app, branch, created, None, true);
            }
        }
        let engine = Arc::new(CiEngine {
            opts,
            clock,
            hook,
            registry,
            state: Mutex::new(st),
            advancing: Mutex::new(()),
        });
        engine.advance();
        engine
    }

    pub fn options(&self) -> &CiSimOptions {
        &self.opts
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Moves every run to the clock's present and runs the side effects of finished stages.
    pub fn advance(&self) {
        let _serial = self.advancing.lock();
        let now = self.now();
        let effects = match self.state.lock() {
            Ok(mut st) => step_all(&self.opts, &mut st, now),
            Err(_) => return,
        };
        for e in effects {
            match e {
                Effect::Push { repo, tag, label } => {
                    if let Some(r) = &self.registry {
                        r.push_image(&repo, &tag, &label);
                    }
                }
                Effect::Deploy {
                    app,
                    branch,
                    image,
                    number,
                } => self.hook.deploy_run(&app, &branch, &image, number),
            }
        }
    }

    /// Runs of one app and branch, newest first.
    pub fn runs(&self, app: &str, branch: &str) -> Vec<SimRun> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.runs.get(&(app.to_string(), branch.to_string())).cloned())
            .map(|mut v| {
                v.reverse();
                v
            })
            .unwrap_or_default()
    }

    pub fn run(&self, id: u64) -> Option<SimRun> {
        let st = self.state.lock().ok()?;
        st.runs.values().flatten().find(|r| r.id == id).cloned()
    }

    pub fn run_by_number(&self, app: &str, branch: &str, number: u64) -> Option<SimRun> {
        self.runs(app, branch)
            .into_iter()
            .find(|r| r.number == number)
    }

    fn with_run<T>(
        &self,
        id: u64,
        f: impl FnOnce(&mut SimRun, Timestamp) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        let now = self.now();
        let r = {
            let mut st = self.state.lock().map_err(|_| SimError::NotFound)?;
            let run = st
                .runs
                .values_mut()
                .flatten()
                .find(|r| r.id == id)
                .ok_or(SimError::NotFound)?;
            f(run, now)
        };
        self.advance();
        r
    }

    /// Approves the gate the run waits at.
    pub fn approve(&self, id: u64) -> Result<(), SimError> {
        self.with_run(id, |run, now| {
            if !run.stages.iter().any(|s| s.status == SimStatus::Waiting) {
                return Err(SimError::Conflict("the run is not waiting for approval"));
            }
            run.approved_at = Some(now);
            Ok(())
        })
    }

    pub fn cancel(&self, id: u64) -> Result<(), SimError> {
        self.with_run(id, |run, now| {
            if run.finished.is_some() {
                return Err(SimError::Conflict("the run has already finished"));
            }
            for s in &mut run.stages {
                match s.status {
                    SimStatus::Running | SimStatus::Waiting => {
                        s.status = SimStatus::Cancelled;
                        s.finished = Some(now);
                    }
                    SimStatus::Pending => s.status = SimStatus::Skipped,
                    _ => {}
                }
            }
            run.finished = Some(now);
            Ok(())
        })
    }

    /// Re-runs the whole run as a new attempt (same id); a re-run passes (the failure was flaky).
    pub fn rerun(&self, id: u64) -> Result<(), SimError> {
        self.with_run(id, |run, now| {
            if run.finished.is_none() {
                return Err(SimError::Conflict("the run is still in progress"));
            }
            run.attempt += 1;
            run.created = now;
            run.fail_at = None;
            run.approved_at = None;
            run.finished = None;
            run.image = None;
            for s in &mut run.stages {
                s.status = SimStatus::Pending;
                s.started = None;
                s.finished = None;
            }
            Ok(())
        })
    }

    /// A new build of the branch at its latest commit (Jenkins `build`); returns the run id.
    pub fn trigger(&self, app: &str, branch: &str) -> Result<u64, SimError> {
        let now = self.now();
        let id = {
            let mut st = self.state.lock().map_err(|_| SimError::NotFound)?;
            let commit = st
                .runs
                .get(&(app.to_string(), branch.to_string()))
                .and_then(|v| v.last())
                .map(|r| r.commit.clone())
                .ok_or(SimError::NotFound)?;
            new_run(&self.opts, &mut st, app, branch, now, Some(commit), false)
        };
        self.advance();
        Ok(id)
    }
}

fn stages_for(opts: &CiSimOptions, branch: &str) -> Vec<SimStage> {
    let env = opts.environment(branch);
    let s = opts.stage_secs;
    let mut v = vec![
        ("test".to_string(), StageKind::Test, s[0]),
        ("build".to_string(), StageKind::Build, s[1]),
        ("push".to_string(), StageKind::Push, s[2]),
    ];
    if branch == opts.production_branch {
        v.push((format!("approve {env}"), StageKind::Approval, 0));
    }
    v.push((format!("deploy {env}"), StageKind::Deploy, s[3]));
    v.into_iter()
        .map(|(name, kind, secs)| SimStage {
            name,
            kind,
            secs,
            status: SimStatus::Pending,
            started: None,
            finished: None,
        })
        .collect()
}

fn new_run(
    opts: &CiSimOptions,
    st: &mut State,
    app: &str,
    branch: &str,
    created: Timestamp,
    commit: Option<SimCommit>,
    may_fail: bool,
) -> u64 {
    let commit = commit.unwrap_or_else(|| SimCommit {
        sha: (0..40)
            .map(|_| char::from_digit(st.rng.random_range(0..16), 16).unwrap_or('0'))
            .collect(),
        author: AUTHORS[st.rng.random_range(0..AUTHORS.len())].to_string(),
        message: MESSAGES[st.rng.random_range(0..MESSAGES.len())].to_string(),
    });
    let roll = st.rng.random_range(0..100u32);
    let fail_at = if !may_fail {
        None
    } else if roll < opts.fail_test_pct {
        Some(0)
    } else if roll < opts.fail_test_pct + opts.fail_build_pct {
        Some(1)
    } else {
        None
    };
    st.next_id += 1;
    let id = st.next_id;
    let runs = st
        .runs
        .entry((app.to_string(), branch.to_string()))
        .or_default();
    let number = runs.last().map_or(1, |r| r.number + 1);
    runs.push(SimRun {
        id,
        number,
        attempt: 1,
        app: app.to_string(),
        branch: branch.to_string(),
        commit,
        created,
        stages: stages_for(opts, branch),
        fail_at,
        approved_at: None,
        image: None,
        finished: None,
    });
    if runs.len() > HISTORY {
        runs.remove(0);
    }
    id
}

fn step_all(opts: &CiSimOptions, st: &mut State, now: Timestamp) -> Vec<Effect> {
    let mut effects = Vec::new();
    // New commits: once the newest run of a branch has finished and `commit_every` has passed.
    let keys: Vec<(String, String)> = st.runs.keys().cloned().collect();
    for key in keys {
        let due = st.runs.get(&key).and_then(|v| v.last()).and_then(|r| {
            let next = r.created.checked_add(opts.commit_every_on(&key.1)).ok()?;
            (r.finished.is_some() && next <= now).then_some(next.max(r.finished.unwrap_or(next)))
        });
        if let Some(at) = due {
            new_run(opts, st, &key.0, &key.1, at, None, true);
        }
    }
    for run in st.runs.values_mut().flatten() {
        if run.finished.is_none() {
            step_run(opts, run, now, &mut effects);
        }
    }
    effects
}

fn step_run(opts: &CiSimOptions, run: &mut SimRun, now: Timestamp, effects: &mut Vec<Effect>) {
    let mut t = run.created;
    let mut failed = false;
    for i in 0..run.stages.len() {
        let s = &mut run.stages[i];
        if s.status.done() {
            t = s.finished.unwrap_or(t);
            continue;
        }
        if failed {
            s.status = SimStatus::Skipped;
            continue;
        }
        if t > now {
            return;
        }
        let started = *s.started.get_or_insert(t);
        let end = if s.kind == StageKind::Approval {
            match run.approved_at {
                Some(a) => a.max(started),
                None => {
                    s.status = SimStatus::Waiting;
                    return;
                }
            }
        } else {
            started
                .checked_add(SignedDuration::from_secs(s.secs))
                .unwrap_or(started)
        };
        if end > now {
            s.status = SimStatus::Running;
            return;
        }
        s.finished = Some(end);
        t = end;
        if run.fail_at == Some(i) {
            s.status = SimStatus::Failed;
            failed = true;
            continue;
        }
        s.status = SimStatus::Success;
        match s.kind {
            StageKind::Push => {
                let tag = run.commit.sha.chars().take(7).collect::<String>();
                let repo = format!("{}{}", opts.repository_prefix, run.app);
                run.image = Some(format!("{}/{repo}:{tag}", opts.image_host));
                effects.push(Effect::Push {
                    repo,
                    tag,
                    label: format!("{}#{}.{}", run.id, run.number, run.attempt),
                });
            }
            StageKind::Deploy => {
                if let Some(image) = &run.image {
                    effects.push(Effect::Deploy {
                        app: run.app.clone(),
                        branch: run.branch.clone(),
                        image: image.clone(),
                        number: run.number,
                    });
                }
            }
            _ => {}
        }
    }
    run.finished = Some(t);
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
