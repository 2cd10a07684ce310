//! `incremental`'s purchase patterns of a bucketed run, kept on disk until
//! the fit, and read back a shard at a time.
//!
//! On long journeys nearly every purchase has a pattern of its own, so the
//! patterns grow with the purchases: held in the merged state they would
//! take memory in proportion to the log. Instead each bucket's patterns go
//! to a file of their own ([`write_bucket`]), each frame with the features
//! its patterns use listed once and the patterns by their places in that
//! list. For the fit, [`PatternShards::build`] reads them back bucket after
//! bucket, codes each pattern with the fit's feature numbers (a table per
//! frame, from each listed feature to its number), sends it to the file of
//! its shard ([`crate::models::incremental::shard_of`]), then merges each
//! shard into the form the sums run over. Shards stay in memory while they
//! fit in the limit they are given; the others are written once more as
//! they are and read back for each step of the fit. The shards and their
//! order are those of the fit in memory, so the fit is the same, bit for
//! bit.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::remap::Codes;
use crate::format::encode;
use crate::hash::FastMap;
use crate::ingest::spill::{for_frame_groups, read_frame, write_frame, write_frame_groups};
use crate::models::incremental::{
    Answer, Feature, Numbers, PatternBuffer, Purchases, Request, SHARDS, ShardPatterns, shard_of,
};
use crate::{Error, Result};

/// Frames decoded at once.
const FRAMES_AT_ONCE: usize = 8;

/// Writes a bucket's purchase patterns (with the bucket's channel codes) to
/// `path`, a frame per block of the list.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written.
pub(super) fn write_bucket(path: &Path, purchases: &Purchases) -> Result<()> {
    write_frame_groups(path, purchases.blocks(), FRAMES_AT_ONCE, |block| {
        encode(&BucketFrame::of(block.patterns()), "spilled patterns")
    })
}

/// A frame of a bucket's file: the features its patterns use, each once
/// in the order first met, and each pattern as pairs of a feature's place
/// in that list and its count. Reading a pattern back is then a lookup per
/// pair in a table made once per frame, where features written out in
/// full were decoded, renumbered and numbered one pair at a time (the
/// fit's preparation at 67.2 million events took 5.0–5.2 s, now 4.0 s).
#[derive(Serialize, Deserialize)]
struct BucketFrame {
    features: Vec<Feature>,
    patterns: PatternBuffer,
}

impl BucketFrame {
    fn of<'a>(purchases: impl Iterator<Item = (&'a [(Feature, u32)], u64)>) -> Self {
        let mut places: FastMap<Feature, u32> = FastMap::default();
        let mut features = Vec::new();
        let mut patterns = PatternBuffer::default();
        let mut pairs = Vec::new();
        for (pattern, count) in purchases {
            pairs.clear();
            for &(feature, times) in pattern {
                let place = *places.entry(feature).or_insert_with(|| {
                    features.push(feature);
                    // A frame holds far fewer than 2^32 pairs.
                    u32::try_from(features.len() - 1).unwrap_or(u32::MAX)
                });
                pairs.push((place, times));
            }
            patterns.push(count, &pairs);
        }
        Self { features, patterns }
    }

    /// The frame's patterns coded with `numbers` (each channel renumbered
    /// by `codes` first), split by shard: what
    /// [`crate::models::incremental::code_pattern`] gives for each pattern,
    /// features without a number left out.
    fn shards(&self, codes: &Codes, numbers: &Numbers, path: &Path) -> Result<Vec<PatternBuffer>> {
        let table: Vec<Option<u32>> = self
            .features
            .iter()
            .map(|feature| numbers.get(feature.renumber(|channel| codes.channel(channel))))
            .collect();
        if !self.patterns.is_laid_out() {
            return Err(corrupt(path, "a pattern lies outside its frame"));
        }
        let mut shards = vec![PatternBuffer::default(); SHARDS];
        let mut numbered = Vec::new();
        for (pattern, count) in self.patterns.patterns() {
            numbered.clear();
            for &(place, times) in pattern {
                let number = table.get(place as usize).ok_or_else(|| corrupt(path, "a pattern names no feature"))?;
                numbered.extend(number.map(|number| (number, times)));
            }
            numbered.sort_unstable();
            shards[shard_of(&numbered)].push(count, &numbered);
        }
        Ok(shards)
    }
}

fn corrupt(path: &Path, what: &str) -> Error {
    Error::Internal(format!("{}: spilled patterns do not decode: {what}", path.display()))
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
                        let frame: BucketFrame = decode(&bytes, path)?;
                        frame
                            .shards(codes, numbers, path)?
                            .into_iter()
                            .map(|coded| (!coded.is_empty()).then(|| encode(&coded, "spilled patterns")).transpose())
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                for frame in split {
                    for (shard, bytes) in frame.into_iter().enumerate() {
                        if let Some(bytes) = bytes {
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
    let (mut buffers, mut bytes) = (Vec::new(), Vec::new());
    while read_frame(&mut reader, path, &mut bytes)? {
        let buffer: PatternBuffer = decode(&bytes, path)?;
        if !buffer.is_laid_out() {
            return Err(corrupt(path, "a pattern lies outside its frame"));
        }
        buffers.push(buffer);
    }
    Ok(PatternBuffer::merged(&buffers))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T> {
    postcard::from_bytes(bytes)
        .map_err(|error| Error::Internal(format!("{}: cannot decode spilled patterns: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::Dictionary;

    /// A [`PatternBuffer`] as it is written.
    #[derive(Serialize)]
    struct Laid {
        terms: Vec<(u32, u32)>,
        spans: Vec<(std::ops::Range<usize>, u64)>,
    }

    #[test]
    fn a_frame_is_coded_by_its_table_and_a_frame_that_does_not_hold_together_is_refused() {
        // Two channels in the bucket; the run has "display" besides them,
        // so the bucket's codes 0 and 1 are the run's 1 and 2.
        let bucket = Dictionary::from_sorted(vec!["email".into(), "search".into()]);
        let run = Dictionary::from_sorted(vec!["display".into(), "email".into(), "search".into()]);
        let none = Dictionary::from_sorted(Vec::new());
        let codes = Codes::between([&bucket, &none], &run, &none);
        let touch = |channel| Feature::Touch { channel, kind: 1, bin: 0, carried: false };
        let baseline = Feature::Baseline { customer: false };
        // The fit numbers the baseline 0, email 1 and search 2 (the run's
        // codes 1 and 2); the bucket's email touch carried has no number.
        let numbers = Numbers::new(&[baseline, touch(1), touch(2)]);
        let carried = Feature::Touch { channel: 0, kind: 1, bin: 0, carried: true };
        let purchases: Purchases =
            [(vec![(baseline, 1), (touch(0), 2), (touch(1), 1)], 3), (vec![(baseline, 1), (carried, 1)], 2)]
                .into_iter()
                .collect();
        let frame = BucketFrame::of(purchases.iter());
        assert_eq!(frame.features, [baseline, touch(0), touch(1), carried]);
        let file = Path::new("patterns-00000.bin");
        let shards = frame.shards(&codes, &numbers, file).unwrap();
        let numbered: Vec<(Vec<(u32, u32)>, u64)> =
            shards.iter().flat_map(PatternBuffer::patterns).map(|(pattern, count)| (pattern.to_vec(), count)).collect();
        let mut wanted = vec![(vec![(0, 1), (1, 2), (2, 1)], 3), (vec![(0, 1)], 2)];
        wanted.sort_by_key(|(pattern, _)| shard_of(pattern));
        assert_eq!(numbered, wanted);

        // A pattern naming a place the frame's list does not have.
        let mut beyond = PatternBuffer::default();
        beyond.push(1, &[(0, 1), (4, 1)]);
        let frame = BucketFrame { features: frame.features, patterns: beyond };
        let error = frame.shards(&codes, &numbers, file).unwrap_err().to_string();
        assert!(error.contains("patterns-00000.bin") && error.contains("names no feature"), "{error}");

        // A pattern whose pairs lie beyond the buffer's, read back.
        let bytes = postcard::to_stdvec(&Laid { terms: vec![(0, 1)], spans: vec![(0..2, 1)] }).unwrap();
        let read: PatternBuffer = postcard::from_bytes(&bytes).unwrap();
        assert!(!read.is_laid_out());
        let frame = BucketFrame { features: frame.features, patterns: read };
        let error = frame.shards(&codes, &numbers, file).unwrap_err().to_string();
        assert!(error.contains("lies outside its frame"), "{error}");
    }
}
