//! Load bot: the floor under any transport on this machine, with no WebRTC stack and no async
//! runtime — what a transport written for Conclave could at best reach here, to set beside
//! what the real SFU and client reach on webrtc-rs.
//!
//! `sfu`: a minimal SRTP forwarder on one thread receives SRTP audio packets from one publisher
//! on loopback UDP, opens each (AES-128-GCM, the profile our WebRTC peers negotiate), seals it
//! again for each subscriber with that subscriber's own keys, and sends it. Its thread's CPU
//! time (user + system, `getrusage(RUSAGE_THREAD)`) per forwarded packet is the kernel's
//! loopback UDP path plus SRTP.
//!
//! `listener`: one meeting member listening to one talker, as in the 5-person meeting of
//! `scripts/measure-client-cpu.sh`: a real sender pipeline (tone → Opus → SFrame with MLS
//! keys) on another thread sends one packet every 20 ms as SRTP over loopback UDP; the
//! listener's thread opens the SRTP, hands the frame to a real `AudioPipeline` (SFrame, jitter
//! buffer) and plays every 20 ms (Opus decode, mix). Its thread's CPU time is the floor for a
//! listening client.
//!
//! Run: `cargo run --release -p conclave-tests --example transport_floor -- sfu [SUBSCRIBERS] [RATE] [SECS] [single|batch|tick]`
//! or `... -- listener [SECS] [woken|ticked]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/two_members.rs"]
mod two_members;

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use conclave_e2ee::group::GroupMember;
use conclave_media::audio::{AudioDecoder, AudioEncoder, AudioEncoderConfig};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::signal::ToneSource;
use conclave_media::{AudioSource, FRAME_MS, FRAME_SAMPLES};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
use nix::sys::time::TimeVal;
use rtc_srtp::context::Context;
use rtc_srtp::crypto::providers::RingCrypto;
use rtc_srtp::protection_profile::ProtectionProfile;
use two_members::two_members;

const USAGE: &str = "\
transport_floor sfu [SUBSCRIBERS] [RATE] [SECS] [single|batch|tick]
transport_floor listener [SECS] [woken|ticked]

sfu:

SUBSCRIBERS  receivers of every published packet (default 4: a 5-person meeting)
RATE         packets per second forwarded in total (default 40000)
SECS         measured seconds after a 2 s warm-up (default 10)
single       one sendto per packet, woken per received packet (default; webrtc-rs's way)
batch        one sendmmsg per received packet
tick         woken every millisecond, the socket drained, one sendmmsg for all copies

listener:
SECS         measured seconds after a 2 s warm-up (default 30)
woken        woken by each packet as it arrives, and by the 20 ms playout tick (default; as
             the client on webrtc-rs is)
ticked       woken only by the 20 ms playout tick, the socket drained then";

/// An SFrame audio frame's size, as in `sfu_load`.
const PAYLOAD_BYTES: usize = 110;
/// What the `sfu` publisher sends: opaque bytes, as an SFrame frame is to the SFU.
const FAKE_FRAME: [u8; PAYLOAD_BYTES] = [0x5a; PAYLOAD_BYTES];
const PROFILE: ProtectionProfile = ProtectionProfile::AeadAes128Gcm;
const WARM_UP: Duration = Duration::from_secs(2);

fn context(seed: u8) -> Context {
    let key = [seed; 16];
    let salt = [seed.wrapping_add(1); 12];
    Context::new(&key, &salt, PROFILE, None, None, &RingCrypto).expect("SRTP context")
}

fn rtp_packet(sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(12 + payload.len());
    packet.extend_from_slice(&[0x80, 111]);
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// CPU seconds (user + system) the calling thread has used.
fn thread_cpu_seconds() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
    let seconds = |time: TimeVal| time.tv_sec() as f64 + time.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// One `sendmmsg` for all `packets`, each to its own address.
fn send_batch(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrIn>,
    packets: &[(Vec<u8>, SocketAddr)],
) {
    let slices: Vec<[IoSlice<'_>; 1]> = packets
        .iter()
        .map(|(bytes, _)| [IoSlice::new(bytes)])
        .collect();
    let addresses: Vec<Option<SockaddrIn>> = packets
        .iter()
        .map(|(_, address)| match address {
            SocketAddr::V4(address) => Some(SockaddrIn::from(*address)),
            SocketAddr::V6(_) => None,
        })
        .collect();
    let sent = sendmmsg(
        socket.as_raw_fd(),
        headers,
        &slices,
        &addresses,
        [] as [ControlMessage; 0],
        MsgFlags::empty(),
    )
    .expect("sendmmsg");
    assert_eq!(sent.count(), packets.len(), "sendmmsg sent a partial batch");
}

struct Figures {
    forwarded: u64,
    cpu_seconds: f64,
    seconds: f64,
}

/// How the forwarder meets the kernel.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Wake on each packet, one `sendto` per copy (webrtc-rs's way).
    Single,
    /// Wake on each packet, one `sendmmsg` for its copies.
    Batch,
    /// Wake once a millisecond, drain the socket, one `sendmmsg` for everything owed.
    Tick,
}

/// At most this many copies go into one `sendmmsg`.
const MAX_BATCH: usize = 256;

fn forward(
    socket: UdpSocket,
    subscribers: Vec<SocketAddr>,
    mode: Mode,
    stop: Arc<AtomicBool>,
    seconds: f64,
) -> Figures {
    let mut from_publisher = context(1);
    let mut to_subscribers: Vec<Context> = (0..subscribers.len())
        .map(|index| context(10 + index as u8))
        .collect();
    if mode == Mode::Tick {
        socket.set_nonblocking(true).unwrap();
    } else {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let mut buffer = [0u8; 1500];
    let started = Instant::now();
    let mut measuring: Option<(Instant, f64, u64)> = None;
    let mut forwarded = 0u64;
    let mut outgoing = Vec::with_capacity(MAX_BATCH);
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(MAX_BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        if measuring.is_none() && started.elapsed() >= WARM_UP {
            measuring = Some((Instant::now(), thread_cpu_seconds(), forwarded));
        }
        if let Some((since, _, _)) = measuring
            && since.elapsed().as_secs_f64() >= seconds
        {
            break;
        }
        if mode == Mode::Tick {
            std::thread::sleep(Duration::from_millis(1));
        }
        outgoing.clear();
        while let Ok(length) = socket.recv(&mut buffer) {
            if let Ok(plain) = from_publisher.decrypt_rtp(&buffer[..length]) {
                for (context, address) in to_subscribers.iter_mut().zip(&subscribers) {
                    let sealed = context.encrypt_rtp(&plain).expect("seal");
                    outgoing.push((sealed.to_vec(), *address));
                }
            }
            if mode != Mode::Tick || outgoing.len() + subscribers.len() > MAX_BATCH {
                break;
            }
        }
        match mode {
            Mode::Single => {
                for (bytes, address) in &outgoing {
                    socket.send_to(bytes, address).unwrap();
                }
            }
            Mode::Batch | Mode::Tick => {
                if !outgoing.is_empty() {
                    send_batch(&socket, &mut headers, &outgoing);
                }
            }
        }
        forwarded += outgoing.len() as u64;
    }
    let (since, cpu_at_start, forwarded_at_start) = measuring.expect("ran past the warm-up");
    Figures {
        forwarded: forwarded - forwarded_at_start,
        cpu_seconds: thread_cpu_seconds() - cpu_at_start,
        seconds: since.elapsed().as_secs_f64(),
    }
}

fn main() {
    conclave_tests::log_to_stderr();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("sfu") => sfu(&arguments[1..]),
        Some("listener") => listener(&arguments[1..]),
        _ => println!("{USAGE}"),
    }
}

fn number(arguments: &[String], index: usize, default: u64) -> u64 {
    arguments
        .get(index)
        .map(|text| text.parse().unwrap_or_else(|_| panic!("{USAGE}")))
        .unwrap_or(default)
}

fn sfu(arguments: &[String]) {
    let number = |index: usize, default: u64| number(arguments, index, default);
    let subscriber_count = number(0, 4) as usize;
    let rate = number(1, 40_000);
    let seconds = number(2, 10) as f64;
    let mode = match arguments.get(3).map(String::as_str) {
        None | Some("single") => Mode::Single,
        Some("batch") => Mode::Batch,
        Some("tick") => Mode::Tick,
        Some(_) => panic!("{USAGE}"),
    };

    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..subscriber_count {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        subscribers.push(socket.local_addr().unwrap());
        let (received, stop) = (received.clone(), stop.clone());
        receivers.push(std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                if socket.recv(&mut buffer).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let forwarder_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forwarder_address = forwarder_socket.local_addr().unwrap();
    let forwarder = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("forwarder".into())
            .spawn(move || forward(forwarder_socket, subscribers, mode, stop, seconds))
            .unwrap()
    };

    // The publisher: `rate / subscribers` SRTP packets a second, sent every millisecond.
    let publisher = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sealer = context(1);
    let published_per_second = rate / subscriber_count as u64;
    let started = Instant::now();
    let mut published = 0u64;
    while !forwarder.is_finished() {
        let owed = (started.elapsed().as_secs_f64() * published_per_second as f64) as u64;
        while published < owed {
            let packet = rtp_packet(published as u16, (published * 960) as u32, &FAKE_FRAME);
            let sealed = sealer.encrypt_rtp(&packet).unwrap();
            publisher.send_to(&sealed, forwarder_address).unwrap();
            published += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let figures = forwarder.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for receiver in receivers {
        receiver.join().unwrap();
    }
    let per_cpu_second = figures.forwarded as f64 / figures.cpu_seconds;
    println!(
        "{} subscribers, {}: forwarded {:.0} pkt/s, forwarder thread {:.1} % of a core, \
         {:.0} packets per CPU-second ({:.2} µs each); subscribers received {} of {} published × {}",
        subscriber_count,
        match mode {
            Mode::Single => "sendto per packet",
            Mode::Batch => "sendmmsg per received packet",
            Mode::Tick => "drained every 1 ms, sendmmsg",
        },
        figures.forwarded as f64 / figures.seconds,
        100.0 * figures.cpu_seconds / figures.seconds,
        per_cpu_second,
        1e6 / per_cpu_second,
        received.load(Ordering::Relaxed),
        published,
        subscriber_count,
    );
}

fn keyed_pipeline(
    member: &GroupMember,
    source: Option<Box<dyn AudioSource + Send>>,
) -> AudioPipeline {
    let mut pipeline = AudioPipeline::new(source, None).unwrap();
    pipeline
        .update_keys(
            &member.epoch_keys().unwrap(),
            member.own_leaf_index().unwrap(),
            Instant::now(),
        )
        .unwrap();
    pipeline
}

/// The talker: the CLI's `--tone` sequence through a real pipeline, one SRTP packet per 20 ms.
fn talk(member: GroupMember, to: SocketAddr, stop: Arc<AtomicBool>) {
    let tones = [440.0, 660.0, 880.0]
        .iter()
        .cycle()
        .take(3 * 10_000)
        .map(|frequency| (*frequency, 25))
        .collect();
    let mut pipeline = keyed_pipeline(&member, Some(Box::new(ToneSource::new(tones))));
    let mut sealer = context(1);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut next = Instant::now();
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some(frame) = pipeline.next_outgoing().unwrap() {
            let packet = rtp_packet(sequence as u16, (sequence * 960) as u32, &frame);
            socket
                .send_to(&sealer.encrypt_rtp(&packet).unwrap(), to)
                .unwrap();
            sequence += 1;
        }
        next += TICK;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

const TICK: Duration = Duration::from_millis(FRAME_MS as u64);

/// Opens every SRTP packet waiting on `socket` and hands its frame to `pipeline`.
fn drain(
    socket: &UdpSocket,
    opener: &mut Context,
    pipeline: &mut AudioPipeline,
    buffer: &mut [u8],
) {
    while let Ok(length) = socket.recv(buffer) {
        if let Ok(packet) = opener.decrypt_rtp(&buffer[..length]) {
            // The RTP header is 12 bytes here (no CSRC, no extension).
            pipeline.incoming(&packet[12..], Instant::now());
        }
    }
}

/// The same tone's Opus decode back to back (caches warm), per 20 ms frame, to set beside
/// the listener's per-tick figure.
fn hot_decode_micros() -> f64 {
    let mut tone = ToneSource::new(vec![(440.0, 1_000)]);
    let mut encoder = AudioEncoder::new(AudioEncoderConfig::default()).unwrap();
    let mut pcm = vec![0i16; FRAME_SAMPLES];
    let mut packets = Vec::new();
    for _ in 0..500 {
        assert!(tone.next_frame(&mut pcm).unwrap());
        if let Some(packet) = encoder.encode(&pcm).unwrap() {
            packets.push(packet.to_vec());
        }
    }
    let mut decoder = AudioDecoder::new().unwrap();
    let started = Instant::now();
    for packet in &packets {
        decoder.decode(packet, &mut pcm).unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / packets.len() as f64
}

fn listener(arguments: &[String]) {
    let seconds = number(arguments, 0, 30) as f64;
    let woken = match arguments.get(1).map(String::as_str) {
        None | Some("woken") => true,
        Some("ticked") => false,
        Some(_) => panic!("{USAGE}"),
    };
    let (talker, listener) = two_members("talker", "listener");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let address = socket.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let talking = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("talker".into())
            .spawn(move || talk(talker, address, stop))
            .unwrap()
    };
    let mut pipeline = keyed_pipeline(&listener, None);
    let mut opener = context(1);
    let mut buffer = [0u8; 1500];
    let started = Instant::now();
    let mut measuring: Option<(Instant, f64)> = None;
    let mut next_tick = started + TICK;
    // Wall time of each playout tick (Opus decode and mix), measured: the rest is the loop.
    let mut playout: Vec<Duration> = Vec::new();
    loop {
        let now = Instant::now();
        if measuring.is_none() && now - started >= WARM_UP {
            measuring = Some((now, thread_cpu_seconds()));
        }
        if let Some((since, _)) = measuring
            && now - since >= Duration::from_secs_f64(seconds)
        {
            break;
        }
        if now >= next_tick {
            drain(&socket, &mut opener, &mut pipeline, &mut buffer);
            let playing = Instant::now();
            pipeline.tick(now).unwrap();
            if measuring.is_some() {
                playout.push(playing.elapsed());
            }
            next_tick += TICK;
            continue;
        }
        let wait = next_tick - now;
        if woken {
            let mut ready = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
            // Rounded up: rounding down would wake once more just before each tick.
            let timeout =
                PollTimeout::try_from(wait.as_micros().div_ceil(1000).max(1) as u32).unwrap();
            if poll(&mut ready, timeout).unwrap() > 0 {
                drain(&socket, &mut opener, &mut pipeline, &mut buffer);
            }
        } else {
            std::thread::sleep(wait);
        }
    }
    let (since, cpu_at_start) = measuring.expect("ran past the warm-up");
    let cpu = thread_cpu_seconds() - cpu_at_start;
    let elapsed = since.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    talking.join().unwrap();
    let stats = pipeline.stats();
    playout.sort();
    let playout_total: Duration = playout.iter().sum();
    println!(
        "listener ({}): {:.2} % of a core over {elapsed:.0} s, of which playout (Opus decode + \
         mix) {:.2} %, median {} µs a tick; {} frames received, {} played, {} refused",
        if woken {
            "woken per packet and per tick"
        } else {
            "woken per 20 ms tick only"
        },
        100.0 * cpu / elapsed,
        100.0 * playout_total.as_secs_f64() / elapsed,
        playout
            .get(playout.len() / 2)
            .map_or(0, Duration::as_micros),
        stats.frames_received,
        stats.frames_played,
        stats.frames_refused,
    );
    println!(
        "the same tone decoded back to back: {:.0} µs a frame",
        hot_decode_micros()
    );
}
