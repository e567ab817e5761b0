//! The meeting's MLS group (RFC 9420) on openmls: create, KeyPackages, batched Add commits with
//! Welcome, Remove by the committer, self-leave and delivery-service Remove proposals, and every
//! member processing commits. Group state lives in openmls's storage provider.
//!
//! Handshake messages travel as MLS `PublicMessage`s so the delivery service can order commits
//! and check that only a committer adds members; media keys are exported from the key schedule
//! and never leave the client.

use std::collections::{BTreeMap, BTreeSet};

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
pub use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider;

use crate::identity::{CredentialPayload, OrgPublicKey, TrustState, classify};
use crate::media_keys::{EpochKeys, SFRAME_EXPORTER_LABEL, SFRAME_SUITE};
use crate::verification::VerificationCode;

/// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001), as DESIGN.md fixes.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
/// Largest meeting the key layout and the protocol plan for.
pub const MAX_MEMBERS: usize = 1000;

/// What went wrong in a group operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("not in a meeting group")]
    NotInGroup,
    #[error("already in a meeting group")]
    AlreadyInGroup,
    #[error("the message could not be decoded as MLS: {0}")]
    Decode(String),
    #[error("expected {expected}, got another kind of MLS message")]
    UnexpectedMessage { expected: &'static str },
    #[error("the KeyPackage is invalid: {0}")]
    InvalidKeyPackage(String),
    #[error("the message is for epoch {message_epoch} but the group is at {group_epoch}")]
    WrongEpoch {
        message_epoch: u64,
        group_epoch: u64,
    },
    #[error("leaf {sender} may not add members; only the meeting's committers can")]
    UnauthorizedAdd { sender: String },
    #[error("a commit is already waiting for the server's confirmation")]
    CommitPending,
    #[error("no commit is waiting for confirmation")]
    NoPendingCommit,
    #[error("the meeting would exceed {MAX_MEMBERS} members")]
    TooManyMembers,
    #[error(
        "the delivery service proposed removing leaf {leaf}, which belongs to someone still in the meeting"
    )]
    RemovesPresentMember { leaf: u32 },
    #[error("MLS {operation} failed: {detail}")]
    Mls {
        operation: &'static str,
        detail: String,
    },
}

fn mls<E: std::fmt::Display>(operation: &'static str) -> impl FnOnce(E) -> GroupError {
    move |e| GroupError::Mls {
        operation,
        detail: e.to_string(),
    }
}

/// A fresh Ed25519 signature key pair for MLS; on a device it goes to the OS keychain.
pub fn generate_signature_keys() -> Result<SignatureKeyPair, GroupError> {
    SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(mls("key generation"))
}

/// Serializes a signature key pair (private half included) for the OS keychain.
pub fn signature_keys_to_bytes(keys: &SignatureKeyPair) -> Result<Vec<u8>, GroupError> {
    keys.tls_serialize_detached().map_err(mls("encode keys"))
}

/// Restores a key pair saved with [`signature_keys_to_bytes`].
pub fn signature_keys_from_bytes(bytes: &[u8]) -> Result<SignatureKeyPair, GroupError> {
    SignatureKeyPair::tls_deserialize_exact(bytes).map_err(|e| GroupError::Decode(e.to_string()))
}

/// The delivery service's identity inside groups: it may propose Remove (for members whose
/// connection dropped) but, holding no leaf, can never commit or add anyone.
pub struct ExternalSenderKey {
    signer: SignatureKeyPair,
    credential: Credential,
}

impl std::fmt::Debug for ExternalSenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public half only; the private key never appears in logs.
        f.debug_struct("ExternalSenderKey")
            .field("public_key", &hex_prefix(self.signer.public()))
            .finish_non_exhaustive()
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Decodes an [`ExternalSender`] (TLS-serialized, as `admitted.external_sender` carries it).
pub fn external_sender_from_bytes(bytes: &[u8]) -> Result<ExternalSender, GroupError> {
    ExternalSender::tls_deserialize_exact(bytes).map_err(|e| GroupError::Decode(e.to_string()))
}

impl ExternalSenderKey {
    /// A new external-sender identity named `name` (e.g. the server's host name).
    pub fn generate(name: &str) -> Result<Self, GroupError> {
        Ok(Self {
            signer: generate_signature_keys()?,
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        })
    }

    /// The entry a host puts into the group's external-senders extension.
    pub fn external_sender(&self) -> ExternalSender {
        ExternalSender::new(self.signer.public().into(), self.credential.clone())
    }

    /// The TLS-serialized [`ExternalSender`] (public key and credential) the server announces
    /// in `admitted`; read it back with [`external_sender_from_bytes`].
    pub fn external_sender_bytes(&self) -> Result<Vec<u8>, GroupError> {
        self.external_sender()
            .tls_serialize_detached()
            .map_err(mls("encode"))
    }

    /// Raw public key, which a client can compare with what the server announces.
    pub fn public_key(&self) -> &[u8] {
        self.signer.public()
    }

    /// A Remove proposal for `leaf_index`, valid in `epoch` of `group_id`.
    pub fn propose_remove(
        &self,
        group_id: &[u8],
        epoch: u64,
        leaf_index: u32,
    ) -> Result<Vec<u8>, GroupError> {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            LeafNodeIndex::new(leaf_index),
            GroupId::from_slice(group_id),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(mls("external remove"))?;
        message.tls_serialize_detached().map_err(mls("encode"))
    }
}

/// A KeyPackage that passed signature and lifetime checks, with what its credential claims.
pub struct ValidatedKeyPackage {
    key_package: KeyPackage,
    /// The trust state of the would-be member, for lobby display and "deny" decisions.
    pub trust: TrustState,
    /// The joiner's MLS signature key (what expel and deny-lists key on).
    pub signature_key: Vec<u8>,
}

/// Checks a serialized KeyPackage (an `MlsMessage` carrying one).
pub fn validate_key_package(
    bytes: &[u8],
    org: Option<&OrgPublicKey>,
    now: u64,
) -> Result<ValidatedKeyPackage, GroupError> {
    let message = MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|e| GroupError::Decode(e.to_string()))?;
    let MlsMessageBodyIn::KeyPackage(key_package_in) = message.extract() else {
        return Err(GroupError::UnexpectedMessage {
            expected: "a KeyPackage",
        });
    };
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let key_package = key_package_in
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| GroupError::InvalidKeyPackage(e.to_string()))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(GroupError::InvalidKeyPackage(
            "unsupported ciphersuite".into(),
        ));
    }
    let leaf = key_package.leaf_node();
    let signature_key = leaf.signature_key().as_slice().to_vec();
    let trust = credential_trust(leaf.credential(), &signature_key, org, now);
    Ok(ValidatedKeyPackage {
        key_package,
        trust,
        signature_key,
    })
}

fn credential_trust(
    credential: &Credential,
    signature_key: &[u8],
    org: Option<&OrgPublicKey>,
    now: u64,
) -> TrustState {
    match BasicCredential::try_from(credential.clone()) {
        Ok(basic) => classify(basic.identity(), signature_key, org, now),
        Err(e) => TrustState::Invalid {
            display_name: None,
            reason: crate::identity::CredentialError::Malformed(e.to_string()),
        },
    }
}

/// A commit this member made, waiting for the server to order it.
#[derive(Debug, Clone)]
pub struct OutgoingCommit {
    /// The epoch the commit was made from.
    pub from_epoch: u64,
    /// The serialized commit, for every current member.
    pub commit: Vec<u8>,
    /// The Welcome for the added members, if any were added.
    pub welcome: Option<Vec<u8>>,
    /// Leaves the commit removes (by value or by reference to a pending proposal), read from
    /// the tree before the commit is merged.
    pub removed_leaves: Vec<u32>,
}

/// What changed when an epoch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochChange {
    /// The new epoch.
    pub epoch: u64,
    /// Leaves added in this commit.
    pub added: Vec<u32>,
    /// Leaves removed in this commit.
    pub removed: Vec<u32>,
    /// This member was removed: the group is no longer usable.
    pub self_removed: bool,
}

/// The outcome of processing one incoming handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A commit was applied.
    Commit(EpochChange),
    /// A proposal was queued for the next commit (a leave, or the server's Remove).
    Proposal {
        /// The leaf the proposal would remove, if it is a Remove.
        removes: Option<u32>,
    },
}

/// One line of the roster, straight from the MLS tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub leaf_index: u32,
    pub trust: TrustState,
    pub signature_key: Vec<u8>,
}

/// One member's view of the meeting group, with its own keys and openmls provider.
pub struct GroupMember {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
    /// Leaves allowed to add members. Starts as the creator (leaf 0); the host's client and
    /// the server's role announcements update it.
    committers: BTreeSet<u32>,
    /// Signature keys of participants the server's roster says are present: an external
    /// (delivery-service) Remove proposal for one of their leaves is refused.
    present_keys: BTreeSet<Vec<u8>>,
}

fn group_config(external_senders: Vec<ExternalSender>) -> Result<MlsGroupCreateConfig, GroupError> {
    let mut builder = MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true);
    if !external_senders.is_empty() {
        let extensions = Extensions::single(Extension::ExternalSenders(external_senders))
            .map_err(mls("extensions"))?;
        builder = builder.with_group_context_extensions(extensions);
    }
    Ok(builder.build())
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

impl GroupMember {
    /// A member with the given signature keys and credential payload.
    pub fn new(signer: SignatureKeyPair, payload: &CredentialPayload) -> Result<Self, GroupError> {
        let provider = OpenMlsRustCrypto::default();
        signer.store(provider.storage()).map_err(mls("store key"))?;
        let identity = payload.to_bytes().map_err(mls("credential"))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(identity).into(),
            signature_key: signer.public().into(),
        };
        Ok(Self {
            provider,
            signer,
            credential,
            group: None,
            committers: BTreeSet::from([0]),
            present_keys: BTreeSet::new(),
        })
    }

    /// A guest with fresh keys.
    pub fn guest(display_name: &str) -> Result<Self, GroupError> {
        let payload = CredentialPayload::guest(display_name).map_err(mls("credential"))?;
        Self::new(generate_signature_keys()?, &payload)
    }

    /// This member's MLS signature public key.
    pub fn signature_key(&self) -> &[u8] {
        self.signer.public()
    }

    /// A fresh KeyPackage (its private keys stay in this member's storage provider).
    pub fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        let bundle = KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .map_err(mls("key package"))?;
        MlsMessageOut::from(bundle.key_package().clone())
            .tls_serialize_detached()
            .map_err(mls("encode"))
    }

    /// Starts a new group (the host, when a meeting starts). `external_senders` lets the
    /// delivery service propose removals.
    pub fn create_group(
        &mut self,
        group_id: &[u8],
        external_senders: Vec<ExternalSender>,
    ) -> Result<(), GroupError> {
        if self.group.is_some() {
            return Err(GroupError::AlreadyInGroup);
        }
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &group_config(external_senders)?,
            GroupId::from_slice(group_id),
            self.credential.clone(),
        )
        .map_err(mls("create group"))?;
        self.committers = BTreeSet::from([group.own_leaf_index().u32()]);
        self.group = Some(group);
        Ok(())
    }

    /// Joins from a serialized Welcome.
    pub fn join(&mut self, welcome: &[u8]) -> Result<(), GroupError> {
        if self.group.is_some() {
            return Err(GroupError::AlreadyInGroup);
        }
        let message = MlsMessageIn::tls_deserialize_exact(welcome)
            .map_err(|e| GroupError::Decode(e.to_string()))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(GroupError::UnexpectedMessage {
                expected: "a Welcome",
            });
        };
        let group = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, None)
            .map_err(mls("welcome"))?
            .into_group(&self.provider)
            .map_err(mls("welcome"))?;
        self.group = Some(group);
        Ok(())
    }

    fn group(&self) -> Result<&MlsGroup, GroupError> {
        self.group.as_ref().ok_or(GroupError::NotInGroup)
    }

    /// Whether this member currently holds an active group.
    pub fn in_group(&self) -> bool {
        self.group.as_ref().is_some_and(MlsGroup::is_active)
    }

    /// The MLS group id.
    pub fn group_id(&self) -> Result<Vec<u8>, GroupError> {
        Ok(self.group()?.group_id().as_slice().to_vec())
    }

    /// The current epoch.
    pub fn epoch(&self) -> Result<u64, GroupError> {
        Ok(self.group()?.epoch().as_u64())
    }

    /// This member's leaf index.
    pub fn own_leaf_index(&self) -> Result<u32, GroupError> {
        Ok(self.group()?.own_leaf_index().u32())
    }

    /// Replaces the set of leaves allowed to add members (host and co-hosts).
    pub fn set_committers(&mut self, committers: impl IntoIterator<Item = u32>) {
        self.committers = committers.into_iter().collect();
    }

    /// Replaces the signature keys of the participants who are present (from the server's
    /// roster). The delivery service may only propose removing leaves that belong to none of
    /// them, so a wrong leaf index can never silently remove someone who is still here.
    pub fn set_present_keys(&mut self, keys: impl IntoIterator<Item = Vec<u8>>) {
        self.present_keys = keys.into_iter().collect();
    }

    /// Leaves that Remove proposals waiting in the proposal store would remove.
    pub fn pending_removals(&self) -> Vec<u32> {
        self.group
            .as_ref()
            .map(|group| {
                group
                    .pending_proposals()
                    .filter_map(|p| match p.proposal() {
                        Proposal::Remove(remove) => Some(remove.removed().u32()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of members in the current epoch.
    pub fn member_count(&self) -> Result<usize, GroupError> {
        Ok(self.group()?.members().count())
    }

    /// The roster with each entry's trust state. `now` is Unix seconds.
    pub fn roster(
        &self,
        org: Option<&OrgPublicKey>,
        now: u64,
    ) -> Result<Vec<RosterEntry>, GroupError> {
        Ok(self
            .group()?
            .members()
            .map(|m| RosterEntry {
                leaf_index: m.index.u32(),
                trust: credential_trust(&m.credential, &m.signature_key, org, now),
                signature_key: m.signature_key,
            })
            .collect())
    }

    fn leaves(group: &MlsGroup) -> BTreeMap<u32, Vec<u8>> {
        group
            .members()
            .map(|m| (m.index.u32(), m.signature_key))
            .collect()
    }

    /// The verification code of the current epoch.
    pub fn verification_code(&self) -> Result<VerificationCode, GroupError> {
        let group = self.group()?;
        Ok(VerificationCode::derive(
            group.epoch().as_u64(),
            group.epoch_authenticator().as_slice(),
        ))
    }

    /// The SFrame base key of the current epoch (RFC 9605 §5.2) and its member set.
    pub fn epoch_keys(&self) -> Result<EpochKeys, GroupError> {
        let group = self.group()?;
        let base_key = group
            .export_secret(
                self.provider.crypto(),
                SFRAME_EXPORTER_LABEL,
                b"",
                SFRAME_SUITE.key_len(),
            )
            .map_err(mls("export"))?;
        let members = group.members().map(|m| m.index.u32()).collect();
        Ok(EpochKeys::new(group.epoch().as_u64(), base_key, members))
    }

    /// Commits the given Adds and Removes together with every queued proposal (leaves and the
    /// server's removals) in one batch. The commit stays pending until [`Self::confirm_commit`]
    /// (the server accepted it) or [`Self::discard_commit`] (another commit won the epoch).
    pub fn commit(
        &mut self,
        key_packages: Vec<ValidatedKeyPackage>,
        removals: &[u32],
    ) -> Result<OutgoingCommit, GroupError> {
        let group = self.group.as_mut().ok_or(GroupError::NotInGroup)?;
        if group.pending_commit().is_some() {
            return Err(GroupError::CommitPending);
        }
        if group.members().count() + key_packages.len() > MAX_MEMBERS {
            return Err(GroupError::TooManyMembers);
        }
        let from_epoch = group.epoch().as_u64();
        let bundle = group
            .commit_builder()
            .consume_proposal_store(true)
            .propose_adds(key_packages.into_iter().map(|k| k.key_package))
            .propose_removals(removals.iter().map(|i| LeafNodeIndex::new(*i)))
            .load_psks(self.provider.storage())
            .map_err(mls("commit"))?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.signer,
                |_| true,
            )
            .map_err(mls("commit"))?
            .stage_commit(&self.provider)
            .map_err(mls("commit"))?;
        let removed_leaves = group
            .pending_commit()
            .map(|staged| {
                staged
                    .remove_proposals()
                    .map(|p| p.remove_proposal().removed().u32())
                    .collect()
            })
            .unwrap_or_default();
        let (commit, welcome, _group_info) = bundle.into_messages();
        Ok(OutgoingCommit {
            removed_leaves,
            from_epoch,
            commit: commit.tls_serialize_detached().map_err(mls("encode"))?,
            welcome: welcome
                .map(|w| w.tls_serialize_detached())
                .transpose()
                .map_err(mls("encode"))?,
        })
    }

    /// A commit with no proposals: fresh path secrets, i.e. a plain rekey.
    pub fn rekey(&mut self) -> Result<OutgoingCommit, GroupError> {
        self.commit(Vec::new(), &[])
    }

    /// Applies this member's own pending commit once the server accepted it.
    pub fn confirm_commit(&mut self) -> Result<EpochChange, GroupError> {
        let group = self.group.as_mut().ok_or(GroupError::NotInGroup)?;
        if group.pending_commit().is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        let before = Self::leaves(group);
        group
            .merge_pending_commit(&self.provider)
            .map_err(mls("merge"))?;
        Ok(Self::change(group, &before, false))
    }

    /// Drops this member's pending commit (it lost the race for the epoch); the caller processes
    /// the winning commit and commits again on top of it.
    pub fn discard_commit(&mut self) -> Result<(), GroupError> {
        let group = self.group.as_mut().ok_or(GroupError::NotInGroup)?;
        group
            .clear_pending_commit(self.provider.storage())
            .map_err(mls("discard"))
    }

    /// A proposal to remove this member; the committer turns it into a commit.
    pub fn propose_leave(&mut self) -> Result<Vec<u8>, GroupError> {
        let provider = &self.provider;
        let group = self.group.as_mut().ok_or(GroupError::NotInGroup)?;
        let message = group
            .leave_group(provider, &self.signer)
            .map_err(mls("leave"))?;
        message.tls_serialize_detached().map_err(mls("encode"))
    }

    fn change(
        group: &MlsGroup,
        before: &BTreeMap<u32, Vec<u8>>,
        self_removed: bool,
    ) -> EpochChange {
        let after = Self::leaves(group);
        let added = after
            .iter()
            .filter(|(i, key)| before.get(i) != Some(key))
            .map(|(i, _)| *i)
            .collect();
        let removed = before
            .iter()
            .filter(|(i, key)| after.get(i) != Some(key))
            .map(|(i, _)| *i)
            .collect();
        EpochChange {
            epoch: group.epoch().as_u64(),
            added,
            removed,
            self_removed,
        }
    }

    /// Processes a commit or proposal from another member or the delivery service. Stale,
    /// forged and unauthorized messages are refused with an error and leave the group as it was.
    ///
    /// A Remove proposal from the delivery service (the group's external sender; openmls
    /// checks its signature against the group's external-senders extension) is refused when
    /// the leaf it removes belongs to a participant who is still present
    /// ([`Self::set_present_keys`]).
    pub fn process(&mut self, message: &[u8]) -> Result<Incoming, GroupError> {
        let committers = self.committers.clone();
        let provider = &self.provider;
        let group = self.group.as_mut().ok_or(GroupError::NotInGroup)?;
        let message = MlsMessageIn::tls_deserialize_exact(message)
            .map_err(|e| GroupError::Decode(e.to_string()))?;
        let protocol =
            message
                .try_into_protocol_message()
                .map_err(|_| GroupError::UnexpectedMessage {
                    expected: "a commit or proposal",
                })?;
        if protocol.epoch() != group.epoch() {
            return Err(GroupError::WrongEpoch {
                message_epoch: protocol.epoch().as_u64(),
                group_epoch: group.epoch().as_u64(),
            });
        }
        let processed = group
            .process_message(provider, protocol)
            .map_err(mls("process"))?;
        let sender = processed.sender().clone();
        let may_add = matches!(&sender, Sender::Member(leaf) if committers.contains(&leaf.u32()));
        match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                if staged.add_proposals().next().is_some() && !may_add {
                    return Err(GroupError::UnauthorizedAdd {
                        sender: format!("{sender:?}"),
                    });
                }
                let self_removed = staged.self_removed();
                let before = Self::leaves(group);
                group
                    .merge_staged_commit(provider, *staged)
                    .map_err(mls("merge"))?;
                Ok(Incoming::Commit(Self::change(group, &before, self_removed)))
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                let removes = match proposal.proposal() {
                    Proposal::Remove(remove) => {
                        let leaf = remove.removed().u32();
                        let external = matches!(&sender, Sender::External(_));
                        let target_present = group
                            .members()
                            .find(|m| m.index.u32() == leaf)
                            .is_some_and(|m| self.present_keys.contains(&m.signature_key));
                        if external && target_present {
                            return Err(GroupError::RemovesPresentMember { leaf });
                        }
                        Some(leaf)
                    }
                    Proposal::Add(_) if !may_add => {
                        return Err(GroupError::UnauthorizedAdd {
                            sender: format!("{sender:?}"),
                        });
                    }
                    _ => None,
                };
                group
                    .store_pending_proposal(provider.storage(), *proposal)
                    .map_err(mls("store proposal"))?;
                Ok(Incoming::Proposal { removes })
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                Err(GroupError::UnauthorizedAdd {
                    sender: "an external joiner".into(),
                })
            }
            // Application messages are not used (media is SFrame), and our own commit echoed
            // back is confirmed through `confirm_commit`, not processed.
            _ => Err(GroupError::UnexpectedMessage {
                expected: "another member's handshake message",
            }),
        }
    }

    /// Reloads the group from the storage provider, as after an app restart that kept the
    /// provider's store; proves the state lives there and not only in memory here.
    pub fn reload_from_storage(&mut self) -> Result<(), GroupError> {
        let group_id = self.group()?.group_id().clone();
        let group = MlsGroup::load(self.provider.storage(), &group_id)
            .map_err(mls("load"))?
            .ok_or(GroupError::NotInGroup)?;
        self.group = Some(group);
        Ok(())
    }
}
