//! The video half of the WebRTC hop (see [`super::transport`]): an H.264 track, an RTP writer
//! that keeps an access unit's packets together (one timestamp, marker bit on the last), and
//! RTCP keyframe requests (PLI, RFC 4585 §6.3.1; FIR, RFC 5104 §4.3.1) in both directions.
//!
//! webrtc-rs hands inbound RTCP to the application only when an interceptor marks it, so
//! [`KeyframeRequestInterceptor`] marks PLI, FIR and receiver reports for the local track's
//! `poll()`: the reports' loss figures drive the sender's quality (see [`super::rate`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::Registry;

use crate::error::TransportError;
use crate::video_frame::{H264_CLOCK_RATE, OutgoingVideoFrame};

/// RTP payload type webrtc-rs registers for H.264 constrained baseline, packetization mode 1.
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// The matching format parameters (must equal the registered codec's to negotiate).
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f";
/// Interceptor slot for keyframe-request delivery: application-most, after NACK and reports
/// have seen the packet.
const KEYFRAME_REQUEST_SLOT: usize = 14_000;

/// An H.264 video track description.
pub fn h264_track(id: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("conclave-{id}"),
        format!("video-{id}"),
        format!("video-{id}"),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: "video/H264".to_owned(),
                clock_rate: H264_CLOCK_RATE,
                channels: 0,
                sdp_fmtp_line: H264_FMTP.to_owned(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    )))
}

/// One received video RTP packet: what the depacketizer and loss detection need.
#[derive(Debug, Clone)]
pub struct IncomingVideoPacket {
    /// The stream (RTP SSRC): one per publisher downstream.
    pub ssrc: u32,
    pub payload: Vec<u8>,
    pub sequence: u16,
    pub marker: bool,
}

/// Writes whole access units as RTP packets on a video track.
pub struct VideoRtpWriter {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    started: Instant,
}

impl VideoRtpWriter {
    pub fn new(track: Arc<TrackLocalStaticRTP>, ssrc: u32) -> Self {
        Self {
            track,
            ssrc,
            sequence: rand::random(),
            timestamp: rand::random(),
            started: Instant::now(),
        }
    }

    /// One encoded picture as numbered RTP packets (sharing a timestamp, the marker on the
    /// last), to be written in order. The picture is stamped after any pictures skipped before
    /// it, and the clock then moves on by its duration.
    pub fn frame_packets(&mut self, frame: &OutgoingVideoFrame) -> Vec<rtc::rtp::packet::Packet> {
        self.timestamp = self.timestamp.wrapping_add(frame.skipped_ticks);
        let packets = self.packets(frame.payloads.iter().cloned(), self.timestamp);
        self.timestamp = self.timestamp.wrapping_add(frame.rtp_ticks);
        packets
    }

    /// Sends a forwarded access unit (the SFU's downstream): the timestamp comes from this
    /// writer's own clock, since the access units of several publishers share the track.
    pub async fn forward_access_unit(
        &mut self,
        payloads: &[Vec<u8>],
    ) -> Result<(), TransportError> {
        let elapsed = self.started.elapsed().as_micros();
        let ticks = (elapsed * u128::from(H264_CLOCK_RATE) / 1_000_000) as u32;
        let timestamp = self.timestamp.wrapping_add(ticks);
        let payloads = payloads.iter().map(|p| bytes::Bytes::copy_from_slice(p));
        for packet in self.packets(payloads, timestamp) {
            self.write(packet).await?;
        }
        Ok(())
    }

    fn packets(
        &mut self,
        payloads: impl ExactSizeIterator<Item = bytes::Bytes>,
        timestamp: u32,
    ) -> Vec<rtc::rtp::packet::Packet> {
        let last = payloads.len().saturating_sub(1);
        payloads
            .enumerate()
            .map(|(i, payload)| {
                let packet = rtc::rtp::packet::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        payload_type: H264_PAYLOAD_TYPE,
                        sequence_number: self.sequence,
                        timestamp,
                        ssrc: self.ssrc,
                        marker: i == last,
                        ..Default::default()
                    },
                    payload,
                };
                self.sequence = self.sequence.wrapping_add(1);
                packet
            })
            .collect()
    }

    async fn write(&self, packet: rtc::rtp::packet::Packet) -> Result<(), TransportError> {
        self.track
            .write_rtp(packet)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))
    }
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// A PLI for the stream `media_ssrc` (sender SSRC 0: we send no RTP of our own on it).
pub fn picture_loss_indication(media_ssrc: u32) -> Box<dyn rtc::rtcp::Packet> {
    Box::new(PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc,
    })
}

/// Asks the sender of `track` for a keyframe.
pub async fn send_keyframe_request(track: &Arc<dyn TrackRemote>) -> Result<(), TransportError> {
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return Err(TransportError::Closed);
    };
    track
        .write_rtcp(vec![picture_loss_indication(ssrc)])
        .await
        .map_err(|e| TransportError::WebRtc(e.to_string()))
}

/// What the remote end says about a track we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// PLI or FIR: someone needs a keyframe.
    KeyframeRequest,
    /// A receiver report's loss on the stream with this SSRC (`fraction_lost` of 256).
    Loss { ssrc: u32, fraction_lost: u8 },
}

/// The feedback in one inbound RTCP compound packet, in order.
pub fn feedback_in(packets: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<Feedback> {
    let mut found = Vec::new();
    for packet in packets {
        if is_keyframe_request(packet.as_ref()) {
            found.push(Feedback::KeyframeRequest);
        } else if let Some(report) = packet.as_any().downcast_ref::<ReceiverReport>() {
            found.extend(report.reports.iter().map(|r| Feedback::Loss {
                ssrc: r.ssrc,
                fraction_lost: r.fraction_lost,
            }));
        }
    }
    found
}

/// Calls `on_feedback` for every keyframe request and receiver report the remote sends about
/// `track`, until `alive` says the connection is gone. The track yields nothing until
/// negotiation binds it, so unbound polls are retried.
pub async fn watch_feedback(
    track: Arc<TrackLocalStaticRTP>,
    alive: impl Fn() -> bool,
    mut on_feedback: impl FnMut(Feedback),
) {
    while alive() {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                feedback_in(&packets).into_iter().for_each(&mut on_feedback);
            }
            Some(_) => {}
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Adds the interceptor that delivers keyframe requests to the application.
pub fn with_keyframe_requests(registry: Registry) -> Registry {
    registry.with(
        Slot::from(KEYFRAME_REQUEST_SLOT),
        KeyframeRequestInterceptor::default(),
    )
}

/// Marks inbound PLI/FIR and receiver reports for delivery to the application; everything else
/// passes unchanged.
#[derive(Default)]
pub struct KeyframeRequestInterceptor {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()) || p.as_any().is::<ReceiverReport>())
                .cloned()
                .collect();
            if !requests.is_empty() {
                msg.message.packet = Packet::Rtcp(requests);
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestInterceptor {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(skipped_ticks: u32) -> OutgoingVideoFrame {
        OutgoingVideoFrame {
            payloads: vec![
                bytes::Bytes::from_static(b"a"),
                bytes::Bytes::from_static(b"b"),
            ],
            keyframe: false,
            rtp_ticks: 6_000,
            skipped_ticks,
            bitrate_bps: 300_000,
        }
    }

    #[test]
    fn pictures_share_a_timestamp_and_a_skipped_one_leaves_a_gap_before_the_next() {
        let mut writer = VideoRtpWriter::new(h264_track("test", 7), 7);
        let first = writer.frame_packets(&picture(0));
        let second = writer.frame_packets(&picture(0));
        // The encoder skipped one picture (6,000 ticks at 15 fps) before the third.
        let third = writer.frame_packets(&picture(6_000));
        let stamp = |packets: &[rtc::rtp::packet::Packet]| packets[0].header.timestamp;
        for packets in [&first, &second, &third] {
            assert_eq!(packets.len(), 2);
            assert_eq!(packets[0].header.timestamp, packets[1].header.timestamp);
            assert!(!packets[0].header.marker && packets[1].header.marker);
        }
        assert_eq!(stamp(&second).wrapping_sub(stamp(&first)), 6_000);
        assert_eq!(stamp(&third).wrapping_sub(stamp(&second)), 12_000);
        let sequence: Vec<u16> = [first, second, third]
            .iter()
            .flatten()
            .map(|p| p.header.sequence_number)
            .collect();
        assert!(sequence.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    }
}
