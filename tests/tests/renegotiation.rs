//! Per-publisher tracks through the real server: every publisher reaches a subscriber on a
//! track of its own, added by the SFU's renegotiation (its `sdp_offer`, the client's
//! `sdp_answer`) when the publisher is admitted or starts video and removed when it leaves;
//! a member who joins later gets the tracks of those already there the same way.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use conclave_core::client::MeetingClient;
use conclave_core::client::media_session::MediaSession;
use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::{DEFAULT_TOLERANCE, TestPattern, is_test_pattern};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_protocol::{ClientMessage, ParticipantId};
use conclave_server::sfu::Sfu;
use conclave_tests::media::{self, Collect, Meeting, Shown, start_media, udp, watcher};
use conclave_tests::{PATIENCE, in_meeting, wait};

/// A camera (the test pattern) that also shows what it receives.
fn camera_and_screen() -> (VideoPipeline, Shown) {
    let shown = Shown::default();
    let pipeline = VideoPipeline::new(
        Some(Box::new(TestPattern::new(320, 240).unwrap())),
        Some(Box::new(Collect(shown.clone()))),
        VideoEncoderConfig::default(),
    )
    .unwrap();
    (pipeline, shown)
}

async fn start(
    client: &mut MeetingClient,
    video: VideoPipeline,
) -> (
    MediaSession,
    std::sync::Arc<conclave_rtc::transport::MediaLink>,
) {
    start_media(
        client,
        AudioPipeline::new(None, None).unwrap(),
        Some(video),
        &udp(None),
    )
    .await
}

/// The leaves whose pattern `shown` recognized.
fn senders_recognized(shown: &Shown) -> BTreeSet<u32> {
    shown
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, frame)| is_test_pattern(frame, DEFAULT_TOLERANCE))
        .map(|(leaf, _)| *leaf)
        .collect()
}

/// Waits (bounded by PATIENCE, a failure guard) until `check` holds.
async fn until(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn id(client: &MeetingClient) -> ParticipantId {
    client.snapshot().participant.unwrap()
}

fn tracks(sfu: &Sfu, of: &MeetingClient) -> Vec<(ParticipantId, bool)> {
    sfu.tracks_of(id(of))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publisher_has_its_own_track_added_on_join_and_removed_on_leave() {
    let Meeting {
        server,
        created: meeting,
        mut host,
        guests,
    } = media::meeting(&["Aiko", "Ben"]).await;
    let [mut aiko, mut ben]: [_; 2] = guests.try_into().ok().unwrap();
    let sfu = std::sync::Arc::clone(server.running.hub().sfu());
    let (host_leaf, aiko_leaf) = (
        host.snapshot().own_leaf.unwrap(),
        aiko.snapshot().own_leaf.unwrap(),
    );

    // Ben watches; the host and Aiko send the pattern and watch too.
    let (pipeline, ben_shown) = watcher();
    let (_ben_media, ben_link) = start(&mut ben, pipeline).await;
    let (pipeline, host_shown) = camera_and_screen();
    let (_host_media, _) = start(&mut host, pipeline).await;
    let (pipeline, _) = camera_and_screen();
    let (_aiko_media, _) = start(&mut aiko, pipeline).await;

    until("Ben sees both cameras", || {
        senders_recognized(&ben_shown) == BTreeSet::from([host_leaf, aiko_leaf])
    })
    .await;
    until("the host sees Aiko's camera", || {
        senders_recognized(&host_shown).contains(&aiko_leaf)
    })
    .await;
    // Two publishers, two streams on Ben's connection; audio tracks for everyone, video
    // tracks only for those who sent video.
    assert_eq!(ben_link.video_streams().len(), 2);
    let mut expected = vec![(id(&host), true), (id(&aiko), true)];
    expected.sort();
    assert_eq!(tracks(&sfu, &ben), expected);
    let mut expected = vec![(id(&aiko), true), (id(&ben), false)];
    expected.sort();
    assert_eq!(tracks(&sfu, &host), expected);

    // Aiko leaves: her tracks go from the others' connections, the host's picture stays.
    let aiko_id = id(&aiko);
    let epoch = aiko.snapshot().epoch.unwrap();
    aiko.send(ClientMessage::Leave);
    wait(&mut host, "Aiko's removal", |s| s.epoch > Some(epoch)).await;
    until("Aiko's tracks removed from Ben's connection", || {
        sfu.tracks_of(id(&ben)) == vec![(id(&host), true)]
    })
    .await;
    until("Aiko's tracks removed from the host's connection", || {
        sfu.tracks_of(id(&host)) == vec![(id(&ben), false)]
    })
    .await;
    assert!(sfu.tracks_of(aiko_id).is_empty());
    let before = ben_shown.lock().unwrap().len();
    until("Ben still sees the host", || {
        ben_shown.lock().unwrap()[before..]
            .iter()
            .filter(|(leaf, frame)| *leaf == host_leaf && is_test_pattern(frame, DEFAULT_TOLERANCE))
            .count()
            >= 5
    })
    .await;

    // Chie joins later: her connection gets the tracks of those already there, and theirs
    // get hers.
    let mut chie = server.guest_joins("Chie", &meeting).await;
    let epoch = in_meeting(&mut chie).await.epoch.unwrap();
    wait(&mut host, "Chie keyed", |s| s.epoch == Some(epoch)).await;
    let (pipeline, chie_shown) = watcher();
    let (_chie_media, _) = start(&mut chie, pipeline).await;
    until("Chie sees the host", || {
        senders_recognized(&chie_shown).contains(&host_leaf)
    })
    .await;
    let mut expected = vec![(id(&host), true), (id(&ben), false)];
    expected.sort();
    assert_eq!(tracks(&sfu, &chie), expected);
    until("Chie's track on Ben's connection", || {
        sfu.tracks_of(id(&ben)).contains(&(id(&chie), false))
    })
    .await;
    assert!(
        sfu.renegotiations() >= 6,
        "renegotiated on each change: {}",
        sfu.renegotiations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_nobody_asked_for_is_refused_and_changes_nothing() {
    let Meeting {
        server,
        mut host,
        guests,
        ..
    } = media::meeting(&["Aiko"]).await;
    let [mut aiko]: [_; 1] = guests.try_into().ok().unwrap();
    let sfu = std::sync::Arc::clone(server.running.hub().sfu());
    let (pipeline, _) = watcher();
    let (_host_media, _) = start(&mut host, pipeline).await;
    let (pipeline, _) = watcher();
    let (_aiko_media, _) = start(&mut aiko, pipeline).await;
    // Both connections renegotiated and nothing waiting for an answer: the stray answer
    // below has no offer to belong to.
    until("each has the other's track, every offer answered", || {
        tracks(&sfu, &host) == vec![(id(&aiko), false)]
            && tracks(&sfu, &aiko) == vec![(id(&host), false)]
            && sfu.renegotiations_running() == 0
    })
    .await;
    let renegotiations = sfu.renegotiations();
    aiko.send(ClientMessage::SdpAnswer {
        sdp: "v=0\r\n".into(),
    });
    let refusal = loop {
        match aiko.next_event().await.unwrap() {
            conclave_core::client::Event::Error { code, .. } => break code,
            _ => continue,
        }
    };
    assert_eq!(refusal, conclave_protocol::ErrorCode::BadRequest);
    assert_eq!(sfu.renegotiations(), renegotiations);
    assert_eq!(tracks(&sfu, &host), vec![(id(&aiko), false)]);
    assert_eq!(tracks(&sfu, &aiko), vec![(id(&host), false)]);
}
