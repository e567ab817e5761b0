//! Windows (MinGW) link settings for the C++ libraries this crate builds; nothing on other
//! targets. See docs/packaging.md, Windows (libssp for Opus is in .cargo/config.toml: it must
//! come last on the link line, where only link-arg puts it).
//!
//! - WebRTC audio processing and OpenH264 are C++ and ask for `-lstdc++`, which MinGW resolves to
//!   libstdc++-6.dll. A link-search directory holding only the static libstdc++.a comes before
//!   the compiler's own, so the same request links the archive and the .exe stands alone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "windows" || target_env != "gnu" {
        return;
    }
    match static_libstdcxx_dir() {
        Ok(dir) => println!("cargo:rustc-link-search=native={}", dir.display()),
        Err(why) => println!(
            "cargo:warning=libstdc++ will be linked dynamically (ship libstdc++-6.dll): {why}"
        ),
    }
}

/// Copies the target compiler's libstdc++.a into OUT_DIR/static-cxx and returns that directory.
fn static_libstdcxx_dir() -> Result<PathBuf, String> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    // The same C++ compiler the -sys crates use (cc honours CXX_<target> and friends).
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let output = Command::new(compiler.path())
        .arg("-print-file-name=libstdc++.a")
        .output()
        .map_err(|e| format!("running {}: {e}", compiler.path().display()))?;
    let archive = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    // An unknown file name comes back unchanged (not absolute): no static archive to use.
    if !output.status.success() || !archive.is_absolute() || !archive.is_file() {
        return Err(format!(
            "{} does not know libstdc++.a",
            compiler.path().display()
        ));
    }
    let dir = out_dir.join("static-cxx");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    copy_if_changed(&archive, &dir.join("libstdc++.a"))?;
    Ok(dir)
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<(), String> {
    let same = match (std::fs::metadata(from), std::fs::metadata(to)) {
        (Ok(a), Ok(b)) => a.len() == b.len() && a.modified().ok() <= b.modified().ok(),
        _ => false,
    };
    if !same {
        std::fs::copy(from, to).map_err(|e| format!("copying {}: {e}", from.display()))?;
    }
    Ok(())
}
