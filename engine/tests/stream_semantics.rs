//! The stream semantics documented in the crate docs, checked on synthetic streams.

use std::collections::HashSet;

use driftlock_datasets::{GeneratorConfig, LabelledEvent, StreamKind};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, StreamDetector, StreamStatus};
use serde_json::json;

fn to_event(e: &LabelledEvent) -> Event {
    Event::from_json(e.to_json()).expect("generated events are valid events")
}

fn events_of(config: GeneratorConfig) -> Vec<Event> {
    config.build().unwrap().map(|e| to_event(&e)).collect()
}

fn clean(kind: StreamKind, n: u64, seed: u64) -> Vec<Event> {
    events_of(GeneratorConfig::clean(kind, n, seed))
}

/// `n` events of the generator's kind `kind`, with its default anomalies.
fn generated(kind: StreamKind, n: u64, seed: u64) -> Vec<Event> {
    events_of(GeneratorConfig::new(kind, n, seed))
}

/// `n` metric events `{"value": value(i)}`.
fn metric_stream(n: u64, value: impl Fn(u64) -> f64) -> Vec<Event> {
    (0..n)
        .map(|i| Event {
            kind: driftlock_engine::EventKind::Metric,
            body: json!({ "value": value(i) }),
            ..Default::default()
        })
        .collect()
}

/// Stream positions of the event anomalies a default detector reports.
/// The anomalies of one stream of these bodies at the defaults.
fn anomalies_of(bodies: impl Iterator<Item = serde_json::Value>) -> Vec<driftlock_engine::Anomaly> {
    let events: Vec<Event> = bodies
        .map(|body| Event {
            body,
            ..Default::default()
        })
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    d.push(&events).unwrap()
}

fn share_at_most(ps: &[(u64, f64)], alpha: f64) -> f64 {
    ps.iter().filter(|(_, p)| *p <= alpha).count() as f64 / ps.len() as f64
}

#[test]
fn p_values_are_calibrated_on_clean_streams() {
    // 21,400 events: 21,000 scored events and 2,096 window tests.
    let events = clean(StreamKind::Metrics, 21_400, 3);
    let mut d = StreamDetector::new("m", DetectorConfig::default()).unwrap();
    d.enable_diagnostics();
    d.push(&events).unwrap();
    let diag = d.take_diagnostics();
    assert!(
        diag.window_p.len() >= 2000,
        "{} windows",
        diag.window_p.len()
    );
    let event_share = share_at_most(&diag.event_p, 0.05);
    let window_share = share_at_most(&diag.window_p, 0.05);
    assert!(
        (0.03..=0.07).contains(&event_share),
        "event share {event_share}"
    );
    assert!(
        (0.03..=0.07).contains(&window_share),
        "window share {window_share}"
    );
    assert!(diag.event_p.iter().all(|(_, p)| *p > 0.0 && *p <= 1.0));
    assert!(diag.window_p.iter().all(|(_, p)| *p > 0.0 && *p <= 1.0));
}

#[test]
fn calibrating_status_counts_down_then_every_event_is_scored() {
    let events = clean(StreamKind::Logs, 700, 5);
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    d.enable_diagnostics();
    d.push(&events[..150]).unwrap();
    assert_eq!(d.status(), StreamStatus::Calibrating { events_needed: 250 });
    d.push(&events[150..400]).unwrap();
    assert_eq!(d.status(), StreamStatus::Ready);
    d.push(&events[400..]).unwrap();
    let diag = d.take_diagnostics();
    let scored: Vec<u64> = diag.event_p.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        scored,
        (400..700).collect::<Vec<u64>>(),
        "every event after calibration, the newest included"
    );
    assert_eq!(d.events_seen(), 700);
}

#[test]
fn a_short_first_baseline_scores_early_then_matches_a_full_one() {
    let events = clean(StreamKind::Metrics, 6_100, 11);
    let config = DetectorConfig {
        min_baseline_size: 100,
        ..Default::default()
    };
    let mut d = StreamDetector::new("m", config.clone()).unwrap();
    d.enable_diagnostics();
    d.push(&events[..60]).unwrap();
    assert_eq!(d.status(), StreamStatus::Calibrating { events_needed: 40 });
    d.push(&events[60..100]).unwrap();
    assert_eq!(d.status(), StreamStatus::Ready);
    let a = d.push(&events[100..]).unwrap();
    let diag = d.take_diagnostics();
    let scored: Vec<u64> = diag.event_p.iter().map(|(i, _)| *i).collect();
    assert_eq!(scored, (100..6_100).collect::<Vec<u64>>());
    // Once the stream has seen a full baseline it is rebuilt from those
    // events, so from there on the p-values are those of a stream that waited.
    let mut waited = StreamDetector::new("m", DetectorConfig::default()).unwrap();
    waited.enable_diagnostics();
    let b = waited.push(&events).unwrap();
    let full = waited.take_diagnostics();
    let after = |ps: &[(u64, f64)]| -> Vec<(u64, f64)> {
        ps.iter().filter(|(i, _)| *i >= 400).copied().collect()
    };
    assert_eq!(after(&diag.event_p), after(&full.event_p));
    let share = share_at_most(&diag.event_p, 0.05);
    assert!((0.03..=0.07).contains(&share), "event share {share}");
    let late = |found: &[driftlock_engine::Anomaly]| -> Vec<u64> {
        found
            .iter()
            .filter(|x| x.index >= 400)
            .map(|x| x.index)
            .collect()
    };
    assert_eq!(late(&a), late(&b));
    // The early scores and the rebuild follow stream positions, not batches
    // or restarts.
    let mut split = StreamDetector::new("m", config).unwrap();
    let mut c = Vec::new();
    for chunk in events.chunks(13).take(50) {
        c.extend(split.push(chunk).unwrap());
    }
    let json = serde_json::to_string(&split).unwrap();
    let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
    c.extend(restored.push(&events[650..]).unwrap());
    assert_eq!(a, c, "batches of 13, then a restored detector");
}

#[test]
fn batch_split_and_reruns_give_identical_anomalies() {
    let events = generated(StreamKind::Logs, 2500, 9);
    let config = DetectorConfig {
        seed: 42,
        ..Default::default()
    };
    let mut whole = StreamDetector::new("s", config.clone()).unwrap();
    let a = whole.push(&events).unwrap();
    let mut split = StreamDetector::new("s", config.clone()).unwrap();
    let mut b = Vec::new();
    for chunk in events.chunks(7) {
        b.extend(split.push(chunk).unwrap());
    }
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "sending 7 at a time must give the same anomalies as one batch"
    );
    // A detector restored from its serialised state continues identically.
    let mut first = StreamDetector::new("s", config).unwrap();
    let mut c = first.push(&events[..1200]).unwrap();
    let json = serde_json::to_string(&first).unwrap();
    let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
    c.extend(restored.push(&events[1200..]).unwrap());
    assert_eq!(a, c, "a restored detector gives the same answers");
}

#[test]
fn each_event_is_reported_at_most_once() {
    let events = generated(StreamKind::Llm, 3000, 4);
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let found = d.push(&events).unwrap();
    let events_only: Vec<u64> = found
        .iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| a.index)
        .collect();
    let unique: HashSet<u64> = events_only.iter().copied().collect();
    assert_eq!(unique.len(), events_only.len());
    for a in &found {
        assert!(a.metrics.p_value > 0.0 && a.metrics.p_value <= 0.05);
        assert!((a.metrics.confidence - (1.0 - a.metrics.p_value)).abs() < 1e-12);
        assert!(!a.why.is_empty() && a.compressor == "zstd" && a.baseline_digest.len() == 64);
    }
}

#[test]
fn a_sustained_change_is_reported_once_and_becomes_the_new_baseline() {
    let normal = |i: u64| Event {
        body: json!({"level": "INFO", "msg": format!("GET /api/orders/{} 200", i % 13), "latency_ms": 20 + (i * 7919) % 40}),
        ..Default::default()
    };
    let changed = |i: u64| Event {
        body: json!({"level": "WARN", "msg": format!("retrying upstream payment-gateway attempt {}", i % 3), "backoff_ms": 500 + (i * 31) % 100}),
        ..Default::default()
    };
    let events: Vec<Event> = (0..600)
        .map(normal)
        .chain((600..1400).map(changed))
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let found = d.push(&events).unwrap();
    let change_points: Vec<_> = found
        .iter()
        .filter(|a| a.kind == AnomalyKind::ChangePoint)
        .collect();
    assert_eq!(change_points.len(), 1, "{found:#?}");
    let cp = change_points[0];
    assert!((600..700).contains(&cp.index));
    // Reported by the event that completed a window of mostly anomalous
    // events: after the first of them, within one window of it.
    let window = DetectorConfig::default().window_size as u64;
    assert!(
        cp.reported_at > cp.index && cp.reported_at < cp.index + window,
        "index {} reported at {}",
        cp.index,
        cp.reported_at
    );
    // An event anomaly is reported with its event, unless it is a new
    // template's held flag: those still waiting are reported at the change.
    for a in found.iter().filter(|a| a.kind == AnomalyKind::Event) {
        match &a.held_event {
            None => assert_eq!(a.reported_at, a.index),
            Some(_) => assert!(
                a.reported_at > a.index && a.reported_at <= cp.reported_at.max(a.index + 100),
                "held from {} to {}",
                a.index,
                a.reported_at
            ),
        }
    }
    let late = found.iter().filter(|a| a.index >= 1000).count();
    assert_eq!(late, 0, "the new normal must stop alarming");
    assert!(
        found
            .iter()
            .filter(|a| a.kind == AnomalyKind::Event)
            .all(|a| a.index >= 600)
    );
    // Saved just after the rebuild and just before the next model refresh,
    // a detector reads back to the same answers.
    for cut in [cp.reported_at as usize + 1, cp.reported_at as usize + 99] {
        let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
        let mut again = d.push(&events[..cut]).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
        again.extend(restored.push(&events[cut..]).unwrap());
        assert_eq!(again, found, "restored at {cut}");
    }
}

#[test]
fn the_same_seed_gives_the_same_p_values_and_another_seed_differs() {
    let events = clean(StreamKind::Traces, 1200, 8);
    let run = |seed| {
        let mut d = StreamDetector::new(
            "t",
            DetectorConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        d.enable_diagnostics();
        d.push(&events).unwrap();
        d.take_diagnostics()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).event_p, run(2).event_p);
}

#[test]
fn bodies_given_as_text_change_no_answer_and_no_state() {
    // A change point rebuilds the baseline from the kept bodies, so the
    // texts are read back too.
    let body = |i: u64| {
        if (600..1400).contains(&i) {
            json!({"level": "WARN", "msg": format!("retrying upstream attempt {}", i % 3), "backoff_ms": 500 + (i * 31) % 100})
        } else if i % 211 == 100 {
            json!({"level": "FATAL", "msg": format!("disk {i} failed: kernel panic")})
        } else {
            json!({"level": "INFO", "msg": format!("GET /api/orders/{} 200", i % 13), "latency_ms": 20 + (i * 7919) % 40})
        }
    };
    let events: Vec<Event> = (0..1600)
        .map(|i| Event {
            body: body(i),
            ..Default::default()
        })
        .collect();
    // Any text that parses to the body will do, not only the compact form;
    // some events come without one.
    let texts: Vec<Option<String>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (i % 5 != 0).then(|| serde_json::to_string_pretty(&e.body).unwrap()))
        .collect();
    let cpu = driftlock_kernels::CpuBackend::new();
    let run = |with_texts: bool| {
        let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
        let mut found = Vec::new();
        for (ev, tx) in events.chunks(97).zip(texts.chunks(97)) {
            let tx = if with_texts { tx } else { &[] };
            found.extend(d.push_parsed(ev, tx, &cpu).unwrap());
        }
        (found, serde_json::to_string(&d).unwrap())
    };
    let (plain, plain_state) = run(false);
    let (texted, texted_state) = run(true);
    assert!(
        plain.iter().any(|a| a.kind == AnomalyKind::ChangePoint),
        "the stream must rebuild its baseline"
    );
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        serde_json::to_value(&texted).unwrap()
    );
    assert_eq!(plain_state, texted_state);
}

#[test]
fn a_recurring_anomaly_names_the_one_it_repeats() {
    // A calm metric with the same spike (500) every 300 events, then once a
    // spike ten times larger.
    let value = |i: u64| match i {
        2100 => 5000.0,
        i if i >= 600 && i % 300 == 0 => 500.0,
        i => 50.0 + ((i * 7919) % 17) as f64 * 0.5,
    };
    let events = metric_stream(2400, value);
    let mut d = StreamDetector::new("m", DetectorConfig::default()).unwrap();
    let found = d.push(&events).unwrap();
    let spike = |i| found.iter().find(|a| a.index == i).expect("spike flagged");
    for i in [900u64, 1200, 1500, 1800] {
        let a = spike(i);
        let r = a.recurs.expect("an earlier spike to compare with");
        assert_eq!(value(r.index), 500.0, "#{i} resembles #{}", r.index);
        assert!(r.distance < 0.01, "#{i}: {}", r.distance);
        assert!(
            a.why.contains(&format!("resembles anomaly #{}", r.index)),
            "{}",
            a.why
        );
    }
    let big = spike(2100);
    let r = big.recurs.expect("compared");
    // 4,500 more than the earlier spikes, over a range stretched to 5,000.
    assert!(r.distance > 0.8, "{}", r.distance);
    assert!(!big.why.contains("resembles anomaly"), "{}", big.why);
}

#[test]
fn a_new_all_time_high_is_a_record_only_when_asked() {
    // A calm metric (10–49) with a spike to 300 every 50 events: 340 at
    // #2000 is the highest value the stream has had, but on the baseline's
    // log scale it is no farther out than the spikes it already knows.
    let value = |i: u64| match i {
        2000 => 340.0,
        2300 => 330.0,
        i if i % 50 == 0 => 300.0,
        i => 10.0 + ((i * 7919) % 40) as f64,
    };
    let events = metric_stream(2400, value);
    let plain = StreamDetector::new("m", DetectorConfig::default())
        .unwrap()
        .push(&events)
        .unwrap();
    assert!(plain.iter().all(|a| a.index != 2000 && a.record.is_none()));

    let config = DetectorConfig {
        record_margin: Some(0.05),
        ..Default::default()
    };
    let found = StreamDetector::new("m", config.clone())
        .unwrap()
        .push(&events)
        .unwrap();
    let records: Vec<_> = found.iter().filter(|a| a.record.is_some()).collect();
    assert_eq!(records.len(), 1, "only #2000 is a record: {records:?}");
    let a = records[0];
    assert_eq!(a.index, 2000);
    let r = a.record.as_ref().unwrap();
    assert_eq!((r.min, r.max, r.count), (10.0, 300.0, 2000));
    assert!(a.metrics.p_value <= 2.0 / 2001.0, "{}", a.metrics.p_value);
    assert!(
        a.why.starts_with(
            "`value` = 340 is above every earlier value of its series (10–300 over 2000 events"
        ),
        "{}",
        a.why
    );

    // Records are kept in order, whatever the batching, and in saved state.
    let mut split = StreamDetector::new("m", config.clone()).unwrap();
    let mut b = Vec::new();
    for chunk in events[..1500].chunks(7) {
        b.extend(split.push(chunk).unwrap());
    }
    let json = serde_json::to_string(&split).unwrap();
    let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
    b.extend(restored.push(&events[1500..]).unwrap());
    assert_eq!(found, b);
}

#[test]
fn a_saved_detector_writes_its_baseline_once() {
    let events = generated(StreamKind::Logs, 2000, 5);
    let config = DetectorConfig::default();
    let mut whole = StreamDetector::new("s", config.clone()).unwrap();
    let all = whole.push(&events).unwrap();
    // Mid-way between two model builds, so the baseline has moved on from the
    // model's: it shares part of it and has events of its own.
    let mut first = StreamDetector::new("s", config.clone()).unwrap();
    let mut found = first.push(&events[..1250]).unwrap();
    let json = serde_json::to_string(&first).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&json).unwrap();
    let from = saved["baseline_pool_from"]
        .as_u64()
        .expect("the baseline shares the model's") as usize;
    let tail = saved["baseline"].as_array().unwrap();
    let model_len = saved["model"]["baseline_len"].as_u64().unwrap() as usize;
    assert!(
        from > 0 && !tail.is_empty(),
        "from {from}, tail {}",
        tail.len()
    );
    assert_eq!(model_len - from + tail.len(), config.baseline_size);

    let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
    found.extend(restored.push(&events[1250..]).unwrap());
    assert_eq!(all, found, "a restored detector gives the same answers");

    let mut corrupt = saved;
    corrupt["baseline_pool_from"] = json!(model_len + 1);
    let err = serde_json::from_value::<StreamDetector>(corrupt).unwrap_err();
    assert!(err.to_string().contains("baseline_pool_from"), "{err}");
}

#[test]
fn the_most_extreme_anomaly_gets_the_smallest_p_value() {
    // Three streams alike but for one event at position 600, each beyond
    // every baseline event by more than the last: their p-values follow how
    // far beyond they are, not the tie-breaker's draw at that position.
    let p_at_600 = |latency: f64| {
        let events: Vec<Event> = (0..700u64)
            .map(|i| Event {
                body: json!({
                    "message": "GET /api/users 200",
                    "latency_ms": if i == 600 { latency } else { 20.0 + (i * 37 % 41) as f64 },
                }),
                ..Default::default()
            })
            .collect();
        let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
        d.enable_diagnostics();
        d.push(&events).unwrap();
        let diag = d.take_diagnostics();
        diag.event_p.iter().find(|(i, _)| *i == 600).unwrap().1
    };
    let ps: Vec<f64> = [400.0, 5_000.0, 1e6].map(p_at_600).to_vec();
    let floor = 1.0 / 401.0;
    assert!(ps.iter().all(|&p| p > 0.0 && p <= floor), "{ps:?}");
    assert!(ps.windows(2).all(|w| w[1] < w[0]), "{ps:?}");
}

#[test]
fn a_changed_status_inside_the_message_is_flagged_and_named() {
    // The message's `200` never varied; one `500` is evidence, named in `why`,
    // while the latency inside the text, which always varies, is not.
    let events: Vec<Event> = (0..700u64)
        .map(|i| {
            let status = if i == 600 { 500 } else { 200 };
            let ms = 20 + (i * 37 % 41);
            Event {
                body: json!({
                    "message": format!("GET /api/users {status} in {ms}ms"),
                    "latency_ms": ms,
                }),
                ..Default::default()
            }
        })
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let found = d.push(&events).unwrap();
    let at_600: Vec<_> = found.iter().filter(|a| a.index == 600).collect();
    assert_eq!(at_600.len(), 1, "{found:#?}");
    assert!(
        at_600[0].why.contains("`500` after `users`"),
        "{}",
        at_600[0].why
    );
    assert!(
        found.iter().all(|a| a.index == 600 || a.index < 400),
        "only the changed status: {:?}",
        found.iter().map(|a| (a.index, &a.why)).collect::<Vec<_>>()
    );
}

#[test]
fn a_latency_well_past_a_hard_top_is_flagged_though_below_twice_it() {
    // Latencies spread over 20–60 ms for hundreds of lines; 100 at 600 is
    // 1.7× the maximum, 62 at 650 is the next value.
    let found = anomalies_of((0..700u64).map(|i| {
        let ms = match i {
            600 => 100,
            650 => 62,
            _ => 20 + (i * 37 % 41),
        };
        json!({"message": "GET /api/users 200", "latency_ms": ms})
    }));
    let hit = found.iter().find(|a| a.index == 600);
    let hit = hit.unwrap_or_else(|| panic!("not flagged: {found:#?}"));
    assert!(
        hit.why.contains("`latency_ms` = 100 is above"),
        "{}",
        hit.why
    );
    assert!(
        found.iter().all(|a| a.index != 650),
        "62 is no anomaly: {found:#?}"
    );
}

#[test]
fn a_quote_injected_into_a_path_is_flagged_and_named() {
    // A mixed stream at level info; one path carries `' OR '1'='1`. Its words
    // are short or known, so the evidence is the quote no line had.
    let routes = ["/api/users", "/api/orders", "/api/items"];
    let found = anomalies_of((0..700u64).map(|i| {
        let path = if i == 600 {
            "/api/users?id=1' OR '1'='1".to_string()
        } else {
            format!("{}?id={}", routes[(i % 3) as usize], i % 97)
        };
        json!({
            "level": "info",
            "message": format!("GET {path} 200 in {}ms", 20 + (i * 37 % 41)),
        })
    }));
    let hit = found.iter().find(|a| a.index == 600);
    let hit = hit.unwrap_or_else(|| panic!("not flagged: {found:#?}"));
    assert!(
        hit.why.to_lowercase().contains("characters never seen"),
        "{}",
        hit.why
    );
    assert!(hit.why.contains("`'`"), "{}", hit.why);
}

#[test]
fn without_early_stopping_window_p_values_are_resolved_to_every_permutation() {
    let events = clean(StreamKind::Logs, 900, 4);
    let run = |early_stop: bool| {
        let config = DetectorConfig {
            early_stop,
            permutation_count: 2_000,
            ..Default::default()
        };
        let mut d = StreamDetector::new("s", config).unwrap();
        d.enable_diagnostics();
        d.push(&events).unwrap();
        d.take_diagnostics().window_p
    };
    let (stopped, exact) = (run(true), run(false));
    assert_eq!(stopped.len(), exact.len());
    // Exact p-values are multiples of 1/2001; early-stopped null windows
    // mostly stop at 16 exceedances, well short of 2,000 permutations.
    let on_grid = |p: f64| ((p * 2_001.0).round() - p * 2_001.0).abs() < 1e-6;
    assert!(exact.iter().all(|(_, p)| on_grid(*p)), "{exact:?}");
    assert!(stopped.iter().any(|(_, p)| !on_grid(*p)), "{stopped:?}");
    let json = serde_json::to_value(DetectorConfig::default()).unwrap();
    assert!(json.get("early_stop").is_none(), "{json}");
}
