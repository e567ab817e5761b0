//! Diagnostics export: the app's recent log lines (kept in memory, never written to disk by
//! themselves) and its state, with every secret-looking value redacted before the user saves
//! the report.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// How many recent log lines the report carries.
const KEPT_LINES: usize = 500;
/// Runs of token-like characters at least this long are treated as secrets.
const SECRET_RUN: usize = 24;
const REDACTED: &str = "<redacted>";
/// Field names whose values are secrets.
const SECRET_FIELDS: [&str; 6] = [
    "token",
    "password",
    "secret",
    "signature_key",
    "bearer",
    "key",
];

/// The in-memory tail of the log, shared with the tracing subscriber.
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogBuffer {
    pub fn lines(&self) -> Vec<String> {
        match self.lines.lock() {
            Ok(lines) => lines.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }

    fn push(&self, text: &str) {
        let mut lines = match self.lines.lock() {
            Ok(lines) => lines,
            Err(poisoned) => poisoned.into_inner(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }
}

/// One log event's writer (tracing's `MakeWriter`).
pub struct LineWriter {
    buffer: LogBuffer,
    pending: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        self.buffer.push(&text);
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buffer: self.clone(),
            pending: Vec::new(),
        }
    }
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')
}

/// Replaces long token-like runs (base64, hex, bearer tokens, keys) with `<redacted>`.
fn redact_runs(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let looks_secret = run.chars().count() >= SECRET_RUN
            && run.chars().any(|c| c.is_ascii_digit())
            && run.chars().any(|c| c.is_ascii_alphabetic());
        out.push_str(if looks_secret { REDACTED } else { run.as_str() });
        run.clear();
    };
    for c in line.chars() {
        if token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Redacts the value after a secret field name (`password=…`, `"token": "…"`, `Bearer …`).
fn redact_fields(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    for field in SECRET_FIELDS {
        let Some(at) = lower.find(field) else {
            continue;
        };
        let after = at + field.len();
        // What follows the name up to the value: separators, quotes, spaces.
        let rest = &line[after..];
        let value_start = rest
            .char_indices()
            .find(|(_, c)| !matches!(c, '"' | '\'' | ':' | '=' | ' ' | '\t'))
            .map(|(i, _)| i);
        let Some(value_start) = value_start else {
            continue;
        };
        let separators = &rest[..value_start];
        let is_assignment = separators.contains([':', '=']) || field == "bearer";
        if !is_assignment || value_start == 0 && field != "bearer" {
            continue;
        }
        let value = &rest[value_start..];
        let value_end = value
            .char_indices()
            .find(|(_, c)| matches!(c, '"' | '\'' | ',' | ' ' | '}' | ';' | '&'))
            .map(|(i, _)| i)
            .unwrap_or(value.len());
        let redacted = format!(
            "{}{separators}{REDACTED}{}",
            &line[..after],
            redact_fields(&value[value_end..])
        );
        return redacted;
    }
    line.to_owned()
}

/// The report with secrets removed, line by line.
pub fn redact(report: &str) -> String {
    report
        .lines()
        .map(|line| redact_runs(&redact_fields(line)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report a user can attach to a support request.
pub fn report(state: &[(&str, String)], log: &LogBuffer) -> String {
    let mut out = format!(
        "Conclave {} on {} ({})\n\n[state]\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    for (name, value) in state {
        out.push_str(&format!("{name} = {value}\n"));
    }
    out.push_str("\n[log]\n");
    for line in log.lines() {
        out.push_str(&line);
        out.push('\n');
    }
    redact(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_passwords_and_keys_are_redacted() {
        let text = "\
signin ok token=AbCdEf0123456789AbCdEf0123456789 user=hana
{\"password\": \"Hunter2!\", \"number\": \"12345678901\"}
Authorization: Bearer abc.def.ghi
meeting password: short1
device key MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
server = 127.0.0.1:8443";
        let redacted = redact(text);
        for secret in [
            "AbCdEf0123456789AbCdEf0123456789",
            "Hunter2!",
            "abc.def.ghi",
            "short1",
            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE",
        ] {
            assert!(!redacted.contains(secret), "{secret} leaked:\n{redacted}");
        }
        // What support needs stays readable.
        assert!(redacted.contains("user=hana"));
        assert!(redacted.contains("12345678901"));
        assert!(redacted.contains("server = 127.0.0.1:8443"));
    }

    #[test]
    fn the_report_carries_state_and_recent_log_lines_without_secrets() {
        let log = LogBuffer::default();
        {
            let mut writer = tracing_subscriber::fmt::MakeWriter::make_writer(&log);
            writer
                .write_all(b"INFO joined meeting token=ZXhhbXBsZS10b2tlbi0xMjM0NTY3ODkw\n")
                .expect("write");
        }
        let report = report(&[("language", "ja".into())], &log);
        assert!(report.contains("language = ja"));
        assert!(report.contains("INFO joined meeting"));
        assert!(!report.contains("ZXhhbXBsZS10b2tlbi0xMjM0NTY3ODkw"));
    }

    #[test]
    fn the_log_tail_is_bounded() {
        let log = LogBuffer::default();
        for i in 0..(KEPT_LINES + 10) {
            log.push(&format!("line {i}"));
        }
        let lines = log.lines();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines.first().map(String::as_str), Some("line 10"));
    }
}
