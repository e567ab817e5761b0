//! The size and cross-field checks `validate()` runs on every message, decoded or about to
//! be encoded (`docs/protocol.md`, "Limits").

use std::collections::HashSet;

use super::messages::*;
use super::{
    MAX_AUTO_LOCK_MINUTES, MAX_COMMIT_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_FINGERPRINT_BYTES,
    MAX_ICE_CANDIDATE_BYTES, MAX_KEY_PACKAGE_BYTES, MAX_LIST_ENTRIES, MAX_PROPOSAL_BYTES,
    MAX_SDP_BYTES, MAX_SDP_MID_BYTES, MAX_SERVER_VERSION_BYTES, MAX_WELCOME_BYTES, MlsBlob,
    ParticipantId, ProtocolError, invalid,
};

fn check_max(field: &'static str, len: usize, max: usize) -> Result<(), ProtocolError> {
    if len > max {
        Err(ProtocolError::FieldTooLong { field, len, max })
    } else {
        Ok(())
    }
}

fn check_blob(field: &'static str, blob: &MlsBlob, max: usize) -> Result<(), ProtocolError> {
    if blob.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    check_max(field, blob.len(), max)
}

fn check_sdp(sdp: &str) -> Result<(), ProtocolError> {
    if sdp.is_empty() {
        return Err(invalid("sdp", "must not be empty"));
    }
    check_max("sdp", sdp.len(), MAX_SDP_BYTES)
}

fn check_ice(candidate: &str, sdp_mid: Option<&str>) -> Result<(), ProtocolError> {
    check_max("candidate", candidate.len(), MAX_ICE_CANDIDATE_BYTES)?;
    check_max("sdp_mid", sdp_mid.map_or(0, str::len), MAX_SDP_MID_BYTES)
}

fn check_auto_lock(field: &'static str, minutes: Option<u32>) -> Result<(), ProtocolError> {
    match minutes {
        Some(m) if !(1..=MAX_AUTO_LOCK_MINUTES).contains(&m) => Err(invalid(
            field,
            format!("must be 1 to {MAX_AUTO_LOCK_MINUTES} minutes, or null for off"),
        )),
        _ => Ok(()),
    }
}

fn check_lobby_entry(entry: &LobbyEntry) -> Result<(), ProtocolError> {
    check_blob(
        "entries[].signature_key",
        &entry.signature_key,
        MAX_SIGNATURE_KEY_BYTES,
    )
}

fn check_unique<'a>(
    field: &'static str,
    ids: impl IntoIterator<Item = &'a ParticipantId>,
    seen: &mut HashSet<ParticipantId>,
) -> Result<(), ProtocolError> {
    for id in ids {
        if !seen.insert(*id) {
            return Err(invalid(field, format!("participant {id} is listed twice")));
        }
    }
    Ok(())
}

impl ClientMessage {
    /// Checks every size limit and cross-field rule (the newtypes' own rules already hold by
    /// construction). Run by [`decode_client`](super::decode_client) and
    /// [`encode_client`](super::encode_client).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            ClientMessage::Join { key_package, .. }
            | ClientMessage::KeyPackageRefresh { key_package } => {
                check_blob("key_package", key_package, MAX_KEY_PACKAGE_BYTES)
            }
            ClientMessage::SetAutoLock { minutes } => check_auto_lock("minutes", *minutes),
            ClientMessage::Commit {
                epoch: _,
                commit,
                welcome,
                added,
                removed,
            } => {
                check_blob("commit", commit, MAX_COMMIT_BYTES)?;
                if let Some(welcome) = welcome {
                    check_blob("welcome", welcome, MAX_WELCOME_BYTES)?;
                }
                check_max("added", added.len(), MAX_LIST_ENTRIES)?;
                check_max("removed", removed.len(), MAX_LIST_ENTRIES)?;
                if added.is_empty() != welcome.is_none() {
                    return Err(invalid(
                        "welcome",
                        "must be present exactly when `added` is non-empty",
                    ));
                }
                let mut seen = HashSet::with_capacity(added.len() + removed.len());
                check_unique("added", added, &mut seen)?;
                check_unique("removed", removed, &mut seen)
            }
            ClientMessage::Proposal { proposal, .. } => {
                check_blob("proposal", proposal, MAX_PROPOSAL_BYTES)
            }
            ClientMessage::ReturnToLobby { participants } => {
                check_max("participants", participants.len(), MAX_LIST_ENTRIES)
            }
            ClientMessage::SdpOffer { sdp } | ClientMessage::SdpAnswer { sdp } => check_sdp(sdp),
            ClientMessage::IceCandidate {
                candidate, sdp_mid, ..
            } => check_ice(candidate, sdp_mid.as_deref()),
            ClientMessage::Admit {
                admission: Some(signature),
                ..
            } => check_blob("admission", signature, MAX_ADMISSION_SIGNATURE_BYTES),
            ClientMessage::Leave
            | ClientMessage::Admit { .. }
            | ClientMessage::Deny { .. }
            | ClientMessage::AdmitAll
            | ClientMessage::Lock
            | ClientMessage::Unlock
            | ClientMessage::SetRequireSignIn { .. }
            | ClientMessage::SetLobby { .. }
            | ClientMessage::Expel { .. }
            | ClientMessage::ExpelUnverified
            | ClientMessage::AssignCoHost { .. }
            | ClientMessage::EndMeeting
            | ClientMessage::Ping { .. } => Ok(()),
        }
    }

    /// The wire `type` tag, e.g. `"join"`; handy for logging a message without its contents.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Leave => "leave",
            ClientMessage::Admit { .. } => "admit",
            ClientMessage::Deny { .. } => "deny",
            ClientMessage::AdmitAll => "admit_all",
            ClientMessage::Lock => "lock",
            ClientMessage::Unlock => "unlock",
            ClientMessage::SetAutoLock { .. } => "set_auto_lock",
            ClientMessage::SetRequireSignIn { .. } => "set_require_sign_in",
            ClientMessage::SetLobby { .. } => "set_lobby",
            ClientMessage::Expel { .. } => "expel",
            ClientMessage::ExpelUnverified => "expel_unverified",
            ClientMessage::AssignCoHost { .. } => "assign_co_host",
            ClientMessage::EndMeeting => "end_meeting",
            ClientMessage::Commit { .. } => "commit",
            ClientMessage::Proposal { .. } => "proposal",
            ClientMessage::ReturnToLobby { .. } => "return_to_lobby",
            ClientMessage::KeyPackageRefresh { .. } => "key_package_refresh",
            ClientMessage::SdpOffer { .. } => "sdp_offer",
            ClientMessage::SdpAnswer { .. } => "sdp_answer",
            ClientMessage::IceCandidate { .. } => "ice_candidate",
            ClientMessage::Ping { .. } => "ping",
        }
    }
}

impl ServerMessage {
    /// Checks every size limit and cross-field rule (the newtypes' own rules already hold by
    /// construction). Run by [`decode_server`](super::decode_server) and
    /// [`encode_server`](super::encode_server).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            ServerMessage::Hello {
                server_version,
                org_key_fingerprint,
            } => {
                check_max(
                    "server_version",
                    server_version.len(),
                    MAX_SERVER_VERSION_BYTES,
                )?;
                check_max(
                    "org_key_fingerprint",
                    org_key_fingerprint.as_deref().map_or(0, str::len),
                    MAX_FINGERPRINT_BYTES,
                )
            }
            ServerMessage::Admitted {
                meeting,
                create_group,
                external_sender,
                group_id,
                ..
            } => {
                check_auto_lock("auto_lock_minutes", meeting.auto_lock_minutes)?;
                check_blob(
                    "external_sender",
                    external_sender,
                    MAX_EXTERNAL_SENDER_BYTES,
                )?;
                if let Some(id) = group_id {
                    check_blob("group_id", id, MAX_GROUP_ID_BYTES)?;
                }
                if *create_group != group_id.is_some() {
                    return Err(invalid(
                        "group_id",
                        "must be present exactly when create_group is true",
                    ));
                }
                Ok(())
            }
            ServerMessage::MeetingUpdate { meeting } => {
                check_auto_lock("auto_lock_minutes", meeting.auto_lock_minutes)
            }
            ServerMessage::Lobby { entries } => {
                check_max("entries", entries.len(), MAX_LIST_ENTRIES)?;
                entries.iter().try_for_each(check_lobby_entry)
            }
            ServerMessage::Knock { entry } => check_lobby_entry(entry),
            ServerMessage::AddMembers { requests, .. } => {
                check_max("requests", requests.len(), MAX_LIST_ENTRIES)?;
                for request in requests {
                    check_blob(
                        "requests[].key_package",
                        &request.key_package,
                        MAX_KEY_PACKAGE_BYTES,
                    )?;
                    if let Some(admission) = &request.admission {
                        check_blob(
                            "requests[].admission.admitter_key",
                            &admission.admitter_key,
                            MAX_SIGNATURE_KEY_BYTES,
                        )?;
                        check_blob(
                            "requests[].admission.signature",
                            &admission.signature,
                            MAX_ADMISSION_SIGNATURE_BYTES,
                        )?;
                    }
                }
                let mut seen = HashSet::with_capacity(requests.len());
                check_unique(
                    "requests",
                    requests.iter().map(|r| &r.participant),
                    &mut seen,
                )
            }
            ServerMessage::RemoveMembers { participants, .. } => {
                check_max("participants", participants.len(), MAX_LIST_ENTRIES)
            }
            ServerMessage::MlsWelcome { welcome } => {
                check_blob("welcome", welcome, MAX_WELCOME_BYTES)
            }
            ServerMessage::MlsCommit { commit, .. } => {
                check_blob("commit", commit, MAX_COMMIT_BYTES)
            }
            ServerMessage::MlsProposal { proposal, .. } => {
                check_blob("proposal", proposal, MAX_PROPOSAL_BYTES)
            }
            ServerMessage::Roster { participants } => {
                check_max("participants", participants.len(), MAX_LIST_ENTRIES)?;
                participants.iter().try_for_each(|p| {
                    check_blob(
                        "participants[].signature_key",
                        &p.signature_key,
                        MAX_SIGNATURE_KEY_BYTES,
                    )
                })
            }
            ServerMessage::SdpOffer { sdp } | ServerMessage::SdpAnswer { sdp } => check_sdp(sdp),
            ServerMessage::IceCandidate {
                candidate, sdp_mid, ..
            } => check_ice(candidate, sdp_mid.as_deref()),
            ServerMessage::Error { message, .. } => {
                check_max("message", message.len(), MAX_ERROR_MESSAGE_BYTES)
            }
            ServerMessage::InLobby { .. }
            | ServerMessage::Denied { .. }
            | ServerMessage::CommitAccepted { .. }
            | ServerMessage::CommitRejected { .. }
            | ServerMessage::RoleChanged { .. }
            | ServerMessage::Expelled { .. }
            | ServerMessage::MeetingEnded { .. }
            | ServerMessage::Pong { .. } => Ok(()),
        }
    }

    /// The wire `type` tag, e.g. `"admitted"`; handy for logging a message without its
    /// contents.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Hello { .. } => "hello",
            ServerMessage::InLobby { .. } => "in_lobby",
            ServerMessage::Admitted { .. } => "admitted",
            ServerMessage::Denied { .. } => "denied",
            ServerMessage::Knock { .. } => "knock",
            ServerMessage::Lobby { .. } => "lobby",
            ServerMessage::AddMembers { .. } => "add_members",
            ServerMessage::RemoveMembers { .. } => "remove_members",
            ServerMessage::MlsWelcome { .. } => "mls_welcome",
            ServerMessage::MlsCommit { .. } => "mls_commit",
            ServerMessage::MlsProposal { .. } => "mls_proposal",
            ServerMessage::CommitAccepted { .. } => "commit_accepted",
            ServerMessage::CommitRejected { .. } => "commit_rejected",
            ServerMessage::MeetingUpdate { .. } => "meeting_update",
            ServerMessage::Roster { .. } => "roster",
            ServerMessage::RoleChanged { .. } => "role_changed",
            ServerMessage::Expelled { .. } => "expelled",
            ServerMessage::MeetingEnded { .. } => "meeting_ended",
            ServerMessage::SdpOffer { .. } => "sdp_offer",
            ServerMessage::SdpAnswer { .. } => "sdp_answer",
            ServerMessage::IceCandidate { .. } => "ice_candidate",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Pong { .. } => "pong",
        }
    }
}
