//! The data-driven reports: removal effects, moments of truth, where credit
//! lands in paths, and conversion paths.

use std::io::{self, Write};

use super::{Reports, fixed, share, write_path_rows};
use crate::moment::median;
use crate::output::CsvWriter;

impl Reports {
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
        let total: f64 = effects.values().sum();
        for (channel, &effect) in effects {
            let fields = [
                channel.clone(),
                fixed(Some(effect), 6),
                fixed((total > 0.0).then(|| effect / total * 100.0), 4),
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
