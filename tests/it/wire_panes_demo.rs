//! The console's Metrics and Alerts wiring end to end, in process: the simulated estate with its
//! Prometheus and Alertmanager, the real Kubernetes backend and pollers feeding `App::update`, a
//! bad image set in `shop-green`, and the screen showing the error ratio rising and HighErrorRate.
//! (The pty test through `shipdeck demo` needs the demo to start these servers itself.)
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::action::Action;
use shipdeck::app::{App, Pollers};
use shipdeck::backend::alertmanager::AlertmanagerConfig;
use shipdeck::backend::kube::KubeBackend;
use shipdeck::backend::prometheus::PrometheusConfig;
use shipdeck::clock::Clock;
use shipdeck::demo::traffic::TrafficSource;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::keymap::Keymap;
use shipdeck::msg::{Command, Msg};
use shipdeck::ui::theme::{ColorMode, Theme};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn screen(app: &App) -> String {
    let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
    term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The 5xx ratio the Metrics pane shows for the selection, if any.
fn error_ratio(app: &App) -> Option<f64> {
    let snap = app.overview.metrics.as_ref()?.value.as_ref()?;
    if (snap.app.as_str(), snap.env.as_str()) != ("web", "staging") {
        return None;
    }
    let s = snap.series.iter().find(|s| s.key == "errors")?;
    s.points.iter().rev().map(|p| p.1).find(|v| v.is_finite())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_image_in_staging_raises_the_error_ratio_and_high_error_rate() {
    shipdeck::install_crypto();
    let demo = Demo::start(DemoOptions {
        speed: 20.0,
        life_every_s: 0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let world: Arc<dyn TrafficSource> = Arc::new(demo.world().clone());
    let prom =
        shipdeck::demo::prometheus::start_prometheus(world.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let am = shipdeck::demo::alertmanager::start_alertmanager(
        world.clone(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo.write_config(dir.path()).unwrap();
    let mut p = PrometheusConfig::new(prom.url());
    p.interval_secs = 1;
    config.prometheus = Some(p);
    let mut a = AlertmanagerConfig::new(am.url());
    a.interval_secs = 1;
    config.alertmanager = Some(a);

    // The console's clock follows the simulated one (it runs 20× faster than the wall).
    let clock = Clock::fixed(world.now());
    let ticker = {
        let (clock, world) = (clock.clone(), world.clone());
        tokio::spawn(async move {
            loop {
                if let Clock::Manual(t) = &clock {
                    *t.lock().unwrap() = world.now();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut app = App::new(config.clone(), Keymap::default(), clock.clone(), false);
    app.theme = Theme::new(ColorMode::None);
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let cancel = CancellationToken::new();
    let _kube = KubeBackend::spawn(&config, tx.clone(), cancel.child_token());
    let (pollers, failures) = Pollers::spawn(&config, &clock, &tx, &cancel);
    assert!(failures.is_empty(), "{failures:?}");

    let run = |app: &mut App, cmds: Vec<Command>| {
        for c in cmds {
            if let Ok(Some(m)) = pollers.run(c) {
                app.update(m);
            }
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut selected = false;
    let mut before: Option<f64> = None;
    let mut broken = false;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no HighErrorRate on screen in time (ratio before {before:?}, now {:?}):\n{}",
                    error_ratio(&app),
                    screen(&app)
                )
            })
            .unwrap();
        let cmds = app.update(msg);
        run(&mut app, cmds);
        if !selected && app.releases.board.rows.iter().any(|r| r.app == "web") {
            // web @ staging: the row and the column the Metrics pane follows.
            while app.releases.selected_app() != Some("web") {
                let cmds = app.update(Msg::Action(Action::Down));
                run(&mut app, cmds);
            }
            while app.releases.selected_env() != Some("staging") {
                let cmds = app.update(Msg::Action(Action::Right));
                run(&mut app, cmds);
            }
            selected = true;
        }
        if !broken && let Some(r) = error_ratio(&app) {
            before = Some(r);
            demo.world()
                .set_image(
                    "shop-green",
                    "web",
                    "web",
                    "registry.local/shop/web:9.9.9-bad",
                )
                .unwrap();
            broken = true;
        }
        let firing = app
            .overview
            .alerts
            .as_ref()
            .and_then(|f| f.value.as_ref())
            .is_some_and(|s| {
                s.alerts.iter().any(|a| {
                    a.name() == "HighErrorRate"
                        && a.label("app") == "web"
                        && a.label("namespace") == "shop-green"
                })
            });
        let rising = matches!((before, error_ratio(&app)), (Some(b), Some(n)) if n > b + 0.05);
        if broken && firing && rising {
            break;
        }
    }
    let text = screen(&app);
    assert!(text.contains("METRICS web @ staging"), "{text}");
    assert!(text.contains("ALERTS web"), "{text}");
    // The wide layout's third column truncates the name: `! HighErro… web shop…`.
    assert!(text.contains("! HighErro"), "{text}");
    let ratio = error_ratio(&app).unwrap();
    assert!(ratio > 0.05, "{ratio}");
    cancel.cancel();
    ticker.abort();
    demo.shutdown().await;
}
