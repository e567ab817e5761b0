//! `conclaved user …`: account administration from the command line.
//!
//! Passwords never travel on the command line (where `ps` and shell history would see them):
//! `add --password-stdin` reads one line from standard input; otherwise the password is asked
//! twice on the terminal without echo (via `rpassword`), or read from standard input when that
//! is not a terminal. Every change is written to the audit log with actor [`CLI_ACTOR`].

use std::io::{BufRead, IsTerminal as _};

use crate::store::{Store, StoreError, UserRecord};

/// The actor recorded in the audit log for changes made with these commands.
pub const CLI_ACTOR: &str = "admin-cli";

/// Account administration subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum UserCommand {
    /// Add an account (the password is read from the terminal or standard input).
    Add {
        /// Sign-in name (letters, digits, `.`, `_`, `-`, `@`).
        username: String,
        /// The name shown to other participants and certified by the organization key.
        display_name: String,
        /// Read the password as one line from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List all accounts.
    List,
    /// Disable an account: it can no longer sign in, its sessions and tokens are revoked, and
    /// a running server closes its open connections within `session_check_secs`.
    Disable {
        /// The account's sign-in name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account's sign-in name.
        username: String,
    },
}

/// Runs one account command against `store`; returns the text to print.
pub async fn run_user_command(cmd: UserCommand, store: &Store) -> Result<String, StoreError> {
    run_user_command_with(cmd, store, read_password).await
}

/// Like [`run_user_command`], with the password read by `read_password(password_stdin)`
/// (run on a blocking thread). Lets tests and embedders supply the password another way.
pub async fn run_user_command_with<F>(
    cmd: UserCommand,
    store: &Store,
    read_password: F,
) -> Result<String, StoreError>
where
    F: FnOnce(bool) -> std::io::Result<String> + Send + 'static,
{
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            password_stdin,
        } => {
            if store.user_by_username(&username).await?.is_some() {
                return Err(StoreError::DuplicateUsername(username));
            }
            let password = tokio::task::spawn_blocking(move || read_password(password_stdin))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?
                .map_err(StoreError::PasswordInput)?;
            let user = store.add_user(&username, &display_name, &password).await?;
            store
                .audit(None, CLI_ACTOR, "user.add", Some(&user.username))
                .await?;
            Ok(format!(
                "added user {} ({}), id {}",
                user.username, user.display_name, user.id
            ))
        }
        UserCommand::List => Ok(format_users(&store.list_users().await?)),
        UserCommand::Disable { username } => {
            let user = store.set_user_disabled(&username, true).await?;
            store
                .audit(None, CLI_ACTOR, "user.disable", Some(&user.username))
                .await?;
            Ok(format!(
                "disabled user {}; its sign-in sessions were revoked (a running server closes \
                 its open connections within session_check_secs)",
                user.username
            ))
        }
        UserCommand::Enable { username } => {
            let user = store.set_user_disabled(&username, false).await?;
            store
                .audit(None, CLI_ACTOR, "user.enable", Some(&user.username))
                .await?;
            Ok(format!("enabled user {}", user.username))
        }
    }
}

fn format_users(users: &[UserRecord]) -> String {
    if users.is_empty() {
        return "no users".to_owned();
    }
    let width = users
        .iter()
        .map(|u| u.username.chars().count())
        .max()
        .unwrap_or(0)
        .max("USERNAME".len());
    let mut out = format!(
        "{:width$}  {:8}  {:32}  DISPLAY NAME",
        "USERNAME", "STATUS", "ID"
    );
    for user in users {
        let status = if user.disabled { "disabled" } else { "enabled" };
        out.push_str(&format!(
            "\n{:width$}  {:8}  {:32}  {}",
            user.username, status, user.id, user.display_name
        ));
    }
    out
}

/// Reads a new account password: one line from standard input when `password_stdin` is set
/// or standard input is not a terminal; otherwise asked twice on the terminal without echo.
pub fn read_password(password_stdin: bool) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if password_stdin || !stdin.is_terminal() {
        return password_from_reader(&mut stdin.lock());
    }
    match rpassword::prompt_password("Password: ") {
        Ok(first) => {
            let second = rpassword::prompt_password("Repeat password: ")?;
            if first != second {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the two passwords differ",
                ));
            }
            Ok(first)
        }
        Err(error) => {
            tracing::debug!(%error, "no terminal for the password prompt; reading stdin");
            password_from_reader(&mut stdin.lock())
        }
    }
}

/// Reads one line as a password, without its line ending; an empty input is an error.
pub fn password_from_reader(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no password given",
        ));
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;
    use crate::store::StoreOptions;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        user: UserCommand,
    }

    async fn store(dir: &std::path::Path) -> Store {
        Store::open_with(dir, StoreOptions::insecure_fast_hashing_for_tests())
            .await
            .unwrap()
    }

    fn add(username: &str, display_name: &str) -> UserCommand {
        UserCommand::Add {
            username: username.into(),
            display_name: display_name.into(),
            password_stdin: true,
        }
    }

    #[test]
    fn password_is_never_an_argument() {
        let cli = Cli::try_parse_from(["user", "add", "alice", "Alice L", "--password-stdin"]);
        assert_eq!(cli.unwrap().user, add("alice", "Alice L"));
        let cli = Cli::try_parse_from(["user", "add", "alice", "Alice", "--password", "pw"]);
        assert!(cli.is_err());
        let cli = Cli::try_parse_from(["user", "disable", "alice"]).unwrap();
        assert_eq!(
            cli.user,
            UserCommand::Disable {
                username: "alice".into()
            }
        );
    }

    #[test]
    fn password_lines_lose_their_line_ending() {
        let read = |input: &str| password_from_reader(&mut std::io::Cursor::new(input.to_owned()));
        assert_eq!(read("s3cret\n").unwrap(), "s3cret");
        assert_eq!(read("s3cret\r\nnext line\n").unwrap(), "s3cret");
        assert_eq!(read("  spaced  ").unwrap(), "  spaced  ");
        assert!(read("").is_err());
        assert!(read("\n").is_err());
    }

    #[tokio::test]
    async fn add_list_disable_enable() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        assert_eq!(
            run_user_command_with(UserCommand::List, &store, |_| unreachable!())
                .await
                .unwrap(),
            "no users"
        );
        let out = run_user_command_with(add("alice", "Alice"), &store, |stdin| {
            assert!(stdin);
            Ok("Cli-Password-1".to_owned())
        })
        .await
        .unwrap();
        assert!(out.starts_with("added user alice (Alice), id "), "{out}");
        assert!(!out.contains("Cli-Password-1"));
        let alice = store
            .verify_password("alice", "Cli-Password-1")
            .await
            .unwrap();
        run_user_command_with(add("bob", "ボブ"), &store, |_| Ok("pw-2".into()))
            .await
            .unwrap();

        let disable = UserCommand::Disable {
            username: "alice".into(),
        };
        run_user_command_with(disable, &store, |_| unreachable!())
            .await
            .unwrap();
        let list = run_user_command_with(UserCommand::List, &store, |_| unreachable!())
            .await
            .unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 3, "{list}");
        assert!(lines[1].starts_with("alice") && lines[1].contains("disabled"));
        assert!(lines[1].contains(&alice.id));
        assert!(lines[2].starts_with("bob") && lines[2].contains("enabled"));
        assert!(lines[2].ends_with("ボブ"));
        assert!(matches!(
            store.verify_password("alice", "Cli-Password-1").await,
            Err(StoreError::Disabled)
        ));

        let enable = UserCommand::Enable {
            username: "alice".into(),
        };
        run_user_command_with(enable, &store, |_| unreachable!())
            .await
            .unwrap();
        assert!(
            store
                .verify_password("alice", "Cli-Password-1")
                .await
                .is_ok()
        );

        let entries = store.audit_entries(None).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["user.add", "user.add", "user.disable", "user.enable"]
        );
        assert!(entries.iter().all(|e| e.actor == CLI_ACTOR));
        assert!(!format!("{entries:?}").contains("Cli-Password-1"));
    }

    #[tokio::test]
    async fn errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let unknown = UserCommand::Enable {
            username: "ghost".into(),
        };
        assert!(matches!(
            run_user_command_with(unknown, &store, |_| unreachable!()).await,
            Err(StoreError::UnknownUser(_))
        ));
        let failed_read = run_user_command_with(add("carol", "Carol"), &store, |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no password given",
            ))
        })
        .await;
        assert!(matches!(failed_read, Err(StoreError::PasswordInput(_))));
        run_user_command_with(add("carol", "Carol"), &store, |_| Ok("pw".into()))
            .await
            .unwrap();
        // A taken username is refused before the password is even asked for.
        let duplicate = run_user_command_with(add("Carol", "C"), &store, |_| unreachable!()).await;
        assert!(matches!(duplicate, Err(StoreError::DuplicateUsername(_))));
    }
}
