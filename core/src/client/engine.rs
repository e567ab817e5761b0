//! The headless client engine without I/O: server messages in, client messages and events out.
//!
//! It owns this participant's MLS state. As the committer (host, co-host or acting committer)
//! it turns the server's `add_members` / `remove_members` into batched commits, and enforces
//! host policy a second time: it never adds a KeyPackage that fails validation or whose key or
//! account this client has seen expelled or denied.
//!
//! Departures: the server, as the group's MLS external sender, sends every member a Remove
//! proposal (`mls_proposal`) for the departed member's leaf; each member stores it unless the
//! leaf belongs to someone the server's roster still lists. The committer, told by
//! `remove_members`, commits the stored proposals by reference and removes by value only the
//! departed members no stored proposal covers.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use conclave_e2ee::group::{
    EpochChange, GroupError, GroupMember, Incoming, JoinRules, ValidatedKeyPackage,
    external_sender_from_bytes, validate_key_package,
};
use conclave_protocol::identity::{OrgPublicKey, TrustState};
use conclave_protocol::verification::VerificationCode;
use conclave_protocol::{
    AddRequest, ClientMessage, DenyReason, DisplayName, EndReason, ErrorCode, LobbyEntry,
    MeetingNumber, MeetingPassword, MeetingState, MlsBlob, ParticipantId, Reason, Role,
    RosterEntry, ServerMessage,
};

/// Where this participant stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Connected, not joined yet.
    Connected,
    /// Waiting in the lobby.
    InLobby,
    /// Admitted; waiting for the Welcome.
    Admitted,
    /// In the MLS group: media keys available.
    InMeeting,
    /// Out of the meeting, with the reason.
    Left(LeftReason),
}

/// Why the participant is no longer in the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftReason {
    Denied(DenyReason),
    Expelled(Option<Reason>),
    Ended(EndReason),
    RemovedFromGroup,
    Left,
}

/// How a participant-list row relates to the MLS group and the server's roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// In this client's MLS group and on the server's roster.
    Present,
    /// On the server's roster; their leaf is not in this client's group (yet).
    Joining,
    /// In the MLS group, but the server says they left: their removal is not committed yet,
    /// so they still hold the keys.
    Leaving,
    /// In the MLS group, and the server never announced them: someone who holds the meeting's
    /// keys while the server hides them. Shown prominently, with a warning.
    Unannounced,
}

/// One participant-list row. The list is the MLS group's: one row per leaf, named and badged
/// from the leaf's credential (the certified name for signed-in users, the self-asserted one
/// for guests), whatever the server's roster says; the server only adds its ids and roles,
/// and the people it announced whose leaf this client does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterView {
    /// The server's id for them; `None` for a leaf the server did not announce.
    pub participant: Option<ParticipantId>,
    /// From the MLS credential when they are in the group, else the server's roster.
    pub display_name: String,
    /// The role the server gives them (a guest's for leaves it does not list).
    pub role: Role,
    /// From the MLS credential; `None` until the member's leaf is in this client's group.
    pub trust: Option<TrustState>,
    /// The member's leaf in the MLS tree, which is also the sender id of their media frames.
    pub leaf: Option<u32>,
    pub presence: Presence,
}

impl RosterView {
    /// Whether this row is a leaf the server did not announce.
    pub fn is_unannounced(&self) -> bool {
        self.presence == Presence::Unannounced
    }
}

/// Something the UI or a script should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The phase changed.
    Phase(Phase),
    /// New group keys: a new epoch with its verification code (the "verify again" moment).
    KeysChanged(VerificationCode),
    /// Someone knocked (hosts and co-hosts).
    Knock(LobbyEntry),
    /// The lobby list changed (hosts and co-hosts).
    Lobby(Vec<LobbyEntry>),
    /// The roster changed.
    Roster,
    /// Meeting settings changed.
    Meeting(MeetingState),
    /// The server refused a request.
    Error {
        code: ErrorCode,
        message: String,
        retry_after_secs: Option<u32>,
    },
    /// A handshake message was refused (forged, unauthorized, stale). The meeting goes on.
    SecurityWarning(String),
    /// The SFU's answer to this client's media offer.
    MediaAnswer(String),
}

/// The engine's output for one input.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Vec<ClientMessage>,
    pub events: Vec<Event>,
}

/// Engine failures that are the local client's fault (not the peer's).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("invalid input: {0}")]
    Invalid(String),
}

#[derive(Debug, Default)]
struct CommitterWork {
    adds: BTreeMap<ParticipantId, AddRequest>,
    /// Departed participants by signature key (their leaf is looked up at commit time: the
    /// roster entry is gone by then, and another commit may already have removed the leaf).
    removes: BTreeMap<ParticipantId, Vec<u8>>,
}

/// The client engine.
pub struct Engine {
    member: GroupMember,
    org: Option<OrgPublicKey>,
    phase: Phase,
    participant: Option<ParticipantId>,
    role: Option<Role>,
    meeting: Option<MeetingState>,
    roster: Vec<RosterEntry>,
    lobby: Vec<LobbyEntry>,
    /// Work the committer still has to commit, and the part of it in the commit under way.
    queued: CommitterWork,
    in_flight: Option<CommitterWork>,
    /// Signature keys this client saw expelled or denied: never added again by this client.
    barred_keys: HashSet<Vec<u8>>,
    /// Participants who dropped out of the server's roster, with their signature keys, so a
    /// removal can still be matched to its leaf and reported by participant id.
    departed: BTreeMap<ParticipantId, Vec<u8>>,
    /// `remove_members` asked this client (the committer) to commit pending removals.
    commit_requested: bool,
    /// The server's `ExternalSender` as announced in `admitted`; a Welcome into a group whose
    /// external senders differ is refused.
    announced_external_sender: Option<Vec<u8>>,
    /// Unannounced leaves at the last check, so the warning is raised once per change.
    unannounced_seen: usize,
    now_unix: u64,
}

impl Engine {
    /// An engine for `member` (its keys and credential); `org` verifies signed-in members.
    pub fn new(member: GroupMember, org: Option<OrgPublicKey>) -> Self {
        Self {
            member,
            org,
            phase: Phase::Connected,
            participant: None,
            role: None,
            meeting: None,
            roster: Vec::new(),
            lobby: Vec::new(),
            queued: CommitterWork::default(),
            in_flight: None,
            barred_keys: HashSet::new(),
            departed: BTreeMap::new(),
            commit_requested: false,
            announced_external_sender: None,
            unannounced_seen: 0,
            now_unix: 0,
        }
    }

    /// The `join` request (with a fresh KeyPackage).
    pub fn join(
        &mut self,
        meeting: MeetingNumber,
        password: Option<MeetingPassword>,
        display_name: DisplayName,
    ) -> Result<ClientMessage, EngineError> {
        Ok(ClientMessage::Join {
            meeting,
            password,
            display_name,
            key_package: MlsBlob::new(self.member.key_package()?),
        })
    }

    /// Current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// This participant's id, once the server assigned one.
    pub fn participant(&self) -> Option<ParticipantId> {
        self.participant
    }

    /// This participant's role, once admitted.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Meeting settings as last announced.
    pub fn meeting(&self) -> Option<&MeetingState> {
        self.meeting.as_ref()
    }

    /// People waiting in the lobby (hosts and co-hosts see it).
    pub fn lobby(&self) -> &[LobbyEntry] {
        &self.lobby
    }

    /// The padlock: media is end-to-end encrypted exactly when this client holds group keys.
    pub fn is_end_to_end_encrypted(&self) -> bool {
        self.phase == Phase::InMeeting && self.member.in_group()
    }

    /// The current verification code.
    pub fn verification_code(&self) -> Option<VerificationCode> {
        self.member.verification_code().ok()
    }

    /// The MLS group (for media keys and the roster).
    pub fn group(&self) -> &GroupMember {
        &self.member
    }

    /// The participant list: every leaf of the MLS group (see [`RosterView`]), then the
    /// people the server announced whose leaf this client does not hold yet.
    pub fn roster(&self) -> Vec<RosterView> {
        let leaves = self.mls_roster();
        let own_key = self.member.signature_key();
        let mut rows: Vec<RosterView> = leaves
            .iter()
            .map(|leaf| {
                let key = leaf.signature_key.as_slice();
                let listed = self
                    .roster
                    .iter()
                    .find(|e| e.signature_key.as_bytes() == key);
                let departed = self
                    .departed
                    .iter()
                    .find(|(_, k)| k.as_slice() == key)
                    .map(|(p, _)| *p);
                let fallback_role = if leaf.trust.is_verified() {
                    Role::Participant
                } else {
                    Role::Guest
                };
                let (participant, role, presence) = if key == own_key {
                    (
                        self.participant,
                        self.role.unwrap_or(fallback_role),
                        Presence::Present,
                    )
                } else if let Some(entry) = listed {
                    (Some(entry.participant), entry.role, Presence::Present)
                } else if let Some(participant) = departed {
                    (Some(participant), fallback_role, Presence::Leaving)
                } else {
                    (None, fallback_role, Presence::Unannounced)
                };
                let display_name = leaf
                    .trust
                    .display_name()
                    .map(str::to_string)
                    .or_else(|| listed.map(|e| e.display_name.as_str().to_string()))
                    .unwrap_or_else(|| format!("#{}", leaf.leaf_index));
                RosterView {
                    participant,
                    display_name,
                    role,
                    trust: Some(leaf.trust.clone()),
                    leaf: Some(leaf.leaf_index),
                    presence,
                }
            })
            .collect();
        for entry in &self.roster {
            let in_group = leaves
                .iter()
                .any(|l| l.signature_key == entry.signature_key.as_bytes());
            let is_me = Some(entry.participant) == self.participant && !leaves.is_empty();
            if !in_group && !is_me {
                rows.push(RosterView {
                    participant: Some(entry.participant),
                    display_name: entry.display_name.as_str().to_string(),
                    role: entry.role,
                    trust: None,
                    leaf: None,
                    presence: Presence::Joining,
                });
            }
        }
        rows
    }

    /// How many leaves of the MLS group the server did not announce.
    pub fn unannounced(&self) -> usize {
        self.roster().iter().filter(|r| r.is_unannounced()).count()
    }

    /// Raises a warning when leaves the server did not announce appear (or more of them).
    fn check_unannounced(&mut self, out: &mut Output) {
        let count = self.unannounced();
        if count > self.unannounced_seen {
            out.events.push(Event::SecurityWarning(format!(
                "the meeting's keys are held by {count} participant(s) the server did not announce"
            )));
        }
        self.unannounced_seen = count;
    }

    /// The MLS group's members straight from the tree (empty outside a group).
    pub fn mls_roster(&self) -> Vec<conclave_e2ee::group::RosterEntry> {
        self.member
            .roster(self.org.as_ref(), self.now_unix)
            .unwrap_or_default()
    }

    fn leaf_of(&self, participant: ParticipantId) -> Option<u32> {
        let key = self.key_of(participant)?;
        self.leaf_with_key(&key)
    }

    fn leaf_with_key(&self, key: &[u8]) -> Option<u32> {
        self.member
            .roster(None, self.now_unix)
            .ok()?
            .into_iter()
            .find(|l| l.signature_key == key)
            .map(|l| l.leaf_index)
    }

    /// The signature key of a participant in the roster, or of one who recently left it.
    fn key_of(&self, participant: ParticipantId) -> Option<Vec<u8>> {
        self.roster
            .iter()
            .find(|e| e.participant == participant)
            .map(|e| e.signature_key.as_bytes().to_vec())
            .or_else(|| self.departed.get(&participant).cloned())
    }

    /// Takes a new server roster: remembers who left it and tells the MLS layer whose leaves
    /// the delivery service may not propose to remove.
    fn set_roster(&mut self, participants: Vec<RosterEntry>) {
        for old in &self.roster {
            if !participants
                .iter()
                .any(|p| p.participant == old.participant)
            {
                self.departed
                    .insert(old.participant, old.signature_key.as_bytes().to_vec());
            }
        }
        for new in &participants {
            self.departed.remove(&new.participant);
        }
        self.roster = participants;
        self.member.set_present_keys(
            self.roster
                .iter()
                .map(|e| e.signature_key.as_bytes().to_vec()),
        );
    }

    /// Forgets departed participants whose leaves are gone from the group.
    fn prune_departed(&mut self) {
        let Ok(leaves) = self.member.roster(None, self.now_unix) else {
            return;
        };
        self.departed
            .retain(|_, key| leaves.iter().any(|l| &l.signature_key == key));
    }

    fn set_phase(&mut self, phase: Phase, out: &mut Output) {
        if self.phase != phase {
            self.phase = phase.clone();
            out.events.push(Event::Phase(phase));
        }
    }

    fn keys_changed(&mut self, out: &mut Output) {
        if let Ok(code) = self.member.verification_code() {
            out.events.push(Event::KeysChanged(code));
        }
    }

    /// Marks the leaves of the server's host and co-hosts as allowed to add members.
    fn refresh_committers(&mut self) {
        let moderators: Vec<ParticipantId> = self
            .roster
            .iter()
            .filter(|e| matches!(e.role, Role::Host | Role::CoHost))
            .map(|e| e.participant)
            .collect();
        // Only hosts and co-hosts add (an acting committer before the host arrives is made a
        // co-host by the server). A leaf is never trusted for its position: a newcomer can
        // take over leaf 0 once its creator has left.
        let mut leaves: BTreeSet<u32> =
            moderators.iter().filter_map(|p| self.leaf_of(*p)).collect();
        if let Ok(own) = self.member.own_leaf_index()
            && matches!(self.role, Some(Role::Host | Role::CoHost))
        {
            leaves.insert(own);
        }
        self.member.set_committers(leaves);
    }

    /// A host action or other request from the user, checked for shape only; the server and
    /// the committer enforce who may do what.
    pub fn request(&mut self, message: ClientMessage) -> Output {
        if let ClientMessage::Deny { participant, .. } | ClientMessage::Expel { participant } =
            &message
            && let Some(key) = self.key_of(*participant)
        {
            self.barred_keys.insert(key);
        }
        // Admissions carry this member's signature over the lobby entry's key, so the
        // committer can tell a host's decision from the server's.
        match message {
            ClientMessage::Admit { participant, .. } => {
                return Output {
                    send: vec![self.signed_admit(participant)],
                    events: Vec::new(),
                };
            }
            ClientMessage::AdmitAll => {
                let send = self
                    .lobby
                    .iter()
                    .map(|e| self.signed_admit(e.participant))
                    .collect();
                return Output {
                    send,
                    events: Vec::new(),
                };
            }
            _ => {}
        }
        if matches!(message, ClientMessage::Leave) {
            let mut out = Output::default();
            self.set_phase(Phase::Left(LeftReason::Left), &mut out);
            out.send.push(message);
            return out;
        }
        Output {
            send: vec![message],
            events: Vec::new(),
        }
    }

    /// An `admit` for a lobby entry, signed when this client is in the group and knows the
    /// entry's key (otherwise the committer will not add them to a guarded meeting).
    fn signed_admit(&self, participant: ParticipantId) -> ClientMessage {
        let admission = self
            .lobby
            .iter()
            .find(|e| e.participant == participant)
            .and_then(|e| self.member.sign_admission(e.signature_key.as_bytes()).ok())
            .map(MlsBlob::new);
        ClientMessage::Admit {
            participant,
            admission,
        }
    }

    /// Whether the meeting, as last announced, lets only admitted people in.
    fn guarded(&self) -> bool {
        self.meeting
            .as_ref()
            .is_some_and(|m| m.locked || m.lobby_enabled)
    }

    /// The rules every member applies to the people a commit adds.
    fn join_rules(&self) -> JoinRules {
        JoinRules {
            certified_only: self.meeting.as_ref().is_some_and(|m| m.require_sign_in),
            org: self.org,
            now: self.now_unix,
        }
    }

    /// Why this committer will not add an admitted participant, if it will not: a guest to a
    /// meeting that requires sign-in, or anyone a host did not admit by signature while the
    /// meeting is locked or has its lobby on (the meeting's host account and the schedule's
    /// co-hosts excepted, who must then be certified).
    fn refuse_add(&self, request: &AddRequest, key: &ValidatedKeyPackage) -> Option<String> {
        let rules = self.join_rules();
        if !rules.admits(&key.trust) {
            return Some("the meeting requires sign-in and they are not signed in".into());
        }
        if !self.guarded() {
            return None;
        }
        // The meeting's host account and the schedule's co-hosts get in past lock and lobby;
        // a server claiming that role for someone can only bring in a certified member of the
        // organization, shown under their certified name.
        if matches!(request.role, Role::Host | Role::CoHost) && key.trust.is_verified() {
            return None;
        }
        let Some(admission) = &request.admission else {
            return Some("no host admitted them".into());
        };
        match self.member.check_admission(
            admission.admitter_key.as_bytes(),
            &key.signature_key,
            admission.signature.as_bytes(),
        ) {
            Ok(leaf) if self.member.is_committer(leaf) => None,
            Ok(_) => Some("they were admitted by someone who is not a host".into()),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Handles one server message. `now_unix` (seconds) checks certificate validity.
    pub fn handle(&mut self, message: ServerMessage, now_unix: u64) -> Output {
        self.now_unix = now_unix;
        let mut out = Output::default();
        match message {
            ServerMessage::Hello { .. } | ServerMessage::Pong { .. } => {}
            ServerMessage::InLobby { participant } => {
                self.participant = Some(participant);
                self.set_phase(Phase::InLobby, &mut out);
            }
            ServerMessage::Admitted {
                participant,
                role,
                meeting,
                create_group,
                external_sender,
                group_id,
            } => {
                self.participant = Some(participant);
                self.role = Some(role);
                self.meeting = Some(meeting);
                self.announced_external_sender = Some(external_sender.as_bytes().to_vec());
                if create_group && !self.member.in_group() {
                    // The server names the group (it builds its Remove proposals for this id)
                    // and is the group's only external sender. Without a usable one the group
                    // still works; removals are then committed by value.
                    let senders = match external_sender_from_bytes(external_sender.as_bytes()) {
                        Ok(sender) => vec![sender],
                        Err(e) => {
                            out.events.push(Event::SecurityWarning(format!(
                                "the server's external sender is unusable: {e}"
                            )));
                            Vec::new()
                        }
                    };
                    let group_id = match group_id {
                        Some(id) => id.as_bytes().to_vec(),
                        None => {
                            let mut id = vec![0u8; 16];
                            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
                            id
                        }
                    };
                    match self.member.create_group(&group_id, senders) {
                        Ok(()) => {
                            self.set_phase(Phase::InMeeting, &mut out);
                            self.keys_changed(&mut out);
                        }
                        Err(e) => out.events.push(Event::SecurityWarning(e.to_string())),
                    }
                } else {
                    self.set_phase(Phase::Admitted, &mut out);
                }
            }
            ServerMessage::Denied { reason } => {
                self.set_phase(Phase::Left(LeftReason::Denied(reason)), &mut out);
            }
            ServerMessage::Knock { entry } => {
                // The server announces a newcomer with a knock only (the full list comes with
                // later changes), so the knocker joins the lobby list here.
                self.lobby.retain(|e| e.participant != entry.participant);
                self.lobby.push(entry.clone());
                out.events.push(Event::Knock(entry));
            }
            ServerMessage::Lobby { entries } => {
                self.lobby = entries.clone();
                out.events.push(Event::Lobby(entries));
            }
            ServerMessage::AddMembers { requests, .. } => {
                self.queue_adds(requests);
                self.commit_queued(&mut out);
            }
            ServerMessage::RemoveMembers { participants, .. } => {
                for p in participants {
                    if let Some(key) = self.key_of(p) {
                        self.barred_keys.insert(key.clone());
                        self.queued.removes.insert(p, key);
                    }
                }
                self.commit_requested = true;
                self.commit_queued(&mut out);
            }
            ServerMessage::MlsWelcome { welcome } => match self.member.join(welcome.as_bytes()) {
                Ok(()) => {
                    let announced = self.announced_external_sender.clone().unwrap_or_default();
                    if self.member.external_senders_match(&announced) != Ok(true) {
                        // Another external sender could propose removals the server did not
                        // announce; a group without ours cannot be what the server said.
                        self.member.forget_group();
                        out.events.push(Event::SecurityWarning(
                            GroupError::ExternalSendersMismatch.to_string(),
                        ));
                        out.send.push(ClientMessage::Leave);
                        self.set_phase(Phase::Left(LeftReason::RemovedFromGroup), &mut out);
                        return out;
                    }
                    self.set_phase(Phase::InMeeting, &mut out);
                    self.refresh_committers();
                    self.keys_changed(&mut out);
                    self.check_unannounced(&mut out);
                }
                Err(e) => out.events.push(Event::SecurityWarning(format!(
                    "could not process the Welcome: {e}"
                ))),
            },
            ServerMessage::MlsCommit { commit, .. } => {
                self.refresh_committers();
                self.member.set_join_rules(self.join_rules());
                match self.member.process(commit.as_bytes()) {
                    Ok(Incoming::Commit(change)) => self.after_commit(&change, &mut out),
                    Ok(Incoming::Proposal { .. }) => {}
                    Err(e) => out
                        .events
                        .push(Event::SecurityWarning(format!("refused a commit: {e}"))),
                }
                // A commit of ours that lost the race is retried on top of the winner.
                if self.in_flight.is_none() {
                    self.commit_queued(&mut out);
                }
            }
            ServerMessage::MlsProposal { proposal, .. } => {
                match self.member.process(proposal.as_bytes()) {
                    Ok(Incoming::Proposal { removes }) => {
                        tracing::debug!(?removes, "stored a proposal for the next commit");
                    }
                    Ok(Incoming::Commit(_)) => {}
                    Err(e) => {
                        out.events
                            .push(Event::SecurityWarning(format!("refused a proposal: {e}")));
                    }
                }
            }
            ServerMessage::CommitAccepted { .. } => {
                self.in_flight = None;
                match self.member.confirm_commit() {
                    Ok(change) => self.after_commit(&change, &mut out),
                    Err(e) => out.events.push(Event::SecurityWarning(e.to_string())),
                }
                self.commit_queued(&mut out);
            }
            ServerMessage::CommitRejected { .. } => {
                let _ = self.member.discard_commit();
                if let Some(work) = self.in_flight.take() {
                    self.queued.adds.extend(work.adds);
                    self.queued.removes.extend(work.removes);
                }
            }
            ServerMessage::MeetingUpdate { meeting } => {
                self.meeting = Some(meeting.clone());
                out.events.push(Event::Meeting(meeting));
            }
            ServerMessage::Roster { participants } => {
                self.set_roster(participants);
                self.refresh_committers();
                out.events.push(Event::Roster);
                self.check_unannounced(&mut out);
            }
            ServerMessage::RoleChanged { participant, role } => {
                if Some(participant) == self.participant {
                    self.role = Some(role);
                }
                if let Some(entry) = self
                    .roster
                    .iter_mut()
                    .find(|e| e.participant == participant)
                {
                    entry.role = role;
                }
                self.refresh_committers();
                out.events.push(Event::Roster);
            }
            ServerMessage::Expelled { reason } => {
                self.set_phase(Phase::Left(LeftReason::Expelled(reason)), &mut out);
            }
            ServerMessage::MeetingEnded { reason } => {
                self.set_phase(Phase::Left(LeftReason::Ended(reason)), &mut out);
            }
            ServerMessage::Error {
                code,
                message,
                retry_after_secs,
            } => out.events.push(Event::Error {
                code,
                message,
                retry_after_secs,
            }),
            ServerMessage::SdpAnswer { sdp } => out.events.push(Event::MediaAnswer(sdp)),
            // The SFU never offers and candidates travel inside the descriptions.
            ServerMessage::SdpOffer { .. } | ServerMessage::IceCandidate { .. } => {}
        }
        out
    }

    fn queue_adds(&mut self, requests: Vec<AddRequest>) {
        for request in requests {
            self.queued.adds.insert(request.participant, request);
        }
    }

    fn after_commit(&mut self, change: &EpochChange, out: &mut Output) {
        self.prune_departed();
        // New leaves may belong to hosts or co-hosts the roster already named (the roster
        // comes before the commit).
        self.refresh_committers();
        if change.self_removed {
            self.set_phase(Phase::Left(LeftReason::RemovedFromGroup), out);
        } else {
            self.keys_changed(out);
            self.check_unannounced(out);
        }
    }

    /// As committer: commits everything queued in one batch, together with the proposals
    /// waiting in the group's proposal store (the server's Removes), unless a commit is
    /// under way.
    fn commit_queued(&mut self, out: &mut Output) {
        if self.in_flight.is_some() || !self.member.in_group() {
            return;
        }
        let mut work = std::mem::take(&mut self.queued);
        // Departed members whose leaf is already gone need nothing more.
        work.removes
            .retain(|_, key| self.leaf_with_key(key).is_some());
        let pending = self.member.pending_removals();
        let commit_pending = self.commit_requested && !pending.is_empty();
        self.commit_requested = false;
        if work.adds.is_empty() && work.removes.is_empty() && !commit_pending {
            return;
        }
        let mut key_packages = Vec::new();
        let mut added = Vec::new();
        let mut refused = Vec::new();
        for (participant, request) in &work.adds {
            let validated = validate_key_package(
                request.key_package.as_bytes(),
                self.org.as_ref(),
                self.now_unix,
            );
            let refusal = validated
                .as_ref()
                .ok()
                .filter(|kp| !self.barred_keys.contains(&kp.signature_key))
                .and_then(|kp| self.refuse_add(request, kp));
            if let Some(why) = refusal {
                // Not expelled: the server may simply be out of step (a lobby turned on
                // between the admit and this commit). Back to the lobby, where a host can
                // admit them with a signature.
                out.events.push(Event::SecurityWarning(format!(
                    "not adding participant {}: {why}",
                    participant.0
                )));
                refused.push(*participant);
                continue;
            }
            match validated {
                Ok(kp) if self.barred_keys.contains(&kp.signature_key) => {
                    out.events.push(Event::SecurityWarning(format!(
                        "not adding participant {}: expelled or denied earlier",
                        participant.0
                    )));
                    // Keep them out for good, so the server stops asking.
                    out.send.push(ClientMessage::Expel {
                        participant: *participant,
                    });
                }
                Ok(kp) => {
                    key_packages.push(kp);
                    added.push(*participant);
                }
                Err(e) => {
                    out.events.push(Event::SecurityWarning(format!(
                        "not adding participant {}: {e}",
                        participant.0
                    )));
                    out.send.push(ClientMessage::Expel {
                        participant: *participant,
                    });
                }
            }
        }
        if !refused.is_empty() {
            out.send.push(ClientMessage::ReturnToLobby {
                participants: refused,
            });
        }
        // A leaf the server's stored proposal already removes goes in by reference; removing
        // it by value as well would name it twice.
        let by_value: Vec<u32> = work
            .removes
            .values()
            .filter_map(|key| self.leaf_with_key(key))
            .filter(|leaf| !pending.contains(leaf))
            .collect();
        if key_packages.is_empty() && by_value.is_empty() && pending.is_empty() {
            return;
        }
        let Ok(epoch) = self.member.epoch() else {
            return;
        };
        // Keys of the current leaves, to name who each removed leaf belonged to.
        let leaf_keys: BTreeMap<u32, Vec<u8>> = self
            .member
            .roster(None, self.now_unix)
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.leaf_index, l.signature_key))
            .collect();
        match self.member.commit(key_packages, &by_value) {
            Ok(commit) => {
                let removed: Vec<ParticipantId> = commit
                    .removed_leaves
                    .iter()
                    .filter_map(|leaf| leaf_keys.get(leaf))
                    .filter_map(|key| self.participant_with_key(key, &work.removes))
                    .collect();
                out.send.push(ClientMessage::Commit {
                    epoch,
                    commit: MlsBlob::new(commit.commit),
                    welcome: commit.welcome.map(MlsBlob::new),
                    added: added.clone(),
                    removed,
                });
                self.in_flight = Some(CommitterWork {
                    adds: work
                        .adds
                        .into_iter()
                        .filter(|(p, _)| added.contains(p))
                        .collect(),
                    removes: work.removes,
                });
            }
            Err(e) => {
                out.events
                    .push(Event::SecurityWarning(format!("could not commit: {e}")));
            }
        }
    }

    /// Who a removed leaf's signature key belonged to: a participant this commit removes on
    /// request, or one who left the roster.
    fn participant_with_key(
        &self,
        key: &[u8],
        requested: &BTreeMap<ParticipantId, Vec<u8>>,
    ) -> Option<ParticipantId> {
        requested
            .iter()
            .chain(self.departed.iter())
            .find(|(_, k)| k.as_slice() == key)
            .map(|(p, _)| *p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use conclave_protocol::MeetingNumber;

    fn state() -> MeetingState {
        MeetingState {
            locked: false,
            auto_lock_minutes: None,
            lobby_enabled: false,
            lobby_after_expulsion: false,
            require_sign_in: false,
            join_before_host: false,
            host_present: true,
            epoch: 0,
        }
    }

    fn host_engine() -> Engine {
        host_engine_with(&conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap())
    }

    fn host_engine_with(server: &conclave_e2ee::group::ExternalSenderKey) -> Engine {
        let mut host = Engine::new(GroupMember::guest("Host").unwrap(), None);
        let out = host.handle(
            ServerMessage::Admitted {
                participant: ParticipantId(1),
                role: Role::Host,
                meeting: state(),
                create_group: true,
                external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
                group_id: Some(MlsBlob::new(b"engine-test-group".to_vec())),
            },
            0,
        );
        assert!(out.events.contains(&Event::Phase(Phase::InMeeting)));
        assert!(host.is_end_to_end_encrypted());
        host
    }

    fn join_request(engine: &mut Engine) -> MlsBlob {
        match engine
            .join(
                MeetingNumber::parse("123456789").unwrap(),
                None,
                DisplayName::new("Aiko").unwrap(),
            )
            .unwrap()
        {
            ClientMessage::Join { key_package, .. } => key_package,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn welcome_aiko(announced: Vec<u8>) -> (Engine, Engine, Output) {
        let server = conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap();
        let mut host = host_engine_with(&server);
        let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
        let key_package = join_request(&mut aiko);
        let out = host.handle(
            ServerMessage::AddMembers {
                epoch: 0,
                requests: vec![AddRequest {
                    participant: ParticipantId(2),
                    key_package,
                    role: Role::Guest,
                    admission: None,
                }],
            },
            0,
        );
        let [
            ClientMessage::Commit {
                welcome: Some(welcome),
                ..
            },
        ] = out.send.as_slice()
        else {
            panic!("expected one commit, got {:?}", out.send);
        };
        let welcome = welcome.clone();
        host.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
        let announced = if announced.is_empty() {
            server.external_sender_bytes().unwrap()
        } else {
            announced
        };
        aiko.handle(
            ServerMessage::Admitted {
                participant: ParticipantId(2),
                role: Role::Guest,
                meeting: state(),
                create_group: false,
                external_sender: MlsBlob::new(announced),
                group_id: None,
            },
            0,
        );
        let out = aiko.handle(ServerMessage::MlsWelcome { welcome }, 0);
        (host, aiko, out)
    }

    #[test]
    fn a_joiner_refuses_a_group_whose_external_sender_is_not_the_announced_one() {
        let (_, honest, _) = welcome_aiko(Vec::new());
        assert_eq!(honest.phase(), &Phase::InMeeting);
        // The group lists the server's key; the server announced another one.
        let other = conclave_e2ee::group::ExternalSenderKey::generate("other").unwrap();
        let (_, aiko, out) = welcome_aiko(other.external_sender_bytes().unwrap());
        assert_eq!(aiko.phase(), &Phase::Left(LeftReason::RemovedFromGroup));
        assert!(!aiko.is_end_to_end_encrypted());
        assert!(out.send.contains(&ClientMessage::Leave));
        assert!(
            out.events
                .iter()
                .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("external senders")))
        );
    }

    #[test]
    fn committer_batches_adds_and_the_joiner_gets_the_same_code() {
        let server = conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap();
        let mut host = host_engine_with(&server);
        let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
        let key_package = join_request(&mut aiko);
        let out = host.handle(
            ServerMessage::AddMembers {
                epoch: 0,
                requests: vec![AddRequest {
                    participant: ParticipantId(2),
                    key_package,
                    role: Role::Guest,
                    admission: None,
                }],
            },
            0,
        );
        let [
            ClientMessage::Commit {
                epoch: 0,
                welcome: Some(welcome),
                added,
                ..
            },
        ] = out.send.as_slice()
        else {
            panic!("expected one commit, got {:?}", out.send);
        };
        assert_eq!(added, &vec![ParticipantId(2)]);
        // Nothing changes until the server accepts.
        assert_eq!(host.group().epoch().unwrap(), 0);
        let out = host.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
        assert!(
            out.events
                .iter()
                .any(|e| matches!(e, Event::KeysChanged(code) if code.epoch() == 1))
        );

        aiko.handle(
            ServerMessage::Admitted {
                participant: ParticipantId(2),
                role: Role::Guest,
                meeting: state(),
                create_group: false,
                external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
                group_id: None,
            },
            0,
        );
        assert_eq!(aiko.phase(), &Phase::Admitted);
        aiko.handle(
            ServerMessage::MlsWelcome {
                welcome: welcome.clone(),
            },
            0,
        );
        assert_eq!(aiko.phase(), &Phase::InMeeting);
        assert_eq!(aiko.verification_code(), host.verification_code());
    }

    #[test]
    fn invalid_or_barred_key_packages_are_not_added_but_expelled() {
        let mut host = host_engine();
        let out = host.handle(
            ServerMessage::AddMembers {
                epoch: 0,
                requests: vec![AddRequest {
                    participant: ParticipantId(5),
                    key_package: MlsBlob::new(vec![1, 2, 3]),
                    role: Role::Guest,
                    admission: None,
                }],
            },
            0,
        );
        assert_eq!(
            out.send,
            vec![ClientMessage::Expel {
                participant: ParticipantId(5)
            }]
        );
        assert!(matches!(out.events.as_slice(), [Event::SecurityWarning(_)]));
        assert_eq!(host.group().epoch().unwrap(), 0);
    }

    #[test]
    fn rejected_commit_is_retried_after_the_winner() {
        let mut host = host_engine();
        let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
        let key_package = join_request(&mut aiko);
        let request = AddRequest {
            participant: ParticipantId(2),
            key_package,
            role: Role::Guest,
            admission: None,
        };
        let out = host.handle(
            ServerMessage::AddMembers {
                epoch: 0,
                requests: vec![request],
            },
            0,
        );
        assert_eq!(out.send.len(), 1);
        let out = host.handle(
            ServerMessage::CommitRejected {
                epoch: 0,
                current_epoch: 0,
                reason: Reason::truncated("try again"),
            },
            0,
        );
        assert!(out.send.is_empty());
        // The queued work goes out again with the next trigger (here: a removal request).
        let out = host.handle(
            ServerMessage::RemoveMembers {
                epoch: 0,
                participants: Vec::new(),
            },
            0,
        );
        assert!(matches!(
            out.send.as_slice(),
            [ClientMessage::Commit { added, .. }] if added == &vec![ParticipantId(2)]
        ));
    }

    #[test]
    fn a_knock_puts_the_knocker_on_the_lobby_list() {
        let mut host = host_engine();
        let entry = LobbyEntry {
            participant: ParticipantId(4),
            display_name: DisplayName::new("Kenji").unwrap(),
            signed_in: false,
            signature_key: MlsBlob::new(vec![7; 32]),
        };
        let out = host.handle(
            ServerMessage::Knock {
                entry: entry.clone(),
            },
            0,
        );
        assert_eq!(out.events, vec![Event::Knock(entry.clone())]);
        assert_eq!(host.lobby(), std::slice::from_ref(&entry));
        // A repeated knock does not list them twice; the server's list replaces ours.
        host.handle(ServerMessage::Knock { entry }, 0);
        assert_eq!(host.lobby().len(), 1);
        host.handle(ServerMessage::Lobby { entries: vec![] }, 0);
        assert!(host.lobby().is_empty());
    }

    #[test]
    fn leaving_and_being_expelled_are_reported() {
        let mut host = host_engine();
        let out = host.request(ClientMessage::Leave);
        assert_eq!(out.send, vec![ClientMessage::Leave]);
        assert_eq!(host.phase(), &Phase::Left(LeftReason::Left));

        let mut guest = Engine::new(GroupMember::guest("G").unwrap(), None);
        let out = guest.handle(ServerMessage::Expelled { reason: None }, 0);
        assert_eq!(
            out.events,
            vec![Event::Phase(Phase::Left(LeftReason::Expelled(None)))]
        );
        assert!(!guest.is_end_to_end_encrypted());
    }
}

#[cfg(test)]
mod departure_tests;

#[cfg(test)]
mod admission_tests;
