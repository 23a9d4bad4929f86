//! News that a stream's clean lines bring as often as α (a new username on
//! many lines) is no evidence at α, and a field whose values are mostly
//! distinct single tokens is an identity, not a template; the same stream's
//! first new field, or a new word in its message, still is news.

mod common;

use common::{events, reported};
use driftlock_datasets::shapes::Shape;
use serde_json::json;

#[test]
fn new_usernames_are_routine_and_a_new_field_is_news() {
    let mut lines = Shape::Users.bodies(6_000, 1);
    lines[4_000]["error"] = json!("connection reset by peer");
    let flagged = reported(&events(lines), 1_000);
    assert!(flagged.contains(&4_000), "the new field was missed");
    // Many lines bring a username never seen before.
    assert!(
        flagged.len() <= 10,
        "{} lines flagged: {flagged:?}",
        flagged.len()
    );
}

#[test]
fn a_username_field_is_an_identity_and_a_new_message_beside_it_is_news() {
    let mut lines = Shape::Users.bodies(6_000, 2);
    lines[4_500]["message"] = json!("login refused");
    let flagged = reported(&events(lines), 1_000);
    assert_eq!(flagged.iter().copied().collect::<Vec<_>>(), [4_500]);
}
