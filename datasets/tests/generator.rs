//! Properties of the synthetic generators: determinism, placement, and what each
//! anomaly kind looks like on each stream kind.

use std::collections::{BTreeMap, HashSet};

use driftlock_datasets::{AnomalyCount, AnomalyKind, GeneratorConfig, LabelledEvent, StreamKind};
use serde_json::Value;

fn generate(
    kind: StreamKind,
    events: u64,
    seed: u64,
    anomalies: &[AnomalyKind],
    count: u64,
) -> Vec<LabelledEvent> {
    GeneratorConfig::new(kind, events, seed)
        .with_anomalies(anomalies, AnomalyCount::Count(count))
        .build()
        .unwrap()
        .collect()
}

/// Maximal runs of consecutive events with the same label: (start, len, kind).
fn runs(events: &[LabelledEvent]) -> Vec<(usize, usize, AnomalyKind)> {
    let mut out: Vec<(usize, usize, AnomalyKind)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(k) = e.label {
            match out.last_mut() {
                Some((s, l, lk)) if *s + *l == i && *lk == k => *l += 1,
                _ => out.push((i, 1, k)),
            }
        }
    }
    out
}

/// The numeric field spikes and shifts act on, per stream kind.
fn main_numeric(kind: StreamKind, body: &Value) -> Option<f64> {
    let key = match kind {
        StreamKind::Traces => "duration_ms",
        _ => "latency_ms",
    };
    body.get(key)?.as_f64()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn same_seed_same_output_and_different_seed_differs() {
    for kind in StreamKind::SINGLE {
        let a = generate(kind, 2_000, 42, &AnomalyKind::ALL, 6);
        let b = generate(kind, 2_000, 42, &AnomalyKind::ALL, 6);
        assert_eq!(a, b);
        let c = generate(kind, 2_000, 43, &AnomalyKind::ALL, 6);
        assert_ne!(a, c);
    }
}

#[test]
fn anomalous_run_shares_normal_events_with_clean_run() {
    let clean: Vec<_> = GeneratorConfig::clean(StreamKind::Logs, 3_000, 9)
        .build()
        .unwrap()
        .collect();
    let dirty = generate(StreamKind::Logs, 3_000, 9, &AnomalyKind::ALL, 6);
    assert!(clean.iter().all(|e| e.label.is_none()));
    for (c, d) in clean.iter().zip(&dirty) {
        assert_eq!(c.timestamp, d.timestamp);
        if d.label.is_none() {
            assert_eq!(c.body, d.body);
        }
    }
}

#[test]
fn placement_and_spans_hold_for_every_stream_kind() {
    for kind in StreamKind::SINGLE {
        for seed in 0..3 {
            let events = generate(kind, 6_000, seed, &AnomalyKind::ALL, 18);
            let runs = runs(&events);
            assert_eq!(runs.len(), 18, "{kind:?}");
            assert!(runs[0].0 >= 600);
            for w in runs.windows(2) {
                assert!(w[1].0 >= w[0].0 + w[0].1 + 150, "{kind:?} gap {w:?}");
            }
            let mut per_kind: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
            for &(_, len, k) in &runs {
                let (lo, hi) = k.span();
                assert!(
                    (lo as usize..=hi as usize).contains(&len),
                    "{k} spans {len}"
                );
                *per_kind.entry(k).or_default() += 1;
            }
            assert!(per_kind.values().all(|&c| c == 3), "{per_kind:?}");
            for e in &events {
                assert!(e.body.is_object() && e.attributes.is_object());
                assert_eq!(e.stream_id, "svc-0");
            }
            for w in events.windows(2) {
                assert!(w[1].timestamp_ms > w[0].timestamp_ms);
            }
        }
    }
}

#[test]
fn spikes_and_shifts_leave_the_normal_range() {
    for kind in StreamKind::SINGLE {
        let events = generate(
            kind,
            20_000,
            5,
            &[AnomalyKind::NumericSpike, AnomalyKind::LevelShift],
            40,
        );
        // Normal range per context: span name for traces, HTTP method for logs
        // (spikes hit request templates), else the whole stream.
        let ctx = |e: &LabelledEvent| {
            let text = e
                .body
                .get("span")
                .or_else(|| e.body.get("msg"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match kind {
                StreamKind::Logs => text.split(' ').next().unwrap_or("").to_string(),
                _ => text.to_string(),
            }
        };
        let mut normal_max: BTreeMap<String, f64> = BTreeMap::new();
        for e in events.iter().filter(|e| e.label.is_none()) {
            if let Some(v) = main_numeric(kind, &e.body) {
                let m = normal_max.entry(ctx(e)).or_insert(0.0);
                *m = m.max(v);
            }
        }
        for e in events.iter().filter(|e| e.label.is_some()) {
            let v = main_numeric(kind, &e.body).unwrap_or_else(|| panic!("{kind:?}: {}", e.body));
            let max = normal_max[&ctx(e)];
            assert!(
                v > max,
                "{kind:?} {:?}: {v} not above normal max {max}",
                e.label
            );
        }
    }
}

#[test]
fn novel_messages_fields_and_errors_are_unseen_in_normal_mode() {
    for kind in StreamKind::SINGLE {
        let clean: Vec<_> = GeneratorConfig::clean(kind, 20_000, 1)
            .build()
            .unwrap()
            .collect();
        let normal_keys: HashSet<String> = clean.iter().flat_map(|e| keys(&e.body)).collect();
        let text = |e: &LabelledEvent| -> String {
            let mut parts: Vec<String> = [
                "msg",
                "span",
                "response",
                "error",
                "gc_cause",
                "mount_state",
                "thermal_zone",
            ]
            .iter()
            .filter_map(|k| e.body.get(*k).map(|v| v.to_string()))
            .collect();
            if let Some(m) = e.body.get("attrs").and_then(|a| a.get("error.message")) {
                parts.push(m.to_string());
            }
            parts.join("|")
        };
        let normal_texts: HashSet<String> = clean.iter().map(text).collect();
        let events = generate(
            kind,
            20_000,
            1,
            &[
                AnomalyKind::NovelMessage,
                AnomalyKind::NovelField,
                AnomalyKind::ErrorBurst,
                AnomalyKind::FormatChange,
            ],
            40,
        );
        for e in events.iter().filter(|e| e.label.is_some()) {
            match e.label.unwrap() {
                AnomalyKind::NovelField => {
                    let extra: Vec<_> = keys(&e.body)
                        .into_iter()
                        .filter(|k| !normal_keys.contains(k))
                        .collect();
                    assert_eq!(extra.len(), 1, "{kind:?}: {}", e.body);
                    let v = &e.body[&extra[0]];
                    assert!(v.is_object() || v.as_str().is_some_and(|s| s.len() >= 30));
                }
                AnomalyKind::FormatChange => {
                    let changed_keys = keys(&e.body).iter().any(|k| !normal_keys.contains(k));
                    let retyped = e
                        .body
                        .as_object()
                        .unwrap()
                        .values()
                        .any(|v| v.is_string() && v.as_str().unwrap().parse::<f64>().is_ok());
                    assert!(changed_keys || retyped, "{kind:?}: {}", e.body);
                }
                AnomalyKind::NovelMessage | AnomalyKind::ErrorBurst => {
                    // Volatile tokens make exact texts unique anyway; check the
                    // invariant part: the record differs from every normal shape.
                    let t = text(e);
                    assert!(!normal_texts.contains(&t), "{kind:?}: {t}");
                }
                _ => unreachable!(),
            }
        }
        let bursts = events
            .iter()
            .filter(|e| e.label == Some(AnomalyKind::ErrorBurst));
        for e in bursts {
            let b = &e.body;
            let is_error = b.get("level").is_some_and(|v| v == "ERROR")
                || b.get("status").is_some_and(|v| v == "error")
                || b.get("finish_reason").is_some_and(|v| v == "error")
                || b.get("up").is_some_and(|v| v == 0);
            assert!(is_error, "{kind:?}: {b}");
        }
    }
}

#[test]
fn log_error_burst_messages_never_appear_in_normal_logs() {
    // The constant part of a message: words without digits (volatile tokens
    // almost always contain one).
    let strip = |s: &str| {
        s.split(' ')
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let clean: Vec<_> = GeneratorConfig::clean(StreamKind::Logs, 50_000, 3)
        .build()
        .unwrap()
        .collect();
    let normal: HashSet<String> = clean
        .iter()
        .map(|e| strip(e.body["msg"].as_str().unwrap()))
        .collect();
    // 36 templates; an all-letter hex id now and then adds a variant.
    assert!(normal.len() < 200, "{}", normal.len());
    let events = generate(
        StreamKind::Logs,
        50_000,
        3,
        &[AnomalyKind::ErrorBurst, AnomalyKind::NovelMessage],
        60,
    );
    for e in events.iter().filter(|e| e.label.is_some()) {
        let m = e.body["msg"].as_str().unwrap();
        assert!(!normal.contains(&strip(m)), "{m}");
    }
}

#[test]
fn clean_mode_is_stationary() {
    // Two halves of a clean stream have similar template mixes and latency medians.
    let events: Vec<_> = GeneratorConfig::clean(StreamKind::Metrics, 20_000, 4)
        .build()
        .unwrap()
        .collect();
    let median = |es: &[LabelledEvent]| {
        let mut v: Vec<f64> = es
            .iter()
            .filter_map(|e| e.body.get("latency_ms")?.as_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = events.split_at(10_000);
    let (ma, mb) = (median(a), median(b));
    assert!((ma - mb).abs() / ma < 0.05, "{ma} vs {mb}");
}

#[test]
fn interleaved_streams_are_time_ordered_with_per_stream_rules() {
    let cfg = GeneratorConfig::new(StreamKind::Mixed, 40_000, 8)
        .with_anomalies(&AnomalyKind::ALL, AnomalyCount::Rate(0.004))
        .with_streams(4);
    let stream = cfg.build().unwrap();
    assert_eq!(stream.len(), 40_000);
    let planned = stream.anomaly_count();
    let events: Vec<_> = stream.collect();
    assert_eq!(events.len(), 40_000);
    for w in events.windows(2) {
        assert!(w[1].timestamp_ms >= w[0].timestamp_ms);
    }
    let mut total_runs = 0;
    for s in 0..4 {
        let id = format!("svc-{s}");
        let mine: Vec<_> = events
            .iter()
            .filter(|e| e.stream_id == id)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 10_000);
        let kinds: HashSet<_> = mine.iter().map(|e| e.kind).collect();
        assert_eq!(kinds.len(), 1);
        let r = runs(&mine);
        assert!(r[0].0 >= 600);
        total_runs += r.len();
    }
    assert_eq!(total_runs as u64, planned);
    assert_eq!(planned, 4 * 40);
}

#[test]
fn impossible_counts_are_reported() {
    let err = GeneratorConfig::new(StreamKind::Logs, 1_000, 1)
        .with_anomalies(&AnomalyKind::ALL, AnomalyCount::Count(20))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("need at least"), "{err}");
    let max: Vec<_> = GeneratorConfig::new(StreamKind::Logs, 3_000, 1)
        .with_anomalies(&[AnomalyKind::NumericSpike], AnomalyCount::Max)
        .build()
        .unwrap()
        .collect();
    // (3000 − 600 + 150) / 151 = 16 spikes fit.
    assert_eq!(runs(&max).len(), 16);
}
