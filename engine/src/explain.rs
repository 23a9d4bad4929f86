//! `why`: a sentence built from the evidence of one decision, so a person can
//! check it — a value beyond everything its series had (a record), the fields
//! and tokens the baseline never had, the numeric fields
//! that left the baseline's range, how much more information the event carries
//! than a typical baseline event, and its nearest baseline event.

use std::fmt::Write;

use crate::encode::{NumSymbol, context};
use crate::memory::Memory;
use crate::model::Model;
use crate::novelty::{fnv, is_number, scan, slot_hash};
use crate::shape::SHAPE_FACTOR;
use crate::stored::Stored;
use crate::{Neighbour, Record};

const MAX_LISTED: usize = 4;

/// Evidence about one flagged event.
pub(crate) struct Evidence<'a> {
    pub event: &'a Stored,
    pub model: &'a Model,
    pub memory: &'a Memory,
    pub nearest: &'a [Neighbour],
    /// The event was a record of its series.
    pub record: Option<&'a Record>,
}

fn type_name(ty: u8) -> &'static str {
    match ty {
        b'"' => "a string",
        b'#' => "a number",
        b'{' => "an object",
        b'[' => "an array",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "another type",
    }
}

pub(crate) fn why(ev: &Evidence<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(r) = ev.record {
        parts.push(format!(
            "`{}` = {} is {} every earlier value of its series ({}–{} over {} events; record p = {:.2e})",
            r.path,
            num(r.value),
            if r.value > r.max { "above" } else { "below" },
            num(r.min),
            num(r.max),
            r.count,
            r.p_value()
        ));
    }
    let (vocab, mem) = (&ev.model.vocab, &ev.memory.vocab);
    let n_base = ev.model.baseline().len();
    let mut new_keys: Vec<&str> = Vec::new();
    let mut retyped: Vec<String> = Vec::new();
    let mut new_tokens: Vec<&str> = Vec::new();
    let mut new_values: Vec<String> = Vec::new();
    let punct = scan(
        &ev.event.encoded,
        |t| {
            if !vocab.knows_token(t) && !mem.knows_token(t) && !new_tokens.contains(&t) {
                new_tokens.push(t);
            }
        },
        |w, nth, v| {
            if is_number(v) && vocab.novel_value(mem, slot_hash(w, nth), fnv(v.as_bytes())) {
                let at = match (w, nth) {
                    ("", _) => String::new(),
                    (w, 0) => format!(" after `{w}`"),
                    (w, n) => format!(" in place {} after `{w}`", n + 1),
                };
                new_values.push(format!("`{v}`{at}"));
            }
        },
        |k, ty| {
            if vocab.knows_member(k, ty) || mem.knows_member(k, ty) {
                return;
            }
            if vocab.knows_key(k) || mem.knows_key(k) {
                retyped.push(format!("`{k}` is {}", type_name(ty)));
            } else if !new_keys.contains(&k) {
                new_keys.push(k);
            }
        },
    );
    new_tokens.retain(|t| !new_keys.contains(t));
    if !new_keys.is_empty() {
        parts.push(format!(
            "field{} {} never appeared in the {n_base} baseline events or the stream's memory",
            if new_keys.len() > 1 { "s" } else { "" },
            quote_list(&new_keys),
        ));
    }
    if !retyped.is_empty() {
        parts.push(format!(
            "{} where the baseline never had that type",
            retyped.join(", ")
        ));
    }

    for (path, v) in &ev.event.leaves {
        let Some((lo, hi)) =
            ev.model
                .profile
                .range_for((ev.event.context, ev.event.keyset), path, *v)
        else {
            continue;
        };
        match ev
            .model
            .profile
            .symbol((ev.event.context, ev.event.keyset), path, *v)
        {
            NumSymbol::Above(_) => parts.push(format!(
                "`{path}`{} = {} is above the baseline's range {}–{} ({:.1}× its maximum)",
                context::gloss(path),
                num(*v),
                num(lo),
                num(hi),
                if hi > 0.0 { v / hi } else { f64::INFINITY }
            )),
            NumSymbol::Below(_) => parts.push(format!(
                "`{path}`{} = {} is below the baseline's range {}–{}",
                context::gloss(path),
                num(*v),
                num(lo),
                num(hi)
            )),
            _ => {}
        }
    }

    if let Some((path, ratio)) = ev
        .model
        .shape()
        .judge(ev.event.context, ev.event.keyset, &ev.event.runs)
        .filter(|(_, r)| *r > SHAPE_FACTOR)
    {
        let n = ev
            .event
            .runs
            .fields
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(0, |(_, r)| r.len());
        parts.push(format!(
            "the last {n} values of `{path}` form a run unlike any in the baseline \
             ({ratio:.1}× farther from the nearest baseline run than the baseline's runs are from each other)"
        ));
    }

    if !new_tokens.is_empty() {
        parts.push(format!(
            "tokens never seen in the baseline or the stream's memory: {}",
            quote_list(&new_tokens)
        ));
    }
    let new_chars: Vec<String> = (0u8..128)
        .filter(|&b| punct & (1 << b) != 0)
        .filter(|&b| !vocab.knows_char(b) && !mem.knows_char(b))
        .map(|b| (b as char).to_string())
        .collect();
    if !new_chars.is_empty() {
        let shown: Vec<&str> = new_chars.iter().map(String::as_str).collect();
        parts.push(format!(
            "characters never seen in the baseline or the stream's memory: {}",
            quote_list(&shown)
        ));
    }
    if !new_values.is_empty() {
        new_values.truncate(MAX_LISTED);
        parts.push(format!(
            "{} where the baseline's values recur and never included it",
            new_values.join(", ")
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
            "; the nearest known event, #{}, is at NCD {:.2}",
            n.index, n.ncd
        );
    }
    s
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
