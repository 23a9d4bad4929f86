//! The progress bars: drawn on stderr when it is a terminal, hidden otherwise
//! or when the user asked.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

fn styled(bar: ProgressBar, template: &str) -> ProgressBar {
    bar.set_style(ProgressStyle::with_template(template).expect("progress template is valid"));
    bar
}

fn hidden(asked: bool) -> bool {
    asked || !std::io::stderr().is_terminal()
}

/// A bar over bytes read, its length set as the input is listed.
pub fn bytes(hide: bool) -> ProgressBar {
    if hidden(hide) {
        return ProgressBar::hidden();
    }
    styled(
        ProgressBar::new(0),
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    )
}

/// A cluster job's bar: its tasks, done of all, and a message.
pub fn tasks(hide: bool) -> ProgressBar {
    if hidden(hide) {
        return ProgressBar::hidden();
    }
    styled(
        ProgressBar::new(0),
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tasks (eta {eta}) {msg}",
    )
}

/// A bar over `total` units (NAB rows, HDFS sessions).
pub fn count(total: u64, unit: &str, hide: bool) -> ProgressBar {
    if hidden(hide) {
        return ProgressBar::hidden();
    }
    styled(
        ProgressBar::new(total),
        &format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} (eta {{eta}})"
        ),
    )
}
