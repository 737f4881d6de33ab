//! `Msg`: facts `App::update` accepts. `Command`: effects `update` asks the loop to run.
use crate::action::Action;
use crate::backend::kube::KubeEvent;
use crate::config::Config;
use crate::model::board::Board;
use crate::model::{DeploymentView, Fresh};
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
    /// A board built off the loop (large estates) is ready.
    BoardBuilt { generation: u64, board: Box<Board> },
    /// The preview asked for by `Command::PrepareOp(request)` is ready, or why it is not.
    OpPrepared {
        request: Request,
        result: Result<OpPreview, String>,
    },
    /// Progress of the operation started by `Command::RunOp { run, .. }`.
    Op { run: u64, event: OpEvent },
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
        deployments: BTreeMap<String, Fresh<Arc<[DeploymentView]>>>,
    },
    /// Build the preview off the UI task (`ops::prepare`); the answer is `Msg::OpPrepared`.
    PrepareOp(Request),
    /// Run a confirmed preview (`ops::run`); its events come back as `Msg::Op { run, .. }`.
    RunOp {
        run: u64,
        preview: OpPreview,
        confirmation: Confirmation,
    },
    /// Cancel the running operation `run` (it stops between steps and says what was done).
    CancelOp {
        run: u64,
    },
}
