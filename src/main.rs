//! The `warroom` binary: parse the command line, set up logging, load the config, hand over.

use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;

use warroom::cli::{self, Cli, Command, ConfigCommand};
use warroom::config::{self, Config, Environment};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let env = Environment::from_process();
    let config_path = cli::config_path(&cli, &env);
    match cli.command {
        Command::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{}", config::DEFAULT_CONFIG_TOML);
            return Ok(());
        }
        Command::Bench { command } => {
            warroom::telemetry::init("warn");
            return cli::bench::execute(command, &config_path, &env).await;
        }
        _ => {}
    }
    let is_run = matches!(cli.command, Command::Run);
    warroom::telemetry::init(if is_run { "info" } else { "warn" });
    let config = Config::load(&config_path, &env)?;
    if is_run {
        let listener = TcpListener::bind(config.http.listen)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot listen on {}: {error}; change [http] listen or stop what uses the port",
                    config.http.listen
                )
            })?;
        return warroom::app::run(config, listener, shutdown_signal()).await;
    }
    cli::execute(cli.command, config, &env).await
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stop warroom with Ctrl-C");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
    }
}
