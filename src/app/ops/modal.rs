//! Keys and text while an operation modal is open: scrolling the preview, the confirmation
//! stages (reason, typed name, `y`), the patch menu, the tag list and the one-line fields.
use super::{Field, OpModal, PATCH_ITEMS, Stage};
use crate::action::Action;
use crate::app::App;
use crate::msg::{Command, InputEdit};
use crate::ops::{PatchChange, Request};

impl App {
    /// Keys while an operation modal is open.
    pub(in crate::app) fn ops_modal_action(&mut self, action: Action) -> Vec<Command> {
        use Action::*;
        match action {
            Suspend => return vec![Command::Suspend],
            Redraw => return vec![Command::Repaint],
            Quit => return vec![Command::Quit],
            Back => {
                self.ops.modal = None;
                self.dirty = true;
            }
            Open => return self.ops_enter(),
            Up | Down | PageUp | PageDown | Top | Bottom => self.ops_scroll(action),
            _ => {}
        }
        Vec::new()
    }

    fn ops_scroll(&mut self, action: Action) {
        let Some(modal) = &mut self.ops.modal else {
            return;
        };
        match modal {
            OpModal::Preview {
                preview, scroll, ..
            } => {
                let lines = preview.0.render_text(self.width).lines().count();
                let page = (self.height as usize / 2).max(1);
                let next = match action {
                    Action::Up => scroll.saturating_sub(1),
                    Action::Down => *scroll + 1,
                    Action::PageUp => scroll.saturating_sub(page),
                    Action::PageDown => *scroll + page,
                    Action::Top => 0,
                    _ => lines,
                }
                .min(lines.saturating_sub(1));
                if next != *scroll {
                    *scroll = next;
                    self.dirty = true;
                }
            }
            OpModal::Tags {
                tags: Some(Ok(tags)),
                cursor,
                ..
            } => {
                let last = tags.len().saturating_sub(1);
                let next = match action {
                    Action::Up => cursor.saturating_sub(1),
                    Action::Down => (*cursor + 1).min(last),
                    Action::PageUp => cursor.saturating_sub(10),
                    Action::PageDown => (*cursor + 10).min(last),
                    Action::Top => 0,
                    _ => last,
                };
                if next != *cursor {
                    *cursor = next;
                    self.dirty = true;
                }
            }
            OpModal::Patch { cursor, .. } => {
                let last = PATCH_ITEMS.len() - 1;
                let next = match action {
                    Action::Up => cursor.saturating_sub(1),
                    Action::Down => (*cursor + 1).min(last),
                    Action::Top | Action::PageUp => 0,
                    _ => last,
                };
                if next != *cursor {
                    *cursor = next;
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    /// Text typed while an operation modal is open.
    pub(in crate::app) fn ops_input(&mut self, edit: InputEdit) -> Vec<Command> {
        let Some(modal) = &mut self.ops.modal else {
            return Vec::new();
        };
        match modal {
            OpModal::Preview {
                stage,
                reason,
                name,
                error,
                ..
            } => {
                let field = match stage {
                    Stage::Reason => reason,
                    Stage::Name => name,
                    Stage::Confirm => {
                        return match edit {
                            InputEdit::Insert('y' | 'Y') => self.ops_enter(),
                            InputEdit::Insert('n' | 'N' | 'q') => {
                                self.ops.modal = None;
                                self.dirty = true;
                                Vec::new()
                            }
                            _ => Vec::new(),
                        };
                    }
                    Stage::Refused => return Vec::new(),
                };
                edit_text(field, edit);
                *error = None;
                self.dirty = true;
            }
            OpModal::Patch { .. } => {
                if let InputEdit::Insert(c @ '1'..='5') = edit {
                    let i = c as usize - '1' as usize;
                    if let Some(OpModal::Patch { cursor, .. }) = &mut self.ops.modal {
                        *cursor = i;
                    }
                    return self.ops_enter();
                }
            }
            OpModal::Input { text, error, .. } => {
                edit_text(text, edit);
                *error = None;
                self.dirty = true;
            }
            OpModal::Tags { app, env, .. } => {
                // Typing switches to entering a tag by hand, starting with what was typed.
                let mut text = String::new();
                edit_text(&mut text, edit);
                let field = Field::PatchImage {
                    app: app.clone(),
                    env: env.clone(),
                };
                self.ops.modal = Some(OpModal::Input {
                    field,
                    text,
                    error: None,
                });
                self.dirty = true;
            }
            OpModal::Details { run } => {
                let run = *run;
                if let InputEdit::Insert('r') = edit {
                    let suggested = self
                        .ops
                        .runs
                        .iter()
                        .find(|r| r.run == run)
                        .and_then(|r| r.progress.outcome.as_ref())
                        .and_then(|o| o.suggested_rollback.clone());
                    if let Some(req) = suggested {
                        return self.prepare_op(req, Some("suggested by verify".into()));
                    }
                }
            }
            OpModal::Failed { .. } | OpModal::Preparing { .. } => {}
        }
        Vec::new()
    }

    /// Enter in an operation modal.
    pub(super) fn ops_enter(&mut self) -> Vec<Command> {
        let Some(modal) = self.ops.modal.take() else {
            return Vec::new();
        };
        self.dirty = true;
        match modal {
            OpModal::Preparing { .. } => {
                self.ops.modal = Some(modal);
                Vec::new()
            }
            OpModal::Failed { .. } | OpModal::Details { .. } => Vec::new(),
            OpModal::Preview {
                preview,
                rule,
                scroll,
                stage,
                reason,
                name,
                ..
            } => {
                let p = &preview.0;
                let (next, error) = match stage {
                    Stage::Refused => return Vec::new(),
                    Stage::Reason if reason.trim().is_empty() => {
                        (Stage::Reason, Some("a reason is needed to override".into()))
                    }
                    Stage::Reason if p.confirm_name.is_some() => (Stage::Name, None),
                    Stage::Reason => (Stage::Confirm, None),
                    Stage::Name => match &p.confirm_name {
                        Some(want) if name.trim() != want.as_str() => (
                            Stage::Name,
                            Some(format!("type `{want}` exactly to confirm")),
                        ),
                        _ => return self.run_confirmed(preview, reason, name),
                    },
                    Stage::Confirm => return self.run_confirmed(preview, reason, name),
                };
                self.ops.modal = Some(OpModal::Preview {
                    preview,
                    rule,
                    scroll,
                    stage: next,
                    reason,
                    name,
                    error,
                });
                Vec::new()
            }
            OpModal::Patch { app, env, cursor } => {
                let change = match cursor {
                    0 => {
                        if let Some(repository) = self.registry_repository(&app) {
                            self.ops.modal = Some(OpModal::Tags {
                                app,
                                env,
                                repository: repository.clone(),
                                tags: None,
                                cursor: 0,
                            });
                            return vec![Command::ListTags { repository }];
                        }
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::PatchImage { app, env },
                            text: String::new(),
                            error: None,
                        });
                        return Vec::new();
                    }
                    2 => {
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::PatchReplicas { app, env },
                            text: String::new(),
                            error: None,
                        });
                        return Vec::new();
                    }
                    1 => PatchChange::Restart,
                    3 => PatchChange::Pause,
                    _ => PatchChange::Resume,
                };
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            OpModal::Input { field, text, .. } => self.submit_field(field, text),
            OpModal::Tags {
                app,
                env,
                tags: Some(Ok(tags)),
                cursor,
                ..
            } if cursor < tags.len() => {
                let change = PatchChange::Image(tags[cursor].clone());
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            // Loading, failed or empty: Enter types a tag instead.
            OpModal::Tags { app, env, .. } => {
                self.ops.modal = Some(OpModal::Input {
                    field: Field::PatchImage { app, env },
                    text: String::new(),
                    error: None,
                });
                Vec::new()
            }
        }
    }

    /// The app's registry repository when a registry is configured (the tag list comes from it).
    fn registry_repository(&self, app: &str) -> Option<String> {
        self.config.registry.as_ref()?;
        self.config
            .apps
            .iter()
            .find(|a| a.name == app)
            .and_then(|a| a.repository.clone())
    }

    /// The tags for the open tag list (newest-looking last in the registry: shown first).
    pub(in crate::app) fn op_tags(
        &mut self,
        repository: String,
        result: Result<Vec<String>, String>,
    ) -> Vec<Command> {
        if let Some(OpModal::Tags {
            repository: r,
            tags,
            ..
        }) = &mut self.ops.modal
            && *r == repository
        {
            *tags = Some(result.map(|mut t| {
                t.reverse();
                t
            }));
            self.dirty = true;
        }
        Vec::new()
    }

    fn submit_field(&mut self, field: Field, text: String) -> Vec<Command> {
        let value = text.trim().to_string();
        let retry = |app: &mut App, field: Field, text: String, error: &str| {
            app.ops.modal = Some(OpModal::Input {
                field,
                text,
                error: Some(error.into()),
            });
            Vec::new()
        };
        match field {
            Field::PatchImage { app, env } => {
                if value.is_empty() {
                    return retry(self, Field::PatchImage { app, env }, text, "type a tag");
                }
                let change = PatchChange::Image(value);
                self.prepare_op(Request::Patch { app, env, change }, None)
            }
            Field::PatchReplicas { app, env } => match value.parse::<i32>() {
                Ok(n) if n >= 0 => {
                    let change = PatchChange::Replicas(n);
                    self.prepare_op(Request::Patch { app, env, change }, None)
                }
                _ => retry(
                    self,
                    Field::PatchReplicas { app, env },
                    text,
                    "a number of replicas (0 or more)",
                ),
            },
            Field::SilenceDuration { app, alert } => {
                match crate::ops::request::parse_duration(&value) {
                    Some(duration_secs) => {
                        self.ops.modal = Some(OpModal::Input {
                            field: Field::SilenceComment {
                                app,
                                alert,
                                duration_secs,
                            },
                            text: String::new(),
                            error: None,
                        });
                        Vec::new()
                    }
                    None => retry(
                        self,
                        Field::SilenceDuration { app, alert },
                        text,
                        "a duration such as 30m, 2h or 1d",
                    ),
                }
            }
            Field::SilenceComment {
                app,
                alert,
                duration_secs,
            } => {
                if value.is_empty() {
                    let field = Field::SilenceComment {
                        app,
                        alert,
                        duration_secs,
                    };
                    return retry(self, field, text, "a comment is required");
                }
                let req = Request::Silence {
                    app,
                    alert,
                    duration_secs,
                    comment: value,
                };
                self.prepare_op(req, None)
            }
        }
    }
}

fn edit_text(text: &mut String, edit: InputEdit) {
    match edit {
        InputEdit::Insert(c) if !c.is_control() && text.chars().count() < 200 => text.push(c),
        InputEdit::Insert(_) => {}
        InputEdit::Erase => {
            text.pop();
        }
    }
}
