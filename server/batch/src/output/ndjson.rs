//! One anomaly per line, as the engine's serde JSON.

use std::io::{BufWriter, Write};

use driftlock_engine::Anomaly;

use super::AnomalySink;

/// Writes each anomaly as one JSON object per line.
pub struct NdjsonSink<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(writer: W) -> Self {
        NdjsonSink {
            out: BufWriter::new(writer),
        }
    }

    /// Flushes and returns the writer.
    pub fn into_inner(self) -> crate::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error().into())
    }
}

impl<W: Write + Send> AnomalySink for NdjsonSink<W> {
    fn write(&mut self, anomalies: &[Anomaly]) -> crate::Result<()> {
        for anomaly in anomalies {
            serde_json::to_writer(&mut self.out, anomaly)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> crate::Result<()> {
        self.into_inner()?.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::sample;

    #[test]
    fn lines_parse_back_to_the_same_anomalies() {
        let mut sink = NdjsonSink::new(Vec::new());
        sink.write(&sample()).unwrap();
        let bytes = sink.into_inner().unwrap();
        let back: Vec<Anomaly> = std::str::from_utf8(&bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // `reported_at` is not part of the engine's JSON (flat formats have it).
        let expected: Vec<Anomaly> = sample()
            .into_iter()
            .map(|a| Anomaly {
                reported_at: 0,
                ..a
            })
            .collect();
        assert_eq!(back, expected);
    }
}
