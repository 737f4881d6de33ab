//! User intents (what a key means), shared by the keymap, help screen and dispatch.
use serde::{Deserialize, Serialize};

/// What the user wants. Names (snake_case) are the keys of `[keys]` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    #[serde(rename = "focus_pane_1")]
    FocusPane1,
    #[serde(rename = "focus_pane_2")]
    FocusPane2,
    #[serde(rename = "focus_pane_3")]
    FocusPane3,
    #[serde(rename = "focus_pane_4")]
    FocusPane4,
    #[serde(rename = "focus_pane_5")]
    FocusPane5,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    EnvPicker,
    Logs,
    CommandPalette,
    Suspend,
    Refresh,
    /// Repaint the whole screen (Ctrl-L), for a terminal garbled by something else.
    Redraw,
    Promote,
    Approve,
    Rollback,
    Patch,
    Sunset,
    Silence,
    Rerun,
    CancelOp,
}

impl Action {
    /// Every action, in the order the help screen lists them.
    pub const ALL: [Action; 34] = [
        Action::Up,
        Action::Down,
        Action::Left,
        Action::Right,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::FocusNext,
        Action::FocusPrev,
        Action::FocusPane1,
        Action::FocusPane2,
        Action::FocusPane3,
        Action::FocusPane4,
        Action::FocusPane5,
        Action::Open,
        Action::Back,
        Action::Filter,
        Action::EnvPicker,
        Action::Logs,
        Action::CommandPalette,
        Action::Refresh,
        Action::Redraw,
        Action::Promote,
        Action::Approve,
        Action::Rollback,
        Action::Patch,
        Action::Sunset,
        Action::Silence,
        Action::Rerun,
        Action::CancelOp,
        Action::Help,
        Action::Suspend,
        Action::Quit,
    ];

    /// The config name of the action (`focus_next`, `page_up`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::FocusNext => "focus_next",
            Action::FocusPrev => "focus_prev",
            Action::FocusPane1 => "focus_pane_1",
            Action::FocusPane2 => "focus_pane_2",
            Action::FocusPane3 => "focus_pane_3",
            Action::FocusPane4 => "focus_pane_4",
            Action::FocusPane5 => "focus_pane_5",
            Action::Up => "up",
            Action::Down => "down",
            Action::Left => "left",
            Action::Right => "right",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Back => "back",
            Action::Filter => "filter",
            Action::EnvPicker => "env_picker",
            Action::Logs => "logs",
            Action::CommandPalette => "command_palette",
            Action::Suspend => "suspend",
            Action::Refresh => "refresh",
            Action::Redraw => "redraw",
            Action::Promote => "promote",
            Action::Approve => "approve",
            Action::Rollback => "rollback",
            Action::Patch => "patch",
            Action::Sunset => "sunset",
            Action::Silence => "silence",
            Action::Rerun => "rerun",
            Action::CancelOp => "cancel_op",
        }
    }

    /// One line for the help screen.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "this help",
            Action::FocusNext => "next pane",
            Action::FocusPrev => "previous pane",
            Action::FocusPane1 => "Releases pane",
            Action::FocusPane2 => "Pipelines pane",
            Action::FocusPane3 => "Metrics pane",
            Action::FocusPane4 => "Alerts pane",
            Action::FocusPane5 => "Operations pane",
            Action::Up => "move up",
            Action::Down => "move down",
            Action::Left => "previous environment",
            Action::Right => "next environment",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row (logs: follow)",
            Action::Open => "open (deployment detail)",
            Action::Back => "back / close / clear filter",
            Action::Filter => "filter apps",
            Action::EnvPicker => "environment picker",
            Action::Logs => "logs of the selected pod",
            Action::CommandPalette => "command palette",
            Action::Suspend => "suspend to the shell",
            Action::Refresh => "refresh sources",
            Action::Redraw => "repaint the screen",
            Action::Promote => "promote",
            Action::Approve => "approve a waiting gate",
            Action::Rollback => "roll back",
            Action::Patch => "patch / upgrade",
            Action::Sunset => "sunset the app",
            Action::Silence => "silence an alert",
            Action::Rerun => "re-run a pipeline",
            Action::CancelOp => "cancel an operation",
        }
    }

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Mutations: they arrive with the mutation engine and are refused in read-only mode.
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Action::Promote
                | Action::Approve
                | Action::Rollback
                | Action::Patch
                | Action::Sunset
                | Action::Silence
                | Action::Rerun
                | Action::CancelOp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_and_round_trip() {
        for a in Action::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("nope"), None);
    }
}
