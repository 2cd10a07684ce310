//! The partial state of a run over some of the users, and how states merge.
//!
//! A run is two steps: every bucket of users (see [`crate::bucket`]) is read
//! into a [`State`], then the states are merged and the report is
//! [finalised](State::finalise) from the merged state. A run over the whole
//! log is the one-bucket case of the same two steps, so a merge of the
//! states of `N` buckets gives, byte for byte, the report of a single run.
//!
//! A state holds what adds up over disjoint sets of users, with channel and
//! campaign codes relative to its own dictionaries:
//!
//! - the row accounting, rejected rows, warnings and users set aside;
//! - the journey statistics, with the histogram of path lengths;
//! - transition counts of the Markov chains and coalition counts of the
//!   Shapley game, over every journey;
//! - KPI counters and path totals;
//! - each bucket's start (the instant after which a timestamp is in the
//!   future), so that a bucket's second pass reads its rows as the first did.
//!
//! A state does not hold the converting journeys: the data-driven models can
//! only credit a conversion once they are fitted on every user's counts, so
//! crediting is a second pass over each bucket's rows with the fitted models
//! ([`crate::partitions::Fitted`]), whose sums ([`crate::report::Tally`]) add
//! up like the state's. A run in memory keeps its log and journeys beside
//! its state ([`State::collect`], [`Keep::Whole`]) for that pass; a bucketed
//! run on one machine keeps a copy of its converting journeys, in memory
//! within a share of its budget and on disk beyond ([`SpilledJourneys`]);
//! `touchpath run --bucket K/N --fit` reads the bucket again.
//!
//! Merging unites the dictionaries (sorted, so a code's order is its name's),
//! renumbers codes, and adds. It is associative and commutative, with
//! [`State::empty`] as identity; see `docs/state.md` for the file format.

mod file;
pub mod fit;
mod patterns;
mod remap;
mod spilled;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use self::file::{
    CREDIT_KIND, Credit, FIT_FILE, MANIFEST_FILE, Manifest, STATE_FILE, STATE_FORMAT, STATE_KIND, decode, encode,
    read_credit, read_fit, read_manifest, read_state, write_credit, write_state,
};
pub use self::spilled::SpilledJourneys;
use crate::aggregate::{Aggregates, Sum};
use crate::bucket::Bucket;
use crate::config::Config;
use crate::config::Mode;
use crate::event_log::{Dictionary, EventLog, SetAsideUser};
use crate::ingest::{EventIngest, FileRows, Reject, RowCounts, SpendIngest, Warning};
use crate::journey::{JourneyStats, Journeys};
use crate::{Error, Result};

/// Which buckets of how many a state holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    /// How many buckets the users were split into.
    pub count: u32,
    /// The buckets held, ascending.
    pub held: BTreeSet<u32>,
}

impl Buckets {
    /// The single bucket of a whole run.
    #[must_use]
    pub fn whole() -> Self {
        Self { count: 1, held: BTreeSet::from([0]) }
    }

    /// One bucket.
    #[must_use]
    pub fn one(bucket: Bucket) -> Self {
        Self { count: bucket.count, held: BTreeSet::from([bucket.index]) }
    }

    /// True when every bucket is held: the state covers every user.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.held.len() == self.count as usize
    }

    /// The buckets not held.
    #[must_use]
    pub fn missing(&self) -> Vec<u32> {
        (0..self.count).filter(|index| !self.held.contains(index)).collect()
    }

    /// The buckets not held, as `K/N`, for messages.
    #[must_use]
    pub fn missing_names(&self) -> Vec<String> {
        self.missing().iter().map(|index| format!("{index}/{}", self.count)).collect()
    }
}

/// The touchpoint log's accounting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventAccount {
    /// Where every row went.
    pub rows: RowCounts,
    /// The first rejected rows, in file and row order: at most
    /// [`EventAccount::listed`].
    pub rejects: Vec<Reject>,
    /// How many rejected rows are listed at most (`max_rejects_listed`).
    pub listed: u64,
    /// Warnings on accepted rows, by kind.
    pub warnings: BTreeMap<Warning, u64>,
    /// The files read, with the rows each gave.
    pub files: Vec<FileRows>,
}

/// The partial state of a run over some buckets of users.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The buckets covered.
    pub buckets: Buckets,
    /// The touchpoint log's accounting, over these users' rows.
    pub events: EventAccount,
    /// Users set aside for having too many events.
    pub set_aside: Vec<SetAsideUser>,
    /// The spend table, when the run has one.
    pub spend: Option<SpendIngest>,
    /// Journey statistics.
    pub stats: JourneyStats,
    /// Counts over every journey.
    pub aggregates: Aggregates,
    /// The dictionaries of every channel and campaign accepted, which the
    /// codes of [`State::aggregates`] refer to: a log without events.
    pub log: EventLog,
    /// Each bucket's start, microseconds since the epoch: timestamps after
    /// it were read as being in the future.
    pub starts: BTreeMap<u32, i64>,
}

/// The events and journeys of some users, with the codes of a state's
/// dictionaries, among which the second pass credits the converting
/// journeys whose conversions fall in the analysis period: those alone
/// with their events ([`remap::converting`]), or the whole log as the
/// first pass built it ([`Keep`]).
pub type Converting = (EventLog, Journeys);

/// What [`State::collect`] keeps of the converting journeys it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// A copy of the converting journeys in the analysis period and the
    /// events they read: smaller than the log, for a bucket moved to disk.
    Copy,
    /// The log and every journey, as built: nothing to copy, for a run in
    /// memory, which holds the log already.
    Whole,
}

impl State {
    /// The state of no user: merging it changes nothing.
    #[must_use]
    pub fn empty(buckets: Buckets, spend: Option<SpendIngest>, files: Vec<FileRows>) -> Self {
        let files = files.into_iter().map(|file| FileRows { rows: 0, rejected: 0, ..file }).collect();
        Self {
            buckets,
            events: EventAccount { files, ..EventAccount::default() },
            set_aside: Vec::new(),
            spend,
            stats: JourneyStats::default(),
            aggregates: Aggregates::default(),
            log: remap::dictionaries(&EventLog::default()),
            starts: BTreeMap::new(),
        }
    }

    /// Builds the state of the users of one ingest, read with the run's
    /// start `now`: sets aside the users with too many events, rebuilds
    /// journeys and counts. Returns too the converting journeys to credit
    /// once the models are fitted (none unless `mode` attributes), as
    /// `keep` says.
    #[must_use]
    pub fn collect(
        events: EventIngest,
        spend: Option<SpendIngest>,
        buckets: Buckets,
        config: &Config,
        (mode, now): (Mode, i64),
        keep: Keep,
    ) -> (Self, Converting) {
        Self::collect_journeys(events, spend, buckets, (config, mode, now), Some(keep))
    }

    /// [`State::collect`] with `(config, mode, now)`, keeping the converting
    /// journeys as `keep` says (nothing without, or unless `mode`
    /// attributes).
    fn collect_journeys(
        mut events: EventIngest,
        spend: Option<SpendIngest>,
        buckets: Buckets,
        (config, mode, now): (&Config, Mode, i64),
        keep: Option<Keep>,
    ) -> (Self, Converting) {
        let set_aside = events.log.set_aside_users(config.max_events_per_user);
        let journeys = Journeys::build(&events.log, config.lookback);
        let stats = JourneyStats::compute(&events.log, &journeys);
        let end = events.latest.unwrap_or_else(|| events.log.latest());
        let log = remap::dictionaries(&events.log);
        let keep = keep.filter(|_| mode == Mode::Attribute);
        let nothing = || (log.clone(), Journeys { user_starts: vec![0], ..Journeys::default() });
        let (aggregates, converting) = if keep == Some(Keep::Copy) {
            // The converting journeys are copied out (on one thread, user
            // after user) while the counts walk the journeys on the others.
            rayon::join(
                || Aggregates::compute(&events.log, &journeys, config, mode, end),
                || remap::converting(&events.log, &journeys, config),
            )
        } else {
            let aggregates = Aggregates::compute(&events.log, &journeys, config, mode, end);
            let converting =
                if keep == Some(Keep::Whole) { (std::mem::take(&mut events.log), journeys) } else { nothing() };
            (aggregates, converting)
        };
        let bucket_starts = buckets.held.iter().map(|&bucket| (bucket, now)).collect();
        let mut rejects = events.rejects;
        rejects.sort_by_key(|reject| (reject.file, reject.record));
        rejects.truncate(usize::try_from(config.max_rejects_listed).unwrap_or(usize::MAX));
        let counted = Self {
            buckets,
            events: EventAccount {
                rows: events.rows,
                rejects,
                listed: config.max_rejects_listed,
                warnings: events.warnings,
                files: events.files,
            },
            set_aside,
            spend,
            stats,
            aggregates,
            log,
            starts: bucket_starts,
        };
        (counted, converting)
    }

    /// The counts of the users of one ingest, read with the run's start
    /// `now`, without their converting journeys: the first pass over a
    /// partition of a distributed run or over a bucket of `touchpath run
    /// --bucket`, whose converting journeys are credited in a second pass
    /// over the same rows once every partition is counted (see
    /// [`crate::partitions`]). `end` is where the whole log's time ends,
    /// when the rows cannot tell (a partition's rows are not the whole
    /// log).
    #[must_use]
    pub fn count(
        mut events: EventIngest,
        spend: Option<SpendIngest>,
        buckets: Buckets,
        config: &Config,
        mode: Mode,
        now: i64,
        end: Option<i64>,
    ) -> Self {
        events.latest = end.or(events.latest);
        Self::collect_journeys(events, spend, buckets, (config, mode, now), None).0
    }

    /// Checks that `other` can merge into this state: same inputs, disjoint
    /// buckets of the same split.
    ///
    /// # Errors
    ///
    /// [`Error::State`] naming what differs.
    pub fn check_mergeable(&self, other: &Self) -> Result<()> {
        if self.buckets.count != other.buckets.count {
            return Err(Error::State(format!(
                "the states split users into different numbers of buckets ({} and {})",
                self.buckets.count, other.buckets.count
            )));
        }
        if let Some(shared) = self.buckets.held.intersection(&other.buckets.held).next() {
            return Err(Error::State(format!("bucket {shared}/{} is in two of the states", self.buckets.count)));
        }
        let spend_files = |state: &Self| state.spend.as_ref().map(|spend| spend.files.clone()).unwrap_or_default();
        let (mine, theirs) = (&self.aggregates.hazard, &other.aggregates.hazard);
        if !mine.exposure.is_empty() && !theirs.exposure.is_empty() && mine.end != theirs.end {
            return Err(Error::State(format!(
                "the states were counted up to different ends of the log's time ({} and {} µs since the epoch)",
                mine.end, theirs.end
            )));
        }
        if !same_files(&self.events.files, &other.events.files)
            || !same_files(&spend_files(self), &spend_files(other))
            || self.spend.as_ref().map(|spend| (&spend.rows, &spend.counts))
                != other.spend.as_ref().map(|spend| (&spend.rows, &spend.counts))
        {
            return Err(Error::State(
                "the states were made from different input files (paths or contents differ)".to_owned(),
            ));
        }
        Ok(())
    }

    /// Merges another state into this one.
    ///
    /// # Errors
    ///
    /// As [`State::check_mergeable`].
    pub fn merge(self, other: Self) -> Result<Self> {
        self.check_mergeable(&other)?;
        let channels = remap::union(&self.log.channels, &other.log.channels);
        let campaigns = remap::union(&self.log.campaigns, &other.log.campaigns);
        let mine = remap::Codes::new(&self.log, &channels, &campaigns);
        let theirs = remap::Codes::new(&other.log, &channels, &campaigns);
        let log = EventLog { channels, campaigns, ..remap::dictionaries(&EventLog::default()) };

        let mut aggregates = self.aggregates.renumber(&mine);
        aggregates.add(other.aggregates.renumber(&theirs));

        let mut events = self.events;
        events.rows.read += other.events.rows.read;
        events.rows.accepted += other.events.rows.accepted;
        events.rows.rejected += other.events.rows.rejected;
        events.rows.duplicates += other.events.rows.duplicates;
        for (reason, count) in other.events.rows.rejected_by_reason {
            *events.rows.rejected_by_reason.entry(reason).or_default() += count;
        }
        // The first of each part's listed rows are the first of all (the
        // empty state lists none, hence the larger limit).
        events.listed = events.listed.max(other.events.listed);
        events.rejects.extend(other.events.rejects);
        events.rejects.sort_by_key(|reject| (reject.file, reject.record));
        events.rejects.truncate(usize::try_from(events.listed).unwrap_or(usize::MAX));
        for (warning, count) in other.events.warnings {
            *events.warnings.entry(warning).or_default() += count;
        }
        for (file, theirs) in events.files.iter_mut().zip(other.events.files) {
            file.rows += theirs.rows;
            file.rejected += theirs.rejected;
        }
        let mut set_aside = self.set_aside;
        set_aside.extend(other.set_aside);
        set_aside.sort_by(|left, right| left.user.cmp(&right.user));
        let mut stats = self.stats;
        stats.merge(&other.stats);
        let mut buckets = self.buckets;
        buckets.held.extend(other.buckets.held);
        let mut bucket_starts = self.starts;
        bucket_starts.extend(other.starts);
        Ok(Self { buckets, events, set_aside, spend: self.spend, stats, aggregates, log, starts: bucket_starts })
    }

    /// Checks the invariants finalising relies on, for a state read from
    /// disk: sorted dictionaries, no events, codes in range, a start for
    /// every bucket held.
    ///
    /// # Errors
    ///
    /// What does not hold.
    pub fn check_consistent(&self) -> std::result::Result<(), String> {
        let log = &self.log;
        let lanes_ok = |state: crate::models::chain::StateKey| {
            (0..4).all(|lane| {
                let value = (state >> (32 * lane)) & 0xFFFF_FFFF;
                value == 0 || (value as usize) <= log.channels.len()
            })
        };
        let spend_ok =
            self.spend.as_ref().is_none_or(|spend| spend.rejects.iter().all(|reject| reject.file < spend.files.len()));
        let checks: [(&dyn Fn() -> bool, &str); 7] = [
            (&|| self.aggregates.replicates.is_consistent(), "bootstrap replicates"),
            (
                &|| {
                    spend_ok
                        && self.events.rejects.len() as u64 <= self.events.listed
                        && self.events.rejects.iter().all(|reject| reject.file < self.events.files.len())
                },
                "rejected rows",
            ),
            (&|| log.users.is_sorted() && log.channels.is_sorted() && log.campaigns.is_sorted(), "dictionaries"),
            (&|| log.is_empty() && log.user_count() == 0 && log.user_starts == [0], "events"),
            (&|| self.starts.keys().copied().eq(self.buckets.held.iter().copied()), "bucket starts"),
            (
                &|| {
                    [&self.aggregates.first_order, &self.aggregates.higher_order].iter().all(|counts| {
                        counts.transitions.keys().all(|(from, to)| {
                            lanes_ok(*from)
                                && match to {
                                    crate::models::chain::Target::State(state) => lanes_ok(*state),
                                    _ => true,
                                }
                        })
                    })
                },
                "chain states",
            ),
            (
                &|| {
                    self.aggregates.coalitions.keys().flatten().all(|&code| (code as usize) < log.channels.len())
                        && self.aggregates.kpis.channels.keys().all(|&code| (code as usize) < log.channels.len())
                        && self
                            .aggregates
                            .paths
                            .channels
                            .keys()
                            .flat_map(|path| path.iter())
                            .all(|&(code, _)| (code as usize) < log.channels.len())
                },
                "aggregate channel codes",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok()) {
            Some((_, what)) => Err(format!("inconsistent state: {what}")),
            None => Ok(()),
        }
    }

    /// The names of every channel accepted.
    #[must_use]
    pub fn channels(&self) -> &Dictionary {
        &self.log.channels
    }
}

/// True when two lists of input files name the same files with the same
/// contents (paths, formats, hashes), whatever rows each part read.
pub(crate) fn same_files(left: &[FileRows], right: &[FileRows]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .all(|(left, right)| left.path == right.path && left.blake3 == right.blake3 && left.format == right.format)
}

/// The converting journeys in the analysis period of the users of `log`,
/// with the channel and campaign codes of `channels` and `campaigns` (a
/// run's dictionaries, which hold every name of `log`'s): the second pass
/// over a partition of a distributed run, which credits them with the
/// models fitted on every partition's counts. Users with too many events are
/// set aside as [`State::collect`] sets them aside.
#[must_use]
pub fn converting_in(
    mut log: EventLog,
    config: &Config,
    channels: &Dictionary,
    campaigns: &Dictionary,
) -> (EventLog, Journeys) {
    let _ = log.set_aside_users(config.max_events_per_user);
    let journeys = Journeys::build(&log, config.lookback);
    let (mut log, journeys) = remap::converting(&log, &journeys, config);
    remap::Codes::between([&log.channels, &log.campaigns], channels, campaigns).renumber(&mut log);
    log.channels = channels.clone();
    log.campaigns = campaigns.clone();
    (log, journeys)
}

#[cfg(test)]
mod tests;
