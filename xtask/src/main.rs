//! `cargo xtask <task>`: Conclave's build tasks, in Rust so they run the same everywhere.
//!
//! - `icons [DIR]`: every icon size and format from `assets/icon/conclave.svg` into DIR
//!   (default `target/icons`), and the app's window icon into `assets/icon/`;
//! - `dist deb|windows|macos [--profile P] [--no-build]`: the packages (`dist.rs`,
//!   `docs/packaging.md`);
//! - `policy`: the policy templates (ADMX/ADML, `.mobileconfig`, JSON schemas) and the table
//!   of `docs/it-deployment.md`, from `policy/src/schema.rs`.

mod dist;
mod icons;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  icons [DIR]     render every icon size and format from assets/icon/conclave.svg
                  into DIR (default target/icons) and refresh the app's window icon
  dist deb [--profile P] [--no-build]
                  conclave and conclaved .deb packages into target/debian/
                  (profile dist by default; --no-build packages what is built)
  dist windows [--profile P] [--no-build]
                  the MSI, cross-built with mingw-w64, into target/dist/
                  (signed when CONCLAVE_SIGN_* is set: packaging/windows/build-msi.sh)
  dist macos      on a Mac: packaging/macos/build-dmg.sh
  policy          regenerate packaging/policy/ (ADMX/ADML, .mobileconfig, JSON schemas)
                  and the policy table of docs/it-deployment.md from policy/src/schema.rs";

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
            // The 64 px PNG was just rendered into `out`: the same bytes, not a second render.
            std::fs::copy(out.join("conclave-64.png"), &window)?;
            println!("{}", window.display());
            Ok(())
        }
        Some("dist") => match args.get(1).map(String::as_str) {
            Some("deb") => dist::deb(&root, &dist::BuildChoice::parse(&args[2..])?),
            Some("windows") => dist::windows(&root, &dist::BuildChoice::parse(&args[2..])?),
            Some("macos") => dist::macos(&root),
            Some(other) => bail!("unknown package kind {other:?}\n\n{USAGE}"),
            None => bail!("which package? deb, windows or macos\n\n{USAGE}"),
        },
        Some("policy") => write_policy_files(&root),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

/// Writes every generated policy template and splices the table into the IT guide.
fn write_policy_files(root: &Path) -> Result<()> {
    use conclave_policy::generate;
    for file in generate::templates() {
        let path = root.join(file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, file.contents)?;
        println!("{}", path.display());
    }
    let docs = root.join(generate::DOCS_FILE);
    let text = std::fs::read_to_string(&docs)?;
    let Some(updated) = generate::splice_docs_table(&text) else {
        bail!(
            "{} lacks the marks {:?} … {:?}",
            docs.display(),
            generate::DOCS_TABLE_START,
            generate::DOCS_TABLE_END
        );
    };
    std::fs::write(&docs, updated)?;
    println!("{}", docs.display());
    Ok(())
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
