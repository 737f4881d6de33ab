//! The Releases pane's state: the cached board, the filtered row list and the selection.
//!
//! The board is rebuilt only when a snapshot arrives and the row list only when the board or the
//! filter changes, never per frame or per key (10,000 apps must stay instant).
use crate::model::board::Board;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Releases {
    pub board: Board,
    /// Lowercased app names, parallel to `board.rows` (filtering allocates nothing per key); built
    /// on the first filter key after a board change, not per snapshot (a storm at 10,000 apps
    /// installs boards many times a second, mostly with no filter typed).
    names: Vec<String>,
    names_stale: bool,
    /// Indices into `board.rows` that match the filter, in board order.
    pub visible: Vec<usize>,
    pub filter: String,
    /// Typing into the filter.
    pub filtering: bool,
    /// Index into `visible`.
    pub selected: usize,
    /// Selected environment column.
    pub env: usize,
    /// First visible row of the table (kept so the selection stays in view without jumping).
    pub offset: usize,
    /// Apps retired by a sunset (lowercased): kept off the board even when the config lists them.
    retired: BTreeSet<String>,
}

impl Releases {
    /// Installs a new board; the selection follows the selected app. Returns whether anything the
    /// pane shows changed.
    pub fn set_board(&mut self, board: Board) -> bool {
        if same_shown(&self.board, &board) {
            // Keep timestamps such as fetched_at current without a redraw.
            discard(std::mem::replace(&mut self.board, board));
            return false;
        }
        let app = self.selected_app().map(str::to_string);
        discard(std::mem::replace(&mut self.board, board));
        self.names_stale = true;
        self.env = self.env.min(self.board.envs.len().saturating_sub(1));
        self.refilter(app.as_deref());
        true
    }

    /// Recomputes `visible`, keeping `keep` selected when it still matches.
    fn refilter(&mut self, keep: Option<&str>) {
        let needle = self.filter.to_lowercase();
        if needle.is_empty() && self.retired.is_empty() {
            self.visible = (0..self.board.rows.len()).collect();
        } else {
            if self.names_stale || self.names.len() != self.board.rows.len() {
                self.names = self
                    .board
                    .rows
                    .iter()
                    .map(|r| r.app.to_lowercase())
                    .collect();
                self.names_stale = false;
            }
            self.visible = self
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| !self.retired.contains(n.as_str()))
                .filter(|(_, n)| needle.is_empty() || n.contains(&needle))
                .map(|(i, _)| i)
                .collect();
        }
        self.selected = keep
            .and_then(|app| {
                self.visible
                    .iter()
                    .position(|&i| self.board.rows.get(i).is_some_and(|r| r.app == app))
            })
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    /// Takes retired apps off the board; returns whether the shown rows changed.
    pub fn retire<'a>(&mut self, apps: impl IntoIterator<Item = &'a str>) -> bool {
        let before = self.retired.len();
        self.retired.extend(apps.into_iter().map(str::to_lowercase));
        if self.retired.len() == before {
            return false;
        }
        let app = self.selected_app().map(str::to_string);
        self.refilter(app.as_deref());
        true
    }

    pub fn set_filter(&mut self, filter: String) {
        if filter == self.filter {
            return;
        }
        let app = self.selected_app().map(str::to_string);
        self.filter = filter;
        self.refilter(app.as_deref());
    }

    pub fn selected_app(&self) -> Option<&str> {
        let i = *self.visible.get(self.selected)?;
        self.board.rows.get(i).map(|r| r.app.as_str())
    }

    pub fn selected_env(&self) -> Option<&str> {
        self.board.envs.get(self.env).map(|e| e.name.as_str())
    }

    /// Moves the row selection by `delta`, clamped to the list.
    pub fn move_rows(&mut self, delta: isize) -> bool {
        let last = self.visible.len().saturating_sub(1);
        let next = self.selected.saturating_add_signed(delta).min(last);
        let changed = next != self.selected;
        self.selected = next;
        changed
    }

    pub fn to_row(&mut self, row: usize) -> bool {
        let next = row.min(self.visible.len().saturating_sub(1));
        let changed = next != self.selected;
        self.selected = next;
        changed
    }

    /// Moves the environment column, wrapping around.
    pub fn move_env(&mut self, delta: isize) -> bool {
        let n = self.board.envs.len();
        if n < 2 {
            return false;
        }
        self.env = (self.env as isize + delta).rem_euclid(n as isize) as usize;
        true
    }

    /// Scrolls so the selection is in a viewport of `height` rows; returns whether it scrolled.
    pub fn keep_visible(&mut self, height: usize) -> bool {
        let height = height.max(1);
        let max_offset = self.visible.len().saturating_sub(height);
        let mut offset = self.offset.min(max_offset);
        if self.selected < offset {
            offset = self.selected;
        } else if self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        let changed = offset != self.offset;
        self.offset = offset;
        changed
    }
}

/// Whether two boards look the same on screen (everything but fetch times).
/// Frees a replaced board off the UI task: at 10,000 apps it is ~100,000 allocations, milliseconds
/// a key would otherwise wait for. Without a runtime (unit tests) it is dropped here.
fn discard(board: Board) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if board.rows.len() >= 1000 => {
            rt.spawn_blocking(move || drop(board));
        }
        _ => drop(board),
    }
}

fn same_shown(a: &Board, b: &Board) -> bool {
    a.rows == b.rows
        && a.envs.len() == b.envs.len()
        && a.envs.iter().zip(&b.envs).all(|(x, y)| {
            x.name == y.name && x.loaded == y.loaded && x.error == y.error && {
                // The stale badge shows the data's age, so fetched_at matters only while stale.
                x.error.is_none() || x.fetched_at == y.fetched_at
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::board::BoardRow;

    fn board(apps: &[&str]) -> Board {
        Board {
            envs: Vec::new(),
            rows: apps
                .iter()
                .map(|a| BoardRow {
                    app: a.to_string(),
                    deployment: a.to_string(),
                    cells: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn retired_apps_leave_the_board_and_the_selection_moves() {
        let mut r = Releases::default();
        r.set_board(board(&["web", "api", "worker"]));
        r.selected = 2;
        assert_eq!(r.selected_app(), Some("worker"));
        assert!(r.retire(["Worker"]));
        assert_eq!(r.visible.len(), 2);
        assert_ne!(r.selected_app(), Some("worker"));
        assert!(!r.retire(["worker"]), "retiring twice changes nothing");
        // A new board keeps retired apps off.
        r.set_board(board(&["web", "api", "worker", "new"]));
        let shown: Vec<_> = r
            .visible
            .iter()
            .map(|&i| r.board.rows[i].app.as_str())
            .collect();
        assert_eq!(shown, vec!["web", "api", "new"]);
    }
}
