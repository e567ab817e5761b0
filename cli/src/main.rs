//! `conclave-cli`: the headless Conclave client.
//!
//! Until the meeting server lands, `demo` runs a whole E2EE meeting in one process: real MLS
//! membership changes and real SFrame-encrypted audio frames between several members, printing
//! what each participant would see (roster, verification code, padlock state).

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "conclave-cli", version, about = "Headless Conclave client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local E2EE demo meeting of headless members in this process.
    Demo(demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
