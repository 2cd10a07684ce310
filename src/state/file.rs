//! The on-disk forms of a [`State`] and of a bucket's credit: a directory
//! with a JSON manifest and a binary body (and, for a state covering every
//! bucket, the models fitted on it). See `docs/state.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Buckets, EventAccount, State};
use crate::aggregate::Aggregates;
use crate::config::Mode;
use crate::config::{Config, EVENT_COLUMNS, SPEND_COLUMNS};
use crate::event_log::{EventLog, SetAsideUser};
use crate::ingest::{FileRows, Reject, RejectReason, RowCounts, SpendIngest, SpendRow, Warning};
use crate::journey::{ConversionCounts, JourneyCounts, JourneyStats};
use crate::output::OutputDir;
use crate::report::Tally;
use crate::{Error, Result};

pub use crate::output::MANIFEST_FILE;

/// The body's file name.
pub const STATE_FILE: &str = "state.bin";

/// The fitted models' file name, in a state that covers every bucket.
pub const FIT_FILE: &str = "fit.bin";

/// The version of the state format; states of another version are refused.
pub const STATE_FORMAT: u32 = 7;

/// The manifest's `format` of a state (the counts of a first pass).
pub const STATE_KIND: &str = "touchpath-state";

/// The manifest's `format` of a credit (the sums of a second pass).
pub const CREDIT_KIND: &str = "touchpath-credit";

/// What a state directory holds, readable without decoding the body: enough
/// to refuse states that cannot merge before reading them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`STATE_KIND`] or [`CREDIT_KIND`].
    pub format: String,
    /// [`STATE_FORMAT`] when written.
    pub format_version: u32,
    /// The touchpath version that wrote it.
    pub touchpath_version: String,
    /// The buckets it covers.
    pub buckets: Buckets,
    /// What the run computes.
    pub mode: Mode,
    /// The run's effective configuration.
    pub config: Config,
    /// The touchpoint log's files, with their hashes.
    pub events: Vec<FileRows>,
    /// The spend table's files, when the run had one.
    pub spend: Option<Vec<FileRows>>,
    /// Size of the body in bytes.
    pub body_bytes: u64,
    /// BLAKE3 hash of the body, in hex.
    pub body_blake3: String,
    /// BLAKE3 hash (hex) of the fitted models: of a state's [`FIT_FILE`],
    /// which a state covering every bucket of a run that attributes holds;
    /// of the fit a credit was credited with.
    pub fit: Option<String>,
}

impl Manifest {
    /// True for a credit, false for a state.
    #[must_use]
    pub fn is_credit(&self) -> bool {
        self.format == CREDIT_KIND
    }
}

/// A rejected row, with owned strings.
#[derive(Serialize, Deserialize)]
struct RejectRecord {
    file: usize,
    record: u64,
    line: u64,
    reason: RejectReason,
    column: String,
    detail: String,
    values: Vec<Option<String>>,
}

impl From<&Reject> for RejectRecord {
    fn from(reject: &Reject) -> Self {
        Self {
            file: reject.file,
            record: reject.record,
            line: reject.line,
            reason: reject.reason,
            column: reject.column.to_owned(),
            detail: reject.detail.to_string(),
            values: reject.values.clone(),
        }
    }
}

impl RejectRecord {
    fn into_reject(self) -> Option<Reject> {
        let column = std::iter::once("").chain(EVENT_COLUMNS).chain(SPEND_COLUMNS).find(|name| *name == self.column)?;
        Some(Reject {
            file: self.file,
            record: self.record,
            line: self.line,
            reason: self.reason,
            column,
            detail: Cow::Owned(self.detail),
            values: self.values,
        })
    }
}

/// Journey statistics, as counts.
#[derive(Serialize, Deserialize)]
struct StatsRecord {
    users: u64,
    touches: u64,
    touches_outside_window: u64,
    conversions: ConversionCounts,
    revenue_micros: i128,
    journeys: JourneyCounts,
    length_counts: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct SpendRecord {
    rows: Vec<SpendRow>,
    counts: RowCounts,
    rejects: Vec<RejectRecord>,
    warnings: BTreeMap<Warning, u64>,
}

#[derive(Serialize, Deserialize)]
struct Body {
    rows: RowCounts,
    rejects: Vec<RejectRecord>,
    listed: u64,
    warnings: BTreeMap<Warning, u64>,
    set_aside: Vec<SetAsideUser>,
    spend: Option<SpendRecord>,
    stats: StatsRecord,
    aggregates: Aggregates,
    log: EventLog,
    starts: BTreeMap<u32, i64>,
}

/// Writes `state` into the directory `target`, atomically (the directory is
/// replaced whole), with the models fitted on it when given.
///
/// # Errors
///
/// When the directory cannot be written.
pub fn write_state(target: &Path, state: &State, config: &Config, mode: Mode, fit: Option<&[u8]>) -> Result<PathBuf> {
    let (mut manifest, bytes) = encode_body(state, config, mode)?;
    manifest.fit = fit.map(|fit| blake3::hash(fit).to_hex().to_string());
    let out = OutputDir::create(target)?;
    if let Some(fit) = fit {
        out.write(FIT_FILE, |sink| sink.write_all(fit))?;
    }
    write_body(out, &manifest, &bytes)
}

fn write_body(out: OutputDir, manifest: &Manifest, bytes: &[u8]) -> Result<PathBuf> {
    let json = serde_json::to_string_pretty(manifest).map_err(|error| Error::Internal(error.to_string()))? + "\n";
    out.write(STATE_FILE, |sink| sink.write_all(bytes))?;
    out.write(MANIFEST_FILE, |sink| sink.write_all(json.as_bytes()))?;
    out.commit()
}

/// The models fitted on the state in `directory` ([`FIT_FILE`]), given its
/// manifest.
///
/// # Errors
///
/// [`Error::State`] when the state holds none, [`Error::Io`] when it cannot
/// be read, [`Error::Input`] when it does not match the manifest.
pub fn read_fit(directory: &Path, manifest: &Manifest) -> Result<Vec<u8>> {
    let Some(hash) = manifest.fit.as_deref().filter(|_| !manifest.is_credit()) else {
        return Err(Error::State(format!(
            "{} holds no fitted models: merge the states of every bucket with `touchpath merge ... --emit-state DIR` \
             (a run that attributes) and give that directory",
            directory.display()
        )));
    };
    Ok(read_matching(directory.join(FIT_FILE), None, hash)?.0)
}

/// The credit of some buckets: the sums of their second pass, with the
/// fit they were credited with.
#[derive(Clone, Debug, PartialEq)]
pub struct Credit {
    /// The buckets credited.
    pub buckets: Buckets,
    /// The touchpoint log's files, with their hashes.
    pub events: Vec<FileRows>,
    /// The BLAKE3 hash of the fit (see [`Manifest::fit`]).
    pub fit: String,
    /// The sums.
    pub tally: Tally,
}

impl Credit {
    /// Adds the credit of other buckets, credited with the same fit.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when the fits, the bucket splits or the input files
    /// differ, or a bucket is in both.
    pub fn merge(mut self, other: Self) -> Result<Self> {
        if self.fit != other.fit {
            return Err(Error::State("the credits were made with different fits".to_owned()));
        }
        if self.buckets.count != other.buckets.count {
            return Err(Error::State("the credits split users into different numbers of buckets".to_owned()));
        }
        if let Some(shared) = self.buckets.held.intersection(&other.buckets.held).next() {
            return Err(Error::State(format!("bucket {shared}/{} is credited twice", self.buckets.count)));
        }
        if !super::same_files(&self.events, &other.events) {
            return Err(Error::State(
                "the credits were made from different input files (paths or contents differ)".to_owned(),
            ));
        }
        self.buckets.held.extend(other.buckets.held);
        self.tally = self.tally.merge(other.tally);
        Ok(self)
    }
}

/// Writes `credit` into the directory `target`, atomically.
///
/// # Errors
///
/// When the directory cannot be written.
pub fn write_credit(target: &Path, credit: &Credit, config: &Config) -> Result<PathBuf> {
    let bytes = crate::format::encode(&credit.tally, "a credit")?;
    let manifest = Manifest {
        format: CREDIT_KIND.to_owned(),
        format_version: STATE_FORMAT,
        touchpath_version: env!("CARGO_PKG_VERSION").to_owned(),
        buckets: credit.buckets.clone(),
        mode: Mode::Attribute,
        config: config.clone(),
        events: credit.events.clone(),
        spend: None,
        body_bytes: bytes.len() as u64,
        body_blake3: blake3::hash(&bytes).to_hex().to_string(),
        fit: Some(credit.fit.clone()),
    };
    write_body(OutputDir::create(target)?, &manifest, &bytes)
}

/// Reads the credit in `directory`, given its manifest.
///
/// # Errors
///
/// As [`read_state`].
pub fn read_credit(directory: &Path, manifest: &Manifest) -> Result<Credit> {
    let (bytes, path) = read_body(directory, manifest)?;
    let tally: Tally = postcard::from_bytes(&bytes)
        .ok()
        .filter(|tally: &Tally| tally.credits.replicates.is_consistent(tally.credits.per_model.len()))
        .ok_or_else(|| Error::Input { path, reason: "cannot be decoded".to_owned() })?;
    Ok(Credit {
        buckets: manifest.buckets.clone(),
        events: manifest.events.clone(),
        fit: manifest.fit.clone().unwrap_or_default(),
        tally,
    })
}

/// Reads the manifest of the state in `directory`.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be read, [`Error::Input`] when it is not a
/// touchpath state of this version.
pub fn read_manifest(directory: &Path) -> Result<Manifest> {
    let path = directory.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).map_err(|error| Error::io(&path, error))?;
    let invalid = |reason: String| Error::Input { path: path.clone(), reason };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| invalid(format!("not a touchpath state manifest: {error}")))?;
    if !matches!(value.get("format").and_then(serde_json::Value::as_str), Some(STATE_KIND | CREDIT_KIND)) {
        return Err(invalid(format!(
            "not a touchpath state manifest (no `\"format\": \"{STATE_KIND}\"` or `\"{CREDIT_KIND}\"`)"
        )));
    }
    let version = value.get("format_version").and_then(serde_json::Value::as_u64);
    let writer = value.get("touchpath_version").and_then(serde_json::Value::as_str).unwrap_or("unknown");
    if version != Some(u64::from(STATE_FORMAT)) || writer != env!("CARGO_PKG_VERSION") {
        return Err(invalid(format!(
            "written by touchpath {writer} in state format {}; this is touchpath {} (state format {STATE_FORMAT}): \
             rerun the buckets with one version",
            version.map_or_else(|| "unknown".to_owned(), |version| version.to_string()),
            env!("CARGO_PKG_VERSION"),
        )));
    }
    serde_json::from_value(value).map_err(|error| invalid(format!("invalid state manifest: {error}")))
}

/// Reads the state in `directory`, given its manifest.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be read, [`Error::Input`] when the body does
/// not match the manifest or cannot be decoded.
pub fn read_state(directory: &Path, manifest: &Manifest) -> Result<State> {
    let (bytes, path) = read_body(directory, manifest)?;
    decode_body(&bytes, manifest, &path)
}

/// The body of the state or credit in `directory`, checked against its
/// manifest, and its path.
fn read_body(directory: &Path, manifest: &Manifest) -> Result<(Vec<u8>, PathBuf)> {
    read_matching(directory.join(STATE_FILE), Some(manifest.body_bytes), &manifest.body_blake3)
}

/// The bytes of the file at `path`, and the path, when they have the size
/// (if given) and the BLAKE3 hash its manifest records.
fn read_matching(path: PathBuf, size: Option<u64>, hash: &str) -> Result<(Vec<u8>, PathBuf)> {
    let bytes = fs::read(&path).map_err(|error| Error::io(&path, error))?;
    if size.is_some_and(|size| bytes.len() as u64 != size) || blake3::hash(&bytes).to_hex().as_str() != hash {
        return Err(Error::Input {
            path,
            reason: "does not match its manifest (truncated, corrupted or replaced)".to_owned(),
        });
    }
    Ok((bytes, path))
}

/// The state a manifest and its body describe; `path` names the body in
/// errors.
fn decode_body(bytes: &[u8], manifest: &Manifest, path: &Path) -> Result<State> {
    let invalid = |reason: &str| Error::Input { path: path.to_owned(), reason: reason.to_owned() };
    let body: Body = postcard::from_bytes(bytes).map_err(|_| invalid("cannot be decoded"))?;
    let rejects = |records: Vec<RejectRecord>| {
        records
            .into_iter()
            .map(RejectRecord::into_reject)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("a rejected row names an unknown column"))
    };
    let spend = match (body.spend, &manifest.spend) {
        (Some(spend), Some(files)) => Some(SpendIngest {
            rows: spend.rows,
            counts: spend.counts,
            rejects: rejects(spend.rejects)?,
            warnings: spend.warnings,
            files: files.clone(),
        }),
        (None, None) => None,
        _ => return Err(invalid("does not match its manifest (spend table)")),
    };
    let partial = JourneyStats {
        users: body.stats.users,
        touches: body.stats.touches,
        touches_outside_window: body.stats.touches_outside_window,
        conversions: body.stats.conversions,
        revenue_micros: body.stats.revenue_micros,
        journeys: body.stats.journeys,
        length_counts: body.stats.length_counts,
        ..JourneyStats::default()
    };
    let mut journey_stats = JourneyStats::default();
    journey_stats.merge(&partial);
    let state = State {
        buckets: manifest.buckets.clone(),
        events: EventAccount {
            rows: body.rows,
            rejects: rejects(body.rejects)?,
            listed: body.listed,
            warnings: body.warnings,
            files: manifest.events.clone(),
        },
        set_aside: body.set_aside,
        spend,
        stats: journey_stats,
        aggregates: body.aggregates,
        log: body.log,
        starts: body.starts,
    };
    state.check_consistent().map_err(|reason| invalid(&reason))?;
    Ok(state)
}

/// The manifest and binary body of `state`.
fn encode_body(state: &State, config: &Config, mode: Mode) -> Result<(Manifest, Vec<u8>)> {
    let counts = &state.stats;
    let body = Body {
        rows: state.events.rows.clone(),
        rejects: state.events.rejects.iter().map(RejectRecord::from).collect(),
        listed: state.events.listed,
        warnings: state.events.warnings.clone(),
        set_aside: state.set_aside.clone(),
        spend: state.spend.as_ref().map(|spend| SpendRecord {
            rows: spend.rows.clone(),
            counts: spend.counts.clone(),
            rejects: spend.rejects.iter().map(RejectRecord::from).collect(),
            warnings: spend.warnings.clone(),
        }),
        stats: StatsRecord {
            users: counts.users,
            touches: counts.touches,
            touches_outside_window: counts.touches_outside_window,
            conversions: counts.conversions.clone(),
            revenue_micros: counts.revenue_micros,
            journeys: counts.journeys.clone(),
            length_counts: counts.length_counts.clone(),
        },
        aggregates: state.aggregates.clone(),
        log: state.log.clone(),
        starts: state.starts.clone(),
    };
    let bytes = crate::format::encode(&body, "a state")?;
    let manifest = Manifest {
        format: STATE_KIND.to_owned(),
        format_version: STATE_FORMAT,
        touchpath_version: env!("CARGO_PKG_VERSION").to_owned(),
        buckets: state.buckets.clone(),
        mode,
        config: config.clone(),
        events: state.events.files.clone(),
        spend: state.spend.as_ref().map(|spend| spend.files.clone()),
        body_bytes: bytes.len() as u64,
        body_blake3: blake3::hash(&bytes).to_hex().to_string(),
        fit: None,
    };
    Ok((manifest, bytes))
}

/// A state as one block of bytes: its manifest (JSON) and body, for states
/// that travel between processes rather than through a directory (the
/// partitions of a distributed run).
///
/// # Errors
///
/// [`Error::Internal`] when the state cannot be encoded.
pub fn encode(state: &State, config: &Config, mode: Mode) -> Result<Vec<u8>> {
    let (manifest, body) = encode_body(state, config, mode)?;
    let json = serde_json::to_vec(&manifest).map_err(|error| Error::Internal(error.to_string()))?;
    let mut bytes = Vec::with_capacity(8 + json.len() + body.len());
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Reads a state [`encode`] wrote; `name` names it in errors.
///
/// # Errors
///
/// [`Error::Input`] for bytes that are not a state of this version, or
/// whose body does not match its manifest.
pub fn decode(bytes: &[u8], name: &Path) -> Result<(Manifest, State)> {
    let invalid = |reason: String| Error::Input { path: name.to_owned(), reason };
    let length = bytes
        .get(..8)
        .and_then(|prefix| <[u8; 8]>::try_from(prefix).ok())
        .and_then(|prefix| usize::try_from(u64::from_le_bytes(prefix)).ok())
        .filter(|&length| length <= bytes.len() - 8)
        .ok_or_else(|| invalid("not a touchpath state".to_owned()))?;
    let (json, body) = bytes[8..].split_at(length);
    let manifest: Manifest =
        serde_json::from_slice(json).map_err(|error| invalid(format!("not a touchpath state: {error}")))?;
    if manifest.format_version != STATE_FORMAT || manifest.touchpath_version != env!("CARGO_PKG_VERSION") {
        return Err(invalid(format!(
            "written by touchpath {} in state format {}; this is touchpath {} (state format {STATE_FORMAT})",
            manifest.touchpath_version,
            manifest.format_version,
            env!("CARGO_PKG_VERSION"),
        )));
    }
    if body.len() as u64 != manifest.body_bytes || blake3::hash(body).to_hex().as_str() != manifest.body_blake3 {
        return Err(invalid("does not match its manifest (truncated or corrupted)".to_owned()));
    }
    let state = decode_body(body, &manifest, name)?;
    Ok((manifest, state))
}
