//! `why`: a sentence built from the evidence of one decision, so a person can
//! check it — the fields and tokens the baseline never had, the numeric fields
//! that left the baseline's range, how much more information the event carries
//! than a typical baseline event, and its nearest baseline event.

use std::collections::HashSet;
use std::fmt::Write;

use crate::Neighbour;
use crate::encode::NumSymbol;
use crate::model::{Model, Stored, key_names_of, tokens_of};

const MAX_LISTED: usize = 4;

/// Evidence about one flagged event.
pub(crate) struct Evidence<'a> {
    pub event: &'a Stored,
    pub model: &'a Model,
    pub baseline: &'a [&'a Stored],
    pub nearest: &'a [Neighbour],
}

pub(crate) fn why(ev: &Evidence<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    // Built per explanation, not per refresh: anomalies are rare, refreshes are not.
    let key_names: HashSet<&str> = ev
        .baseline
        .iter()
        .flat_map(|s| key_names_of(&s.encoded))
        .collect();
    let tokens: HashSet<&str> = ev
        .baseline
        .iter()
        .flat_map(|s| tokens_of(&s.encoded))
        .collect();

    let mut new_keys: Vec<&str> = key_names_of(&ev.event.encoded)
        .filter(|k| !key_names.contains(*k))
        .collect();
    new_keys.dedup();
    if !new_keys.is_empty() {
        parts.push(format!(
            "field{} {} never appeared in the {} baseline events",
            if new_keys.len() > 1 { "s" } else { "" },
            quote_list(&new_keys),
            ev.baseline.len()
        ));
    }

    for (path, v) in &ev.event.leaves {
        let Some((lo, hi)) = ev.model.profile.range(ev.event.context, path) else {
            continue;
        };
        match ev.model.profile.symbol(ev.event.context, path, *v) {
            NumSymbol::Above(_) => parts.push(format!(
                "`{path}` = {} is above the baseline's range {}–{} ({:.1}× its maximum)",
                num(*v),
                num(lo),
                num(hi),
                if hi > 0.0 { v / hi } else { f64::INFINITY }
            )),
            NumSymbol::Below(_) => parts.push(format!(
                "`{path}` = {} is below the baseline's range {}–{}",
                num(*v),
                num(lo),
                num(hi)
            )),
            _ => {}
        }
    }

    let mut new_tokens: Vec<&str> = tokens_of(&ev.event.encoded)
        .filter(|t| !tokens.contains(*t) && !new_keys.contains(t) && !t.starts_with('^'))
        .filter(|t| !is_excursion_token(t))
        .collect();
    new_tokens.dedup();
    if !new_tokens.is_empty() {
        parts.push(format!(
            "tokens never seen in the baseline: {}",
            quote_list(&new_tokens)
        ));
    }

    let typical = ev.model.typical_score().max(0.05);
    let ratio = ev.event.score / typical;
    let mut s = String::new();
    if parts.is_empty() {
        let _ = write!(
            s,
            "the event needs {:.2} bits/byte given the baseline, {:.1}× a typical baseline event ({:.2})",
            ev.event.score, ratio, typical
        );
    } else {
        s.push_str(&capitalise(&parts.join("; ")));
        let _ = write!(
            s,
            "; it needs {:.1}× the bits of a typical baseline event given the baseline",
            ratio
        );
    }
    if let Some(n) = ev.nearest.first() {
        let _ = write!(
            s,
            "; nearest baseline event #{} is at NCD {:.2}",
            n.index, n.ncd
        );
    }
    s
}

fn is_excursion_token(t: &str) -> bool {
    // Excursion tokens are long runs of random alphanumerics; they are reported
    // through the numeric range sentence instead.
    t.len() >= 10
        && t.bytes().all(|b| b.is_ascii_alphanumeric())
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes().any(|b| b.is_ascii_uppercase())
}

fn quote_list(items: &[&str]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(MAX_LISTED)
        .map(|s| format!("`{s}`"))
        .collect();
    let more = items.len().saturating_sub(MAX_LISTED);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
