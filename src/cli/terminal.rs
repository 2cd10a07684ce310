//! Everything the binary prints goes through here: data to stdout, messages
//! to stderr, no colour.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

use crate::config::Mode;
use crate::summary::{Status, Summary};

/// How stderr is used, set once at start.
#[derive(Clone, Copy, Debug, Default)]
struct Settings {
    /// Only errors.
    quiet: bool,
    /// JSON lines through `tracing` instead of text.
    json: bool,
    /// Nothing at all, on stdout or stderr: another program embeds
    /// touchpath and reports results and errors itself.
    silent: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// Chooses how stderr is used. With `json`, every message, the library's
/// phase events included, is one JSON object per line.
pub fn configure(quiet: bool, json: bool) {
    let _ = SETTINGS.set(Settings { quiet, json, silent: false });
    if json {
        let level = if quiet { tracing::Level::ERROR } else { tracing::Level::INFO };
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_current_span(false)
            .with_span_list(false)
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// Prints nothing from here on (see [`Settings::silent`]).
pub fn configure_silent() {
    let _ = SETTINGS.set(Settings { quiet: true, json: false, silent: true });
}

/// True when stderr is for people: neither `--quiet` nor JSON logs.
pub fn for_people() -> bool {
    let settings = settings();
    !settings.quiet && !settings.json
}

/// Prints an error chain, then a hint when there is one.
pub fn error(error: &anyhow::Error) {
    if settings().silent {
        return;
    }
    let hint = error.downcast_ref::<crate::Error>().and_then(crate::Error::hint);
    if settings().json {
        let message = format!("{error:#}");
        if let Some(hint) = hint {
            tracing::error!(event = "error", hint, "{message}");
        } else {
            tracing::error!(event = "error", "{message}");
        }
        return;
    }
    message(&format!("error: {error:#}"));
    if let Some(hint) = hint {
        message(&format!("hint: {hint}"));
    }
}

/// Reports a defect (a panic).
pub fn internal_error(what: &str) {
    const REPORT: &str = "this is a defect in touchpath: please report it with the command line that caused it";
    if settings().json {
        tracing::error!(event = "internal_error", "{what}; {REPORT}");
    } else {
        message(&format!("error: internal error: {what}\n{REPORT}"));
    }
}

/// Writes one line to stderr. Unlike `eprintln!`, a closed or full stderr
/// never turns into a panic: there is nowhere left to report it anyway.
fn message(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Writes data to stdout. A closed pipe (`touchpath run | head`) is not an
/// error: the reader simply wanted no more.
pub fn data(text: &str) -> std::io::Result<()> {
    if settings().silent {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints a note for people: not with `--quiet`, and not in JSON mode,
/// where the library's events say the same.
pub fn note(text: &str) {
    let settings = settings();
    if !settings.quiet && !settings.json {
        message(text);
    }
}

/// Groups digits by thousands: 1234567 → `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// What a run that wrote a partial state says.
pub fn render_state(summary: &Summary, out: &std::path::Path, bucket: Option<crate::bucket::Bucket>) -> String {
    let rows = &summary.rows;
    let part = bucket.map_or_else(String::new, |bucket| format!(" of bucket {bucket}"));
    format!(
        "read {} rows{part}: {} accepted, {} rejected, {} duplicates; {} users, {} conversions\nstate written to {}\n",
        thousands(rows.read),
        thousands(rows.accepted),
        thousands(rows.rejected),
        thousands(rows.duplicates),
        thousands(summary.users),
        thousands(summary.conversions.total),
        out.display()
    )
}

/// What the second pass of a bucket (`run --bucket K/N --fit`) says.
#[must_use]
pub fn render_credit(out: &std::path::Path, bucket: Option<crate::bucket::Bucket>) -> String {
    let part = bucket.map_or_else(String::new, |bucket| format!(" of bucket {bucket}"));
    format!("credit{part} written to {}\n", out.display())
}

/// The short human summary of a run.
pub fn render_summary(summary: &Summary, out: &std::path::Path, mode: Mode) -> String {
    let mut text = String::new();
    let rows = &summary.rows;
    let files = summary.inputs.events.len();
    let _ =
        writeln!(text, "read {} rows from {} file{}", thousands(rows.read), files, if files == 1 { "" } else { "s" });
    let _ = writeln!(text, "  accepted    {:>12}", thousands(rows.accepted));
    let _ = write!(text, "  rejected    {:>12}  ({:.2} %)", thousands(rows.rejected), rows.reject_rate() * 100.0);
    let reasons: Vec<String> = rows
        .rejected_by_reason
        .iter()
        .map(|(reason, count)| format!("{} {}", reason.as_str(), thousands(*count)))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(text, "  {}", reasons.join(", "));
    }
    text.push('\n');
    let _ = writeln!(text, "  duplicates  {:>12}", thousands(rows.duplicates));
    if !summary.warnings.is_empty() {
        let warnings: Vec<String> = summary
            .warnings
            .iter()
            .map(|(warning, count)| format!("{} {}", warning.as_str(), thousands(*count)))
            .collect();
        let _ = writeln!(text, "  warnings    {}", warnings.join(", "));
    }
    if summary.set_aside.users > 0 {
        let _ = writeln!(
            text,
            "set aside {} user{} with more than {} events each ({} events, {} conversions; see set_aside_users.csv)",
            thousands(summary.set_aside.users),
            if summary.set_aside.users == 1 { "" } else { "s" },
            thousands(summary.config.max_events_per_user),
            thousands(summary.set_aside.events),
            thousands(summary.set_aside.conversions)
        );
    }
    if let Some(spend) = &summary.spend {
        let _ = writeln!(
            text,
            "spend: {} rows accepted, {} rejected, {} duplicates; total {:.2} over {} channels",
            thousands(spend.rows.accepted),
            thousands(spend.rows.rejected),
            thousands(spend.rows.duplicates),
            spend.total,
            spend.channels
        );
    }
    let _ = writeln!(
        text,
        "users {} · touches {} ({} outside the {} window)",
        thousands(summary.users),
        thousands(summary.touches),
        thousands(summary.touches_outside_window),
        summary.config.lookback
    );
    let conversions = &summary.conversions;
    let _ = writeln!(
        text,
        "conversions {} (first {}, repeat {}, without touches {}) · revenue {:.2}",
        thousands(conversions.total),
        thousands(conversions.first),
        thousands(conversions.repeat),
        thousands(conversions.without_touches),
        summary.revenue
    );
    let length = &summary.path_length;
    let _ = writeln!(
        text,
        "journeys {} converting, {} non-converting · touches per converting path: mean {:.2}, p50 {}, p90 {}, max {}",
        thousands(summary.journeys.converting),
        thousands(summary.journeys.non_converting),
        length.mean,
        length.p50,
        length.p90,
        length.max
    );
    if summary.status == Status::Ok && summary.conversions.total == 0 {
        let _ = writeln!(text, "no conversions: every model credits nothing");
    }
    match summary.status {
        Status::Ok => {
            let what = match mode {
                Mode::Attribute => "report",
                Mode::Validate => "accounting (summary.json and rejects)",
                Mode::Paths => "conversion paths",
            };
            let _ = write!(text, "{what} written to {}", out.display());
        }
        Status::RejectRateExceeded | Status::NoEvents => {
            let _ = write!(text, "only the summary and rejects were written to {}", out.display());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
