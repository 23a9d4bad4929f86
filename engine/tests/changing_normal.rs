//! Logs whose normal changes: a template that keeps recurring becomes
//! normal, a rare one stays rare, and a new message's flags wait to see which
//! it is (see the engine's crate docs, "Held flags" and "Rolling baseline").

use driftlock_engine::{AnomalyKind, DetectorConfig, Event, StreamDetector};
use serde_json::json;

fn event_anomalies(events: &[Event]) -> Vec<u64> {
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    d.push(events)
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| a.index)
        .collect()
}

#[test]
fn a_new_template_that_keeps_recurring_becomes_normal_and_a_rare_one_stays_rare() {
    // From event 1,000 a new message is one line in five; a different new
    // message comes once every 300 lines.
    let events: Vec<Event> = (0..3_000u64)
        .map(|i| {
            let message = if i >= 1_000 && i % 5 == 0 {
                "cache warmed for shard".to_string()
            } else if i >= 1_000 && i % 300 == 7 {
                "ledger checksum mismatch, refusing commit".to_string()
            } else {
                ["GET /api/users ok", "POST /api/orders ok"][(i % 2) as usize].to_string()
            };
            Event {
                body: json!({ "message": message, "latency_ms": 20 + i * 7 % 30 }),
                ..Default::default()
            }
        })
        .collect();
    let found = event_anomalies(&events);
    let recurring = found.iter().filter(|&&i| i >= 1_000 && i % 5 == 0).count();
    let rare = found
        .iter()
        .filter(|&&i| i >= 1_000 && i % 300 == 7)
        .count();
    assert!(
        recurring <= 40,
        "the recurring template was flagged {recurring} times"
    );
    assert!(
        !found.iter().any(|&i| i >= 1_500 && i % 5 == 0),
        "still flagged after 500 events: {found:?}"
    );
    assert!(rare >= 6, "the rare message was flagged {rare} of 7 times");
}

#[test]
fn a_known_line_that_moved_becomes_normal_but_a_level_shift_stays_flagged() {
    // Three request lines; from event 1,000 the first is ten times slower.
    // From 2,000, the other two are forty times slower for thirty lines.
    let messages = [
        "GET /api/users ok",
        "POST /api/orders ok",
        "GET /api/items ok",
    ];
    let events: Vec<Event> = (0..3_000u64)
        .map(|i| {
            let base = 20 + i * 7 % 30;
            let latency = if (2_000..2_030).contains(&i) && i % 3 != 0 {
                base * 40
            } else if i >= 1_000 && i % 3 == 0 {
                base * 10
            } else {
                base
            };
            Event {
                body: json!({ "message": messages[(i % 3) as usize], "latency_ms": latency }),
                ..Default::default()
            }
        })
        .collect();
    let found = event_anomalies(&events);
    let moved: Vec<u64> = found
        .iter()
        .copied()
        .filter(|&i| (1_000..2_000).contains(&i))
        .collect();
    assert!(
        moved.len() <= 10,
        "the slower line was flagged {} times: {moved:?}",
        moved.len()
    );
    let shifted = found
        .iter()
        .filter(|&&i| (2_000..2_030).contains(&i) && i % 3 != 0)
        .count();
    assert!(
        shifted >= 18,
        "the level shift was flagged on {shifted} of 20 lines: {found:?}"
    );
}

#[test]
fn a_rare_template_slower_than_the_rest_is_not_flagged_each_time() {
    // One line in 700 is a slow nightly job: never 20 lines in a baseline,
    // so no numeric profile of its own, and none in the baseline the model
    // was built from when the next one comes: the stream's memory keeps its
    // range.
    let events: Vec<Event> = (0..14_000u64)
        .map(|i| {
            let body = if i % 700 == 3 {
                json!({ "message": "nightly compaction finished", "latency_ms": 400 + i * 13 % 200 })
            } else {
                let m = ["GET /api/users ok", "POST /api/orders ok"][(i % 2) as usize];
                json!({ "message": m, "latency_ms": 20 + i * 7 % 40 })
            };
            Event {
                body,
                ..Default::default()
            }
        })
        .collect();
    let found = event_anomalies(&events);
    let slow: Vec<u64> = found.iter().copied().filter(|i| i % 700 == 3).collect();
    assert!(
        slow.len() <= 2,
        "the nightly job was flagged {} of 20 times: {slow:?}",
        slow.len()
    );
    // A slow line ten times beyond its own range is still an anomaly.
    let mut spiked = events.clone();
    spiked[13_303].body["latency_ms"] = json!(6_000);
    assert!(event_anomalies(&spiked).contains(&13_303));
}

#[test]
fn a_new_message_that_recurs_is_never_reported_and_a_rare_one_is_reported_late() {
    // Request lines; from 1,000 a new message in the same shape every 90
    // lines (three within the baseline's span, never three within a
    // refresh interval); one other new message at 1,500; a fatal line (a
    // new level) at 2,000.
    let line = |i: u64| -> serde_json::Value {
        if i == 2_000 {
            json!({"level": "FATAL", "msg": "kernel panic in scheduler", "latency_ms": 30})
        } else if i == 1_500 {
            json!({"level": "INFO", "msg": "certificate rotated for gateway", "latency_ms": 30})
        } else if i >= 1_000 && i.is_multiple_of(90) {
            json!({"level": "INFO", "msg": "cache warmed for region", "latency_ms": 20 + i % 30})
        } else {
            json!({"level": "INFO", "msg": format!("GET /api/items/{} ok", i % 50), "latency_ms": 20 + i * 7 % 30})
        }
    };
    let events: Vec<Event> = (0..2_600u64)
        .map(|i| Event {
            body: line(i),
            ..Default::default()
        })
        .collect();
    let run_with = |chunk: usize, config: DetectorConfig| {
        let mut d = StreamDetector::new("s", config).unwrap();
        let mut found = Vec::new();
        for c in events.chunks(chunk) {
            found.extend(d.push(c).unwrap());
        }
        found.extend(d.settle());
        found
            .into_iter()
            .filter(|a| a.kind == AnomalyKind::Event)
            .map(|a| (a.index, a.reported_at, a.held_event))
            .collect::<Vec<_>>()
    };
    let run = |chunk: usize| run_with(chunk, DetectorConfig::default());
    let found = run(events.len());
    let warmed: Vec<u64> = found
        .iter()
        .map(|f| f.0)
        .filter(|&i| i >= 1_000 && i.is_multiple_of(90))
        .collect();
    assert!(
        warmed.is_empty(),
        "a recurring message was reported: {warmed:?}"
    );
    let rotated = found
        .iter()
        .find(|f| f.0 == 1_500)
        .expect("the rare message");
    let span = DetectorConfig::default().baseline_size as u64;
    assert_eq!(rotated.1, 1_500 + span + 1, "held for the baseline's span");
    let carried = rotated.2.as_ref().expect("it carries its event");
    assert_eq!(carried.body, line(1_500));
    let fatal = found.iter().find(|f| f.0 == 2_000).expect("the fatal line");
    assert_eq!(
        (fatal.1, fatal.2.is_none()),
        (2_000, true),
        "a new level is reported at once"
    );
    // Which flags wait and when they are reported does not depend on batching.
    assert_eq!(run(7), found);
    // Reported with their events, the recurring message's first lines are flagged.
    let at_once = run_with(
        events.len(),
        DetectorConfig {
            hold_new_templates: false,
            ..DetectorConfig::default()
        },
    );
    let first = at_once
        .iter()
        .filter(|f| f.0 >= 1_000 && f.0.is_multiple_of(90))
        .count();
    assert!(first >= 2, "{at_once:?}");
}

/// Event anomalies of a whole run, held flags settled at its end, as
/// (position, reported at).
fn settled(events: &[Event], config: DetectorConfig) -> Vec<(u64, u64)> {
    let mut d = StreamDetector::new("s", config).unwrap();
    let mut found = d.push(events).unwrap();
    found.extend(d.settle());
    found
        .into_iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| (a.index, a.reported_at))
        .collect()
}

/// Positions reported over a stream of `n` lines at the defaults, held
/// flags settled at its end.
fn reported(n: u64, line: impl Fn(u64) -> serde_json::Value) -> Vec<u64> {
    let events: Vec<Event> = (0..n)
        .map(|i| Event {
            body: line(i),
            ..Default::default()
        })
        .collect();
    settled(&events, DetectorConfig::default())
        .into_iter()
        .map(|f| f.0)
        .collect()
}

#[test]
fn a_new_service_is_news_in_words_but_a_new_alarm_level_is_reported_at_once() {
    // Two services; from 1,000 a third starts, with a message of its own
    // every 90 lines; at 2,000 a line of a known message at a new level.
    let line = |i: u64| -> serde_json::Value {
        if i == 2_000 {
            json!({"level": "ERROR", "service": "api", "msg": "GET /api/items/7 ok", "latency_ms": 30})
        } else if i >= 1_000 && i.is_multiple_of(90) {
            json!({"level": "INFO", "service": "auth", "msg": "token refreshed for client", "latency_ms": 20 + i % 30})
        } else {
            let service = ["api", "billing"][(i % 2) as usize];
            json!({"level": "INFO", "service": service, "msg": format!("GET /api/items/{} ok", i % 50), "latency_ms": 20 + i * 7 % 30})
        }
    };
    let events: Vec<Event> = (0..2_600u64)
        .map(|i| Event {
            body: line(i),
            ..Default::default()
        })
        .collect();
    let found = settled(&events, DetectorConfig::default());
    let auth: Vec<u64> = found
        .iter()
        .map(|f| f.0)
        .filter(|&i| i >= 1_000 && i.is_multiple_of(90))
        .collect();
    assert!(
        auth.is_empty(),
        "the new service's message was reported: {auth:?}"
    );
    assert!(found.contains(&(2_000, 2_000)), "the error line: {found:?}");
    // Held, not ignored: reported at once they are flags.
    let at_once = settled(
        &events,
        DetectorConfig {
            hold_new_templates: false,
            ..DetectorConfig::default()
        },
    );
    assert!(at_once.iter().any(|f| f.0 == 1_080), "{at_once:?}");
}

#[test]
fn a_held_message_that_recurs_unflagged_once_its_words_are_known_is_dropped() {
    // At 1,000 one line of a new message (its method never seen); from
    // 1,100 another message with that method recurs and becomes normal;
    // from 1,200 the first message recurs, its words all known by then.
    let line = |i: u64| -> serde_json::Value {
        let msg = if i == 1_000 || (i >= 1_200 && i.is_multiple_of(40)) {
            format!("POST /api/items/{} ok", i % 50)
        } else if i >= 1_100 && i % 30 == 10 {
            format!("POST /api/carts/{} ok", i % 50)
        } else {
            format!(
                "GET /api/{}/{} ok",
                ["items", "carts"][(i % 2) as usize],
                i % 50
            )
        };
        json!({"level": "INFO", "msg": msg, "latency_ms": 20 + i * 7 % 30})
    };
    let events: Vec<Event> = (0..2_000u64)
        .map(|i| Event {
            body: line(i),
            ..Default::default()
        })
        .collect();
    let found = settled(&events, DetectorConfig::default());
    assert!(
        !found.iter().any(|f| f.0 == 1_000),
        "the message recurred as normal, yet was reported: {found:?}"
    );
    let at_once = settled(
        &events,
        DetectorConfig {
            hold_new_templates: false,
            ..DetectorConfig::default()
        },
    );
    assert!(at_once.contains(&(1_000, 1_000)), "{at_once:?}");
}

#[test]
fn lines_raising_a_new_alarm_never_become_normal_by_recurring() {
    // Two known messages; three lines of one at level ERROR within a
    // refresh interval, then one of the other.
    let flips = [1_000, 1_030, 1_060, 1_500];
    let line = |i: u64| -> serde_json::Value {
        let level = if flips.contains(&i) { "ERROR" } else { "INFO" };
        let msg = if i == 1_500 || (i.is_multiple_of(3) && !flips.contains(&i)) {
            "cache warmed for region".to_string()
        } else {
            format!("GET /api/items/{} ok", i % 50)
        };
        json!({"level": level, "msg": msg, "latency_ms": 20 + i * 7 % 30})
    };
    let found = reported(2_000, line);
    for i in flips {
        assert!(found.contains(&i), "the error line at {i}: {found:?}");
    }
}

#[test]
fn a_spike_among_a_new_messages_first_lines_stays_an_anomaly() {
    // From 1,000 a new message every 30 lines at 20–29 ms; its second line
    // takes 1,500 ms, and so does the one at 1,500.
    let spikes = [1_050, 1_500];
    let line = |i: u64| -> serde_json::Value {
        if i >= 1_000 && i.is_multiple_of(30) {
            let ms = if spikes.contains(&i) {
                1_500
            } else {
                20 + i % 10
            };
            json!({"level": "INFO", "msg": "cache warmed for region", "latency_ms": ms})
        } else {
            json!({"level": "INFO", "msg": format!("GET /api/items/{} ok", i % 50), "latency_ms": 20 + i * 7 % 30})
        }
    };
    let found = reported(2_000, line);
    for i in spikes {
        assert!(found.contains(&i), "the spike at {i}: {found:?}");
    }
    let warmed: Vec<u64> = found
        .iter()
        .copied()
        .filter(|&i| i >= 1_000 && i.is_multiple_of(30) && !spikes.contains(&i))
        .collect();
    assert!(
        warmed.is_empty(),
        "the message's ordinary lines: {warmed:?}"
    );
}
