//! The data-driven reports: removal effects, moments of truth, where credit
//! lands in paths, and conversion paths.

use std::io::{self, Write};

use super::{Reports, fixed, share, write_path_rows};
use crate::event::NO_CHANNEL;
use crate::moment::median;
use crate::output::CsvWriter;

impl Reports {
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
        if self.moments_undecided > 0 {
            let fields = [
                NO_CHANNEL.to_owned(),
                String::new(),
                self.moments_undecided.to_string(),
                fixed(share(i128::from(self.moments_undecided), i128::from(self.moments_total)), 4),
                String::new(),
                String::new(),
            ];
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
        for ((channel, stage), counts) in &self.moments {
            #[expect(clippy::cast_precision_loss, reason = "display")]
            let hours = median(&counts.minutes_to_purchase).map(|minutes| minutes as f64 / 60.0);
            let fields = [
                channel.clone(),
                stage.as_str().to_owned(),
                counts.moments.to_string(),
                fixed(share(i128::from(counts.moments), i128::from(self.moments_total)), 4),
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
        for (channel, effect) in effects {
            let fields = [
                channel.clone(),
                fixed(Some(effect.effect), 6),
                fixed(effect.share, 4),
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
                let total: i128 = buckets.iter().sum();
                let mut fields = vec![credit.model.to_owned(), channel.clone()];
                fields.extend(buckets.iter().map(|&bucket| fixed(share(bucket, total), 4)));
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
    use crate::config::Config;
    use crate::event_log::{EventLog, EventLogBuilder};
    use crate::journey::Journeys;
    use crate::report::Reports;
    use crate::run::Mode;
    use crate::state::Aggregates;
    use crate::time::{Date, MICROS_PER_DAY, MICROS_PER_SECOND};

    /// Every report of `log` under `config`.
    fn reports(log: &EventLog, config: &Config) -> Reports {
        let journeys = Journeys::build(log, config.lookback);
        let aggregates = Aggregates::compute(log, &journeys, config, Mode::Attribute);
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
