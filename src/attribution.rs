//! Running the models over every converting journey, into exact totals that
//! merge in any order.
//!
//! Each conversion's credit is split into integer units ([`CONVERSION_UNITS`]
//! per conversion, millionths for revenue) by [`apportion`], and summed per
//! (model, channel, campaign, stage) in integers. Integer addition is exact
//! and commutative, so one thread or many, and any split of users into
//! batches, give the same totals to the last unit.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::config::Config;
use crate::event::Stage;
use crate::event_log::{EventLog, NO_CHANNEL_CODE};
use crate::journey::{Journey, Journeys};
use crate::models::{AttributionModel, CONVERSION_UNITS, Path, apportion};

/// Journeys handed to one parallel task, at least.
const JOURNEYS_PER_TASK: usize = 2048;

/// What a share of credit is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditKey {
    /// Channel code, [`NO_CHANNEL_CODE`] for conversions without touches.
    pub channel: u32,
    /// Campaign code.
    pub campaign: u32,
    /// Stage of the touch (of the conversion, for `(none)`).
    pub stage: Stage,
}

/// Summed credit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreditSums {
    /// Credited conversions, in [`CONVERSION_UNITS`] per conversion.
    pub units: i128,
    /// Credited revenue, in millionths.
    pub revenue: i128,
}

impl CreditSums {
    fn add(&mut self, other: Self) {
        self.units += other.units;
        self.revenue += other.revenue;
    }

    /// Credited conversions.
    #[must_use]
    pub fn conversions(self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "reporting only; sums stay exact")]
        let conversions = self.units as f64 / CONVERSION_UNITS as f64;
        conversions
    }

    /// Credited revenue.
    #[must_use]
    pub fn revenue(self) -> f64 {
        crate::journey::micros_to_units(self.revenue)
    }
}

/// Credit per model and key: the partial state that threads (and, later,
/// machines) produce and merge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credits {
    /// For each model, in the order given, its credit per key.
    pub per_model: Vec<HashMap<CreditKey, CreditSums>>,
    /// Conversions attributed (each once, whatever the number of models).
    pub conversions: u64,
    /// Their revenue, in millionths.
    pub revenue: i128,
}

impl Credits {
    /// Empty credit for `models` models.
    #[must_use]
    pub fn new(models: usize) -> Self {
        Self { per_model: vec![HashMap::new(); models], conversions: 0, revenue: 0 }
    }

    /// Adds another partial state into this one. Associative and commutative,
    /// with [`Credits::new`] as identity.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        if self.per_model.is_empty() {
            return other;
        }
        for (mine, theirs) in self.per_model.iter_mut().zip(other.per_model) {
            for (key, sums) in theirs {
                mine.entry(key).or_default().add(sums);
            }
        }
        self.conversions += other.conversions;
        self.revenue += other.revenue;
        self
    }

    /// A model's total credit.
    #[must_use]
    pub fn total(&self, model: usize) -> CreditSums {
        let mut total = CreditSums::default();
        for sums in self.per_model[model].values() {
            total.add(*sums);
        }
        total
    }
}

/// Scratch space reused across journeys by one task.
struct Scratch {
    credits: Credits,
    weights: Vec<f64>,
    units: Vec<i64>,
    revenue: Vec<i64>,
}

/// Credits every converting journey whose conversion falls in the analysis
/// period with every model.
#[must_use]
pub fn attribute(
    log: &EventLog,
    journeys: &Journeys,
    models: &[Box<dyn AttributionModel>],
    config: &Config,
) -> Credits {
    (0..journeys.len())
        .into_par_iter()
        .with_min_len(JOURNEYS_PER_TASK)
        .fold(
            || Scratch {
                credits: Credits::new(models.len()),
                weights: Vec::new(),
                units: Vec::new(),
                revenue: Vec::new(),
            },
            |mut scratch, index| {
                credit_journey(log, &journeys.get(index), models, config, &mut scratch);
                scratch
            },
        )
        .map(|scratch| scratch.credits)
        .reduce(|| Credits::new(models.len()), Credits::merge)
}

fn credit_journey(
    log: &EventLog,
    journey: &Journey,
    models: &[Box<dyn AttributionModel>],
    config: &Config,
    scratch: &mut Scratch,
) {
    let Some(conversion) = journey.conversion else {
        return;
    };
    if !config.in_period(config.timezone.local_day(log.time[conversion])) {
        return;
    }
    let revenue = log.revenue[conversion];
    scratch.credits.conversions += 1;
    scratch.credits.revenue += i128::from(revenue);
    if journey.path.is_empty() {
        let key =
            CreditKey { channel: NO_CHANNEL_CODE, campaign: log.campaign[conversion], stage: log.stage[conversion] };
        let sums = CreditSums { units: i128::from(CONVERSION_UNITS), revenue: i128::from(revenue) };
        for table in &mut scratch.credits.per_model {
            table.entry(key).or_default().add(sums);
        }
        return;
    }
    let path = Path::new(log, &journey.path, log.time[conversion]);
    let length = path.len();
    scratch.weights.resize(length, 0.0);
    scratch.units.resize(length, 0);
    scratch.revenue.resize(length, 0);
    for (model, table) in models.iter().zip(&mut scratch.credits.per_model) {
        model.weights(&path, &mut scratch.weights);
        apportion(CONVERSION_UNITS, &scratch.weights, &mut scratch.units);
        apportion(revenue, &scratch.weights, &mut scratch.revenue);
        for (offset, touch) in journey.path.clone().enumerate() {
            if scratch.units[offset] == 0 && scratch.revenue[offset] == 0 {
                continue;
            }
            let key = CreditKey { channel: log.channel[touch], campaign: log.campaign[touch], stage: log.stage[touch] };
            let sums =
                CreditSums { units: i128::from(scratch.units[offset]), revenue: i128::from(scratch.revenue[offset]) };
            table.entry(key).or_default().add(sums);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::models::registry;
    use crate::time::{Lookback, MICROS_PER_DAY};

    /// Random users: each a list of (channel index, is conversion, revenue).
    fn log_strategy() -> impl Strategy<Value = Vec<Vec<(u8, bool, u32)>>> {
        proptest::collection::vec(
            proptest::collection::vec((0_u8..6, proptest::bool::weighted(0.25), 0_u32..100_000), 1..12),
            1..40,
        )
    }

    fn build(users: &[Vec<(u8, bool, u32)>]) -> EventLog {
        let channels = ["direct", "display", "email", "paid_search", "paid_social", "video"];
        let mut builder = EventLogBuilder::new();
        for (user, events) in users.iter().enumerate() {
            let name = format!("user{user}");
            for (step, &(channel, conversion, revenue)) in events.iter().enumerate() {
                let time = i64::try_from(step).unwrap() * MICROS_PER_DAY / 2;
                builder = if conversion {
                    builder.conversion(&name, time, i64::from(revenue) * 10_000)
                } else {
                    builder.touch(&name, time, channels[usize::from(channel)])
                };
            }
        }
        builder.build()
    }

    proptest! {
        #[test]
        fn every_model_credits_each_conversion_exactly_once(users in log_strategy()) {
            let log = build(&users);
            let config = Config::default();
            let journeys = Journeys::build(&log, Lookback::default());
            let models = registry(&config);
            let credits = attribute(&log, &journeys, &models, &config);
            let conversions = log.kind.iter().filter(|kind| !kind.is_touch()).count() as u64;
            let revenue: i128 = log.revenue.iter().map(|&value| i128::from(value)).sum();
            prop_assert_eq!(credits.conversions, conversions);
            for model in 0..models.len() {
                let total = credits.total(model);
                prop_assert_eq!(total.units, i128::from(conversions) * i128::from(CONVERSION_UNITS));
                prop_assert_eq!(total.revenue, revenue);
                prop_assert!(credits.per_model[model].values().all(|sums| sums.units >= 0 && sums.revenue >= 0));
            }
        }

        #[test]
        fn merging_is_associative_and_commutative(users in log_strategy(), split in 0_usize..40, second in 0_usize..40) {
            let log = build(&users);
            let config = Config::default();
            let journeys = Journeys::build(&log, Lookback::default());
            let models = registry(&config);
            let part = |range: std::ops::Range<usize>| {
                let mut credits = Credits::new(models.len());
                let mut scratch = Scratch { credits: Credits::new(models.len()), weights: Vec::new(), units: Vec::new(), revenue: Vec::new() };
                for index in range {
                    credit_journey(&log, &journeys.get(index), &models, &config, &mut scratch);
                }
                credits = credits.merge(scratch.credits);
                credits
            };
            let count = journeys.len();
            let (first, second) = (split.min(count), second.min(count));
            let (low, high) = (first.min(second), first.max(second));
            let whole = part(0..count);
            let left_first = part(0..low).merge(part(low..high)).merge(part(high..count));
            let right_first = part(high..count).merge(part(0..low).merge(part(low..high)));
            prop_assert_eq!(&whole, &left_first);
            prop_assert_eq!(&whole, &right_first);
            prop_assert_eq!(&whole, &Credits::new(models.len()).merge(whole.clone()));
        }
    }

    #[test]
    fn zero_revenue_still_credits_one_conversion() {
        let log = EventLogBuilder::new().touch("u", 0, "email").touch("u", 1, "video").conversion("u", 2, 0).build();
        let config = Config::default();
        let journeys = Journeys::build(&log, Lookback::default());
        let models = registry(&config);
        let credits = attribute(&log, &journeys, &models, &config);
        for model in 0..models.len() {
            assert_eq!(credits.total(model), CreditSums { units: i128::from(CONVERSION_UNITS), revenue: 0 });
            assert!(credits.per_model[model].values().all(|sums| sums.revenue == 0));
        }
    }

    #[test]
    fn conversions_without_touches_go_to_none() {
        let log = EventLogBuilder::new().conversion("u", 0, 5_000_000).build();
        let config = Config::default();
        let journeys = Journeys::build(&log, Lookback::default());
        let credits = attribute(&log, &journeys, &registry(&config), &config);
        for table in &credits.per_model {
            let (key, sums) = table.iter().next().unwrap();
            assert_eq!(key.channel, NO_CHANNEL_CODE);
            assert_eq!(*sums, CreditSums { units: i128::from(CONVERSION_UNITS), revenue: 5_000_000 });
        }
    }
}
