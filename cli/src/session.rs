//! `conclave-cli join`: takes part in a meeting. Events are printed as they happen (text, or
//! one JSON object per line with `--json`); host actions are read from stdin, one per line:
//! `lock`, `unlock`, `lobby on|off`, `auto-lock <min>|off`, `require-sign-in on|off`,
//! `admit <id>`, `admit-all`, `deny <id> [reason]`, `expel <id>`, `expel-unverified`,
//! `co-host <id>`, `end`, `status`, `leave`; and for this member's audio `mute`, `unmute`.
//!
//! Exit codes: 0 left, 2 denied or refused, 3 expelled, 4 meeting ended, 1 other errors.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use std::sync::Arc;

use conclave_core::client::media_session::{self, MediaSession};
use conclave_core::client::media_start::MediaStartError;
use conclave_core::client::{Event, LeftReason, MeetingClient, Phase, Presence, Snapshot};
use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::TestPattern;
use conclave_media::pipeline::AudioPipeline;
use conclave_media::processing::{AudioProcessingConfig, with_audio_processing};
use conclave_media::signal::{ToneSource, WavRecorder, WavSource};
use conclave_media::video_pipeline::VideoPipeline;
use conclave_media::{AudioSink, AudioSource};
use conclave_media::{VideoSink, VideoSource};
use conclave_protocol::identity::TrustState;
use conclave_protocol::{ClientMessage, ErrorCode, ParticipantId, Reason};
use conclave_rtc::bottleneck::Bottleneck;
use conclave_rtc::lossy::LossRate;
use conclave_rtc::transport::{LinkOptions, MediaLink};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

/// Parses one stdin line into a request; `Ok(None)` for `status`.
pub fn parse_command(line: &str) -> Result<Option<ClientMessage>> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let id = |word: Option<&str>| -> Result<ParticipantId> {
        let text = word.ok_or_else(|| anyhow!("{verb} needs a participant id"))?;
        Ok(ParticipantId(
            text.parse()
                .map_err(|_| anyhow!("not a participant id: {text}"))?,
        ))
    };
    let switch = |word: Option<&str>| -> Result<bool> {
        match word {
            Some("on") => Ok(true),
            Some("off") => Ok(false),
            _ => bail!("{verb} takes on or off"),
        }
    };
    let message = match verb {
        "lock" => ClientMessage::Lock,
        "unlock" => ClientMessage::Unlock,
        "lobby" => ClientMessage::SetLobby {
            enabled: switch(words.next())?,
        },
        "require-sign-in" => ClientMessage::SetRequireSignIn {
            required: switch(words.next())?,
        },
        "auto-lock" => ClientMessage::SetAutoLock {
            minutes: match words.next() {
                Some("off") => None,
                Some(n) => Some(
                    n.parse()
                        .map_err(|_| anyhow!("auto-lock takes minutes or off"))?,
                ),
                None => bail!("auto-lock takes minutes or off"),
            },
        },
        "admit" => ClientMessage::Admit {
            participant: id(words.next())?,
            admission: None,
        },
        "admit-all" => ClientMessage::AdmitAll,
        "deny" => {
            let participant = id(words.next())?;
            let rest: Vec<&str> = words.collect();
            ClientMessage::Deny {
                participant,
                reason: (!rest.is_empty()).then(|| Reason::truncated(&rest.join(" "))),
            }
        }
        "expel" => ClientMessage::Expel {
            participant: id(words.next())?,
        },
        "expel-unverified" => ClientMessage::ExpelUnverified,
        "co-host" => ClientMessage::AssignCoHost {
            participant: id(words.next())?,
        },
        "end" => ClientMessage::EndMeeting,
        "leave" => ClientMessage::Leave,
        "status" => return Ok(None),
        other => bail!("unknown command: {other}"),
    };
    Ok(Some(message))
}

fn trust_label(trust: Option<&TrustState>) -> &'static str {
    match trust {
        Some(TrustState::VerifiedUser { .. }) => "verified",
        Some(TrustState::UnverifiedGuest { .. }) => "unverified",
        Some(TrustState::Invalid { .. }) => "INVALID",
        None => "joining",
    }
}

fn status_json(s: &Snapshot) -> serde_json::Value {
    json!({
        "event": "status",
        "participant": s.participant.map(|p| p.0),
        "phase": s.phase.as_ref().map(|p| format!("{p:?}")),
        "end_to_end_encrypted": s.end_to_end_encrypted,
        "epoch": s.epoch,
        "verification_code": s.code.map(|c| c.to_string()),
        "locked": s.meeting.as_ref().map(|m| m.locked),
        "roster": s.roster.iter().map(|r| json!({
            "participant": r.participant.map(|p| p.0),
            "name": r.display_name,
            "role": format!("{:?}", r.role),
            "trust": trust_label(r.trust.as_ref()),
            "presence": format!("{:?}", r.presence),
        })).collect::<Vec<_>>(),
        "unannounced": s.roster.iter().filter(|r| r.is_unannounced()).count(),
        "lobby": s.lobby.iter().map(|e| json!({
            "participant": e.participant.0,
            "name": e.display_name.as_str(),
            "signed_in": e.signed_in,
        })).collect::<Vec<_>>(),
    })
}

fn print_status(s: &Snapshot, as_json: bool) {
    if as_json {
        println!("{}", status_json(s));
        return;
    }
    for line in status_lines(s) {
        println!("{line}");
    }
}

/// The human-readable status: the padlock line (or, once out of the meeting, why), the
/// verification code, the roster and the lobby.
fn status_lines(s: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(match &s.phase {
        // Out of the meeting: say so, not that encryption is still being set up.
        Some(phase @ Phase::Left(_)) => phase_text(phase),
        _ if s.end_to_end_encrypted => "🔒 end-to-end encrypted".into(),
        _ => "⚠ not end-to-end encrypted yet".into(),
    });
    if let (Some(code), Some(epoch)) = (s.code, s.epoch) {
        lines.push(format!("verification code: {code}  (epoch {epoch})"));
    }
    let unannounced = s.roster.iter().filter(|r| r.is_unannounced()).count();
    if unannounced > 0 {
        lines.push(format!(
            "⚠ WARNING: {unannounced} participant(s) hold the meeting's keys although the server did not announce them"
        ));
    }
    for r in &s.roster {
        let id = r
            .participant
            .map_or_else(|| "?".to_string(), |p| p.0.to_string());
        let presence = match r.presence {
            Presence::Unannounced => " — NOT ANNOUNCED BY THE SERVER",
            Presence::Leaving => " — leaving",
            Presence::Present | Presence::Joining => "",
        };
        lines.push(format!(
            "  #{id} {} [{:?}] {}{presence}",
            r.display_name,
            r.role,
            trust_label(r.trust.as_ref())
        ));
    }
    for e in &s.lobby {
        let who = if e.signed_in { "signed in" } else { "guest" };
        lines.push(format!(
            "  waiting: #{} {} ({who})",
            e.participant.0,
            e.display_name.as_str()
        ));
    }
    lines
}

fn print_event(event: &Event, as_json: bool) {
    let value = match event {
        Event::Phase(phase) => json!({"event": "phase", "phase": format!("{phase:?}")}),
        Event::KeysChanged(code) => json!({
            "event": "keys_changed", "epoch": code.epoch(), "verification_code": code.to_string()
        }),
        Event::Knock(entry) => json!({
            "event": "knock", "participant": entry.participant.0,
            "name": entry.display_name.as_str(), "signed_in": entry.signed_in
        }),
        Event::Lobby(entries) => json!({"event": "lobby", "waiting": entries.len()}),
        Event::Roster => json!({"event": "roster"}),
        Event::Meeting(m) => json!({
            "event": "meeting", "locked": m.locked, "require_sign_in": m.require_sign_in,
            "lobby": m.lobby_enabled, "auto_lock_minutes": m.auto_lock_minutes
        }),
        Event::Error {
            code,
            message,
            retry_after_secs,
        } => json!({
            "event": "error", "code": format!("{code:?}"), "message": message,
            "retry_after_secs": retry_after_secs
        }),
        Event::SecurityWarning(text) => json!({"event": "security_warning", "message": text}),
    };
    if as_json {
        println!("{value}");
    } else {
        match event {
            Event::KeysChanged(code) => println!(
                "keys changed (epoch {}): verification code {code} — verify again",
                code.epoch()
            ),
            Event::Knock(entry) => println!(
                "🔔 #{} {} is waiting in the lobby ({})",
                entry.participant.0,
                entry.display_name.as_str(),
                if entry.signed_in {
                    "signed in"
                } else {
                    "guest"
                }
            ),
            Event::Error {
                message,
                retry_after_secs: Some(s),
                ..
            } => {
                println!("error: {message} (try again in {s} s)");
            }
            Event::Error { message, .. } => println!("error: {message}"),
            Event::SecurityWarning(text) => println!("security warning: {text}"),
            Event::Phase(phase) => println!("{}", phase_text(phase)),
            _ => {}
        }
    }
}

fn phase_text(phase: &Phase) -> String {
    match phase {
        Phase::Connected => "connected".into(),
        Phase::InLobby => "waiting for the host to let you in…".into(),
        Phase::Admitted => "admitted; setting up end-to-end encryption…".into(),
        Phase::InMeeting => "in the meeting".into(),
        Phase::Left(reason) => match reason {
            LeftReason::Denied(r) => format!("not let in: {r:?}"),
            LeftReason::Expelled(_) => "you were removed from the meeting by the host".into(),
            LeftReason::Ended(_) => "the meeting has ended".into(),
            LeftReason::RemovedFromGroup => "you are no longer in the meeting".into(),
            LeftReason::Left => "you left the meeting".into(),
        },
    }
}

/// Exit code for how the session ended.
pub fn exit_code(phase: Option<&Phase>, refused: bool) -> u8 {
    match phase {
        Some(Phase::Left(LeftReason::Denied(_))) => 2,
        Some(Phase::Left(LeftReason::Expelled(_) | LeftReason::RemovedFromGroup)) => 3,
        Some(Phase::Left(LeftReason::Ended(_))) => 4,
        _ if refused => 2,
        _ => 0,
    }
}

/// What audio to send and where to put what is heard (headless: tones and WAV files).
#[derive(Debug, Default, Clone)]
pub struct MediaOptions {
    /// Send a 440/660/880 Hz tone sequence, repeating.
    pub tone: bool,
    /// Send this 48 kHz mono 16-bit WAV file.
    pub send_audio: Option<std::path::PathBuf>,
    /// Record the meeting's mixed audio to this WAV file.
    pub record_audio: Option<std::path::PathBuf>,
    /// Echo cancellation, noise suppression and gain control on the sent audio.
    pub audio_processing: bool,
    /// Send this video.
    pub send_video: Option<VideoSourceKind>,
    /// Save every decoded picture as PNG in this directory.
    pub save_frames: Option<std::path::PathBuf>,
    /// Start muted.
    pub muted: bool,
    /// Diagnostic: percentage of UDP datagrams the media link drops.
    pub simulate_loss: Option<f64>,
    /// Diagnostic: a narrow uplink of this many kbit/s.
    pub simulate_uplink_kbps: Option<f64>,
    /// Diagnostic: ICE-TCP only, no UDP.
    pub tcp_only: bool,
}

/// The video sources a headless client has (cameras belong to the desktop app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoSourceKind {
    /// 320×240 color bars with a moving marker, 15 frames per second.
    TestPattern,
    /// The same with changing noise along the bottom, so the encoder fills its bitrate.
    NoisyTestPattern,
}

/// A stdin command for this member's own audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCommand {
    Mute,
    Unmute,
}

/// `mute` / `unmute`: handled here, never sent to the server.
pub fn parse_local_command(line: &str) -> Option<LocalCommand> {
    match line.trim() {
        "mute" => Some(LocalCommand::Mute),
        "unmute" => Some(LocalCommand::Unmute),
        _ => None,
    }
}

impl MediaOptions {
    /// The media link's sockets: UDP on every interface, or ICE-TCP only; optional loss.
    pub fn link_options(&self) -> Result<LinkOptions> {
        let simulated_loss = self
            .simulate_loss
            .map(LossRate::percent)
            .transpose()
            .map_err(|e| anyhow!("--simulate-loss: {e}"))?;
        let simulated_uplink = self
            .simulate_uplink_kbps
            .map(Bottleneck::kbps)
            .transpose()
            .map_err(|e| anyhow!("--simulate-uplink-kbps: {e}"))?;
        let mut options = if self.tcp_only {
            LinkOptions {
                tcp: vec!["0.0.0.0:0".to_owned()],
                ..LinkOptions::default()
            }
        } else {
            LinkOptions::udp("0.0.0.0:0")
        };
        options.simulated_loss = simulated_loss;
        options.simulated_uplink = simulated_uplink;
        Ok(options)
    }

    fn wanted(&self) -> bool {
        self.tone || self.send_audio.is_some() || self.record_audio.is_some() || self.video_wanted()
    }

    fn video_wanted(&self) -> bool {
        self.send_video.is_some() || self.save_frames.is_some()
    }

    fn video_pipeline(&self) -> Result<Option<VideoPipeline>> {
        if !self.video_wanted() {
            return Ok(None);
        }
        let config = VideoEncoderConfig::default();
        let source: Option<Box<dyn VideoSource + Send>> = match self.send_video {
            Some(VideoSourceKind::TestPattern) => {
                Some(Box::new(TestPattern::new(config.width, config.height)?))
            }
            Some(VideoSourceKind::NoisyTestPattern) => Some(Box::new(
                TestPattern::new(config.width, config.height)?.with_noise(),
            )),
            None => None,
        };
        let sink: Option<Box<dyn VideoSink + Send>> = match &self.save_frames {
            Some(dir) => Some(Box::new(crate::frames::PngFrames::create(dir)?)),
            None => None,
        };
        Ok(Some(VideoPipeline::new(source, sink, config)?))
    }

    fn pipeline(&self) -> Result<AudioPipeline> {
        let source: Option<Box<dyn AudioSource + Send>> = match (&self.send_audio, self.tone) {
            (Some(path), _) => Some(Box::new(WavSource::open(path)?)),
            (None, true) => Some(Box::new(ToneSource::new(
                [440.0, 660.0, 880.0]
                    .iter()
                    .cycle()
                    .take(3 * 10_000)
                    .map(|f| (*f, 25))
                    .collect(),
            ))),
            (None, false) => None,
        };
        let sink: Option<Box<dyn AudioSink + Send>> = match &self.record_audio {
            Some(path) => Some(Box::new(WavRecorder::create(path)?)),
            None => None,
        };
        let (source, sink) = if self.audio_processing {
            with_audio_processing(source, sink, AudioProcessingConfig::default())?
        } else {
            (source, sink)
        };
        Ok(AudioPipeline::new(source, sink)?)
    }
}

/// The outcome of the media start under way (pending while there is none).
async fn media_started(
    starting: &mut Option<JoinHandle<Result<Arc<MediaLink>, MediaStartError>>>,
) -> Result<Arc<MediaLink>> {
    match starting {
        Some(task) => Ok(task.await??),
        None => std::future::pending().await,
    }
}

/// Starts sending and playing on a connected link, muted if the user asked before.
fn start_session(
    media: &MediaOptions,
    link: Arc<MediaLink>,
    client: &MeetingClient,
    muted: bool,
) -> Result<MediaSession> {
    let mut pipeline = media.pipeline()?;
    pipeline.set_muted(muted);
    let video = media.video_pipeline()?;
    Ok(media_session::start_with_video(
        link,
        client.snapshot_watch(),
        pipeline,
        video,
    ))
}

/// Runs the session until it ends (or `stay` elapses after joining, if given).
pub async fn run(
    mut client: MeetingClient,
    as_json: bool,
    stay: Option<Duration>,
    media: MediaOptions,
) -> Result<u8> {
    let mut starting: Option<JoinHandle<Result<Arc<MediaLink>, MediaStartError>>> = None;
    let mut media_session: Option<MediaSession> = None;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let deadline = stay.map(|d| tokio::time::Instant::now() + d);
    let mut refused = false;
    let mut muted = media.muted;
    loop {
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = client.next_event() => {
                let Some(event) = event else { break };
                print_event(&event, as_json);
                if let Event::Error { code, .. } = &event
                    && matches!(code, ErrorCode::WrongPassword | ErrorCode::Throttled
                        | ErrorCode::MeetingNotFound | ErrorCode::SignInRequired
                        | ErrorCode::Unauthorized)
                    && client.snapshot().participant.is_none()
                {
                    refused = true;
                    break;
                }
                if matches!(event, Event::Phase(Phase::Left(_))) {
                    break;
                }
                if matches!(event, Event::Phase(Phase::InMeeting))
                    && media.wanted()
                    && starting.is_none()
                    && media_session.is_none()
                {
                    // In its own task: the meeting's events keep flowing while ICE connects.
                    starting = Some(tokio::spawn(client.start_media(&media.link_options()?)));
                }
            }
            started = media_started(&mut starting), if starting.is_some() => {
                starting = None;
                let session = start_session(&media, started?, &client, muted)?;
                if !as_json {
                    let what = if media.video_wanted() { "audio and video" } else { "audio" };
                    println!("{what} connected (end-to-end encrypted)");
                }
                media_session = Some(session);
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) if parse_local_command(&line).is_some() => {
                    muted = parse_local_command(&line) == Some(LocalCommand::Mute);
                    if let Some(session) = &media_session {
                        session.set_muted(muted);
                    }
                    if as_json {
                        println!("{}", json!({"event": "audio_muted", "muted": muted}));
                    } else {
                        println!("{}", if muted { "microphone muted" } else { "microphone on" });
                    }
                }
                Ok(Some(line)) => match parse_command(&line) {
                    Ok(Some(message)) => client.send(message),
                    Ok(None) => print_status(&client.snapshot(), as_json),
                    Err(e) => eprintln!("{e}"),
                },
                _ => stdin_open = false,
            },
            () = sleep => {
                client.send(ClientMessage::Leave);
                tokio::time::sleep(Duration::from_millis(100)).await;
                break;
            }
        }
    }
    if let Some(session) = media_session {
        finish_media(session, media.video_wanted(), as_json).await;
    }
    let snapshot = client.snapshot();
    print_status(&snapshot, as_json);
    let code = exit_code(snapshot.phase.as_ref(), refused);
    client.close();
    Ok(code)
}

/// Stops the media and prints what it carried (the WAV recording ends here).
async fn finish_media(session: MediaSession, video_wanted: bool, as_json: bool) {
    let stats = session.stats();
    let video = session.video_stats();
    if video_wanted {
        if as_json {
            println!(
                "{}",
                json!({"event": "video", "sent": video.frames_sent,
                    "keyframes_sent": video.keyframes_sent,
                    "keyframes_on_request": video.keyframes_on_request,
                    "received": video.frames_received, "decoded": video.frames_decoded,
                    "refused": video.frames_refused, "damaged": video.frames_damaged,
                    "keyframe_requests": video.keyframe_requests})
            );
        } else {
            println!(
                "video: {} pictures sent ({} keyframes, {} on request), {} received, \
                 {} decoded, {} refused, {} damaged",
                video.frames_sent,
                video.keyframes_sent,
                video.keyframes_on_request,
                video.frames_received,
                video.frames_decoded,
                video.frames_refused,
                video.frames_damaged
            );
        }
    }
    // Dropping the pipeline finishes the WAV recording.
    drop(session.stop().await);
    if as_json {
        println!(
            "{}",
            json!({"event": "audio", "sent": stats.frames_sent,
                "received": stats.frames_received, "refused": stats.frames_refused})
        );
    } else {
        println!(
            "audio: {} frames sent, {} received, {} refused",
            stats.frames_sent, stats.frames_received, stats.frames_refused
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_status_after_leaving_says_the_member_left() {
        let left = Snapshot {
            phase: Some(Phase::Left(LeftReason::Left)),
            ..Snapshot::default()
        };
        let lines = status_lines(&left);
        assert_eq!(lines[0], "you left the meeting");
        assert!(!lines.iter().any(|l| l.contains("encrypted")), "{lines:?}");
        let expelled = Snapshot {
            phase: Some(Phase::Left(LeftReason::Expelled(None))),
            ..Snapshot::default()
        };
        assert_eq!(
            status_lines(&expelled)[0],
            "you were removed from the meeting by the host"
        );
        // Before the keys are there, and once they are.
        let joining = Snapshot {
            phase: Some(Phase::Admitted),
            ..Snapshot::default()
        };
        assert_eq!(status_lines(&joining)[0], "⚠ not end-to-end encrypted yet");
        let in_meeting = Snapshot {
            phase: Some(Phase::InMeeting),
            end_to_end_encrypted: true,
            ..Snapshot::default()
        };
        assert_eq!(status_lines(&in_meeting)[0], "🔒 end-to-end encrypted");
    }

    #[test]
    fn commands_parse_and_bad_ones_are_explained() {
        assert_eq!(
            parse_command("lock").ok().flatten(),
            Some(ClientMessage::Lock)
        );
        assert_eq!(
            parse_command("admit 7").ok().flatten(),
            Some(ClientMessage::Admit {
                participant: ParticipantId(7),
                admission: None,
            })
        );
        assert_eq!(
            parse_command("auto-lock 10").ok().flatten(),
            Some(ClientMessage::SetAutoLock { minutes: Some(10) })
        );
        assert!(matches!(
            parse_command("deny 3 not invited").ok().flatten(),
            Some(ClientMessage::Deny { reason: Some(r), .. }) if r.as_str() == "not invited"
        ));
        assert!(parse_command("status").is_ok_and(|m| m.is_none()));
        assert_eq!(parse_local_command(" mute "), Some(LocalCommand::Mute));
        assert_eq!(parse_local_command("unmute"), Some(LocalCommand::Unmute));
        assert_eq!(parse_local_command("lock"), None);
        for bad in ["admit", "admit x", "lobby maybe", "fly"] {
            assert!(parse_command(bad).is_err(), "{bad}");
        }
        let lossy = MediaOptions {
            simulate_loss: Some(10.0),
            ..MediaOptions::default()
        };
        assert!(
            lossy
                .link_options()
                .is_ok_and(|o| o.simulated_loss.is_some())
        );
        for bad in [-5.0, 100.0, f64::NAN] {
            let options = MediaOptions {
                simulate_loss: Some(bad),
                ..MediaOptions::default()
            };
            assert!(options.link_options().is_err(), "{bad}");
        }
        let narrow = MediaOptions {
            simulate_uplink_kbps: Some(150.0),
            ..MediaOptions::default()
        };
        assert!(narrow.link_options().is_ok_and(|o| {
            o.simulated_uplink.map(|u| u.rate_bps()) == Some(150_000) && o.simulated_loss.is_none()
        }));
        for bad in [0.0, 2.0, -1.0, f64::NAN] {
            let options = MediaOptions {
                simulate_uplink_kbps: Some(bad),
                ..MediaOptions::default()
            };
            let error = options.link_options().err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("--simulate-uplink-kbps")),
                "{bad}: {error:?}"
            );
        }
        let tcp = MediaOptions {
            tcp_only: true,
            ..MediaOptions::default()
        };
        assert!(
            tcp.link_options()
                .is_ok_and(|o| o.udp.is_empty() && !o.tcp.is_empty())
        );
    }
}
