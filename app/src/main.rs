//! `conclave`: the desktop app.

use clap::Parser as _;
use conclave_app::config::{Args, Settings, default_data_dir};
use conclave_app::diagnostics::LogBuffer;
use conclave_app::service::instance;
use conclave_app::service::policy::{self, AppPolicy};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> iced::Result {
    conclave_app::STARTED.get_or_init(std::time::Instant::now);
    let args = Args::parse();
    if args.print_policy {
        return print_policy(&args);
    }
    let log = LogBuffer::default();
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .with_filter(filter()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(log.clone())
                .with_filter(filter()),
        )
        .init();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    match instance::claim(&data_dir, args.link.as_deref()) {
        Some(instance::Claim::HandedOver) => {
            println!("Conclave is already running: it has opened this in its window.");
            return Ok(());
        }
        Some(instance::Claim::Primary(running)) => instance::install(running),
        None => {}
    }
    // A damaged settings file must not keep the app from starting: defaults, and say so.
    let settings = Settings::load(&data_dir).unwrap_or_else(|error| {
        tracing::warn!(%error, "using default settings");
        Settings::default()
    });
    let policy = policy::install(AppPolicy::load(args.policy_dir()));
    conclave_app::shell::run(args, settings, log, policy)
}

/// `--print-policy`: the effective policy and where each value came from (what IT checks on
/// a machine, and what the installer tests read), then exit.
fn print_policy(args: &Args) -> iced::Result {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let settings = Settings::load(&data_dir).unwrap_or_default();
    print!("{}", AppPolicy::load(args.policy_dir()).describe(&settings));
    Ok(())
}
