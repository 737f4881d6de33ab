//! The HTTP pollers behind the overview panes (Prometheus, Alertmanager, CI, registry), started by
//! the UI loop with its channel, each behind its config section, and the Commands that steer them.
//! A poller that cannot start becomes a failure message: the pane goes stale, the console goes on.
use crate::backend::alertmanager::AlertmanagerClient;
use crate::backend::monitor::{
    AlertsHandle, MetricsHandle, MetricsPollSettings, MonitorEvent, spawn_alerts_poller_with,
    spawn_metrics_poller_with,
};
use crate::backend::pipelines::{
    PipelineEvent, PipelinesHandle, RegistryEvent, RegistryHandle,
    spawn_pipelines_poller_from_config, spawn_registry_poller_from_config,
};
use crate::backend::prometheus::PrometheusClient;
use crate::clock::Clock;
use crate::config::Config;
use crate::msg::{Command, Msg};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Handles of the running pollers; `None` for a source that is not configured or failed to start.
#[derive(Debug, Default)]
pub struct Pollers {
    metrics: Option<MetricsHandle>,
    alerts: Option<AlertsHandle>,
    pipelines: Option<PipelinesHandle>,
    registry: Option<RegistryHandle>,
    /// Why a configured source did not start: repeated for each new selection, so the pane keeps
    /// saying why instead of waiting for data.
    metrics_error: Option<String>,
    ci_error: Option<String>,
}

/// Forwards a poller's own event type into the UI channel.
fn forward<E: Send + 'static>(tx: mpsc::Sender<Msg>, wrap: fn(E) -> Msg) -> mpsc::Sender<E> {
    let (etx, mut erx) = mpsc::channel::<E>(64);
    tokio::spawn(async move {
        while let Some(e) = erx.recv().await {
            if tx.send(wrap(e)).await.is_err() {
                return;
            }
        }
    });
    etx
}

impl Pollers {
    /// Starts a poller per configured source. Returns the messages for sources that could not
    /// start (bad URL, unreadable token): the caller feeds them to `App::update`.
    pub fn spawn(
        config: &Config,
        clock: &Clock,
        tx: &mpsc::Sender<Msg>,
        cancel: &CancellationToken,
    ) -> (Pollers, Vec<Msg>) {
        let mut p = Pollers::default();
        let mut failures = Vec::new();
        if let Some(cfg) = &config.prometheus {
            match PrometheusClient::new(cfg) {
                Ok(client) => {
                    let mut settings = MetricsPollSettings::from_config(cfg);
                    settings.clock = clock.clone();
                    p.metrics = Some(spawn_metrics_poller_with(
                        client,
                        settings,
                        tx.clone(),
                        cancel.child_token(),
                    ));
                }
                // Generation 0 is the App's before any selection: the failure is shown.
                Err(e) => {
                    p.metrics_error = Some(e.to_string());
                    failures.push(Msg::Monitor(MonitorEvent::MetricsFailed {
                        app: String::new(),
                        env: String::new(),
                        generation: 0,
                        error: e.to_string(),
                    }));
                }
            }
        }
        if let Some(cfg) = &config.alertmanager {
            match AlertmanagerClient::new(cfg) {
                Ok(client) => {
                    p.alerts = Some(spawn_alerts_poller_with(
                        client,
                        Duration::from_secs(cfg.interval_secs.max(1)),
                        cfg.filter.clone(),
                        clock.clone(),
                        tx.clone(),
                        cancel.child_token(),
                    ));
                }
                Err(e) => failures.push(Msg::Monitor(MonitorEvent::AlertsFailed {
                    error: e.to_string(),
                })),
            }
        }
        let ci_tx = forward(tx.clone(), Msg::Pipelines as fn(PipelineEvent) -> Msg);
        match spawn_pipelines_poller_from_config(config, ci_tx, cancel.child_token()) {
            Ok(h) => p.pipelines = h,
            Err(e) => p.ci_error = Some(e.to_string()),
        }
        let reg_tx = forward(tx.clone(), Msg::Registry as fn(RegistryEvent) -> Msg);
        match spawn_registry_poller_from_config(config, reg_tx, cancel.child_token()) {
            Ok(h) => p.registry = h,
            Err(e) => failures.push(Msg::Registry(RegistryEvent::Failed {
                error: e.to_string(),
            })),
        }
        (p, failures)
    }

    /// Runs one of the overview's Commands; returns the fact to feed back (the metrics
    /// generation), or the command itself when it is not one of the pollers'.
    pub fn run(&self, cmd: Command) -> Result<Option<Msg>, Command> {
        match cmd {
            Command::SelectMetrics {
                app,
                env,
                namespace,
            } => Ok(match (&self.metrics, &self.metrics_error) {
                (Some(h), _) => Some(Msg::MetricsSelected {
                    generation: h.select(&app, &env, &namespace),
                }),
                (None, Some(error)) => Some(Msg::Monitor(MonitorEvent::MetricsFailed {
                    app,
                    env,
                    generation: 0,
                    error: error.clone(),
                })),
                (None, None) => None,
            }),
            Command::MetricsVisible(visible) => {
                if let Some(h) = &self.metrics {
                    h.set_visible(visible);
                }
                Ok(None)
            }
            Command::SelectPipelines { app } => {
                if let Some(h) = &self.pipelines {
                    h.select(&app);
                }
                Ok(self.ci_error.as_ref().map(|error| {
                    Msg::Pipelines(PipelineEvent::Failed {
                        app,
                        error: error.clone(),
                    })
                }))
            }
            Command::WatchCiApps(apps) => {
                if let Some(h) = &self.pipelines {
                    h.watch_apps(apps);
                }
                Ok(None)
            }
            Command::WatchTags(pairs) => {
                if let Some(h) = &self.registry {
                    h.watch(pairs);
                }
                Ok(None)
            }
            Command::OpenRun(run) => {
                if let Some(h) = &self.pipelines {
                    h.open(run);
                }
                Ok(None)
            }
            Command::CloseRun => {
                if let Some(h) = &self.pipelines {
                    h.close();
                }
                Ok(None)
            }
            Command::RefreshSources => {
                if let Some(h) = &self.metrics {
                    h.refresh();
                }
                if let Some(h) = &self.alerts {
                    h.refresh();
                }
                if let Some(h) = &self.pipelines {
                    h.refresh();
                }
                Ok(None)
            }
            other => Err(other),
        }
    }
}
