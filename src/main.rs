//! The `switchboard` command: `serve`, `check-config`, `rekey`, `bench` and `simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::config::{Loader, Settings};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = "Omnichannel message router for customer service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// A TOML file layered over the embedded defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and print every problem with its key.
    CheckConfig {
        /// A TOML file layered over the embedded defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Seal again, with the first key of `[security] data_keys`, the values
    /// in Redis sealed with an older key (resumable; one run at a time).
    Rekey {
        /// A TOML file layered over the embedded defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Measure this machine's performance envelope against the raw NATS and
    /// Redis floor (see the README's Performance section).
    Bench(switchboard::bench::Options),
    /// Drive a running daemon with demo traffic on all four channels,
    /// playing the providers and the agents (see the README's Demo section).
    Simulate(switchboard_simulate::Options),
}

fn load(config: Option<PathBuf>) -> Result<Settings, ExitCode> {
    let loader = config.map_or_else(Loader::new, |path| Loader::new().file(path));
    loader.load().map_err(|problems| {
        eprintln!("configuration has {} problem(s):", problems.0.len());
        eprint!("{problems}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `simulate` promises one line and exit 2 for a bad flag.
        Err(e) if std::env::args().nth(1).as_deref() == Some("simulate") && e.use_stderr() => {
            let text = e.render().to_string();
            eprintln!("switchboard simulate: {}", text.lines().next().unwrap_or("bad flags").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Simulate(options) => simulate(options),
        Command::CheckConfig { config } => match load(config) {
            Ok(_) => {
                println!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Rekey { config } => match load(config) {
            Ok(settings) => rekey(&settings),
            Err(code) => code,
        },
        Command::Bench(options) => match bench(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard bench: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => {
            let settings = match load(config) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match serve(settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    switchboard::telemetry::init_logging(&settings.log);
    switchboard::http::raise_descriptor_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let shutdown = CancellationToken::new();
        switchboard::shutdown::on_signal(shutdown.clone());
        switchboard::run(settings, listener, shutdown).await.context("switchboard failed to start")
    })
}

/// Runs the rekey; its counts as JSON on stdout, or the reason on stderr.
fn rekey(settings: &Settings) -> ExitCode {
    switchboard::telemetry::init_logging(&settings.log);
    let done = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(switchboard::privacy::rekey::run(settings)).map_err(|e| e.to_string()));
    match done {
        Ok(counts) => {
            println!("{}", serde_json::json!({ "rekey": "done", "counts": counts }));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard rekey: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints the table, or with `--json` the JSON
/// report on stdout and the table on stderr.
fn bench(options: &switchboard::bench::Options) -> anyhow::Result<()> {
    // Warnings and errors of the in-process daemon go to stderr; its
    // per-message info lines are filtered out as in a quiet production setup.
    let log = switchboard::config::LogSettings { format: switchboard::config::LogFormat::Text, level: "warn".into() };
    switchboard::telemetry::init_logging(&log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let report = runtime.block_on(switchboard::bench::run(options))?;
    if options.json {
        // The table still goes to stderr, for the person watching.
        eprint!("{}", report.table());
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Runs the simulator: progress and the summary on stdout; a bad flag,
/// configuration or an unreachable daemon is one line and exit 2; a run
/// that counted errors exits 1.
fn simulate(options: switchboard_simulate::Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard simulate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchboard_simulate::run(options)) {
        Ok(summary) => {
            print!("{summary}");
            if summary.error_count() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("switchboard simulate: {e}");
            ExitCode::from(2)
        }
    }
}
