//! Strings end to end in one allocation.

use serde::{Deserialize, Serialize};

/// Strings end to end, one allocation for all: where there are about as
/// many strings as rows (user ids), allocating each would cost more than
/// reading it. Spilled chunks carry their user ids this way, and the run's
/// dictionary of user ids keeps them this way.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Strings {
    text: String,
    /// Where each string ends in `text`.
    ends: Vec<usize>,
}

impl Strings {
    pub(crate) fn push(&mut self, value: &str) {
        self.text.push_str(value);
        self.ends.push(self.text.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// String `index`; the empty string when there is no such string or
    /// `ends` does not cut `text` there (a damaged file, which
    /// [`Strings::split`] reports).
    pub(crate) fn get(&self, index: usize) -> &str {
        let start = if index == 0 { 0 } else { self.ends.get(index - 1).copied().unwrap_or_default() };
        self.ends.get(index).and_then(|&end| self.text.get(start..end)).unwrap_or_default()
    }

    /// The strings, in order; `None` when `ends` does not cut `text` into
    /// strings (a damaged file).
    pub(crate) fn split(&self) -> Option<Vec<&str>> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let value = self.text.get(start..end)?;
                start = end;
                Some(value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_as_pushed() {
        let mut strings = Strings::default();
        for value in ["ab", "", "ü", "c"] {
            strings.push(value);
        }
        assert_eq!(strings.len(), 4);
        assert_eq!([strings.get(0), strings.get(1), strings.get(2), strings.get(3)], ["ab", "", "ü", "c"]);
        assert_eq!(strings.get(4), "");
        assert_eq!(strings.split().unwrap(), ["ab", "", "ü", "c"]);
        // An end inside `ü`: damaged.
        let damaged = Strings { text: "aü".to_owned(), ends: vec![2, 3] };
        assert_eq!(damaged.split(), None);
        assert_eq!(damaged.get(0), "");
    }
}
