//! Flat CSV with a header row (RFC 4180 quoting).

use std::io::{BufWriter, Write};

use driftlock_engine::Anomaly;

use super::{AnomalySink, COLUMNS, FlatRow, FlatSink, nearest_json};

/// Writes anomalies as CSV rows; nulls are empty fields.
pub struct CsvSink<W: Write> {
    out: BufWriter<W>,
    header_written: bool,
}

impl<W: Write> CsvSink<W> {
    pub fn new(writer: W) -> Self {
        CsvSink {
            out: BufWriter::new(writer),
            header_written: false,
        }
    }

    /// Writes the header even when no anomaly came, so an empty result is
    /// still a valid table.
    fn header(&mut self) -> std::io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            writeln!(self.out, "{}", COLUMNS.join(","))?;
        }
        Ok(())
    }

    fn row(&mut self, r: &FlatRow<'_>) -> std::io::Result<()> {
        let out = &mut self.out;
        field(out, r.stream_id)?;
        write!(out, ",{},", r.index)?;
        field(out, r.timestamp.unwrap_or(""))?;
        write!(
            out,
            ",{},{},{},{},{},{},",
            r.kind, r.ncd, r.compression_ratio, r.entropy_change, r.p_value, r.confidence
        )?;
        if let Some(p) = r.window_p_value {
            write!(out, "{p}")?;
        }
        out.write_all(b",")?;
        field(out, r.why)?;
        out.write_all(b",")?;
        field(out, r.compressor)?;
        out.write_all(b",")?;
        field(out, r.encoded)?;
        out.write_all(b",")?;
        field(out, r.nearest)?;
        out.write_all(b",")?;
        field(out, r.baseline_digest)?;
        write!(out, ",{},", r.reported_at)?;
        if let Some(id) = r.incident_id {
            write!(out, "{id}")?;
        }
        out.write_all(b",")?;
        if let Some(opens) = r.incident_opens {
            write!(out, "{opens}")?;
        }
        out.write_all(b",")?;
        if let Some(rank) = r.incident_rank {
            write!(out, "{rank}")?;
        }
        writeln!(out)
    }

    /// Writes the header if needed, flushes and returns the writer.
    pub fn into_inner(mut self) -> crate::Result<W> {
        self.header()?;
        self.out.into_inner().map_err(|e| e.into_error().into())
    }
}

/// Quotes a field only when it holds a delimiter, quote or line break.
fn field(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    if !s.contains([',', '"', '\n', '\r']) {
        return out.write_all(s.as_bytes());
    }
    out.write_all(b"\"")?;
    out.write_all(s.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
}

impl<W: Write + Send> FlatSink for CsvSink<W> {
    fn write_row(&mut self, row: &FlatRow<'_>) -> crate::Result<()> {
        self.header()?;
        self.row(row)?;
        Ok(())
    }

    fn write_batch(&mut self, batch: &arrow::record_batch::RecordBatch) -> crate::Result<()> {
        self.header()?;
        super::for_each_row(batch, |row| Ok(self.row(row)?))
    }

    fn close(self: Box<Self>) -> crate::Result<()> {
        self.into_inner()?.flush()?;
        Ok(())
    }
}

impl<W: Write + Send> AnomalySink for CsvSink<W> {
    fn write(&mut self, anomalies: &[Anomaly]) -> crate::Result<()> {
        self.header()?;
        for a in anomalies {
            self.row(&FlatRow::of(a, &nearest_json(a)))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> crate::Result<()> {
        FlatSink::close(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::output::tests::sample;

    /// A minimal RFC 4180 parser, enough to check what the sink writes.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = vec![];
        let (mut row, mut cell, mut quoted) = (vec![], String::new(), false);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => row.push(std::mem::take(&mut cell)),
                ('\n', false) => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                (c, _) => cell.push(c),
            }
        }
        rows
    }

    #[test]
    fn rows_parse_back_to_the_same_values() {
        let anomalies = sample();
        let mut sink = CsvSink::new(Vec::new());
        sink.write(&anomalies).unwrap();
        let text = String::from_utf8(sink.into_inner().unwrap()).unwrap();
        let rows = parse(&text);
        assert_eq!(rows[0], COLUMNS);
        assert_eq!(rows.len(), anomalies.len() + 1);
        for (row, a) in rows[1..].iter().zip(&anomalies) {
            assert_eq!(row.len(), COLUMNS.len());
            assert_eq!(row[0], a.stream_id);
            assert_eq!(row[1].parse::<u64>().unwrap(), a.index);
            assert_eq!(row[2], a.timestamp.clone().unwrap_or_default());
            assert_eq!(row[3], a.kind.as_str());
            assert_eq!(row[4].parse::<f64>().unwrap(), a.metrics.ncd);
            assert_eq!(row[6].parse::<f64>().unwrap(), a.metrics.entropy_change);
            assert_eq!(row[9].parse::<f64>().ok(), a.window_p_value);
            assert_eq!(row[10], a.why);
            assert_eq!(row[12], a.encoded);
            let nearest: Vec<driftlock_engine::Neighbour> = serde_json::from_str(&row[13]).unwrap();
            assert_eq!(nearest, a.nearest);
            assert_eq!(row[14], a.baseline_digest);
            assert_eq!(row[15].parse::<u64>().unwrap(), a.reported_at);
        }
    }

    #[test]
    fn empty_output_still_has_a_header() {
        let text = String::from_utf8(CsvSink::new(Vec::new()).into_inner().unwrap()).unwrap();
        assert_eq!(text, format!("{}\n", COLUMNS.join(",")));
    }
}
