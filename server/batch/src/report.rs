//! A single anomaly as a Markdown report.

use std::fmt::Write;

use driftlock_store::view::AnomalyDetail;

/// The report: what, when, why, the metrics, and the evidence to reproduce it.
pub fn markdown(d: &AnomalyDetail) -> String {
    let s = &d.summary;
    let m = &s.metrics;
    let mut out = String::new();
    let _ = writeln!(out, "# Anomaly {}\n", s.id);
    let _ = writeln!(out, "| Field | Value |\n| --- | --- |");
    for (k, v) in [
        ("Stream", s.stream_id.clone()),
        ("Stream position", d.index.to_string()),
        ("Kind", s.kind.as_str().to_string()),
        ("Timestamp", s.timestamp.clone()),
        ("Detected at", s.detected_at.clone()),
        ("Status", s.status.as_str().to_string()),
        ("Compressor", d.compressor.clone()),
        ("Batch", d.batch_id.clone()),
    ] {
        let _ = writeln!(out, "| {k} | {} |", v.replace('|', "\\|"));
    }
    let _ = writeln!(out, "\n## Why\n\n{}\n", s.why);
    let _ = writeln!(out, "## Metrics\n\n| Metric | Value |\n| --- | --- |");
    let _ = writeln!(out, "| NCD | {:.4} |", m.ncd);
    let _ = writeln!(out, "| p-value | {:.6} |", m.p_value);
    let _ = writeln!(out, "| Confidence | {:.6} |", m.confidence);
    let _ = writeln!(out, "| Compression ratio | {:.4} |", m.compression_ratio);
    let _ = writeln!(out, "| Entropy change | {:.4} |", m.entropy_change);
    if let Some(w) = d.window_p_value {
        let _ = writeln!(out, "| Window p-value | {w:.6} |");
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let _ = writeln!(out, "\n## Event\n\n```json\n{}\n```\n", pretty(&d.event));
    if let Some(ev) = &d.evidence {
        let _ = writeln!(out, "## Evidence\n");
        if let Some(digest) = ev.get("baseline_digest").and_then(|v| v.as_str()) {
            let _ = writeln!(out, "Baseline digest (SHA-256): `{digest}`\n");
        }
        if let Some(enc) = ev.get("encoded").and_then(|v| v.as_str()) {
            let _ = writeln!(out, "Encoded event:\n\n```text\n{enc}\n```\n");
        }
        if let Some(near) = ev.get("nearest").and_then(|v| v.as_array()) {
            let _ = writeln!(
                out,
                "Nearest baseline events:\n\n| Position | NCD | Encoded |\n| --- | --- | --- |"
            );
            for n in near {
                let _ = writeln!(
                    out,
                    "| {} | {:.4} | `{}` |",
                    n.get("index").unwrap_or(&serde_json::Value::Null),
                    n.get("ncd").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
                    n.get("encoded")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .replace('|', "\\|")
                        .replace('`', "'")
                );
            }
            out.push('\n');
        }
        if let Some(config) = ev.get("config") {
            let _ = writeln!(
                out,
                "Detector config (with seed and permutation count):\n\n```json\n{}\n```\n",
                pretty(config)
            );
        }
    }
    if !d.feedback.is_empty() {
        let _ = writeln!(out, "## Feedback\n");
        for f in &d.feedback {
            let _ = writeln!(
                out,
                "- {} `{}`{}",
                f.created_at,
                f.feedback_type,
                f.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
