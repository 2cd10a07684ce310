//! Scenarios: the hidden causal parameters of a simulated world, read from a
//! documented TOML file.
//!
//! A scenario says how much each channel really moves people to buy (its
//! lift and how long the effect lasts), how a click or visit turns intent
//! into a purchase (closing), whether channels matter mostly together
//! (variety), which channels only *harvest* purchases that were happening
//! anyway, and how users drift away. The simulation itself is in
//! [`super::world`]; `docs/generator.md` describes every field and
//! `src/generate/scenarios/` holds the shipped scenarios.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::catalog::{CHANNEL_COUNT, CHANNELS};
use crate::{Error, Result};

/// The shipped scenarios, by name, in the order `evaluate` runs them.
pub const SHIPPED: [(&str, &str); 5] = [
    ("default", include_str!("scenarios/default.toml")),
    ("last_touch", include_str!("scenarios/last_touch.toml")),
    ("upper_funnel", include_str!("scenarios/upper_funnel.toml")),
    ("synergy", include_str!("scenarios/synergy.toml")),
    ("harvesting", include_str!("scenarios/harvesting.toml")),
];

/// The hidden parameters of one simulated world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, used in file and report names.
    pub name: String,
    /// What the world is meant to show.
    #[serde(default)]
    pub description: String,
    /// How intent becomes purchases.
    #[serde(default)]
    pub purchase: Purchase,
    /// How users come and go.
    #[serde(default)]
    pub behaviour: Behaviour,
    /// What each event kind adds and how it closes.
    #[serde(default)]
    pub kinds: Kinds,
    /// Per channel, what differs from [`ChannelEffect::default_for`].
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelEffect>,
}

/// How intent becomes purchases: the purchase rate at time `t` is
/// `base + closing(t) × variety(t) × Σ intent of the touches since the last
/// purchase` (see `docs/generator.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Purchase {
    /// Purchases per day that a prospect makes without any marketing.
    pub base_rate: f64,
    /// The same for a customer (after a first purchase).
    pub customer_base_rate: f64,
    /// How long, in minutes, a click or visit keeps the shop open: during
    /// that time intent turns into purchases `1 + closing` times faster.
    pub session_minutes: f64,
    /// Synergy: intent is multiplied by `1 + variety × (d − 1)` where `d` is
    /// the number of distinct channels touched since the last purchase.
    pub variety: f64,
    /// Multiplier of intent when only one channel has been touched (1 in
    /// most worlds; below 1, a lone channel achieves little).
    pub alone: f64,
}

impl Default for Purchase {
    fn default() -> Self {
        Self { base_rate: 0.0004, customer_base_rate: 0.0015, session_minutes: 45.0, variety: 0.0, alone: 1.0 }
    }
}

/// How users come and go: who keeps meeting the brand, and who leaves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Chance that a prospect drifts away after a touch.
    pub prospect_churn: f64,
    /// Chance that a customer drifts away after a touch.
    pub customer_churn: f64,
    /// Chance that a buyer stays in touch after a purchase.
    pub stay_after_purchase: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self { prospect_churn: 0.15, customer_churn: 0.25, stay_after_purchase: 0.6 }
    }
}

/// One number per touch kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerKind {
    /// For impressions.
    pub impression: f64,
    /// For clicks.
    pub click: f64,
    /// For visits.
    pub visit: f64,
}

impl PerKind {
    /// The value of kind index `kind` (0 impression, 1 click, 2 visit).
    #[must_use]
    pub fn get(&self, kind: usize) -> f64 {
        match kind {
            0 => self.impression,
            1 => self.click,
            _ => self.visit,
        }
    }

    fn all(&self) -> [f64; 3] {
        [self.impression, self.click, self.visit]
    }
}

/// What each event kind adds to intent and how it closes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kinds {
    /// Multiplier of a channel's lift by the kind of the touch.
    pub lift: PerKind,
    /// How much faster intent turns into purchases while a touch of this
    /// kind keeps the shop open (0: the touch opens no session).
    pub closing: PerKind,
}

impl Default for Kinds {
    fn default() -> Self {
        Self {
            lift: PerKind { impression: 0.6, click: 1.0, visit: 1.0 },
            closing: PerKind { impression: 0.0, click: 300.0, visit: 300.0 },
        }
    }
}

/// The true effect of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelEffect {
    /// Intent one click adds, in purchases per day (an impression adds
    /// `kinds.lift.impression` times as much).
    #[serde(default)]
    pub lift: Option<f64>,
    /// Days after which a touch's intent has halved.
    #[serde(default)]
    pub half_life_days: Option<f64>,
    /// Multiplier of the channel's weight in the touch schedule (its share
    /// of first touches and of moves towards it); 0 keeps it out of the
    /// schedule, so that it only appears by harvesting.
    #[serde(default)]
    pub schedule: Option<f64>,
    /// Harvesting: extra touches of this channel arrive at `harvest ×` the
    /// purchase rate marketing causes at the time, so that they cluster
    /// right before purchases. These touches are caused by intent, never
    /// the cause: they add no intent and open no session (the channel's
    /// scheduled touches keep their lift).
    #[serde(default)]
    pub harvest: Option<f64>,
    /// Whether the channel's clicks and visits open a session (default
    /// true).
    #[serde(default)]
    pub closes: Option<bool>,
}

/// The resolved effect of one channel, every default applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Effect {
    /// Intent per click, purchases per day.
    pub lift: f64,
    /// Decay rate of intent, per second.
    pub decay_per_second: f64,
    /// Weight multiplier in the schedule.
    pub schedule: f64,
    /// Harvest touches per unit of caused purchase rate.
    pub harvest: f64,
    /// Whether its clicks and visits open a session.
    pub closes: bool,
}

/// A scenario with every default applied, ready to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct World {
    /// The scenario it came from.
    pub scenario: Scenario,
    /// Per catalog channel.
    pub effects: [Effect; CHANNEL_COUNT],
    /// Intent multiplier per kind.
    pub kind_lift: [f64; 3],
    /// Closing multiplier per kind.
    pub kind_closing: [f64; 3],
}

/// Days after which a touch's intent halves, unless a scenario says otherwise.
const DEFAULT_HALF_LIFE_DAYS: f64 = 7.0;

/// The lift of each catalog channel in the default world, purchases per day
/// per click: the ranking of `docs/generator.md`.
fn default_lift(channel: &str) -> f64 {
    CHANNELS.iter().find(|profile| profile.name == channel).map_or(0.0, |profile| profile.lift)
}

impl Scenario {
    /// A shipped scenario by name.
    #[must_use]
    pub fn shipped(name: &str) -> Option<Self> {
        SHIPPED.iter().find(|(shipped, _)| *shipped == name).and_then(|(_, text)| toml::from_str(text).ok())
    }

    /// Every shipped scenario, in order.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if a shipped file does not parse (a test checks
    /// they all do).
    pub fn all_shipped() -> Result<Vec<Self>> {
        SHIPPED
            .iter()
            .map(|(name, text)| {
                toml::from_str(text).map_err(|error| Error::Internal(format!("shipped scenario {name}: {error}")))
            })
            .collect()
    }

    /// A shipped scenario's name, or the path of a scenario file.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] for a file that cannot be read or parsed, and
    /// [`Error::Config`] for an unknown name.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some(scenario) = Self::shipped(name_or_path) {
            return Ok(scenario);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<&str> = SHIPPED.iter().map(|(name, _)| *name).collect();
            return Err(Error::Config {
                setting: "scenario".to_owned(),
                value: name_or_path.to_owned(),
                reason: format!("no such file, and not a shipped scenario ({})", names.join(", ")),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
        let scenario: Self = toml::from_str(&text)
            .map_err(|error| Error::Input { path: path.to_owned(), reason: error.to_string().trim_end().to_owned() })?;
        scenario.world().map_err(|reason| Error::Input { path: path.to_owned(), reason })?;
        Ok(scenario)
    }

    /// Resolves every default and checks the values.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the field.
    pub fn world(&self) -> std::result::Result<World, String> {
        self.check_globals()?;
        if let Some(unknown) = self.channels.keys().find(|name| !CHANNELS.iter().any(|profile| profile.name == *name)) {
            let known: Vec<&str> = CHANNELS.iter().map(|profile| profile.name).collect();
            return Err(format!("unknown channel `{unknown}` in [channels]: expected one of {}", known.join(", ")));
        }
        let mut effects =
            [Effect { lift: 0.0, decay_per_second: 0.0, schedule: 1.0, harvest: 0.0, closes: true }; CHANNEL_COUNT];
        for (effect, profile) in effects.iter_mut().zip(&CHANNELS) {
            let given = self.channels.get(profile.name);
            let field = |pick: fn(&ChannelEffect) -> Option<f64>| given.and_then(pick);
            let lift = field(|effect| effect.lift).unwrap_or_else(|| default_lift(profile.name));
            let half_life = field(|effect| effect.half_life_days).unwrap_or(DEFAULT_HALF_LIFE_DAYS);
            let schedule = field(|effect| effect.schedule).unwrap_or(1.0);
            let harvest = field(|effect| effect.harvest).unwrap_or(0.0);
            let closes = given.and_then(|effect| effect.closes).unwrap_or(true);
            let name = profile.name;
            check(lift >= 0.0 && lift.is_finite(), || format!("channels.{name}.lift must be ≥ 0"))?;
            check(half_life > 0.0 && half_life.is_finite(), || format!("channels.{name}.half_life_days must be > 0"))?;
            check(schedule >= 0.0 && schedule.is_finite(), || format!("channels.{name}.schedule must be ≥ 0"))?;
            check(harvest >= 0.0 && harvest.is_finite(), || format!("channels.{name}.harvest must be ≥ 0"))?;
            *effect = Effect {
                lift,
                decay_per_second: std::f64::consts::LN_2 / (half_life * 86_400.0),
                schedule,
                harvest,
                closes,
            };
        }
        check(effects.iter().any(|effect| effect.schedule > 0.0), || {
            "at least one channel needs a schedule weight above 0".to_owned()
        })?;
        Ok(World {
            scenario: self.clone(),
            effects,
            kind_lift: self.kinds.lift.all(),
            kind_closing: self.kinds.closing.all(),
        })
    }

    fn check_globals(&self) -> std::result::Result<(), String> {
        let purchase = &self.purchase;
        let behaviour = &self.behaviour;
        let non_negative = |value: f64| value >= 0.0 && value.is_finite();
        let probability = |value: f64| (0.0..=1.0).contains(&value);
        check(!self.name.trim().is_empty(), || "name must not be empty".to_owned())?;
        check(non_negative(purchase.base_rate), || "purchase.base_rate must be ≥ 0".to_owned())?;
        check(non_negative(purchase.customer_base_rate), || "purchase.customer_base_rate must be ≥ 0".to_owned())?;
        check(non_negative(purchase.session_minutes), || "purchase.session_minutes must be ≥ 0".to_owned())?;
        check(non_negative(purchase.variety), || "purchase.variety must be ≥ 0".to_owned())?;
        check(non_negative(purchase.alone), || "purchase.alone must be ≥ 0".to_owned())?;
        check(probability(behaviour.prospect_churn) && behaviour.prospect_churn > 0.0, || {
            "behaviour.prospect_churn must be in (0, 1]".to_owned()
        })?;
        check(probability(behaviour.customer_churn) && behaviour.customer_churn > 0.0, || {
            "behaviour.customer_churn must be in (0, 1]".to_owned()
        })?;
        check(probability(behaviour.stay_after_purchase), || {
            "behaviour.stay_after_purchase must be in [0, 1]".to_owned()
        })?;
        for (what, values) in [("kinds.lift", self.kinds.lift.all()), ("kinds.closing", self.kinds.closing.all())] {
            check(values.iter().all(|&value| non_negative(value)), || format!("{what} values must be ≥ 0"))?;
        }
        Ok(())
    }
}

fn check(ok: bool, message: impl FnOnce() -> String) -> std::result::Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_parses_resolves_and_is_named_after_its_file() {
        for (name, text) in SHIPPED {
            let scenario: Scenario = toml::from_str(text).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(scenario.name, name);
            assert!(!scenario.description.is_empty(), "{name} has no description");
            scenario.world().unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }

    #[test]
    fn defaults_are_the_catalog_lifts_and_a_week_of_half_life() {
        let scenario: Scenario = toml::from_str("name = \"bare\"").unwrap();
        let world = scenario.world().unwrap();
        for (effect, profile) in world.effects.iter().zip(&CHANNELS) {
            assert!((effect.lift - profile.lift).abs() < 1e-12);
            let half_life = std::f64::consts::LN_2 / effect.decay_per_second / 86_400.0;
            assert!((half_life - 7.0).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("name = \"x\"\n[channels.tv]\nlift = 1.0", "unknown channel `tv`"),
            ("name = \"x\"\n[channels.direct]\nlift = -1.0", "channels.direct.lift must be ≥ 0"),
            ("name = \"x\"\n[channels.direct]\nharvest = -1.0", "channels.direct.harvest must be ≥ 0"),
            ("name = \"x\"\n[behaviour]\nprospect_churn = 0.0", "prospect_churn must be in (0, 1]"),
            ("name = \" \"", "name must not be empty"),
        ];
        for (text, expected) in cases {
            let scenario: Scenario = toml::from_str(text).unwrap();
            let error = scenario.world().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(toml::from_str::<Scenario>("name = \"x\"\nunknown = 1").is_err());
    }

    #[test]
    fn unknown_names_list_the_shipped_scenarios() {
        let error = Scenario::load("no-such-scenario").unwrap_err().to_string();
        assert!(error.contains("default, last_touch, upper_funnel, synergy, harvesting"), "{error}");
    }
}
