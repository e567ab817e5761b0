//! An in-process demo meeting: the host admits members in one batched commit, everybody sends
//! SFrame-encrypted 20 ms audio frames, one member is expelled and can no longer decrypt.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use conclave_e2ee::group::{GroupMember, Incoming, validate_key_package};
use conclave_e2ee::media_keys::{MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_protocol::identity::TrustState;
use serde::Serialize;

/// Options of `conclave-cli demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Members besides the host (2..=50).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=50))]
    members: u16,
    /// Audio frames each member sends per phase.
    #[arg(long, default_value_t = 50)]
    frames: u32,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Phase {
    phase: &'static str,
    epoch: u64,
    members: Vec<String>,
    verification_code: String,
    codes_agree: bool,
    frames_decrypted: u64,
    frames_refused: u64,
}

struct Participant {
    member: GroupMember,
    sender: Option<MediaSender>,
    receiver: Option<MediaReceiver>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the demo and prints each phase.
pub fn run(args: &DemoArgs) -> Result<()> {
    let config = MediaKeyConfig::default();
    let mut host = GroupMember::guest("Host")?;
    host.create_group(b"demo-meeting", Vec::new())?;
    let mut people = vec![Participant {
        member: host,
        sender: None,
        receiver: None,
    }];
    let mut joiners = Vec::new();
    for i in 1..=args.members {
        let name = format!("Guest {i}");
        joiners.push(Participant {
            member: GroupMember::guest(&name)?,
            sender: None,
            receiver: None,
        });
    }
    let key_packages = joiners
        .iter()
        .map(|p| validate_key_package(&p.member.key_package()?, None, unix_now()))
        .collect::<Result<Vec<_>, _>>()?;
    let commit = people[0].member.commit(key_packages, &[])?;
    people[0].member.confirm_commit()?;
    let welcome = commit.welcome.context("an Add commit carries a Welcome")?;
    for joiner in &mut joiners {
        joiner.member.join(&welcome)?;
    }
    people.extend(joiners);
    rekey_media(&mut people, config)?;
    let admitted = phase("everyone admitted", &mut people, args.frames)?;
    if !admitted.codes_agree || admitted.frames_refused != 0 {
        bail!("members disagree on the group state");
    }
    report(args, admitted);

    // The host expels the last member; the rest rekey, the expelled one keeps old keys only.
    let expelled = people.len() - 1;
    let leaf = people[expelled].member.own_leaf_index()?;
    let commit = people[0].member.commit(Vec::new(), &[leaf])?;
    people[0].member.confirm_commit()?;
    for person in people.iter_mut().skip(1) {
        if let Incoming::Commit(change) = person.member.process(&commit.commit)?
            && change.self_removed
        {
            person.sender = None;
        }
    }
    rekey_media(&mut people, config)?;
    let after = phase("after expelling the last guest", &mut people, args.frames)?;
    if !after.codes_agree || after.frames_refused == 0 {
        bail!("the expelled member should have been unable to decrypt");
    }
    report(args, after);
    Ok(())
}

fn rekey_media(people: &mut [Participant], config: MediaKeyConfig) -> Result<()> {
    let now = Instant::now();
    for person in people.iter_mut().filter(|p| p.member.in_group()) {
        let keys = person.member.epoch_keys()?;
        let leaf = person.member.own_leaf_index()?;
        match &mut person.sender {
            Some(sender) => sender.rekey(&keys, leaf)?,
            None => person.sender = Some(MediaSender::new(config, &keys, leaf)?),
        }
        match &mut person.receiver {
            Some(receiver) => receiver.install(keys, now),
            None => person.receiver = Some(MediaReceiver::new(config, keys)?),
        }
    }
    Ok(())
}

fn phase(name: &'static str, people: &mut [Participant], frames: u32) -> Result<Phase> {
    let active: Vec<usize> = (0..people.len())
        .filter(|i| people[*i].member.in_group())
        .collect();
    let codes: Vec<String> = active
        .iter()
        .map(|i| people[*i].member.verification_code().map(|c| c.to_string()))
        .collect::<Result<_, _>>()?;
    let roster = people[0].member.roster(None, unix_now())?;
    let members = roster
        .iter()
        .map(|entry| match &entry.trust {
            TrustState::VerifiedUser { display_name, .. } => format!("{display_name} (verified)"),
            other => format!("{} (unverified)", other.display_name().unwrap_or("unknown")),
        })
        .collect();
    let (mut decrypted, mut refused) = (0u64, 0u64);
    let mut wire = Vec::new();
    let mut out = Vec::new();
    let now = Instant::now();
    for _ in 0..frames {
        for from in &active {
            let Some(sender) = people[*from].sender.as_mut() else {
                continue;
            };
            // 20 ms of Opus at 32 kbit/s is about 80 bytes.
            let frame = sender.encrypt_into(&[], &[0u8; 80], &mut wire)?.to_vec();
            for (to, person) in people.iter_mut().enumerate() {
                if to == *from {
                    continue;
                }
                let Some(receiver) = person.receiver.as_mut() else {
                    continue;
                };
                match receiver.decrypt_into(&frame, 0, &mut out, now) {
                    Ok(_) => decrypted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
    }
    Ok(Phase {
        phase: name,
        epoch: people[0].member.epoch()?,
        members,
        codes_agree: codes.windows(2).all(|w| w[0] == w[1]),
        verification_code: codes.first().cloned().unwrap_or_default(),
        frames_decrypted: decrypted,
        frames_refused: refused,
    })
}

fn report(args: &DemoArgs, phase: Phase) {
    if args.json {
        if let Ok(line) = serde_json::to_string(&phase) {
            println!("{line}");
        }
        return;
    }
    println!("== {} (epoch {}) ==", phase.phase, phase.epoch);
    println!("  padlock: end-to-end encrypted (MLS + SFrame)");
    println!("  verification code: {}", phase.verification_code);
    println!(
        "  every member shows the same code: {}",
        if phase.codes_agree { "yes" } else { "NO" }
    );
    println!("  roster: {}", phase.members.join(", "));
    println!(
        "  audio frames decrypted: {}, refused: {}",
        phase.frames_decrypted, phase.frames_refused
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_meeting_agrees_on_codes_and_locks_out_the_expelled_member() {
        let args = DemoArgs {
            members: 3,
            frames: 5,
            json: true,
        };
        assert!(run(&args).is_ok());
    }
}
