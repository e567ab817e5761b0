//! SFrame encrypt + decrypt cost per frame, for an audio-sized and a video-sized frame.
//! Run: `cargo bench -p conclave-e2ee --bench sframe`

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use conclave_e2ee::media_keys::{EpochKeys, MediaKeyConfig, MediaReceiver, MediaSender};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn keys() -> EpochKeys {
    EpochKeys::new(7, vec![0x42; 16], BTreeSet::from([0, 3]))
}

fn round_trip(c: &mut Criterion, name: &str, size: usize) {
    let config = MediaKeyConfig {
        // The bench sends millions of frames from one sender; a window this size is what the
        // product uses, the counter simply keeps advancing.
        ..MediaKeyConfig::default()
    };
    let mut sender = MediaSender::new(config, &keys(), 3).unwrap();
    let mut receiver = MediaReceiver::new(config, keys()).unwrap();
    let payload = vec![0x5a; size];
    let mut wire = Vec::with_capacity(size + 64);
    let mut out = Vec::with_capacity(size + 64);
    let now = Instant::now();

    let overhead = sender.encrypt_into(&[], &payload, &mut wire).unwrap().len() - size;
    println!("{name}: {size} B payload -> {overhead} B SFrame overhead (header + tag)");

    let mut group = c.benchmark_group("sframe");
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let frame = sender
                .encrypt_into(&[], black_box(&payload), &mut wire)
                .unwrap();
            let decrypted = receiver.decrypt_into(frame, 0, &mut out, now).unwrap();
            black_box(decrypted.payload.len());
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    round_trip(c, "encrypt+decrypt audio 100 B", 100);
    round_trip(c, "encrypt+decrypt video 50 KB", 50 * 1024);
}

criterion_group!(sframe_benches, benches);
criterion_main!(sframe_benches);
