//! `conclaved`, the Conclave meeting server.
//!
//! ```text
//! conclaved [serve] [--config FILE] [--listen ADDR] [--data-dir DIR]
//!                   [--tls-cert FILE --tls-key FILE] [--hostname NAME]...
//! conclaved user add|list|disable|enable ...
//! conclaved meeting create --host USERNAME [--title T] [--require-sign-in [BOOL]]
//!                          [--lobby [BOOL]] [--auto-lock-minutes N] [--join-before-host [BOOL]]
//!                          [--password-stdin]
//! conclaved audit list|export [--meeting N] [--user U] [--since T] [--until T]
//!                             [--format jsonl|csv]
//! ```
//!
//! `meeting create` takes the organisation's `[meeting_defaults]` for every option it is not
//! given, and a password chosen with `--password-stdin` must meet `[password_policy]`.
//!
//! Logs go to standard error; `RUST_LOG` filters them (default `info`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use conclave_protocol::http::CreateMeetingRequest;
use conclave_server::config::{ServeArgs, ServerConfig};
use conclave_server::server::start;
use conclave_server::store::Store;
use conclave_server::{
    AuditCommand, CLI_ACTOR, StoredOptions as _, UserCommand, prepare_meeting, run_audit_command,
    run_user_command,
};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "conclaved",
    version,
    about = "Conclave meeting server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve` flags, accepted without the word `serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Manage accounts.
    User {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage meetings.
    Meeting {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// Read the audit trail: joins and leaves, host actions, sign-ins, refusals.
    Audit {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// Where the administration commands find the database.
#[derive(Debug, Args)]
struct DataArgs {
    /// TOML configuration file (for its data_dir).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Data directory.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum MeetingCommand {
    /// Create a meeting; prints its number and password. Options not given take the
    /// organisation's `[meeting_defaults]`.
    Create {
        /// Username of the hosting account.
        #[arg(long)]
        host: String,
        /// Title.
        #[arg(long)]
        title: Option<String>,
        /// Only signed-in users may join (`--require-sign-in false` to allow guests).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        require_sign_in: Option<bool>,
        /// Newcomers wait in the lobby until admitted (`--lobby false`: no lobby).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        lobby: Option<bool>,
        /// Lock the meeting this many minutes after it starts (1–1440).
        #[arg(long, value_name = "N")]
        auto_lock_minutes: Option<u32>,
        /// Participants may start before the host arrives.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        join_before_host: Option<bool>,
        /// Read the meeting password as one line from standard input (it must meet the
        /// organisation's password policy) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        None | Some(Command::Serve(_)) => "info",
        Some(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::User { data, command }) => match open_store(&data).await {
            Ok(store) => run_user_command(command, &store)
                .await
                .map(|text| println!("{text}"))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Some(Command::Audit { data, command }) => match open_store(&data).await {
            Ok(store) => {
                let mut out = std::io::stdout().lock();
                run_audit_command(command, &store, &mut out)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        },
        Some(Command::Meeting { data, command }) => match open_store_with_config(&data).await {
            Ok((store, config)) => run_meeting_command(command, &store, &config).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conclaved: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = args.resolve().map_err(|e| e.to_string())?;
    let server = start(config).await.map_err(|e| e.to_string())?;
    println!("conclaved listening on https://{}", server.addr);
    println!("TLS certificate SHA-256: {}", server.tls_fingerprint);
    println!(
        "organization key fingerprint: {}",
        server.org_public_key.fingerprint()
    );
    wait_for_stop_signal().await;
    server.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn open_store(data: &DataArgs) -> Result<Store, String> {
    Ok(open_store_with_config(data).await?.0)
}

/// The store, and the configuration it came from (the meeting command applies the
/// organisation's password policy and meeting defaults, like the server does).
async fn open_store_with_config(data: &DataArgs) -> Result<(Store, ServerConfig), String> {
    let args = ServeArgs {
        config: data.config.clone(),
        data_dir: data.data_dir.clone(),
        ..ServeArgs::default()
    };
    let config = args.resolve().map_err(|e| e.to_string())?;
    let store = Store::open(&config.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, config))
}

/// One line of standard input, without its line ending.
fn read_stdin_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn run_meeting_command(
    command: MeetingCommand,
    store: &Store,
    config: &ServerConfig,
) -> Result<(), String> {
    let MeetingCommand::Create {
        host,
        title,
        require_sign_in,
        lobby,
        auto_lock_minutes,
        join_before_host,
        password_stdin,
    } = command;
    let user = store
        .user_by_username(&host)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no such user: {host}"))?;
    let request = CreateMeetingRequest {
        title: title.clone(),
        password: None,
        require_sign_in,
        lobby,
        auto_lock_minutes,
        join_before_host,
    };
    let options = request.options(&config.meeting_defaults());
    let chosen = if password_stdin {
        Some(read_stdin_line()?)
    } else {
        None
    };
    let password = prepare_meeting(&config.password_policy, chosen, title.as_deref(), &options)
        .map_err(|e| e.to_string())?;
    let record = store
        .create_meeting(
            Some(&user.id),
            &password,
            title.as_deref().unwrap_or_default(),
            &options.to_json(),
        )
        .await
        .map_err(|e| e.to_string())?;
    store
        .audit(
            Some(&record.number),
            CLI_ACTOR,
            "meeting.create",
            Some(&user.username),
        )
        .await
        .map_err(|e| e.to_string())?;
    println!("meeting number: {}", record.number);
    println!("password: {password}");
    Ok(())
}
