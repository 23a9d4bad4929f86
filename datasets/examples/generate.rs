//! Generates a labelled synthetic dataset.
//!
//! cargo run --release -p driftlock-datasets --example generate -- \
//!     --kind logs --events 100000 --anomalies all --out x.parquet
//!
//! Options: --kind logs|metrics|traces|llm|mixed, --events N, --seed N,
//! --streams N, --anomalies all|none|kind[,kind...], --count N | --rate R,
//! --warmup N, --min-gap N, --batch N, --out PATH (.parquet, .ndjson/.jsonl,
//! `-` for NDJSON on stdout, or `none` to only generate and report the speed).

use std::io::Write;
use std::time::Instant;

use driftlock_datasets::{
    AnomalyCount, AnomalyKind, GeneratorConfig, StreamKind, write_ndjson, write_parquet,
};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = GeneratorConfig::new(StreamKind::Logs, 100_000, 1);
    let mut out = String::from("-");
    let mut batch = 8192usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--kind" => {
                let v = value()?;
                cfg.stream_kind = StreamKind::parse(&v).ok_or(format!("unknown kind {v}"))?;
            }
            "--events" => cfg.events = value()?.parse()?,
            "--seed" => cfg.seed = value()?.parse()?,
            "--streams" => cfg.streams = value()?.parse()?,
            "--warmup" => cfg.warmup = value()?.parse()?,
            "--min-gap" => cfg.min_gap = value()?.parse()?,
            "--count" => cfg.anomaly_count = AnomalyCount::Count(value()?.parse()?),
            "--rate" => cfg.anomaly_count = AnomalyCount::Rate(value()?.parse()?),
            "--batch" => batch = value()?.parse()?,
            "--out" => out = value()?,
            "--anomalies" => {
                let v = value()?;
                cfg.anomalies = match v.as_str() {
                    "all" => AnomalyKind::ALL.to_vec(),
                    "none" => Vec::new(),
                    list => list
                        .split(',')
                        .map(|k| AnomalyKind::parse(k).ok_or(format!("unknown anomaly kind {k}")))
                        .collect::<Result<_, _>>()?,
                };
            }
            "-h" | "--help" => {
                eprintln!("see the header of datasets/examples/generate.rs");
                return Ok(());
            }
            other => return Err(format!("unknown option {other}").into()),
        }
    }

    let stream = cfg.build()?;
    let planned = stream.anomaly_count();
    let started = Instant::now();
    let stats = if out == "none" {
        let (mut rows, mut anomalous, mut bytes) = (0u64, 0u64, 0usize);
        for e in stream {
            rows += 1;
            anomalous += u64::from(e.label.is_some());
            bytes += e.timestamp.len() + e.stream_id.len();
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "generated {rows} events ({anomalous} anomalous rows, {bytes} id bytes) in {secs:.2}s ({:.0} events/s)",
            rows as f64 / secs
        );
        return Ok(());
    } else if out == "-" {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        let mut rows = 0u64;
        for e in stream {
            serde_json::to_writer(&mut w, &e.to_json())?;
            w.write_all(b"\n")?;
            rows += 1;
        }
        w.flush()?;
        eprintln!("{rows} events");
        return Ok(());
    } else if out.ends_with(".ndjson") || out.ends_with(".jsonl") {
        write_ndjson(&out, stream)?
    } else {
        write_parquet(&out, stream, batch)?
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} events ({} anomalies, {} anomalous rows) to {out} in {secs:.2}s ({:.0} events/s)",
        stats.rows,
        planned,
        stats.anomalous_rows,
        stats.rows as f64 / secs
    );
    Ok(())
}
