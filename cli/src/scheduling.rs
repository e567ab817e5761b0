//! `conclave-cli schedule | list | update | cancel | export-invite | password-message`.
//!
//! The server keeps only a hash of a meeting's password and hands the clear one out once, when
//! it is set; the CLI keeps it with the sign-in (OS keychain or the 0600 credentials file) so
//! the separate password message can be rendered later.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, NaiveDateTime, Weekday};
use clap::{Args, Subcommand, ValueEnum};
use conclave_core::client::schedule_api::Scheduler;
use conclave_core::invite::{
    InvitationInput, Language, render_html, render_ics, render_ics_cancel, render_password_message,
    render_text,
};
use conclave_protocol::schedule::{
    MeetingOptions, MeetingUpdate, ScheduleRequest, ScheduledMeeting, WeeklyRecurrence, When,
};

use crate::credentials::{StoredIdentity, Vault};
use crate::{IdentityArgs, ServerArgs, read_secret_line};

/// When a meeting happens, as flags.
#[derive(Args, Debug, Clone)]
pub struct WhenArgs {
    /// Local start, e.g. 2026-12-01T10:00.
    #[arg(long, value_parser = parse_local_time)]
    start: Option<NaiveDateTime>,
    /// IANA time zone, e.g. Asia/Tokyo (default: this computer's zone).
    #[arg(long)]
    time_zone: Option<String>,
    /// Length in minutes.
    #[arg(long)]
    duration: Option<u32>,
    /// Repeat weekly on these days, e.g. tue,thu.
    #[arg(long, value_delimiter = ',', value_parser = parse_weekday)]
    weekly: Vec<Weekday>,
    /// Last day of the recurrence (local date).
    #[arg(long, requires = "weekly", conflicts_with = "count")]
    until: Option<NaiveDate>,
    /// Number of occurrences.
    #[arg(long, requires = "weekly")]
    count: Option<u32>,
}

impl WhenArgs {
    fn is_empty(&self) -> bool {
        self.start.is_none()
            && self.time_zone.is_none()
            && self.duration.is_none()
            && self.weekly.is_empty()
    }

    /// A whole `When`, starting from `base` (the current schedule, on update).
    fn resolve(&self, base: Option<&When>) -> Result<When> {
        let start = match (self.start, base) {
            (Some(start), _) => start,
            (None, Some(base)) => base.start,
            (None, None) => bail!("--start is required (e.g. --start 2026-12-01T10:00)"),
        };
        let time_zone = match (&self.time_zone, base) {
            (Some(zone), _) => zone.clone(),
            (None, Some(base)) => base.time_zone.clone(),
            (None, None) => local_time_zone(),
        };
        let duration_minutes = self
            .duration
            .or(base.map(|b| b.duration_minutes))
            .unwrap_or(60);
        let recurrence = if self.weekly.is_empty() {
            base.and_then(|b| b.recurrence.clone())
        } else {
            Some(WeeklyRecurrence {
                days: self.weekly.clone(),
                until: self.until,
                count: self.count,
            })
        };
        let when = When {
            start,
            time_zone,
            duration_minutes,
            recurrence,
        };
        when.validate()?;
        Ok(when)
    }
}

fn parse_local_time(text: &str) -> Result<NaiveDateTime, String> {
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| format!("{text:?} is not a local time like 2026-12-01T10:00"))
}

fn parse_weekday(text: &str) -> Result<Weekday, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a weekday (mon, tue, … sun)"))
}

fn local_time_zone() -> String {
    iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".to_owned())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InviteFormat {
    /// iCalendar (.ics) for calendars.
    Ics,
    /// Plain-text email body.
    Text,
    /// HTML email body.
    Html,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Lang {
    En,
    Ja,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::En => Language::English,
            Lang::Ja => Language::Japanese,
        }
    }
}

// The flags of `conclave-cli schedule` (a struct keeps `run` short).
#[derive(Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[arg(long)]
    pub title: String,
    #[command(flatten)]
    pub when: WhenArgs,
    #[arg(long)]
    pub require_sign_in: bool,
    #[arg(long)]
    pub lobby: bool,
    #[arg(long)]
    pub auto_lock_minutes: Option<u32>,
    #[arg(long)]
    pub join_before_host: bool,
    /// Put the password into the invitation (off by default: it goes by another channel).
    #[arg(long)]
    pub include_password_in_invitation: bool,
    /// A co-host's username (repeatable); co-hosts see the meeting in their list.
    #[arg(long = "co-host")]
    pub co_hosts: Vec<String>,
    /// Read a host-chosen password from stdin instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long)]
    pub json: bool,
}

// The flags of `conclave-cli update`.
#[derive(Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    pub number: String,
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub when: WhenArgs,
    #[arg(long)]
    pub require_sign_in: Option<bool>,
    #[arg(long)]
    pub lobby: Option<bool>,
    /// Minutes, or 0 to turn auto-lock off.
    #[arg(long)]
    pub auto_lock_minutes: Option<u32>,
    #[arg(long)]
    pub join_before_host: Option<bool>,
    #[arg(long)]
    pub exclude_password_from_invitation: Option<bool>,
    /// Replace the co-hosts with these usernames (repeatable).
    #[arg(long = "co-host")]
    pub co_hosts: Vec<String>,
    /// Remove every co-host.
    #[arg(long, conflicts_with = "co_hosts")]
    pub no_co_hosts: bool,
    /// Have the server generate a new password.
    #[arg(long, conflicts_with = "password_stdin")]
    pub regenerate_password: bool,
    /// Read a new host-chosen password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Refuse the update if someone changed the meeting since this sequence.
    #[arg(long)]
    pub if_sequence: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

/// The scheduling subcommands.
#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Schedule a meeting; the password is generated unless --password-stdin.
    Schedule(ScheduleArgs),
    /// List your scheduled meetings.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        #[arg(long)]
        json: bool,
    },
    /// Change a scheduled meeting; only the options given change.
    Update(UpdateArgs),
    /// Cancel a scheduled meeting; writes the cancellation (.ics) when --out is given.
    Cancel {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        number: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "en")]
        lang: Lang,
    },
    /// Write the invitation (.ics, text or HTML email body) to a file or stdout.
    ExportInvite {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        number: String,
        #[arg(long, value_enum, default_value = "ics")]
        format: InviteFormat,
        #[arg(long, value_enum, default_value = "en")]
        lang: Lang,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the short password message to send by another channel (chat, phone, SMS).
    PasswordMessage {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        number: String,
        #[arg(long, value_enum, default_value = "en")]
        lang: Lang,
    },
}

struct Session {
    vault: Vault,
    stored: StoredIdentity,
    scheduler: Scheduler,
}

async fn session(server: &ServerArgs, identity: &IdentityArgs) -> Result<Session> {
    let vault = Vault::new(
        identity.credentials_file.clone(),
        &identity.user,
        &server.server,
    );
    let stored = StoredIdentity::load(&vault)?
        .fresh(&vault, &server.trust())
        .await?;
    let scheduler = Scheduler::new(&server.server, &server.trust(), stored.token())?;
    Ok(Session {
        vault,
        stored,
        scheduler,
    })
}

impl Session {
    fn remember_password(&mut self, number: &str, password: &str) -> Result<()> {
        self.stored.set_meeting_password(number, password);
        self.stored
            .save(&self.vault)
            .context("could not keep the meeting password on this device")
    }
}

fn summary(meeting: &ScheduledMeeting) -> String {
    let state = if meeting.cancelled {
        " (cancelled)"
    } else {
        ""
    };
    format!(
        "{}  {}  {} {} ({} min){}",
        meeting.number,
        meeting.title,
        meeting.when.start.format("%Y-%m-%d %H:%M"),
        meeting.when.time_zone,
        meeting.when.duration_minutes,
        state
    )
}

fn write_out(out: Option<&PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn input<'a>(
    meeting: &'a ScheduledMeeting,
    password: Option<&'a str>,
    lang: Lang,
) -> InvitationInput<'a> {
    InvitationInput {
        meeting,
        password,
        language: lang.into(),
        organizer_email: None,
        now: chrono::Utc::now(),
    }
}

/// Runs one scheduling subcommand; returns the exit code.
pub async fn run(command: ScheduleCommand) -> Result<u8> {
    match command {
        ScheduleCommand::Schedule(args) => schedule(args).await?,
        ScheduleCommand::List {
            server,
            identity,
            json,
        } => list(&session(&server, &identity).await?, json).await?,
        ScheduleCommand::Update(args) => update(args).await?,
        ScheduleCommand::Cancel {
            server,
            identity,
            number,
            out,
            lang,
        } => {
            cancel(
                &session(&server, &identity).await?,
                &number,
                out.as_ref(),
                lang,
            )
            .await?
        }
        ScheduleCommand::ExportInvite {
            server,
            identity,
            number,
            format,
            lang,
            out,
        } => {
            let session = session(&server, &identity).await?;
            export_invite(&session, &number, format, lang, out.as_ref()).await?;
        }
        ScheduleCommand::PasswordMessage {
            server,
            identity,
            number,
            lang,
        } => password_message(&session(&server, &identity).await?, &number, lang).await?,
    }
    Ok(0)
}

async fn schedule(args: ScheduleArgs) -> Result<()> {
    let mut session = session(&args.server, &args.identity).await?;
    let password = if args.password_stdin {
        Some(read_secret_line("meeting password")?)
    } else {
        None
    };
    let request = ScheduleRequest {
        title: args.title,
        when: args.when.resolve(None)?,
        options: MeetingOptions {
            require_sign_in: args.require_sign_in,
            lobby: args.lobby,
            auto_lock_minutes: args.auto_lock_minutes,
            join_before_host: args.join_before_host,
            exclude_password_from_invitation: !args.include_password_in_invitation,
        },
        co_hosts: args.co_hosts,
        password,
    };
    let response = session.scheduler.schedule(&request).await?;
    let meeting = response.meeting;
    if let Some(password) = &response.password {
        session.remember_password(&meeting.number, password)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&meeting)?);
    } else {
        println!("scheduled: {}", summary(&meeting));
        println!(
            "the password is kept on this device; send it separately with \
             `conclave-cli password-message {}`",
            meeting.number
        );
    }
    Ok(())
}

async fn list(session: &Session, json: bool) -> Result<()> {
    let meetings = session.scheduler.list().await?;
    if json {
        println!("{}", serde_json::to_string(&meetings)?);
    } else if meetings.is_empty() {
        println!("no scheduled meetings");
    } else {
        for meeting in &meetings {
            println!("{}", summary(meeting));
        }
    }
    Ok(())
}

async fn update(args: UpdateArgs) -> Result<()> {
    let mut session = session(&args.server, &args.identity).await?;
    let number = args.number;
    let when = if args.when.is_empty() {
        None
    } else {
        let current = session.scheduler.get(&number).await?;
        Some(args.when.resolve(Some(&current.when))?)
    };
    let password = if args.password_stdin {
        Some(read_secret_line("new meeting password")?)
    } else {
        None
    };
    let update = MeetingUpdate {
        title: args.title,
        when,
        require_sign_in: args.require_sign_in,
        lobby: args.lobby,
        auto_lock_minutes: args.auto_lock_minutes.map(|m| (m > 0).then_some(m)),
        join_before_host: args.join_before_host,
        exclude_password_from_invitation: args.exclude_password_from_invitation,
        co_hosts: (args.no_co_hosts || !args.co_hosts.is_empty()).then_some(args.co_hosts),
        password,
        regenerate_password: args.regenerate_password,
        if_sequence: args.if_sequence,
    };
    let response = session.scheduler.update(&number, &update).await?;
    if let Some(password) = &response.password {
        session.remember_password(&number, password)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&response.meeting)?);
    } else {
        println!(
            "updated (sequence {}): {}",
            response.meeting.sequence,
            summary(&response.meeting)
        );
        if response.password.is_some() {
            println!("new password kept on this device; send the new password message");
        }
    }
    Ok(())
}

async fn cancel(session: &Session, number: &str, out: Option<&PathBuf>, lang: Lang) -> Result<()> {
    let meeting = session.scheduler.cancel(number).await?;
    if let Some(path) = out {
        write_out(
            Some(path),
            &render_ics_cancel(&input(&meeting, None, lang))?,
        )?;
    }
    println!("cancelled: {}", summary(&meeting));
    Ok(())
}

async fn export_invite(
    session: &Session,
    number: &str,
    format: InviteFormat,
    lang: Lang,
    out: Option<&PathBuf>,
) -> Result<()> {
    let meeting = session.scheduler.get(number).await?;
    let password = session.stored.meeting_password(number);
    if !meeting.options.exclude_password_from_invitation && password.is_none() {
        bail!(
            "this meeting's invitation should include the password, but this device \
             does not hold it; run `conclave-cli update {number} --regenerate-password`"
        );
    }
    let input = input(&meeting, password, lang);
    let text = match (format, meeting.cancelled) {
        (InviteFormat::Ics, true) => render_ics_cancel(&input)?,
        (InviteFormat::Ics, false) => render_ics(&input)?,
        (InviteFormat::Text, _) => render_text(&input)?,
        (InviteFormat::Html, _) => render_html(&input)?,
    };
    write_out(out, &text)
}

async fn password_message(session: &Session, number: &str, lang: Lang) -> Result<()> {
    let meeting = session.scheduler.get(number).await?;
    let Some(password) = session.stored.meeting_password(number) else {
        bail!(
            "this device does not hold the password of meeting {number}; run \
             `conclave-cli update {number} --regenerate-password` to set a new one"
        );
    };
    print!(
        "{}",
        render_password_message(&meeting, password, lang.into())?
    );
    Ok(())
}
