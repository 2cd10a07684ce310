//! The ad-spend table: one row per day and paid campaign, priced from the
//! generated log's own impressions and clicks.
//!
//! The log holds only the touches that could be tied to a user, so each
//! logged impression stands for many served ones (a per-channel reach
//! factor) and each logged click for a little more than one. Spend follows
//! from per-channel CPM and CPC rates with some day-to-day price noise. A
//! podcast sponsorship that never appears in the log has spend too, as real
//! media plans do.

#![expect(clippy::cast_precision_loss, reason = "counts and cents stay far below 2^52")]

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use rand::Rng;
use rayon::prelude::*;

use super::catalog::{CAMPAIGNS, CHANNELS, Campaign, ChannelId};
use super::draw::{Event, SECONDS_PER_DAY, SPAN_DAYS, SPAN_START, STREAM_SPEND, stream};
use super::render::{push_cents, push_date, push_number};
use super::write::{create, polars_error};
use crate::event::{EventKind, Stage};
use crate::{Error, FileFormat, Result};

/// The spend table's header line: `config::SPEND_COLUMNS`, in order.
const SPEND_HEADER: &str = "date,channel,campaign,stage,spend,impressions,clicks\n";

/// Retargeting audiences are small and contested: their impressions cost
/// this many times the channel's CPM.
const RETARGETING_PREMIUM: f64 = 3.5;

/// Logged clicks are nearly complete; a few cannot be tied to a user.
const CLICK_REACH: f64 = 1.25;

/// How a channel is bought.
#[derive(Clone, Copy, Debug)]
struct Pricing {
    /// Served impressions per logged impression or click.
    impression_reach: f64,
    /// Cost per thousand impressions.
    cost_per_mille: f64,
    /// Cost per click.
    cost_per_click: f64,
}

/// Prices of the log's paid channels; `None` for organic ones.
fn pricing(channel: ChannelId) -> Option<Pricing> {
    let (impression_reach, cost_per_mille, cost_per_click) = match CHANNELS[usize::from(channel)].name {
        "paid_social" => (200.0, 6.50, 0.0),
        "paid_search" => (22.0, 0.0, 1.00),
        "email" => (4.0, 22.0, 0.0),
        "display" => (300.0, 2.80, 0.0),
        "video" => (160.0, 11.0, 0.0),
        "affiliate" => (15.0, 0.0, 0.65),
        _ => return None,
    };
    Some(Pricing { impression_reach, cost_per_mille, cost_per_click })
}

/// The podcast: audio downloads per simulated user and day, and the CPM.
const PODCAST_DOWNLOADS_PER_USER: f64 = 0.08;
const PODCAST_COST_PER_MILLE: f64 = 18.0;
/// Listeners who type the vanity URL, per download.
const PODCAST_CLICK_RATE: f64 = 0.001;

/// One row of the spend table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpendRow {
    /// Days since the start of the quarter.
    pub(crate) day: usize,
    /// Channel name.
    pub(crate) channel: &'static str,
    /// Campaign name.
    pub(crate) campaign: &'static str,
    /// The campaign's stage.
    pub(crate) stage: Stage,
    /// Spend in cents.
    pub(crate) spend_cents: i64,
    /// Impressions served.
    pub(crate) impressions: i64,
    /// Clicks.
    pub(crate) clicks: i64,
}

/// A campaign with spend: one of the log's, or the podcast.
struct SpendCampaign {
    channel: &'static str,
    campaign: &'static str,
    stage: Stage,
    /// Index into `CAMPAIGNS`, `None` for the podcast.
    logged: Option<usize>,
}

/// Builds the spend table, sorted by date, channel and campaign.
pub(crate) fn build(events: &[Event], users: u32, seed: u64) -> Vec<SpendRow> {
    let counts = count_by_day(events);
    let mut campaigns: Vec<SpendCampaign> = CAMPAIGNS
        .iter()
        .enumerate()
        .map(|(index, campaign)| SpendCampaign {
            channel: CHANNELS[usize::from(campaign.channel)].name,
            campaign: campaign.name,
            stage: campaign.stage,
            logged: Some(index),
        })
        .chain(std::iter::once(SpendCampaign {
            channel: "podcast",
            campaign: "podcast_sponsorship_q1",
            stage: Stage::Awareness,
            logged: None,
        }))
        .collect();
    campaigns.sort_by_key(|campaign| (campaign.channel, campaign.campaign));
    let mut rng = stream(seed, STREAM_SPEND, 0);
    let mut rows = Vec::with_capacity(SPAN_DAYS * campaigns.len());
    for day in 0..SPAN_DAYS {
        for campaign in &campaigns {
            // Served volumes and prices drift from day to day.
            let reach_noise = rng.random_range(0.85..1.15);
            let price_noise = rng.random_range(0.9..1.1);
            let (impressions, clicks, spend) = match campaign.logged {
                Some(index) => {
                    let [logged_impressions, logged_clicks] = counts[day * CAMPAIGNS.len() + index];
                    price_logged(&CAMPAIGNS[index], logged_impressions, logged_clicks, reach_noise)
                }
                None => price_podcast(users, reach_noise),
            };
            rows.push(SpendRow {
                day,
                channel: campaign.channel,
                campaign: campaign.campaign,
                stage: campaign.stage,
                spend_cents: cents(spend * price_noise),
                impressions,
                clicks,
            });
        }
    }
    rows
}

/// Impressions, clicks and spend of one logged campaign on one day.
fn price_logged(campaign: &Campaign, impressions: u64, clicks: u64, noise: f64) -> (i64, i64, f64) {
    let Some(pricing) = pricing(campaign.channel) else {
        return (0, 0, 0.0);
    };
    // Retargeting campaigns are the ones that need earlier touches.
    let premium = if campaign.minimum_touches > 0 { RETARGETING_PREMIUM } else { 1.0 };
    // Every logged click was also an impression.
    let served = rounded((impressions + clicks) as f64 * pricing.impression_reach * noise);
    let clicked = rounded(clicks as f64 * CLICK_REACH * noise);
    let spend = served as f64 / 1_000.0 * pricing.cost_per_mille * premium + clicked as f64 * pricing.cost_per_click;
    (served, clicked, spend)
}

/// Impressions, clicks and spend of the podcast on one day.
fn price_podcast(users: u32, noise: f64) -> (i64, i64, f64) {
    let downloads = rounded(f64::from(users) * PODCAST_DOWNLOADS_PER_USER * noise);
    let clicks = rounded(downloads as f64 * PODCAST_CLICK_RATE);
    (downloads, clicks, downloads as f64 / 1_000.0 * PODCAST_COST_PER_MILLE)
}

#[expect(clippy::cast_possible_truncation, reason = "non-negative counts far below i64::MAX; the cast saturates")]
fn rounded(value: f64) -> i64 {
    value.round().max(0.0) as i64
}

fn cents(amount: f64) -> i64 {
    rounded(amount * 100.0)
}

/// Logged impressions and clicks per (day, campaign), indexed
/// `day * CAMPAIGNS.len() + campaign`.
fn count_by_day(events: &[Event]) -> Vec<[u64; 2]> {
    let slots = SPAN_DAYS * CAMPAIGNS.len();
    events
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut counts = vec![[0_u64; 2]; slots];
            for event in chunk.iter().filter(|event| usize::from(event.campaign) < CAMPAIGNS.len()) {
                let column = match event.kind {
                    EventKind::Impression => 0,
                    EventKind::Click => 1,
                    EventKind::Visit | EventKind::Conversion => continue,
                };
                let day = usize::try_from((event.time - SPAN_START) / SECONDS_PER_DAY).unwrap_or(0);
                counts[day.min(SPAN_DAYS - 1) * CAMPAIGNS.len() + usize::from(event.campaign)][column] += 1;
            }
            counts
        })
        .reduce(
            || vec![[0_u64; 2]; slots],
            |mut total, part| {
                for (sum, add) in total.iter_mut().zip(&part) {
                    sum[0] += add[0];
                    sum[1] += add[1];
                }
                total
            },
        )
}

/// Days since 1970-01-01 of a day of the quarter.
fn epoch_day(day: usize) -> i64 {
    SPAN_START / SECONDS_PER_DAY + i64::try_from(day).unwrap_or(0)
}

/// Writes the spend table; returns the number of data rows.
pub(crate) fn write(path: &Path, format: FileFormat, rows: &[SpendRow]) -> Result<u64> {
    match format {
        FileFormat::Csv => write_csv(path, rows)?,
        FileFormat::Parquet => write_parquet(path, rows)?,
        FileFormat::Arrow => return Err(crate::Error::Internal("spend is written to files, not to memory".to_owned())),
    }
    Ok(rows.len() as u64)
}

fn write_csv(path: &Path, rows: &[SpendRow]) -> Result<()> {
    let mut buffer = Vec::with_capacity(64 * (rows.len() + 1));
    buffer.extend_from_slice(SPEND_HEADER.as_bytes());
    for row in rows {
        push_date(&mut buffer, epoch_day(row.day));
        for text in [row.channel, row.campaign, row.stage.as_str()] {
            buffer.push(b',');
            buffer.extend_from_slice(text.as_bytes());
        }
        buffer.push(b',');
        push_cents(&mut buffer, row.spend_cents);
        for count in [row.impressions, row.clicks] {
            buffer.push(b',');
            push_number(&mut buffer, count.unsigned_abs(), 1);
        }
        buffer.push(b'\n');
    }
    let mut writer = create(path)?;
    writer.write_all(&buffer).and_then(|()| writer.flush()).map_err(|source| Error::io(path, source))
}

fn write_parquet(path: &Path, rows: &[SpendRow]) -> Result<()> {
    let polars = |error: PolarsError| polars_error(path, &error);
    let dates: Vec<i32> = rows.iter().map(|row| i32::try_from(epoch_day(row.day)).unwrap_or(i32::MAX)).collect();
    let spend: Vec<f64> = rows.iter().map(|row| row.spend_cents as f64 / 100.0).collect();
    let mut frame = DataFrame::new_infer_height(vec![
        Int32Chunked::from_vec("date".into(), dates).into_date().into_column(),
        Column::new("channel".into(), rows.iter().map(|row| row.channel).collect::<Vec<_>>()),
        Column::new("campaign".into(), rows.iter().map(|row| row.campaign).collect::<Vec<_>>()),
        Column::new("stage".into(), rows.iter().map(|row| row.stage.as_str()).collect::<Vec<_>>()),
        Column::new("spend".into(), spend),
        Column::new("impressions".into(), rows.iter().map(|row| row.impressions).collect::<Vec<_>>()),
        Column::new("clicks".into(), rows.iter().map(|row| row.clicks).collect::<Vec<_>>()),
    ])
    .map_err(polars)?;
    let mut file = create(path)?;
    ParquetWriter::new(&mut file).finish(&mut frame).map_err(polars)?;
    file.flush().map_err(|source| Error::io(path, source))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::generate::simulate::simulate;

    #[test]
    fn one_row_per_day_and_campaign_including_the_podcast() {
        let events = simulate(1, 4_000);
        let rows = build(&events, 4_000, 1);
        assert_eq!(rows.len(), SPAN_DAYS * (CAMPAIGNS.len() + 1));
        assert!(rows.iter().all(|row| row.spend_cents >= 0 && row.clicks <= row.impressions));
        assert!(rows.iter().any(|row| row.channel == "podcast" && row.spend_cents > 0));
        let keys: Vec<_> = rows.iter().map(|row| (row.day, row.channel, row.campaign)).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn stage_split_is_plausible_but_not_the_guideline() {
        let events = simulate(2, 20_000);
        let rows = build(&events, 20_000, 2);
        let mut by_stage: BTreeMap<Stage, i64> = BTreeMap::new();
        for row in &rows {
            *by_stage.entry(row.stage).or_default() += row.spend_cents;
        }
        let total: i64 = by_stage.values().sum();
        let share = |stage| by_stage.get(&stage).copied().unwrap_or(0) as f64 / total as f64;
        let awareness = share(Stage::Awareness);
        let consideration = share(Stage::Consideration);
        let conversion = share(Stage::Conversion);
        assert!((0.45..=0.68).contains(&awareness), "awareness {awareness}");
        assert!((0.10..=0.30).contains(&consideration), "consideration {consideration}");
        assert!((0.12..=0.35).contains(&conversion), "conversion {conversion}");
    }
}
