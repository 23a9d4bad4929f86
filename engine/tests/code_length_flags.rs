//! A flag whose only news is its code length (every token, member and number
//! known) is reported only when the event is farther from its nearest known
//! events than baseline events are from theirs. Free text, where every line
//! is as far from the rest, is not flagged at α of its lines. Counts that
//! fill quantile bins by themselves keep their bytes as their shares move,
//! so a stream's lines keep matching their own baseline's.

mod common;

use common::{events, reported};
use driftlock_datasets::shapes::Shape;

#[test]
fn free_text_of_known_words_is_not_flagged_at_alpha_of_its_lines() {
    let flagged = reported(&events(Shape::Text.bodies(6_000, 5)), 6_000);
    // At α = 0.05 about 280 of the 5,600 scored lines have p ≤ α.
    assert!(
        flagged.len() <= 3,
        "{} lines flagged: {flagged:?}",
        flagged.len()
    );
}

#[test]
fn counts_that_fill_bins_keep_their_encoding_as_their_shares_move() {
    // `read` is 1 or 3 in equal shares: the baseline's quantile edges are
    // half 1s and half 3s, one more of either as the shares move.
    let flagged = reported(&events(Shape::Sessions.bodies(3_000, 9)), 3_000);
    assert!(
        flagged.len() <= 3,
        "{} sessions flagged: {flagged:?}",
        flagged.len()
    );
}
