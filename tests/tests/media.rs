//! Media through the real SFU over WebRTC on loopback: A sends a known tone sequence,
//! Opus-encoded and SFrame-encrypted with the MLS epoch keys; B and C receive it through the
//! SFU, decrypt, buffer, decode and record, and the recordings carry the same tones. A tap at
//! the SFU shows it forwarded only SFrame ciphertext, and a participant whose forwarding is off
//! (lobby, expelled) gets nothing.
//!
//! Tolerance: in every 100 ms window in the middle of each tone, the sent tone is the strongest
//! candidate by at least 10× in power.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::client::media_start::MediaStartError;
use conclave_e2ee::group::{GroupMember, validate_key_package};
use conclave_e2ee::media_keys::{MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_media::audio::{AudioDecoder, AudioEncoder, AudioEncoderConfig};
use conclave_media::jitter::{JitterBuffer, Playout};
use conclave_media::signal::{ToneSource, dominant_tone};
use conclave_media::{AudioSource, FRAME_SAMPLES};
use conclave_protocol::ParticipantId;
use conclave_rtc::transport::MediaLink;
use conclave_server::sfu::Sfu;
use conclave_tests::media::{self, Meeting, poll_until, recorder, start_media, udp};

const TONES: [f64; 3] = [440.0, 880.0, 1320.0];
const FRAMES_PER_TONE: u32 = 25;

fn group(n: usize) -> Vec<GroupMember> {
    let mut host = GroupMember::guest("member 0").unwrap();
    host.create_group(b"media-e2e", Vec::new()).unwrap();
    let mut joiners: Vec<GroupMember> = (1..n)
        .map(|i| GroupMember::guest(&format!("member {i}")).unwrap())
        .collect();
    if joiners.is_empty() {
        return vec![host];
    }
    let key_packages = joiners
        .iter()
        .map(|j| validate_key_package(&j.key_package().unwrap(), None, 1_800_000_000).unwrap())
        .collect();
    let out = host.commit(key_packages, &[]).unwrap();
    host.confirm_commit().unwrap();
    let welcome = out.welcome.unwrap();
    for joiner in &mut joiners {
        joiner.join(&welcome).unwrap();
    }
    let mut all = vec![host];
    all.extend(joiners);
    all
}

async fn connect(sfu: &Arc<Sfu>, id: u64) -> Arc<MediaLink> {
    media::connect_to_sfu(sfu, ParticipantId(id), "12345678901").await
}

struct Listener {
    link: Arc<MediaLink>,
    receiver: MediaReceiver,
    buffer: JitterBuffer,
    decoder: AudioDecoder,
    recording: Vec<i16>,
    frames_received: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tones_reach_every_member_through_the_sfu_as_ciphertext_only() {
    let members = group(4);
    let config = MediaKeyConfig::default();
    let sfu = Sfu::new("127.0.0.1:0");
    let (tap_tx, mut tap_rx) = tokio::sync::mpsc::unbounded_channel();
    sfu.set_tap(tap_tx);

    let speaker = connect(&sfu, 1).await;
    let mut listeners = Vec::new();
    for (i, member) in members.iter().enumerate().skip(1).take(2) {
        listeners.push(Listener {
            link: connect(&sfu, i as u64 + 1).await,
            receiver: MediaReceiver::new(config, member.epoch_keys().unwrap()).unwrap(),
            buffer: JitterBuffer::new(),
            decoder: AudioDecoder::new().unwrap(),
            recording: Vec::new(),
            frames_received: 0,
        });
    }
    // Member 4 waits in the lobby: connected, but the SFU forwards nothing to it.
    let lobby = connect(&sfu, 4).await;
    for id in 1..=3 {
        sfu.set_forwarding(ParticipantId(id), true);
    }
    // Each member's connection gets a track of each other member by renegotiation; the
    // lobby's gets none.
    poll_until(
        "three renegotiations done and none running",
        || (sfu.renegotiations(), sfu.renegotiations_running()),
        |(done, running)| *done >= 3 && *running == 0,
    )
    .await;
    for id in 1..=3u64 {
        let others: Vec<_> = (1..=3u64)
            .filter(|o| *o != id)
            .map(|o| (ParticipantId(o), false))
            .collect();
        assert_eq!(sfu.tracks_of(ParticipantId(id)), others, "tracks of {id}");
    }
    assert!(sfu.tracks_of(ParticipantId(4)).is_empty());

    let mut sender = MediaSender::new(config, &members[0].epoch_keys().unwrap(), 0).unwrap();
    let mut encoder = AudioEncoder::new(AudioEncoderConfig::default()).unwrap();
    let mut source = ToneSource::new(TONES.iter().map(|f| (*f, FRAMES_PER_TONE)).collect());
    let mut pcm = vec![0i16; FRAME_SAMPLES];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let total = TONES.len() as u32 * FRAMES_PER_TONE;
    let mut sequence = 0u64;
    let mut clear = Vec::new();
    let mut clear_packets: Vec<Vec<u8>> = Vec::new();
    // Listening goes on after the sequence until each listener has 90 % of it and its
    // recording covers it from the onset (what the checks below read), within PATIENCE.
    let deadline = Instant::now() + conclave_tests::PATIENCE;
    let needed = TONES.len() * FRAMES_PER_TONE as usize;
    for tick in 0.. {
        let heard_enough = listeners.iter().all(|l| {
            l.frames_received as u32 >= total * 9 / 10
                && onset(&l.recording)
                    .is_some_and(|o| l.recording.len() / FRAME_SAMPLES >= o + needed)
        });
        if (tick >= total + 15 && heard_enough) || Instant::now() >= deadline {
            break;
        }
        ticker.tick().await;
        let now = Instant::now();
        if tick < total && source.next_frame(&mut pcm).unwrap() {
            if let Some(packet) = encoder.encode(&pcm).unwrap() {
                clear_packets.push(packet.to_vec());
                let mut wire = Vec::new();
                sender
                    .encrypt_into(&sequence.to_be_bytes(), packet, &mut wire)
                    .unwrap();
                speaker.send_audio(&wire).await.unwrap();
            }
            sequence += 1;
        }
        for listener in &mut listeners {
            while let Some(audio) = listener.link.try_next_audio().await {
                let frame = listener
                    .receiver
                    .decrypt_into(&audio.payload, 8, &mut clear, now)
                    .unwrap();
                assert_eq!(frame.sender, 0, "the KID names the speaker's leaf");
                let seq = u64::from_be_bytes(frame.metadata.try_into().unwrap());
                listener.buffer.push(seq, frame.payload.to_vec(), now);
                listener.frames_received += 1;
            }
            let mut out = vec![0i16; FRAME_SAMPLES];
            match listener.buffer.pop(now) {
                Playout::Waiting => continue,
                Playout::Packet(p) => listener.decoder.decode(&p, &mut out).unwrap(),
                Playout::Recover(p) => listener.decoder.recover(&p, &mut out).unwrap(),
                Playout::Conceal => listener.decoder.conceal(&mut out).unwrap(),
            }
            listener.recording.extend_from_slice(&out);
        }
    }

    for (index, listener) in listeners.iter().enumerate() {
        assert!(
            listener.frames_received as u32 >= total * 9 / 10,
            "listener {index} got {} of {total} frames",
            listener.frames_received
        );
        assert_tones(&listener.recording, &format!("listener {index}"));
    }

    // The lobby participant received nothing.
    assert!(lobby.try_next_audio().await.is_none());

    // The tap: everything forwarded is SFrame ciphertext. Nothing decodes without the keys:
    // an outsider's receiver (another group's keys) refuses every frame, and the clear Opus
    // packets the speaker produced never appear in what was forwarded.
    let outsider_group = group(1);
    let mut outsider = MediaReceiver::new(config, outsider_group[0].epoch_keys().unwrap()).unwrap();
    let mut forwarded = 0;
    while let Ok((publisher, payload)) = tap_rx.try_recv() {
        assert_eq!(publisher, ParticipantId(1));
        // A forwarded payload that carried a clear Opus packet would contain it verbatim.
        for packet in &clear_packets {
            assert!(
                !payload
                    .windows(packet.len())
                    .any(|w| w == packet.as_slice()),
                "the SFU forwarded a clear Opus packet"
            );
        }
        assert!(
            outsider
                .decrypt_into(&payload, 8, &mut clear, Instant::now())
                .is_err()
        );
        forwarded += 1;
    }
    assert!(forwarded as u32 >= total * 9 / 10);
    speaker.close().await;
    lobby.close().await;
}

/// Starts `audio` on loopback UDP without loss (no video).
async fn start_audio(
    client: &mut conclave_core::client::MeetingClient,
    audio: conclave_media::pipeline::AudioPipeline,
) -> conclave_core::client::media_session::MediaSession {
    start_media(client, audio, None, &udp(None)).await.0
}

/// The first frame of `recording` with a tone in it.
fn onset(recording: &[i16]) -> Option<usize> {
    recording
        .chunks_exact(FRAME_SAMPLES)
        .position(|frame| frame.iter().map(|s| i64::from(*s).abs()).sum::<i64>() > 1_000_000)
}

fn assert_tones(recording: &[i16], who: &str) {
    let onset = onset(recording).unwrap_or_else(|| panic!("{who} heard nothing"));
    for (k, tone) in TONES.iter().enumerate() {
        let first = onset + k * FRAMES_PER_TONE as usize + 5;
        for window in 0..3 {
            let from = (first + window * 5) * FRAME_SAMPLES;
            let samples = &recording[from..from + 5 * FRAME_SAMPLES];
            let (found, margin) = dominant_tone(samples, &TONES).unwrap();
            assert_eq!(found, *tone, "{who}, tone {k}, window {window}");
            assert!(margin > 10.0, "{who}, tone {tone}: {margin:.1}×");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_hears_its_host_through_the_real_server_and_the_lobby_hears_nothing() {
    use conclave_core::client::Phase;
    use conclave_media::pipeline::AudioPipeline;
    use conclave_tests::wait;

    let Meeting {
        server,
        created: meeting,
        mut host,
        mut guests,
    } = media::meeting(&["Aiko", "Ben"]).await;

    let mut recordings = Vec::new();
    let mut sessions = Vec::new();
    for guest in &mut guests {
        let (sink, recording) = recorder();
        let pipeline = AudioPipeline::new(None, Some(sink)).unwrap();
        sessions.push(start_audio(guest, pipeline).await);
        recordings.push(recording);
    }
    // Someone in the lobby tries to connect media too: the server refuses the offer, so the
    // SFU never even has a connection to send them anything on.
    host.send(conclave_protocol::ClientMessage::Lock);
    wait(&mut host, "locked", |s| {
        s.meeting.as_ref().is_some_and(|m| m.locked)
    })
    .await;
    let mut waiting = server.guest_joins("Waiting", &meeting).await;
    let lobby = wait(&mut waiting, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    match waiting.start_media(&udp(None)).await {
        Err(MediaStartError::Refused(conclave_protocol::ErrorCode::NotAllowed)) => {}
        Err(other) => panic!("the lobby's media offer must be refused as not allowed: {other}"),
        Ok(_) => panic!("the lobby got media"),
    }
    assert!(
        !server
            .running
            .hub()
            .sfu()
            .is_connected(lobby.participant.unwrap()),
        "no SFU connection for the lobby"
    );

    // The host starts muted and its tones wait for the unmute, which comes once both guests'
    // connections carry the host's track: no tone is sent before anyone can receive it.
    let tone = ToneSource::new(TONES.iter().map(|f| (*f, FRAMES_PER_TONE)).collect());
    let (speaker, _) = media::start_held_speaker(&mut host, tone, &udp(None)).await;
    media::until_tracks(&server, &[&host], &guests.iter().collect::<Vec<_>>()).await;
    speaker.set_muted(false);
    let total = u64::from(TONES.len() as u32 * FRAMES_PER_TONE);
    let (sent, received) = poll_until(
        "the whole sequence sent and 90 % of it received by each guest",
        || {
            let received: Vec<u64> = sessions.iter().map(|s| s.stats().frames_received).collect();
            (speaker.stats().frames_sent, received)
        },
        |(sent, received)| *sent >= total && received.iter().all(|r| r * 10 >= sent * 9),
    )
    .await;
    // The recordings hold the whole sequence from its onset (what `assert_tones` reads).
    let needed = TONES.len() * FRAMES_PER_TONE as usize;
    let lengths = poll_until(
        "each guest's recording to cover the sequence from its onset",
        || {
            recordings
                .iter()
                .map(|r| {
                    let recording = r.lock().unwrap();
                    (onset(&recording), recording.len() / FRAME_SAMPLES)
                })
                .collect::<Vec<_>>()
        },
        |lengths| {
            lengths
                .iter()
                .all(|(onset, frames)| onset.is_some_and(|o| *frames >= o + needed))
        },
    )
    .await;
    println!("sent {sent}, received {received:?}, recordings (onset, frames) {lengths:?}");
    for (i, session) in sessions.into_iter().enumerate() {
        let stats = session.stats();
        assert!(
            stats.frames_received * 10 >= sent * 9,
            "guest {i}: {stats:?} of {sent}"
        );
        assert_eq!(stats.frames_refused, 0);
        session.stop().await;
        assert_tones(&recordings[i].lock().unwrap(), &format!("guest {i}"));
    }
    speaker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expelled_member_receives_nothing_after_the_expel_while_the_others_still_hear() {
    use conclave_media::pipeline::AudioPipeline;

    let Meeting {
        server: _server,
        mut host,
        guests,
        ..
    } = media::meeting(&["Stays", "Expelled"]).await;
    let [mut stays, mut expelled]: [_; 2] = guests.try_into().ok().unwrap();
    let epoch = expelled.snapshot().epoch.unwrap();

    let stays_media = start_audio(&mut stays, AudioPipeline::new(None, None).unwrap()).await;
    let expelled_media = start_audio(&mut expelled, AudioPipeline::new(None, None).unwrap()).await;
    let tone = ToneSource::new(vec![(440.0, 10_000)]);
    let speaker = start_audio(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
    )
    .await;
    poll_until(
        "the member to be expelled hearing the meeting before the expel",
        || expelled_media.stats(),
        |stats| stats.frames_received > 10,
    )
    .await;

    media::expel(&mut host, &mut expelled, epoch).await;
    let heard_at_expel = expelled_media.stats().frames_received;
    let stays_at_expel = stays_media.stats().frames_received;
    // The others keep hearing the host (25 frames more); over that time nothing more than what
    // was already in flight at the expel reaches the expelled member.
    poll_until(
        "the others to keep hearing the host after the expel",
        || stays_media.stats(),
        |stats| stats.frames_received >= stays_at_expel + 25,
    )
    .await;
    let after = expelled_media.stats();
    assert!(
        after.frames_received <= heard_at_expel + 2,
        "frames kept reaching the expelled member: {heard_at_expel} → {}",
        after.frames_received
    );
    speaker.stop().await;
    stays_media.stop().await;
    expelled_media.stop().await;
}

/// Sends `marker`-filled payloads from `from` and returns which markers `to` received.
async fn markers_heard(
    from: &[(&MediaLink, u8)],
    to: &MediaLink,
) -> std::collections::BTreeSet<u8> {
    let mut heard = std::collections::BTreeSet::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..25 {
        ticker.tick().await;
        for (link, marker) in from {
            link.send_audio(&[*marker; 60]).await.unwrap();
        }
        while let Some(audio) = to.try_next_audio().await {
            heard.insert(audio.payload[0]);
        }
    }
    heard
}

async fn until_sfu(what: &str, check: impl Fn() -> bool) {
    poll_until(what, check, |holds| *holds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_beyond_the_track_limit_share_the_overflow_track_and_are_still_heard() {
    let sfu = Sfu::new("127.0.0.1:0");
    sfu.set_publisher_track_limit(1);
    let first = connect(&sfu, 1).await;
    let second = connect(&sfu, 2).await;
    let listener = connect(&sfu, 3).await;
    let members = [ParticipantId(1), ParticipantId(2), ParticipantId(3)];
    sfu.set_meeting_members("12345678901", &members);

    // The listener: its own track for the earliest publisher, the overflow for the other.
    let (sfu_ref, listener_id) = (&sfu, ParticipantId(3));
    until_sfu("the listener's tracks", || {
        sfu_ref.tracks_of(listener_id) == vec![(ParticipantId(1), false)]
            && sfu_ref.has_overflow_track(listener_id)
    })
    .await;
    until_sfu("every renegotiation answered", || {
        sfu_ref.renegotiations() >= 3
    })
    .await;
    let heard = markers_heard(&[(&first, 0xA1), (&second, 0xB2)], &listener).await;
    assert_eq!(heard, [0xA1, 0xB2].into(), "both publishers are heard");

    // The first publisher leaves: the second gets its own track, the overflow goes (on both
    // remaining connections: two renegotiations).
    let renegotiated = sfu.renegotiations();
    sfu.remove(ParticipantId(1));
    first.close().await;
    until_sfu("the overflow track removed", || {
        sfu_ref.tracks_of(listener_id) == vec![(ParticipantId(2), false)]
            && !sfu_ref.has_overflow_track(listener_id)
    })
    .await;
    until_sfu("the removal answered", || {
        sfu_ref.renegotiations() >= renegotiated + 2 && sfu_ref.renegotiations_running() == 0
    })
    .await;
    let heard = markers_heard(&[(&second, 0xB2)], &listener).await;
    assert_eq!(
        heard,
        [0xB2].into(),
        "the second publisher on its own track"
    );
    second.close().await;
    listener.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_connects_media_again_gets_the_tracks_on_the_new_connection() {
    let sfu = Sfu::new("127.0.0.1:0");
    let members = [ParticipantId(1), ParticipantId(2)];
    let first = connect(&sfu, 1).await;
    let old = connect(&sfu, 2).await;
    sfu.set_meeting_members("12345678901", &members);
    let sfu_ref = &sfu;
    until_sfu("both connections renegotiated", || {
        sfu_ref.renegotiations() >= 2 && sfu_ref.renegotiations_running() == 0
    })
    .await;
    assert_eq!(markers_heard(&[(&first, 0xA1)], &old).await, [0xA1].into());

    // Member 2 offers again (a new media connection on the same session): the new
    // connection gets member 1's track, and member 1 hears the new one.
    let new = connect(&sfu, 2).await;
    sfu.set_meeting_members("12345678901", &members);
    until_sfu("the new connection renegotiated", || {
        sfu_ref.tracks_of(ParticipantId(2)) == vec![(ParticipantId(1), false)]
            && sfu_ref.renegotiations_running() == 0
    })
    .await;
    assert_eq!(markers_heard(&[(&first, 0xA1)], &new).await, [0xA1].into());
    assert_eq!(markers_heard(&[(&new, 0xB2)], &first).await, [0xB2].into());
    assert_eq!(
        sfu.tracks_of(ParticipantId(1)),
        vec![(ParticipantId(2), false)]
    );
    for link in [first, old, new] {
        link.close().await;
    }
}

/// The jitter buffer must see when a payload came off the network, not when the 20 ms media
/// loop took it: a payload left waiting on the link keeps its arrival time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_keeps_the_time_it_arrived_however_late_it_is_taken() {
    let sfu = Sfu::new("127.0.0.1:0");
    let talker = connect(&sfu, 1).await;
    let listener = connect(&sfu, 2).await;
    sfu.set_meeting_members("12345678901", &[ParticipantId(1), ParticipantId(2)]);
    let sfu_ref = &sfu;
    until_sfu("the listener's track", || {
        sfu_ref.tracks_of(ParticipantId(2)) == vec![(ParticipantId(1), false)]
            && sfu_ref.renegotiations_running() == 0
    })
    .await;
    let wait = Duration::from_millis(150);
    let first_sent = Instant::now();
    for _ in 0..50 {
        talker.send_audio(&[0xC3; 60]).await.unwrap();
        tokio::time::sleep(wait).await;
        let Some(audio) = listener.try_next_audio().await else {
            continue;
        };
        let taken = Instant::now();
        assert!(audio.arrived >= first_sent, "arrived before it was sent");
        assert!(
            taken - audio.arrived >= wait - Duration::from_millis(50),
            "stamped when taken ({:?} before), not when it arrived",
            taken - audio.arrived
        );
        talker.close().await;
        listener.close().await;
        return;
    }
    panic!("nothing reached the listener");
}
