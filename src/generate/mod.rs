//! Synthetic touchpoint logs and ad-spend tables, seeded and reproducible.
//!
//! [`generate`] simulates users walking through a marketing funnel over the
//! first quarter of 2026 and writes what a tracking system would have logged:
//! `events.<ext>`, a matching `spend.<ext>` and a `manifest.json` holding the
//! [`GenerateReport`]. With [`GenerateOptions::dirty`] it also injects the
//! faults real logs carry, counting each exactly so tests can check that an
//! ingester rejects, warns about and accepts exactly the right rows.
//!
//! The same options always give byte-identical files, whatever the number of
//! threads. `docs/generator.md` describes the simulation and its hidden
//! parameters.

mod catalog;
mod dirty;
mod draw;
mod render;
pub mod scenario;
mod simulate;
mod spend;
pub mod truth;
mod world;
mod write;

pub use scenario::Scenario;
pub use truth::Truth;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, FileFormat, Result};

/// The most users one run simulates; keeps every row index within `u32`
/// (about 5.5 events per user) and memory within reason.
pub const MAX_USERS: u64 = 100_000_000;

/// Logs above this many rows are written as `events/part-NNNNN.EXT` files of
/// this many rows each, rather than one `events.EXT`: readers then hold one
/// part at a time.
pub const ROWS_PER_FILE: usize = 10_000_000;

/// The ground truth written beside a generated log (`--truth`).
pub const TRUTH_FILE: &str = "truth.csv";

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// How many users to simulate (about 5–6 events each).
    pub users: u64,
    /// The seed every random draw derives from.
    pub seed: u64,
    /// Whether to inject faults, variants, duplicates and shuffled rows.
    pub dirty: bool,
    /// The format of `events` and `spend`.
    pub format: FileFormat,
    /// Whether a clean Parquet log's timestamps are ISO-8601 text, as many
    /// exports write them, rather than typed instants (CSV is always text;
    /// a dirty log's timestamps are always text).
    #[serde(default)]
    pub text_timestamps: bool,
    /// Whether the events go to one file however many rows they have,
    /// rather than to parts of [`ROWS_PER_FILE`] rows.
    #[serde(default)]
    pub one_file: bool,
}

impl Default for GenerateOptions {
    /// 10 000 users, seed 42, clean, CSV.
    fn default() -> Self {
        Self { users: 10_000, seed: 42, dirty: false, format: FileFormat::Csv, text_timestamps: false, one_file: false }
    }
}

/// What [`generate`] wrote; also written as `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateReport {
    /// Users simulated (some may have no accepted rows in a dirty log).
    pub users: u64,
    /// The seed used.
    pub seed: u64,
    /// Whether faults were injected.
    pub dirty: bool,
    /// The format of the data files.
    pub format: FileFormat,
    /// Data rows in the events file, injected dirty rows and duplicates
    /// included.
    pub events_written: u64,
    /// Data rows in the spend file.
    pub spend_rows: u64,
    /// What an exact ingester must find.
    pub expected: Expected,
    /// What was injected (all zero for a clean log).
    pub injected: Injected,
}

/// What an exact ingester must find in the events file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// Rows accepted: written rows minus rejected faults minus duplicates.
    pub accepted: u64,
    /// Distinct user ids (after NFC normalisation) with an accepted row.
    pub users: u64,
    /// Accepted conversion rows.
    pub conversions: u64,
    /// Users whose accepted rows include a conversion.
    pub first_conversions: u64,
    /// Accepted non-conversion rows.
    pub touches: u64,
}

/// Counts of what a dirty log carries; each row has at most one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// Byte-identical copies of accepted rows, at random positions.
    pub duplicates: u64,
    /// Rows with an empty user id (rejected).
    pub missing_user_id: u64,
    /// Rows with an unparsable or empty timestamp (rejected).
    pub bad_timestamp: u64,
    /// Touch rows with an empty channel (rejected).
    pub missing_channel: u64,
    /// Rows with an event type outside impression/click/visit/conversion
    /// (rejected).
    pub unknown_event_type: u64,
    /// Conversion rows with negative revenue (rejected).
    pub negative_revenue: u64,
    /// Conversion rows with unparsable revenue: `12,50`, `abc`, `NaN`
    /// (rejected).
    pub bad_revenue: u64,
    /// Touch rows carrying revenue: a warning, the row stays valid.
    pub revenue_on_non_conversion: u64,
    /// Rows whose channel differs from its normalised name only by case,
    /// spaces or hyphens (valid).
    pub channel_variants: u64,
    /// Rows of users with non-ASCII ids, written in NFC or NFD form at
    /// random (valid; one user after NFC normalisation).
    pub unicode_user_rows: u64,
    /// Rows moved to a random position, breaking the time order (valid).
    pub shuffled_rows: u64,
}

impl Injected {
    /// Rows a correct ingester rejects as faulty (duplicates not included).
    #[must_use]
    pub fn rejected_faults(&self) -> u64 {
        self.missing_user_id
            + self.bad_timestamp
            + self.missing_channel
            + self.unknown_event_type
            + self.negative_revenue
            + self.bad_revenue
    }
}

/// Simulates `options.users` users and writes `events.<ext>`, `spend.<ext>`
/// and `manifest.json` into `out_dir`, creating it if needed.
///
/// # Errors
///
/// [`Error::Config`] when `options.users` exceeds [`MAX_USERS`];
/// [`Error::Io`] when a file or the directory cannot be written.
pub fn generate(options: &GenerateOptions, out_dir: &Path) -> Result<GenerateReport> {
    let scenario = Scenario::shipped("default")
        .ok_or_else(|| Error::Internal("the default scenario does not parse".to_owned()))?;
    generate_scenario(options, &scenario, false, out_dir)
}

/// The log of `users` users of the default world drawn with `seed`, as a
/// run reads it: for tests that need a realistic log in memory.
#[cfg(test)]
pub(crate) fn generated_log(users: u64, seed: u64) -> crate::EventLog {
    let generated = tempfile::tempdir().expect("a temporary directory");
    generate(&GenerateOptions { users, seed, ..GenerateOptions::default() }, generated.path())
        .expect("a generated log");
    let files = crate::ingest::discover(&[generated.path().join("events.csv")]).expect("the generated file");
    crate::ingest::ingest_events(&files, &crate::config::Config::default(), i64::MAX).expect("a readable log").log
}

/// [`generate`] in the world of `scenario`; with `truth`, also writes
/// `truth.csv`, what each channel really caused (see [`Truth`]).
///
/// # Errors
///
/// As [`generate`], and [`Error::Config`] for a scenario whose values are
/// out of range.
pub fn generate_scenario(
    options: &GenerateOptions,
    scenario: &Scenario,
    truth: bool,
    out_dir: &Path,
) -> Result<GenerateReport> {
    let rows_per_file = if options.one_file { usize::MAX } else { ROWS_PER_FILE };
    generate_in_parts(options, scenario, truth, out_dir, rows_per_file)
}

/// [`generate`], with logs above `rows_per_file` rows written in parts.
pub(crate) fn generate_in_parts(
    options: &GenerateOptions,
    scenario: &Scenario,
    truth: bool,
    out_dir: &Path,
    rows_per_file: usize,
) -> Result<GenerateReport> {
    let world = scenario.world().map_err(|reason| Error::Config {
        setting: "scenario".to_owned(),
        value: scenario.name.clone(),
        reason,
    })?;
    let users = u32::try_from(options.users).ok().filter(|users| u64::from(*users) <= MAX_USERS).ok_or_else(|| {
        Error::Config {
            setting: "users".to_owned(),
            value: options.users.to_string(),
            reason: format!("at most {MAX_USERS} users can be generated"),
        }
    })?;
    std::fs::create_dir_all(out_dir).map_err(|source| Error::io(out_dir, source))?;
    // Files are written into a staging folder inside `out_dir`, then renamed
    // into place one by one, the manifest last: a killed run never leaves a
    // half-written file behind.
    let staging = crate::output::staging_dir(out_dir, ".generate.tmp-")?;
    let events = simulate::simulate_world(&world, options.seed, users);
    if u32::try_from(events.len()).is_err() {
        return Err(Error::Internal(format!("{} events do not fit 32-bit row indices", events.len())));
    }
    let layout = if options.dirty { dirty::dirty(&events, users, options.seed) } else { dirty::clean(&events, users) };
    let extension = options.format.extension();
    let vocabulary = render::Vocabulary::new();
    let split = layout.rows.len() > rows_per_file;
    let events_name = if split { "events".to_owned() } else { format!("events.{extension}") };
    let events_path = staging.path().join(&events_name);
    let mut events_written = 0;
    if split {
        std::fs::create_dir(&events_path).map_err(|source| Error::io(&events_path, source))?;
        for (part, rows) in layout.rows.chunks(rows_per_file.max(1)).enumerate() {
            let path = events_path.join(format!("part-{part:05}.{extension}"));
            events_written += write::write_events(&path, options, &events, &layout, rows, &vocabulary)?;
        }
    } else {
        events_written = write::write_events(&events_path, options, &events, &layout, &layout.rows, &vocabulary)?;
    }
    let spend_rows = spend::build(&events, users, options.seed);
    let spend_name = format!("spend.{extension}");
    let spend_path = staging.path().join(&spend_name);
    let spend_written = spend::write(&spend_path, options.format, &spend_rows)?;
    let report = GenerateReport {
        users: options.users,
        seed: options.seed,
        dirty: options.dirty,
        format: options.format,
        events_written,
        spend_rows: spend_written,
        expected: layout.expected,
        injected: layout.injected,
    };
    let mut names = vec![events_name, spend_name];
    if truth {
        let truth = Truth::compute(&world, options.seed, users);
        let path = staging.path().join(TRUTH_FILE);
        let mut file = write::create(&path)?;
        truth
            .write(&mut file)
            .and_then(|()| std::io::Write::flush(&mut file))
            .map_err(|source| Error::io(&path, source))?;
        names.push(TRUTH_FILE.to_owned());
    }
    write_manifest(&staging.path().join("manifest.json"), &report)?;
    // The events of an earlier run in the other layout would be read too.
    for stale in [out_dir.join("events"), out_dir.join(format!("events.{extension}"))] {
        let removed = if stale.is_dir() { std::fs::remove_dir_all(&stale) } else { std::fs::remove_file(&stale) };
        match removed {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&stale, error)),
            _ => {}
        }
    }
    let stale_truth = out_dir.join(TRUTH_FILE);
    if !truth && stale_truth.exists() {
        std::fs::remove_file(&stale_truth).map_err(|source| Error::io(&stale_truth, source))?;
    }
    names.push("manifest.json".to_owned());
    for name in &names {
        let target = out_dir.join(name);
        std::fs::rename(staging.path().join(name), &target).map_err(|source| Error::io(&target, source))?;
    }
    Ok(report)
}

fn write_manifest(path: &Path, report: &GenerateReport) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(report)
        .map_err(|error| Error::Internal(format!("cannot serialise the manifest: {error}")))?;
    json.push(b'\n');
    std::fs::write(path, json).map_err(|source| Error::io(path, source))
}

#[cfg(test)]
mod tests;
