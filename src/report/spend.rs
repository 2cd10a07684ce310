//! Spend over the analysis period, per channel, campaign and stage.

use std::collections::BTreeMap;

use crate::aggregate::is_video_channel;
use crate::config::Config;
use crate::event::Stage;
use crate::ingest::SpendRow;

/// Spend and bought volume of one group of spend rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendTotals {
    /// Spend in millionths.
    pub spend: i128,
    /// Impressions, over the rows that give them.
    pub impressions: u64,
    /// True when at least one row gives impressions.
    pub has_impressions: bool,
    /// Clicks, over the rows that give them.
    pub clicks: u64,
    /// True when at least one row gives clicks.
    pub has_clicks: bool,
}

impl SpendTotals {
    fn add(&mut self, row: &SpendRow) {
        self.spend += i128::from(row.spend);
        if let Some(impressions) = row.impressions {
            self.impressions += impressions;
            self.has_impressions = true;
        }
        if let Some(clicks) = row.clicks {
            self.clicks += clicks;
            self.has_clicks = true;
        }
    }

    /// Spend in currency units.
    #[must_use]
    pub fn amount(&self) -> f64 {
        crate::journey::micros_to_units(self.spend)
    }
}

/// Spend in the analysis period, grouped three ways, and the video
/// channels' per stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodSpend {
    /// Per channel.
    pub channels: BTreeMap<String, SpendTotals>,
    /// Per (channel, campaign).
    pub campaigns: BTreeMap<(String, String), SpendTotals>,
    /// Per stage.
    pub stages: BTreeMap<Stage, SpendTotals>,
    /// Per stage, the rows on video channels only (see
    /// [`is_video_channel`]): the spend and views behind a stage's cost per
    /// view.
    pub video_stages: BTreeMap<Stage, SpendTotals>,
    /// All of it.
    pub total: SpendTotals,
}

impl PeriodSpend {
    /// Sums the rows whose date is in `config`'s period.
    #[must_use]
    pub fn new(rows: &[SpendRow], config: &Config) -> Self {
        let mut spend = Self::default();
        for row in rows.iter().filter(|row| config.in_period(row.date)) {
            spend.channels.entry(row.channel.clone()).or_default().add(row);
            spend.campaigns.entry((row.channel.clone(), row.campaign.clone())).or_default().add(row);
            spend.stages.entry(row.stage).or_default().add(row);
            if is_video_channel(&row.channel) {
                spend.video_stages.entry(row.stage).or_default().add(row);
            }
            spend.total.add(row);
        }
        spend
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Date;

    fn row(date: &str, channel: &str, spend: i64, impressions: Option<u64>) -> SpendRow {
        SpendRow {
            date: date.parse::<Date>().unwrap().days(),
            channel: channel.into(),
            campaign: String::new(),
            stage: Stage::Awareness,
            spend,
            impressions,
            clicks: None,
        }
    }

    #[test]
    fn only_days_in_the_period_count() {
        let rows = [
            row("2026-01-31", "video", 1_000_000, Some(10)),
            row("2026-02-01", "video", 2_000_000, None),
            row("2026-02-28", "video", 4_000_000, Some(5)),
            row("2026-03-01", "video", 8_000_000, Some(7)),
        ];
        let config = Config {
            from: Some("2026-02-01".parse().unwrap()),
            to: Some("2026-02-28".parse().unwrap()),
            ..Config::default()
        };
        let spend = PeriodSpend::new(&rows, &config);
        let video = spend.channels["video"];
        assert_eq!(
            (video.spend, video.impressions, video.has_impressions, video.has_clicks),
            (6_000_000, 5, true, false)
        );
        assert_eq!(PeriodSpend::new(&rows, &Config::default()).total.spend, 15_000_000);
    }

    #[test]
    fn video_rows_are_also_summed_apart_per_stage() {
        let rows = [
            row("2026-02-01", "video", 2_000_000, Some(400)),
            row("2026-02-01", "online_video", 1_000_000, None),
            row("2026-02-01", "display", 8_000_000, Some(9_000)),
        ];
        let spend = PeriodSpend::new(&rows, &Config::default());
        let video = spend.video_stages[&Stage::Awareness];
        assert_eq!((video.spend, video.impressions, video.has_impressions), (3_000_000, 400, true));
        assert_eq!(spend.stages[&Stage::Awareness].spend, 11_000_000);
    }
}
