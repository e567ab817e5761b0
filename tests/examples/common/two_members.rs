//! Shared by the load bots that need real MLS epoch keys for SFrame (included with `#[path]`;
//! a folder without `main.rs` is not an example of its own).

use conclave_e2ee::group::{GroupMember, validate_key_package};

/// A group of two: the first creates it and adds the second, who joins by the Welcome.
pub fn two_members(first: &str, second: &str) -> (GroupMember, GroupMember) {
    let mut creator = GroupMember::guest(first).expect("first member");
    creator
        .create_group(first.as_bytes(), Vec::new())
        .expect("group");
    let mut joiner = GroupMember::guest(second).expect("second member");
    let key_package = validate_key_package(
        &joiner.key_package().expect("key package"),
        None,
        1_800_000_000,
    )
    .expect("valid key package");
    let out = creator.commit(vec![key_package], &[]).expect("commit");
    creator.confirm_commit().expect("confirm");
    joiner
        .join(&out.welcome.expect("welcome"))
        .expect("join by the welcome");
    (creator, joiner)
}
