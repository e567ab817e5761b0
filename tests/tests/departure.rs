//! End-to-end: members whose connection drops are removed from the MLS group through the
//! server's external Remove proposal, committed by the host's client; the others rekey.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::{CreatedMeeting, NewMeeting};
use conclave_core::client::{Event, MeetingClient};
use conclave_tests::{TestServer, codes_at, in_meeting, wait};

fn all_equal(codes: &[String]) -> bool {
    !codes[0].is_empty() && codes.windows(2).all(|w| w[0] == w[1])
}

/// A signed-in host and guests, all at the same epoch.
async fn meeting_with(server: &TestServer, guests: &[&str]) -> (MeetingClient, Vec<MeetingClient>) {
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting: CreatedMeeting = server.create_meeting(&device, NewMeeting::default()).await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let mut joined = Vec::new();
    for name in guests {
        let mut guest = server.guest_joins(name, &meeting).await;
        in_meeting(&mut guest).await;
        joined.push(guest);
    }
    let epoch = joined.last().unwrap().snapshot().epoch.unwrap();
    let mut everyone: Vec<&mut MeetingClient> = std::iter::once(&mut host)
        .chain(joined.iter_mut())
        .collect();
    let codes = codes_at(&mut everyone, epoch).await;
    assert!(all_equal(&codes), "codes differ: {codes:?}");
    (host, joined)
}

/// Every event received so far: no handshake message may have been refused (a refused
/// proposal would mean the removal fell back to the committer's own Remove).
async fn assert_no_security_warnings(client: &mut MeetingClient) {
    while let Ok(Some(event)) =
        tokio::time::timeout(std::time::Duration::from_millis(20), client.next_event()).await
    {
        assert!(
            !matches!(event, Event::SecurityWarning(_)),
            "unexpected {event:?}"
        );
    }
}

/// The signature key of `leaf` as `client` sees the MLS tree.
fn key_of_leaf(client: &MeetingClient, leaf: u32) -> Vec<u8> {
    client
        .snapshot()
        .mls_roster
        .into_iter()
        .find(|l| l.leaf_index == leaf)
        .unwrap()
        .signature_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_removed_by_the_servers_proposal_and_the_rest_rekey() {
    let server = TestServer::start().await;
    let (mut host, mut guests) = meeting_with(&server, &["Aiko", "Ben", "Chie"]).await;
    let before = host.snapshot();
    let epoch = before.epoch.unwrap();
    assert_eq!(before.mls_roster.len(), 4);

    let ben = guests.remove(1);
    let ben_leaf = ben.snapshot().own_leaf.unwrap();
    let ben_key = key_of_leaf(&host, ben_leaf);
    // No `leave`: the connection just goes away.
    ben.close();

    let mut rest: Vec<&mut MeetingClient> = std::iter::once(&mut host)
        .chain(guests.iter_mut())
        .collect();
    let codes = codes_at(&mut rest, epoch + 1).await;
    assert!(all_equal(&codes), "codes differ: {codes:?}");
    assert_ne!(
        codes[0],
        before.code.unwrap().to_string(),
        "the departure rekeys"
    );
    for client in rest {
        let s = wait(client, "Ben's leaf gone", |s| s.mls_roster.len() == 3).await;
        assert!(s.mls_roster.iter().all(|l| l.leaf_index != ben_leaf));
        assert!(s.mls_roster.iter().all(|l| l.signature_key != ben_key));
        assert_eq!(s.roster.len(), 3);
        assert!(s.roster.iter().all(|r| r.display_name != "Ben"));
        assert!(s.end_to_end_encrypted);
        assert_no_security_warnings(client).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_dropping_at_once_are_both_removed() {
    let server = TestServer::start().await;
    let (mut host, mut guests) = meeting_with(&server, &["Aiko", "Ben", "Chie"]).await;
    let epoch = host.snapshot().epoch.unwrap();
    let chie = guests.pop().unwrap();
    let ben = guests.pop().unwrap();
    let gone = [
        ben.snapshot().own_leaf.unwrap(),
        chie.snapshot().own_leaf.unwrap(),
    ];
    ben.close();
    chie.close();

    let mut aiko = guests.pop().unwrap();
    // One or two commits, depending on timing; both members end in the same state.
    let s = wait(&mut host, "both leaves gone", |s| s.mls_roster.len() == 2).await;
    let final_epoch = s.epoch.unwrap();
    assert!(final_epoch > epoch);
    let codes = codes_at(&mut [&mut host, &mut aiko], final_epoch).await;
    assert!(all_equal(&codes), "codes differ: {codes:?}");
    for client in [&host, &aiko] {
        let s = client.snapshot();
        assert_eq!(s.mls_roster.len(), 2);
        assert!(s.mls_roster.iter().all(|l| !gone.contains(&l.leaf_index)));
    }
}
