//! shipdeck: a terminal operations console for the path from commit to production.
//!
//! `run` picks the console, the simulated estate or a CLI verb; everything else lives in the modules.

pub mod action;
pub mod app;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod keymap;
pub mod model;
pub mod msg;
pub mod ops;
pub mod status;
pub mod terminal;
pub mod text;
pub mod tui;
pub mod ui;
pub mod verbs;

use std::process::ExitCode;

/// Installs the process-wide rustls provider; idempotent, needed before any kube or reqwest client.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Exit codes of PRODUCT.md §5.
pub mod exit {
    pub const DONE: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const NOT_CONFIRMED: u8 = 4;
}

pub fn run(cli: cli::Cli) -> ExitCode {
    install_crypto();
    let _ = color_eyre::install();
    let _log_guard = init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shipdeck: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Backend tasks may be blocked on sockets; do not wait for them on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(config_err) = err.downcast_ref::<config::ConfigError>() {
                eprintln!("shipdeck: configuration error: {config_err}");
                return ExitCode::from(exit::USAGE);
            }
            if let Some(keymap_err) = err.downcast_ref::<keymap::KeymapError>() {
                eprintln!("shipdeck: configuration error: [keys]: {keymap_err}");
                return ExitCode::from(exit::USAGE);
            }
            if let Some(status_err) = err.downcast_ref::<status::StatusError>() {
                eprintln!("shipdeck: {status_err}");
                return ExitCode::from(exit::USAGE);
            }
            eprintln!("shipdeck: {err:#}");
            ExitCode::from(exit::FAILED)
        }
    }
}

async fn dispatch(cli: cli::Cli) -> color_eyre::Result<u8> {
    use cli::Command;
    if let Some(
        cmd @ (Command::Promote(_)
        | Command::Rollback(_)
        | Command::Patch(_)
        | Command::Sunset(_)
        | Command::Approve(_)
        | Command::Silence(_)
        | Command::Audit(_)),
    ) = &cli.command
    {
        return verbs::run_verb(&cli, cmd).await;
    }
    match cli.command {
        None => {
            let config = load_config(cli.config.as_deref())?;
            let opts = tui::ConsoleOptions {
                read_only: cli.read_only || config.read_only,
                ..Default::default()
            };
            tui::run_console(config, opts).await?;
            Ok(exit::DONE)
        }
        Some(Command::Demo(args)) => {
            let mut opts = demo::DemoOptions {
                scale: args.scale,
                seed: args.seed,
                paused: args.paused,
                gitops: args.gitops,
                ..Default::default()
            };
            if let Some(speed) = args.speed {
                opts.speed = speed;
            }
            if args.serve {
                demo::serve(opts, args.write_config).await?;
                return Ok(exit::DONE);
            }
            let demo = demo::Demo::start(opts).await?;
            let dir = demo_dir();
            let config = demo.write_config(&dir)?;
            // The console reads the estate's clock: ages and metric windows follow --speed/--paused.
            let world_clock = demo.world().clock().clone();
            let rate_clock = world_clock.clone();
            let console = tui::ConsoleOptions {
                read_only: cli.read_only,
                clock: clock::Clock::Source {
                    now: std::sync::Arc::new(move || world_clock.now()),
                    rate: std::sync::Arc::new(move || {
                        if rate_clock.is_paused() {
                            0.0
                        } else {
                            rate_clock.speed()
                        }
                    }),
                },
                ..Default::default()
            };
            let result = tui::run_console(config, console).await;
            demo.shutdown().await;
            let _ = std::fs::remove_dir_all(&dir);
            result?;
            Ok(exit::DONE)
        }
        Some(Command::Status(args)) => {
            let config = load_config(cli.config.as_deref())?;
            let output = match args.output {
                cli::OutputFormat::Table => status::StatusOutput::Table,
                cli::OutputFormat::Json => status::StatusOutput::Json,
            };
            let report =
                status::status(&config, args.app.as_deref(), args.env.as_deref(), output).await?;
            print!("{}", report.text);
            Ok(if report.ok { exit::DONE } else { exit::FAILED })
        }
        // The operation verbs returned above.
        Some(_) => Ok(exit::USAGE),
    }
}

/// Loads `--config FILE`, else the platform default path.
pub fn load_config(path: Option<&std::path::Path>) -> Result<config::Config, config::ConfigError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => config::Config::default_path().ok_or_else(|| config::ConfigError::Unreadable {
            file: "config.toml".into(),
            reason: "no home directory to find the default configuration; pass --config FILE"
                .into(),
        })?,
    };
    let config = config::Config::load(&path)?;
    config.check_contexts(&path)?;
    // Key bindings are configuration too: a conflict or an unknown action name is exit 2 here,
    // naming the file, before any terminal or network work.
    keymap::Keymap::from_config(&config.keys).map_err(|e| config::ConfigError::Invalid {
        file: path.clone(),
        key: "keys".into(),
        expected: e.to_string().trim_start_matches("key `keys`: ").to_string(),
    })?;
    Ok(config)
}

/// A private directory for the demo's kubeconfig and config, removed on exit.
fn demo_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("shipdeck-demo-{}", std::process::id()))
}

/// Logs go to a file in the data directory (never to the terminal): `SHIPDECK_LOG=debug` to see more.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = directories::ProjectDirs::from("", "", "shipdeck")?
        .data_dir()
        .to_path_buf();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(&dir, "shipdeck.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
