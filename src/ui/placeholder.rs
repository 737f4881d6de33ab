//! The overview panes in the console's frame: Pipelines (or the open run), Metrics (or the full
//! chart) and Alerts, drawn by their renderers inside a pane block titled with the selection; and
//! the one-line summaries the stacked layout shows for them. Operations is a hint until wired.
use crate::app::{App, Pane};
use crate::text::cell;
use crate::ui::theme::ColorMode;
use crate::ui::{alerts, metrics, pane_block, pipelines};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The one-line hint a pane without a source shows.
pub fn hint(pane: Pane) -> &'static str {
    match pane {
        Pane::Pipelines => "no CI source configured",
        Pane::Metrics => "no Prometheus source configured",
        Pane::Alerts => "no Alertmanager source configured",
        Pane::Operations => "no operations (mutations arrive with the mutation engine)",
        _ => "",
    }
}

/// The collapsed line of an overview pane in the stacked layout.
pub fn summary(app: &App, pane: Pane) -> String {
    let o = &app.overview;
    let sel = app.overview_app();
    match pane {
        Pane::Pipelines if o.ci_configured => {
            let Some(a) = sel else { return String::new() };
            match o.runs.get(a).and_then(|f| f.value.as_ref()) {
                Some(ps) => {
                    let parts: Vec<String> = ps
                        .iter()
                        .map(|p| format!("{} {}", cell(&p.branch, 12), p.status.symbol()))
                        .collect();
                    format!("{} {}", cell(a, 20), parts.join("  "))
                }
                None => format!("{} …", cell(a, 20)),
            }
        }
        Pane::Metrics if o.metrics.is_some() => match app.overview_selection() {
            Some((a, e)) => format!("{} @ {}", cell(a, 20), cell(e, 16)),
            _ => String::new(),
        },
        Pane::Alerts => match o.alerts.as_ref().and_then(|f| f.value.as_ref()) {
            Some(snap) => {
                let firing = snap.alerts.iter().filter(|a| !a.is_suppressed()).count();
                format!("{firing} firing · {} silences", snap.silences.len())
            }
            None if o.alerts.is_some() => "…".to_string(),
            None => hint(pane).to_string(),
        },
        p => hint(p).to_string(),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, pane: Pane) {
    let theme = &app.theme;
    let colors = theme.mode != ColorMode::None;
    let o = &app.overview;
    let now = app.clock.now();
    let (app_name, env_name) = app.overview_selection().unwrap_or_default();
    let (app_name, env_name) = (app_name.to_string(), env_name.to_string());
    let subject = match pane {
        Pane::Pipelines if !app_name.is_empty() => {
            let run = o
                .run
                .as_ref()
                .map(|(run, _)| format!("› {} #{} ", cell(&run.branch, 16), cell(&run.id, 12)))
                .unwrap_or_default();
            format!("{} {run}", cell(&app_name, 30))
        }
        Pane::Metrics if !app_name.is_empty() => {
            format!("{} @ {} ", cell(&app_name, 30), cell(&env_name, 20))
        }
        Pane::Alerts if !app_name.is_empty() => format!("{} ", cell(&app_name, 30)),
        _ => String::new(),
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", pane.title()), theme.title()),
        Span::raw(subject),
    ]);
    let block = pane_block(theme, title, app.focus == pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let focused = app.focus == pane;
    let configured = match pane {
        Pane::Pipelines => o.ci_configured,
        Pane::Metrics => o.metrics.is_some(),
        Pane::Alerts => o.alerts.is_some(),
        _ => false,
    };
    if !configured {
        // A missing source is one dim line, never an error (PRODUCT.md §2).
        frame.render_widget(Paragraph::new(Line::styled(hint(pane), theme.dim())), inner);
        return;
    }
    match pane {
        Pane::Pipelines => {
            if let Some((_, f)) = &o.run {
                let data = pipelines::DetailData {
                    detail: f.value.as_deref(),
                    fetched_at: f.fetched_at,
                    error: f.error.as_deref(),
                    now,
                    scroll: o.run_scroll,
                };
                pipelines::render_detail(&data, inner, frame.buffer_mut(), colors);
                return;
            }
            let branches = crate::app::Overview::branches(&app.config);
            let fresh = o.runs.get(&app_name);
            let data = pipelines::PaneData {
                app: &app_name,
                branches: &branches,
                pipelines: fresh.and_then(|f| f.value.as_deref()),
                fetched_at: fresh.and_then(|f| f.fetched_at),
                error: fresh.and_then(|f| f.error.as_deref()),
                disabled: !o.ci_configured,
                selected: focused.then_some(o.branch_row),
                now,
            };
            pipelines::render_pane(&data, inner, frame.buffer_mut(), colors);
        }
        Pane::Metrics => {
            let data = metrics::MetricsPaneData {
                app: app_name,
                env: env_name,
                metrics: o.metrics.clone(),
                now,
                rollout_started: app.rollout_started(),
                selected: focused.then_some(o.metrics_row),
            };
            if o.chart_open
                && let Some(snap) = o.metrics.as_ref().and_then(|f| f.value.as_ref())
                && let Some(chart) =
                    metrics::ChartData::from_snapshot(snap, o.metrics_row, data.rollout_started)
            {
                metrics::render_metric_chart(frame, inner, &chart, colors);
                return;
            }
            metrics::render_metrics(frame, inner, &data, colors);
        }
        Pane::Alerts => {
            let data = alerts::AlertsPaneData {
                alerts: o.alerts.clone(),
                app: (!app_name.is_empty()).then_some(app_name),
                now,
                selected: focused.then_some(o.alert_row),
            };
            alerts::render_alerts(frame, inner, &data, colors);
        }
        _ => {}
    }
}
