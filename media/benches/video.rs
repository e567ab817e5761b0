//! Client video CPU per picture, without the network: the sender's test-pattern frame →
//! H.264 encode → SFrame per NAL unit → RTP payloads, and the receiver's RTP payloads →
//! depacketize → SFrame → H.264 decode → RGB. 320×240 at 300 kbit/s (the default);
//! at 15 fps, time × 15 per second gives the share of one core.
//! Run: `cargo bench -p conclave-media --bench video`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use conclave_e2ee::media_keys::EpochKeys;
use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::TestPattern;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_media::{VideoError, VideoFrame, VideoSink};
use criterion::{Criterion, criterion_group, criterion_main};

struct Discard;

impl VideoSink for Discard {
    fn show(&mut self, _sender: u32, frame: &VideoFrame) -> Result<(), VideoError> {
        black_box(frame);
        Ok(())
    }
}

fn keys() -> EpochKeys {
    EpochKeys::new(1, vec![0x42; 16], [0u32, 1].into_iter().collect())
}

fn benches(c: &mut Criterion) {
    let now = Instant::now();
    let config = VideoEncoderConfig::default();
    let pattern = TestPattern::new(config.width, config.height).unwrap();
    let mut sender = VideoPipeline::new(Some(Box::new(pattern)), None, config).unwrap();
    sender.update_keys(&keys(), 0, now).unwrap();
    c.bench_function("video send 320x240 (encode + SFrame + RTP)", |b| {
        b.iter(|| black_box(sender.next_outgoing(now).unwrap()))
    });

    // The receiver decodes a real stream: a keyframe, then delta frames, in order.
    let pattern = TestPattern::new(config.width, config.height).unwrap();
    let mut source = VideoPipeline::new(Some(Box::new(pattern)), None, config).unwrap();
    source.update_keys(&keys(), 0, now).unwrap();
    let frames: Vec<_> = (0..300)
        .map(|_| source.next_outgoing(now).unwrap().unwrap())
        .collect();
    let mut receiver = VideoPipeline::new(None, Some(Box::new(Discard)), config).unwrap();
    receiver.update_keys(&keys(), 1, now).unwrap();
    let mut sequence = 0u16;
    let mut next = 0usize;
    c.bench_function("video receive 320x240 (RTP + SFrame + decode)", |b| {
        b.iter(|| {
            // SFrame refuses replays, so each pass over the recorded stream starts a fresh
            // receiver (amortized over 300 pictures).
            if next.is_multiple_of(frames.len()) {
                receiver = VideoPipeline::new(None, Some(Box::new(Discard)), config).unwrap();
                receiver.update_keys(&keys(), 1, now).unwrap();
            }
            let frame = &frames[next % frames.len()];
            next += 1;
            let last = frame.payloads.len() - 1;
            for (i, payload) in frame.payloads.iter().enumerate() {
                receiver
                    .incoming(1, payload, sequence, i == last, now)
                    .unwrap();
                sequence = sequence.wrapping_add(1);
            }
        })
    });
    let stats = receiver.stats();
    assert_eq!(stats.frames_refused + stats.decode_errors, 0, "{stats:?}");
}

criterion_group!(video, benches);
criterion_main!(video);
