//! CI and registry facts into the model, and the keys of the overview panes: ↑↓ inside the
//! focused pane, `Enter` opens the run detail (Pipelines) or the full chart (Metrics), `Esc` back.
use super::{App, Pane};
use crate::action::Action;
use crate::backend::pipelines::{PipelineEvent, RegistryEvent, TagState};
use crate::backend::registry::ImageRef;
use crate::model::SourceId;
use crate::model::pipeline::StageStatus;
use crate::msg::Command;
use std::collections::HashMap;

/// (repository, tag, digest) of an image that names both a tag and a digest; only such images
/// can show a moved tag (the console does not watch pods' imageID for the board).
pub fn image_key(image: &str) -> Option<(String, String, String)> {
    let r = ImageRef::parse(image)?;
    Some((r.repository, r.tag?, r.digest?))
}

impl App {
    pub(super) fn pipelines(&mut self, event: PipelineEvent) -> Vec<Command> {
        let now = self.clock.now();
        let selected = self.overview_app().map(str::to_string);
        match event {
            PipelineEvent::Runs { app, pipelines } => {
                let failed: std::collections::BTreeSet<String> = pipelines
                    .iter()
                    .filter(|p| p.status == StageStatus::Failed)
                    .map(|p| p.branch.clone())
                    .collect();
                let marks = &mut self.overview.markers.ci_failed;
                let before = marks.get(&app).cloned().unwrap_or_default();
                if failed != before {
                    if failed.is_empty() {
                        marks.remove(&app);
                    } else {
                        marks.insert(app.clone(), failed);
                    }
                    self.dirty = true;
                }
                let shown = selected.as_deref() == Some(app.as_str());
                let since = self.overview.runs.get(&app).and_then(|f| f.fetched_at);
                self.overview
                    .runs
                    .entry(app)
                    .or_default()
                    .set(pipelines, now);
                if self.sources.live(SourceId::Ci, "runs", since) || shown {
                    self.dirty = true;
                }
            }
            PipelineEvent::NoPipeline { app, error } => {
                tracing::debug!(%app, %error, "no pipeline");
                let f = self.overview.runs.entry(app.clone()).or_default();
                if f.value.as_deref().is_none_or(|r| !r.is_empty()) || f.error.is_some() {
                    f.set(Vec::new().into(), now);
                    self.overview.markers.ci_failed.remove(&app);
                    self.dirty = true;
                }
            }
            PipelineEvent::Failed { app, error } => {
                let f = self.overview.runs.entry(app.clone()).or_default();
                f.fail(error.clone());
                let since = f.fetched_at;
                if self.sources.fail(SourceId::Ci, "runs", &error, since)
                    || selected.as_deref() == Some(app.as_str())
                {
                    self.dirty = true;
                }
            }
            PipelineEvent::Detail { run, detail } => {
                if let Some((open, f)) = self.overview.run.as_mut()
                    && *open == run
                {
                    f.set(detail, now);
                    self.dirty = true;
                }
            }
            PipelineEvent::DetailFailed { run, error } => {
                if let Some((open, f)) = self.overview.run.as_mut()
                    && *open == run
                {
                    f.fail(error);
                    self.dirty = true;
                }
            }
        }
        Vec::new()
    }

    pub(super) fn registry(&mut self, event: RegistryEvent) -> Vec<Command> {
        let now = self.clock.now();
        let Some(tags) = self.overview.tags.as_mut() else {
            return Vec::new();
        };
        match event {
            RegistryEvent::Tags(map) => {
                let mut index: HashMap<String, HashMap<String, String>> = HashMap::new();
                for ((repo, tag), state) in map.iter() {
                    if let TagState::Digest(d) = state {
                        index
                            .entry(repo.clone())
                            .or_default()
                            .insert(tag.clone(), d.clone());
                    }
                }
                tags.set(map, now);
                self.sources.live(SourceId::Registry, "tags", Some(now));
                if index != self.overview.markers.tag_digests {
                    self.overview.markers.tag_digests = index;
                }
                self.dirty = true;
            }
            RegistryEvent::Failed { error } => {
                tags.fail(error.clone());
                let since = tags.fetched_at;
                if self.sources.fail(SourceId::Registry, "tags", &error, since) {
                    self.dirty = true;
                }
            }
        }
        Vec::new()
    }

    /// ↑↓ and friends inside the Pipelines, Metrics or Alerts pane.
    pub(super) fn navigate_overview(&mut self, action: Action) {
        if self.focus == Pane::Pipelines && self.overview.run.is_some() {
            let s = self.overview.run_scroll;
            let last = self.run_lines().saturating_sub(1);
            let next = match action {
                Action::Up => s.saturating_sub(1),
                Action::Down => s.saturating_add(1),
                Action::PageUp => s.saturating_sub(10),
                Action::PageDown => s.saturating_add(10),
                Action::Top => 0,
                _ => last,
            }
            .min(last);
            if next != s {
                self.overview.run_scroll = next;
                self.dirty = true;
            }
            return;
        }
        let (cursor, len) = match self.focus {
            Pane::Pipelines if self.overview.run.is_none() => (
                &mut self.overview.branch_row,
                super::monitor::Overview::branches(&self.config).len(),
            ),
            Pane::Metrics if !self.overview.chart_open => {
                let n = self
                    .overview
                    .metrics
                    .as_ref()
                    .and_then(|f| f.value.as_ref())
                    .map_or(0, |s| s.series.len());
                (&mut self.overview.metrics_row, n)
            }
            Pane::Alerts => {
                let n = self.visible_alert_count();
                (&mut self.overview.alert_row, n)
            }
            _ => return,
        };
        let last = len.saturating_sub(1);
        let next = match action {
            Action::Up => cursor.saturating_sub(1),
            Action::Down => *cursor + 1,
            Action::PageUp => cursor.saturating_sub(10),
            Action::PageDown => *cursor + 10,
            Action::Top => 0,
            _ => last,
        }
        .min(last);
        if next != *cursor {
            *cursor = next;
            self.dirty = true;
        }
    }

    /// How many lines the open run's detail has (bounds its scrolling).
    fn run_lines(&self) -> u16 {
        let Some((_, f)) = &self.overview.run else {
            return 0;
        };
        let d = crate::ui::pipelines::DetailData {
            detail: f.value.as_deref(),
            fetched_at: f.fetched_at,
            error: f.error.as_deref(),
            now: self.clock.now(),
            scroll: 0,
        };
        let n = crate::ui::pipelines::detail_lines(&d, usize::from(self.width), false).len();
        u16::try_from(n).unwrap_or(u16::MAX)
    }

    /// `Enter` in an overview pane: the selected branch's run, or the selected query's chart.
    pub(super) fn open_overview(&mut self) -> Vec<Command> {
        match self.focus {
            Pane::Pipelines => {
                let Some(app) = self.overview_app() else {
                    return Vec::new();
                };
                let branches = super::monitor::Overview::branches(&self.config);
                let Some(branch) = branches.get(self.overview.branch_row) else {
                    return Vec::new();
                };
                let run = self
                    .overview
                    .runs
                    .get(app)
                    .and_then(|f| f.value.as_ref())
                    .and_then(|ps| ps.iter().find(|p| &p.branch == branch))
                    .map(|p| p.run_ref());
                match run {
                    Some(run) => {
                        self.overview.run = Some((run.clone(), Default::default()));
                        self.overview.run_scroll = 0;
                        self.dirty = true;
                        vec![Command::OpenRun(run)]
                    }
                    None => {
                        let msg = format!("no run of {app} on {branch}");
                        self.notify(msg);
                        Vec::new()
                    }
                }
            }
            Pane::Metrics => {
                let has = self
                    .overview
                    .metrics
                    .as_ref()
                    .and_then(|f| f.value.as_ref())
                    .is_some_and(|s| s.series.len() > self.overview.metrics_row);
                if has && !self.overview.chart_open {
                    self.overview.chart_open = true;
                    self.dirty = true;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// `Esc` in an overview pane: close the run detail or the chart. `None` when nothing was open.
    pub(super) fn overview_back(&mut self) -> Option<Vec<Command>> {
        match self.focus {
            Pane::Pipelines if self.overview.run.is_some() => {
                self.overview.run = None;
                self.dirty = true;
                Some(vec![Command::CloseRun])
            }
            Pane::Metrics if self.overview.chart_open => {
                self.overview.chart_open = false;
                self.dirty = true;
                Some(Vec::new())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_key;

    #[test]
    fn only_images_with_tag_and_digest_have_a_key() {
        assert_eq!(
            image_key("registry.local:5000/shop/web:1.4@sha256:ab"),
            Some(("shop/web".into(), "1.4".into(), "sha256:ab".into()))
        );
        assert_eq!(image_key("registry.local:5000/shop/web:1.4"), None);
        assert_eq!(image_key("shop/web@sha256:ab"), None);
    }
}
