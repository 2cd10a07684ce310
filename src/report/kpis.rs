//! `kpis.csv`: the funnel KPIs of [`crate::aggregate::Kpis`] per channel and
//! per stage, beside spend, the costs per impression, view and click, and the
//! featured model's credit, CPA and ROAS.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::{Reports, SpendTotals, cpa, fixed, roas};
use crate::aggregate::{Counters, is_video_channel, ratio};
use crate::attribution::CreditSums;
use crate::event::NO_CHANNEL;
use crate::output::CsvWriter;

impl Reports {
    /// `kpis.csv`: one row per channel, then one per stage; conversions,
    /// revenue, CPA and ROAS under [`Reports::featured_model`].
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_kpis(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(KPI_COLUMNS.map(Some))?;
        let empty = Counters::default();
        let featured = self.featured_model();
        let (channel_credit, stage_credit) =
            (featured.map(|credit| self.channel_credit(credit)), featured.map(|credit| self.stage_credit(credit)));
        let (channel_spend, (stage_spend, _)) = (self.channel_spend(), self.stage_spend());
        let channels: BTreeSet<String> = self
            .channel_kpis
            .keys()
            .filter(|name| *name != NO_CHANNEL)
            .cloned()
            .chain(self.spend.channels.keys().cloned())
            .collect();
        for channel in &channels {
            let spend = self.spend.channels.get(channel);
            let row = KpiRow {
                level: "channel",
                name: channel,
                counters: self.channel_kpis.get(channel).unwrap_or(&empty),
                spend,
                video: spend.filter(|_| is_video_channel(channel)),
                printed_spend: channel_spend.cell(channel),
                credit: featured.zip(channel_credit.as_ref()).map(|(credit, printed)| FeaturedCredit {
                    model: credit.model,
                    sums: credit.channels.get(channel).copied().unwrap_or_default(),
                    conversions: printed.conversions.cell_or_zero(channel),
                    revenue: printed.revenue.cell_or_zero(channel),
                }),
                touchpoint_score: self.touchpoint_scores.get(channel).copied(),
            };
            writer.record(row.fields().iter().map(|field| Some(field.as_str())))?;
        }
        for stage in self.stages() {
            let spend = self.spend.stages.get(&stage);
            let row = KpiRow {
                level: "stage",
                name: stage.as_str(),
                counters: self.stage_kpis.get(&stage).unwrap_or(&empty),
                spend,
                video: self.spend.video_stages.get(&stage),
                printed_spend: spend.map(|_| stage_spend.cell(&stage)).unwrap_or_default(),
                credit: featured.zip(stage_credit.as_ref()).map(|(credit, printed)| FeaturedCredit {
                    model: credit.model,
                    sums: credit.stages.get(&stage).copied().unwrap_or_default(),
                    conversions: printed.conversions.cell_or_zero(&stage),
                    revenue: printed.revenue.cell_or_zero(&stage),
                }),
                touchpoint_score: None,
            };
            writer.record(row.fields().iter().map(|field| Some(field.as_str())))?;
        }
        Ok(())
    }
}

/// The columns of `kpis.csv`.
const KPI_COLUMNS: [&str; 23] = [
    "level",
    "name",
    "impressions",
    "clicks",
    "visits",
    "views",
    "reach",
    "frequency",
    "ctr",
    "spend",
    "cpm",
    "cpv",
    "cpc",
    "journeys",
    "conversion_rate",
    "model",
    "conversions",
    "revenue",
    "cpa",
    "roas",
    "avg_position",
    "median_hours_to_conversion",
    "touchpoint_score",
];

/// The featured model's credit of one `kpis.csv` row.
struct FeaturedCredit {
    model: &'static str,
    /// Exact, for CPA and ROAS.
    sums: CreditSums,
    /// As `channels.csv` or `stages.csv` prints them.
    conversions: String,
    revenue: String,
}

/// What one `kpis.csv` row is written from.
struct KpiRow<'a> {
    level: &'static str,
    name: &'a str,
    counters: &'a Counters,
    /// The group's spend rows in the period.
    spend: Option<&'a SpendTotals>,
    /// Those of them on video channels.
    video: Option<&'a SpendTotals>,
    /// The spend cell, as `channels.csv` or `stages.csv` prints it.
    printed_spend: String,
    credit: Option<FeaturedCredit>,
    touchpoint_score: Option<f64>,
}

impl KpiRow<'_> {
    /// The row's fields, in [`KPI_COLUMNS`] order. Impressions and clicks
    /// come from the spend table where it gives them, else from the log;
    /// views likewise, from the video channels' rows; frequency is the log's
    /// impressions over the log's reach, so both sides count the same people.
    fn fields(&self) -> Vec<String> {
        let (counters, spend) = (self.counters, self.spend);
        let impressions =
            spend.filter(|spend| spend.has_impressions).map_or(counters.impressions, |spend| spend.impressions);
        let clicks = spend.filter(|spend| spend.has_clicks).map_or(counters.clicks, |spend| spend.clicks);
        let views = self.video.filter(|video| video.has_impressions).map_or(counters.views, |video| video.impressions);
        #[expect(clippy::cast_precision_loss, reason = "display")]
        let per = |amount: Option<f64>, count: u64, scale: f64| {
            amount.filter(|_| count > 0).map(|amount| amount / count as f64 * scale)
        };
        let amount = spend.map(SpendTotals::amount);
        let credit = self.credit.as_ref();
        let sums = credit.map(|credit| credit.sums);
        vec![
            self.level.to_owned(),
            self.name.to_owned(),
            impressions.to_string(),
            clicks.to_string(),
            counters.visits.to_string(),
            views.to_string(),
            counters.reach.to_string(),
            fixed(ratio(counters.impressions, counters.reach), 4),
            fixed(ratio(clicks, impressions), 6),
            self.printed_spend.clone(),
            fixed(per(amount, impressions, 1000.0), 4),
            fixed(per(self.video.map(SpendTotals::amount), views, 1.0), 4),
            fixed(per(amount, clicks, 1.0), 4),
            counters.journeys.to_string(),
            fixed(counters.conversion_rate(), 6),
            credit.map(|credit| credit.model.to_owned()).unwrap_or_default(),
            credit.map(|credit| credit.conversions.clone()).unwrap_or_default(),
            credit.map(|credit| credit.revenue.clone()).unwrap_or_default(),
            fixed(sums.and_then(|sums| cpa(sums, spend)), 2),
            fixed(sums.and_then(|sums| roas(sums, spend)), 4),
            fixed(counters.average_position(), 4),
            fixed(counters.median_hours_to_conversion(), 2),
            fixed(self.touchpoint_score, 6),
        ]
    }
}
