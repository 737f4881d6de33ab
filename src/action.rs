//! User intents (what a key means), shared by the keymap, help screen and dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
}
