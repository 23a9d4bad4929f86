//! The detector behind each stream, as a trait object so that the service can
//! be exercised with a deterministic stand-in ([`ScriptedDetectors`]) as well as
//! the engine's [`StreamDetector`] ([`EngineDetectors`], the default).

use std::sync::Arc;

use driftlock_engine::{
    Anomaly, AnomalyKind, DetectorConfig, EngineError, Event, Metrics, Neighbour, StreamDetector,
    StreamStatus,
};
use serde::{Deserialize, Serialize};

/// One stream's detector.
pub trait Detector: Send {
    /// Scores `events` in order; anomalies carry stream positions.
    fn push(&mut self, events: &[Event]) -> Result<Vec<Anomaly>, EngineError>;
    fn status(&self) -> StreamStatus;
    /// The whole state, as JSON, to persist.
    fn save(&self) -> Result<String, serde_json::Error>;
}

/// Creates and restores detectors.
pub trait DetectorFactory: Send + Sync + 'static {
    fn create(
        &self,
        stream_id: &str,
        config: &DetectorConfig,
    ) -> Result<Box<dyn Detector>, EngineError>;
    fn load(&self, state: &str) -> Result<Box<dyn Detector>, EngineError>;
}

pub type SharedFactory = Arc<dyn DetectorFactory>;

/// The engine's detector.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineDetectors;

struct Engine(StreamDetector);

impl Detector for Engine {
    fn push(&mut self, events: &[Event]) -> Result<Vec<Anomaly>, EngineError> {
        self.0.push(events)
    }
    fn status(&self) -> StreamStatus {
        self.0.status()
    }
    fn save(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.0)
    }
}

impl DetectorFactory for EngineDetectors {
    fn create(
        &self,
        stream_id: &str,
        config: &DetectorConfig,
    ) -> Result<Box<dyn Detector>, EngineError> {
        Ok(Box::new(Engine(StreamDetector::new(
            stream_id,
            config.clone(),
        )?)))
    }
    fn load(&self, state: &str) -> Result<Box<dyn Detector>, EngineError> {
        let d: StreamDetector =
            serde_json::from_str(state).map_err(|e| EngineError::State(e.to_string()))?;
        Ok(Box::new(Engine(d)))
    }
}

/// A deterministic stand-in for tests: calibrates on `baseline_size` events,
/// then flags every event whose body mentions `ANOMALY`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScriptedDetectors;

#[derive(Debug, Serialize, Deserialize)]
struct Scripted {
    stream_id: String,
    config: DetectorConfig,
    seen: u64,
}

impl Detector for Scripted {
    fn push(&mut self, events: &[Event]) -> Result<Vec<Anomaly>, EngineError> {
        let mut out = Vec::new();
        for e in events {
            let position = self.seen;
            self.seen += 1;
            let body = e.body.to_string();
            if position >= self.config.baseline_size as u64 && body.contains("ANOMALY") {
                let p = 1.0 / (self.config.permutation_count as f64 + 1.0);
                out.push(Anomaly {
                    stream_id: self.stream_id.clone(),
                    index: position,
                    timestamp: e.timestamp.clone(),
                    kind: AnomalyKind::Event,
                    metrics: Metrics {
                        ncd: 0.9,
                        compression_ratio: 1.5,
                        entropy_change: 0.2,
                        p_value: p,
                        confidence: 1.0 - p,
                    },
                    window_p_value: Some(p),
                    why: "scripted: body mentions ANOMALY".into(),
                    compressor: self.config.compressor.effective().as_str().into(),
                    encoded: body,
                    nearest: vec![Neighbour {
                        index: position.saturating_sub(1),
                        ncd: 0.9,
                        encoded: "{}".into(),
                    }],
                    baseline_digest: format!("{:064x}", position),
                    reported_at: position,
                    recurs: None,
                    record: None,
                    incident: None,
                    held_event: None,
                });
            }
        }
        Ok(out)
    }
    fn status(&self) -> StreamStatus {
        let b = self.config.baseline_size as u64;
        if self.seen < b {
            StreamStatus::Calibrating {
                events_needed: (b - self.seen) as usize,
            }
        } else {
            StreamStatus::Ready
        }
    }
    fn save(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl DetectorFactory for ScriptedDetectors {
    fn create(
        &self,
        stream_id: &str,
        config: &DetectorConfig,
    ) -> Result<Box<dyn Detector>, EngineError> {
        config.validate()?;
        Ok(Box::new(Scripted {
            stream_id: stream_id.into(),
            config: config.clone(),
            seen: 0,
        }))
    }
    fn load(&self, state: &str) -> Result<Box<dyn Detector>, EngineError> {
        let d: Scripted =
            serde_json::from_str(state).map_err(|e| EngineError::State(e.to_string()))?;
        Ok(Box::new(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_detector_calibrates_then_flags() {
        let config = DetectorConfig {
            baseline_size: 20,
            window_size: 10,
            hop_size: 5,
            ..DetectorConfig::default()
        };
        let mut d = ScriptedDetectors.create("s", &config).unwrap();
        let ev = |s: &str| Event {
            body: serde_json::json!({ "m": s }),
            ..Event::default()
        };
        let normal: Vec<Event> = (0..20).map(|_| ev("ok")).collect();
        assert!(d.push(&normal).unwrap().is_empty());
        assert_eq!(d.status(), StreamStatus::Ready);
        let found = d.push(&[ev("ok"), ev("ANOMALY")]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].index, 21);
        let restored = ScriptedDetectors.load(&d.save().unwrap()).unwrap();
        assert_eq!(restored.save().unwrap(), d.save().unwrap());
    }
}
