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

use crate::media_keys::{EpochKeys, SFRAME_EXPORTER_LABEL, SFRAME_SUITE};
use conclave_protocol::identity::{CredentialPayload, OrgPublicKey, TrustState, classify};
use conclave_protocol::verification::VerificationCode;

/// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001), as docs/security.md fixes.
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
        "a proposal or commit removes leaf {leaf}, which belongs to someone the server still lists as present"
    )]
    RemovesPresentMember { leaf: u32 },
    #[error("a {kind} proposal from {sender} is not allowed in a Conclave meeting")]
    ForbiddenProposal { kind: String, sender: String },
    #[error("the meeting requires sign-in, but the commit adds someone who is not signed in")]
    UncertifiedAdd,
    #[error("the group's external senders are not the server the client was told about")]
    ExternalSendersMismatch,
    #[error("the admission signature does not check out: {0}")]
    BadAdmission(&'static str),
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

/// What every member checks about the people a commit adds, beyond "only a committer adds".
#[derive(Debug, Clone, Default)]
pub struct JoinRules {
    /// The meeting requires sign-in: every added credential must be certified.
    pub certified_only: bool,
    /// The organization key that certifies signed-in members, when this client knows it.
    pub org: Option<OrgPublicKey>,
    /// Unix seconds, for certificate validity.
    pub now: u64,
}

impl JoinRules {
    /// Whether a would-be member's credential passes these rules. Without the organization
    /// key a certificate cannot be checked, so a credential that carries one is accepted then
    /// (it shows as not verifiable); a guest credential never is.
    pub fn admits(&self, trust: &TrustState) -> bool {
        if !self.certified_only {
            return true;
        }
        match trust {
            TrustState::VerifiedUser { .. } => true,
            TrustState::UnverifiedGuest { .. } => false,
            TrustState::Invalid { reason, .. } => {
                self.org.is_none()
                    && *reason == conclave_protocol::identity::CredentialError::NoOrganizationKey
            }
        }
    }
}

/// Label of the host's admission signature (see [`GroupMember::sign_admission`]).
const ADMISSION_LABEL: &[u8] = b"Conclave 1.0 admission";

fn admission_payload(group_id: &[u8], joiner_key: &[u8]) -> Vec<u8> {
    let mut payload =
        Vec::with_capacity(ADMISSION_LABEL.len() + group_id.len() + joiner_key.len() + 4);
    payload.extend_from_slice(ADMISSION_LABEL);
    // Length-prefixed, so no two (group, joiner) pairs share a payload.
    for part in [group_id, joiner_key] {
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        payload.extend_from_slice(&len.to_be_bytes());
        payload.extend_from_slice(part);
    }
    payload
}

fn proposal_kind(proposal: &Proposal) -> String {
    format!("{:?}", proposal.proposal_type())
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
    /// What an Add in someone else's commit must satisfy.
    join_rules: JoinRules,
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
            join_rules: JoinRules::default(),
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

    /// Whether `leaf` may add members (a host's or co-host's).
    pub fn is_committer(&self, leaf: u32) -> bool {
        self.committers.contains(&leaf)
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

    /// Sets what the people another member's commit adds must satisfy (the meeting's
    /// sign-in requirement).
    pub fn set_join_rules(&mut self, rules: JoinRules) {
        self.join_rules = rules;
    }

    /// Signs "let the holder of `joiner_key` in" for this group: what a host sends with an
    /// admit, so the committer can check the host (not the server) admitted them.
    pub fn sign_admission(&self, joiner_key: &[u8]) -> Result<Vec<u8>, GroupError> {
        use openmls_traits::signatures::Signer as _;
        let payload = admission_payload(self.group()?.group_id().as_slice(), joiner_key);
        self.signer.sign(&payload).map_err(|e| GroupError::Mls {
            operation: "sign admission",
            detail: format!("{e:?}"),
        })
    }

    /// Checks an admission: signed over this group and `joiner_key` by the member whose
    /// signature key is `admitter_key`. Returns that member's leaf (the caller checks that it
    /// is a host's or co-host's).
    pub fn check_admission(
        &self,
        admitter_key: &[u8],
        joiner_key: &[u8],
        signature: &[u8],
    ) -> Result<u32, GroupError> {
        use openmls_traits::crypto::OpenMlsCrypto as _;
        let group = self.group()?;
        let leaf = group
            .members()
            .find(|m| m.signature_key == admitter_key)
            .map(|m| m.index.u32())
            .ok_or(GroupError::BadAdmission("the admitter is not in the group"))?;
        let payload = admission_payload(group.group_id().as_slice(), joiner_key);
        self.provider
            .crypto()
            .verify_signature(
                CIPHERSUITE.signature_algorithm(),
                &payload,
                admitter_key,
                signature,
            )
            .map_err(|_| GroupError::BadAdmission("the signature is invalid"))?;
        Ok(leaf)
    }

    /// Whether the group's external-senders extension holds exactly the server's announced
    /// `ExternalSender` (serialized as in `admitted.external_sender`), so the server cannot
    /// have slipped in a second key or another server's.
    pub fn external_senders_match(&self, announced: &[u8]) -> Result<bool, GroupError> {
        let group = self.group()?;
        let Some(senders) = group.extensions().external_senders() else {
            return Ok(false);
        };
        let [only] = senders.as_slice() else {
            return Ok(false);
        };
        Ok(only.tls_serialize_detached().map_err(mls("encode"))? == announced)
    }

    /// Forgets the group (a joiner that refuses the group it was welcomed into).
    pub fn forget_group(&mut self) {
        self.group = None;
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
                for add in staged.add_proposals() {
                    let leaf = add.add_proposal().key_package().leaf_node();
                    let trust = credential_trust(
                        leaf.credential(),
                        leaf.signature_key().as_slice(),
                        self.join_rules.org.as_ref(),
                        self.join_rules.now,
                    );
                    if !self.join_rules.admits(&trust) {
                        return Err(GroupError::UncertifiedAdd);
                    }
                }
                for queued in staged.queued_proposals() {
                    Self::check_committed_proposal(group, &self.present_keys, &sender, queued)?;
                }
                let self_removed = staged.self_removed();
                let before = Self::leaves(group);
                group
                    .merge_staged_commit(provider, *staged)
                    .map_err(mls("merge"))?;
                Ok(Incoming::Commit(Self::change(group, &before, self_removed)))
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                // Only what a Conclave committer may commit is stored: the server's Remove of
                // someone who left, and a member's own leave or update. A member proposing to
                // remove someone else (or to change the group's extensions, or a PSK or
                // ReInit) would otherwise ride along in the committer's next commit.
                let removes = match (proposal.proposal(), &sender) {
                    (Proposal::Remove(remove), Sender::External(_)) => {
                        let leaf = remove.removed().u32();
                        if Self::leaf_is_present(group, &self.present_keys, leaf) {
                            return Err(GroupError::RemovesPresentMember { leaf });
                        }
                        Some(leaf)
                    }
                    (Proposal::Remove(remove), Sender::Member(own)) if remove.removed() == *own => {
                        Some(own.u32())
                    }
                    (Proposal::Update(_), Sender::Member(_)) => None,
                    (Proposal::Add(_), _) => {
                        return Err(GroupError::UnauthorizedAdd {
                            sender: format!("{sender:?}"),
                        });
                    }
                    (other, _) => {
                        return Err(GroupError::ForbiddenProposal {
                            kind: proposal_kind(other),
                            sender: format!("{sender:?}"),
                        });
                    }
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

    fn leaf_is_present(group: &MlsGroup, present_keys: &BTreeSet<Vec<u8>>, leaf: u32) -> bool {
        group
            .members()
            .find(|m| m.index.u32() == leaf)
            .is_some_and(|m| present_keys.contains(&m.signature_key))
    }

    /// One proposal inside another member's commit: Adds (checked by the caller), a member's
    /// own leave or update, and Removes of leaves whose owner the server's roster no longer
    /// lists (the server's proposals, or the committer's own for people who left). Anything
    /// else is refused, and with it the whole commit.
    fn check_committed_proposal(
        group: &MlsGroup,
        present_keys: &BTreeSet<Vec<u8>>,
        committer: &Sender,
        queued: &QueuedProposal,
    ) -> Result<(), GroupError> {
        let forbidden = || GroupError::ForbiddenProposal {
            kind: proposal_kind(queued.proposal()),
            sender: format!("{:?}", queued.sender()),
        };
        match (queued.proposal(), queued.sender()) {
            (Proposal::Add(_), sender) if sender == committer => Ok(()),
            (Proposal::Update(_), Sender::Member(_)) => Ok(()),
            (Proposal::Remove(remove), Sender::Member(own)) if remove.removed() == *own => Ok(()),
            (Proposal::Remove(remove), sender)
                if sender == committer || matches!(sender, Sender::External(_)) =>
            {
                let leaf = remove.removed().u32();
                if Self::leaf_is_present(group, present_keys, leaf) {
                    Err(GroupError::RemovesPresentMember { leaf })
                } else {
                    Ok(())
                }
            }
            _ => Err(forbidden()),
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

mod external_sender;
mod key_package;
mod peek;

pub use external_sender::{ExternalSenderKey, external_sender_from_bytes};
use key_package::credential_trust;
pub use key_package::{ValidatedKeyPackage, validate_key_package};
pub use peek::{ProposalKind, ProposalSummary, peek_proposal};

#[cfg(test)]
mod hostile_tests;
