//! End-to-end: scheduling on the real server — policy-checked passwords, options enforced at
//! join, host-only visibility, concurrent edits, cancellation and restarts.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::{AccountError, CreatedMeeting};
use conclave_core::client::schedule_api::Scheduler;
use conclave_core::client::{Event, LeftReason, MeetingClient, Phase};
use conclave_protocol::schedule::{
    MeetingOptions, MeetingUpdate, PasswordPolicy, ScheduleRequest, WeeklyRecurrence, When,
};
use conclave_protocol::{DenyReason, ErrorCode};
use conclave_tests::{TestServer, in_meeting, wait};

fn tuesday_standup() -> ScheduleRequest {
    ScheduleRequest {
        title: "Weekly stand-up".into(),
        when: When {
            start: "2026-12-01T10:00:00".parse().unwrap(),
            time_zone: "Asia/Tokyo".into(),
            duration_minutes: 30,
            recurrence: Some(WeeklyRecurrence {
                days: vec![chrono::Weekday::Tue],
                until: None,
                count: Some(10),
            }),
        },
        options: MeetingOptions::default(),
        co_hosts: Vec::new(),
        password: None,
    }
}

async fn host(server: &TestServer, user: &str) -> (Scheduler, conclave_tests::Device) {
    server
        .add_user(user, &format!("{user} host"), "long-host-password")
        .await;
    let device = server.sign_in(user, "long-host-password").await;
    let scheduler = Scheduler::new(&server.address(), &server.trust(), &device.token).unwrap();
    (scheduler, device)
}

/// The error the server answers a join with.
async fn join_error(client: &mut MeetingClient) -> ErrorCode {
    loop {
        match client.next_event().await {
            Some(Event::Error { code, .. }) => return code,
            Some(_) => continue,
            None => panic!("connection closed without an answer"),
        }
    }
}

fn created(number: &str, password: &str) -> CreatedMeeting {
    CreatedMeeting {
        number: number.to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_passwords_meet_the_policy_and_weak_ones_are_refused_by_rule() {
    let server = TestServer::start().await;
    let (scheduler, _) = host(&server, "hana").await;
    let response = scheduler.schedule(&tuesday_standup()).await.unwrap();
    let password = response.password.unwrap();
    assert_eq!(PasswordPolicy::default().check(&password), Ok(()));
    assert_eq!(response.meeting.sequence, 0);
    assert!(response.meeting.options.exclude_password_from_invitation);
    assert_eq!(response.meeting.server, server.address());

    for (weak, rule) in [
        ("short1A", "too_short"),
        ("Conclave-2026-Rocks", "forbidden_word"),
        ("alllowercase123", "missing_uppercase"),
    ] {
        let request = ScheduleRequest {
            password: Some(weak.into()),
            ..tuesday_standup()
        };
        match scheduler.schedule(&request).await {
            Err(AccountError::PasswordPolicy { rule: got, message }) => {
                assert_eq!(got, rule, "{weak}: {message}");
                assert!(
                    !message.contains(weak),
                    "the refusal must not echo the password"
                );
            }
            other => panic!("{weak} should be refused by {rule}, got {other:?}"),
        }
    }
    let request = ScheduleRequest {
        password: Some("Strong-Meeting-42".into()),
        ..tuesday_standup()
    };
    let response = scheduler.schedule(&request).await.unwrap();
    assert_eq!(response.password.as_deref(), Some("Strong-Meeting-42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_options_are_enforced_when_people_join() {
    let server = TestServer::start().await;
    let (scheduler, device) = host(&server, "hana").await;
    let mut request = tuesday_standup();
    request.options.require_sign_in = true;
    let response = scheduler.schedule(&request).await.unwrap();
    let meeting = created(&response.meeting.number, &response.password.unwrap());

    let mut host_client = server.user_joins(device, &meeting).await;
    in_meeting(&mut host_client).await;
    let mut guest = server.guest_joins("Guest", &meeting).await;
    let refused = wait(&mut guest, "refused", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    assert_eq!(
        refused.phase,
        Some(Phase::Left(LeftReason::Denied(DenyReason::SignInRequired)))
    );

    // A second meeting with the lobby on: a signed-in colleague waits to be admitted.
    let mut request = tuesday_standup();
    request.options.lobby = true;
    let response = scheduler.schedule(&request).await.unwrap();
    let lobby_meeting = created(&response.meeting.number, &response.password.unwrap());
    let hana_again = server.sign_in("hana", "long-host-password").await;
    let mut host2 = server.user_joins(hana_again, &lobby_meeting).await;
    in_meeting(&mut host2).await;
    let mut newcomer = server.guest_joins("Aiko", &lobby_meeting).await;
    wait(&mut newcomer, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_are_listed_only_to_their_host() {
    let server = TestServer::start().await;
    let (hana, _) = host(&server, "hana").await;
    let (yuki, _) = host(&server, "yuki").await;
    let mine = hana.schedule(&tuesday_standup()).await.unwrap().meeting;
    yuki.schedule(&tuesday_standup()).await.unwrap();

    let listed = hana.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].number, mine.number);
    assert!(
        yuki.list()
            .await
            .unwrap()
            .iter()
            .all(|m| m.number != mine.number)
    );
    // Another host cannot see, change or cancel it: it is simply not found.
    for result in [
        yuki.get(&mine.number).await.map(|_| ()),
        yuki.update(
            &mine.number,
            &MeetingUpdate {
                title: Some("hijacked".into()),
                ..MeetingUpdate::default()
            },
        )
        .await
        .map(|_| ()),
        yuki.cancel(&mine.number).await.map(|_| ()),
    ] {
        assert!(matches!(
            result,
            Err(AccountError::Refused { status: 404, .. })
        ));
    }
    assert_eq!(
        hana.get(&mine.number).await.unwrap().title,
        "Weekly stand-up"
    );
    let anonymous = Scheduler::new(&server.address(), &server.trust(), "not-a-token").unwrap();
    // A refused token asks to sign in again (not "wrong username or password").
    assert!(matches!(
        anonymous.list().await,
        Err(AccountError::SignInAgain)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_of_one_meeting_lose_nothing() {
    let server = TestServer::start().await;
    let (scheduler, _) = host(&server, "hana").await;
    let number = scheduler
        .schedule(&tuesday_standup())
        .await
        .unwrap()
        .meeting
        .number;

    // Six hosts' windows edit different fields at the same moment.
    let updates = vec![
        MeetingUpdate {
            title: Some("Renamed stand-up".into()),
            ..MeetingUpdate::default()
        },
        MeetingUpdate {
            lobby: Some(true),
            ..MeetingUpdate::default()
        },
        MeetingUpdate {
            require_sign_in: Some(true),
            ..MeetingUpdate::default()
        },
        MeetingUpdate {
            auto_lock_minutes: Some(Some(5)),
            ..MeetingUpdate::default()
        },
        MeetingUpdate {
            join_before_host: Some(true),
            ..MeetingUpdate::default()
        },
        MeetingUpdate {
            when: Some(When {
                duration_minutes: 45,
                ..tuesday_standup().when
            }),
            ..MeetingUpdate::default()
        },
    ];
    let scheduler = std::sync::Arc::new(scheduler);
    let mut tasks = Vec::new();
    for update in updates {
        let scheduler = scheduler.clone();
        let number = number.clone();
        tasks.push(tokio::spawn(async move {
            scheduler.update(&number, &update).await
        }));
    }
    let mut sequences = Vec::new();
    for task in tasks {
        sequences.push(task.await.unwrap().unwrap().meeting.sequence);
    }
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        vec![1, 2, 3, 4, 5, 6],
        "every edit gets its own sequence"
    );

    let meeting = scheduler.get(&number).await.unwrap();
    assert_eq!(meeting.title, "Renamed stand-up");
    assert!(meeting.options.lobby && meeting.options.require_sign_in);
    assert!(meeting.options.join_before_host);
    assert_eq!(meeting.options.auto_lock_minutes, Some(5));
    assert!(meeting.options.exclude_password_from_invitation);
    assert_eq!(meeting.when.duration_minutes, 45);
    assert_eq!(meeting.sequence, 6);

    // A conditional update based on an old sequence is refused instead of overwriting.
    let stale = MeetingUpdate {
        title: Some("stale view".into()),
        if_sequence: Some(3),
        ..MeetingUpdate::default()
    };
    assert!(matches!(
        scheduler.update(&number, &stale).await,
        Err(AccountError::Refused { status: 409, .. })
    ));
    assert_eq!(
        scheduler.get(&number).await.unwrap().title,
        "Renamed stand-up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_replaces_the_old_and_cancelling_refuses_joins() {
    let server = TestServer::start().await;
    let (scheduler, _) = host(&server, "hana").await;
    let response = scheduler.schedule(&tuesday_standup()).await.unwrap();
    let number = response.meeting.number.clone();
    let old_password = response.password.unwrap();

    let update = MeetingUpdate {
        regenerate_password: true,
        ..MeetingUpdate::default()
    };
    let updated = scheduler.update(&number, &update).await.unwrap();
    let new_password = updated.password.unwrap();
    assert_ne!(new_password, old_password);
    assert_eq!(
        updated.meeting.uid, response.meeting.uid,
        "the UID never changes"
    );
    assert_eq!(updated.meeting.sequence, 1);
    // A plain update does not hand the password out again.
    let renamed = MeetingUpdate {
        title: Some("Renamed".into()),
        ..MeetingUpdate::default()
    };
    assert!(
        scheduler
            .update(&number, &renamed)
            .await
            .unwrap()
            .password
            .is_none()
    );

    let mut with_old = server
        .guest_joins_with("Aiko", &number, Some(&old_password))
        .await;
    assert_eq!(join_error(&mut with_old).await, ErrorCode::WrongPassword);

    let cancelled = scheduler.cancel(&number).await.unwrap();
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.sequence, 3);
    assert_eq!(cancelled.uid, response.meeting.uid);
    assert!(matches!(
        scheduler.update(&number, &renamed).await,
        Err(AccountError::Refused { status: 410, .. })
    ));
    let mut late = server
        .guest_joins_with("Ben", &number, Some(&new_password))
        .await;
    assert_eq!(join_error(&mut late).await, ErrorCode::MeetingNotFound);
    assert!(
        late.snapshot().participant.is_none(),
        "a cancelled meeting lets nobody in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_meetings_survive_a_restart_with_their_options() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    let (scheduler, _) = host(&server, "hana").await;
    let mut request = tuesday_standup();
    request.options.require_sign_in = true;
    let response = scheduler.schedule(&request).await.unwrap();
    let password = response.password.unwrap();
    server.running.shutdown().await;

    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    let device = server.sign_in("hana", "long-host-password").await;
    let scheduler = Scheduler::new(&server.address(), &server.trust(), &device.token).unwrap();
    let listed = scheduler.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uid, response.meeting.uid);
    assert_eq!(listed[0].when, request.when);
    assert!(listed[0].options.require_sign_in);

    let meeting = created(&response.meeting.number, &password);
    let mut host_client = server.user_joins(device, &meeting).await;
    in_meeting(&mut host_client).await;
    let mut guest = server.guest_joins("Guest", &meeting).await;
    let refused = wait(&mut guest, "refused", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    assert_eq!(
        refused.phase,
        Some(Phase::Left(LeftReason::Denied(DenyReason::SignInRequired)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_for_all_keeps_the_scheduled_meeting_joinable() {
    let server = TestServer::start().await;
    let (scheduler, device) = host(&server, "hana").await;
    let response = scheduler.schedule(&tuesday_standup()).await.unwrap();
    let meeting = created(&response.meeting.number, &response.password.unwrap());
    let mut host_client = server.user_joins(device, &meeting).await;
    in_meeting(&mut host_client).await;
    host_client.send(conclave_protocol::ClientMessage::EndMeeting);
    wait(&mut host_client, "ended", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;

    // Next week's occurrence: the host and a guest meet again under the same number.
    let device = server.sign_in("hana", "long-host-password").await;
    let mut next_week = server.user_joins(device, &meeting).await;
    in_meeting(&mut next_week).await;
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut guest).await;
    assert!(!scheduler.get(&meeting.number).await.unwrap().cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_hosts_see_the_meeting_but_only_the_host_changes_it() {
    let server = TestServer::start().await;
    let (hana, _) = host(&server, "hana").await;
    let (yuki, _) = host(&server, "yuki").await;
    let (ken, _) = host(&server, "ken").await;
    let request = ScheduleRequest {
        co_hosts: vec!["yuki".into()],
        ..tuesday_standup()
    };
    let meeting = hana.schedule(&request).await.unwrap().meeting;
    assert_eq!(meeting.co_hosts, vec!["yuki".to_string()]);

    let seen = yuki.list().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].number, meeting.number);
    assert!(seen[0].viewer_is_co_host);
    assert_eq!(seen[0].host_name, "hana host");
    assert_eq!(yuki.get(&meeting.number).await.unwrap().uid, meeting.uid);
    assert!(
        ken.list().await.unwrap().is_empty(),
        "not listed to anyone else"
    );
    assert!(matches!(
        ken.get(&meeting.number).await,
        Err(AccountError::Refused { status: 404, .. })
    ));
    // A co-host reads; only the host writes.
    let rename = MeetingUpdate {
        title: Some("co-host edit".into()),
        ..MeetingUpdate::default()
    };
    assert!(matches!(
        yuki.update(&meeting.number, &rename).await,
        Err(AccountError::Refused { status: 404, .. })
    ));
    assert!(matches!(
        yuki.cancel(&meeting.number).await,
        Err(AccountError::Refused { status: 404, .. })
    ));
    // The host hands co-hosting to ken; yuki no longer sees it.
    let swap = MeetingUpdate {
        co_hosts: Some(vec!["ken".into()]),
        ..MeetingUpdate::default()
    };
    assert_eq!(
        hana.update(&meeting.number, &swap)
            .await
            .unwrap()
            .meeting
            .co_hosts,
        vec!["ken".to_string()]
    );
    assert!(yuki.list().await.unwrap().is_empty());
    assert_eq!(ken.list().await.unwrap().len(), 1);
    let unknown = ScheduleRequest {
        co_hosts: vec!["nobody".into()],
        ..tuesday_standup()
    };
    assert!(matches!(
        hana.schedule(&unknown).await,
        Err(AccountError::Refused { status: 400, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_co_host_joins_as_co_host_past_the_lobby_and_can_admit() {
    let server = TestServer::start().await;
    let (hana, hana_device) = host(&server, "hana").await;
    let (_, yuki_device) = host(&server, "yuki").await;
    let mut request = ScheduleRequest {
        co_hosts: vec!["yuki".into()],
        ..tuesday_standup()
    };
    request.options.lobby = true;
    let response = hana.schedule(&request).await.unwrap();
    let meeting = created(&response.meeting.number, &response.password.unwrap());

    let mut host_client = server.user_joins(hana_device, &meeting).await;
    in_meeting(&mut host_client).await;
    // The schedule's co-host is not kept in the lobby, and gets the co-host role.
    let mut yuki = server.user_joins(yuki_device, &meeting).await;
    let s = in_meeting(&mut yuki).await;
    assert_eq!(s.role, Some(conclave_protocol::Role::CoHost));
    // A guest waits; the co-host's signed admission lets them in.
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    wait(&mut guest, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    let s = wait(&mut yuki, "the co-host sees the knock", |s| {
        s.lobby.len() == 1
    })
    .await;
    yuki.send(conclave_protocol::ClientMessage::Admit {
        participant: s.lobby[0].participant,
        admission: None,
    });
    in_meeting(&mut guest).await;
}
