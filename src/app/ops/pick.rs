//! `r` in the deployment detail with a history row picked: roll back to that revision (kubectl's
//! `rollout undo --to-revision N`) through the same preview as the board's `r`; the revision
//! running now is refused up front with kubectl's "skipped rollback" words.
use crate::app::{App, Pane};
use crate::msg::Command;
use crate::ops::Request;

impl App {
    /// The rollback for the picked revision, or `None` when the detail has no revision picked
    /// (then `r` keeps its board meaning: the previous revision).
    pub(in crate::app) fn rollback_picked(&mut self) -> Option<Vec<Command>> {
        if self.focus != Pane::Detail {
            return None;
        }
        let d = self.detail.as_ref()?;
        let rs = d.selected_revision()?;
        let revision = rs.revision;
        let images = rs
            .containers
            .iter()
            .map(|c| format!("{} {}", c.name, crate::model::image_label(&c.image)))
            .collect::<Vec<_>>()
            .join(", ");
        if d.current_revision() == Some(revision) {
            let note = crate::ops::rollback::skipped_note(revision);
            let msg = format!("{note}: revision {revision} is what runs now; pick an older one");
            self.notify(msg);
            return Some(Vec::new());
        }
        let request = Request::Rollback {
            app: d.app.clone(),
            env: d.env.clone(),
            to_revision: Some(revision),
        };
        let rule = (!images.is_empty()).then(|| format!("picked in the history: {images}"));
        Some(self.prepare_op(request, rule))
    }
}
