//! The data-driven reports: removal effects, moments of truth, where credit
//! lands in paths, and conversion paths.

use std::io::{self, Write};

use super::{Column, Reports, SHARE_DECIMALS, fixed, write_path_rows};
use crate::event::Stage;
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
    pub fn moment_shares(&self) -> Column<(String, Stage)> {
        let parts = self.moments.iter().map(|(key, counts)| (key.clone(), i128::from(counts.moments)));
        Column::shares(parts, i128::from(self.moments_total), SHARE_DECIMALS)
    }

    /// `moments.csv`: per (channel, stage), the first purchases it decided,
    /// their share, the median touches before the moment and the median
    /// hours from it to the purchase.
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
    /// effect, its share of the total, and its touchpoint score.
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
        // Effects are floating point: shared out in fine integer units, so
        // that the shares add up to 100 as printed.
        #[expect(clippy::cast_possible_truncation, reason = "an effect is at most 1: far inside i128")]
        let units: Vec<(&String, i128)> =
            effects.iter().map(|(channel, &effect)| (channel, (effect * EFFECT_UNITS).round() as i128)).collect();
        let whole: i128 = units.iter().map(|(_, units)| units).sum();
        let shares = Column::shares(units.into_iter().filter(|_| whole > 0), whole, SHARE_DECIMALS);
        for (channel, &effect) in effects {
            let fields = [
                channel.clone(),
                fixed(Some(effect), 6),
                shares.cell(&channel),
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
