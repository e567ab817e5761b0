//! One meeting's authoritative state on the server: who is in the lobby or the room, host
//! controls (`room/host_controls.rs`), and the ordering of MLS commits (`room/delivery.rs`);
//! and the rules checked around it: who may ask to join (`room/admission.rs`) and who may
//! open a media connection, how often (`room/media.rs`).
//! Pure logic with the clock passed in, so every rule is tested without sockets; the
//! connection layer turns [`Outgoing`] into frames.
//!
//! The server never adds anyone to the MLS group: admitting someone only forwards their
//! KeyPackage to the committer (the host's client), which commits the Add itself.
//!
//! It can remove: as the group's MLS external sender ([`DeliveryService`]) it proposes Remove
//! for every member who leaves, disconnects or is expelled, and asks the committer to commit
//! it. To build those proposals it names the group (`admitted.group_id`) and keeps its own map
//! of leaf indices, computed from the commits it orders (RFC 9420: a commit's Removes blank
//! their leaves, then its Adds fill the leftmost blank leaves in `added` order). Members refuse
//! a proposal whose leaf belongs to someone still on the roster, so a wrong index can never
//! silently remove the wrong person.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_e2ee::group::{ExternalSenderKey, GroupError, ProposalKind, peek_proposal};
use conclave_protocol::{
    AddRequest, Admission, DenyReason, DisplayName, EndReason, ErrorCode, LobbyEntry, MeetingState,
    MlsBlob, ParticipantId, Reason, Role, RosterEntry, ServerMessage,
};

pub use crate::store::BanKey as Ban;

/// Largest meeting (matches the MLS key layout's plan).
pub const MAX_PARTICIPANTS: usize = 1000;

/// Most people waiting in one lobby: a flood of knocks cannot fill the meeting's own places
/// or bury the host's lobby list.
pub const MAX_LOBBY: usize = 100;

/// Length of the MLS group ids the server picks.
const GROUP_ID_BYTES: usize = 16;

/// The server's identity as the MLS delivery service: the external-sender key every meeting
/// group lists, so the server can propose Remove (and nothing else). One per server process,
/// generated at start: groups live only as long as their meeting session, so a restarted
/// server (whose rooms are gone) needs no old key.
#[derive(Debug, Clone)]
pub struct DeliveryService {
    key: Arc<ExternalSenderKey>,
    /// The serialized `ExternalSender` sent in `admitted`.
    announced: MlsBlob,
}

impl DeliveryService {
    /// A delivery service with a fresh external-sender key; `name` goes into its credential.
    pub fn generate(name: &str) -> Result<Self, GroupError> {
        let key = ExternalSenderKey::generate(name)?;
        let announced = MlsBlob::new(key.external_sender_bytes()?);
        Ok(Self {
            key: Arc::new(key),
            announced,
        })
    }

    /// What `admitted.external_sender` carries.
    pub fn external_sender(&self) -> &MlsBlob {
        &self.announced
    }

    /// A Remove proposal for `leaf` in `epoch` of `group_id`, signed by the server.
    pub fn propose_remove(
        &self,
        group_id: &[u8],
        epoch: u64,
        leaf: u32,
    ) -> Result<Vec<u8>, GroupError> {
        self.key.propose_remove(group_id, epoch, leaf)
    }
}

/// A message for one participant; `close` asks the connection layer to hang up after sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: ParticipantId,
    pub message: ServerMessage,
    pub close: bool,
}

/// What a joiner brings, after the connection layer checked the password and the token.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub display_name: DisplayName,
    /// The signed-in account, if the bearer token was valid.
    pub user_id: Option<String>,
    /// The joiner's MLS signature key (from its validated KeyPackage).
    pub signature_key: Vec<u8>,
    pub key_package: MlsBlob,
}

/// The meeting's host-controlled options.
#[derive(Debug, Clone, Default)]
pub struct RoomOptions {
    /// The account that hosts; `None` makes the first joiner the host (instant meetings).
    pub host_user_id: Option<String>,
    /// Accounts the schedule names as co-hosts: they join as co-hosts, past lock and lobby.
    pub co_host_user_ids: Vec<String>,
    pub require_sign_in: bool,
    pub lobby_enabled: bool,
    pub auto_lock_minutes: Option<u32>,
    pub join_before_host: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    /// Waiting for the host (or for the host to arrive).
    Lobby { key_package: MlsBlob },
    /// Admitted; its Add is waiting to be committed. `admission` is the host's signature,
    /// when a host let them in from the lobby.
    AwaitingAdd {
        key_package: MlsBlob,
        admission: Option<Admission>,
    },
    /// In the MLS group.
    Member,
}

#[derive(Debug, Clone)]
struct Participant {
    display_name: DisplayName,
    user_id: Option<String>,
    signature_key: Vec<u8>,
    role: Role,
    status: Status,
    /// The participant's leaf in the MLS tree, once a member.
    leaf: Option<u32>,
}

/// Why a host action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("only the host or a co-host may do that")]
    NotAllowed,
    #[error("no such participant")]
    NoSuchParticipant,
    #[error("the meeting has ended")]
    Ended,
    #[error("the host cannot be expelled or demoted")]
    TargetIsHost,
    #[error("only the host may do that")]
    HostOnly,
    #[error("{0}")]
    BadProposal(&'static str),
    #[error("the proposal is for an epoch that is no longer current")]
    StaleEpoch,
}

impl RoomError {
    /// The protocol error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::NotAllowed | RoomError::TargetIsHost | RoomError::HostOnly => {
                ErrorCode::NotAllowed
            }
            RoomError::NoSuchParticipant => ErrorCode::BadRequest,
            RoomError::Ended => ErrorCode::MeetingNotFound,
            RoomError::BadProposal(_) => ErrorCode::InvalidMls,
            RoomError::StaleEpoch => ErrorCode::StaleEpoch,
        }
    }
}

/// One meeting.
#[derive(Debug)]
pub struct Room {
    options: RoomOptions,
    locked: bool,
    auto_lock_at: Option<Instant>,
    epoch: u64,
    participants: BTreeMap<ParticipantId, Participant>,
    bans: BTreeSet<Ban>,
    /// Bans made since the last [`Room::take_new_bans`], for the database.
    new_bans: Vec<Ban>,
    /// Someone was expelled or denied this session: the lobby stays on until it ends.
    lobby_forced: bool,
    /// A member the server made co-host only to commit before the host arrived; it goes back
    /// to its own role when the host takes over.
    acting_co_host: Option<ParticipantId>,
    /// Test builds only: a display name whose bearer the room admits at once and leaves out
    /// of every roster and lobby list (a hostile server's hidden listener).
    #[cfg(feature = "test-hooks")]
    hidden_name: Option<String>,
    /// The client that commits (host, else a co-host, else with join-before-host the
    /// longest-present member).
    committer: Option<ParticipantId>,
    /// An AddMembers batch sent to the committer and not yet committed.
    adds_in_flight: BTreeSet<ParticipantId>,
    ended: bool,
    /// When it was ended: the hub frees an ended room a little later (after the end is in the
    /// database, so no join in between opens a fresh one).
    ended_at: Option<Instant>,
    delivery: DeliveryService,
    /// The current MLS group's id (chosen by the server when the group is created).
    group_id: Option<Vec<u8>>,
    /// Members who left whose leaves are still in the tree, with those leaves: the server
    /// proposes their removal in every epoch until a commit removes them.
    departed: BTreeMap<ParticipantId, u32>,
}

impl Room {
    /// A new, empty meeting; auto-lock counts from `now`.
    pub fn new(options: RoomOptions, delivery: DeliveryService, now: Instant) -> Self {
        let auto_lock_at = options
            .auto_lock_minutes
            .map(|m| now + Duration::from_secs(u64::from(m) * 60));
        Self {
            options,
            locked: false,
            auto_lock_at,
            epoch: 0,
            participants: BTreeMap::new(),
            bans: BTreeSet::new(),
            new_bans: Vec::new(),
            lobby_forced: false,
            acting_co_host: None,
            #[cfg(feature = "test-hooks")]
            hidden_name: None,
            committer: None,
            adds_in_flight: BTreeSet::new(),
            ended: false,
            ended_at: None,
            delivery,
            group_id: None,
            departed: BTreeMap::new(),
        }
    }

    /// The leaf a member (or a departed member whose removal is pending) holds in the
    /// server's map of the MLS tree.
    pub fn leaf_of(&self, id: ParticipantId) -> Option<u32> {
        self.participants
            .get(&id)
            .and_then(|p| p.leaf)
            .or_else(|| self.departed.get(&id).copied())
    }

    /// Departed members whose removal is not committed yet.
    pub fn pending_removals(&self) -> Vec<ParticipantId> {
        self.departed.keys().copied().collect()
    }

    fn occupied_leaves(&self) -> BTreeSet<u32> {
        self.participants
            .values()
            .filter_map(|p| p.leaf)
            .chain(self.departed.values().copied())
            .collect()
    }

    /// The state clients see.
    pub fn state(&self) -> MeetingState {
        MeetingState {
            locked: self.locked,
            auto_lock_minutes: self.options.auto_lock_minutes,
            lobby_enabled: self.options.lobby_enabled || self.lobby_forced,
            lobby_after_expulsion: self.lobby_forced,
            require_sign_in: self.options.require_sign_in,
            join_before_host: self.options.join_before_host,
            host_present: self.host_present(),
            epoch: self.epoch,
        }
    }

    /// The server's view of the MLS epoch (advanced by accepted commits).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Nobody is in the room, the lobby included: the hub frees it, so the next session
    /// starts from the stored options.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Ended at least `grace` before `now`: the hub may forget it.
    pub fn ended_before(&self, now: Instant, grace: Duration) -> bool {
        self.ended_at
            .is_some_and(|at| now.saturating_duration_since(at) >= grace)
    }

    /// Whether the meeting was ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Participants in the MLS group.
    pub fn members(&self) -> Vec<ParticipantId> {
        self.participants
            .iter()
            .filter(|(_, p)| p.status == Status::Member)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Participants waiting in the lobby.
    pub fn lobby(&self) -> Vec<LobbyEntry> {
        self.participants
            .iter()
            .filter(|(_, p)| matches!(p.status, Status::Lobby { .. }) && !self.is_hidden(p))
            .map(|(id, p)| LobbyEntry {
                participant: *id,
                display_name: p.display_name.clone(),
                signed_in: p.user_id.is_some(),
                signature_key: MlsBlob::new(p.signature_key.clone()),
            })
            .collect()
    }

    /// The current committer.
    pub fn committer(&self) -> Option<ParticipantId> {
        self.committer
    }

    #[cfg(feature = "test-hooks")]
    fn is_hidden(&self, p: &Participant) -> bool {
        self.hidden_name.as_deref() == Some(p.display_name.as_str())
    }

    #[cfg(not(feature = "test-hooks"))]
    fn is_hidden(&self, _: &Participant) -> bool {
        false
    }

    /// Test builds only: admit whoever joins as `name` at once and leave them out of every
    /// roster and lobby list, as a hostile server would.
    #[cfg(feature = "test-hooks")]
    pub fn hide_participant_named(&mut self, name: &str) {
        self.hidden_name = Some(name.to_string());
    }

    /// Bans made since the last call, for the database.
    pub fn take_new_bans(&mut self) -> Vec<Ban> {
        std::mem::take(&mut self.new_bans)
    }

    fn host_present(&self) -> bool {
        self.participants.values().any(|p| p.role == Role::Host)
    }

    fn is_moderator(&self, id: ParticipantId) -> bool {
        self.participants.get(&id).is_some_and(|p| {
            matches!(p.role, Role::Host | Role::CoHost) && p.status == Status::Member
        })
    }

    fn is_banned(&self, request: &JoinRequest) -> bool {
        self.bans
            .contains(&Ban::Device(request.signature_key.clone()))
            || request
                .user_id
                .as_ref()
                .is_some_and(|u| self.bans.contains(&Ban::Account(u.clone())))
    }

    fn send(to: ParticipantId, message: ServerMessage) -> Outgoing {
        Outgoing {
            to,
            message,
            close: false,
        }
    }

    fn send_and_close(to: ParticipantId, message: ServerMessage) -> Outgoing {
        Outgoing {
            to,
            message,
            close: true,
        }
    }

    fn to_moderators(&self, message: &ServerMessage) -> Vec<Outgoing> {
        self.participants
            .keys()
            .filter(|id| self.is_moderator(**id))
            .map(|id| Self::send(*id, message.clone()))
            .collect()
    }

    fn to_members(&self, message: &ServerMessage, except: Option<ParticipantId>) -> Vec<Outgoing> {
        self.members()
            .into_iter()
            .filter(|id| Some(*id) != except)
            .map(|id| Self::send(id, message.clone()))
            .collect()
    }

    fn roster(&self) -> ServerMessage {
        ServerMessage::Roster {
            participants: self
                .participants
                .iter()
                .filter(|(_, p)| p.status == Status::Member && !self.is_hidden(p))
                .map(|(id, p)| RosterEntry {
                    participant: *id,
                    display_name: p.display_name.clone(),
                    role: p.role,
                    signed_in: p.user_id.is_some(),
                    signature_key: MlsBlob::new(p.signature_key.clone()),
                })
                .collect(),
        }
    }

    fn meeting_update(&self) -> Vec<Outgoing> {
        let mut out = self.to_members(
            &ServerMessage::MeetingUpdate {
                meeting: self.state(),
            },
            None,
        );
        out.extend(self.to_members(&self.roster(), None));
        out
    }

    fn role_for(&self, request: &JoinRequest) -> Role {
        let is_host = match &self.options.host_user_id {
            Some(host) => request.user_id.as_ref() == Some(host),
            None => self.participants.is_empty(),
        };
        let is_co_host = request
            .user_id
            .as_ref()
            .is_some_and(|u| self.options.co_host_user_ids.contains(u));
        if is_host {
            Role::Host
        } else if is_co_host {
            Role::CoHost
        } else if request.user_id.is_some() {
            Role::Participant
        } else {
            Role::Guest
        }
    }

    /// Someone asks to join. Returns the messages to send; a refusal closes the connection.
    pub fn join(&mut self, id: ParticipantId, request: JoinRequest, now: Instant) -> Vec<Outgoing> {
        let mut out = self.tick(now);
        let refuse = |reason| vec![Self::send_and_close(id, ServerMessage::Denied { reason })];
        if self.ended {
            return refuse(DenyReason::MeetingEnded);
        }
        if self.is_banned(&request) {
            return refuse(DenyReason::Expelled);
        }
        if self.options.require_sign_in && request.user_id.is_none() {
            return refuse(DenyReason::SignInRequired);
        }
        if self.participants.len() >= MAX_PARTICIPANTS {
            return refuse(DenyReason::MeetingFull);
        }
        let role = self.role_for(&request);
        let key_package = request.key_package.clone();
        let mut participant = Participant {
            display_name: request.display_name,
            user_id: request.user_id,
            signature_key: request.signature_key,
            role,
            status: Status::Lobby { key_package },
            leaf: None,
        };

        let no_committer = self.committer.is_none();
        let may_start = role == Role::Host || self.options.join_before_host;
        if no_committer && may_start && self.members().is_empty() {
            // The first committer creates the MLS group itself: nothing to add. A new group
            // starts at epoch 0 with its creator in leaf 0. Before the host, the creator
            // commits as an acting co-host (members accept Adds only from hosts and co-hosts).
            if !matches!(role, Role::Host | Role::CoHost) {
                participant.role = Role::CoHost;
                self.acting_co_host = Some(id);
            }
            let role = participant.role;
            participant.status = Status::Member;
            participant.leaf = Some(0);
            self.participants.insert(id, participant);
            self.committer = Some(id);
            self.epoch = 0;
            self.departed.clear();
            self.adds_in_flight.clear();
            let mut group_id = vec![0u8; GROUP_ID_BYTES];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut group_id);
            self.group_id = Some(group_id.clone());
            out.push(Self::send(
                id,
                ServerMessage::Admitted {
                    participant: id,
                    role,
                    meeting: self.state(),
                    create_group: true,
                    external_sender: self.delivery.external_sender().clone(),
                    group_id: Some(MlsBlob::new(group_id)),
                },
            ));
            out.extend(self.meeting_update());
            // People who waited for the host are now the host's to admit.
            let lobby = self.lobby();
            if !lobby.is_empty() {
                out.push(Self::send(id, ServerMessage::Lobby { entries: lobby }));
            }
            return out;
        }

        // The host and the schedule's co-hosts always get in, past lock and lobby.
        let host_or_scheduled = matches!(role, Role::Host | Role::CoHost);
        let must_wait = !host_or_scheduled
            && (self.locked
                || self.options.lobby_enabled
                || self.lobby_forced
                || (self.committer.is_none() && !may_start)
                || (!self.host_present() && !self.options.join_before_host));
        let must_wait = must_wait && !self.is_hidden(&participant);
        if must_wait && self.lobby().len() >= MAX_LOBBY {
            return refuse(DenyReason::MeetingFull);
        }
        self.participants.insert(id, participant);
        if must_wait {
            out.push(Self::send(id, ServerMessage::InLobby { participant: id }));
            if let Some(entry) = self.lobby().into_iter().find(|e| e.participant == id) {
                out.extend(self.to_moderators(&ServerMessage::Knock { entry }));
            }
            return out;
        }
        out.extend(self.admit_one(id, None));
        out
    }

    fn admit_one(&mut self, id: ParticipantId, admission: Option<Admission>) -> Vec<Outgoing> {
        let Some(participant) = self.participants.get_mut(&id) else {
            return Vec::new();
        };
        let Status::Lobby { key_package } = &participant.status else {
            return Vec::new();
        };
        participant.status = Status::AwaitingAdd {
            key_package: key_package.clone(),
            admission,
        };
        let role = participant.role;
        let mut out = vec![Self::send(
            id,
            ServerMessage::Admitted {
                participant: id,
                role,
                meeting: self.state(),
                create_group: false,
                external_sender: self.delivery.external_sender().clone(),
                group_id: None,
            },
        )];
        out.extend(self.flush_adds());
        out
    }

    /// A participant leaves or disconnects: the server proposes its removal to the group and
    /// asks the committer to commit it.
    pub fn leave(&mut self, id: ParticipantId) -> Vec<Outgoing> {
        self.remove(id)
    }

    fn remove(&mut self, id: ParticipantId) -> Vec<Outgoing> {
        let Some(gone) = self.participants.remove(&id) else {
            return Vec::new();
        };
        self.adds_in_flight.remove(&id);
        let departed = match gone.leaf {
            Some(leaf) if gone.status == Status::Member => {
                self.departed.insert(id, leaf);
                true
            }
            _ => false,
        };
        if self.members().is_empty() {
            // Nobody is left in the group: it is over, and so are its removals.
            self.departed.clear();
        }
        let committer_before = self.committer;
        let mut out = Vec::new();
        if self.acting_co_host == Some(id) {
            self.acting_co_host = None;
        }
        if self.committer == Some(id) {
            self.committer = self.next_committer();
            // Before the host, the next committer also admits (join before host): it acts as
            // co-host until the host arrives. Otherwise it only commits removals.
            if let Some(next) = self.committer
                && self.options.join_before_host
                && let Some(p) = self.participants.get_mut(&next)
                && !matches!(p.role, Role::Host | Role::CoHost)
            {
                p.role = Role::CoHost;
                self.acting_co_host = Some(next);
                out.extend(self.to_members(
                    &ServerMessage::RoleChanged {
                        participant: next,
                        role: Role::CoHost,
                    },
                    None,
                ));
            }
        }
        // The roster goes first: members refuse a Remove proposal for anyone it still lists.
        out.extend(self.meeting_update());
        if departed {
            out.extend(self.propose_removals(&[id]));
        }
        if self.committer != committer_before {
            // A new committer takes over every removal still pending.
            out.extend(self.ask_committer_to_remove(self.pending_removals()));
        } else if departed {
            out.extend(self.ask_committer_to_remove(vec![id]));
        }
        out.extend(self.to_moderators(&ServerMessage::Lobby {
            entries: self.lobby(),
        }));
        out
    }

    fn next_committer(&self) -> Option<ParticipantId> {
        let members = self.members();
        members
            .iter()
            .copied()
            .find(|id| {
                self.participants
                    .get(id)
                    .is_some_and(|p| p.role == Role::CoHost)
            })
            .or_else(|| {
                // Nobody with host rights is left: the longest-present member still commits
                // removals (members accept a commit's Removes of people who left from anyone,
                // and Adds only from hosts and co-hosts), so departed members lose the keys.
                members.first().copied()
            })
    }

    /// Applies time-based rules (auto-lock); call on every event and from a timer.
    pub fn tick(&mut self, now: Instant) -> Vec<Outgoing> {
        match self.auto_lock_at {
            Some(at) if at <= now && !self.locked => {
                self.locked = true;
                self.auto_lock_at = None;
                self.meeting_update()
            }
            _ => Vec::new(),
        }
    }
}

pub mod admission;
mod delivery;
mod host_controls;
mod media;

pub use admission::Refused;
pub use media::OfferBudget;

#[cfg(test)]
mod tests;
