//! The signaling WebSocket, `GET /v1/ws`: one connection per participant (docs/protocol.md).
//!
//! The upgrade request may carry `Authorization: Bearer <token>`; an invalid token is refused
//! with 401 before the upgrade. The server sends `hello` first, then reads one JSON message
//! per text frame: `join` goes through the gatekeeping checks (meeting, throttle, password,
//! KeyPackage, account), everything else maps onto the [`Room`] method of the same meaning.
//! Replies and room messages reach the socket through the connection's outbox, in order.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use conclave_e2ee::group::validate_key_package;
use conclave_protocol::{
    ClientMessage, DisplayName, ErrorCode, MAX_ERROR_MESSAGE_BYTES, MAX_MESSAGE_BYTES,
    MeetingNumber, MeetingPassword, MlsBlob, ParticipantId, ServerMessage, decode_client,
    encode_server,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::auth::{SIGN_IN_REVOKED, authenticate_session};
use crate::hub::{Hub, OUTBOX_CAPACITY, SERVER_VERSION, unix_now};
use crate::room::{JoinRequest, OfferBudget, Outgoing, Room, RoomError, admission};
use crate::store::{SessionKey, StoreError, TokenSession, UserRecord};
use crate::throttle::{Guess, ThrottleError};

/// `retry_after_secs` when every password-hashing slot is busy.
pub const BUSY_RETRY_SECS: u32 = 2;

/// Undecodable messages tolerated on one connection; the last one closes it.
pub const MAX_BAD_MESSAGES: u32 = 5;

/// WebSocket frame and message limit. A little above [`MAX_MESSAGE_BYTES`] so a message
/// slightly over the protocol limit still gets a `message_too_large` answer from
/// `decode_client` on a live connection; anything larger is cut off by the WebSocket layer
/// before it is buffered, and the connection closes with 1009.
pub const WS_MESSAGE_LIMIT: usize = MAX_MESSAGE_BYTES + 64 * 1024;

/// `GET /v1/ws`.
pub async fn handler(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if hub.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let user = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => match authenticate_session(&hub, value.to_str().ok()).await {
            Ok(session) => Some(session),
            Err(status) => return (status, "invalid or expired bearer token").into_response(),
        },
    };
    let address = peer.ip();
    upgrade
        .max_message_size(WS_MESSAGE_LIMIT)
        .max_frame_size(WS_MESSAGE_LIMIT)
        .on_upgrade(move |socket| run(hub, socket, user, address))
}

/// An `error` message, its text cut to the protocol's limit.
pub fn error_message(
    code: ErrorCode,
    message: &str,
    retry_after_secs: Option<u32>,
) -> ServerMessage {
    let mut end = message.len().min(MAX_ERROR_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    ServerMessage::Error {
        code,
        message: message[..end].to_string(),
        retry_after_secs,
    }
}

/// What the connection does after handling one message.
enum Flow {
    Continue,
    /// Send what is queued, then close normally.
    Close,
}

/// A refusal of a request on a joined connection.
enum Refusal {
    Room(RoomError),
    Code(ErrorCode, &'static str),
    /// The sign-in was revoked: the `unauthorized` error is already queued.
    Revoked,
}

impl From<RoomError> for Refusal {
    fn from(e: RoomError) -> Self {
        Refusal::Room(e)
    }
}

struct Session {
    hub: Arc<Hub>,
    id: ParticipantId,
    user: Option<UserRecord>,
    /// The sign-in session of a signed-in connection, re-checked while it lives.
    sign_in: Option<SessionKey>,
    /// The sign-in was found revoked: the connection is closing and does nothing more.
    revoked: bool,
    address: IpAddr,
    /// Set once a join reached the room; a connection joins at most once.
    joined: bool,
    bad_messages: u32,
    /// Media offers left to this connection (see [`OfferBudget`]).
    media_offers: OfferBudget,
}

async fn run(hub: Arc<Hub>, socket: WebSocket, token: Option<TokenSession>, address: IpAddr) {
    let (outbox, mut inbox) = mpsc::channel::<Outgoing>(OUTBOX_CAPACITY);
    let (mut sink, mut stream) = socket.split();
    let write_limit = hub.settings().send_timeout;
    // Dropping the guard disconnects, on every way out of this function (a panic included).
    let Some(guard) = hub.connect(outbox) else {
        let _ = send_within(
            write_limit,
            &mut sink,
            close(close_code::AWAY, "shutting down"),
        )
        .await;
        return;
    };
    let id = guard.id();
    hub.set_address(id, address);
    tracing::debug!(participant = %id, signed_in = token.is_some(), "connected");
    let (user, sign_in) = match token {
        Some(token) => {
            hub.set_signed_in(id, &token.user.id, token.key.clone());
            (Some(token.user), Some(token.key))
        }
        None => (None, None),
    };
    let idle = hub.settings().idle_timeout;
    let period = hub.settings().session_check;
    let mut session_check = tokio::time::interval_at(Instant::now() + period, period);
    session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut session = Session {
        hub: hub.clone(),
        id,
        user,
        sign_in,
        revoked: false,
        address,
        joined: false,
        bad_messages: 0,
        media_offers: OfferBudget::new(std::time::Instant::now()),
    };
    hub.send(
        id,
        ServerMessage::Hello {
            server_version: SERVER_VERSION.to_string(),
            org_key_fingerprint: Some(hub.org_public_key().fingerprint()),
        },
        false,
    );

    let mut deadline = Instant::now() + idle;
    loop {
        tokio::select! {
            out = inbox.recv() => {
                let Some(out) = out else { break };
                if send(write_limit, &mut sink, &out.message).await.is_err() {
                    tracing::info!(participant = %id, "socket write failed or timed out; closing");
                    break;
                }
                if out.close {
                    let _ = send_within(write_limit, &mut sink, close(close_code::NORMAL, "")).await;
                    break;
                }
            }
            () = guard.overflowed() => {
                tracing::info!(participant = %id, "cannot keep up with its messages; closing");
                let _ = send_within(write_limit, &mut sink, close(close_code::POLICY, "too slow")).await;
                break;
            }
            incoming = stream.next() => {
                deadline = Instant::now() + idle;
                let flow = match incoming {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        tracing::debug!(participant = %id, error = %e, "unreadable frame; closing");
                        let _ = send_within(write_limit, &mut sink, close(close_code::SIZE, "unreadable or oversize frame")).await;
                        break;
                    }
                    Some(Ok(Message::Text(text))) => session.handle_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        session.bad_message(ErrorCode::BadRequest, "binary frames are not used")
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                };
                if matches!(flow, Flow::Close) || session.revoked {
                    finish(write_limit, &mut inbox, &mut sink).await;
                    break;
                }
            }
            _ = session_check.tick(), if session.sign_in.is_some() => {
                // Sign-out, a disabled account or a reset password elsewhere (another
                // process may have changed the database) ends the connection too.
                if !session.check_sign_in().await {
                    finish(write_limit, &mut inbox, &mut sink).await;
                    break;
                }
            }
            () = sleep_until(deadline) => {
                tracing::info!(participant = %id, "idle timeout; closing");
                let _ = send_within(write_limit, &mut sink, close(close_code::AWAY, "idle timeout")).await;
                break;
            }
        }
    }
    drop(guard);
}

/// Sends what is queued, then closes normally.
async fn finish(write_limit: Duration, inbox: &mut mpsc::Receiver<Outgoing>, sink: &mut Sink) {
    while let Ok(out) = inbox.try_recv() {
        if send(write_limit, sink, &out.message).await.is_err() || out.close {
            break;
        }
    }
    let _ = send_within(write_limit, sink, close(close_code::NORMAL, "")).await;
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Writes one frame, failing when the client does not take it within `limit`.
async fn send_within(limit: Duration, sink: &mut Sink, frame: Message) -> Result<(), ()> {
    match tokio::time::timeout(limit, sink.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

async fn send(limit: Duration, sink: &mut Sink, message: &ServerMessage) -> Result<(), ()> {
    match encode_server(message) {
        Ok(text) => send_within(limit, sink, Message::Text(text.into())).await,
        Err(e) => {
            // Only a bug can produce an invalid message; drop it rather than the connection.
            tracing::error!(kind = message.type_name(), error = %e, "could not encode a message");
            Ok(())
        }
    }
}

impl Session {
    /// Whether the connection's sign-in still stands (guests: always). When it does not, an
    /// `unauthorized` error is queued and the connection closes after it.
    async fn check_sign_in(&mut self) -> bool {
        if self.revoked {
            return false;
        }
        let Some(key) = &self.sign_in else {
            return true;
        };
        let alive = match self.hub.store().session_alive(key).await {
            Ok(alive) => alive,
            Err(e) => {
                // Fail open on a database hiccup: the next check decides.
                tracing::warn!(participant = %self.id, error = %e, "session check failed");
                return true;
            }
        };
        if !alive {
            tracing::info!(participant = %self.id, "sign-in revoked or expired; closing");
            self.revoked = true;
            self.reply(error_message(
                ErrorCode::Unauthorized,
                SIGN_IN_REVOKED,
                None,
            ));
        }
        alive
    }

    fn reply(&self, message: ServerMessage) {
        self.hub.send(self.id, message, false);
    }

    fn error(&self, code: ErrorCode, message: &str) {
        self.reply(error_message(code, message, None));
    }

    /// Answers an undecodable message; the fifth one also closes the connection.
    fn bad_message(&mut self, code: ErrorCode, message: &str) -> Flow {
        self.bad_messages += 1;
        let close = self.bad_messages >= MAX_BAD_MESSAGES;
        self.hub
            .send(self.id, error_message(code, message, None), close);
        if close {
            tracing::info!(participant = %self.id, "too many bad messages; closing");
        }
        Flow::Continue
    }

    async fn handle_text(&mut self, text: &str) -> Flow {
        if self.revoked {
            return Flow::Close;
        }
        let message = match decode_client(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::debug!(participant = %self.id, error = %e, "bad message");
                return self.bad_message(e.error_code(), &e.to_string());
            }
        };
        tracing::trace!(participant = %self.id, kind = message.type_name(), "message");
        match message {
            ClientMessage::Ping { nonce } => {
                self.reply(ServerMessage::Pong { nonce });
                Flow::Continue
            }
            ClientMessage::Join {
                meeting,
                password,
                display_name,
                key_package,
            } => {
                self.join(meeting, password, display_name, key_package)
                    .await;
                Flow::Continue
            }
            _ if !self.joined => {
                self.error(ErrorCode::BadRequest, "join a meeting first");
                Flow::Continue
            }
            ClientMessage::Leave => {
                self.hub.leave(self.id);
                Flow::Close
            }
            other => {
                self.in_meeting(other).await;
                Flow::Continue
            }
        }
    }

    async fn join(
        &mut self,
        meeting: MeetingNumber,
        password: Option<MeetingPassword>,
        display_name: DisplayName,
        key_package: MlsBlob,
    ) {
        if self.joined {
            return self.error(ErrorCode::AlreadyJoined, "this connection already joined");
        }
        let number = meeting.as_str().to_string();
        let hub = self.hub.clone();
        let record = match hub.store().meeting(&number).await {
            Ok(record) => record,
            Err(e) => {
                tracing::error!(meeting = %number, error = %e, "meeting lookup failed");
                return self.error(ErrorCode::Internal, "internal error");
            }
        };
        // Unknown and ended meetings answer like a wrong password, after the same work, so
        // meeting numbers cannot be probed.
        let user_id = self.user.as_ref().map(|u| u.id.as_str());
        if admission::needs_password(user_id, record.as_ref())
            && !self.check_password(&number, password, &display_name).await
        {
            return;
        }
        let record = match admission::live_meeting(record) {
            Ok(record) => record,
            Err((code, why)) => {
                let reason = if code == ErrorCode::WrongPassword {
                    "wrong_password"
                } else {
                    "meeting_ended"
                };
                self.audit_refusal(&number, reason, &display_name, None);
                return self.error(code, why);
            }
        };
        let Some(request) = self.join_request(&number, display_name, key_package).await else {
            return;
        };
        tracing::info!(
            participant = %self.id,
            meeting = %number,
            signed_in = self.user.is_some(),
            "join"
        );
        let co_hosts = match hub.store().meeting_co_hosts(&number).await {
            Ok(co_hosts) => co_hosts,
            Err(e) => {
                tracing::error!(meeting = %number, error = %e, "co-host lookup failed");
                return self.error(ErrorCode::Internal, "internal error");
            }
        };
        if hub.join(self.id, &record, &co_hosts, request) {
            self.joined = true;
        } else {
            self.error(ErrorCode::MeetingNotFound, admission::MEETING_ENDED);
        }
    }

    /// Records in the audit trail a join refused before it reached the room, with the
    /// device key once the KeyPackage has given it.
    fn audit_refusal(
        &self,
        number: &str,
        reason: &str,
        display_name: &DisplayName,
        device: Option<&[u8]>,
    ) {
        let mut event = self.hub.who(self.id);
        event.meeting_number = Some(number.to_owned());
        event.action = format!("join_refused.{reason}");
        event.display_name = Some(
            self.user
                .as_ref()
                .map_or(display_name.as_str(), |u| u.display_name.as_str())
                .to_owned(),
        );
        event.device = device.map(crate::audit::device_fingerprint);
        self.hub.audit_trail().record(event);
    }

    /// The password check of a join, throttled per address (and account); `false` once the
    /// refusal is queued (and recorded).
    async fn check_password(
        &self,
        number: &str,
        password: Option<MeetingPassword>,
        display_name: &DisplayName,
    ) -> bool {
        let hub = &self.hub;
        let guess = match &self.user {
            Some(user) => Guess::join_member(self.address, &user.id, number),
            None => Guess::join_guest(self.address, number),
        };
        match hub
            .throttle()
            .reserve(&guess, crate::store::unix_now())
            .await
        {
            Ok(()) => {}
            Err(ThrottleError::Wait(wait)) => {
                let secs = u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
                tracing::info!(participant = %self.id, meeting = %number, "join throttled");
                self.audit_refusal(number, "throttled", display_name, None);
                self.reply(error_message(
                    ErrorCode::Throttled,
                    "too many attempts; try again later",
                    Some(secs),
                ));
                return false;
            }
            Err(ThrottleError::Store(e)) => {
                tracing::error!(error = %e, "guess throttle failed");
                self.error(ErrorCode::Internal, "internal error");
                return false;
            }
        }
        let right = match password {
            // The store checks unknown numbers against a dummy hash (same time).
            Some(password) => {
                hub.store()
                    .verify_meeting_password(number, password.expose())
                    .await
            }
            None => Ok(false),
        };
        match right {
            Ok(true) => {
                if let Err(e) = hub.throttle().succeeded(&guess).await {
                    tracing::warn!(error = %e, "could not clear the guess record");
                }
                true
            }
            Ok(false) => {
                tracing::info!(participant = %self.id, meeting = %number, "wrong meeting number or password");
                self.audit_refusal(number, "wrong_password", display_name, None);
                self.error(
                    ErrorCode::WrongPassword,
                    admission::WRONG_NUMBER_OR_PASSWORD,
                );
                false
            }
            Err(StoreError::Busy) => {
                if let Err(e) = hub.throttle().cancel(&guess).await {
                    tracing::warn!(error = %e, "could not cancel the guess record");
                }
                tracing::info!(participant = %self.id, "join refused: password checks busy");
                self.reply(error_message(
                    ErrorCode::Throttled,
                    "the server is busy; try again shortly",
                    Some(BUSY_RETRY_SECS),
                ));
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "password check failed");
                self.error(ErrorCode::Internal, "internal error");
                false
            }
        }
    }

    /// The joiner's request once its KeyPackage, credential and bans are checked; `None` once
    /// the refusal is queued.
    async fn join_request(
        &self,
        number: &str,
        display_name: DisplayName,
        key_package: MlsBlob,
    ) -> Option<JoinRequest> {
        let validated = match validate_key_package(
            key_package.as_bytes(),
            Some(&self.hub.org_public_key()),
            unix_now(),
        ) {
            Ok(validated) => validated,
            Err(e) => {
                self.audit_refusal(number, "invalid_key_package", &display_name, None);
                self.error(ErrorCode::InvalidMls, &format!("invalid KeyPackage: {e}"));
                return None;
            }
        };
        let user_id = self.user.as_ref().map(|u| u.id.as_str());
        if let Err((code, why)) = admission::check_credential(user_id, &validated.trust) {
            let device = Some(validated.signature_key.as_slice());
            self.audit_refusal(number, "credential", &display_name, device);
            self.error(code, why);
            return None;
        }
        let ban_keys = admission::ban_keys(&validated.signature_key, user_id);
        match self.hub.store().is_banned(number, &ban_keys).await {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(participant = %self.id, meeting = %number, "banned joiner refused");
                let device = Some(validated.signature_key.as_slice());
                self.audit_refusal(number, "banned", &display_name, device);
                self.hub.send(
                    self.id,
                    ServerMessage::Denied {
                        reason: conclave_protocol::DenyReason::Expelled,
                    },
                    true,
                );
                return None;
            }
            Err(e) => {
                tracing::error!(meeting = %number, error = %e, "ban lookup failed");
                self.error(ErrorCode::Internal, "internal error");
                return None;
            }
        }
        let account_name = self.user.as_ref().map(|u| u.display_name.as_str());
        Some(JoinRequest {
            display_name: admission::display_name(account_name, display_name),
            user_id: user_id.map(str::to_owned),
            signature_key: validated.signature_key,
            key_package,
        })
    }

    /// Every message of a joined connection other than `join`, `leave` and `ping`.
    async fn in_meeting(&mut self, message: ClientMessage) {
        let actor = self.id;
        let result: Result<(), Refusal> = match message {
            control @ (ClientMessage::Admit { .. }
            | ClientMessage::Deny { .. }
            | ClientMessage::AdmitAll
            | ClientMessage::Lock
            | ClientMessage::Unlock
            | ClientMessage::SetAutoLock { .. }
            | ClientMessage::SetRequireSignIn { .. }
            | ClientMessage::SetLobby { .. }
            | ClientMessage::Expel { .. }
            | ClientMessage::ExpelUnverified
            | ClientMessage::AssignCoHost { .. }
            | ClientMessage::EndMeeting) => self.host_control(control).await,
            ClientMessage::Commit {
                epoch,
                commit,
                welcome,
                added,
                removed,
            } => self.hub.with_room(actor, |r: &mut Room| {
                Ok::<_, Refusal>(r.commit(actor, epoch, commit, welcome, &added, &removed))
            }),
            ClientMessage::Proposal { epoch, proposal } => self
                .hub
                .with_room(actor, |r: &mut Room| {
                    r.relay_proposal(actor, epoch, proposal)
                })
                .map_err(Refusal::from),
            ClientMessage::ReturnToLobby { participants } => self.return_to_lobby(&participants),
            ClientMessage::KeyPackageRefresh { .. } => Err(Refusal::Code(
                ErrorCode::BadRequest,
                "key_package_refresh is not supported yet",
            )),
            ClientMessage::SdpOffer { sdp } => self.media_offer(&sdp).await,
            ClientMessage::SdpAnswer { sdp } => match self.hub.sfu().accept_answer(self.id, sdp) {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::info!(participant = %self.id, error = %e, "media answer refused");
                    Err(Refusal::Code(
                        ErrorCode::BadRequest,
                        "no media offer is waiting for this answer",
                    ))
                }
            },
            // Candidates travel inside the descriptions (no trickle).
            ClientMessage::IceCandidate { .. } => Err(Refusal::Code(
                ErrorCode::BadRequest,
                "send candidates inside sdp_offer",
            )),
            // Handled by `handle_text`.
            ClientMessage::Join { .. } | ClientMessage::Leave | ClientMessage::Ping { .. } => {
                Ok(())
            }
        };
        match result {
            Ok(()) => {}
            Err(Refusal::Room(e)) => self.error(e.code(), &e.to_string()),
            Err(Refusal::Code(code, message)) => self.error(code, message),
            Err(Refusal::Revoked) => {}
        }
    }

    /// A host control: the room decides whether the sender may (see `room/host_controls.rs`);
    /// the name given here is what the audit log records.
    async fn host_control(&mut self, message: ClientMessage) -> Result<(), Refusal> {
        let actor = self.id;
        let now = std::time::Instant::now();
        match message {
            ClientMessage::Admit {
                participant,
                admission,
            } => {
                self.host_action("admit", Some(participant), |r| {
                    r.admit(actor, participant, admission)
                })
                .await
            }
            ClientMessage::Deny {
                participant,
                reason,
            } => {
                self.host_action("deny", Some(participant), |r| {
                    r.deny(actor, participant, reason)
                })
                .await
            }
            ClientMessage::AdmitAll => {
                self.host_action("admit_all", None, |r| r.admit_all(actor))
                    .await
            }
            ClientMessage::Lock => {
                self.host_action("lock", None, |r| r.set_locked(actor, true))
                    .await
            }
            ClientMessage::Unlock => {
                self.host_action("unlock", None, |r| r.set_locked(actor, false))
                    .await
            }
            ClientMessage::SetAutoLock { minutes } => {
                let action = match minutes {
                    Some(_) => "set_auto_lock",
                    None => "clear_auto_lock",
                };
                self.host_action(action, None, |r| r.set_auto_lock(actor, minutes, now))
                    .await
            }
            ClientMessage::SetRequireSignIn { required } => {
                let action = if required {
                    "require_sign_in"
                } else {
                    "allow_guests"
                };
                self.host_action(action, None, |r| r.set_require_sign_in(actor, required))
                    .await
            }
            ClientMessage::SetLobby { enabled } => {
                let action = if enabled { "lobby_on" } else { "lobby_off" };
                self.host_action(action, None, |r| r.set_lobby(actor, enabled))
                    .await
            }
            ClientMessage::Expel { participant } => {
                self.host_action("expel", Some(participant), |r| r.expel(actor, participant))
                    .await
            }
            ClientMessage::ExpelUnverified => {
                self.host_action("expel_unverified", None, |r| r.expel_unverified(actor))
                    .await
            }
            ClientMessage::AssignCoHost { participant } => {
                self.host_action("assign_co_host", Some(participant), |r| {
                    r.assign_co_host(actor, participant)
                })
                .await
            }
            ClientMessage::EndMeeting => self.end_meeting().await,
            // Everything else is dispatched by `in_meeting`.
            _ => Ok(()),
        }
    }

    /// The committer sends admitted participants it would not add back to the lobby; the
    /// audit trail records whom.
    fn return_to_lobby(&self, participants: &[ParticipantId]) -> Result<(), Refusal> {
        let actor = self.id;
        // Named as they are now, before the room moves them.
        let targets: Vec<String> = participants.iter().map(|p| self.hub.describe(*p)).collect();
        self.hub
            .with_room(actor, |r: &mut Room| r.return_to_lobby(actor, participants))?;
        if let Some(meeting) = self.hub.meeting_of(actor) {
            self.hub
                .audit(&meeting, actor, "return_to_lobby", Some(targets.join(", ")));
        }
        Ok(())
    }

    /// A media offer: the room decides who may connect (see `room/media.rs`), the SFU
    /// answers.
    async fn media_offer(&mut self, sdp: &str) -> Result<(), Refusal> {
        let id = self.id;
        self.hub.with_room(id, |room: &mut Room| {
            room.may_offer_media(id)
                .map(|()| Vec::new())
                .map_err(|(code, why)| Refusal::Code(code, why))
        })?;
        if let Err(wait) = self.media_offers.take(std::time::Instant::now()) {
            tracing::info!(participant = %id, "media offers throttled");
            self.reply(error_message(
                ErrorCode::Throttled,
                "too many media offers; try again later",
                Some(wait),
            ));
            return Ok(());
        }
        let Some(meeting) = self.hub.meeting_of(id) else {
            return Err(Refusal::Code(ErrorCode::NotAllowed, "join a meeting first"));
        };
        let hub = Arc::downgrade(&self.hub);
        let signal: crate::sfu::Signal = Box::new(move |message| {
            if let Some(hub) = hub.upgrade() {
                hub.send(id, message, false);
            }
        });
        match self.hub.sfu().answer(id, &meeting, sdp, signal).await {
            Ok(answer) => {
                // The answer first: the SFU's offers (the others' tracks) follow it on this
                // connection.
                self.reply(ServerMessage::SdpAnswer { sdp: answer });
                self.hub.refresh_media(&meeting);
                Ok(())
            }
            Err(e) => {
                tracing::info!(participant = %id, error = %e, "media offer refused");
                Err(Refusal::Code(
                    ErrorCode::BadRequest,
                    "the media offer was refused",
                ))
            }
        }
    }

    /// Runs a host control on the room and, when it succeeded, writes the audit log. The
    /// sign-in is re-checked first: a revoked host controls nothing.
    async fn host_action(
        &mut self,
        action: &'static str,
        target: Option<ParticipantId>,
        run: impl FnOnce(&mut Room) -> Result<Vec<Outgoing>, RoomError>,
    ) -> Result<(), Refusal> {
        if !self.check_sign_in().await {
            return Err(Refusal::Revoked);
        }
        // Described before the action: deny and expel forget the target.
        let target = target.map(|t| self.hub.describe(t));
        let meeting = self.hub.meeting_of(self.id);
        // The bans are taken under the same lock as the action, before the room can go away.
        let mut bans = Vec::new();
        self.hub.with_room(self.id, |room| {
            let out = run(room)?;
            bans = room.take_new_bans();
            Ok::<_, RoomError>(out)
        })?;
        if let Some(meeting) = meeting {
            // Expelled and denied people stay out for the meeting's life, restarts included.
            for ban in bans {
                if let Err(e) = self.hub.store().add_meeting_ban(&meeting, &ban).await {
                    tracing::error!(meeting = %meeting, error = %e, "could not store a ban");
                }
            }
            self.hub.audit(&meeting, self.id, action, target);
        }
        Ok(())
    }

    async fn end_meeting(&mut self) -> Result<(), Refusal> {
        let actor = self.id;
        let meeting = self.hub.meeting_of(actor);
        self.host_action("end_meeting", None, |r| r.end(actor))
            .await?;
        if let Some(meeting) = meeting
            && let Err(e) = self.hub.store().end_meeting(&meeting).await
        {
            tracing::error!(meeting = %meeting, error = %e, "could not record the meeting's end");
        }
        Ok(())
    }
}
