//! Load bot: video through the real SFU on lossy links, with and without quality adaptation.
//! A host sends the 320×240 test pattern at 15 fps; a watcher receives it; both drop LOSS % of
//! UDP datagrams in each direction, so every picture crosses two lossy hops. Every 5 s it
//! prints the pictures sent and the ones the watcher showed (all must be the pattern), and the
//! size the sender is sending at.
//!
//! With `--uplink-kbps N` the camera's link is also narrow (N kbit/s through a 200 ms queue,
//! tail drop) and the pattern carries changing noise, so the encoder fills its bitrate: that is
//! congestion, which sending less relieves.
//!
//! Run: `cargo run -p conclave-tests --example video_loss -- [SECONDS] [LOSS] [fixed] [--uplink-kbps N]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::{DEFAULT_TOLERANCE, TestPattern, is_test_pattern};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_rtc::bottleneck::Bottleneck;
use conclave_rtc::transport::LinkOptions;
use conclave_tests::media::{self, Meeting, start_media, udp, watcher};

const USAGE: &str = "\
video_loss [SECONDS] [LOSS_PERCENT] [fixed] [--uplink-kbps N]

Video through the real SFU with LOSS_PERCENT (default 10) of datagrams dropped each way on both
members' links, for SECONDS (default 40). `fixed` turns quality adaptation off. `--uplink-kbps N`
narrows the camera's uplink to N kbit/s (200 ms queue) and sends a noisy pattern.";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    conclave_tests::log_to_stderr();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let uplink = args.iter().position(|a| a == "--uplink-kbps").map(|at| {
        let kbps: f64 = args.get(at + 1).and_then(|v| v.parse().ok()).expect(USAGE);
        args.drain(at..at + 2);
        Bottleneck::kbps(kbps).expect(USAGE)
    });
    let seconds: u64 = args.first().map_or(40, |a| a.parse().expect(USAGE));
    let loss: f64 = args.get(1).map_or(10.0, |a| a.parse().expect(USAGE));
    let adaptive = args.get(2).is_none_or(|a| a != "fixed");

    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = media::meeting(&["Watcher"]).await;
    let lossy = udp(Some(loss));
    let (pipeline, shown) = watcher();
    let silent = || AudioPipeline::new(None, None).unwrap();
    let (watching, _) = start_media(&mut guests[0], silent(), Some(pipeline), &lossy).await;
    let mut pattern = TestPattern::new(320, 240).unwrap();
    if uplink.is_some() {
        pattern = pattern.with_noise();
    }
    let mut sender =
        VideoPipeline::new(Some(Box::new(pattern)), None, VideoEncoderConfig::default()).unwrap();
    sender.set_adaptive(adaptive);
    let camera_link = LinkOptions {
        simulated_uplink: uplink,
        ..lossy.clone()
    };
    let (camera, _) = start_media(&mut host, silent(), Some(sender), &camera_link).await;

    println!(
        "{loss} % loss each way on both links, camera uplink {}, adaptation {}",
        uplink.map_or("unlimited".to_owned(), |u| format!(
            "{} kbit/s",
            u.rate_bps() / 1000
        )),
        if adaptive { "on" } else { "off" }
    );
    println!("| seconds | sent | skipped | shown | shown share | sending at | sent kbit/s |");
    println!("|---|---|---|---|---|---|---|");
    let (mut sent_before, mut shown_before) = (0, 0);
    let (mut bytes_before, mut skipped_before) = (0, 0);
    let (mut total_sent, mut total_shown) = (0, 0);
    for window in 1..=seconds.div_ceil(5) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let stats = camera.video_stats();
        let pictures = shown.lock().unwrap();
        let broken = pictures
            .iter()
            .filter(|(_, f)| !is_test_pattern(f, DEFAULT_TOLERANCE))
            .count();
        assert_eq!(broken, 0, "a damaged picture was shown");
        let (sent, seen) = (
            stats.frames_sent - sent_before,
            pictures.len() - shown_before,
        );
        (sent_before, shown_before) = (stats.frames_sent, pictures.len());
        let (bytes, skipped) = (
            stats.bytes_sent - bytes_before,
            stats.frames_skipped - skipped_before,
        );
        (bytes_before, skipped_before) = (stats.bytes_sent, stats.frames_skipped);
        println!(
            "| {}–{} | {sent} | {skipped} | {seen} | {:.0} % | {}×{} at {} kbit/s | {} |",
            (window - 1) * 5,
            window * 5,
            100.0 * seen as f64 / sent.max(1) as f64,
            stats.send_width,
            stats.send_height,
            stats.send_bitrate_bps / 1000,
            bytes * 8 / 5 / 1000
        );
        if window > 2 {
            total_sent += sent;
            total_shown += seen;
        }
    }
    println!(
        "after the first 10 s: {total_shown} of {total_sent} pictures shown ({:.0} %); watcher {:?}; camera {:?}",
        100.0 * total_shown as f64 / total_sent.max(1) as f64,
        watching.video_stats(),
        camera.video_stats()
    );
    camera.stop().await;
    watching.stop().await;
}
