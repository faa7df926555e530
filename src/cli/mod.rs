//! The operator's side: `oauthd`'s subcommands, beside the server rather
//! than above it. `args` is the command line's shape; one module per
//! subcommand parses nothing and prints what its command did; `admin` and
//! `export_import` do the work, under the same rules the HTTP endpoints
//! apply. `src/main.rs` only calls [`main`].
//!
//! Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure.
//! Messages go to stderr; only requested output (ids, secrets, lists) goes to
//! stdout.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::clock::Clock;
use crate::config::Config;
use crate::telemetry::error_chain as chain;
use admin::AdminError;
use args::{Cli, Command, ConfigCommand, PasswordArgs};
use database::{Missing, open, open_as};

/// `println!` for what a command prints on stdout: a reader that stops
/// early (`oauthd client list | head -n 1`) ends the command quietly, as it
/// ends `cat`, instead of a panic; any other write error is reported.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

/// Users, clients, personal tokens and resources from the shell.
pub mod admin;
/// `oauthd export` / `oauthd import`: users and clients as one JSON document.
pub mod export_import;

mod args;
mod client;
mod config_check;
mod database;
mod keys;
mod resource;
mod token;
mod transfer;
mod user;

/// How a command failed, and so which exit code it gets.
enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Usage(m) => Self::Usage(m),
            AdminError::Failed(m) => Self::Runtime(m),
        }
    }
}

/// Parses the command line and runs the command: the whole `oauthd` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // These two need no database and no runtime.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "oauthd",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Config(ConfigCommand::Check { json })) => {
            return config_check::config_check(cli.config.as_deref(), *json);
        }
        _ => {}
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oauthd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oauthd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("oauthd: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("oauthd: {m}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Serve => {
            // Held until serve returns (SIGTERM and SIGINT included), so
            // every queued log line is written before the process ends.
            let _logs = crate::telemetry::init(&config.log);
            crate::server::serve(config)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))
        }
        Command::Migrate => {
            let _logs = crate::telemetry::init(&config.log);
            let db = open_as(&config, Missing::Create).await?;
            db.migrate()
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            eprintln!("oauthd: migrations applied ({})", db.backend());
            Ok(())
        }
        // Handled in `main` before the config is loaded.
        Command::Config(_) | Command::Completions { .. } => Ok(()),
        Command::Export { output } => transfer::export(&config, output.as_deref()).await,
        Command::Import { file } => transfer::import(&config, file.as_deref()).await,
        Command::User(cmd) => user::user(cmd, &config).await,
        Command::Client(cmd) => client::client(cmd, &config).await,
        Command::Token(cmd) => token::token(cmd, &config).await,
        Command::Resource(cmd) => resource::resource(cmd, &config).await,
        Command::Keys(cmd) => keys::keys(cmd, &config).await,
        Command::Janitor { once } => {
            let _logs = crate::telemetry::init(&config.log);
            let db = open(&config).await?;
            let clock = Clock::system();
            if once {
                let n = crate::janitor::run_once(&db, &clock, &config)
                    .await
                    .map_err(|e| Failure::Runtime(chain(&e)))?;
                eprintln!("oauthd: janitor removed {n} expired rows");
            } else {
                // Nothing serves /metrics here: its counts go nowhere.
                let metrics = std::sync::Arc::default();
                crate::janitor::run_forever(db, clock, config, metrics).await;
            }
            Ok(())
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Runtime(format!("cannot encode JSON: {e}")))?;
    out!("{text}");
    Ok(())
}

/// The password from stdin (`--password-stdin`) or typed twice at a terminal.
fn read_password(args: &PasswordArgs) -> Result<String, Failure> {
    if args.password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
        let line = input.lines().next().unwrap_or("");
        return Ok(line.to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "stdin is not a terminal: pass --password-stdin to read the password from it".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
    let second = rpassword::prompt_password("Password again: ")
        .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(Failure::Usage("the passwords do not match".into()));
    }
    Ok(first)
}

/// Writes one line of command output (see `out!`).
fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("oauthd: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}
