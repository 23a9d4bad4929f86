//! Bulk export as a streaming body: a blocking task pages through SQLite
//! (keyset, [`PAGE`] rows at a time) into a sink that writes into a bounded
//! channel, so memory does not grow with the number of rows and a slow client
//! slows the export instead of buffering it.
//!
//! NDJSON rows are the API's anomaly detail (id, status, event, evidence);
//! CSV, Parquet and Arrow IPC use the flat schema of [`crate::output`], the
//! same as `driftlock score` writes.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use driftlock_engine::{Anomaly, AnomalyKind, Neighbour};
use tokio::sync::mpsc;

use crate::output::{self, AnomalySink, OutputFormat};
use crate::store::anomalies::{self, AnomalyFilter, AnomalyRecord};
use crate::store::{Store, StoreError};

/// Rows read from SQLite per query.
pub const PAGE: usize = 500;
const CHUNK: usize = 64 * 1024;

/// A `Write` that sends chunks into the response body's channel.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The engine's view of a stored anomaly (for the flat formats).
pub fn to_engine(a: &AnomalyRecord) -> Anomaly {
    let ev = a.evidence.as_ref();
    let text = |k: &str| {
        ev.and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let nearest: Vec<Neighbour> = ev
        .and_then(|e| e.get("nearest"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    Anomaly {
        stream_id: a.stream_id.clone(),
        index: a.position,
        timestamp: Some(a.timestamp.clone()),
        kind: if a.kind == "change_point" {
            AnomalyKind::ChangePoint
        } else {
            AnomalyKind::Event
        },
        metrics: a.metrics,
        window_p_value: a.window_p_value,
        why: a.why.clone(),
        compressor: a.compressor.clone(),
        encoded: text("encoded"),
        nearest,
        baseline_digest: text("baseline_digest"),
    }
}

/// The anomaly detail rows of NDJSON exports.
struct DetailNdjson<W: Write> {
    out: io::BufWriter<W>,
}

/// Writes every anomaly matching `filter` (as of the call) to `sink_out`.
fn run_export(
    store: &Store,
    filter: &AnomalyFilter,
    format: OutputFormat,
    out: ChannelWriter,
) -> Result<u64, String> {
    let mut before = Some(
        store
            .with_conn(|c| anomalies::max_seq(c))
            .map_err(|e| e.to_string())?
            + 1,
    );
    let mut ndjson = (format == OutputFormat::Ndjson).then(|| DetailNdjson {
        out: io::BufWriter::new(ChannelWriter {
            tx: out.tx.clone(),
            buf: Vec::new(),
        }),
    });
    let mut sink: Option<Box<dyn AnomalySink>> = if ndjson.is_some() {
        None
    } else {
        Some(output::sink_for(format, out).map_err(|e| e.to_string())?)
    };
    let mut rows = 0u64;
    loop {
        let f = filter.clone();
        let page = store
            .with_conn(|c| anomalies::list(c, &f, before, PAGE))
            .map_err(|e: StoreError| e.to_string())?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        rows += page.len() as u64;
        if let Some(nd) = ndjson.as_mut() {
            for a in page {
                let d = crate::api::anomalies::detail(a, Vec::new());
                serde_json::to_writer(&mut nd.out, &d).map_err(|e| e.to_string())?;
                nd.out.write_all(b"\n").map_err(|e| e.to_string())?;
            }
        } else if let Some(s) = sink.as_mut() {
            let batch: Vec<Anomaly> = page.iter().map(to_engine).collect();
            s.write(&batch).map_err(|e| e.to_string())?;
        }
    }
    if let Some(nd) = ndjson {
        let mut w = nd.out.into_inner().map_err(|e| e.to_string())?;
        w.flush().map_err(|e| e.to_string())?;
    }
    if let Some(s) = sink {
        s.finish().map_err(|e| e.to_string())?;
    }
    Ok(rows)
}

/// A streaming response body with every anomaly matching `filter`.
pub fn stream(store: Store, filter: AnomalyFilter, format: OutputFormat) -> Body {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = run_export(&store, &filter, format, ChannelWriter::new(tx)) {
            tracing::error!("export failed: {e}");
            let _ = err_tx.blocking_send(Err(io::Error::other("export failed")));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}
