//! Every style the console draws with, in three palettes: full colour, the 16 ANSI colours, and
//! none (NO_COLOR / `ui.no_color`), where meaning is carried by the symbols below and by modifiers.
use crate::model::RolloutState;
use ratatui::style::{Color, Modifier, Style};

pub const SYM_COMPLETE: &str = "✓";
pub const SYM_PROGRESSING: &str = "⟳";
pub const SYM_FAILED: &str = "✗";
pub const SYM_PAUSED: &str = "⏸";
pub const SYM_DRIFT: &str = "≠";
pub const SYM_LOADING: &str = "…";
pub const SYM_STALE: &str = "!";
pub const SYM_LIVE: &str = "●";
pub const SYM_ABSENT: &str = "—";
pub const SYM_SELECTED: &str = "▸";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 256/true-colour palette.
    Full,
    /// The 16 ANSI colours only (old terminals, consoles).
    Ansi16,
    /// No colours at all.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub mode: ColorMode,
}

impl Theme {
    pub fn new(mode: ColorMode) -> Theme {
        Theme { mode }
    }

    /// NO_COLOR (any non-empty value) or `ui.no_color` → none; COLORTERM or a 256-colour TERM →
    /// full; otherwise 16 colours.
    pub fn detect(no_color: bool) -> Theme {
        let env_no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color || env_no_color {
            return Theme::new(ColorMode::None);
        }
        let colorterm = std::env::var("COLORTERM").unwrap_or_default();
        let term = std::env::var("TERM").unwrap_or_default();
        if colorterm.contains("truecolor") || colorterm.contains("24bit") || term.contains("256") {
            Theme::new(ColorMode::Full)
        } else {
            Theme::new(ColorMode::Ansi16)
        }
    }

    fn fg(&self, full: Color, ansi: Color) -> Style {
        match self.mode {
            ColorMode::Full => Style::new().fg(full),
            ColorMode::Ansi16 => Style::new().fg(ansi),
            ColorMode::None => Style::new(),
        }
    }

    pub fn base(&self) -> Style {
        Style::new()
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Indexed(77), Color::Green)
    }

    pub fn progressing(&self) -> Style {
        self.fg(Color::Indexed(75), Color::Cyan)
    }

    pub fn failed(&self) -> Style {
        self.fg(Color::Indexed(203), Color::Red)
            .add_modifier(Modifier::BOLD)
    }

    pub fn paused(&self) -> Style {
        self.fg(Color::Indexed(141), Color::Magenta)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Indexed(214), Color::Yellow)
    }

    pub fn drift(&self) -> Style {
        self.warning().add_modifier(Modifier::BOLD)
    }

    /// The stale badge: loud, so stale data never looks fresh.
    pub fn stale(&self) -> Style {
        match self.mode {
            ColorMode::None => Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            _ => self.warning().add_modifier(Modifier::BOLD),
        }
    }

    /// Data shown while its source is stale.
    pub fn stale_data(&self) -> Style {
        self.dim()
    }

    pub fn dim(&self) -> Style {
        match self.mode {
            ColorMode::Full => Style::new().fg(Color::Indexed(245)),
            ColorMode::Ansi16 => Style::new().fg(Color::DarkGray),
            ColorMode::None => Style::new().add_modifier(Modifier::DIM),
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Indexed(252), Color::White)
            .add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        self.fg(Color::Indexed(250), Color::Gray)
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.fg(Color::Indexed(240), Color::DarkGray)
    }

    pub fn border_focused(&self) -> Style {
        self.fg(Color::Indexed(75), Color::Cyan)
            .add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected_row(&self) -> Style {
        match self.mode {
            ColorMode::Full => Style::new().bg(Color::Indexed(236)),
            ColorMode::Ansi16 => Style::new().add_modifier(Modifier::BOLD),
            ColorMode::None => Style::new().add_modifier(Modifier::BOLD),
        }
    }

    /// The selected cell (row × environment) or list item.
    pub fn cursor(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Indexed(75), Color::Cyan)
            .add_modifier(Modifier::BOLD)
    }

    pub fn notice(&self) -> Style {
        self.warning()
    }

    pub fn live(&self) -> Style {
        self.ok()
    }

    /// Symbol and style for a rollout state.
    pub fn rollout(&self, state: &RolloutState) -> (&'static str, Style) {
        match state {
            RolloutState::Complete => (SYM_COMPLETE, self.ok()),
            RolloutState::Progressing { .. } | RolloutState::WaitingForSpec => {
                (SYM_PROGRESSING, self.progressing())
            }
            RolloutState::Failed { .. } => (SYM_FAILED, self.failed()),
            RolloutState::Paused => (SYM_PAUSED, self.paused()),
        }
    }
}
