//! `cargo xtask dist <target>`: the packages, each from a clean checkout.
//!
//! - `deb`: `conclave_<v>_<arch>.deb` (the app) and `conclaved_<v>_<arch>.deb` (the server),
//!   with `cargo-deb`, into `target/debian/`;
//! - `windows`: `conclave-<v>-x86_64.msi`, cross-built here (`packaging/windows/`);
//! - `macos`: only on a Mac (`packaging/macos/build-dmg.sh`); elsewhere it says so.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// How a package's binaries are built.
pub struct BuildChoice {
    /// Cargo profile: `dist` for releases; CI may pass `dev` to package its test build.
    pub profile: String,
    /// Package binaries that are already built (CI, right after the tests built them).
    pub no_build: bool,
}

impl BuildChoice {
    /// Parses `[--profile P] [--no-build]`.
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut choice = Self {
            profile: "dist".to_owned(),
            no_build: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--profile" => {
                    let Some(profile) = args.next() else {
                        bail!("--profile needs a profile name (dist, release or dev)");
                    };
                    choice.profile.clone_from(profile);
                }
                "--no-build" => choice.no_build = true,
                other => bail!("unknown option {other:?} (expected --profile P or --no-build)"),
            }
        }
        Ok(choice)
    }
}

/// Runs `command`, failing with what it was if it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace version, from the root `Cargo.toml`.
pub fn workspace_version(root: &Path) -> Result<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .context("cannot read the workspace Cargo.toml")?;
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[workspace.package]")
        .find_map(|line| {
            let value = line.trim().strip_prefix("version")?.trim_start();
            let value = value.strip_prefix('=')?.trim();
            Some(value.trim_matches('"').to_owned())
        })
        .context("no version in [workspace.package] of Cargo.toml")
}

/// A Debian changelog for `package` at `version` (Debian wants one in every package; the
/// project's history is in git).
pub fn debian_changelog(package: &str, version: &str, date: &str) -> String {
    format!(
        "{package} ({version}-1) unstable; urgency=medium\n\n  * Conclave {version}. The \
         changes are in the project's git history.\n\n -- The Conclave developers \
         <conclave@example.invalid>  {date}\n"
    )
}

/// Both .deb packages into `target/debian/`.
pub fn deb(root: &Path, choice: &BuildChoice) -> Result<()> {
    crate::icons::write_all(root, &root.join("target/icons"))?;
    let version = workspace_version(root)?;
    let date = Command::new("date")
        .arg("-R")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|date| date.trim().to_owned())
        .filter(|date| !date.is_empty())
        .context("cannot read the date (`date -R`)")?;
    let generated = root.join("target/packaging");
    std::fs::create_dir_all(&generated)?;
    for package in ["conclave", "conclaved"] {
        std::fs::write(
            generated.join(format!("changelog.{package}")),
            debian_changelog(package, &version, &date),
        )?;
    }
    if !choice.no_build {
        run(cargo().current_dir(root).args([
            "build",
            "--locked",
            "--profile",
            &choice.profile,
            "-p",
            "conclave-app",
            "--bin",
            "conclave",
            "-p",
            "conclave-server",
            "--bin",
            "conclaved",
        ]))?;
    }
    let has_cargo_deb = cargo()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_deb {
        bail!("cargo-deb is not installed: run `cargo install cargo-deb --locked`");
    }
    for package in ["conclave-app", "conclave-server"] {
        let mut command = cargo();
        command.current_dir(root).args([
            "deb",
            "--no-build",
            "--profile",
            &choice.profile,
            "-p",
            package,
            "--output",
            "target/debian/",
        ]);
        // Test packages (CI) skip the slow xz compression; releases keep it.
        if choice.profile != "dist" {
            command.arg("--fast");
        }
        run(&mut command)?;
    }
    Ok(())
}

/// `conclave-<version>-x86_64.msi` into `target/dist/`: the app cross-built for
/// `x86_64-pc-windows-gnu` with mingw-w64 (`.cargo/config.toml`), packaged with wixl by
/// `packaging/windows/build-msi.sh`, signed there when a certificate is given.
pub fn windows(root: &Path, choice: &BuildChoice) -> Result<()> {
    const TARGET: &str = "x86_64-pc-windows-gnu";
    crate::icons::write_all(root, &root.join("target/icons"))?;
    if !choice.no_build {
        run(cargo().current_dir(root).args([
            "build",
            "--locked",
            "--profile",
            &choice.profile,
            "--target",
            TARGET,
            "-p",
            "conclave-app",
            "--bin",
            "conclave",
        ]))?;
    }
    let profile_dir = if choice.profile == "dev" {
        "debug"
    } else {
        choice.profile.as_str()
    };
    let exe = root.join(format!("target/{TARGET}/{profile_dir}/conclave.exe"));
    let version = workspace_version(root)?;
    let out = root.join(format!("target/dist/conclave-{version}-x86_64.msi"));
    std::fs::create_dir_all(root.join("target/dist"))?;
    run(Command::new(root.join("packaging/windows/build-msi.sh"))
        .current_dir(root)
        .arg(&exe)
        .arg(&version)
        .arg(&out)
        .arg(root.join("target/icons/conclave.ico")))?;
    println!("{}", out.display());
    Ok(())
}

/// The DMG is built on a Mac only (Apple's `lipo`, `codesign`, `hdiutil`, `notarytool`).
pub fn macos(root: &Path) -> Result<()> {
    if !cfg!(target_os = "macos") {
        bail!(
            "the macOS package can only be built on a Mac: run packaging/macos/build-dmg.sh \
             there (docs/packaging.md); here, packaging/macos/check.sh checks what it can"
        );
    }
    run(&mut Command::new(root.join("packaging/macos/build-dmg.sh")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_default_to_a_release_build() {
        let choice = BuildChoice::parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((choice.profile.as_str(), choice.no_build), ("dist", false));
        let choice = BuildChoice::parse(&args(&["--profile", "dev", "--no-build"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((choice.profile.as_str(), choice.no_build), ("dev", true));
    }

    #[test]
    fn the_changelog_names_the_package_and_the_workspace_version() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let version = workspace_version(&root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        let text = debian_changelog("conclaved", &version, "Mon, 07 Dec 2026 23:00:00 +0000");
        assert!(text.starts_with(&format!("conclaved ({version}-1) unstable;")));
        assert!(text.ends_with("  Mon, 07 Dec 2026 23:00:00 +0000\n"));
    }

    #[test]
    fn bad_options_are_clear_errors() {
        let missing = BuildChoice::parse(&args(&["--profile"])).err();
        assert!(missing.is_some_and(|e| e.to_string().contains("needs a profile")));
        let unknown = BuildChoice::parse(&args(&["--fast"])).err();
        assert!(unknown.is_some_and(|e| e.to_string().contains("--fast")));
    }
}
