//! The converting journeys of a bucketed run, kept until the models are
//! fitted.
//!
//! A run larger than its memory budget builds bucket after bucket of users
//! (see [`crate::ingest::spill`]). The data-driven models can only credit a
//! conversion once they are fitted on the counts of every bucket, so each
//! bucket's converting journeys are kept, and its counts are merged. They
//! stay in memory as the bucket built them while all the journeys held fit
//! in a limit ([`SpilledJourneys::holding`], a share of the run's budget);
//! beyond it, a bucket's journeys are written to a file of chunks of users,
//! sorted by user id. Once every bucket is
//! counted, [`SpilledJourneys::fold`] reads the files back chunk after chunk,
//! with the run's channel and campaign codes, for sums that do not depend on
//! the order of users (credit); [`SpilledJourneys::batches`] reads them back
//! together, merging them into user-id order, in batches of users (for the
//! journeys file). Journeys held in memory are cut into the same chunks as
//! they are read. Beyond what is held, memory holds a few chunks, or one
//! chunk per bucket and one batch, whatever the size of the log.
//!
//! The channel-path totals grow with the log too (every distinct path is a
//! key), so they go to disk as well, split into [`PATH_PARTS`] files by a hash
//! of the path's channel names; [`SpilledJourneys::channel_paths`] sums one
//! file at a time and keeps the first paths of each, among which are the
//! first paths of all.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::BufReader;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::patterns::{self, PatternShards};
use super::remap::{Codes, append_user};
use super::{Converting, State};
use crate::aggregate::{ChannelPath, PathTotals, Paths, Sum};
use crate::event_log::{Dictionary, EventLog};
use crate::format::encode;
use crate::ingest::spill::{for_frame_groups, read_frame, write_frame, write_frame_groups};
use crate::journey::Journeys;
use crate::models::incremental::{self, Incremental};
use crate::{Error, Result};

/// Users per chunk of a bucket's file.
const USERS_PER_CHUNK: usize = 16_384;

/// Chunks encoded at once by [`SpilledJourneys::take`], and decoded and
/// handed over at once by [`SpilledJourneys::fold`].
const CHUNKS_AT_ONCE: usize = 8;

/// Files the channel-path totals are split into.
pub const PATH_PARTS: usize = 16;

/// Some users of a bucket: their converting journeys and those journeys'
/// events, with the bucket's channel and campaign codes (the dictionaries
/// themselves are kept once, in [`BucketFile`]).
#[derive(Serialize, Deserialize)]
struct Chunk {
    log: EventLog,
    journeys: Journeys,
}

/// The channel-path totals of one bucket that fall in one part, with the
/// bucket's channel codes.
#[derive(Serialize, Deserialize)]
struct PathChunk {
    bucket: usize,
    paths: Vec<PathRow>,
}

/// A channel path (channel code, touches it stands for) and its totals.
type PathRow = (ChannelPath, PathTotals);

/// One bucket's channel-path totals, by path.
type PathMap = crate::aggregate::PathTable<(u32, u32)>;

/// Where one bucket's converting journeys are.
enum Kept {
    /// In a file of chunks of users.
    File(PathBuf),
    /// In memory, as the bucket built them, with its codes.
    Memory(Box<Converting>),
}

/// One bucket's dictionaries, its converting journeys if it has some, and
/// its file of `incremental`'s purchase patterns if it has some.
struct BucketFile {
    journeys: Option<Kept>,
    patterns: Option<PathBuf>,
    channels: Dictionary,
    campaigns: Dictionary,
}

/// The converting journeys of the buckets built so far, in memory or one
/// file each, and their channel-path totals in [`PATH_PARTS`] part files.
pub struct SpilledJourneys {
    directory: PathBuf,
    buckets: Vec<BucketFile>,
    chunk_users: usize,
    /// Bytes of the converting journeys held in memory.
    held: u64,
    /// The most bytes of converting journeys held in memory.
    limit: u64,
}

impl SpilledJourneys {
    /// Files go in `directory`, which must exist and outlive this value.
    /// Every bucket's journeys go to disk, unless [`SpilledJourneys::holding`]
    /// says otherwise.
    #[must_use]
    pub fn new(directory: &Path) -> Self {
        Self { directory: directory.to_owned(), buckets: Vec::new(), chunk_users: USERS_PER_CHUNK, held: 0, limit: 0 }
    }

    /// Holds the converting journeys of the buckets taken in memory, bucket
    /// after bucket, while they take `limit` bytes or fewer
    /// ([`held_bytes`]); the journeys of the buckets beyond go to disk.
    /// Held journeys are neither encoded and written nor read back and
    /// decoded: with every model on 67 million events, 0.965 times the wall
    /// time of writing them all (`docs/performance.md`).
    #[must_use]
    pub fn holding(self, limit: u64) -> Self {
        Self { limit, ..self }
    }

    /// Bytes of converting journeys held in memory, and the buckets whose
    /// journeys went to disk.
    #[must_use]
    pub fn kept(&self) -> (u64, usize) {
        let on_disk = self.buckets.iter().filter(|bucket| matches!(bucket.journeys, Some(Kept::File(_)))).count();
        (self.held, on_disk)
    }

    /// With chunks of `users` users, to test chunk boundaries.
    #[cfg(test)]
    pub(crate) fn with_chunk_users(directory: &Path, users: usize) -> Self {
        Self { chunk_users: users.max(1), ..Self::new(directory) }
    }

    /// Keeps the converting journeys of a bucket (of [`State::collect`]), in
    /// memory within the limit of [`SpilledJourneys::holding`], in a file
    /// beyond it, and moves the channel-path totals of its `state` to the
    /// part files, leaving it without channel paths.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be written.
    pub fn take(&mut self, state: &mut State, converting: Converting) -> Result<()> {
        let (log, journeys) = converting;
        let bucket = self.buckets.len();
        let size = held_bytes(&log, &journeys);
        let hold = self.held.saturating_add(size) <= self.limit;
        let path = self.directory.join(format!("journeys-{bucket:05}.bin"));
        let purchases = std::mem::take(&mut state.aggregates.hazard.purchases);
        let patterns = (!purchases.is_empty()).then(|| self.directory.join(format!("patterns-{bucket:05}.bin")));
        let paths = std::mem::take(&mut state.aggregates.paths.channels);
        // The three are written at once: each has stretches that keep one
        // core alone busy.
        let (written, (moved, kept)) = rayon::join(
            || if hold { Ok(()) } else { self.write_journeys(&path, &log, &journeys) },
            || {
                rayon::join(
                    || self.write_paths(bucket, paths, &state.log.channels),
                    || patterns.as_deref().map_or(Ok(()), |file| patterns::write_bucket(file, &purchases)),
                )
            },
        );
        written.and(moved).and(kept)?;
        let (channels, campaigns) = (log.channels.clone(), log.campaigns.clone());
        let journeys = if hold {
            self.held += size;
            Kept::Memory(Box::new((log, journeys)))
        } else {
            Kept::File(path)
        };
        self.buckets.push(BucketFile { journeys: Some(journeys), patterns, channels, campaigns });
        Ok(())
    }

    /// Writes converting journeys to the file `path`, in chunks of users.
    fn write_journeys(&self, path: &Path, log: &EventLog, journeys: &Journeys) -> Result<()> {
        let chunks = chunks(log.user_count(), self.chunk_users);
        // Chunks are cut and encoded in parallel, a group at a time.
        write_frame_groups(path, &chunks, CHUNKS_AT_ONCE, |users| {
            let chunk = slice(log, journeys, users.clone());
            encode(&chunk, "spilled journeys")
        })
    }

    /// Moves the channel-path totals of `state` to the part files, leaving
    /// it without channel paths: for a merge, whose states hold no journeys.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a part file cannot be written.
    pub fn take_paths(&mut self, state: &mut State) -> Result<()> {
        let paths = std::mem::take(&mut state.aggregates.paths.channels);
        self.write_paths(self.buckets.len(), paths, &state.log.channels)?;
        let (channels, campaigns) = (state.log.channels.clone(), state.log.campaigns.clone());
        self.buckets.push(BucketFile { journeys: None, patterns: None, channels, campaigns });
        Ok(())
    }

    /// `incremental` fitted on the exposure of `counts` (the merged state's,
    /// whose purchase patterns [`SpilledJourneys::take`] moved to disk) and
    /// the patterns of every bucket taken, with the channel codes of
    /// `dictionaries` and touches that matter for `memory` microseconds.
    /// The patterns' shards stay in memory up to `limit` bytes, the rest are
    /// read from disk at each step of the fit; the fit is the same either
    /// way, and the same as on counts that hold every pattern.
    ///
    /// # Errors
    ///
    /// A file that cannot be written, read or decoded.
    pub fn fit_incremental(
        &self,
        dictionaries: &EventLog,
        counts: &incremental::Counts,
        memory: i64,
        limit: u64,
    ) -> Result<Incremental> {
        let started = std::time::Instant::now();
        let numbers = incremental::Numbers::new(&incremental::features_of(counts));
        let buckets: Vec<(&Path, Codes)> = self
            .buckets
            .iter()
            .filter_map(|bucket| {
                let file = bucket.patterns.as_deref()?;
                let codes = Codes::between(
                    [&bucket.channels, &bucket.campaigns],
                    &dictionaries.channels,
                    &dictionaries.campaigns,
                );
                Some((file, codes))
            })
            .collect();
        let shards = PatternShards::build(&buckets, &numbers, &self.directory, limit)?;
        tracing::info!(
            event = "phase",
            phase = "fit_patterns",
            seconds = started.elapsed().as_secs_f64(),
            shards_on_disk = shards.written()
        );
        Incremental::fit_with(counts, memory, |request, features| shards.answer(request, features))
    }

    /// Appends the channel-path totals `paths` of bucket `bucket` (with the
    /// codes of `channels`) to the part files, each part encoded and
    /// appended in parallel.
    fn write_paths(&self, bucket: usize, paths: PathMap, channels: &Dictionary) -> Result<()> {
        let mut parts: Vec<Vec<PathRow>> = vec![Vec::new(); PATH_PARTS];
        for (path, totals) in paths {
            parts[part_of(&path, channels)].push((path, totals));
        }
        parts.into_par_iter().enumerate().filter(|(_, paths)| !paths.is_empty()).try_for_each(|(part, paths)| {
            let file = self.path_part(part);
            let bytes = encode(&PathChunk { bucket, paths }, "spilled paths")?;
            let io = |error| Error::io(&file, error);
            let mut writer = std::fs::OpenOptions::new().create(true).append(true).open(&file).map_err(io)?;
            write_frame(&mut writer, &bytes).map_err(io)
        })
    }

    fn path_part(&self, part: usize) -> PathBuf {
        self.directory.join(format!("paths-{part:02}.bin"))
    }

    /// The first `top` channel paths of every bucket taken, ranked as
    /// [`crate::report::Paths::channel_rows`] ranks them, with the names of
    /// `dictionaries`. Sums one part file at a time.
    ///
    /// # Errors
    ///
    /// A part file that cannot be read or decoded.
    pub fn channel_paths(&self, dictionaries: &EventLog, top: usize) -> Result<Vec<(String, PathTotals)>> {
        let codes: Vec<Codes> = self
            .buckets
            .iter()
            .map(|bucket| {
                Codes::between([&bucket.channels, &bucket.campaigns], &dictionaries.channels, &dictionaries.campaigns)
            })
            .collect();
        // Parts are summed in parallel, one per thread at a time; each
        // part's map is dropped once its first paths are kept.
        let first = (0..PATH_PARTS)
            .into_par_iter()
            .map(|part| self.part_rows(part, &codes, dictionaries, top))
            .collect::<Result<Vec<_>>>()?;
        let first = first.into_iter().flatten().collect();
        Ok(crate::report::rank_rows(first, top))
    }

    /// The first `top` channel paths of part file `part`, summed over the
    /// buckets (`codes` renumbers each bucket's channels).
    fn part_rows(
        &self,
        part: usize,
        codes: &[Codes],
        dictionaries: &EventLog,
        top: usize,
    ) -> Result<Vec<(String, PathTotals)>> {
        let file = self.path_part(part);
        if !file.exists() {
            return Ok(Vec::new());
        }
        let mut paths = Paths::default();
        let mut reader = BufReader::new(File::open(&file).map_err(|error| Error::io(&file, error))?);
        let mut bytes = Vec::new();
        while read_frame(&mut reader, &file, &mut bytes)? {
            let chunk: PathChunk = postcard::from_bytes(&bytes).map_err(|error| {
                Error::Internal(format!("{}: cannot decode spilled paths: {error}", file.display()))
            })?;
            let codes = codes.get(chunk.bucket).ok_or_else(|| {
                Error::Internal(format!("{}: paths of an unknown bucket {}", file.display(), chunk.bucket))
            })?;
            let part = Paths { channels: chunk.paths.into_iter().collect(), ..Paths::default() };
            paths.add(part.renumber(codes));
        }
        Ok(paths.channel_rows(dictionaries, top))
    }

    /// Reads every bucket's journeys back, chunk after chunk in no set
    /// order, renumbered into the dictionaries of `dictionaries` (its events
    /// are not read), hands each chunk to `each` and unites what it returns
    /// with `merge`, starting from `identity`. For sums that do not depend on
    /// how users are grouped or ordered, such as [`crate::report::Tally`]:
    /// chunks are decoded (or, held in memory, cut) and handed over in
    /// parallel, [`CHUNKS_AT_ONCE`] at a time from a file, without the merge
    /// into user-id order that [`SpilledJourneys::batches`] does.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or decoded, and whatever `each` returns.
    pub fn fold<T: Send>(
        &self,
        dictionaries: &EventLog,
        identity: impl Fn() -> T + Sync,
        each: impl Fn(&EventLog, &Journeys) -> Result<T> + Sync,
        merge: impl Fn(T, T) -> T + Sync,
    ) -> Result<T> {
        let (channels, campaigns) = (&dictionaries.channels, &dictionaries.campaigns);
        let mut total = identity();
        for bucket in &self.buckets {
            let codes = Codes::between([&bucket.channels, &bucket.campaigns], channels, campaigns);
            let credit = |mut chunk: Chunk| {
                codes.renumber(&mut chunk.log);
                chunk.log.channels = channels.clone();
                chunk.log.campaigns = campaigns.clone();
                each(&chunk.log, &chunk.journeys)
            };
            match &bucket.journeys {
                None => {}
                Some(Kept::Memory(held)) => {
                    let (log, journeys) = &**held;
                    let part = chunks(log.user_count(), self.chunk_users)
                        .into_par_iter()
                        .map(|users| credit(slice(log, journeys, users)))
                        .try_reduce(&identity, |left, right| Ok(merge(left, right)))?;
                    total = merge(std::mem::replace(&mut total, identity()), part);
                }
                Some(Kept::File(path)) => for_frame_groups(path, CHUNKS_AT_ONCE, |frames| {
                    let part = frames
                        .into_par_iter()
                        .map(|bytes| credit(decode_chunk(&bytes, path)?))
                        .try_reduce(&identity, |left, right| Ok(merge(left, right)))?;
                    total = merge(std::mem::replace(&mut total, identity()), part);
                    Ok(())
                })?,
            }
        }
        Ok(total)
    }

    /// Reads every bucket's journeys back, in user-id order, and hands them
    /// to `each` in batches of whole users of at least `batch` journeys (the
    /// last may be smaller), renumbered into the dictionaries of
    /// `dictionaries` (its events are not read).
    ///
    /// # Errors
    ///
    /// A file that cannot be read or decoded, a user in two buckets, and
    /// whatever `each` returns.
    pub fn batches(
        &self,
        dictionaries: &EventLog,
        batch: usize,
        mut each: impl FnMut(&EventLog, &Journeys) -> Result<()>,
    ) -> Result<()> {
        let (channels, campaigns) = (&dictionaries.channels, &dictionaries.campaigns);
        let mut cursors = self
            .buckets
            .iter()
            .filter_map(|bucket| {
                let codes = Codes::between([&bucket.channels, &bucket.campaigns], channels, campaigns);
                match bucket.journeys.as_ref()? {
                    Kept::File(path) => Some(Cursor::open(path, codes)),
                    Kept::Memory(held) => Some(Ok(Cursor::held(&held.0, &held.1, self.chunk_users, codes))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (index, cursor) in cursors.iter_mut().enumerate() {
            if let Some(name) = cursor.next_name()? {
                heap.push(Reverse((name, index)));
            }
        }
        let empty = || {
            let log = EventLog { channels: channels.clone(), campaigns: campaigns.clone(), ..EventLog::default() };
            (log, Journeys::default(), Vec::<Box<str>>::new())
        };
        let mut current = empty();
        let mut last: Option<Box<str>> = None;
        while let Some(Reverse((name, index))) = heap.pop() {
            if last.as_ref().is_some_and(|last| *last >= name) {
                return Err(Error::State(format!("user {name:?} is in two buckets, or a bucket is out of order")));
            }
            last = Some(name.clone());
            let cursor = &mut cursors[index];
            let (log, journeys, users) = &mut current;
            append_user(log, journeys, (&cursor.chunk.log, &cursor.chunk.journeys, &cursor.codes), cursor.user);
            users.push(name);
            cursor.user += 1;
            if let Some(next) = cursor.next_name()? {
                heap.push(Reverse((next, index)));
            }
            if journeys.len() >= batch {
                let (log, journeys) = close(std::mem::replace(&mut current, empty()));
                each(&log, &journeys)?;
            }
        }
        if !current.2.is_empty() {
            let (log, journeys) = close(current);
            each(&log, &journeys)?;
        }
        Ok(())
    }
}

/// Ends a batch: the last user's end, and the users' names.
fn close((mut log, mut journeys, users): (EventLog, Journeys, Vec<Box<str>>)) -> (EventLog, Journeys) {
    log.user_starts.push(log.time.len());
    journeys.user_starts.push(journeys.len());
    log.users = Dictionary::from_sorted(users);
    (log, journeys)
}

/// Where a [`Cursor`] takes its chunks from.
enum Source<'a> {
    /// A bucket's file, read frame after frame.
    File { path: PathBuf, reader: BufReader<File> },
    /// A bucket's journeys held in memory, and the chunks of users left to
    /// cut from them.
    Memory { log: &'a EventLog, journeys: &'a Journeys, chunks: std::vec::IntoIter<Range<usize>> },
}

/// Reading one bucket's journeys, chunk after chunk.
struct Cursor<'a> {
    source: Source<'a>,
    codes: Codes,
    chunk: Chunk,
    /// The next user of the chunk.
    user: usize,
}

impl<'a> Cursor<'a> {
    fn open(path: &Path, codes: Codes) -> Result<Self> {
        let reader = BufReader::with_capacity(1 << 16, File::open(path).map_err(|error| Error::io(path, error))?);
        Ok(Self::of(Source::File { path: path.to_owned(), reader }, codes))
    }

    fn held(log: &'a EventLog, journeys: &'a Journeys, users: usize, codes: Codes) -> Self {
        Self::of(Source::Memory { log, journeys, chunks: chunks(log.user_count(), users).into_iter() }, codes)
    }

    fn of(source: Source<'a>, codes: Codes) -> Self {
        let chunk = Chunk { log: EventLog::default(), journeys: Journeys::default() };
        Self { source, codes, chunk, user: 0 }
    }

    /// The name of the next user, reading the next chunk when this one is
    /// done; `None` at the end of the file.
    fn next_name(&mut self) -> Result<Option<Box<str>>> {
        while self.user >= self.chunk.log.user_count() {
            let Some(chunk) = self.read_chunk()? else {
                return Ok(None);
            };
            self.chunk = chunk;
            self.user = 0;
        }
        Ok(Some(Box::from(self.chunk.log.users.get(u32::try_from(self.user).unwrap_or(u32::MAX)))))
    }

    fn read_chunk(&mut self) -> Result<Option<Chunk>> {
        match &mut self.source {
            Source::File { path, reader } => {
                let mut bytes = Vec::new();
                if !read_frame(reader, path, &mut bytes)? {
                    return Ok(None);
                }
                decode_chunk(&bytes, path).map(Some)
            }
            Source::Memory { log, journeys, chunks } => Ok(chunks.next().map(|users| slice(log, journeys, users))),
        }
    }
}

/// Bytes the converting journeys `log` and `journeys` take in memory: their
/// events' columns, their journeys' columns and their users' names.
pub(super) fn held_bytes(log: &EventLog, journeys: &Journeys) -> u64 {
    use std::mem::size_of;
    let event = size_of::<i64>() * 2 + size_of::<u32>() * 2 + 2;
    let journey = size_of::<u32>() + size_of::<usize>() * 4 + 1;
    let user = size_of::<usize>() * 2 + size_of::<Box<str>>();
    // A name's allocation is rounded up to a word.
    let names: usize = log.users.iter().map(|name| name.len().next_multiple_of(size_of::<usize>())).sum();
    let bytes = log.len() * event + journeys.len() * journey + log.user_count() * user + names;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

fn decode_chunk(bytes: &[u8], path: &Path) -> Result<Chunk> {
    postcard::from_bytes(bytes)
        .map_err(|error| Error::Internal(format!("{}: cannot decode spilled journeys: {error}", path.display())))
}

/// The part a channel path goes to: a hash of its channel names and counts,
/// so that the same path lands in the same part from every bucket.
fn part_of(path: &[(u32, u32)], channels: &Dictionary) -> usize {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = foldhash::fast::FixedState::with_seed(0).build_hasher();
    for &(channel, count) in path {
        channels.get(channel).hash(&mut hasher);
        count.hash(&mut hasher);
    }
    usize::try_from(hasher.finish() % PATH_PARTS as u64).unwrap_or(0)
}

/// The users `0..users` cut into chunks of `per_chunk` users (the last may
/// be smaller), as a bucket's journeys are written and credited.
fn chunks(users: usize, per_chunk: usize) -> Vec<Range<usize>> {
    (0..users).step_by(per_chunk).map(|start| start..(start + per_chunk).min(users)).collect()
}

/// Users `users` of `log` and their journeys, with indices rebased; the
/// dictionaries of channels and campaigns are left empty.
fn slice(log: &EventLog, journeys: &Journeys, users: Range<usize>) -> Chunk {
    let events = log.user_starts[users.start]..log.user_starts[users.end];
    let first = events.start;
    let names = users.clone().map(|user| Box::from(log.users.get(u32::try_from(user).unwrap_or(u32::MAX))));
    let part = EventLog {
        users: Dictionary::from_sorted(names.collect()),
        channels: Dictionary::default(),
        campaigns: Dictionary::default(),
        user_starts: log.user_starts[users.start..=users.end].iter().map(|start| start - first).collect(),
        time: log.time[events.clone()].to_vec(),
        kind: log.kind[events.clone()].to_vec(),
        channel: log.channel[events.clone()].to_vec(),
        campaign: log.campaign[events.clone()].to_vec(),
        stage: log.stage[events.clone()].to_vec(),
        revenue: log.revenue[events].to_vec(),
    };
    let range = journeys.user_starts[users.start]..journeys.user_starts[users.end];
    let shift = |index: usize| if index == usize::MAX { index } else { index - first };
    let user_base = u32::try_from(users.start).unwrap_or(u32::MAX);
    let part_journeys = Journeys {
        user: journeys.user[range.clone()].iter().map(|user| user - user_base).collect(),
        path_start: journeys.path_start[range.clone()].iter().map(|&index| shift(index)).collect(),
        path_end: journeys.path_end[range.clone()].iter().map(|&index| shift(index)).collect(),
        conversion: journeys.conversion[range.clone()].iter().map(|&index| shift(index)).collect(),
        first_purchase: journeys.first_purchase[range.clone()].to_vec(),
        user_starts: journeys.user_starts[users.start..=users.end].iter().map(|start| start - range.start).collect(),
        touches_outside_window: 0,
    };
    Chunk { log: part, journeys: part_journeys }
}
