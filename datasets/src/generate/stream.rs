//! The event iterator: one generator per stream, merged by timestamp.

use serde_json::{Map, Value, json};

use super::anomaly::{self, AnomalyKind};
use super::placement::{self, Placement, PlanSpec};
use super::{AnomalyCount, GeneratorConfig, LabelledEvent, Mode, Model, model_for};
use crate::error::{Error, Result};
use crate::rng::{Rng, mix};

/// Purposes mixed into seeds, so model set-up, placement and events never share
/// random numbers.
const SEED_MODEL: u64 = 1;
const SEED_PLAN: u64 = 2;
const SEED_EVENT: u64 = 3;

struct StreamGen {
    stream_id: String,
    model: Box<dyn Model>,
    event_seed: u64,
    events: u64,
    next: u64,
    ts_ms: i64,
    mean_interval_ms: f64,
    plan: Vec<Placement>,
    plan_idx: usize,
    attributes: Value,
}

impl StreamGen {
    fn next_event(&mut self) -> Option<LabelledEvent> {
        if self.next >= self.events {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let mut rng = Rng::new(mix(self.event_seed, &[i]));
        // At least 1 ms so timestamps are strictly increasing within a stream.
        self.ts_ms += (rng.exponential(self.mean_interval_ms).round() as i64).max(1);

        while self
            .plan
            .get(self.plan_idx)
            .is_some_and(|p| p.start + p.len <= i)
        {
            self.plan_idx += 1;
        }
        let active = self.plan.get(self.plan_idx).filter(|p| p.start <= i);
        let (body, label) = match active {
            None => (self.model.sample(&mut rng, Mode::Normal, self.ts_ms), None),
            Some(p) => (
                anomalous_body(self.model.as_ref(), p, &mut rng, self.ts_ms),
                Some(p.kind),
            ),
        };
        let mut timestamp = String::with_capacity(24);
        crate::time::push_rfc3339_ms(&mut timestamp, self.ts_ms);
        Some(LabelledEvent {
            stream_id: self.stream_id.clone(),
            timestamp,
            timestamp_ms: self.ts_ms,
            kind: self.model.kind(),
            body: Value::Object(body),
            attributes: self.attributes.clone(),
            label,
        })
    }
}

fn anomalous_body(
    model: &dyn Model,
    p: &Placement,
    rng: &mut Rng,
    ts_ms: i64,
) -> Map<String, Value> {
    match p.kind {
        AnomalyKind::NovelMessage => model.sample(rng, Mode::Novel(p.variant), ts_ms),
        AnomalyKind::NovelField => {
            let mut body = model.sample(rng, Mode::Normal, ts_ms);
            anomaly::add_novel_field(&mut body, p.variant, rng);
            body
        }
        AnomalyKind::NumericSpike => model.sample(rng, Mode::Spike(p.factor), ts_ms),
        AnomalyKind::LevelShift => model.sample(rng, Mode::Shift(p.factor), ts_ms),
        AnomalyKind::ErrorBurst => {
            let which = p.errors[rng.below(2) as usize];
            model.sample(rng, Mode::Error(which), ts_ms)
        }
        AnomalyKind::FormatChange => {
            let body = model.sample(rng, Mode::Numeric, ts_ms);
            anomaly::change_format(body, p.variant)
        }
    }
}

/// Iterator over the events of a [`GeneratorConfig`], merged across streams in
/// timestamp order (ties by stream number). Memory: one pending event per stream
/// plus the anomaly plan.
pub struct EventStream {
    gens: Vec<StreamGen>,
    heads: Vec<Option<LabelledEvent>>,
    remaining: u64,
    anomalies: u64,
}

impl EventStream {
    pub(crate) fn new(cfg: &GeneratorConfig) -> Result<EventStream> {
        if cfg.streams == 0 {
            return Err(Error::Config("streams must be at least 1".into()));
        }
        if !(cfg.mean_interval_ms.is_finite() && cfg.mean_interval_ms > 0.0) {
            return Err(Error::Config("mean_interval_ms must be positive".into()));
        }
        let n = cfg.streams as u64;
        let mut gens = Vec::with_capacity(cfg.streams);
        let mut anomalies = 0;
        for s in 0..cfg.streams {
            let si = s as u64;
            let events = cfg.events / n + u64::from(si < cfg.events % n);
            let kind = cfg.stream_kind.for_stream(s);
            // The kind is part of every seed: separate configs of different kinds
            // with one seed must not share tokens (ids, IPs) event for event.
            let k = kind as u64;
            let mut setup = Rng::new(mix(cfg.seed, &[SEED_MODEL, si, k]));
            let model = model_for(kind, &mut setup)?;
            let (count, clamp) = if cfg.is_clean() {
                (0, false)
            } else {
                match cfg.anomaly_count {
                    AnomalyCount::Count(c) => (c / n + u64::from(si < c % n), false),
                    AnomalyCount::Rate(r) => ((r.max(0.0) * events as f64).round() as u64, true),
                    AnomalyCount::Max => (u64::MAX / 4, true),
                }
            };
            // Cap "as many as fit" before building kind lists of that size.
            let count = if clamp {
                count.min(events / cfg.min_gap.max(1) + 1)
            } else {
                count
            };
            let plan = placement::plan(
                &PlanSpec {
                    events,
                    warmup: cfg.warmup,
                    min_gap: cfg.min_gap,
                    kinds: &cfg.anomalies,
                    count,
                    clamp,
                },
                &mut Rng::new(mix(cfg.seed, &[SEED_PLAN, si, k])),
            )
            .map_err(|e| match e {
                Error::Config(m) => Error::Config(format!("stream {s}: {m}")),
                other => other,
            })?;
            anomalies += plan.len() as u64;
            let attributes = json!({
                "env": *setup.pick(&["prod", "prod", "staging"]),
                "region": *setup.pick(&["eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1"]),
                "source": model.source(),
            });
            gens.push(StreamGen {
                stream_id: format!("{}-{s}", cfg.stream_id),
                model,
                event_seed: mix(cfg.seed, &[SEED_EVENT, si, k]),
                events,
                next: 0,
                ts_ms: cfg.start_ms,
                mean_interval_ms: cfg.mean_interval_ms,
                plan,
                plan_idx: 0,
                attributes,
            });
        }
        let heads = gens.iter_mut().map(StreamGen::next_event).collect();
        Ok(EventStream {
            gens,
            heads,
            remaining: cfg.events,
            anomalies,
        })
    }

    /// Number of injected anomalies (an error burst or level shift counts once).
    pub fn anomaly_count(&self) -> u64 {
        self.anomalies
    }

    /// The planned anomalies as (stream id, first event index within its stream,
    /// number of events, kind), for reports and tests.
    pub fn planned(&self) -> Vec<(String, u64, u64, AnomalyKind)> {
        self.gens
            .iter()
            .flat_map(|g| {
                g.plan
                    .iter()
                    .map(|p| (g.stream_id.clone(), p.start, p.len, p.kind))
            })
            .collect()
    }
}

impl Iterator for EventStream {
    type Item = LabelledEvent;

    fn next(&mut self) -> Option<LabelledEvent> {
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(e) = h
                && best
                    .is_none_or(|b| e.timestamp_ms < self.heads[b].as_ref().unwrap().timestamp_ms)
            {
                best = Some(i);
            }
        }
        let b = best?;
        let next = self.gens[b].next_event();
        self.remaining = self.remaining.saturating_sub(1);
        std::mem::replace(&mut self.heads[b], next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for EventStream {}
