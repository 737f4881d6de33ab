//! `Msg`: facts `App::update` accepts. `Command`: effects `update` asks the loop to run.
use crate::action::Action;
use crate::backend::kube::KubeEvent;
use crate::backend::monitor::MonitorEvent;
use crate::backend::pipelines::{PipelineEvent, RegistryEvent};
use crate::config::Config;
use crate::model::Fresh;
use crate::model::board::Board;
use crate::model::pipeline::RunRef;
use crate::ops::{Confirmation, OpEvent, Preview, Request};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Msg {
    /// A user intent, already mapped from a key by the keymap.
    Action(Action),
    /// Text typed while a text field (the filter) has focus.
    Input(InputEdit),
    /// The terminal was resized.
    Resize { width: u16, height: u16 },
    /// Something from the Kubernetes backend.
    Kube(KubeEvent),
    /// The age timer fired: at least one visible age label has a new text.
    AgesChanged,
    /// No key for a moment: the overview panes may follow the board's selection now.
    CursorRested,
    /// A board built off the loop (large estates) is ready.
    BoardBuilt { generation: u64, board: Box<Board> },
    /// Something from the Prometheus or Alertmanager poller.
    Monitor(MonitorEvent),
    /// The metrics poller switched to a selection: replies of older generations are stale.
    MetricsSelected { generation: u64 },
    /// Something from the CI poller.
    Pipelines(PipelineEvent),
    /// Something from the registry digest poller.
    Registry(RegistryEvent),
    /// The preview asked for by `Command::PrepareOp(request)` is ready, or why it is not.
    OpPrepared {
        request: Request,
        result: Result<OpPreview, String>,
    },
    /// Progress of the operation started by `Command::RunOp { run, .. }`.
    Op { run: u64, event: OpEvent },
    /// The registry's tags of `repository` for the patch menu (`Command::ListTags`).
    OpTags {
        repository: String,
        result: Result<Vec<String>, String>,
    },
}

/// A preview shared between the modal and the loop (`Preview` is neither `Clone` nor `PartialEq`:
/// it carries the operation's steps). Equal when it is the same preview.
#[derive(Debug, Clone)]
pub struct OpPreview(pub Arc<Preview>);

impl PartialEq for OpPreview {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<MonitorEvent> for Msg {
    fn from(e: MonitorEvent) -> Msg {
        Msg::Monitor(e)
    }
}

impl From<PipelineEvent> for Msg {
    fn from(e: PipelineEvent) -> Msg {
        Msg::Pipelines(e)
    }
}

impl From<RegistryEvent> for Msg {
    fn from(e: RegistryEvent) -> Msg {
        Msg::Registry(e)
    }
}

/// An edit of the focused text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEdit {
    Insert(char),
    Erase,
}

/// Effects `update` asks for; `tui.rs` runs them (backend calls, terminal work).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    /// Ctrl-z: restore the terminal, stop the process, re-enter and repaint on resume.
    Suspend,
    /// Ctrl-L: clear and repaint every cell.
    Repaint,
    /// Start watching one Deployment's ReplicaSets, Pods and Events (replaces any open detail).
    OpenDetail {
        env: String,
        namespace: String,
        deployment: String,
        selector: BTreeMap<String, String>,
    },
    CloseDetail,
    /// Stream a pod's log; replies carry `request` so late lines of an old stream are dropped.
    StreamLogs {
        request: u64,
        env: String,
        namespace: String,
        pod: String,
        container: Option<String>,
    },
    StopLogs,
    /// Build the board off the loop (a large estate would block keys for tens of milliseconds);
    /// the result comes back as `Msg::BoardBuilt`.
    BuildBoard {
        generation: u64,
        config: Arc<Config>,
        deployments: BTreeMap<String, Fresh<crate::model::Deployments>>,
    },
    /// The Metrics pane now shows `app` in `env` (the loop answers `Msg::MetricsSelected`).
    SelectMetrics {
        app: String,
        env: String,
        namespace: String,
    },
    /// The Metrics pane was hidden (stacked layout, another pane focused) or shown again: a
    /// hidden pane costs no queries.
    MetricsVisible(bool),
    /// The Pipelines pane now shows `app`.
    SelectPipelines {
        app: String,
    },
    /// Also poll these apps' CI runs (the board's failed-CI markers).
    WatchCiApps(Vec<String>),
    /// Check these (repository, tag) pairs' digests in the registry (moved-tag markers).
    WatchTags(Vec<(String, String)>),
    /// Fetch a run's jobs, steps and log tail (the Pipelines pane's `Enter`).
    OpenRun(RunRef),
    CloseRun,
    /// Ctrl-r: poll every HTTP source now.
    RefreshSources,
    /// Build the preview off the UI task (`ops::prepare`); the answer is `Msg::OpPrepared`.
    PrepareOp(Request),
    /// Run a confirmed preview (`ops::run`); its events come back as `Msg::Op { run, .. }`.
    RunOp {
        run: u64,
        preview: OpPreview,
        confirmation: Confirmation,
    },
    /// List the registry's tags of `repository` for the patch menu; answered by `Msg::OpTags`.
    ListTags {
        repository: String,
    },
    /// Cancel the running operation `run` (it stops between steps and says what was done).
    CancelOp {
        run: u64,
    },
}
