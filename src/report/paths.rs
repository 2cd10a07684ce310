//! The path reports: conversion paths ranked, named and written.

use std::io::{self, Write};

use crate::aggregate::{ChannelPath, PathKey, PathTotals, Paths, ratio};
use crate::event::{NO_CHANNEL, Stage};
use crate::event_log::EventLog;
use crate::output::CsvWriter;
use crate::time::MICROS_PER_DAY;

use super::fixed;

impl Paths {
    /// The first `top` channel paths by name (`a > b(2) > c`, `(none)` for
    /// no touch), ranked by conversions, then journeys, then name.
    #[must_use]
    pub fn channel_rows(&self, log: &EventLog, top: usize) -> Vec<(String, PathTotals)> {
        ranked(self.channels.iter(), top, channel_path_namer(log))
    }

    /// Every channel path and stage sequence with its totals, as
    /// `(kind, key, name, totals)`: `kind` is `channel` or `stage`, `name`
    /// is the path as the reports write it and `key` tells apart paths that
    /// would be written alike (JSON of the path's names and counts). An
    /// engine that sums these rows by `(kind, key)` over partitions of users,
    /// then ranks them as [`rank_rows`] does, gets the path reports of a
    /// single run.
    #[must_use]
    pub fn named_rows(&self, log: &EventLog) -> Vec<(&'static str, String, String, PathTotals)> {
        let channel_name = channel_path_namer(log);
        let mut rows: Vec<_> = self
            .channels
            .iter()
            .map(|(path, totals)| {
                let names: Vec<(&str, u32)> =
                    path.iter().map(|&(channel, count)| (log.channels.get(channel), count)).collect();
                let key = serde_json::to_string(&names).unwrap_or_default();
                ("channel", key, channel_name(path), *totals)
            })
            .collect();
        rows.extend(self.stages.iter().map(|(path, totals)| {
            let name = stage_path_name(path);
            ("stage", name.clone(), name, *totals)
        }));
        rows.sort_unstable_by(|left, right| (left.0, &left.1).cmp(&(right.0, &right.1)));
        rows
    }

    /// The first `top` stage sequences by name, ranked like
    /// [`Paths::channel_rows`].
    #[must_use]
    pub fn stage_rows(&self, top: usize) -> Vec<(String, PathTotals)> {
        ranked(self.stages.iter(), top, |path: &PathKey<Stage>| stage_path_name(path))
    }
}

/// How the reports write a channel path: `name(count)` per channel, joined
/// with ` > `.
fn channel_path_namer(log: &EventLog) -> impl Fn(&ChannelPath) -> String + '_ {
    |path: &ChannelPath| {
        let names: Vec<String> = path
            .iter()
            .map(|&(channel, count)| {
                let name = log.channels.get(channel);
                if count > 1 { format!("{name}({count})") } else { name.to_owned() }
            })
            .collect();
        if names.is_empty() { NO_CHANNEL.to_owned() } else { names.join(" > ") }
    }
}

/// How the reports write a stage sequence.
fn stage_path_name(path: &[Stage]) -> String {
    let names: Vec<&str> = path.iter().map(|stage| stage.as_str()).collect();
    if names.is_empty() { NO_CHANNEL.to_owned() } else { names.join(" > ") }
}

/// The first `top` of named path rows, ranked as [`Paths::channel_rows`]
/// ranks them.
#[must_use]
pub fn rank_rows(mut rows: Vec<(String, PathTotals)>, top: usize) -> Vec<(String, PathTotals)> {
    rows.sort_by(|left, right| order(&left.1).cmp(&order(&right.1)).then_with(|| left.0.cmp(&right.0)));
    rows.truncate(top);
    rows
}

/// Conversions, then journeys, both descending.
fn order(totals: &PathTotals) -> (std::cmp::Reverse<u64>, std::cmp::Reverse<u64>) {
    (std::cmp::Reverse(totals.conversions), std::cmp::Reverse(totals.journeys))
}

/// The first `top` paths ranked by conversions, then journeys (both
/// descending), then name. Only the paths that can make the first `top`
/// (those ranking with the `top`-th or above on the totals) are named, so
/// memory stays small however many distinct paths the log has.
fn ranked<'a, K: 'a>(
    paths: impl Iterator<Item = (&'a K, &'a PathTotals)>,
    top: usize,
    name: impl Fn(&K) -> String,
) -> Vec<(String, PathTotals)> {
    if top == 0 {
        return Vec::new();
    }
    let mut candidates: Vec<(&K, &PathTotals)> = paths.collect();
    if candidates.len() > top {
        let (_, cutoff, _) = candidates.select_nth_unstable_by_key(top - 1, |(_, totals)| order(totals));
        let cutoff = order(cutoff.1);
        candidates.retain(|(_, totals)| order(totals) <= cutoff);
    }
    rank_rows(candidates.into_iter().map(|(key, totals)| (name(key), *totals)).collect(), top)
}

/// Writes the first `top` ranked rows under the column name `label`.
///
/// # Errors
///
/// Whatever the sink returns.
pub fn write_path_rows(sink: &mut dyn Write, label: &str, rows: &[(String, PathTotals)], top: usize) -> io::Result<()> {
    let mut writer = CsvWriter::new(sink);
    writer.record(
        [label, "conversions", "revenue", "journeys", "conversion_rate", "mean_touches", "mean_days_to_conversion"]
            .map(Some),
    )?;
    for (path, totals) in rows.iter().take(top) {
        let fields = fields(totals, path.clone());
        writer.record(fields.iter().map(|field| Some(field.as_str())))?;
    }
    Ok(())
}

/// A path's row in `paths.csv` and `stage_paths.csv`.
fn fields(totals: &PathTotals, path: String) -> Vec<String> {
    let mut row = vec![path];
    row.extend(path_cells(totals));
    row
}

/// A path's figures, as `paths.csv` writes them: conversions, revenue,
/// journeys, conversion rate, touches per journey, mean days to conversion.
pub(crate) fn path_cells(totals: &PathTotals) -> [String; 6] {
    #[expect(clippy::cast_precision_loss, reason = "display")]
    let mean_days = (totals.conversions > 0 && totals.touches > 0)
        .then(|| totals.time_to_conversion as f64 / totals.conversions as f64 / MICROS_PER_DAY as f64);
    [
        totals.conversions.to_string(),
        fixed(Some(crate::journey::micros_to_units(totals.revenue)), 2),
        totals.journeys.to_string(),
        fixed(ratio(totals.conversions, totals.journeys), 6),
        fixed(ratio(totals.touches, totals.journeys), 2),
        fixed(mean_days, 2),
    ]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::Config;
    use crate::event_log::EventLogBuilder;
    use crate::journey::{Journeys, PathTransform};
    use crate::time::Lookback;

    #[test]
    fn paths_are_counted_and_ranked() {
        let day = MICROS_PER_DAY;
        let log = EventLogBuilder::new()
            .touch("a", 0, "email")
            .touch("a", day, "search")
            .conversion("a", 3 * day, 10_000_000)
            .touch("b", 0, "email")
            .touch("b", day, "search")
            .conversion("b", day, 20_000_000)
            .touch("c", 0, "email")
            .touch("c", day, "search")
            .touch("d", 0, "video")
            .touch("d", 1, "video")
            .conversion("d", day, 0)
            .conversion("e", 0, 5_000_000)
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        let paths = Paths::compute(&log, &journeys, &Config::default());
        let mut bytes = Vec::new();
        write_path_rows(&mut bytes, "path", &paths.channel_rows(&log, 10), 10).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "path,conversions,revenue,journeys,conversion_rate,mean_touches,mean_days_to_conversion");
        // a and b converted, c did not: 2 of 3; a took 3 days, b 1 day.
        assert_eq!(lines[1], "email > search,2,30.00,3,0.666667,2.00,2.00");
        assert_eq!(lines[2], "(none),1,5.00,1,1.000000,0.00,");
        assert_eq!(lines[3], "video > video,1,0.00,1,1.000000,2.00,1.00");

        let config = Config { path_transform: PathTransform::Frequency, ..Config::default() };
        let paths = Paths::compute(&log, &journeys, &config);
        let mut bytes = Vec::new();
        let rows = paths.channel_rows(&log, 1);
        assert_eq!(rows.len(), 1);
        write_path_rows(&mut bytes, "path", &rows, 1).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap().lines().count(), 2, "top 1 plus the header");
        assert!(paths.channels.get(vec![(log.channels.code_of("video").unwrap(), 2)]).is_some());
    }

    proptest! {
        #[test]
        fn the_top_paths_are_the_first_of_the_full_ranking(
            totals in proptest::collection::vec((0_u64..4, 0_u64..4), 0..40),
            top in 0_usize..12,
        ) {
            // Few distinct totals: many ties, broken by name.
            let paths: crate::hash::FastMap<u32, PathTotals> = totals
                .iter()
                .enumerate()
                .map(|(key, &(conversions, journeys))| {
                    (u32::try_from(key).unwrap(), PathTotals { journeys, conversions, ..PathTotals::default() })
                })
                .collect();
            let name = |key: &u32| format!("path {key:02}");
            let mut full: Vec<(String, PathTotals)> = paths.iter().map(|(key, totals)| (name(key), *totals)).collect();
            full.sort_by(|left, right| {
                right.1.conversions.cmp(&left.1.conversions)
                    .then(right.1.journeys.cmp(&left.1.journeys))
                    .then(left.0.cmp(&right.0))
            });
            full.truncate(top);
            prop_assert_eq!(ranked(paths.iter(), top, name), full);
        }
    }
}
