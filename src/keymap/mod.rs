//! Mode → key chord → Action: the default bindings of PRODUCT.md §6, config overrides, conflicts, and
//! the help rows (the help screen is built from here, so it never lies about a binding).
use crate::action::Action;
use crate::config::KeyList;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;

/// Where the keys go. Browse modes (Normal, Detail, Logs) share most bindings; Filter takes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// The board or a placeholder pane has focus.
    Normal,
    /// The deployment detail has focus.
    Detail,
    /// A pod log view has focus.
    Logs,
    /// Typing a filter: printable keys are text, other keys use the Normal bindings.
    Filter,
    /// The help screen is open.
    Help,
    /// The environment picker is open.
    Picker,
}

impl Mode {
    const BROWSE: [Mode; 3] = [Mode::Normal, Mode::Detail, Mode::Logs];

    fn label(self) -> &'static str {
        match self {
            Mode::Normal => "board",
            Mode::Detail => "detail",
            Mode::Logs => "logs",
            Mode::Filter => "filter",
            Mode::Help => "help",
            Mode::Picker => "picker",
        }
    }

    /// The modes whose table a mode reads: modals and filter reuse the Normal bindings.
    fn table(self) -> Mode {
        match self {
            Mode::Detail => Mode::Detail,
            Mode::Logs => Mode::Logs,
            _ => Mode::Normal,
        }
    }
}

/// One key with its modifiers, normalised (uppercase letters carry no Shift; Shift-Tab is BackTab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` subset with an ordering, so chords can key a BTreeMap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

impl KeyChord {
    pub fn from_event(ev: &KeyEvent) -> Option<KeyChord> {
        let code = match ev.code {
            KeyCode::Char(c) => {
                let c = if ev.modifiers.contains(KeyModifiers::SHIFT) {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                KeyCodeOrd::Char(c)
            }
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCodeOrd::BackTab,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Insert => KeyCodeOrd::Insert,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            _ => return None,
        };
        Some(KeyChord {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses `ctrl-z`, `shift-tab`, `enter`, `G`, `f1`, `alt-x`, `pagedown`, `?`, `-`.
    pub fn parse(s: &str) -> Result<KeyChord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else if rest.len() > 1 && lower.starts_with("shift-") {
                shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                let c = if shift { c.to_ascii_uppercase() } else { c };
                // Ctrl combinations arrive lowercase from terminals.
                KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCodeOrd::Enter,
                "esc" | "escape" => KeyCodeOrd::Esc,
                "tab" if shift => KeyCodeOrd::BackTab,
                "tab" => KeyCodeOrd::Tab,
                "backtab" => KeyCodeOrd::BackTab,
                "backspace" => KeyCodeOrd::Backspace,
                "delete" | "del" => KeyCodeOrd::Delete,
                "insert" | "ins" => KeyCodeOrd::Insert,
                "up" => KeyCodeOrd::Up,
                "down" => KeyCodeOrd::Down,
                "left" => KeyCodeOrd::Left,
                "right" => KeyCodeOrd::Right,
                "home" => KeyCodeOrd::Home,
                "end" => KeyCodeOrd::End,
                "pageup" | "pgup" => KeyCodeOrd::PageUp,
                "pagedown" | "pgdn" => KeyCodeOrd::PageDown,
                "space" => KeyCodeOrd::Char(' '),
                f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                    Ok(n) if (1..=24).contains(&n) => KeyCodeOrd::F(n),
                    _ => return Err(format!("unknown key {s:?}")),
                },
                _ => return Err(format!("unknown key {s:?}")),
            },
        };
        Ok(KeyChord { code, ctrl, alt })
    }

    /// Whether this key types a character (in the filter it is text, not a command).
    pub fn is_text(&self) -> bool {
        matches!(self.code, KeyCodeOrd::Char(_)) && !self.ctrl && !self.alt
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("Space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "F{n}"),
            KeyCodeOrd::Enter => f.write_str("Enter"),
            KeyCodeOrd::Esc => f.write_str("Esc"),
            KeyCodeOrd::Tab => f.write_str("Tab"),
            KeyCodeOrd::BackTab => f.write_str("Shift-Tab"),
            KeyCodeOrd::Backspace => f.write_str("Backspace"),
            KeyCodeOrd::Delete => f.write_str("Del"),
            KeyCodeOrd::Insert => f.write_str("Ins"),
            KeyCodeOrd::Up => f.write_str("↑"),
            KeyCodeOrd::Down => f.write_str("↓"),
            KeyCodeOrd::Left => f.write_str("←"),
            KeyCodeOrd::Right => f.write_str("→"),
            KeyCodeOrd::Home => f.write_str("Home"),
            KeyCodeOrd::End => f.write_str("End"),
            KeyCodeOrd::PageUp => f.write_str("PgUp"),
            KeyCodeOrd::PageDown => f.write_str("PgDn"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("key `keys.{0}`: unknown action (see `?` in the console for the names)")]
    UnknownAction(String),
    #[error("key `keys.{action}`: {reason}")]
    BadKey { action: String, reason: String },
    #[error(
        "key `keys`: {key} is bound to both `{first}` and `{second}` in the {mode} view; give one of them another key"
    )]
    Conflict {
        key: String,
        mode: &'static str,
        first: &'static str,
        second: &'static str,
    },
}

/// What a key press means in a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Action(Action),
    /// A character typed into the filter.
    Text(char),
    /// Backspace in the filter.
    Erase,
}

/// One line of the help screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub action: Action,
    pub description: &'static str,
    /// The views where these keys apply; `None` when they apply everywhere.
    pub scope: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    /// Per browse mode: chord → action.
    tables: BTreeMap<Mode, BTreeMap<KeyChord, Action>>,
    /// Per action and browse mode: its keys in binding order (for help and the status bar).
    keys: BTreeMap<(Action, Mode), Vec<KeyChord>>,
}

/// Default keys per action and the browse modes they apply in (PRODUCT.md §6). `l` is "next
/// environment" on the board and "logs" in the detail, as §6 lists both.
fn defaults() -> Vec<(Action, &'static [&'static str], &'static [Mode])> {
    use Action::*;
    const ALL: &[Mode] = &Mode::BROWSE;
    const BOARD: &[Mode] = &[Mode::Normal];
    const DRILL: &[Mode] = &[Mode::Detail, Mode::Logs];
    vec![
        (Quit, &["q", "ctrl-c"], ALL),
        (Help, &["?", "f1"], ALL),
        (FocusNext, &["tab"], ALL),
        (FocusPrev, &["shift-tab"], ALL),
        (FocusPane1, &["1"], ALL),
        (FocusPane2, &["2"], ALL),
        (FocusPane3, &["3"], ALL),
        (FocusPane4, &["4"], ALL),
        (FocusPane5, &["5"], ALL),
        (Up, &["up", "k"], ALL),
        (Down, &["down", "j"], ALL),
        (Left, &["left", "h"], BOARD),
        (Right, &["right", "l"], BOARD),
        (Left, &["left"], DRILL),
        (Right, &["right"], DRILL),
        (PageUp, &["pageup", "ctrl-u"], ALL),
        (PageDown, &["pagedown", "ctrl-d"], ALL),
        (Top, &["home", "g"], ALL),
        (Bottom, &["end", "G"], ALL),
        (Open, &["enter"], ALL),
        (Back, &["esc"], ALL),
        (Filter, &["/"], ALL),
        (EnvPicker, &["e"], ALL),
        (Logs, &["l"], DRILL),
        (CommandPalette, &[":"], ALL),
        (Suspend, &["ctrl-z"], ALL),
        (Refresh, &["ctrl-r"], ALL),
        (Redraw, &["ctrl-l"], ALL),
        (Promote, &["p"], ALL),
        (Approve, &["a"], ALL),
        (Rollback, &["r"], ALL),
        (Patch, &["u"], ALL),
        (Sunset, &["S"], ALL),
        (Silence, &["s"], ALL),
        (Rerun, &["R"], ALL),
        (CancelOp, &["x"], ALL),
    ]
}

/// What an action means in a view, for the help screen: the detail's cursor walks the rollout
/// history before the pods, and its `r` rolls back to the revision picked there.
fn describe_in(action: Action, mode: Mode) -> &'static str {
    match (action, mode) {
        (Action::Up, Mode::Detail) => "move up (revisions, then pods)",
        (Action::Down, Mode::Detail) => "move down (revisions, then pods)",
        (Action::Rollback, Mode::Detail) => "roll back to the picked revision",
        (Action::Rollback, _) => "roll back to the previous revision",
        _ => action.describe(),
    }
}

impl Default for Keymap {
    fn default() -> Self {
        // The defaults are conflict-free (tested), so this cannot fail.
        Keymap::from_config(&BTreeMap::new()).unwrap_or_else(|_| Keymap {
            tables: BTreeMap::new(),
            keys: BTreeMap::new(),
        })
    }
}

impl Keymap {
    /// Defaults with the config's overrides: an action named in `[keys]` gets exactly the keys
    /// given (an empty list unbinds it) in every view where it has a default binding.
    pub fn from_config(overrides: &BTreeMap<String, KeyList>) -> Result<Keymap, KeymapError> {
        let mut parsed: BTreeMap<Action, Vec<KeyChord>> = BTreeMap::new();
        for (name, list) in overrides {
            let action =
                Action::from_name(name).ok_or_else(|| KeymapError::UnknownAction(name.clone()))?;
            let chords = list
                .keys()
                .iter()
                .map(|k| KeyChord::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| KeymapError::BadKey {
                    action: name.clone(),
                    reason,
                })?;
            parsed.insert(action, chords);
        }
        let mut keys: BTreeMap<(Action, Mode), Vec<KeyChord>> = BTreeMap::new();
        for (action, default_keys, modes) in defaults() {
            let chords = match parsed.get(&action) {
                Some(c) => c.clone(),
                None => default_keys
                    .iter()
                    .filter_map(|k| KeyChord::parse(k).ok())
                    .collect(),
            };
            for &mode in modes {
                keys.insert((action, mode), chords.clone());
            }
        }
        let mut tables: BTreeMap<Mode, BTreeMap<KeyChord, Action>> = BTreeMap::new();
        for (&(action, mode), chords) in &keys {
            let table = tables.entry(mode).or_default();
            for chord in chords {
                if let Some(&other) = table.get(chord)
                    && other != action
                {
                    return Err(KeymapError::Conflict {
                        key: chord.to_string(),
                        mode: mode.label(),
                        first: other.name(),
                        second: action.name(),
                    });
                }
                table.insert(*chord, action);
            }
        }
        Ok(Keymap { tables, keys })
    }

    /// What a key means in `mode`; `None` for unbound keys and key releases.
    pub fn resolve(&self, mode: Mode, ev: &KeyEvent) -> Option<Resolved> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let chord = KeyChord::from_event(ev)?;
        if mode == Mode::Filter {
            if chord.is_text()
                && let KeyCodeOrd::Char(c) = chord.code
            {
                return Some(Resolved::Text(c));
            }
            if chord.code == KeyCodeOrd::Backspace && !chord.ctrl && !chord.alt {
                return Some(Resolved::Erase);
            }
        }
        self.tables
            .get(&mode.table())
            .and_then(|t| t.get(&chord))
            .map(|a| Resolved::Action(*a))
    }

    /// The keys of an action in a mode, formatted for the status bar (`"?"`, `"Enter"`).
    pub fn keys_for(&self, action: Action, mode: Mode) -> Vec<String> {
        self.keys
            .get(&(action, mode.table()))
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The first key of an action, for compact hints ("? help").
    pub fn hint(&self, action: Action, mode: Mode) -> Option<String> {
        self.keys_for(action, mode).into_iter().next()
    }

    /// Every binding, for the help screen: one row per action and distinct key set.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        let mut rows = Vec::new();
        for action in Action::ALL {
            // Group the browse modes by identical key sets and meaning.
            let mut groups: Vec<(Vec<KeyChord>, &'static str, Vec<Mode>)> = Vec::new();
            for mode in Mode::BROWSE {
                let Some(chords) = self.keys.get(&(action, mode)) else {
                    continue;
                };
                let description = describe_in(action, mode);
                match groups
                    .iter_mut()
                    .find(|(c, d, _)| c == chords && *d == description)
                {
                    Some((_, _, modes)) => modes.push(mode),
                    None => groups.push((chords.clone(), description, vec![mode])),
                }
            }
            for (chords, description, modes) in groups {
                let keys = if chords.is_empty() {
                    "(unbound)".to_string()
                } else {
                    chords
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let scope = (modes.len() < Mode::BROWSE.len()).then(|| {
                    modes
                        .iter()
                        .map(|m| m.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                rows.push(HelpRow {
                    keys,
                    action,
                    description,
                    scope,
                });
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests;
