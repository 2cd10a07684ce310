//! Reading a log once into buckets of users on disk, for runs larger than
//! memory.
//!
//! [`spill`] parses every row once, as [`super::ingest_events`] does, and
//! appends each accepted event to the spill file of its user's bucket (see
//! [`crate::bucket`]), in chunks that carry their own small dictionaries.
//! [`Spill::bucket`] then reads one bucket back into an [`EventIngest`]: the
//! same events, deduplicated and ordered, as reading the log with that bucket
//! would give. The row accounting (reads, rejects, warnings) is kept once,
//! with bucket 0; the channels and campaigns of every parsed row also go to
//! bucket 0, so that the united dictionaries are those of a whole run.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::row::ParsedRows;
use super::strings::Strings;
use super::users::UserCodes;
use super::{Accounting, EventIngest, FileRows, RowCounts, SourceFile, add_coded, read_log, too_many};
use crate::config::Config;
use crate::event_log::{Event, EventLog, Interner, NO_CHANNEL_CODE};
use crate::progress::Progress;
use crate::{Error, Result};

/// Chunks of a bucket file decoded at once when it is read back.
const CHUNKS_AT_ONCE: usize = 64;

/// No frame is larger: a task parses 65 536 rows.
const MAX_FRAME_BYTES: u64 = 1 << 32;

/// Writes `bytes` as one frame of a spill file: its length (8 bytes, little
/// endian), then the bytes.
///
/// # Errors
///
/// Whatever the writer returns.
pub(crate) fn write_frame(writer: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    writer.write_all(&(bytes.len() as u64).to_le_bytes())?;
    writer.write_all(bytes)
}

/// Reads the next frame of the spill file `path` into `bytes`; false at the
/// end of the file.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Internal`] for a
/// frame too large to have been written.
pub(crate) fn read_frame(reader: &mut impl Read, path: &Path, bytes: &mut Vec<u8>) -> Result<bool> {
    let mut length = [0_u8; 8];
    match reader.read_exact(&mut length) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(error) => return Err(Error::io(path, error)),
    }
    let size = u64::from_le_bytes(length);
    if size > MAX_FRAME_BYTES {
        return Err(Error::Internal(format!("{}: a spilled chunk of {size} bytes", path.display())));
    }
    bytes.resize(usize::try_from(size).unwrap_or(0), 0);
    reader.read_exact(bytes).map_err(|error| Error::io(path, error))?;
    Ok(true)
}

/// Reads the spill file `path` a group of up to `count` frames at a time
/// (the last group may be smaller), handing each group to `each`, which
/// decodes its frames in parallel.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened, as [`read_frame`], and
/// whatever `each` returns.
pub(crate) fn for_frame_groups(
    path: &Path,
    count: usize,
    mut each: impl FnMut(Vec<Vec<u8>>) -> Result<()>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(|error| Error::io(path, error))?);
    loop {
        let frames = read_frames(&mut reader, path, count)?;
        if frames.is_empty() {
            return Ok(());
        }
        each(frames)?;
    }
}

/// Writes the spill file `path`, one frame per item of `items` (`encode`
/// gives its bytes): `count` items encoded at a time, in parallel, and
/// written in order. The writing twin of [`for_frame_groups`].
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written, and whatever `encode`
/// returns.
pub(crate) fn write_frame_groups<T: Sync>(
    path: &Path,
    items: &[T],
    count: usize,
    encode: impl Fn(&T) -> Result<Vec<u8>> + Sync,
) -> Result<()> {
    let io = |error| Error::io(path, error);
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    for group in items.chunks(count) {
        let frames = group.par_iter().map(&encode).collect::<Result<Vec<_>>>()?;
        for bytes in frames {
            write_frame(&mut writer, &bytes).map_err(io)?;
        }
    }
    writer.into_inner().map_err(|error| io(error.into_error()))?;
    Ok(())
}

/// Reads up to `count` frames of the spill file `path`; fewer at its end,
/// none once it is read.
///
/// # Errors
///
/// As [`read_frame`].
fn read_frames(reader: &mut impl Read, path: &Path, count: usize) -> Result<Vec<Vec<u8>>> {
    let mut frames = Vec::with_capacity(count);
    while frames.len() < count {
        let mut bytes = Vec::new();
        if !read_frame(reader, path, &mut bytes)? {
            break;
        }
        frames.push(bytes);
    }
    Ok(frames)
}

/// The events of one parse task that fall in one bucket, with the strings
/// their codes stand for.
#[derive(Default, Serialize, Deserialize)]
struct Chunk {
    users: Strings,
    channels: Vec<Box<str>>,
    campaigns: Vec<Box<str>>,
    events: Vec<Event>,
}

/// Builds a [`Chunk`] from a task's events, renumbering codes.
struct ChunkBuilder {
    chunk: Chunk,
    users: Vec<u32>,
    channels: Vec<u32>,
    campaigns: Vec<u32>,
}

impl ChunkBuilder {
    fn new(parsed: &ParsedRows) -> Self {
        Self {
            chunk: Chunk::default(),
            users: vec![u32::MAX; parsed.users.len()],
            channels: vec![u32::MAX; parsed.channels.values().len()],
            campaigns: vec![u32::MAX; parsed.campaigns.values().len()],
        }
    }

    fn code(map: &mut [u32], values: &mut Vec<Box<str>>, source: &[Box<str>], code: u32) -> u32 {
        let slot = &mut map[code as usize];
        if *slot == u32::MAX {
            *slot = u32::try_from(values.len()).unwrap_or(u32::MAX);
            values.push(source[code as usize].clone());
        }
        *slot
    }

    fn push(&mut self, parsed: &ParsedRows, event: Event) {
        let slot = &mut self.users[event.user as usize];
        if *slot == u32::MAX {
            *slot = code_of(self.chunk.users.len());
            self.chunk.users.push(parsed.users.get(event.user));
        }
        let user = *slot;
        let channel = if event.channel == NO_CHANNEL_CODE {
            NO_CHANNEL_CODE
        } else {
            Self::code(&mut self.channels, &mut self.chunk.channels, parsed.channels.values(), event.channel)
        };
        let campaign =
            Self::code(&mut self.campaigns, &mut self.chunk.campaigns, parsed.campaigns.values(), event.campaign);
        self.chunk.events.push(Event { user, channel, campaign, ..event });
    }

    /// Adds every channel and campaign of the task, used or not.
    fn take_dictionaries(&mut self, parsed: &ParsedRows) {
        for code in 0..self.channels.len() {
            Self::code(&mut self.channels, &mut self.chunk.channels, parsed.channels.values(), code_of(code));
        }
        for code in 0..self.campaigns.len() {
            Self::code(&mut self.campaigns, &mut self.chunk.campaigns, parsed.campaigns.values(), code_of(code));
        }
    }
}

fn code_of(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The spill bucket, of `count`, of a user whose id hashes to `hash` in
/// its task's dictionary ([`super::users::TaskUsers::hash`]). A spilled
/// run's buckets never leave the run, so they are cut from the hash the
/// dictionary computed already rather than from
/// [`crate::bucket::bucket_of`], whose BLAKE3 hash `--bucket K/N` needs to
/// be the same in every build and which had taken 4 % of a spilling run's
/// CPU. Which users share a bucket does not change the run's outputs.
fn spill_bucket(hash: u64, count: u32) -> u32 {
    u32::try_from((u128::from(hash) * u128::from(count)) >> 64).unwrap_or(0)
}

/// One task's events split by bucket, each part encoded as a [`Chunk`];
/// bucket 0 also gets every channel and campaign the task parsed.
fn encode_task(source: &SourceFile, parsed: &ParsedRows, count: u32) -> Result<Vec<(usize, Vec<u8>)>> {
    if parsed.users_full {
        return Err(too_many(&source.path, "user ids"));
    }
    let buckets: Vec<u32> =
        (0..parsed.users.len()).map(|code| spill_bucket(parsed.users.hash(code_of(code)), count)).collect();
    let mut builders: Vec<Option<ChunkBuilder>> = (0..count).map(|_| None).collect();
    let mut first = ChunkBuilder::new(parsed);
    first.take_dictionaries(parsed);
    builders[0] = Some(first);
    for &event in &parsed.events {
        let bucket = buckets[event.user as usize] as usize;
        builders[bucket].get_or_insert_with(|| ChunkBuilder::new(parsed)).push(parsed, event);
    }
    builders
        .into_iter()
        .enumerate()
        .filter_map(|(index, builder)| builder.map(|builder| (index, builder)))
        .map(|(index, builder)| crate::format::encode(&builder.chunk, "spilled events").map(|bytes| (index, bytes)))
        .collect()
}

/// A log read into bucket files, removed when dropped.
pub struct Spill {
    directory: tempfile::TempDir,
    count: u32,
    accounting: Option<Accounting>,
    files: Vec<FileRows>,
    /// Where the whole log's time ends, for every bucket.
    latest: Option<i64>,
}

/// Reads `files` once and writes their accepted events into `count` bucket
/// files in a temporary directory inside `beside`.
///
/// # Errors
///
/// As [`super::ingest_events`], and [`Error::Io`] when the spill files
/// cannot be written.
pub fn spill(
    files: &[SourceFile],
    config: &Config,
    now: i64,
    count: u32,
    beside: &Path,
    progress: &dyn Progress,
) -> Result<Spill> {
    // Named with the pid, so that a later run removes it if this one is killed.
    let directory = crate::output::staging_dir(beside, ".touchpath-spill-")?;
    let path_of = |index: u32| directory.path().join(format!("bucket-{index:05}.bin"));
    let mut writers = (0..count)
        .map(|index| {
            let path = path_of(index);
            File::create(&path)
                .map(|file| BufWriter::with_capacity(1 << 20, file))
                .map_err(|error| Error::io(&path, error))
        })
        .collect::<Result<Vec<_>>>()?;
    let accounting = read_log(files, config, now, None, None, progress, &mut |source, tasks| {
        // Chunks are built and encoded in parallel, then written in order.
        let encoded: Vec<Vec<(usize, Vec<u8>)>> =
            tasks.par_iter().map(|parsed| encode_task(source, parsed, count)).collect::<Result<_>>()?;
        for (index, bytes) in encoded.into_iter().flatten() {
            let writer = &mut writers[index];
            let path = path_of(code_of(index));
            write_frame(writer, &bytes).map_err(|error| Error::io(&path, error))?;
        }
        Ok(())
    })?;
    for (index, writer) in writers.into_iter().enumerate() {
        let path = path_of(code_of(index));
        writer.into_inner().map_err(|error| Error::io(&path, error.into_error()))?;
    }
    let files = accounting.files.iter().map(|file| FileRows { rows: 0, rejected: 0, ..file.clone() }).collect();
    let latest = accounting.latest;
    Ok(Spill { directory, count, accounting: Some(accounting), files, latest })
}

impl Spill {
    /// How many buckets there are.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Rows read from the log.
    #[must_use]
    pub fn read(&self) -> u64 {
        self.accounting.as_ref().map_or(0, |accounting| accounting.read)
    }

    /// Rows rejected.
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.accounting.as_ref().map_or(0, |accounting| accounting.rejects.len() as u64)
    }

    /// The temporary directory the bucket files are in, removed when this
    /// value is dropped.
    #[must_use]
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    fn path(&self, index: u32) -> PathBuf {
        self.directory.path().join(format!("bucket-{index:05}.bin"))
    }

    /// Reads bucket `index` back, once: its events, deduplicated and ordered,
    /// then removes its file. Bucket 0 also carries the whole log's
    /// accounting.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the spill file cannot be read.
    pub fn bucket(&mut self, index: u32) -> Result<EventIngest> {
        let path = self.path(index);
        let io = |error| Error::io(&path, error);
        let users = UserCodes::default();
        let (mut channels, mut campaigns) = (Interner::default(), Interner::default());
        let mut events = Vec::new();
        // Chunks are decoded in parallel, a group at a time.
        for_frame_groups(&path, CHUNKS_AT_ONCE, |frames| {
            // Each chunk's user ids are coded as it is decoded, in parallel.
            let chunks = frames
                .par_iter()
                .map(|bytes| {
                    let chunk = postcard::from_bytes::<Chunk>(bytes).map_err(|error| {
                        Error::Internal(format!("{}: cannot decode spilled events: {error}", path.display()))
                    })?;
                    let ids = chunk.users.split().ok_or_else(|| {
                        Error::Internal(format!("{}: spilled user ids out of bounds", path.display()))
                    })?;
                    let codes = users.code_all(&ids).ok_or_else(|| too_many(&path, "user ids"))?;
                    Ok((chunk, codes))
                })
                .collect::<Result<Vec<_>>>()?;
            drop(frames);
            for (chunk, user_codes) in chunks {
                add_coded(
                    &path,
                    Some(&user_codes),
                    (&chunk.channels, &chunk.campaigns),
                    chunk.events,
                    &mut events,
                    [&mut channels, &mut campaigns],
                )?;
            }
            Ok(())
        })?;
        // Each bucket is read once: its file's space is given back now.
        std::fs::remove_file(&path).map_err(io)?;
        let spilled = events.iter().map(Vec::len).sum::<usize>() as u64;
        let (log, duplicates) = EventLog::assemble(events, users, channels, campaigns);
        let mut rows = RowCounts { accepted: spilled - duplicates, duplicates, ..RowCounts::default() };
        let accounting = if index == 0 { self.accounting.take() } else { None };
        let (rejects, warnings, files) = match accounting {
            Some(accounting) => {
                rows.read = accounting.read;
                rows.count_rejects(&accounting.rejects);
                (accounting.rejects, accounting.warnings, accounting.files)
            }
            None => (Vec::new(), BTreeMap::new(), self.files.clone()),
        };
        Ok(EventIngest { log, rows, rejects, warnings, files, latest: self.latest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::users::TaskUsers;

    /// Users spread evenly over the spill buckets, each bucket below the
    /// count, and one id always falls in one bucket.
    #[test]
    fn spill_buckets_are_even_and_in_range() {
        let mut task = TaskUsers::default();
        let codes: Vec<u32> = (0..90_000).map(|user| task.intern(&format!("u{user:08}")).unwrap()).collect();
        for count in [1, 2, 9, 64] {
            let mut sizes = vec![0_u32; count as usize];
            for &code in &codes {
                let bucket = spill_bucket(task.hash(code), count);
                assert!(bucket < count);
                sizes[bucket as usize] += 1;
            }
            let expected = 90_000 / count;
            assert!(sizes.iter().all(|&size| size.abs_diff(expected) < expected / 10 + 50), "{count}: {sizes:?}");
        }
        let again = TaskUsers::default().hash(0);
        assert_eq!(again, 0, "no id, no hash");
        let mut other = TaskUsers::default();
        let code = other.intern("u00000007").unwrap();
        assert_eq!(other.hash(code), task.hash(codes[7]), "the same id hashes the same in every task");
    }

    /// [`crate::format::encode`] writes postcard's bytes: a chunk of events
    /// (varints of one byte and of several, strings short and long) and a
    /// few numbers.
    #[test]
    fn encoding_gives_postcard_bytes() {
        let event = Event {
            user: 300,
            time: -1_700_000_000_000_000,
            kind: crate::event::EventKind::Click,
            channel: 7,
            campaign: 70_000,
            stage: crate::event::Stage::Unknown,
            revenue: 0,
        };
        let mut users = Strings::default();
        for user in ["u", "user-0000000000000000000042", ""] {
            users.push(user);
        }
        let chunk = Chunk {
            users,
            channels: vec![Box::from("paid_search"), Box::from("a channel with a rather long name")],
            campaigns: vec![Box::from("")],
            events: vec![
                event,
                Event { revenue: 123_456_789, ..event },
                Event { user: 0, channel: NO_CHANNEL_CODE, ..event },
            ],
        };
        let bytes = crate::format::encode(&chunk, "a chunk").unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&chunk).unwrap());
        let back: Chunk = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.events, chunk.events);
        assert_eq!(back.channels, chunk.channels);
        assert_eq!(back.users.get(1), "user-0000000000000000000042");
        let numbers = (u64::MAX, -1_i64, vec![7_u8; 40]);
        assert_eq!(crate::format::encode(&numbers, "numbers").unwrap(), postcard::to_stdvec(&numbers).unwrap());
    }
}
