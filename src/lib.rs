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

use std::process::ExitCode;

/// Installs the process-wide rustls provider; idempotent, needed before any kube or reqwest client.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn run(cli: cli::Cli) -> ExitCode {
    install_crypto();
    let _ = cli;
    ExitCode::SUCCESS
}
