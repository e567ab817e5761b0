//! The protocol messages ([`ClientMessage`], [`ServerMessage`]), their supporting enums and
//! structs, and the versioned [`Envelope`]; their checks are in `validate.rs`.

use serde::{Deserialize, Serialize};

use super::{
    DisplayName, MeetingNumber, MeetingPassword, MlsBlob, PROTOCOL_VERSION, ParticipantId, Reason,
};

// ---------------------------------------------------------------------------------------------
// Supporting types
// ---------------------------------------------------------------------------------------------

/// A participant's role in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The meeting's owner: all host controls.
    Host,
    /// Assigned by a host: may use the host controls and may act as committer.
    CoHost,
    /// A signed-in attendee.
    Participant,
    /// An attendee without an account (self-asserted MLS credential, shown as unverified).
    Guest,
}

/// Why a join was refused. JSON: an object internally tagged with `"kind"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DenyReason {
    /// A host denied the knock from the lobby.
    DeniedByHost {
        /// Optional explanation typed by the host.
        reason: Option<Reason>,
    },
    /// The meeting admits only signed-in users and no valid bearer token was presented.
    SignInRequired,
    /// Not sent by this server: a locked meeting sends newcomers to the lobby instead. Kept so
    /// the wire format stays stable.
    Locked,
    /// This identity was expelled earlier and stays out for the meeting's life.
    Expelled,
    /// The meeting has reached its participant limit.
    MeetingFull,
    /// The meeting has ended.
    MeetingEnded,
}

/// Why a meeting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A host ended it for everyone.
    EndedByHost,
    /// Nobody was active for the server's idle timeout.
    Idle,
    /// The server is shutting down.
    ServerShutdown,
}

/// Machine-readable class of a [`ServerMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message was malformed or failed validation.
    BadRequest,
    /// The bearer token is missing, invalid or expired.
    Unauthorized,
    /// No meeting has this number. Also used for a wrong number so numbers cannot be probed.
    MeetingNotFound,
    /// The meeting password is wrong (guesses are throttled).
    WrongPassword,
    /// Too many attempts; see `retry_after_secs`.
    Throttled,
    /// The meeting requires signing in.
    SignInRequired,
    /// The sender's role does not allow this action (e.g. a host control from a participant).
    NotAllowed,
    /// The message exceeded [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES).
    MessageTooLarge,
    /// The MLS message belongs to an epoch that is no longer current.
    StaleEpoch,
    /// The MLS message could not be parsed or broke a delivery-service rule.
    InvalidMls,
    /// This connection has already joined a meeting.
    AlreadyJoined,
    /// Something went wrong on the server.
    Internal,
}

/// The meeting's host-controlled settings and current MLS epoch, as the server enforces them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingState {
    /// Newcomers wait in the lobby until a host admits them, even when the lobby is off (the
    /// meeting's host and scheduled co-hosts still get in).
    pub locked: bool,
    /// Lock automatically this many minutes after the meeting starts; `None` = off.
    pub auto_lock_minutes: Option<u32>,
    /// Newcomers wait in the lobby until admitted.
    pub lobby_enabled: bool,
    /// The lobby is on because a host expelled or denied someone this session: it stays on
    /// until the session ends (a guest comes back with a fresh key, so a ban alone cannot
    /// keep them out).
    #[serde(default)]
    pub lobby_after_expulsion: bool,
    /// Only signed-in users may join.
    pub require_sign_in: bool,
    /// Participants may enter before a host is present (a server-designated acting committer
    /// then commits Adds).
    pub join_before_host: bool,
    /// A host is connected.
    pub host_present: bool,
    /// The MLS group's current epoch, as ordered by the server.
    pub epoch: u64,
}

/// Someone waiting in the lobby, as shown to hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LobbyEntry {
    /// Their id.
    pub participant: ParticipantId,
    /// The name they typed (unverified for guests).
    pub display_name: DisplayName,
    /// Whether they authenticated with a bearer token (verified) or are a guest (unverified).
    pub signed_in: bool,
    /// The MLS signature key of the KeyPackage they brought (≤ [`MAX_SIGNATURE_KEY_BYTES`]):
    /// a host admits them by signing it ([`ClientMessage::Admit`]`.admission`), so the
    /// committer adds exactly the person the host let in, whatever the server says.
    pub signature_key: MlsBlob,
}

/// One member of the meeting, for the roster.
///
/// The authoritative roster is the MLS group's; this server view lets clients label leaves
/// and show who is connecting before their Welcome has been processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// Their id.
    pub participant: ParticipantId,
    /// Their display name.
    pub display_name: DisplayName,
    /// Their role.
    pub role: Role,
    /// Whether they are signed in (verified).
    pub signed_in: bool,
    /// Their MLS signature public key (≤ [`MAX_SIGNATURE_KEY_BYTES`]), which names their leaf
    /// in the MLS tree: clients match roster entries to leaves (and badges) by it.
    pub signature_key: MlsBlob,
}

/// Longest MLS signature public key accepted in a roster entry (Ed25519 keys are 32 bytes).
pub const MAX_SIGNATURE_KEY_BYTES: usize = 256;

/// Longest serialized MLS `ExternalSender` in [`ServerMessage::Admitted`]: a signature key and
/// a basic credential naming the server.
pub const MAX_EXTERNAL_SENDER_BYTES: usize = 2048;

/// Longest MLS group id in [`ServerMessage::Admitted`] (the server picks 16 random bytes).
pub const MAX_GROUP_ID_BYTES: usize = 64;

/// Longest admission signature (Ed25519 signatures are 64 bytes).
pub const MAX_ADMISSION_SIGNATURE_BYTES: usize = 256;

/// A host's or co-host's signed "let them in": their MLS signature over the meeting group's id
/// and the joiner's signature key. The server relays it and cannot forge it; the committer
/// adds no one to a locked meeting or one with the lobby on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    /// The admitting member's MLS signature key (≤ [`MAX_SIGNATURE_KEY_BYTES`]); names their
    /// leaf in the group.
    pub admitter_key: MlsBlob,
    /// The signature (≤ [`MAX_ADMISSION_SIGNATURE_BYTES`]).
    pub signature: MlsBlob,
}

/// One admitted participant whose KeyPackage the committer must add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// Who is being added.
    pub participant: ParticipantId,
    /// Their MLS KeyPackage (≤ [`MAX_KEY_PACKAGE_BYTES`]).
    pub key_package: MlsBlob,
    /// The role the server gives them (the meeting's host account gets in past lock and
    /// lobby; the committer still requires a certified credential for it).
    pub role: Role,
    /// The host's signed admission, when a host or co-host let them in from the lobby.
    pub admission: Option<Admission>,
}

// ---------------------------------------------------------------------------------------------
// Envelope and messages
// ---------------------------------------------------------------------------------------------

/// The wire wrapper: `{"v": <version>, "type": ..., ...body fields}`.
///
/// `body` is flattened, so the message's `type` tag and fields sit next to `v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Protocol version; must equal [`PROTOCOL_VERSION`].
    pub v: u16,
    /// The message.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Envelope<T> {
    /// Wraps `body` with the current [`PROTOCOL_VERSION`].
    pub fn new(body: T) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            body,
        }
    }
}

/// A message from a client to the server.
///
/// Host controls (`Admit` … `EndMeeting`) are accepted only from hosts and co-hosts; the
/// server answers others with [`ErrorCode::NotAllowed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Ask to join a meeting. The first message on a connection. A signed-in user's bearer
    /// token is in the upgrade request's `Authorization` header, not here.
    Join {
        /// Which meeting.
        meeting: MeetingNumber,
        /// The meeting password, if the meeting has one and the user is not exempt.
        password: Option<MeetingPassword>,
        /// The name to show others.
        display_name: DisplayName,
        /// A fresh MLS KeyPackage; the committer adds it once the joiner is admitted.
        key_package: MlsBlob,
    },
    /// Leave the meeting (the server then has the leaver removed from the MLS group).
    Leave,
    /// Host: let a lobby participant in.
    Admit {
        /// Who.
        participant: ParticipantId,
        /// The host's MLS signature admitting this lobby entry's signature key (see
        /// [`Admission`]); without it the committer adds nobody to a locked meeting or one
        /// with the lobby on.
        #[serde(default)]
        admission: Option<MlsBlob>,
    },
    /// Host: refuse a lobby participant.
    Deny {
        /// Who.
        participant: ParticipantId,
        /// Optional explanation shown to them.
        reason: Option<Reason>,
    },
    /// Host: admit everyone currently in the lobby.
    AdmitAll,
    /// Host: lock the meeting; newcomers then wait in the lobby until a host admits them.
    Lock,
    /// Host: unlock the meeting.
    Unlock,
    /// Host: lock automatically after this many minutes from the start (1–1440); `None` = off.
    SetAutoLock {
        /// Minutes, or `None` to switch auto-lock off.
        minutes: Option<u32>,
    },
    /// Host: require every attendee to be signed in.
    SetRequireSignIn {
        /// On or off.
        required: bool,
    },
    /// Host: send newcomers to the lobby.
    SetLobby {
        /// On or off.
        enabled: bool,
    },
    /// Host: remove a participant and keep them out for the meeting's life.
    Expel {
        /// Who.
        participant: ParticipantId,
    },
    /// Host: expel every participant who is not signed in (unverified).
    ExpelUnverified,
    /// Host: make a participant co-host.
    AssignCoHost {
        /// Who.
        participant: ParticipantId,
    },
    /// Host: end the meeting for everyone.
    EndMeeting,
    /// Committer: an MLS commit (a PublicMessage, so the server can check it).
    Commit {
        /// The epoch the commit was made FROM; the group moves to `epoch + 1` if accepted.
        epoch: u64,
        /// The MLS commit.
        commit: MlsBlob,
        /// The Welcome for added members; present exactly when `added` is non-empty.
        welcome: Option<MlsBlob>,
        /// Participants this commit adds (≤ 1000, no duplicates).
        added: Vec<ParticipantId>,
        /// Participants this commit removes (≤ 1000, no duplicates, disjoint from `added`).
        removed: Vec<ParticipantId>,
    },
    /// A member's MLS proposal (e.g. an Update), forwarded to the group.
    Proposal {
        /// The epoch the proposal belongs to.
        epoch: u64,
        /// The MLS proposal.
        proposal: MlsBlob,
    },
    /// Committer: these admitted participants were not added (no host's signed admission
    /// while the meeting is guarded, or not signed in where sign-in is required); the server
    /// puts them back in the lobby.
    ReturnToLobby {
        /// Who (≤ 1000).
        participants: Vec<ParticipantId>,
    },
    /// Replace the KeyPackage given in `Join` (e.g. after a long wait in the lobby).
    KeyPackageRefresh {
        /// The new KeyPackage.
        key_package: MlsBlob,
    },
    /// WebRTC: an SDP offer for the connection to the SFU.
    SdpOffer {
        /// The SDP (≤ 64 KiB).
        sdp: String,
    },
    /// WebRTC: an SDP answer to the SFU's offer.
    SdpAnswer {
        /// The SDP (≤ 64 KiB).
        sdp: String,
    },
    /// WebRTC: a trickled ICE candidate.
    IceCandidate {
        /// The candidate line (≤ 1 KiB); empty means end of candidates.
        candidate: String,
        /// The media stream identification tag (≤ 64 bytes).
        sdp_mid: Option<String>,
        /// Index of the m-line the candidate belongs to.
        sdp_mline_index: Option<u16>,
    },
    /// Keep-alive / latency probe; answered with [`ServerMessage::Pong`].
    Ping {
        /// Echoed back.
        nonce: u64,
    },
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// First message on every connection.
    Hello {
        /// Server software version (≤ 64 bytes).
        server_version: String,
        /// Fingerprint of the organization's identity key that certifies signed-in users'
        /// credentials (≤ 128 bytes), for comparison with a pinned value.
        org_key_fingerprint: Option<String>,
    },
    /// The joiner is waiting in the lobby.
    InLobby {
        /// The joiner's id.
        participant: ParticipantId,
    },
    /// The joiner is in; its Add will be committed and a Welcome follows.
    Admitted {
        /// The joiner's id.
        participant: ParticipantId,
        /// The joiner's role.
        role: Role,
        /// The meeting's state.
        meeting: MeetingState,
        /// The joiner is the first committer: it creates the MLS group itself (no Welcome
        /// follows). Everyone else waits for `mls_welcome`.
        create_group: bool,
        /// The server's MLS `ExternalSender` (TLS-serialized signature key and credential,
        /// ≤ [`MAX_EXTERNAL_SENDER_BYTES`]). The group's creator puts it in the group's
        /// external-senders extension, so the server can propose Remove for members who
        /// leave or disconnect, and nothing else.
        external_sender: MlsBlob,
        /// The MLS group id the creator must use (≤ [`MAX_GROUP_ID_BYTES`]); present exactly
        /// when `create_group` is true.
        group_id: Option<MlsBlob>,
    },
    /// The join was refused; the server closes the connection afterwards.
    Denied {
        /// Why.
        reason: DenyReason,
    },
    /// To hosts: someone is waiting in the lobby.
    Knock {
        /// Who.
        entry: LobbyEntry,
    },
    /// To hosts: the whole lobby (≤ 1000 entries).
    Lobby {
        /// Everyone waiting.
        entries: Vec<LobbyEntry>,
    },
    /// To the committer: commit Adds for these admitted participants' KeyPackages.
    AddMembers {
        /// The group's current epoch as the server sees it.
        epoch: u64,
        /// Who to add (≤ 1000, no duplicate participants).
        requests: Vec<AddRequest>,
    },
    /// To the committer: commit the removal of these participants.
    RemoveMembers {
        /// The group's current epoch as the server sees it.
        epoch: u64,
        /// Who to remove (≤ 1000).
        participants: Vec<ParticipantId>,
    },
    /// To a joiner: the Welcome that brings it into the group.
    MlsWelcome {
        /// The MLS Welcome.
        welcome: MlsBlob,
    },
    /// To members other than the committer: an accepted commit to apply.
    MlsCommit {
        /// The epoch the commit was made from.
        epoch: u64,
        /// The MLS commit.
        commit: MlsBlob,
        /// Who committed it.
        from: ParticipantId,
    },
    /// To members: a proposal to hold for the next commit (from a member, or the server's own
    /// Remove proposal as the group's external sender).
    MlsProposal {
        /// The epoch the proposal belongs to.
        epoch: u64,
        /// The MLS proposal.
        proposal: MlsBlob,
    },
    /// To the committer: its commit won; merge it. The group is now in `epoch + 1`.
    CommitAccepted {
        /// The epoch the accepted commit was made from (echoes [`ClientMessage::Commit`]).
        epoch: u64,
    },
    /// To the committer: its commit lost (another commit for that epoch came first, or it
    /// broke a rule); discard it, apply the pending commits and rebase.
    CommitRejected {
        /// The epoch the rejected commit was made from.
        epoch: u64,
        /// The group's current epoch.
        current_epoch: u64,
        /// Why.
        reason: Reason,
    },
    /// The meeting's settings changed.
    MeetingUpdate {
        /// The new state.
        meeting: MeetingState,
    },
    /// Who is in the meeting (≤ 1000 entries).
    Roster {
        /// Everyone admitted.
        participants: Vec<RosterEntry>,
    },
    /// A participant's role changed.
    RoleChanged {
        /// Who.
        participant: ParticipantId,
        /// The new role.
        role: Role,
    },
    /// To the expelled participant; the server closes the connection afterwards.
    Expelled {
        /// Optional explanation.
        reason: Option<Reason>,
    },
    /// The meeting is over; the server closes the connection afterwards.
    MeetingEnded {
        /// Why.
        reason: EndReason,
    },
    /// WebRTC: an SDP offer from the SFU (renegotiation).
    SdpOffer {
        /// The SDP (≤ 64 KiB).
        sdp: String,
    },
    /// WebRTC: the SFU's answer to the client's offer.
    SdpAnswer {
        /// The SDP (≤ 64 KiB).
        sdp: String,
    },
    /// WebRTC: a trickled ICE candidate from the SFU.
    IceCandidate {
        /// The candidate line (≤ 1 KiB); empty means end of candidates.
        candidate: String,
        /// The media stream identification tag (≤ 64 bytes).
        sdp_mid: Option<String>,
        /// Index of the m-line the candidate belongs to.
        sdp_mline_index: Option<u16>,
    },
    /// A request failed.
    Error {
        /// Machine-readable class.
        code: ErrorCode,
        /// Human-readable detail (≤ 512 bytes); never contains secrets.
        message: String,
        /// For [`ErrorCode::Throttled`]: seconds to wait before retrying.
        retry_after_secs: Option<u32>,
    },
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}
