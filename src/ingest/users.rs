//! One dictionary of user ids that every parse task codes into at once.
//!
//! A log has about as many distinct user ids as it has events over a few,
//! so coding them is most of the work of coding a row. Each parse task
//! codes its rows' user ids into [`UserCodes`] itself, in parallel with the
//! others: the dictionary is split into [`SHARDS`] shards by the id's hash,
//! and a task takes each shard's lock once for all its ids that fall there.
//! Codes are temporary: [`UserCodes::into_sorted`] renumbers them in byte
//! order, as the log's dictionary wants, so the order tasks ran in never
//! shows.

use std::hash::BuildHasher;
use std::sync::Mutex;

use rayon::prelude::*;

use super::strings::Strings;
use crate::event_log::{Dictionary, IntoSorted, prefix, sort_codes};

/// Bits of a code that name its shard.
const SHARD_BITS: u32 = 6;

/// Shards of the dictionary: enough that two to a few dozen threads rarely
/// wait for one another.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// Ids one shard can hold: codes are 32 bits, of which [`SHARD_BITS`] name
/// the shard.
const SHARD_ROOM: usize = 1 << (32 - SHARD_BITS);

/// Lookups whose slots are read ahead together ([`Shard::warm`]).
const WARM_BATCH: usize = 16;

/// The user ids of a log, coded as parse tasks meet them.
pub(crate) struct UserCodes {
    shards: Vec<Mutex<Shard>>,
    hasher: foldhash::quality::FixedState,
}

/// The ids whose hash falls in one shard, in an open-addressing table
/// whose slots hold each id's first bytes beside its index. Coding a user
/// id is a lookup in a table of about as many ids as the log has users:
/// one that needed the table, then the id's bounds, then its text, waited
/// on memory three times. Here an id of up to [`INLINE`] bytes is matched
/// by its slot alone, and a longer one when its first bytes match.
#[derive(Default)]
struct Shard {
    /// Each id's [`slot_key`] and its index plus one, at its hash (linear
    /// probing); 0 where empty.
    slots: Vec<u128>,
    /// Each id's hash, by index, for growing the table.
    hashes: Vec<u64>,
    /// The ids, by index.
    ids: Strings,
}

/// Bytes of an id its slot holds: ids this long or shorter are matched by
/// their slot alone.
const INLINE: usize = 11;

/// The slot bits that name the id: its first [`INLINE`] bytes, big end
/// first ([`prefix`]), then its length (at most 255), above the 32 bits of
/// its index plus one.
fn slot_key(value: &str) -> u128 {
    let length = u8::try_from(value.len()).unwrap_or(u8::MAX);
    (prefix(value) & (u128::MAX << (8 * (16 - INLINE)))) | (u128::from(length) << 32)
}

/// The length a [`slot_key`] holds (255 for 255 bytes or more).
#[expect(clippy::cast_possible_truncation, reason = "the length is the byte above the index")]
fn key_length(key: u128) -> usize {
    usize::from((key >> 32) as u8)
}

/// The index a (full) slot holds.
#[expect(clippy::cast_possible_truncation, reason = "the index plus one is the low 32 bits")]
fn slot_index(slot: u128) -> u32 {
    (slot as u32).wrapping_sub(1)
}

/// Bits of a slot that [`slot_key`] sets.
const KEY_BITS: u128 = u128::MAX << 32;

impl Shard {
    /// Where `hash` starts probing.
    #[expect(clippy::cast_possible_truncation, reason = "the hash's low bits pick the slot")]
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & (self.slots.len().wrapping_sub(1))
    }

    /// Reads the home slots of `hashes`, so that the lookups that follow
    /// find them in cache: they are independent loads the processor
    /// overlaps, where the lookups themselves would wait one after another.
    fn warm(&self, hashes: impl Iterator<Item = u64>) {
        if self.slots.is_empty() {
            return;
        }
        let seen = hashes.fold(0_u128, |seen, hash| seen ^ self.slots[self.home(hash)]);
        std::hint::black_box(seen);
    }

    /// The index of the id `value` gives, whose hash is `hash` and
    /// [`slot_key`] `key`, added if new; `None` when the shard is full.
    /// `value` is read only when the slot cannot tell (a longer id, or a
    /// new one): the caller knows `hash` and `key` without it.
    fn intern<'a>(&mut self, hash: u64, key: u128, value: impl Fn() -> &'a str) -> Option<u32> {
        if (self.ids.len() + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        let inline = key_length(key) <= INLINE;
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            if slot & KEY_BITS == key {
                let index = slot_index(slot);
                if inline || self.ids.get(index as usize) == value() {
                    return Some(index);
                }
            }
            at = (at + 1) & mask;
        }
        if self.ids.len() >= SHARD_ROOM {
            return None;
        }
        let index = u32::try_from(self.ids.len()).ok()?;
        self.ids.push(value());
        self.hashes.push(hash);
        self.slots[at] = key | u128::from(index + 1);
        Some(index)
    }

    /// Doubles the table (or starts it), placing every id again.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let index = slot_index(slot) as usize;
            let mut at = self.home(self.hashes[index]);
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

/// The distinct user ids of one parse task, coded in the order met: what a
/// task codes into when no run-wide dictionary is shared (a run that
/// spills its rows into buckets). The ids sit end to end in one buffer: an
/// allocation per id (twice, for the map and the list) and its freeing had
/// cost a tenth of a spilling run.
#[derive(Default)]
pub(crate) struct TaskUsers {
    ids: Shard,
    hasher: foldhash::fast::FixedState,
}

impl TaskUsers {
    /// The code of `value`, added if new; `None` when the task has more
    /// distinct ids than a shard holds (tasks are far smaller).
    pub(crate) fn intern(&mut self, value: &str) -> Option<u32> {
        self.ids.intern(self.hasher.hash_one(value.as_bytes()), slot_key(value), || value)
    }

    /// How many distinct ids there are.
    pub(crate) fn len(&self) -> usize {
        self.ids.ids.len()
    }

    /// The id of `code`.
    pub(crate) fn get(&self, code: u32) -> &str {
        self.ids.ids.get(code as usize)
    }

    /// The hash of the id of `code`, as this build computes it in every run
    /// (a fixed seed); 0 for a code no id has.
    pub(crate) fn hash(&self, code: u32) -> u64 {
        self.ids.hashes.get(code as usize).copied().unwrap_or(0)
    }
}

impl Default for UserCodes {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::quality::FixedState::default(),
        }
    }
}

/// A code's shard and its index in the shard.
fn split(code: u32) -> (usize, usize) {
    ((code as usize) & (SHARDS - 1), (code >> SHARD_BITS) as usize)
}

/// The code of the id at `index` of shard `shard` (an index below
/// [`SHARD_ROOM`], a shard below [`SHARDS`]).
fn join(shard: usize, index: usize) -> u32 {
    u32::try_from((index << SHARD_BITS) | shard).unwrap_or(u32::MAX)
}

impl UserCodes {
    /// Codes `users` (one id per accepted event of a task, in order) and
    /// returns their codes in the same order; `None` when a shard is full
    /// (more than about four billion distinct ids).
    pub(crate) fn code_all<User: AsRef<str>>(&self, users: &[User]) -> Option<Vec<u32>> {
        let hashes: Vec<u64> = users.iter().map(|user| self.hasher.hash_one(user.as_ref().as_bytes())).collect();
        // The rows of each shard, by a counting sort on the shard, each
        // with its hash and slot key: the lookups then read them in order,
        // where reading the hash and id of each row again, rows apart,
        // waited on memory twice per row.
        // Bits 32 and up: the table itself uses the lowest and the highest.
        let shard_of = |hash: u64| ((hash >> 32) as usize) & (SHARDS - 1);
        let mut starts = [0_usize; SHARDS + 1];
        for &hash in &hashes {
            starts[shard_of(hash) + 1] += 1;
        }
        for shard in 0..SHARDS {
            starts[shard + 1] += starts[shard];
        }
        let mut next = starts;
        let mut dealt = vec![Dealt::default(); users.len()];
        for (row, (&hash, user)) in hashes.iter().zip(users).enumerate() {
            let slot = &mut next[shard_of(hash)];
            dealt[*slot] = Dealt { key: slot_key(user.as_ref()), hash, row };
            *slot += 1;
        }
        drop(hashes);
        let mut codes = vec![0_u32; users.len()];
        for (shard, lock) in self.shards.iter().enumerate() {
            let range = starts[shard]..starts[shard + 1];
            if range.is_empty() {
                continue;
            }
            let mut guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for batch in dealt[range].chunks(WARM_BATCH) {
                guard.warm(batch.iter().map(|dealt| dealt.hash));
                for &Dealt { key, hash, row } in batch {
                    let index = guard.intern(hash, key, || users[row].as_ref())?;
                    codes[row] = join(shard, index as usize);
                }
            }
        }
        Some(codes)
    }

    /// How many distinct ids have been coded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().map_or(0, |shard| shard.ids.len())).sum()
    }
}

/// A row of [`UserCodes::code_all`] dealt to its shard: its id's
/// [`slot_key`] and hash, and the row.
#[derive(Clone, Copy, Default)]
struct Dealt {
    key: u128,
    hash: u64,
    row: usize,
}

impl IntoSorted for UserCodes {
    /// The ids in byte order and, indexed by temporary code, each id's code
    /// in that order (`u32::MAX` for codes no id has).
    fn into_sorted(self) -> (Dictionary, Vec<u32>) {
        let shards: Vec<Shard> = self
            .shards
            .into_iter()
            .map(|lock| lock.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
            .collect();
        let widest = shards.iter().map(|shard| shard.ids.len()).max().unwrap_or(0);
        let codes: Vec<u32> = shards
            .par_iter()
            .enumerate()
            .flat_map_iter(|(shard, ids)| (0..ids.ids.len()).map(move |index| join(shard, index)))
            .collect();
        sort_codes(codes, widest << SHARD_BITS, |code| {
            let (shard, index) = split(code);
            shards[shard].ids.get(index)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn ids_get_one_code_each_and_sort_in_byte_order() {
        let codes = UserCodes::default();
        let first: Vec<Cow<'_, str>> = ["b", "a", "b", "ü", "a"].into_iter().map(Cow::Borrowed).collect();
        let second: Vec<Cow<'_, str>> = ["c", "a"].into_iter().map(Cow::Borrowed).collect();
        let first = codes.code_all(&first).unwrap();
        let second = codes.code_all(&second).unwrap();
        assert_eq!(first[0], first[2]);
        assert_eq!(first[1], first[4]);
        assert_eq!(first[1], second[1]);
        assert_ne!(first[0], first[1]);
        assert_eq!(codes.len(), 4);
        let (dictionary, remap) = codes.into_sorted();
        assert_eq!(dictionary.iter().collect::<Vec<_>>(), ["a", "b", "c", "ü"]);
        let sorted = |code: u32| dictionary.get(remap[code as usize]).to_owned();
        assert_eq!([sorted(first[0]), sorted(first[1]), sorted(first[3]), sorted(second[0])], ["b", "a", "ü", "c"]);
    }

    #[test]
    fn a_task_codes_its_ids_in_the_order_met() {
        let mut task = TaskUsers::default();
        let codes: Vec<u32> = ["b", "a", "b", "", "ü", "a"].into_iter().map(|id| task.intern(id).unwrap()).collect();
        assert_eq!(codes, [0, 1, 0, 2, 3, 1]);
        assert_eq!(task.len(), 4);
        assert_eq!((0..4).map(|code| task.get(code)).collect::<Vec<_>>(), ["b", "a", "", "ü"]);
    }

    /// A slot's key holds an id's first bytes, zero-padded, and its length.
    #[test]
    fn a_slot_key_is_the_first_bytes_and_the_length() {
        let text = "abcdefghijklmnopq";
        for length in 0..=text.len() {
            let id = &text[..length];
            let mut expected = [0_u8; 16];
            for (at, byte) in id.bytes().take(INLINE).enumerate() {
                expected[at] = byte;
            }
            expected[INLINE] = u8::try_from(length).unwrap();
            assert_eq!(slot_key(id).to_be_bytes(), expected, "{id:?}");
        }
        assert_eq!(slot_key(&"x".repeat(300)) >> 32 & 0xff, 255);
    }

    proptest::proptest! {
        /// Ids get equal codes exactly when they are equal, whether they
        /// fit in a slot or only begin there, across tables that grow.
        #[test]
        fn codes_are_equal_exactly_when_ids_are(
            ids in proptest::collection::vec("(ab|a\\x00|abcdefghijk|abcdefghijkl?[a-c]{0,2}|[a-d]{0,4})", 1..400),
        ) {
            let codes = UserCodes::default();
            let cows: Vec<Cow<'_, str>> = ids.iter().map(|id| Cow::Borrowed(id.as_str())).collect();
            let (first, second) = cows.split_at(cows.len() / 2);
            let mut coded = codes.code_all(first).unwrap();
            coded.extend(codes.code_all(second).unwrap());
            for (a, b) in ids.iter().zip(&coded) {
                for (c, d) in ids.iter().zip(&coded) {
                    proptest::prop_assert_eq!(a == c, b == d, "{:?} {:?}", a, c);
                }
            }
            let mut task = TaskUsers::default();
            let local: Vec<u32> = ids.iter().map(|id| task.intern(id).unwrap()).collect();
            for (id, &code) in ids.iter().zip(&local) {
                proptest::prop_assert_eq!(task.get(code), id.as_str());
            }
        }
    }

    #[test]
    fn ids_sharing_their_first_sixteen_bytes_sort_by_the_rest() {
        let codes = UserCodes::default();
        let ids: Vec<Cow<'_, str>> = ["user-0000000000000002", "user-0000000000000001", "user-00000000000000"]
            .into_iter()
            .map(Cow::Borrowed)
            .collect();
        codes.code_all(&ids).unwrap();
        let (dictionary, _) = codes.into_sorted();
        assert_eq!(
            dictionary.iter().collect::<Vec<_>>(),
            ["user-00000000000000", "user-0000000000000001", "user-0000000000000002"]
        );
    }
}
