//! The models fitted on the counts of every bucket or partition, as bytes
//! that travel to the second pass: the fit a merged state holds
//! ([`super::FIT_FILE`]) and the one a Spark driver broadcasts.

use serde::{Deserialize, Serialize};

use super::{Converting, State, converting_in};
use crate::aggregate::{Aggregates, ChainCounts};
use crate::config::Config;
use crate::event_log::Dictionary;
use crate::format::encode;
use crate::models::incremental::{self, Feature, Incremental};
use crate::models::{self, Hazard};
use crate::report::Analysis;
use crate::{Error, Result};

/// What every partition needs to know of the run: its configuration and
/// its start (timestamps after it count as being in the future).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The run's configuration.
    pub config: Config,
    /// The run's start, microseconds since the epoch.
    pub now: i64,
}

impl Job {
    /// Whether pass 0 of a distributed run ([`crate::partitions::latest`]) is needed: only `incremental` counts time
    /// up to the end of the log.
    #[must_use]
    pub fn needs_end(&self) -> bool {
        models::is_selected(&self.config, Incremental::NAME)
    }

    /// The job as bytes, to send to the partitions.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when it cannot be encoded.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|error| Error::Internal(format!("cannot encode the job: {error}")))
    }

    /// The job [`Job::encode`] wrote.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] for bytes that are not a job of this version.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|error| Error::Internal(format!("not a touchpath job: {error}")))
    }
}

/// The fit the partitions credit with: the counts the models are fitted on
/// and the run's dictionaries of channels and campaigns. Small: it grows
/// with channels, chain states, coalitions and purchase patterns, not with
/// the log.
#[derive(Serialize, Deserialize)]
struct Fit {
    /// [`Job::encode`]'s bytes (a configuration is JSON, not postcard).
    job: Vec<u8>,
    channels: Vec<String>,
    campaigns: Vec<String>,
    first_order: ChainCounts,
    higher_order: ChainCounts,
    coalitions: crate::models::shapley::Coalitions,
    /// `incremental`'s fitted terms and its fit's report, when it runs.
    incremental: Option<(Vec<(Feature, f64)>, incremental::Fit)>,
}

/// The models of a run, fitted from the bytes [`fit_state`] or
/// [`crate::partitions::Driver::fit`] give, ready to credit partitions or
/// buckets. Fitting is deterministic, so every partition that
/// refits from the same bytes credits alike.
pub struct Fitted {
    job: Job,
    channels: Dictionary,
    campaigns: Dictionary,
    analysis: Analysis,
}

impl Fitted {
    /// Fits the models the bytes describe.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] for bytes that are not a fit of this version; a
    /// model that cannot be fitted.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let fit: Fit = postcard::from_bytes(bytes)
            .map_err(|error| Error::Internal(format!("not a touchpath fit of this version: {error}")))?;
        let dictionary = |names: Vec<String>| Dictionary::from_sorted(names.into_iter().map(Box::from).collect());
        let aggregates = Aggregates {
            first_order: fit.first_order,
            higher_order: fit.higher_order,
            coalitions: fit.coalitions,
            ..Aggregates::default()
        };
        let job = Job::decode(&fit.job)?;
        let memory = job.config.rate_memory().memory();
        let fitted =
            fit.incremental.map(|(terms, report)| Incremental::new(terms.into_iter().collect(), memory, report));
        let hazard = fitted.as_ref().map_or(Hazard::Counts(&aggregates.hazard), Hazard::Fitted);
        let analysis = Analysis::fit_with(&aggregates, &job.config, hazard)?;
        Ok(Self { channels: dictionary(fit.channels), campaigns: dictionary(fit.campaigns), job, analysis })
    }

    /// The fitted models.
    #[must_use]
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The fitted models, taken.
    #[must_use]
    pub fn into_analysis(self) -> Analysis {
        self.analysis
    }

    /// The configuration they were fitted with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.job.config
    }

    /// The converting journeys to credit of the users of `log` (some
    /// users' whole log, read as in the first pass), with the run's codes.
    #[must_use]
    pub fn converting_of(&self, log: crate::EventLog) -> Converting {
        converting_in(log, &self.job.config, &self.channels, &self.campaigns)
    }

    /// The job they were fitted for.
    #[must_use]
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The run's channels.
    #[must_use]
    pub fn channels(&self) -> &Dictionary {
        &self.channels
    }
}

/// The models fitted on a state that covers every user, in the process (a
/// run on one machine: `incremental`'s purchase patterns are in the state),
/// as [`Fitted::decode`] reads them: the fit of `touchpath merge
/// --emit-state`, which `touchpath run --bucket K/N --fit` credits with.
/// `now` is the start the second pass reads rows with.
///
/// # Errors
///
/// A model that cannot be fitted.
pub fn fit_state(state: &State, config: &Config, now: i64) -> Result<Vec<u8>> {
    let incremental = models::is_selected(config, Incremental::NAME)
        .then(|| Incremental::fit(&state.aggregates.hazard, config.rate_memory().memory()));
    let job = Job { config: config.clone(), now };
    Ok(fit_record(&job, state, incremental)?.1)
}

/// Fits every model on `state`'s counts, `incremental` as given; returns
/// the models and the fit's bytes (see [`Fitted::decode`]).
pub(crate) fn fit_record(job: &Job, state: &State, incremental: Option<Incremental>) -> Result<(Analysis, Vec<u8>)> {
    let aggregates = &state.aggregates;
    let hazard = incremental.as_ref().map_or(Hazard::Counts(&aggregates.hazard), Hazard::Fitted);
    let analysis = Analysis::fit_with(aggregates, &job.config, hazard)?;
    let fit = Fit {
        job: job.encode()?,
        channels: names(&state.log.channels),
        campaigns: names(&state.log.campaigns),
        first_order: aggregates.first_order.clone(),
        higher_order: aggregates.higher_order.clone(),
        coalitions: aggregates.coalitions.clone(),
        incremental: incremental
            .map(|model| (model.terms().iter().map(|(feature, value)| (*feature, *value)).collect(), model.report())),
    };
    Ok((analysis, encode(&fit, "the fit")?))
}

/// The names of a dictionary, in code order.
pub(crate) fn names(dictionary: &Dictionary) -> Vec<String> {
    dictionary.iter().map(str::to_owned).collect()
}
