//! MLS commit-and-process time for one Add and one Remove at 10, 100 and 1,000 members:
//! the committer builds and merges the commit, and one other member processes it. "At N"
//! means the add brings the group to N members and the remove starts from N.
//! Run: `cargo bench -p conclave-e2ee --bench mls`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use conclave_e2ee::group::{GroupMember, Incoming, validate_key_package};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const NOW: u64 = 1_800_000_000;

struct Pair {
    committer: GroupMember,
    observer: GroupMember,
}

fn group_of(size: usize) -> Pair {
    let mut committer = GroupMember::guest("host").unwrap();
    committer.create_group(b"bench", Vec::new()).unwrap();
    let observer = GroupMember::guest("observer").unwrap();
    let mut key_packages =
        vec![validate_key_package(&observer.key_package().unwrap(), None, NOW).unwrap()];
    for i in 2..size {
        let member = GroupMember::guest(&format!("member {i}")).unwrap();
        key_packages.push(validate_key_package(&member.key_package().unwrap(), None, NOW).unwrap());
    }
    let commit = committer.commit(key_packages, &[]).unwrap();
    committer.confirm_commit().unwrap();
    let mut observer = observer;
    observer.join(&commit.welcome.unwrap()).unwrap();
    assert_eq!(committer.member_count().unwrap(), size);
    Pair {
        committer,
        observer,
    }
}

/// Adds one member (timed or not), returning its leaf and the elapsed time.
fn add_one(pair: &mut Pair) -> (u32, Duration) {
    let joiner = GroupMember::guest("joiner").unwrap();
    let kp = validate_key_package(&joiner.key_package().unwrap(), None, NOW).unwrap();
    let start = Instant::now();
    let commit = pair.committer.commit(vec![kp], &[]).unwrap();
    let change = pair.committer.confirm_commit().unwrap();
    let processed = pair.observer.process(&commit.commit).unwrap();
    let elapsed = start.elapsed();
    assert!(matches!(processed, Incoming::Commit(_)));
    (change.added[0], elapsed)
}

fn remove_one(pair: &mut Pair, leaf: u32) -> Duration {
    let start = Instant::now();
    let commit = pair.committer.commit(Vec::new(), &[leaf]).unwrap();
    pair.committer.confirm_commit().unwrap();
    black_box(pair.observer.process(&commit.commit).unwrap());
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("mls commit+process");
    group.sample_size(10);
    for size in [10usize, 100, 1000] {
        // The add brings the group to `size` members; the remove takes it from `size`.
        let mut pair = group_of(size - 1);
        group.bench_with_input(BenchmarkId::new("add", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (leaf, elapsed) = add_one(&mut pair);
                    total += elapsed;
                    remove_one(&mut pair, leaf);
                }
                total
            });
        });
        group.bench_with_input(BenchmarkId::new("remove", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (leaf, _) = add_one(&mut pair);
                    total += remove_one(&mut pair, leaf);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(mls_benches, benches);
criterion_main!(mls_benches);
