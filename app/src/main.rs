//! `conclave`: the desktop app.

use clap::Parser as _;
use conclave_app::config::{Args, Settings, default_data_dir};
use conclave_app::diagnostics::LogBuffer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> iced::Result {
    conclave_app::STARTED.get_or_init(std::time::Instant::now);
    let args = Args::parse();
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
    // A damaged settings file must not keep the app from starting: defaults, and say so.
    let settings = Settings::load(&data_dir).unwrap_or_else(|error| {
        tracing::warn!(%error, "using default settings");
        Settings::default()
    });
    conclave_app::shell::run(args, settings, log)
}
