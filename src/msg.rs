//! `Msg`: facts `App::update` accepts. `Command`: effects `update` asks the loop to run.
use crate::action::Action;
use crate::backend::kube::KubeEvent;

#[derive(Debug, Clone)]
pub enum Msg {
    /// A user intent, already mapped from a key by the keymap.
    Action(Action),
    /// The terminal was resized.
    Resize { width: u16, height: u16 },
    /// Something from the Kubernetes backend.
    Kube(KubeEvent),
}
