//! Modals over the panes (help, environment picker, command palette): their state and keys.
use super::App;
use crate::action::Action;
use crate::msg::{Command, Msg};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    Help {
        scroll: usize,
    },
    EnvPicker {
        cursor: usize,
    },
    /// `:` — type part of an action's name or description, Enter runs it.
    Palette {
        input: String,
        cursor: usize,
    },
}

/// The actions the palette offers for `input` (every action but the palette itself), best first:
/// names starting with the input, then names containing it, then descriptions containing it.
pub fn palette_matches(input: &str) -> Vec<Action> {
    let needle = input.trim().to_lowercase().replace(' ', "_");
    let spaced = needle.replace('_', " ");
    let mut ranked: Vec<(u8, Action)> = Action::ALL
        .iter()
        .copied()
        .filter(|a| *a != Action::CommandPalette)
        .filter_map(|a| {
            let name = a.name();
            let rank = if name.starts_with(&needle) {
                0
            } else if name.contains(&needle) {
                1
            } else if a.describe().to_lowercase().contains(&spaced) {
                2
            } else {
                return None;
            };
            Some((rank, a))
        })
        .collect();
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked.into_iter().map(|(_, a)| a).collect()
}

impl App {
    pub(super) fn modal_action(&mut self, action: Action, modal: Modal) -> Vec<Command> {
        use Action::*;
        match (modal, action) {
            (_, Suspend) => return vec![Command::Suspend],
            (_, Redraw) => return vec![Command::Repaint],
            (Modal::Help { .. }, Back | Help | Quit | Open) => self.pop_modal(),
            (Modal::Help { scroll }, Up | Down | PageUp | PageDown | Top | Bottom) => {
                let rows = self.keymap.help_rows().len();
                let next = match action {
                    Up => scroll.saturating_sub(1),
                    Down => scroll + 1,
                    PageUp => scroll.saturating_sub(10),
                    PageDown => scroll + 10,
                    Top => 0,
                    _ => rows,
                }
                .min(rows.saturating_sub(1));
                self.set_modal(Modal::Help { scroll: next });
            }
            (Modal::EnvPicker { .. }, Back | EnvPicker | Quit) => self.pop_modal(),
            (Modal::EnvPicker { cursor }, Up | Down | Left | Right | Top | Bottom) => {
                let n = self.releases.board.envs.len().max(1);
                let next = match action {
                    Up | Left => (cursor + n - 1) % n,
                    Down | Right => (cursor + 1) % n,
                    Top => 0,
                    _ => n - 1,
                };
                self.set_modal(Modal::EnvPicker { cursor: next });
            }
            (Modal::Palette { .. }, Back | CommandPalette) => self.pop_modal(),
            (Modal::Palette { input, cursor }, Up | Down | PageUp | PageDown | Top | Bottom) => {
                let n = palette_matches(&input).len().max(1);
                let next = match action {
                    Up => (cursor + n - 1) % n,
                    Down => (cursor + 1) % n,
                    PageUp | Top => 0,
                    _ => n - 1,
                };
                self.set_modal(Modal::Palette {
                    input,
                    cursor: next,
                });
            }
            (Modal::Palette { input, cursor }, Open) => {
                self.pop_modal();
                if let Some(chosen) = palette_matches(&input).get(cursor).copied() {
                    return self.update(Msg::Action(chosen));
                }
            }
            (Modal::EnvPicker { cursor }, Open) => {
                self.pop_modal();
                let delta = cursor as isize - self.releases.env as isize;
                return self.move_env(delta);
            }
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn push_modal(&mut self, modal: Modal) {
        self.modals.push(modal);
        self.dirty = true;
    }

    pub(super) fn pop_modal(&mut self) {
        self.modals.pop();
        self.dirty = true;
    }

    pub(super) fn set_modal(&mut self, modal: Modal) {
        if let Some(top) = self.modals.last_mut()
            && *top != modal
        {
            *top = modal;
            self.dirty = true;
        }
    }
}
