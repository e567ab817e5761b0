//! Client audio CPU per 20 ms frame in a 5-person meeting, without the network: one frame
//! captured → Opus encode → SFrame encrypt (what this client sends), and four remote frames
//! → SFrame decrypt → jitter buffer → Opus decode → mix (what it plays). Dividing by 20 ms
//! gives the share of one core the audio pipeline needs.
//! Run: `cargo bench -p conclave-media --bench audio`

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use conclave_e2ee::media_keys::{EpochKeys, MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_media::audio::{AudioDecoder, AudioEncoder, AudioEncoderConfig};
use conclave_media::jitter::{JitterBuffer, Playout};
use conclave_media::mixer::mix_into;
use conclave_media::signal::ToneSource;
use conclave_media::{AudioSource, FRAME_SAMPLES};
use criterion::{Criterion, criterion_group, criterion_main};

const REMOTE_SPEAKERS: u32 = 4;

fn keys() -> EpochKeys {
    EpochKeys::new(
        1,
        vec![0x42; 16],
        (0..=REMOTE_SPEAKERS).collect::<BTreeSet<u32>>(),
    )
}

fn benches(c: &mut Criterion) {
    let config = MediaKeyConfig::default();
    let mut tone = ToneSource::new(vec![(440.0, u32::MAX)]);
    let mut pcm = vec![0i16; FRAME_SAMPLES];
    let mut encoder = AudioEncoder::new(AudioEncoderConfig::default()).unwrap();
    let mut own_sender = MediaSender::new(config, &keys(), 0).unwrap();
    let mut wire = Vec::with_capacity(512);

    // Remote speakers: their encoders and senders produce the frames this client receives.
    let mut remotes: Vec<(AudioEncoder, MediaSender, JitterBuffer, AudioDecoder)> = (1
        ..=REMOTE_SPEAKERS)
        .map(|leaf| {
            (
                AudioEncoder::new(AudioEncoderConfig::default()).unwrap(),
                MediaSender::new(config, &keys(), leaf).unwrap(),
                JitterBuffer::new(),
                AudioDecoder::new().unwrap(),
            )
        })
        .collect();
    let mut receiver = MediaReceiver::new(config, keys()).unwrap();
    let mut clear = Vec::with_capacity(512);
    let mut decoded = vec![0i16; FRAME_SAMPLES];
    let mut mix = vec![0i16; FRAME_SAMPLES];
    let start = Instant::now();
    let mut sequence = 0u64;

    // Pre-encode the remote Opus packets once: their encoding is other machines' CPU. Their
    // SFrame encryption happens in the loop (fresh counters for the replay window); at
    // ~0.3 µs per frame it over-counts this client's share by about 1 µs.
    let mut remote_packets: Vec<Vec<Vec<u8>>> = Vec::new();
    for (remote_encoder, _, _, _) in &mut remotes {
        let mut packets = Vec::new();
        for _ in 0..500 {
            tone.next_frame(&mut pcm).unwrap();
            packets.push(remote_encoder.encode(&pcm).unwrap().unwrap().to_vec());
        }
        remote_packets.push(packets);
    }
    let mut remote_wire = Vec::with_capacity(512);

    c.bench_function(
        "audio client frame, 5-person meeting (send 1, receive+mix 4)",
        |b| {
            b.iter(|| {
                // Send.
                tone.next_frame(&mut pcm).unwrap();
                if let Some(packet) = encoder.encode(&pcm).unwrap() {
                    own_sender.encrypt_into(&[], packet, &mut wire).unwrap();
                    black_box(wire.len());
                }
                // Receive, buffer, decode, mix.
                let now = start + Duration::from_millis(sequence * 20);
                mix.fill(0);
                for (index, (_, remote_sender, buffer, decoder)) in remotes.iter_mut().enumerate() {
                    let packet = &remote_packets[index][(sequence % 500) as usize];
                    remote_sender
                        .encrypt_into(&[], packet, &mut remote_wire)
                        .unwrap();
                    let opened = receiver
                        .decrypt_into(&remote_wire, 0, &mut clear, now)
                        .unwrap();
                    buffer.push(sequence, opened.payload.to_vec(), now);
                    match buffer.pop(now + Duration::from_millis(40)) {
                        Playout::Packet(p) => {
                            if decoder.decode(&p, &mut decoded).is_err() {
                                decoder.conceal(&mut decoded).unwrap();
                            }
                        }
                        Playout::Recover(p) => decoder.recover(&p, &mut decoded).unwrap(),
                        Playout::Conceal | Playout::Waiting => {
                            decoder.conceal(&mut decoded).unwrap()
                        }
                    }
                    mix_into(&mut mix, &decoded);
                }
                sequence += 1;
                black_box(&mix);
            });
        },
    );
}

criterion_group!(audio_benches, benches);
criterion_main!(audio_benches);
