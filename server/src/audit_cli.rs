//! `conclaved audit …`: reading the audit trail from the command line.
//!
//! ```text
//! conclaved audit list   [--meeting N] [--user NAME|ID] [--since T] [--until T]
//! conclaved audit export [--meeting N] [--user NAME|ID] [--since T] [--until T]
//!                        [--format jsonl|csv]
//! ```
//!
//! Times are RFC 3339 (`2026-12-01T09:00:00Z`, `2026-12-01T18:00:00+09:00`), both ends
//! inclusive. `--user` takes a username or an account id. The export goes to standard output:
//! one JSON object per line, or CSV written by a real CSV writer (commas, quotes and line
//! breaks in names are quoted) whose cells that a spreadsheet would run as a formula (starting
//! with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::{AuditEntry, AuditFilter, Store, StoreError};

/// Audit trail subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum AuditCommand {
    /// List entries, oldest first, one per line.
    List {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Export entries to standard output.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// `jsonl` (one JSON object per line) or `csv` (with a header row).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

/// Which entries: every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct FilterArgs {
    /// Only this meeting's entries.
    #[arg(long, value_name = "NUMBER")]
    pub meeting: Option<String>,
    /// Only what this account did (username or account id).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Entries at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// How `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Why an audit command failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditCliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--{flag} is not an RFC 3339 time (like 2026-12-01T09:00:00Z): {value:?}")]
    Time { flag: &'static str, value: String },
    #[error("cannot write the output: {0}")]
    Write(String),
}

fn write_error(e: impl std::fmt::Display) -> AuditCliError {
    AuditCliError::Write(e.to_string())
}

/// Runs one audit command against `store`, writing to `out`.
pub async fn run_audit_command(
    command: AuditCommand,
    store: &Store,
    out: &mut impl Write,
) -> Result<(), AuditCliError> {
    let (filter, format) = match command {
        AuditCommand::List { filter } => (filter, None),
        AuditCommand::Export { filter, format } => (filter, Some(format)),
    };
    let filter = resolve(filter, store).await?;
    let entries = store.audit_query(&filter).await?;
    match format {
        None => write_list(&entries, out),
        Some(ExportFormat::Jsonl) => write_jsonl(&entries, out),
        Some(ExportFormat::Csv) => write_csv(&entries, out),
    }
}

async fn resolve(args: FilterArgs, store: &Store) -> Result<AuditFilter, AuditCliError> {
    let user_id = match args.user {
        Some(user) => match store.user_by_username(&user).await? {
            Some(record) => Some(record.id),
            // Not a username: an account id (perhaps of an account since removed).
            None => Some(user),
        },
        None => None,
    };
    Ok(AuditFilter {
        meeting_number: args.meeting,
        user_id,
        since: args.since.map(|t| parse_time("since", &t)).transpose()?,
        until: args.until.map(|t| parse_time("until", &t)).transpose()?,
    })
}

/// An RFC 3339 time as Unix seconds.
pub fn parse_time(flag: &'static str, value: &str) -> Result<i64, AuditCliError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp())
        .map_err(|_| AuditCliError::Time {
            flag,
            value: value.to_owned(),
        })
}

fn rfc3339(at: i64) -> String {
    DateTime::<Utc>::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// One exported entry.
#[derive(Debug, Serialize)]
struct Row<'a> {
    id: i64,
    at: String,
    meeting: Option<&'a str>,
    action: &'a str,
    actor: &'a str,
    user_id: Option<&'a str>,
    display_name: Option<&'a str>,
    device: Option<&'a str>,
    address: Option<&'a str>,
    target: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for Row<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        Row {
            id: e.id,
            at: rfc3339(e.at),
            meeting: e.meeting_number.as_deref(),
            action: &e.action,
            actor: &e.actor,
            user_id: e.user_id.as_deref(),
            display_name: e.display_name.as_deref(),
            device: e.device.as_deref(),
            address: e.address.as_deref(),
            target: e.target.as_deref(),
        }
    }
}

const CSV_HEADER: [&str; 10] = [
    "id",
    "at",
    "meeting",
    "action",
    "actor",
    "user_id",
    "display_name",
    "device",
    "address",
    "target",
];

/// A CSV cell a spreadsheet will show as text: one that would start a formula gets a `'`.
pub fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn write_csv(entries: &[AuditEntry], out: &mut impl Write) -> Result<(), AuditCliError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_HEADER).map_err(write_error)?;
    for entry in entries {
        let row = Row::from(entry);
        let cells = [
            Some(row.id.to_string().as_str()),
            Some(row.at.as_str()),
            row.meeting,
            Some(row.action),
            Some(row.actor),
            row.user_id,
            row.display_name,
            row.device,
            row.address,
            row.target,
        ]
        .map(|cell| spreadsheet_safe(cell.unwrap_or_default()));
        writer.write_record(&cells).map_err(write_error)?;
    }
    writer.flush().map_err(write_error)
}

fn write_jsonl(entries: &[AuditEntry], out: &mut impl Write) -> Result<(), AuditCliError> {
    for entry in entries {
        serde_json::to_writer(&mut *out, &Row::from(entry)).map_err(write_error)?;
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)
}

/// Text for a terminal: control characters (a name or a username tried could hold escape
/// sequences) are shown escaped, not sent to the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn write_list(entries: &[AuditEntry], out: &mut impl Write) -> Result<(), AuditCliError> {
    if entries.is_empty() {
        return writeln!(out, "no audit entries").map_err(write_error);
    }
    for entry in entries {
        let row = Row::from(entry);
        let mut line = format!(
            "{}  {}  {}",
            row.at,
            printable(row.action),
            printable(row.actor)
        );
        let fields = [
            ("meeting", row.meeting),
            ("user", row.user_id),
            ("name", row.display_name),
            ("device", row.device),
            ("from", row.address),
            ("target", row.target),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                line.push_str(&format!("  {name}={}", printable(value)));
            }
        }
        writeln!(out, "{line}").map_err(write_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
