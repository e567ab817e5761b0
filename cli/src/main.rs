//! `conclave-cli`: the headless Conclave client, for people, scripts, tests and load bots.
//!
//! - `demo`: a whole E2EE meeting in one process (no server needed);
//! - `signin` / `signout` (alias `sign-out`): sign in to a server (token, refresh token, MLS
//!   key and certificate go to the OS keychain, or to `--credentials-file`; the token is
//!   renewed with the refresh token before use), or revoke the sign-in and forget it;
//! - `create-meeting`: create an instant meeting as the signed-in host (options not given take
//!   the server's organisation defaults);
//! - `schedule`, `list`, `update`, `cancel`, `export-invite`, `password-message`: scheduled
//!   meetings and their invitations, with the password kept out of the invitation by default;
//! - `join`: take part in a meeting as a guest or signed-in user, with host actions on stdin.

mod credentials;
mod demo;
mod frames;
mod scheduling;
mod session;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use conclave_core::client::account::{
    NewMeeting, create_meeting, fetch_org_key, sign_in, sign_out,
};
use conclave_core::client::{
    CLIENT_VERSION, ConnectOptions, MeetingClient, TlsTrust, VersionCheck, check_version,
    fetch_server_info,
};
use conclave_e2ee::group::{GroupMember, generate_signature_keys};
use conclave_protocol::{DisplayName, MeetingNumber, MeetingPassword};
use credentials::{StoredIdentity, Vault};

#[derive(Parser)]
#[command(
    name = "conclave-cli",
    version = conclave_build_info::VERSION_LINE,
    about = "Headless Conclave client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to reach the server.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServerArgs {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub server: String,
    /// SHA-256 fingerprint of a self-signed server certificate (as `conclaved` prints it);
    /// without it the public web roots are used.
    #[arg(long)]
    pub pin: Option<String>,
}

impl ServerArgs {
    pub fn trust(&self) -> TlsTrust {
        match &self.pin {
            Some(pin) => TlsTrust::PinnedSha256(pin.clone()),
            None => TlsTrust::PublicRoots,
        }
    }
}

/// Which stored sign-in to use.
#[derive(Args, Debug, Clone)]
pub(crate) struct IdentityArgs {
    /// Account name.
    #[arg(long)]
    pub user: String,
    /// Keep the sign-in in this file (mode 0600) instead of the OS keychain.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
}

// The flags of `conclave-cli create-meeting` (a struct keeps `run` short).
#[derive(Args)]
struct CreateMeetingArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[arg(long)]
    pub title: Option<String>,
    // Options left out take the server's organisation defaults (`GET /v1/server-info`).
    /// Only signed-in users may join (`--require-sign-in false`: guests too).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub require_sign_in: Option<bool>,
    /// Newcomers wait in the lobby until admitted (`--lobby false`: no lobby).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub lobby: Option<bool>,
    /// Lock the meeting this many minutes after it starts (1-1440).
    #[arg(long, value_name = "N")]
    pub auto_lock_minutes: Option<u32>,
    /// Participants may start before the host arrives.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub join_before_host: Option<bool>,
    #[arg(long)]
    pub json: bool,
}

// The flags of `conclave-cli join`.
#[derive(Args)]
struct JoinArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Meeting number.
    pub meeting: String,
    /// Display name (guests; signed-in users use their account's name).
    #[arg(long, default_value = "Guest")]
    pub name: String,
    /// Join as this signed-in user (see `signin`).
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Read the meeting password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Leave after this many seconds (for scripts).
    #[arg(long)]
    pub stay_secs: Option<u64>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Send a test tone sequence (440/660/880 Hz) as this participant's audio.
    #[arg(long)]
    pub tone: bool,
    /// Send this 48 kHz mono 16-bit WAV file as this participant's audio.
    #[arg(long, value_name = "FILE", conflicts_with = "tone")]
    pub send_audio: Option<PathBuf>,
    /// Record what this participant hears to a WAV file.
    #[arg(long, value_name = "FILE")]
    pub record_audio: Option<PathBuf>,
    /// Clean the sent audio with echo cancellation, noise suppression and gain control,
    /// as the desktop app does for a microphone (tones and WAV files need none).
    #[arg(long)]
    pub audio_processing: bool,
    /// Send video from this source (headless: only the test pattern).
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub send_video: Option<session::VideoSourceKind>,
    /// Save every picture received as DIR/leaf<sender>-<index>.png.
    #[arg(long, value_name = "DIR")]
    pub save_frames: Option<PathBuf>,
    /// Start with the microphone muted (`unmute` on stdin turns it on).
    #[arg(long)]
    pub muted: bool,
    /// Diagnostic: drop this percentage of the media link's UDP datagrams, both ways.
    #[arg(long, value_name = "PERCENT")]
    pub simulate_loss: Option<f64>,
    /// Diagnostic: send media through a narrow uplink of this many kbit/s (200 ms queue;
    /// what overflows is dropped), to watch quality adapt to congestion.
    #[arg(long, value_name = "KBPS")]
    pub simulate_uplink_kbps: Option<f64>,
    /// Diagnostic: reach the SFU over ICE-TCP only, as if UDP were blocked.
    #[arg(long)]
    pub media_tcp_only: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local E2EE demo meeting of headless members in this process.
    Demo(demo::DemoArgs),
    /// Sign in; the password is read from stdin (never from the command line).
    Signin {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Sign out: revoke the sign-in on the server and forget it here (it is forgotten here
    /// even when the server cannot be reached).
    #[command(alias = "sign-out")]
    Signout {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Create a meeting hosted by the signed-in user; prints its number and password. Options
    /// not given take the server's organisation defaults.
    CreateMeeting(CreateMeetingArgs),
    /// Join a meeting; the password is read from the first stdin line when --password-stdin.
    Join(JoinArgs),
    #[command(flatten)]
    Scheduling(scheduling::ScheduleCommand),
}

pub(crate) fn read_secret_line(prompt: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}: ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Demo(args) => demo::run(&args).map(|()| 0),
        Command::Scheduling(command) => scheduling::run(command).await,
        Command::Signin { server, identity } => signin(&server, identity).await.map(|()| 0),
        Command::Signout { server, identity } => signout(&server, identity).await.map(|()| 0),
        Command::CreateMeeting(args) => create_instant_meeting(args).await.map(|()| 0),
        Command::Join(args) => join(args).await,
    }
}

async fn signin(server: &ServerArgs, identity: IdentityArgs) -> Result<()> {
    let password = read_secret_line("password")?;
    let signer = generate_signature_keys()?;
    let result = sign_in(
        &server.server,
        &server.trust(),
        &identity.user,
        &password,
        signer.public(),
    )
    .await?;
    let stored = StoredIdentity::new(&server.server, &result, &signer)?;
    stored.save(&Vault::new(
        identity.credentials_file,
        &identity.user,
        &server.server,
    ))?;
    println!(
        "signed in as {} ({}); organization key {}",
        result.display_name,
        result.user_id,
        result.org_key.fingerprint()
    );
    Ok(())
}

async fn signout(server: &ServerArgs, identity: IdentityArgs) -> Result<()> {
    let vault = Vault::new(identity.credentials_file, &identity.user, &server.server);
    // Best effort on the server; the local copy goes whatever happens there.
    let revoked = match StoredIdentity::load(&vault) {
        Ok(stored) => sign_out(
            &server.server,
            &server.trust(),
            stored.token(),
            stored.refresh_token(),
        )
        .await
        .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    StoredIdentity::delete(&vault)?;
    match revoked {
        Ok(()) => println!("signed out (the sign-in was revoked on the server)"),
        Err(why) => {
            eprintln!("warning: could not revoke the sign-in on the server: {why}");
            println!("signed out on this computer only");
        }
    }
    Ok(())
}

async fn create_instant_meeting(args: CreateMeetingArgs) -> Result<()> {
    let server = &args.server;
    let vault = Vault::new(
        args.identity.credentials_file,
        &args.identity.user,
        &server.server,
    );
    let stored = StoredIdentity::load(&vault)?
        .fresh(&vault, &server.trust())
        .await?;
    let options = NewMeeting {
        title: args.title,
        password: None,
        require_sign_in: args.require_sign_in,
        lobby: args.lobby,
        auto_lock_minutes: args.auto_lock_minutes,
        join_before_host: args.join_before_host,
    };
    let created = create_meeting(&server.server, &server.trust(), stored.token(), &options).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"number": created.number, "password": created.password})
        );
    } else {
        println!("meeting number: {}", created.number);
        println!(
            "password (send it by another channel): {}",
            created.password
        );
    }
    Ok(())
}

async fn join(args: JoinArgs) -> Result<u8> {
    let media = session::MediaOptions {
        tone: args.tone,
        send_audio: args.send_audio,
        record_audio: args.record_audio,
        audio_processing: args.audio_processing,
        send_video: args.send_video,
        save_frames: args.save_frames,
        muted: args.muted,
        simulate_loss: args.simulate_loss,
        simulate_uplink_kbps: args.simulate_uplink_kbps,
        tcp_only: args.media_tcp_only,
    };
    let server = &args.server;
    let meeting = MeetingNumber::parse(&args.meeting).context("not a meeting number")?;
    let password = if args.password_stdin {
        Some(MeetingPassword::new(read_secret_line("meeting password")?)?)
    } else {
        None
    };
    let (member, token, org, display_name) = match args.user {
        Some(user) => {
            // Renewed before connecting: the upgrade needs a valid access token.
            let vault = Vault::new(args.credentials_file, &user, &server.server);
            let stored = StoredIdentity::load(&vault)?
                .fresh(&vault, &server.trust())
                .await?;
            let name = DisplayName::new(&stored.sign_in.display_name)?;
            (
                stored.member()?,
                Some(stored.token().to_owned()),
                Some(stored.org_key()?),
                name,
            )
        }
        None => {
            let name = DisplayName::new(&args.name)?;
            // Without the organization key a guest could not tell verified members from
            // impostors; without it they are shown as not verifiable.
            let org = match fetch_org_key(&server.server, &server.trust()).await {
                Ok(key) => Some(key),
                Err(e) => {
                    eprintln!("warning: cannot fetch the organization key ({e})");
                    None
                }
            };
            (GroupMember::guest(name.as_str())?, None, org, name)
        }
    };
    announce_update(server).await;
    let options = ConnectOptions {
        server: server.server.clone(),
        trust: server.trust(),
        token,
    };
    // Refused with an error naming the minimum version and where to get it when the server
    // requires a newer client.
    let client = MeetingClient::connect(options, member, org).await?;
    client.join(meeting, password, display_name);
    session::run(
        client,
        args.json,
        args.stay_secs.map(Duration::from_secs),
        media,
    )
    .await
}

/// Says on stderr when the server announces a newer client than this one.
async fn announce_update(server: &ServerArgs) {
    if let Ok(Some(info)) = fetch_server_info(&server.server, &server.trust()).await
        && let VersionCheck::UpdateAvailable { latest, url } = check_version(CLIENT_VERSION, &info)
    {
        let from = url.map(|url| format!(" from {url}")).unwrap_or_default();
        eprintln!("note: Conclave {latest} is available (this is {CLIENT_VERSION}); get it{from}");
    }
}

/// Warnings from the client engine and the media stack (refused commits, undecodable
/// messages, a failing source) go to stderr, so stdout stays the session's output (JSON lines
/// with `--json`). `RUST_LOG` sets the level (`RUST_LOG=debug`, `RUST_LOG=conclave_core=info`);
/// warnings by default.
fn install_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    install_logging();
    // One thread: a headless client's work is small, and a single thread spares the
    // cross-thread wakeups a worker pool costs on every packet (about 15 % of a listening
    // bot's CPU, see docs/performance.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
