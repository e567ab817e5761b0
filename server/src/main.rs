//! `conclaved`, the Conclave meeting server.
//!
//! ```text
//! conclaved [serve] [--config FILE] [--listen ADDR] [--data-dir DIR]
//!                   [--tls-cert FILE --tls-key FILE] [--hostname NAME]...
//! conclaved user add|list|disable|enable ...
//! conclaved meeting create --host USERNAME [--title T] [--require-sign-in] [--lobby]
//!                          [--auto-lock-minutes N] [--join-before-host]
//! ```
//!
//! Logs go to standard error; `RUST_LOG` filters them (default `info`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use conclave_server::config::ServeArgs;
use conclave_server::server::start;
use conclave_server::store::Store;
use conclave_server::{
    CLI_ACTOR, MeetingOptions, StoredOptions as _, UserCommand, prepare_meeting, run_user_command,
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
    /// Create a meeting; prints its number and generated password.
    Create {
        /// Username of the hosting account.
        #[arg(long)]
        host: String,
        /// Title.
        #[arg(long)]
        title: Option<String>,
        /// Only signed-in users may join.
        #[arg(long)]
        require_sign_in: bool,
        /// Newcomers wait in the lobby until admitted.
        #[arg(long)]
        lobby: bool,
        /// Lock the meeting this many minutes after it starts (1–1440).
        #[arg(long, value_name = "N")]
        auto_lock_minutes: Option<u32>,
        /// Participants may start before the host arrives.
        #[arg(long)]
        join_before_host: bool,
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
        Some(Command::Meeting { data, command }) => match open_store_with_policy(&data).await {
            Ok((store, policy)) => run_meeting_command(command, &store, &policy).await,
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
    Ok(open_store_with_policy(data).await?.0)
}

/// The store, and the organization's password policy from the same configuration (the admin
/// command generates meeting passwords by it, like the server does).
async fn open_store_with_policy(
    data: &DataArgs,
) -> Result<(Store, conclave_protocol::schedule::PasswordPolicy), String> {
    let args = ServeArgs {
        config: data.config.clone(),
        data_dir: data.data_dir.clone(),
        ..ServeArgs::default()
    };
    let config = args.resolve().map_err(|e| e.to_string())?;
    let store = Store::open(&config.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, config.password_policy))
}

async fn run_meeting_command(
    command: MeetingCommand,
    store: &Store,
    policy: &conclave_protocol::schedule::PasswordPolicy,
) -> Result<(), String> {
    match command {
        MeetingCommand::Create {
            host,
            title,
            require_sign_in,
            lobby,
            auto_lock_minutes,
            join_before_host,
        } => {
            let user = store
                .user_by_username(&host)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no such user: {host}"))?;
            let options = MeetingOptions {
                require_sign_in,
                lobby,
                auto_lock_minutes,
                join_before_host,
                ..MeetingOptions::default()
            };
            let password = prepare_meeting(Some(policy.generate()), title.as_deref(), &options)?;
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
    }
}
