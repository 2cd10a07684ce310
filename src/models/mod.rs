//! Attribution models: how a conversion's credit is divided among the touches
//! of its path.
//!
//! Every model implements [`AttributionModel`], one file per model, and
//! [`registry`] lists them. A model only says how much *weight* each touch
//! gets; [`apportion`] turns weights into exact integer credit so that each
//! conversion's credit sums to exactly one conversion and exactly its
//! revenue, whatever the model (see `docs/models.md`).

pub mod chain;
mod credit;
mod first_click;
pub mod incremental;
mod last_click;
mod last_non_direct;
mod linear;
mod markov;
mod position_based;
pub mod shapley;
mod time_decay;

pub use credit::{CONVERSION_UNITS, Split, apportion};
pub use first_click::FirstClick;
pub use incremental::Incremental;
pub use last_click::LastClick;
pub use last_non_direct::LastNonDirect;
pub use linear::Linear;
pub use markov::Markov;
pub use position_based::PositionBased;
pub use shapley::Shapley;
pub use time_decay::TimeDecay;

use std::collections::BTreeMap;

use crate::config::Config;
use crate::event_log::EventLog;

/// A converting path, as a model sees it (after the path transform).
#[derive(Clone, Copy, Debug)]
pub struct Path<'a> {
    log: &'a EventLog,
    touches: &'a [usize],
    counts: &'a [u32],
    converted_at: i64,
    /// The conversion is a repeat purchase.
    customer: bool,
    /// How many of the first touches came before the user's previous
    /// purchase (only in a model's logged path, see
    /// [`AttributionModel::reads_logged_path`]).
    carried: usize,
}

impl<'a> Path<'a> {
    /// The touches `touches` (event indices of `log`, each standing for
    /// `counts[i]` touches) leading to a conversion at `converted_at`.
    #[must_use]
    pub fn new(log: &'a EventLog, touches: &'a [usize], counts: &'a [u32], converted_at: i64) -> Self {
        Self { log, touches, counts, converted_at, customer: false, carried: 0 }
    }

    /// The same path, leading to a repeat purchase when `customer`.
    #[must_use]
    pub fn repeat(mut self, customer: bool) -> Self {
        self.customer = customer;
        self
    }

    /// The same path, whose first `carried` touches came before the user's
    /// previous purchase.
    #[must_use]
    pub fn with_carried(mut self, carried: usize) -> Self {
        self.carried = carried;
        self
    }

    /// How many of the first touches came before the user's previous
    /// purchase.
    #[must_use]
    pub fn carried(&self) -> usize {
        self.carried
    }

    /// The kind of touch `index`.
    #[must_use]
    pub fn kind(&self, index: usize) -> crate::event::EventKind {
        self.log.kind[self.touches[index]]
    }

    /// How many logged touches touch `index` stands for (1 unless the
    /// `frequency` transform merged several).
    #[must_use]
    pub fn count(&self, index: usize) -> u32 {
        self.counts[index]
    }

    /// The channel code of touch `index`.
    #[must_use]
    pub fn channel_code(&self, index: usize) -> u32 {
        self.log.channel[self.touches[index]]
    }

    /// Number of touches.
    #[must_use]
    pub fn len(&self) -> usize {
        self.touches.len()
    }

    /// True for a conversion without touches.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.touches.is_empty()
    }

    /// The channel name of touch `index` (0 = first).
    #[must_use]
    pub fn channel(&self, index: usize) -> &'a str {
        self.log.channels.get(self.log.channel[self.touches[index]])
    }

    /// How long before the conversion touch `index` happened, in microseconds.
    #[must_use]
    pub fn age(&self, index: usize) -> i64 {
        self.converted_at - self.log.time[self.touches[index]]
    }
}

/// One way of dividing a conversion's credit among its touches.
pub trait AttributionModel: Send + Sync {
    /// The model's name in reports and on the command line.
    fn name(&self) -> &'static str;

    /// The formula, with the model's parameters, in one line.
    fn formula(&self) -> String;

    /// Writes each touch's weight into `weights` (one slot per touch of a
    /// non-empty `path`). Weights are ≥ 0, not all 0, and need not sum to 1:
    /// [`apportion`] normalises them.
    fn weights(&self, path: &Path<'_>, weights: &mut [f64]);

    /// [`AttributionModel::weights`], for models that keep part of a
    /// conversion for what would have happened without marketing: returns
    /// that part's weight, on the scale of the touches' (0 by default).
    fn weights_with_baseline(&self, path: &Path<'_>, weights: &mut [f64]) -> f64 {
        self.weights(path, weights);
        0.0
    }

    /// True for models that read every touch of the journey as logged,
    /// whatever the path transform (`incremental`, fitted on real timing),
    /// preceded by the user's earlier touches still within its memory
    /// (those from before the previous purchase, and those older than the
    /// lookback: [`crate::journey::earlier_touches`]);
    /// they also credit conversions without touches to the baseline.
    fn reads_logged_path(&self) -> bool {
        false
    }

    /// For models whose channel totals are set globally (`markov`): each
    /// channel code's weight; channel totals are then rescaled to these
    /// proportions, and per-touch credit only splits a channel's total among
    /// its campaigns and stages.
    fn channel_targets(&self) -> Option<&BTreeMap<u32, f64>> {
        None
    }

    /// What fitting found that `summary.json` reports (data-driven models).
    fn diagnostics(&self) -> Option<Diagnostics> {
        None
    }

    /// The model as `incremental`, whose bootstrap replicates are refitted
    /// and recredited to first order from sums of its own
    /// ([`crate::bootstrap::linear`]).
    fn as_incremental(&self) -> Option<&Incremental> {
        None
    }
}

/// What fitting a data-driven model found, for `summary.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum Diagnostics {
    /// How `markov`'s chain was solved.
    Markov(chain::SolveReport),
    /// How much of the Shapley game was observed.
    Shapley(shapley::Coverage),
    /// How `incremental`'s fit ended.
    Incremental(incremental::Fit),
}

/// Every rule-based model, with its parameters from `config`, in report order.
#[must_use]
pub fn registry(config: &Config) -> Vec<Box<dyn AttributionModel>> {
    vec![
        Box::new(LastClick),
        Box::new(FirstClick),
        Box::new(LastNonDirect::new(&config.direct_channels)),
        Box::new(Linear),
        Box::new(TimeDecay::new(config.half_life)),
        Box::new(PositionBased::new(config.position_weights)),
    ]
}

/// The data-driven models, fitted on the journeys, after the rule-based ones.
pub const DATA_DRIVEN: [&str; 3] = ["markov", "shapley", Incremental::NAME];

/// The names of every model, in report order.
#[must_use]
pub fn names() -> Vec<&'static str> {
    let rule_based = registry(&Config::default());
    rule_based.iter().map(|model| model.name()).chain(DATA_DRIVEN).collect()
}

/// What `touchpath models` shows of a model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelDescription {
    /// The model's name.
    pub name: &'static str,
    /// `rule-based` or `data-driven`.
    pub kind: &'static str,
    /// The formula with the parameters of `config`.
    pub formula: String,
    /// The settings that change it, as `name = value`.
    pub parameters: Vec<String>,
    /// Whether `config.models` selects it.
    pub selected: bool,
}

/// Every model, in report order, described with the parameters of `config`.
#[must_use]
pub fn describe(config: &Config) -> Vec<ModelDescription> {
    let parameters = |name: &str| -> Vec<String> {
        let weights = config.position_weights.map(|weight| weight.to_string()).join(", ");
        match name {
            "last_non_direct" => vec![format!("direct_channels = [{}]", config.direct_channels.join(", "))],
            "time_decay" => vec![format!("half_life = {}", config.half_life)],
            "position_based" => vec![format!("position_weights = [{weights}]")],
            "markov" => vec![format!("markov_order = {}", config.markov_order)],
            "incremental" => vec![
                format!("incremental_memory = {}", config.rate_memory()),
                format!("incremental_sample = {}", config.incremental_sample),
            ],
            _ => Vec::new(),
        }
    };
    let mut described: Vec<ModelDescription> = registry(config)
        .iter()
        .map(|model| ModelDescription {
            name: model.name(),
            kind: "rule-based",
            formula: model.formula(),
            parameters: parameters(model.name()),
            selected: is_selected(config, model.name()),
        })
        .collect();
    for (name, formula) in [
        ("markov", Markov::formula_of_order(config.markov_order)),
        ("shapley", Shapley::FORMULA.into()),
        (Incremental::NAME, Incremental::FORMULA.into()),
    ] {
        described.push(ModelDescription {
            name,
            kind: "data-driven",
            formula,
            parameters: parameters(name),
            selected: is_selected(config, name),
        });
    }
    let transform = format!("path_transform = {}", config.path_transform);
    for model in &mut described {
        model.parameters.push(transform.clone());
    }
    described
}

/// True when `config.models` selects `name` (an empty list selects all).
#[must_use]
pub fn is_selected(config: &Config, name: &str) -> bool {
    config.selects(name)
}

/// Checks that every model `config.models` names exists.
///
/// # Errors
///
/// [`crate::Error::Config`] naming an unknown model and listing the known ones.
pub fn check_selection(config: &Config) -> crate::Result<()> {
    let known = names();
    if let Some(unknown) = config.models.iter().find(|name| !known.contains(&name.as_str())) {
        return Err(crate::Error::Config {
            setting: "model".to_owned(),
            value: unknown.clone(),
            reason: format!("expected one of {}", known.join(", ")),
        });
    }
    Ok(())
}

/// The rule-based models `config.models` selects, in report order.
///
/// # Errors
///
/// As [`check_selection`].
pub fn selected(config: &Config) -> crate::Result<Vec<Box<dyn AttributionModel>>> {
    check_selection(config)?;
    Ok(registry(config).into_iter().filter(|model| is_selected(config, model.name())).collect())
}

/// Where `incremental` comes from.
#[derive(Clone, Copy)]
pub enum Hazard<'a> {
    /// Fitted here, on the purchase-rate sums over every journey.
    Counts(&'a incremental::Counts),
    /// Fitted already, by a driver from sums held elsewhere (see
    /// [`crate::partitions`]).
    Fitted(&'a Incremental),
}

/// Every selected model, the data-driven ones fitted on counts over every
/// journey: `first_order` is the run's first-order chain, which `markov`
/// uses in order 1, `higher_order` the chain of `markov_order` above 1,
/// `coalitions` the Shapley game's counts and `hazard` what `incremental`
/// is fitted on.
///
/// # Errors
///
/// As [`check_selection`], and a Markov chain whose solve did not converge.
pub fn build(
    config: &Config,
    first_order: &chain::Chain,
    higher_order: Option<&chain::Chain>,
    coalitions: &shapley::Coalitions,
    hazard: Hazard<'_>,
) -> crate::Result<Vec<Box<dyn AttributionModel>>> {
    let mut models = selected(config)?;
    // Each fit is logged with its duration: in a nightly job's log, the
    // cost of a data-driven model apart from crediting.
    let timed = |model: &'static str, fit: &mut dyn FnMut() -> crate::Result<Box<dyn AttributionModel>>| {
        let started = std::time::Instant::now();
        let fitted = fit()?;
        tracing::info!(event = "fit", model, seconds = started.elapsed().as_secs_f64());
        Ok::<_, crate::Error>(fitted)
    };
    if is_selected(config, "markov") {
        let chain = if config.markov_order == 1 { first_order } else { higher_order.unwrap_or(first_order) };
        models.push(timed("markov", &mut || Ok(Box::new(Markov::new(chain)?)))?);
    }
    if is_selected(config, "shapley") {
        models.push(timed("shapley", &mut || Ok(Box::new(Shapley::from_coalitions(coalitions))))?);
    }
    if is_selected(config, Incremental::NAME) {
        let memory = config.rate_memory().memory();
        models.push(match hazard {
            Hazard::Counts(counts) => timed(Incremental::NAME, &mut || Ok(Box::new(Incremental::fit(counts, memory))))?,
            // Fitted and logged by whoever fitted it.
            Hazard::Fitted(fitted) => Box::new(fitted.clone()),
        });
    }
    Ok(models)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-built paths for the models' tests.

    use super::{AttributionModel, CONVERSION_UNITS, Path, apportion};
    use crate::event_log::{EventLog, EventLogBuilder};
    use crate::time::MICROS_PER_DAY;

    /// A log with one user whose touches are `channels`, `days_before[i]`
    /// days before a conversion at day 100.
    pub(crate) fn path_log(channels: &[&str], days_before: &[i64]) -> (EventLog, std::ops::Range<usize>, i64) {
        let converted_at = 100 * MICROS_PER_DAY;
        let mut builder = EventLogBuilder::new();
        for (channel, days) in channels.iter().zip(days_before) {
            builder = builder.touch("u", converted_at - days * MICROS_PER_DAY, channel);
        }
        let log = builder.build();
        let touches = 0..channels.len();
        (log, touches, converted_at)
    }

    /// The credit (in conversions) each touch of `channels` gets, touches one
    /// day apart, the last one day before the conversion.
    pub(crate) fn credit(model: &dyn AttributionModel, channels: &[&str]) -> Vec<f64> {
        let days: Vec<i64> = (1..=i64::try_from(channels.len()).unwrap_or(i64::MAX)).rev().collect();
        credit_with_days(model, channels, &days)
    }

    pub(crate) fn credit_with_days(model: &dyn AttributionModel, channels: &[&str], days_before: &[i64]) -> Vec<f64> {
        let (log, touches, converted_at) = path_log(channels, days_before);
        let touches: Vec<usize> = touches.collect();
        let counts = vec![1; touches.len()];
        let path = Path::new(&log, &touches, &counts, converted_at);
        let mut weights = vec![0.0; path.len()];
        model.weights(&path, &mut weights);
        let mut units = vec![0; path.len()];
        apportion(CONVERSION_UNITS, &weights, &mut units);
        assert_eq!(units.iter().sum::<i64>(), CONVERSION_UNITS);
        #[expect(clippy::cast_precision_loss, reason = "test display")]
        units.iter().map(|&unit| unit as f64 / CONVERSION_UNITS as f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_models_share_a_name() {
        let mut all = names();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        assert_eq!(count, 9);
    }

    #[test]
    fn selection_keeps_report_order_and_rejects_unknown_names() {
        let config = Config { models: vec!["linear".into(), "last_click".into()], ..Config::default() };
        let chosen: Vec<_> = selected(&config).unwrap().iter().map(|model| model.name()).collect();
        assert_eq!(chosen, ["last_click", "linear"]);
        assert!(!is_selected(&config, "markov"));
        let config = Config { models: vec!["u_shaped".into()], ..Config::default() };
        let error = selected(&config).err().unwrap().to_string();
        assert!(error.contains("invalid model `u_shaped`: expected one of last_click, first_click"), "{error}");
    }
}
