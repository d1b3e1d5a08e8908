//! The `cds-vsphere-exporter` binary: parse the options, wire the adapters, run.

mod backoff;
mod collection;
mod config;
mod run;
mod schedule;
mod server;
mod web;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use config::{Cli, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the options are checked, so that their warnings are logged.
    init_tracing();

    let password = std::env::var(config::PASSWORD_ENV).ok();
    let config = match Config::from_cli(cli, password) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {:#}", anyhow::Error::from(error));
            return ExitCode::from(2);
        }
    };

    match run::run(config) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exporter stopped");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, so that `--once` leaves stdout to the exposition.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
