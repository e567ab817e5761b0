//! Load bot: a call on a congested uplink. The host talks (a steady 440 Hz tone) and shows a
//! noisy test pattern (the encoder fills its bitrate) through a narrow uplink (KBPS kbit/s, a
//! 200 ms queue, tail drop); a watcher records the audio. Every second it prints how many
//! audio frames the watcher played and how many of those were silent (the tone lost), and
//! the rung the video is sending on: how long the audio suffers before video has stepped down
//! to fit the link, and whether it stays whole afterwards.
//!
//! Run: `cargo run -p conclave-tests --example congested_call -- [KBPS] [SECONDS]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use conclave_media::FRAME_SAMPLES;
use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::TestPattern;
use conclave_media::pipeline::AudioPipeline;
use conclave_media::signal::ToneSource;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_rtc::bottleneck::Bottleneck;
use conclave_rtc::transport::LinkOptions;
use conclave_tests::media::{self, Meeting, recorder, start_media, udp, watcher};

const USAGE: &str = "congested_call [KBPS] [SECONDS]

A talking, camera-on host behind a KBPS kbit/s uplink (default 150) for SECONDS (default 25).";
/// Mean absolute sample value below which a played frame counts as silent (about −50 dBov).
const SILENCE: i64 = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    conclave_tests::log_to_stderr();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let kbps: f64 = args.first().map_or(150.0, |a| a.parse().expect(USAGE));
    let seconds: usize = args.get(1).map_or(25, |a| a.parse().expect(USAGE));
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = media::meeting(&["Watcher"]).await;
    let (sink, recording) = recorder();
    let (pipeline, _shown) = watcher();
    let (watching, _) = start_media(
        &mut guests[0],
        AudioPipeline::new(None, Some(sink)).unwrap(),
        Some(pipeline),
        &udp(None),
    )
    .await;
    let tone = ToneSource::new(vec![(440.0, u32::MAX)]);
    let camera_pattern = TestPattern::new(320, 240).unwrap().with_noise();
    let sender = VideoPipeline::new(
        Some(Box::new(camera_pattern)),
        None,
        VideoEncoderConfig::default(),
    )
    .unwrap();
    let narrow = LinkOptions {
        simulated_uplink: Some(Bottleneck::kbps(kbps).expect(USAGE)),
        ..udp(None)
    };
    let (camera, _) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
        Some(sender),
        &narrow,
    )
    .await;
    println!("uplink {kbps} kbit/s");
    println!("| second | frames played | silent | video sending at | FEC planned for |");
    println!("|---|---|---|---|---|");
    let (mut heard, mut silent_total) = (0, 0);
    for second in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let played: Vec<i16> = {
            let mut recording = recording.lock().unwrap();
            std::mem::take(&mut *recording)
        };
        let frames: Vec<&[i16]> = played.chunks_exact(FRAME_SAMPLES).collect();
        let silent = frames
            .iter()
            .filter(|f| {
                f.iter().map(|s| i64::from(*s).abs()).sum::<i64>() / (f.len() as i64) < SILENCE
            })
            .count();
        (heard, silent_total) = (heard + frames.len(), silent_total + silent);
        let video = camera.video_stats();
        println!(
            "| {second}–{} | {} | {silent} | {}×{} at {} kbit/s | {} % |",
            second + 1,
            frames.len(),
            video.send_width,
            video.send_height,
            video.send_bitrate_bps / 1000,
            camera.stats().expected_loss_percent
        );
        if std::env::var_os("CONGESTED_CALL_DEBUG").is_some() {
            println!(
                "  watcher {:?}\n  host {:?}",
                watching.stats(),
                camera.stats()
            );
        }
    }
    println!("{silent_total} of {heard} played frames silent");
    camera.stop().await;
    watching.stop().await;
}
