//! `cargo xtask <task>`: Conclave's build tasks, in Rust so they run the same everywhere.
//!
//! - `icons [DIR]`: every icon size and format from `assets/icon/conclave.svg` into DIR
//!   (default `target/icons`), and the app's window icon into `assets/icon/`.

mod icons;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  icons [DIR]     render every icon size and format from assets/icon/conclave.svg
                  into DIR (default target/icons) and refresh the app's window icon";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("icons") => {
            let out = args
                .get(1)
                .map_or_else(|| root.join("target/icons"), PathBuf::from);
            for path in icons::write_all(&root, &out)? {
                println!("{}", path.display());
            }
            let window = root.join(icons::WINDOW_ICON);
            std::fs::write(&window, icons::png(&icons::load(&root)?, 64)?)?;
            println!("{}", window.display());
            Ok(())
        }
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
