//! Pollers for the Metrics and Alerts panes: they own the Prometheus and Alertmanager clients, tag
//! metrics requests with the selection's generation, drop stale replies, skip unchanged results.
//!
//! Wiring: `spawn_metrics_poller(&cfg.prometheus, tx, token)` returns a `MetricsHandle`; call
//! `select(app, env, namespace)` when the selection changes (keep the returned generation) and
//! `set_visible(false)` while the pane is hidden. `MonitorEvent::Metrics` whose snapshot generation
//! is not the current one is stale; the others go into `Fresh::set`, `*Failed` into `Fresh::fail`.
//! `spawn_alerts_poller` works the same without a selection; `AlertsHandle::refresh` after a
//! silence is created or expired.
use crate::backend::alertmanager::{AlertQuery, AlertmanagerClient, AlertmanagerConfig, AmError};
use crate::backend::prometheus::{
    PromError, PrometheusClient, PrometheusConfig, QueryData, QueryTemplate, range_step,
    render_template,
};
use crate::clock::Clock;
use crate::model::alerts::AlertsSnapshot;
use crate::model::metrics::{MetricSeries, MetricsSnapshot};
use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What the pollers tell the UI. The integrator wraps it in `Msg` (`impl From<MonitorEvent> for Msg`).
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// Every query's series for the selection of `generation`.
    Metrics {
        snapshot: Arc<MetricsSnapshot>,
        at: Timestamp,
    },
    /// Prometheus could not be asked (timeout, unreachable, proxy error) for this selection.
    MetricsFailed {
        app: String,
        env: String,
        generation: u64,
        error: String,
    },
    Alerts {
        snapshot: Arc<AlertsSnapshot>,
        at: Timestamp,
    },
    AlertsFailed {
        error: String,
    },
}

/// What the Metrics pane shows: one app in one environment (namespace already expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSelection {
    pub app: String,
    pub env: String,
    pub namespace: String,
}

/// Poll settings; `from_config` fills them from `[prometheus]`.
#[derive(Debug, Clone)]
pub struct MetricsPollSettings {
    pub interval: Duration,
    pub window_secs: u64,
    pub queries: Vec<(String, QueryTemplate)>,
    /// Where "now" comes from (the demo's or a test's clock).
    pub clock: Clock,
}

impl MetricsPollSettings {
    pub fn from_config(cfg: &PrometheusConfig) -> Self {
        Self {
            interval: Duration::from_secs(cfg.interval_secs.max(1)),
            window_secs: cfg.window_secs.max(60),
            queries: cfg.effective_queries(),
            clock: Clock::System,
        }
    }
}

/// Steers a running metrics poller. The poller stops when its token is cancelled or when every
/// clone of its handle is dropped.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    selection: watch::Sender<Option<(MetricsSelection, u64)>>,
    generation: Arc<AtomicU64>,
    refresh: Arc<Notify>,
    visible: Arc<AtomicBool>,
}

impl MetricsHandle {
    /// Switches the pane to another app or environment; replies for older selections are dropped.
    /// Returns the new generation, which the UI keeps to recognise current snapshots.
    pub fn select(&self, app: &str, env: &str, namespace: &str) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let sel = MetricsSelection {
            app: app.into(),
            env: env.into(),
            namespace: namespace.into(),
        };
        let _ = self.selection.send(Some((sel, generation)));
        generation
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Polls now instead of at the next interval.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    /// A hidden pane asks nothing (0 queries for hidden panels); showing it again polls at once.
    pub fn set_visible(&self, visible: bool) {
        let was = self.visible.swap(visible, Ordering::SeqCst);
        if visible && !was {
            self.refresh.notify_one();
        }
    }
}

pub fn spawn_metrics_poller<M>(
    cfg: &PrometheusConfig,
    tx: mpsc::Sender<M>,
    cancel: CancellationToken,
) -> Result<MetricsHandle, PromError>
where
    M: From<MonitorEvent> + Send + 'static,
{
    let client = PrometheusClient::new(cfg)?;
    Ok(spawn_metrics_poller_with(
        client,
        MetricsPollSettings::from_config(cfg),
        tx,
        cancel,
    ))
}

pub fn spawn_metrics_poller_with<M>(
    client: PrometheusClient,
    settings: MetricsPollSettings,
    tx: mpsc::Sender<M>,
    cancel: CancellationToken,
) -> MetricsHandle
where
    M: From<MonitorEvent> + Send + 'static,
{
    let (sel_tx, mut sel_rx) = watch::channel(None::<(MetricsSelection, u64)>);
    let generation = Arc::new(AtomicU64::new(0));
    let refresh = Arc::new(Notify::new());
    let visible = Arc::new(AtomicBool::new(true));
    let handle = MetricsHandle {
        selection: sel_tx,
        generation: generation.clone(),
        refresh: refresh.clone(),
        visible: visible.clone(),
    };
    tokio::spawn(async move {
        let mut last: Option<(u64, Vec<MetricSeries>)> = None;
        let mut last_error: Option<(u64, String)> = None;
        let mut tick = tokio::time::interval(settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Wait for a reason to poll.
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = sel_rx.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
                _ = refresh.notified() => {}
            }
            let Some((sel, generation_at_start)) = sel_rx.borrow_and_update().clone() else {
                continue;
            };
            if !visible.load(Ordering::SeqCst) {
                continue;
            }
            // A new selection while fetching abandons this fetch (the requests are dropped).
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = sel_rx.changed() => {
                    refresh.notify_one();
                    continue;
                }
                r = fetch(&client, &settings, &sel, generation_at_start) => r,
            };
            if generation.load(Ordering::SeqCst) != generation_at_start {
                continue; // stale reply
            }
            let event = match result {
                Ok(snapshot) => {
                    last_error = None;
                    if last
                        .as_ref()
                        .is_some_and(|(g, s)| *g == generation_at_start && *s == snapshot.series)
                    {
                        continue;
                    }
                    last = Some((generation_at_start, snapshot.series.clone()));
                    MonitorEvent::Metrics {
                        snapshot: Arc::new(snapshot),
                        at: settings.clock.now(),
                    }
                }
                Err(e) => {
                    let error = e.to_string();
                    if last_error.as_ref() == Some(&(generation_at_start, error.clone())) {
                        continue;
                    }
                    last_error = Some((generation_at_start, error.clone()));
                    last = None;
                    MonitorEvent::MetricsFailed {
                        app: sel.app.clone(),
                        env: sel.env.clone(),
                        generation: generation_at_start,
                        error,
                    }
                }
            };
            if tx.send(M::from(event)).await.is_err() {
                return;
            }
        }
    });
    handle
}

/// One poll: every query over the window, concurrently. A transport failure fails the whole poll
/// (the source is down); a query Prometheus rejects only marks its own row.
pub async fn fetch(
    client: &PrometheusClient,
    settings: &MetricsPollSettings,
    sel: &MetricsSelection,
    generation: u64,
) -> Result<MetricsSnapshot, PromError> {
    let window = settings.window_secs as f64;
    let step = range_step(window, None);
    // Aligned to the step, so two polls within one step ask the same question.
    let now = settings.clock.now().as_millisecond() as f64 / 1000.0;
    let end = (now / step).floor() * step;
    let start = end - window;
    let futures = settings.queries.iter().map(|(key, q)| {
        let query = render_template(&q.query, &sel.app, &sel.namespace, &sel.env);
        async move {
            let r = client.query_range(&query, start, end, step).await;
            (key, q, r)
        }
    });
    let mut series = Vec::new();
    for (key, q, r) in futures::future::join_all(futures).await {
        let (points, error) = match r {
            Ok(res) => (first_series(res.data), None),
            Err(e @ (PromError::BadData(_) | PromError::Api { .. } | PromError::Decode(_))) => {
                (Vec::new(), Some(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        series.push(MetricSeries {
            key: key.clone(),
            label: q.label.clone(),
            unit: q.unit,
            points,
            error,
        });
    }
    Ok(MetricsSnapshot {
        app: sel.app.clone(),
        env: sel.env.clone(),
        namespace: sel.namespace.clone(),
        generation,
        window_secs: settings.window_secs,
        step_secs: step,
        end,
        series,
    })
}

/// The pane draws one line per query: the first series (queries are meant to aggregate to one).
fn first_series(d: QueryData) -> Vec<(f64, f64)> {
    match d {
        QueryData::Matrix(mut m) => {
            m.sort_by(|a, b| a.metric.cmp(&b.metric));
            m.into_iter().next().map(|s| s.values).unwrap_or_default()
        }
        QueryData::Vector(v) => v.first().map(|s| vec![(s.t, s.v)]).unwrap_or_default(),
        QueryData::Scalar { t, v } => vec![(t, v)],
        QueryData::String { .. } => Vec::new(),
    }
}

/// Steers a running alerts poller.
#[derive(Debug, Clone)]
pub struct AlertsHandle {
    refresh: Arc<Notify>,
}

impl AlertsHandle {
    /// Polls now (after creating or expiring a silence).
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }
}

pub fn spawn_alerts_poller<M>(
    cfg: &AlertmanagerConfig,
    tx: mpsc::Sender<M>,
    cancel: CancellationToken,
) -> Result<AlertsHandle, AmError>
where
    M: From<MonitorEvent> + Send + 'static,
{
    let client = AlertmanagerClient::new(cfg)?;
    Ok(spawn_alerts_poller_with(
        client,
        Duration::from_secs(cfg.interval_secs.max(1)),
        cfg.filter.clone(),
        Clock::System,
        tx,
        cancel,
    ))
}

pub fn spawn_alerts_poller_with<M>(
    client: AlertmanagerClient,
    interval: Duration,
    filter: Vec<String>,
    clock: Clock,
    tx: mpsc::Sender<M>,
    cancel: CancellationToken,
) -> AlertsHandle
where
    M: From<MonitorEvent> + Send + 'static,
{
    let refresh = Arc::new(Notify::new());
    let handle = AlertsHandle {
        refresh: refresh.clone(),
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<AlertsSnapshot> = None;
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
                _ = refresh.notified() => {}
            }
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = fetch_alerts(&client, &filter) => r,
            };
            let event = match result {
                Ok(snapshot) => {
                    last_error = None;
                    let key = comparable(&snapshot);
                    if last.as_ref() == Some(&key) {
                        continue;
                    }
                    last = Some(key);
                    MonitorEvent::Alerts {
                        snapshot: Arc::new(snapshot),
                        at: clock.now(),
                    }
                }
                Err(e) => {
                    let error = e.to_string();
                    if last_error.as_deref() == Some(error.as_str()) {
                        continue;
                    }
                    last_error = Some(error.clone());
                    last = None;
                    MonitorEvent::AlertsFailed { error }
                }
            };
            if tx.send(M::from(event)).await.is_err() {
                return;
            }
        }
    });
    handle
}

/// Alerts and the silences still in force (active or pending).
pub async fn fetch_alerts(
    client: &AlertmanagerClient,
    filter: &[String],
) -> Result<AlertsSnapshot, AmError> {
    let q = AlertQuery {
        filter: filter.to_vec(),
        ..Default::default()
    };
    let (alerts, silences) = futures::future::join(client.alerts(&q), client.silences(&[])).await;
    Ok(AlertsSnapshot::new(alerts?, silences?))
}

/// The snapshot without the fields that move on every re-send (`updatedAt`, `endsAt`).
fn comparable(s: &AlertsSnapshot) -> AlertsSnapshot {
    let mut c = s.clone();
    for a in &mut c.alerts {
        a.updated_at = Timestamp::UNIX_EPOCH;
        a.ends_at = Timestamp::UNIX_EPOCH;
    }
    c
}
