//! The participant list as every client shows it: one row per MLS leaf, names and trust from
//! the leaf's credential; the server's roster adds only ids, roles and "joining" rows
//! (`docs/security.md`).

use super::*;

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

impl Engine {
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
    pub(super) fn check_unannounced(&mut self, out: &mut Output) {
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

    pub(super) fn leaf_of(&self, participant: ParticipantId) -> Option<u32> {
        let key = self.key_of(participant)?;
        self.leaf_with_key(&key)
    }

    pub(super) fn leaf_with_key(&self, key: &[u8]) -> Option<u32> {
        self.member
            .roster(None, self.now_unix)
            .ok()?
            .into_iter()
            .find(|l| l.signature_key == key)
            .map(|l| l.leaf_index)
    }

    /// The signature key of a participant in the roster, or of one who recently left it.
    pub(super) fn key_of(&self, participant: ParticipantId) -> Option<Vec<u8>> {
        self.roster
            .iter()
            .find(|e| e.participant == participant)
            .map(|e| e.signature_key.as_bytes().to_vec())
            .or_else(|| self.departed.get(&participant).cloned())
    }

    /// Takes a new server roster: remembers who left it and tells the MLS layer whose leaves
    /// the delivery service may not propose to remove.
    pub(super) fn set_roster(&mut self, participants: Vec<RosterEntry>) {
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
    pub(super) fn prune_departed(&mut self) {
        let Ok(leaves) = self.member.roster(None, self.now_unix) else {
            return;
        };
        self.departed
            .retain(|_, key| leaves.iter().any(|l| &l.signature_key == key));
    }

    /// Who a removed leaf's signature key belonged to: a participant this commit removes on
    /// request, or one who left the roster.
    pub(super) fn participant_with_key(
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
