//! The data-driven reports: removal effects, moments of truth, where credit
//! lands in paths, and conversion paths.

use std::io::{self, Write};

use super::{Column, Reports, SHARE_DECIMALS, fixed, write_path_rows};
use crate::event::{NO_CHANNEL, Stage};
use crate::moment::median;
use crate::output::CsvWriter;

/// Removal effects are counted in these units when they are shared out, so
/// that the shares add up to 100 exactly (far finer than the six decimals
/// the effects are printed with).
const EFFECT_UNITS: f64 = 1e15;

impl Reports {
    /// Each (channel, stage)'s share of the first purchases with a moment
    /// of truth, in %, as `moments.csv` prints it: the shares add up to 100.
    #[must_use]
    /// The first purchases without a moment of truth have the key
    /// [`Reports::undecided_key`].
    pub fn moment_shares(&self) -> Column<(String, Stage)> {
        let undecided =
            (self.moments_undecided > 0).then(|| (Self::undecided_key(), i128::from(self.moments_undecided)));
        let parts = self.moments.iter().map(|(key, counts)| (key.clone(), i128::from(counts.moments)));
        Column::shares(parts.chain(undecided), i128::from(self.moments_total), SHARE_DECIMALS)
    }

    /// The key of the first purchases without a moment of truth in
    /// [`Reports::moment_shares`]: no touch is on `(none)`.
    #[must_use]
    pub fn undecided_key() -> (String, Stage) {
        (NO_CHANNEL.to_owned(), Stage::Unknown)
    }

    /// `moments.csv`: per (channel, stage), the first purchases it decided,
    /// their share, the median touches before the moment and the median
    /// hours from it to the purchase; first a `(none)` row for the first
    /// purchases without a moment of truth, when there are any.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_moments(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            ["channel", "stage", "moments", "share", "median_touches_before", "median_hours_to_purchase"].map(Some),
        )?;
        let shares = self.moment_shares();
        if self.moments_undecided > 0 {
            let fields = [
                NO_CHANNEL.to_owned(),
                String::new(),
                self.moments_undecided.to_string(),
                shares.cell(&Self::undecided_key()),
                String::new(),
                String::new(),
            ];
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
        for (key, counts) in &self.moments {
            let (channel, stage) = key;
            #[expect(clippy::cast_precision_loss, reason = "display")]
            let hours = median(&counts.minutes_to_purchase).map(|minutes| minutes as f64 / 60.0);
            let fields = [
                channel.clone(),
                stage.as_str().to_owned(),
                counts.moments.to_string(),
                shares.cell(key),
                median(&counts.touches_before).map(|touches| touches.to_string()).unwrap_or_default(),
                fixed(hours, 2),
            ];
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
        Ok(())
    }

    /// `removal_effects.csv`, when `markov` ran: each channel's removal
    /// effect, its share of the credit of touched conversions (see
    /// [`super::RemovalEffect`]), and its touchpoint score.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_removal_effects(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(["channel", "removal_effect", "share", "touchpoint_score"].map(Some))?;
        let Some(effects) = &self.removal_effects else {
            return Ok(());
        };
        // Shares are over the channels `markov` credits (see
        // `RemovalEffect::share`); effects are floating point, shared out in
        // fine integer units so that the shares add up to 100 as printed.
        #[expect(clippy::cast_possible_truncation, reason = "a share is at most 100: far inside i128")]
        let units: Vec<(&String, i128)> = effects
            .iter()
            .filter_map(|(channel, effect)| {
                effect.share.map(|share| (channel, (share / 100.0 * EFFECT_UNITS).round() as i128))
            })
            .collect();
        let whole: i128 = units.iter().map(|(_, units)| units).sum();
        let shares = Column::shares(units.into_iter().filter(|_| whole > 0), whole, SHARE_DECIMALS);
        for (channel, effect) in effects {
            let fields = [
                channel.clone(),
                fixed(Some(effect.effect), 6),
                if effect.share.is_some() { shares.cell(&channel) } else { String::new() },
                fixed(self.touchpoint_scores.get(channel).copied(), 6),
            ];
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
        Ok(())
    }

    /// `credit_positions.csv`: per model and channel, the share of its
    /// credit landing early (first quarter of the path), mid (middle half)
    /// and late (last quarter), in %.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_credit_positions(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(["model", "channel", "early", "mid", "late"].map(Some))?;
        for credit in &self.models {
            for (channel, buckets) in &credit.positions {
                // Early, mid and late add up to 100.
                let shares = Column::shares(buckets.iter().copied().enumerate(), buckets.iter().sum(), SHARE_DECIMALS);
                let mut fields = vec![credit.model.to_owned(), channel.clone()];
                fields.extend((0..buckets.len()).map(|bucket| shares.cell(&bucket)));
                writer.record(fields.iter().map(|field| Some(field.as_str())))?;
            }
        }
        Ok(())
    }

    /// `paths.csv`: the top channel paths.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_paths(&self, sink: &mut dyn Write) -> io::Result<()> {
        write_path_rows(sink, "path", &self.channel_paths, self.top)
    }

    /// `stage_paths.csv`: the top stage sequences.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_stage_paths(&self, sink: &mut dyn Write) -> io::Result<()> {
        write_path_rows(sink, "stage_path", &self.stage_paths, self.top)
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::Aggregates;
    use crate::config::Config;
    use crate::config::Mode;
    use crate::event_log::{EventLog, EventLogBuilder};
    use crate::journey::Journeys;
    use crate::report::Reports;
    use crate::time::{Date, MICROS_PER_DAY, MICROS_PER_SECOND};

    /// Every report of `log` under `config`.
    fn reports(log: &EventLog, config: &Config) -> Reports {
        let journeys = Journeys::build(log, config.lookback);
        let aggregates = Aggregates::compute(log, &journeys, config, Mode::Attribute, log.latest());
        Reports::compute(log, &journeys, &aggregates, config, &[], 10).unwrap().0
    }

    fn written(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut sink = Vec::new();
        write(&mut sink).unwrap();
        String::from_utf8(sink).unwrap()
    }

    #[test]
    fn removal_effect_shares_are_over_the_channels_credited_in_the_period() {
        let day = MICROS_PER_DAY;
        // Converting before the period: a > b and d. In it (days 5 to 10):
        // b > c and c. a and d also start journeys that do not convert.
        let log = EventLogBuilder::new()
            .touch("u1", 0, "a")
            .touch("u1", day, "b")
            .conversion("u1", 2 * day, 10_000_000)
            .touch("u2", 5 * day, "b")
            .touch("u2", 6 * day, "c")
            .conversion("u2", 7 * day, 10_000_000)
            .touch("u3", 5 * day, "c")
            .conversion("u3", 8 * day, 10_000_000)
            .touch("u4", 5 * day, "a")
            .touch("u5", day, "d")
            .conversion("u5", 2 * day, 10_000_000)
            .touch("u6", 6 * day, "d")
            .build();
        let config = Config {
            from: Some(Date::from_days(5)),
            to: Some(Date::from_days(10)),
            models: vec!["markov".into()],
            ..Config::default()
        };
        let reports = reports(&log, &config);
        // The chain (all journeys): P(c) = P(b) = 1, P(a) = P(d) = ½, from
        // start a, b, c, d with 2, 1, 1, 2 in 6: P = ⅔. Without a: P = ½,
        // RE = ¼; without b: P(a) = P(b) = 0, P = ⅓, RE = ½; without c:
        // P(b) = ½, P(a) = ¼, P = ⅓, RE = ½; without d: P = ½, RE = ¼. The
        // period's conversions credit b and c only: Σ RE = 1, not 1.5.
        let expected = "channel,removal_effect,share,touchpoint_score\n\
                        a,0.250000,0.0000,0.500000\n\
                        b,0.500000,50.0000,1.000000\n\
                        c,0.500000,50.0000,1.000000\n\
                        d,0.250000,0.0000,0.500000\n";
        assert_eq!(written(|sink| reports.write_removal_effects(sink)), expected);
        // The shares are the credit `markov` gives: one conversion each.
        let markov = &reports.models[0];
        assert_eq!(markov.model, "markov");
        for (channel, effect) in reports.removal_effects.as_ref().unwrap() {
            let credit = markov.channels.get(channel).map_or(0.0, |sums| sums.conversions());
            assert!((effect.share.unwrap() - credit / 2.0 * 100.0).abs() < 1e-9, "{channel}");
        }
    }

    #[test]
    fn first_purchases_without_a_moment_have_a_row_of_their_own() {
        let hour = 3600 * MICROS_PER_SECOND;
        // start → a twice (one converts), → b once (converts): P(a) = ½,
        // P(b) = 1, P(start) = ⅔. a's purchase: lift −⅙, no moment; b's:
        // lift ⅓, 2 hours before the purchase.
        let log = EventLogBuilder::new()
            .touch("u1", 0, "a")
            .conversion("u1", hour, 0)
            .touch("u2", 0, "a")
            .touch("u3", 0, "b")
            .conversion("u3", 2 * hour, 0)
            .build();
        let reports = reports(&log, &Config::default());
        assert_eq!((reports.moments_total, reports.moments_undecided), (2, 1));
        let expected = "channel,stage,moments,share,median_touches_before,median_hours_to_purchase\n\
                        (none),,1,50.0000,,\n\
                        b,unknown,1,50.0000,0,2.00\n";
        assert_eq!(written(|sink| reports.write_moments(sink)), expected);
    }
}
