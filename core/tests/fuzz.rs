//! Fuzz targets for every decoder of untrusted input (docs/fuzzing.md). Each target feeds
//! arbitrary bytes to one decoder and passes as long as the decoder answers `Ok` or `Err`:
//! a panic (index out of range, overflow, unwrap, stack overflow) fails it.
//!
//! Under `cargo test` each target replays its checked-in seed corpus
//! (`tests/__fuzz__/<target>/corpus/`, bolero's layout) and then a bounded number of random
//! inputs; `BOLERO_RANDOM_ITERATIONS=N` raises the bound for a longer run, and
//! `cargo bolero test --package conclave-core --test fuzz <target>` runs the same target
//! under libFuzzer. `seed_corpus_is_meaningful` checks that the seeds are what they claim:
//! valid messages, frames and packet streams, so the fuzzers start from the real formats.
//! `write_seed_corpus` (ignored) regenerates them.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bolero::check;
use conclave_e2ee::group::{
    ExternalSenderKey, GroupError, GroupMember, OutgoingCommit, validate_key_package,
};
use conclave_e2ee::media_keys::{
    EpochKeys, MediaKeyConfig, MediaReceiver, MediaSender, MediaStream,
};
use conclave_media::video::{open_access_unit_from, protect_access_unit, unescape};
use conclave_protocol::identity::OrgSigningKey;
use conclave_protocol::schedule::{MeetingUpdate, ScheduleRequest, validate_title};
use conclave_protocol::{decode_client, decode_server};
use conclave_rtc::nal::{has_idr, split_annex_b};
use conclave_rtc::transport::{answer_from_text, offer_from_text, passive_tcp_candidates};
use conclave_rtc::video_streams::{Assembled, IncomingStreams};

/// Random inputs per target under plain `cargo test` (the seeds come on top): enough to
/// catch a shallow regression in well under a second per target in a debug build.
const QUICK: usize = 1_000;
/// The MLS targets verify signatures and run the key schedule on every input that parses.
const QUICK_MLS: usize = 200;
/// Longest random input; the protocol caps messages at 64 KiB, but short inputs find more.
const MAX_LEN: usize = 4_096;

// ---------------------------------------------------------------- signalling messages

#[test]
fn decode_client_message() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            let _ = decode_client(&String::from_utf8_lossy(bytes));
        });
}

#[test]
fn decode_server_message() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            let _ = decode_server(&String::from_utf8_lossy(bytes));
        });
}

/// SDP from the other side of the media connection: the SFU parses every member's offer, and
/// members parse the SFU's renegotiation offers (`sdp_offer` / `sdp_answer` messages).
#[test]
fn sdp_description() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            let sdp = String::from_utf8_lossy(bytes);
            let _ = offer_from_text(&sdp);
            let _ = answer_from_text(&sdp);
            let _ = passive_tcp_candidates(&sdp);
        });
}

/// JSON bodies of the scheduling API (`POST /v1/schedule`, `PATCH /v1/schedule/{number}`),
/// decoded and checked as the server does before storing them.
#[test]
fn schedule_json() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            if let Ok(request) = serde_json::from_slice::<ScheduleRequest>(bytes) {
                let _ = validate_title(&request.title);
                let _ = request.when.validate();
                let _ = request.options.validate();
            }
            if let Ok(update) = serde_json::from_slice::<MeetingUpdate>(bytes)
                && let Some(when) = update.when
            {
                let _ = when.validate();
            }
        });
}

// ---------------------------------------------------------------- SFrame

const EPOCH: u64 = 5;
const SENDER_LEAF: u32 = 1;

fn epoch_keys() -> EpochKeys {
    EpochKeys::new(EPOCH, vec![7; 16], BTreeSet::from([0, SENDER_LEAF, 2]))
}

fn receiver(stream: MediaStream) -> MediaReceiver {
    MediaReceiver::for_stream(MediaKeyConfig::default(), stream, epoch_keys()).unwrap()
}

fn sender(stream: MediaStream) -> MediaSender {
    MediaSender::for_stream(
        MediaKeyConfig::default(),
        stream,
        &epoch_keys(),
        SENDER_LEAF,
    )
    .unwrap()
}

/// Input layout: one byte choosing the clear metadata length (`b % 4`, or one more than the
/// frame for 0xff), then `metadata || SFrame header || ciphertext || tag`.
fn sframe_input(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (&selector, frame) = bytes.split_first()?;
    let metadata_len = if selector == 0xff {
        frame.len() + 1
    } else {
        usize::from(selector % 4)
    };
    Some((metadata_len, frame))
}

#[test]
fn sframe_audio_frame() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            let Some((metadata_len, frame)) = sframe_input(bytes) else {
                return;
            };
            let mut receiver = receiver(MediaStream::Audio);
            let mut out = Vec::new();
            let now = Instant::now();
            let first = receiver
                .decrypt_into(frame, metadata_len, &mut out, now)
                .is_ok();
            // The same frame again is a replay, whatever the first answer was.
            out.clear();
            let again = receiver.decrypt_into(frame, metadata_len, &mut out, now);
            assert!(!(first && again.is_ok()), "a replayed frame was accepted");
        });
}

/// A protected H.264 access unit (Annex-B NAL units, each `header || escape(SFrame)`), as
/// the video pipeline opens it after depacketisation.
#[test]
fn sframe_video_access_unit() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            let mut receiver = receiver(MediaStream::Video);
            let _ = open_access_unit_from(&mut receiver, bytes, Instant::now());
            let mut out = Vec::new();
            let _ = unescape(bytes, &mut out);
        });
}

// ---------------------------------------------------------------- H.264 depacketisation

/// One RTP packet of a fuzzed packet stream: the input is a run of `len, flags, payload`.
struct FuzzPacket<'a> {
    flags: u8,
    payload: &'a [u8],
}

/// Splits fuzz input into packets; a short last packet takes what is left.
fn fuzz_packets(mut bytes: &[u8]) -> Vec<FuzzPacket<'_>> {
    let mut packets = Vec::new();
    while let [len, flags, rest @ ..] = bytes {
        let take = usize::from(*len).min(rest.len());
        packets.push(FuzzPacket {
            flags: *flags,
            payload: &rest[..take],
        });
        bytes = &rest[take..];
    }
    packets
}

/// Packet flags: bit 0 the RTP marker, bits 1-2 the stream, bits 3-5 how far the sequence
/// number moves (0 repeats it), bit 6 moves it backwards, bit 7 lets 300 ms pass (so the
/// reorder buffer gives up on a gap) instead of 5 ms.
fn feed_packets(bytes: &[u8]) -> Vec<(u32, Assembled)> {
    let mut streams = IncomingStreams::default();
    let mut now = Instant::now();
    let mut sequence = [1000u16; 4];
    let mut finished = Vec::new();
    let mut repaired = 0;
    for packet in fuzz_packets(bytes) {
        let stream = usize::from((packet.flags >> 1) & 3);
        let step = u16::from((packet.flags >> 3) & 7);
        sequence[stream] = if packet.flags & 0x40 != 0 {
            sequence[stream].wrapping_sub(step)
        } else {
            sequence[stream].wrapping_add(step)
        };
        now += if packet.flags & 0x80 != 0 {
            Duration::from_millis(300)
        } else {
            Duration::from_millis(5)
        };
        streams.push(
            stream as u32,
            packet.payload,
            sequence[stream],
            packet.flags & 1 != 0,
            now,
        );
        finished.extend(streams.poll(now, &mut repaired));
    }
    finished.extend(streams.poll(now + Duration::from_secs(1), &mut repaired));
    for (_, unit) in &finished {
        if let Assembled::Whole(unit) = unit {
            let _ = has_idr(unit);
            let _ = split_annex_b(unit);
        }
    }
    finished
}

#[test]
fn h264_depacketize() {
    check!()
        .with_iterations(QUICK)
        .with_max_len(MAX_LEN)
        .for_each(|bytes: &[u8]| {
            feed_packets(bytes);
        });
}

// ---------------------------------------------------------------- MLS

const GROUP_ID: &[u8] = b"fuzz-meeting-000000001";
const NOW: u64 = 1_800_000_000;

/// A three-member group (host, member, other) that a server (external sender) watches, plus
/// a joiner whose Add the host has committed; the live messages are what each decoder
/// normally receives.
struct MlsFixture {
    member: GroupMember,
    joiner: GroupMember,
    member_epoch: u64,
    /// The host's commit adding the joiner.
    add_commit: Vec<u8>,
    welcome: Vec<u8>,
    /// The other member's empty commit (fresh path secrets).
    update_commit: Vec<u8>,
    /// The other member's proposal to leave.
    leave_proposal: Vec<u8>,
    /// The server's proposal to remove the other member.
    server_remove: Vec<u8>,
    key_package: Vec<u8>,
}

impl MlsFixture {
    fn new() -> Self {
        let server = ExternalSenderKey::generate("conclave.invalid").unwrap();
        let mut host = GroupMember::guest("Host").unwrap();
        host.create_group(GROUP_ID, vec![server.external_sender()])
            .unwrap();
        let mut member = GroupMember::guest("Member").unwrap();
        let mut other = GroupMember::guest("Other").unwrap();
        let packages = [&member, &other]
            .iter()
            .map(|m| validate_key_package(&m.key_package().unwrap(), None, NOW).unwrap())
            .collect();
        let outgoing = host.commit(packages, &[]).unwrap();
        host.confirm_commit().unwrap();
        let welcome = outgoing.welcome.unwrap();
        member.join(&welcome).unwrap();
        other.join(&welcome).unwrap();
        // The host (leaf 0) may add members, as the server's roster would say.
        member.set_committers([host.own_leaf_index().unwrap()]);
        let member_epoch = member.epoch().unwrap();

        let other_leaf = other.own_leaf_index().unwrap();
        let server_remove = server
            .propose_remove(GROUP_ID, member_epoch, other_leaf)
            .unwrap();
        let update_commit = other.rekey().unwrap().commit;
        other.discard_commit().unwrap();
        let leave_proposal = other.propose_leave().unwrap();

        let joiner = GroupMember::guest("Joiner").unwrap();
        let key_package = joiner.key_package().unwrap();
        let OutgoingCommit {
            commit: add_commit,
            welcome,
            ..
        } = host
            .commit(
                vec![validate_key_package(&key_package, None, NOW).unwrap()],
                &[],
            )
            .unwrap();
        Self {
            member,
            joiner,
            member_epoch,
            add_commit,
            welcome: welcome.unwrap(),
            update_commit,
            leave_proposal,
            server_remove,
            key_package,
        }
    }

    /// The live messages, in the order `mls_mutated_live_message` picks them.
    fn live(&self) -> [&[u8]; 6] {
        [
            &self.add_commit,
            &self.update_commit,
            &self.leave_proposal,
            &self.server_remove,
            &self.welcome,
            &self.key_package,
        ]
    }

    fn process(&mut self, message: &[u8]) -> Result<(), GroupError> {
        self.member.process(message).map(|_| ())
    }

    fn join(&mut self, welcome: &[u8]) -> Result<(), GroupError> {
        self.joiner.join(welcome)
    }

    /// A message that went through changes the state; start again from a fresh group so the
    /// next input meets the same epoch.
    fn refresh_if_changed(&mut self) {
        let moved = self.member.epoch().ok() != Some(self.member_epoch);
        if moved || self.joiner.in_group() {
            *self = Self::new();
        }
    }
}

fn validate_with_and_without_org(bytes: &[u8]) {
    let org = OrgSigningKey::from_secret_bytes(&[9; 32]).public();
    let _ = validate_key_package(bytes, None, NOW);
    let _ = validate_key_package(bytes, Some(&org), NOW);
}

#[test]
fn mls_key_package() {
    check!()
        .with_iterations(QUICK_MLS)
        .with_max_len(MAX_LEN)
        .for_each(validate_with_and_without_org);
}

#[test]
fn mls_welcome() {
    let mut fixture = MlsFixture::new();
    check!()
        .with_iterations(QUICK_MLS)
        .with_max_len(MAX_LEN)
        .for_each(move |bytes: &[u8]| {
            let _ = fixture.join(bytes);
            fixture.refresh_if_changed();
        });
}

#[test]
fn mls_process() {
    let mut fixture = MlsFixture::new();
    check!()
        .with_iterations(QUICK_MLS)
        .with_max_len(MAX_LEN)
        .for_each(move |bytes: &[u8]| {
            let _ = fixture.process(bytes);
            fixture.refresh_if_changed();
        });
}

/// Random bytes rarely get past the TLS decoding; this target starts from this run's live
/// messages instead (which reach signature checks, decryption and the Welcome's key
/// schedule) and flips bytes and truncates them: `(which message and how many edits,
/// [(offset, xor)], cut)`.
#[test]
fn mls_mutated_live_message() {
    let mut fixture = MlsFixture::new();
    check!()
        .with_type::<(u8, Vec<(u16, u8)>, Option<u16>)>()
        .with_iterations(QUICK_MLS)
        .for_each(move |(which, edits, cut)| {
            let index = usize::from(*which) % 6;
            let original = fixture.live()[index].to_vec();
            let mut bytes = original.clone();
            // A few edits at a time: one flipped byte in a signature or ciphertext is what
            // the checks must catch; dozens would rarely get past the TLS decoding.
            for (offset, xor) in edits.iter().take(usize::from(*which >> 6) + 1) {
                let at = usize::from(*offset) % bytes.len();
                bytes[at] ^= xor;
            }
            if let Some(cut) = cut {
                bytes.truncate(usize::from(*cut) % (bytes.len() + 1));
            }
            if bytes == original {
                return;
            }
            match index {
                4 => {
                    let _ = fixture.join(&bytes);
                }
                5 => validate_with_and_without_org(&bytes),
                _ => {
                    let _ = fixture.process(&bytes);
                }
            }
            fixture.refresh_if_changed();
        });
}

// ---------------------------------------------------------------- seed corpus

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/__fuzz__")
        .join(target)
        .join("corpus")
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{target} has no seeds");
    seeds
}

const CLIENT_SEEDS: &[&str] = &[
    r#"{"v":1,"type":"join","meeting":"123456789","password":"correct horse","display_name":"Aiko","key_package":"AQID"}"#,
    r#"{"v":1,"type":"join","meeting":"123456789","display_name":"Aiko","key_package":"AQID"}"#,
    r#"{"v":1,"type":"leave"}"#,
    r#"{"v":1,"type":"admit","participant":12}"#,
    r#"{"v":1,"type":"deny","participant":12,"reason":"not today"}"#,
    r#"{"v":1,"type":"set_auto_lock","minutes":null}"#,
    r#"{"v":1,"type":"set_auto_lock","minutes":15}"#,
    r#"{"v":1,"type":"commit","epoch":3,"commit":"AQID","welcome":"BAUG","added":[4],"removed":[2]}"#,
    r#"{"v":1,"type":"proposal","epoch":3,"proposal":"AQID"}"#,
    r#"{"v":1,"type":"ice_candidate","candidate":"candidate:1 1 UDP 1 192.0.2.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}"#,
    r#"{"v":1,"type":"ping","nonce":42}"#,
];

const SERVER_SEEDS: &[&str] = &[
    r#"{"v":1,"type":"hello","server_version":"0.1.0","org_key_fingerprint":null}"#,
    r#"{"v":1,"type":"in_lobby","participant":7}"#,
    r#"{"v":1,"type":"denied","reason":{"kind":"denied_by_host","reason":"no"}}"#,
    r#"{"v":1,"type":"role_changed","participant":12,"role":"co_host"}"#,
    r#"{"v":1,"type":"mls_welcome","welcome":"AQID"}"#,
    r#"{"v":1,"type":"mls_commit","epoch":3,"commit":"AQID","from":2}"#,
    r#"{"v":1,"type":"remove_members","epoch":3,"participants":[2,5]}"#,
    r#"{"v":1,"type":"commit_accepted","epoch":4}"#,
    r#"{"v":1,"type":"expelled","reason":null}"#,
];

/// A member's offer as webrtc-rs writes it, trimmed to one audio m-line and a TCP candidate.
const SDP_SEED: &str = "v=0\r\n\
o=- 4215775240449105457 2 IN IP4 0.0.0.0\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:0123456789abcdef0123456789\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=ssrc:1234 cname:conclave\r\n\
a=candidate:1 1 tcp 2130706431 192.0.2.1 4443 typ host tcptype passive\r\n\
a=sendrecv\r\n";

const SCHEDULE_SEEDS: &[&str] = &[
    r#"{"title":"Design review","when":{"start":"2030-07-01T09:30:00","time_zone":"Asia/Tokyo","duration_minutes":60},"options":{"require_sign_in":true,"lobby":true,"auto_lock_minutes":10,"join_before_host":false,"exclude_password_from_invitation":true},"co_hosts":["ben"],"password":null}"#,
    r#"{"title":"Weekly","when":{"start":"2030-03-30T02:30:00","time_zone":"Europe/Berlin","duration_minutes":30,"recurrence":{"days":["Mon","Thu"],"until":"2030-12-31","count":null}}}"#,
    r#"{"title":"Renamed","when":{"start":"2031-01-01T00:00:00","time_zone":"America/New_York","duration_minutes":15,"recurrence":{"days":["Fri"],"count":4}}}"#,
];

fn sframe_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut audio = sender(MediaStream::Audio);
    let mut seeds = Vec::new();
    for (name, metadata) in [
        ("audio-no-metadata", &[][..]),
        ("audio-2-metadata", &[1, 2]),
    ] {
        let mut frame = vec![metadata.len() as u8];
        let mut out = Vec::new();
        frame.extend_from_slice(
            audio
                .encrypt_into(metadata, b"opus frame", &mut out)
                .unwrap(),
        );
        seeds.push((name, frame));
    }
    seeds
}

fn video_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut video = sender(MediaStream::Video);
    let keyframe = [
        &[0, 0, 0, 1, 0x67, 0x42, 0, 0x1f][..],
        &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80],
        &[0, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x84],
    ]
    .concat();
    let delta = [0, 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 3];
    vec![
        (
            "keyframe",
            protect_access_unit(&mut video, &keyframe).unwrap(),
        ),
        ("delta", protect_access_unit(&mut video, &delta).unwrap()),
    ]
}

/// Packet streams in `fuzz_packets`' layout: `len, flags, payload` per packet.
fn h264_seeds() -> Vec<(&'static str, Vec<u8>)> {
    fn stream(packets: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (flags, payload) in packets {
            out.push(payload.len() as u8);
            out.push(*flags);
            out.extend_from_slice(payload);
        }
        out
    }
    const NEXT: u8 = 1 << 3;
    const MARKER: u8 = 1;
    vec![
        // A single NAL unit per packet: a delta slice in two packets.
        (
            "single-nal",
            stream(&[(NEXT, &[0x41, 1, 2, 3]), (NEXT | MARKER, &[0x41, 4, 5, 6])]),
        ),
        // STAP-A carrying SPS and PPS, then an IDR slice (RFC 6184 §5.7.1).
        (
            "stap-a-keyframe",
            stream(&[
                (NEXT, &[0x78, 0, 3, 0x67, 0x42, 0x1f, 0, 2, 0x68, 0xce]),
                (NEXT | MARKER, &[0x65, 0x88, 0x84, 0x21]),
            ]),
        ),
        // FU-A: an IDR slice in three fragments (RFC 6184 §5.8).
        (
            "fu-a",
            stream(&[
                (NEXT, &[0x7c, 0x85, 1, 2, 3]),
                (NEXT, &[0x7c, 0x05, 4, 5, 6]),
                (NEXT | MARKER, &[0x7c, 0x45, 7, 8, 9]),
            ]),
        ),
        // Two streams interleaved.
        (
            "two-streams",
            stream(&[
                (NEXT, &[0x41, 1, 1, 1]),
                (NEXT | 2, &[0x41, 2, 2, 2]),
                (NEXT | MARKER, &[0x41, 3, 3, 3]),
                (NEXT | 2 | MARKER, &[0x41, 4, 4, 4]),
            ]),
        ),
    ]
}

/// Regenerates the seed corpus: `cargo test -p conclave-core --test fuzz -- --ignored`.
/// The MLS seeds come from a fresh group each time (MLS keys are random), so regenerating
/// them changes the files.
#[test]
#[ignore = "rewrites the checked-in seed corpus"]
fn write_seed_corpus() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (i, seed) in CLIENT_SEEDS.iter().enumerate() {
        write(
            "decode_client_message",
            &format!("seed-{i:02}.json"),
            seed.as_bytes(),
        );
    }
    for (i, seed) in SERVER_SEEDS.iter().enumerate() {
        write(
            "decode_server_message",
            &format!("seed-{i:02}.json"),
            seed.as_bytes(),
        );
    }
    write("sdp_description", "offer", SDP_SEED.as_bytes());
    for (i, seed) in SCHEDULE_SEEDS.iter().enumerate() {
        write(
            "schedule_json",
            &format!("seed-{i:02}.json"),
            seed.as_bytes(),
        );
    }
    for (name, bytes) in sframe_seeds() {
        write("sframe_audio_frame", name, &bytes);
    }
    for (name, bytes) in video_seeds() {
        write("sframe_video_access_unit", name, &bytes);
    }
    for (name, bytes) in h264_seeds() {
        write("h264_depacketize", name, &bytes);
    }
    let fixture = MlsFixture::new();
    write("mls_key_package", "key-package", &fixture.key_package);
    write("mls_welcome", "welcome", &fixture.welcome);
    write("mls_process", "add-commit", &fixture.add_commit);
    write("mls_process", "update-commit", &fixture.update_commit);
    write("mls_process", "leave-proposal", &fixture.leave_proposal);
    write("mls_process", "server-remove", &fixture.server_remove);
}

/// The checked-in seeds are what they claim to be, so each fuzzer starts from the real
/// format: messages decode, frames decrypt, packet streams reassemble, MLS messages parse.
#[test]
fn seed_corpus_is_meaningful() {
    for (name, seed) in seeds("decode_client_message") {
        let text = String::from_utf8(seed).unwrap();
        decode_client(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, seed) in seeds("decode_server_message") {
        let text = String::from_utf8(seed).unwrap();
        decode_server(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, seed) in seeds("sdp_description") {
        let sdp = String::from_utf8(seed).unwrap();
        offer_from_text(&sdp).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(passive_tcp_candidates(&sdp).len(), 1, "{name}");
    }
    for (name, seed) in seeds("schedule_json") {
        let request: ScheduleRequest =
            serde_json::from_slice(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
        request
            .when
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, seed) in seeds("sframe_audio_frame") {
        let (metadata_len, frame) = sframe_input(&seed).unwrap();
        let mut out = Vec::new();
        let opened = receiver(MediaStream::Audio)
            .decrypt_into(frame, metadata_len, &mut out, Instant::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(opened.payload, b"opus frame", "{name}");
        assert_eq!(opened.sender, SENDER_LEAF, "{name}");
    }
    for (name, seed) in seeds("sframe_video_access_unit") {
        let (sender, unit) =
            open_access_unit_from(&mut receiver(MediaStream::Video), &seed, Instant::now())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sender, SENDER_LEAF, "{name}");
        assert!(!split_annex_b(&unit).is_empty(), "{name}");
    }
    for (name, seed) in seeds("h264_depacketize") {
        let finished = feed_packets(&seed);
        assert!(!finished.is_empty(), "{name}: no access unit");
        for (stream, unit) in finished {
            assert!(
                matches!(unit, Assembled::Whole(_)),
                "{name}: stream {stream} damaged"
            );
        }
    }
    // MLS keys are random per run, so the checked-in MLS seeds cannot verify here; they must
    // still parse as MLS messages of the fixture's group and epoch (so they reach openmls'
    // checks rather than stopping at the TLS decoding).
    let mut fixture = MlsFixture::new();
    for (name, seed) in seeds("mls_process") {
        match fixture.process(&seed) {
            Err(GroupError::Decode(e)) => panic!("{name} does not parse: {e}"),
            Err(GroupError::WrongEpoch { .. }) => panic!("{name} is for another epoch"),
            Ok(()) => panic!("{name} from another run was accepted"),
            Err(_) => {}
        }
        fixture.refresh_if_changed();
    }
    for (name, seed) in seeds("mls_welcome") {
        match fixture.join(&seed) {
            Err(GroupError::Decode(e)) => panic!("{name} does not parse: {e}"),
            Ok(()) => panic!("{name} from another run was accepted"),
            Err(_) => {}
        }
    }
    for (name, seed) in seeds("mls_key_package") {
        assert!(
            !matches!(
                validate_key_package(&seed, None, NOW),
                Err(GroupError::Decode(_))
            ),
            "{name} does not parse"
        );
    }
    // This run's live messages are accepted by the fixture: the mutation target starts from
    // valid input.
    let mut fixture = MlsFixture::new();
    for message in [
        fixture.leave_proposal.clone(),
        fixture.server_remove.clone(),
    ] {
        fixture.process(&message).unwrap();
    }
    fixture.process(&fixture.update_commit.clone()).unwrap();
    let mut fixture = MlsFixture::new();
    fixture.process(&fixture.add_commit.clone()).unwrap();
    let mut fixture = MlsFixture::new();
    fixture.join(&fixture.welcome.clone()).unwrap();
}
