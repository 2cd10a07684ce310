//! Hash maps for the hot loops, keyed by codes and small integer tuples.
//!
//! The standard library's `SipHash` resists collision attacks that a batch
//! job over its own data does not face, and costs several times more per
//! lookup than `foldhash`. Iteration order is never used for output: results
//! are always sorted before they are written.

/// A hash map with the fast hasher of `foldhash`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Serialises a [`FastMap`] with its entries sorted by key, so that the same
/// map always gives the same bytes.
///
/// # Errors
///
/// Whatever the serializer returns.
pub fn serialize_sorted<K, V, H, S>(map: &std::collections::HashMap<K, V, H>, serializer: S) -> Result<S::Ok, S::Error>
where
    H: std::hash::BuildHasher,
    K: Ord + serde::Serialize,
    V: serde::Serialize,
    S: serde::Serializer,
{
    serialize_entries_sorted(map.iter(), serializer)
}

/// Serialises `entries` as a map sorted by key: what [`serialize_sorted`]
/// writes for a map holding them, whatever holds them.
///
/// # Errors
///
/// Whatever the serializer returns.
pub fn serialize_entries_sorted<'a, K, V, S>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    K: Ord + serde::Serialize + 'a,
    V: serde::Serialize + 'a,
    S: serde::Serializer,
{
    let mut entries: Vec<(&K, &V)> = entries.collect();
    entries.sort_unstable_by(|left, right| left.0.cmp(right.0));
    serializer.collect_map(entries)
}
