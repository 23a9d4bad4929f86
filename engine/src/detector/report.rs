//! What the detector reports: an event anomaly with its evidence and `why`,
//! or a change point for a window that is mostly anomalous.

use std::fmt::Write as _;

use super::{Scored, StreamDetector, recurrence};
use crate::compress::compressed_len;
use crate::error::Result;
use crate::explain::{Evidence, why};
use crate::model::join;
use crate::pairwise::ncd;
use crate::{Anomaly, AnomalyKind, Metrics, Record, Recurrence};

impl StreamDetector {
    pub(super) fn anomaly(
        &self,
        s: &Scored,
        recurs: Option<Recurrence>,
        record: Option<Record>,
    ) -> Result<Anomaly> {
        let model = self.model();
        let (ncd, nearest) = s.nearest.clone().expect("flagged events have neighbours");
        let bytes = s.stored.encoded.as_bytes();
        let c = s
            .stored
            .clen
            .get_or(|| compressed_len(self.config.compressor, bytes))?
            .max(1);
        let mut why = why(&Evidence {
            event: &s.stored,
            model,
            memory: &self.memory,
            nearest: &nearest,
            record: record.as_ref(),
        });
        if let Some(r) = recurs.filter(|r| r.distance <= recurrence::CLOSE) {
            let _ = write!(
                why,
                "; it resembles anomaly #{}: no number differs by more than {:.0}% of its baseline range stretched to both values",
                r.index,
                (r.distance * 100.0).ceil().max(1.0)
            );
        }
        let p = record.as_ref().map_or(s.p, |r| r.p_value().min(s.p));
        Ok(Anomaly {
            stream_id: self.stream_id.clone(),
            index: s.stored.index,
            timestamp: s.stored.timestamp.clone(),
            kind: AnomalyKind::Event,
            metrics: Metrics {
                ncd,
                compression_ratio: bytes.len() as f64 / c as f64,
                entropy_change: (s.stored.score - model.typical_score()) as f64,
                p_value: p,
                confidence: 1.0 - p,
            },
            window_p_value: self.last_window_p,
            why,
            compressor: self.config.compressor.effective().as_str().to_string(),
            encoded: s.stored.encoded.clone(),
            nearest,
            baseline_digest: model.digest().to_string(),
            reported_at: s.stored.index,
            recurs,
            record,
            incident: None,
            held_event: None,
        })
    }

    /// A sustained change: most of the window is anomalous and the window as a
    /// whole differs from the baseline. Reported once; the caller rebuilds the
    /// baseline from the most recent events so the new normal stops alarming.
    pub(super) fn change_point(&self, p: f64, flagged: usize) -> Result<Anomaly> {
        let model = self.model();
        let first = self
            .window
            .iter()
            .find(|e| e.flagged)
            .expect("a change point has flagged events");
        let window = join(self.window.iter().map(|e| e.ev.encoded.as_str()));
        let n = self.window.len().min(self.baseline.len());
        let sample = join(
            self.baseline
                .iter()
                .skip(self.baseline.len() - n)
                .map(|e| e.encoded.as_str()),
        );
        let kind = self.config.compressor;
        let c = compressed_len(kind, window.as_bytes())?.max(1);
        let mean = self.window.iter().map(|e| e.ev.score).sum::<f32>() / self.window.len() as f32;
        Ok(Anomaly {
            stream_id: self.stream_id.clone(),
            index: first.ev.index,
            timestamp: first.ev.timestamp.clone(),
            kind: AnomalyKind::ChangePoint,
            metrics: Metrics {
                ncd: ncd(kind, window.as_bytes(), sample.as_bytes())?,
                compression_ratio: window.len() as f64 / c as f64,
                entropy_change: (mean - model.typical_score()) as f64,
                p_value: p,
                confidence: 1.0 - p,
            },
            window_p_value: Some(p),
            why: format!(
                "Sustained change from event #{}: {flagged} of the last {} events were anomalous and the window \
                 differs from the baseline (permutation p = {p:.4}); the baseline was rebuilt from the most recent {} events",
                first.ev.index,
                self.window.len(),
                self.recent.len()
            ),
            compressor: kind.effective().as_str().to_string(),
            encoded: first.ev.encoded.clone(),
            nearest: Vec::new(),
            baseline_digest: model.digest().to_string(),
            reported_at: self.window.back().map_or(first.ev.index, |e| e.ev.index),
            recurs: None,
            record: None,
            incident: None,
            held_event: None,
        })
    }
}
