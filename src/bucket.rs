//! Splitting users into buckets by a stable hash of their id.
//!
//! A user's bucket out of `N` is the first eight bytes of the BLAKE3 hash of
//! the user id (NFC-normalised UTF-8, as ingest reads it), read as a
//! little-endian `u64`, modulo `N`. The rule depends on nothing but the id,
//! so any engine can reproduce it, and every event of a user lands in the
//! same bucket. Rows without a user id belong to the bucket of the empty id.

use std::fmt;
use std::str::FromStr;

/// The most buckets a run may be split into.
pub const MAX_BUCKETS: u32 = 65_536;

/// Bucket `index` of `count` (0-based index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// Which bucket, from 0.
    pub index: u32,
    /// How many buckets there are.
    pub count: u32,
}

impl Bucket {
    /// Bucket `index` of `count`, if `index < count ≤ MAX_BUCKETS`.
    #[must_use]
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count && count <= MAX_BUCKETS).then_some(Self { index, count })
    }

    /// True when the user `user` (normalised id) falls in this bucket.
    #[must_use]
    pub fn holds(self, user: &str) -> bool {
        bucket_of(user, self.count) == self.index
    }
}

/// The bucket of `user` among `count` buckets.
#[must_use]
pub fn bucket_of(user: &str, count: u32) -> u32 {
    let bucket = user_hash(user) % u64::from(count.max(1));
    u32::try_from(bucket).unwrap_or(0)
}

/// The hash buckets are cut from: the first eight bytes of the BLAKE3 hash
/// of `user` (normalised id), little-endian.
#[must_use]
pub fn user_hash(user: &str) -> u64 {
    let hash = blake3::hash(user.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

impl fmt::Display for Bucket {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Bucket {
    type Err = String;

    /// Parses `k/N`: bucket `k` (from 0) of `N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = || format!("expected K/N with 0 ≤ K < N ≤ {MAX_BUCKETS}, such as 0/4, not {text:?}");
        let (index, count) = text.split_once('/').ok_or_else(expected)?;
        let index: u32 = index.trim().parse().map_err(|_| expected())?;
        let count: u32 = count.trim().parse().map_err(|_| expected())?;
        Self::new(index, count).ok_or_else(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("3/4".parse::<Bucket>(), Ok(Bucket { index: 3, count: 4 }));
        assert_eq!(Bucket { index: 0, count: 1 }.to_string(), "0/1");
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2", "0/65537"] {
            assert!(bad.parse::<Bucket>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hash_is_the_documented_one() {
        // blake3("") starts af 13 49 b9 f5 f9 a1 a6: little-endian 0xa6a1f9f5b94913af.
        assert_eq!(bucket_of("", 1 << 16), 0x13af);
        assert_eq!(bucket_of("", 1000), u32::try_from(0xa6a1_f9f5_b949_13af_u64 % 1000).unwrap());
    }

    #[test]
    fn buckets_partition_users_evenly() {
        let mut sizes = [0_u32; 4];
        for user in 0..40_000 {
            sizes[bucket_of(&format!("user{user}"), 4) as usize] += 1;
        }
        assert!(sizes.iter().all(|&size| (9_500..10_500).contains(&size)), "{sizes:?}");
    }
}
