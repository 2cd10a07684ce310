//! `incremental`'s purchase patterns of a bucketed run, kept on disk until
//! the fit, and read back a shard at a time.
//!
//! On long journeys nearly every purchase has a pattern of its own, so the
//! patterns grow with the purchases: held in the merged state they would
//! take memory in proportion to the log. Instead each bucket's patterns go
//! to a file of their own ([`write_bucket`]). For the fit,
//! [`PatternShards::build`] reads them back bucket after bucket, codes each
//! pattern with the fit's feature numbers, sends it to the file of its shard
//! ([`crate::models::incremental::shard_of`]), then merges each shard into
//! the form the sums run over. Shards stay in memory while they fit in the
//! limit they are given; the others are written once more as they are and
//! read back for each step of the fit. The shards and their order are those
//! of the fit in memory, so the fit is the same, bit for bit.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::remap::Codes;
use crate::hash::FastMap;
use crate::ingest::spill::{for_frame_groups, read_frame, write_frame, write_frame_groups};
use crate::models::incremental::{
    Answer, Coded, Numbers, Pattern, PatternBuffer, Request, SHARDS, ShardPatterns, code_pattern, shard_of,
};
use crate::{Error, Result};

/// Patterns per frame of a bucket's file.
const PATTERNS_PER_FRAME: usize = 1 << 15;

/// Frames decoded at once.
const FRAMES_AT_ONCE: usize = 8;

/// Writes a bucket's purchase patterns (with the bucket's channel codes) to
/// `path`, in frames of [`PATTERNS_PER_FRAME`].
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written.
pub(super) fn write_bucket(path: &Path, purchases: FastMap<Pattern, u64>) -> Result<()> {
    let purchases: Vec<(Pattern, u64)> = purchases.into_iter().collect();
    let frames: Vec<&[(Pattern, u64)]> = purchases.chunks(PATTERNS_PER_FRAME).collect();
    write_frame_groups(path, &frames, FRAMES_AT_ONCE, encode)
}

/// One shard of the fit's patterns.
enum Shard {
    /// No pattern.
    Empty,
    /// Merged, in memory.
    Held(ShardPatterns),
    /// Merged, in a file of [`ShardPatterns::to_bytes`].
    Written(PathBuf),
}

/// The purchase patterns of every bucket, coded, split and merged into the
/// fit's shards: each in memory or in a file.
pub struct PatternShards {
    shards: Vec<Shard>,
}

impl PatternShards {
    /// Reads the patterns of `buckets` (each bucket's file and the codes
    /// that renumber its channels into the run's), codes them with `numbers`,
    /// and merges them into shards, in files in `directory`. Shards are kept
    /// in memory while their bytes add up to at most `limit`.
    ///
    /// # Errors
    ///
    /// A file that cannot be written, read or decoded.
    pub(super) fn build(buckets: &[(&Path, Codes)], numbers: &Numbers, directory: &Path, limit: u64) -> Result<Self> {
        let coded_path = |shard: usize| directory.join(format!("coded-{shard:02}.bin"));
        let mut writers = (0..SHARDS)
            .map(|shard| {
                let path = coded_path(shard);
                let file = File::create(&path).map_err(|error| Error::io(&path, error))?;
                Ok((BufWriter::with_capacity(1 << 18, file), path))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut seen = [false; SHARDS];
        for (path, codes) in buckets {
            for_frame_groups(path, FRAMES_AT_ONCE, |frames| {
                let split = frames
                    .into_par_iter()
                    .map(|bytes| {
                        let patterns: Vec<(Pattern, u64)> = decode(&bytes, path)?;
                        let mut shards: Vec<Vec<(Coded, u64)>> = vec![Vec::new(); SHARDS];
                        for (pattern, count) in patterns {
                            let renumbered = pattern
                                .into_iter()
                                .map(|(feature, times)| (feature.renumber(|channel| codes.channel(channel)), times));
                            let coded = code_pattern(renumbered, numbers);
                            shards[shard_of(&coded)].push((coded, count));
                        }
                        shards.into_iter().map(|coded| encode(&coded)).collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                for frame in split {
                    for (shard, bytes) in frame.into_iter().enumerate() {
                        // An empty list encodes to one byte: not worth a frame.
                        if bytes.len() > 1 {
                            let (writer, path) = &mut writers[shard];
                            write_frame(writer, &bytes).map_err(|error| Error::io(&*path, error))?;
                            seen[shard] = true;
                        }
                    }
                }
                Ok(())
            })?;
        }
        for (writer, path) in writers {
            writer.into_inner().map_err(|error| Error::io(&path, error.into_error()))?;
        }
        let held = AtomicU64::new(0);
        let shards = (0..SHARDS)
            .into_par_iter()
            .map(|shard| {
                let path = coded_path(shard);
                let patterns = if seen[shard] { merge_file(&path)? } else { ShardPatterns::default() };
                std::fs::remove_file(&path).map_err(|error| Error::io(&path, error))?;
                if patterns.is_empty() {
                    return Ok(Shard::Empty);
                }
                let bytes = patterns.bytes() as u64;
                if held.fetch_add(bytes, Ordering::Relaxed) + bytes <= limit {
                    return Ok(Shard::Held(patterns));
                }
                held.fetch_sub(bytes, Ordering::Relaxed);
                let path = directory.join(format!("shard-{shard:02}.bin"));
                std::fs::write(&path, patterns.to_bytes()).map_err(|error| Error::io(&path, error))?;
                Ok(Shard::Written(path))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { shards })
    }

    /// How many shards are read from disk for each step.
    #[must_use]
    pub fn written(&self) -> usize {
        self.shards.iter().filter(|shard| matches!(shard, Shard::Written(_))).count()
    }

    /// The answer of each shard with patterns to `request`, in shard order,
    /// as [`crate::models::incremental::solve_with`] asks for them: shards
    /// in parallel, those on disk read for the step and dropped after it.
    ///
    /// # Errors
    ///
    /// A shard's file that cannot be read or decoded.
    pub fn answer(&self, request: &Request, features: usize) -> Result<Vec<Answer>> {
        self.shards
            .par_iter()
            .filter(|shard| !matches!(shard, Shard::Empty))
            .map(|shard| match shard {
                Shard::Held(patterns) => Ok(Answer::of(patterns, request, features)),
                Shard::Written(path) => {
                    let bytes = std::fs::read(path).map_err(|error| Error::io(path, error))?;
                    let patterns = ShardPatterns::from_bytes(&bytes)
                        .map_err(|reason| Error::Internal(format!("{}: {reason}", path.display())))?;
                    drop(bytes);
                    Ok(Answer::of(&patterns, request, features))
                }
                Shard::Empty => Err(Error::Internal("an empty shard of patterns was asked".to_owned())),
            })
            .collect()
    }
}

/// The coded patterns of one shard's file, merged.
fn merge_file(path: &Path) -> Result<ShardPatterns> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(|error| Error::io(path, error))?);
    let (mut coded, mut bytes) = (PatternBuffer::default(), Vec::new());
    while read_frame(&mut reader, path, &mut bytes)? {
        for (pattern, count) in decode::<Vec<(Coded, u64)>>(&bytes, path)? {
            coded.push(count, &pattern);
        }
    }
    Ok(PatternBuffer::merged(&[coded]))
}

fn encode(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| Error::Internal(format!("cannot encode spilled patterns: {error}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T> {
    postcard::from_bytes(bytes)
        .map_err(|error| Error::Internal(format!("{}: cannot decode spilled patterns: {error}", path.display())))
}
