//! Hash maps for the hot loops, keyed by codes and small integer tuples.
//!
//! The standard library's `SipHash` resists collision attacks that a batch
//! job over its own data does not face, and costs several times more per
//! lookup than `foldhash`. Iteration order is never used for output: results
//! are always sorted before they are written.

/// A hash map with the fast hasher of `foldhash`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
