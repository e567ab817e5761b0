//! Hostile members and a hostile committer against the group's rules: proposals other than a
//! member's own leave/update, Removes of present members, extension changes, guests added to a
//! sign-in meeting, forged admissions. Each is refused and leaves the group as it was.

#![allow(clippy::unwrap_used)]

use super::*;
use conclave_protocol::identity::OrgSigningKey;

const NOW: u64 = 1_800_000_000;

/// Three members: Hana (creator, leaf 0), Ben (leaf 1), Chie (leaf 2), all at epoch 1.
fn trio() -> [GroupMember; 3] {
    let mut hana = GroupMember::guest("Hana").unwrap();
    hana.create_group(b"hostile-tests", Vec::new()).unwrap();
    let mut ben = GroupMember::guest("Ben").unwrap();
    let mut chie = GroupMember::guest("Chie").unwrap();
    let kps =
        [&ben, &chie].map(|m| validate_key_package(&m.key_package().unwrap(), None, NOW).unwrap());
    let commit = hana.commit(kps.into(), &[]).unwrap();
    hana.confirm_commit().unwrap();
    let welcome = commit.welcome.unwrap();
    ben.join(&welcome).unwrap();
    chie.join(&welcome).unwrap();
    [hana, ben, chie]
}

fn keys(members: &[&GroupMember]) -> Vec<Vec<u8>> {
    members.iter().map(|m| m.signature_key().to_vec()).collect()
}

#[test]
fn a_member_cannot_propose_removing_someone_else() {
    let [mut hana, mut ben, mut chie] = trio();
    let provider = &ben.provider;
    let (proposal, _) = ben
        .group
        .as_mut()
        .unwrap()
        .propose_remove_member(provider, &ben.signer, LeafNodeIndex::new(2))
        .unwrap();
    let proposal = proposal.tls_serialize_detached().unwrap();
    for member in [&mut hana, &mut chie] {
        assert!(matches!(
            member.process(&proposal),
            Err(GroupError::ForbiddenProposal { .. })
        ));
        assert!(member.pending_removals().is_empty());
    }
    // The server's relay rule reads the same thing from the framing.
    let summary = peek_proposal(&proposal).unwrap();
    assert_eq!(summary.sender_leaf, Some(1));
    assert_eq!(summary.kind, ProposalKind::Remove { leaf: 2 });
}

#[test]
fn a_members_own_leave_is_stored_and_read_by_the_relay() {
    let [mut hana, mut ben, _] = trio();
    let leave = ben.propose_leave().unwrap();
    assert_eq!(
        peek_proposal(&leave).unwrap(),
        ProposalSummary {
            sender_leaf: Some(1),
            epoch: 1,
            kind: ProposalKind::Remove { leaf: 1 },
        }
    );
    assert_eq!(
        hana.process(&leave).unwrap(),
        Incoming::Proposal { removes: Some(1) }
    );
    assert_eq!(hana.pending_removals(), vec![1]);
}

#[test]
fn the_relay_rule_refuses_what_is_not_a_proposal() {
    let [mut hana, ..] = trio();
    assert!(peek_proposal(b"").is_err());
    assert!(peek_proposal(&[0, 1, 0, 1, 0xff]).is_err());
    let commit = hana.rekey().unwrap().commit;
    assert!(
        peek_proposal(&commit).is_err(),
        "a commit is not relayed as a proposal"
    );
    let key_package = hana.key_package().unwrap();
    assert!(peek_proposal(&key_package).is_err());
}

#[test]
fn a_commit_that_removes_someone_the_server_lists_as_present_is_refused() {
    let [mut hana, mut ben, mut chie] = trio();
    // Hana commits Ben's removal by value while the server's roster still lists him.
    let commit = hana.commit(Vec::new(), &[1]).unwrap().commit;
    chie.set_present_keys(keys(&[&hana, &ben, &chie]));
    assert!(matches!(
        chie.process(&commit),
        Err(GroupError::RemovesPresentMember { leaf: 1 })
    ));
    assert_eq!(chie.epoch().unwrap(), 1);
    // Once he is off the roster (he left), the same commit is fine.
    chie.set_present_keys(keys(&[&hana, &chie]));
    assert!(matches!(chie.process(&commit), Ok(Incoming::Commit(_))));
    ben.set_present_keys(keys(&[&hana, &chie]));
    assert!(matches!(
        ben.process(&commit),
        Ok(Incoming::Commit(EpochChange {
            self_removed: true,
            ..
        }))
    ));
}

#[test]
fn a_commit_that_changes_the_groups_extensions_is_refused() {
    let [mut hana, _, mut chie] = trio();
    let provider = &hana.provider;
    let group = hana.group.as_mut().unwrap();
    let other = ExternalSenderKey::generate("someone else").unwrap();
    let extensions =
        Extensions::single(Extension::ExternalSenders(vec![other.external_sender()])).unwrap();
    let bundle = group
        .commit_builder()
        .propose_group_context_extensions(extensions)
        .unwrap()
        .load_psks(provider.storage())
        .unwrap()
        .build(provider.rand(), provider.crypto(), &hana.signer, |_| true)
        .unwrap()
        .stage_commit(provider)
        .unwrap();
    let (commit, _, _) = bundle.into_messages();
    let commit = commit.tls_serialize_detached().unwrap();
    assert!(matches!(
        chie.process(&commit),
        Err(GroupError::ForbiddenProposal { .. })
    ));
    assert_eq!(chie.epoch().unwrap(), 1);
}

#[test]
fn members_refuse_a_guest_added_to_a_meeting_that_requires_sign_in() {
    let [mut hana, _, mut chie] = trio();
    let org = OrgSigningKey::generate();
    let guest = GroupMember::guest("Mallory").unwrap();
    let kp = validate_key_package(&guest.key_package().unwrap(), None, NOW).unwrap();
    let commit = hana.commit(vec![kp], &[]).unwrap().commit;
    chie.set_join_rules(JoinRules {
        certified_only: true,
        org: Some(org.public()),
        now: NOW,
    });
    assert_eq!(chie.process(&commit), Err(GroupError::UncertifiedAdd));
    assert_eq!(chie.epoch().unwrap(), 1);

    // A certified user is fine.
    hana.discard_commit().unwrap();
    let signer = generate_signature_keys().unwrap();
    let certificate = org
        .certify("u-yui", "Yui", signer.public(), NOW - 10, NOW + 3600)
        .unwrap();
    let yui = GroupMember::new(signer, &CredentialPayload::user(certificate)).unwrap();
    let kp = validate_key_package(&yui.key_package().unwrap(), Some(&org.public()), NOW).unwrap();
    let commit = hana.commit(vec![kp], &[]).unwrap().commit;
    assert!(matches!(chie.process(&commit), Ok(Incoming::Commit(_))));
}

#[test]
fn an_admission_checks_out_only_when_a_member_signed_it_for_that_joiner() {
    let [hana, ben, chie] = trio();
    let joiner = GroupMember::guest("Aiko").unwrap();
    let signature = hana.sign_admission(joiner.signature_key()).unwrap();
    assert_eq!(
        chie.check_admission(hana.signature_key(), joiner.signature_key(), &signature),
        Ok(0)
    );
    // The same signature for someone else, or claimed as Ben's, fails.
    let other = GroupMember::guest("Mallory").unwrap();
    assert!(matches!(
        chie.check_admission(hana.signature_key(), other.signature_key(), &signature),
        Err(GroupError::BadAdmission(_))
    ));
    assert!(matches!(
        chie.check_admission(ben.signature_key(), joiner.signature_key(), &signature),
        Err(GroupError::BadAdmission(_))
    ));
    // Signed by someone outside the group (the server, say): refused.
    let outsider = GroupMember::guest("Server").unwrap();
    let mut outsider_group = outsider;
    outsider_group
        .create_group(b"hostile-tests", Vec::new())
        .unwrap();
    let forged = outsider_group
        .sign_admission(joiner.signature_key())
        .unwrap();
    assert_eq!(
        chie.check_admission(
            outsider_group.signature_key(),
            joiner.signature_key(),
            &forged
        ),
        Err(GroupError::BadAdmission("the admitter is not in the group"))
    );
}
