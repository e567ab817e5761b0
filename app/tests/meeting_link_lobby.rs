//! The engine bridge against the real server in-process: a signed-in host and a guest join
//! through `meeting_link`; the host sees the guest knock in the lobby, admits them through the
//! link's command handle, and both end up in the same end-to-end encrypted group. Then the
//! host starts video and the guest's grid gets the host's picture (decoded from SFrame-encrypted
//! H.264 through the SFU), keyed by the host's media sender id.

mod common;

use std::sync::Arc;

use conclave_app::devices::{Camera, DeviceChoice, Microphone, Speaker};
use conclave_app::meeting_link::{self, LinkCommand, LinkEvent, LinkHandle, LinkKey, MeetingView};
use conclave_app::service::join::{JoinRequest, SignedInIdentity};
use conclave_core::client::account::NewMeeting;
use conclave_core::client::{Event, Phase};
use conclave_protocol::{ClientMessage, DisplayName, MeetingNumber, MeetingPassword};
use conclave_tests::{PATIENCE, TestServer};
use iced::futures::StreamExt as _;
use tokio::sync::mpsc;

/// A link's events, pumped by their own task (as iced's runtime would).
struct Link {
    events: mpsc::UnboundedReceiver<LinkEvent>,
    handle: Option<LinkHandle>,
    view: MeetingView,
    knocks: Vec<String>,
    pictures: conclave_app::video::Pictures,
}

impl Link {
    fn start(attempt: u64, request: JoinRequest) -> Self {
        let key = LinkKey {
            attempt,
            request: Arc::new(request),
            // No devices here: listen only, nothing played.
            devices: DeviceChoice {
                microphone: Microphone::Off,
                speaker: Speaker::Silent,
                camera: Camera::TestPattern,
            },
        };
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(meeting_link::stream(key));
            while let Some(event) = stream.next().await {
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Self {
            events,
            handle: None,
            view: MeetingView::default(),
            knocks: Vec::new(),
            pictures: Default::default(),
        }
    }

    /// Reads events until the view satisfies `condition`.
    async fn until(&mut self, what: &str, condition: impl Fn(&MeetingView) -> bool) {
        self.until_with(what, |link| condition(&link.view)).await;
    }

    /// Reads events until `condition` holds for the whole link state (view and pictures).
    async fn until_with(&mut self, what: &str, condition: impl Fn(&Link) -> bool) {
        let wait = async {
            while !condition(self) {
                match self.events.recv().await {
                    Some(LinkEvent::Ready(handle)) => self.handle = Some(handle),
                    Some(LinkEvent::View(view)) => self.view = *view,
                    Some(LinkEvent::Engine(Event::Knock(entry))) => {
                        self.knocks.push(entry.display_name.as_str().to_owned());
                    }
                    Some(LinkEvent::Video(pictures)) => self.pictures = pictures,
                    Some(LinkEvent::Failed(error)) => panic!("link failed: {error:?}"),
                    Some(_) => {}
                    None => panic!("link ended before: {what}"),
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for: {what}; view {:?}", self.view));
    }

    fn send(&self, message: ClientMessage) {
        self.handle
            .as_ref()
            .expect("the link handed over its handle first")
            .send(LinkCommand::Send(message));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_waits_in_the_lobby_until_the_host_admits_them() {
    let server = TestServer::start().await;
    let identity = common::signed_in_host(&server).await;
    let meeting = conclave_core::client::account::create_meeting(
        &server.address(),
        &server.trust(),
        &identity.token,
        &NewMeeting {
            title: None,
            password: None,
            require_sign_in: Some(false),
            lobby: Some(true),
            auto_lock_minutes: None,
            join_before_host: Some(false),
        },
    )
    .await
    .expect("meeting");
    let request = |name: &str, identity: Option<SignedInIdentity>| JoinRequest {
        server: server.address(),
        trust: server.trust(),
        meeting: MeetingNumber::parse(&meeting.number).expect("number"),
        password: Some(MeetingPassword::new(&meeting.password).expect("password")),
        display_name: DisplayName::new(name).expect("name"),
        identity,
    };

    let mut host = Link::start(1, request("Hana Host", Some(identity)));
    host.until("the host is in with keys", |v| {
        v.phase == Some(Phase::InMeeting) && v.end_to_end_encrypted && v.is_moderator()
    })
    .await;

    let mut guest = Link::start(2, request("Gus Guest", None));
    guest
        .until("the guest waits in the lobby", |v| {
            v.phase == Some(Phase::InLobby)
        })
        .await;
    host.until("the host sees the guest in the lobby", |v| {
        v.lobby
            .iter()
            .any(|e| e.display_name.as_str() == "Gus Guest" && !e.signed_in)
    })
    .await;

    let waiting = host.view.lobby[0].participant;
    host.send(ClientMessage::Admit {
        participant: waiting,
        admission: None,
    });
    guest
        .until("the guest is in with keys", |v| {
            v.phase == Some(Phase::InMeeting) && v.end_to_end_encrypted && v.code.is_some()
        })
        .await;
    let guest_code = guest.view.code.expect("code");
    // The roster and the new epoch reach the host as separate updates: wait for both.
    host.until(
        "the host's code reaches the guest's epoch and its roster lists the guest",
        |v| {
            v.code.is_some_and(|c| c.epoch() == guest_code.epoch())
                && v.lobby.is_empty()
                && v.roster.iter().any(|r| r.display_name == "Gus Guest")
        },
    )
    .await;
    assert_eq!(host.view.code, Some(guest_code), "same verification code");

    // Video: nothing until the host starts it; then the host's picture, under the host's leaf.
    assert!(guest.pictures.is_empty(), "the host's camera starts off");
    // Read only once the guest's list holds the host's leaf (it failed on a fresh clone when
    // read straight after the keys arrived).
    let host_row = |v: &MeetingView| {
        v.roster
            .iter()
            .find(|r| r.display_name == "Hana Host")
            .and_then(|r| r.leaf)
    };
    guest
        .until("the guest's list holds the host's leaf", |v| {
            host_row(v).is_some()
        })
        .await;
    let host_leaf = host_row(&guest.view).expect("the host's leaf is in the guest's roster");
    host.handle
        .as_ref()
        .expect("handle")
        .send(LinkCommand::SetCamera(true));
    guest
        .until_with("the host's picture reaches the guest's grid", |link| {
            link.pictures.contains_key(&host_leaf)
        })
        .await;
}
