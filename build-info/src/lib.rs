//! The version and the commit a Conclave binary was built from (`--version`, About).

/// The workspace version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `commit <12 hex digits>`, or `unknown commit` when the build had no git and no
/// `CONCLAVE_COMMIT`.
pub const COMMIT: &str = env!("CONCLAVE_COMMIT_LINE");

/// What `--version` prints after the program name: `0.1.0 (commit 0123456789ab)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CONCLAVE_COMMIT_LINE"),
    ")"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_names_the_version_and_the_commit() {
        assert!(VERSION_LINE.starts_with(VERSION));
        assert!(VERSION_LINE.contains(COMMIT));
        assert!(COMMIT == "unknown commit" || COMMIT.starts_with("commit "));
    }
}
