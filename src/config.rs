//! The library's settings: plain data with documented defaults.
//!
//! The binary resolves command-line flags and the config file into one
//! [`Config`]; the library never sees flags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{Stage, TouchClass, normalize_channel};
use crate::event_log::EventLog;
use crate::journey::{Journey, PathTransform};
pub use crate::time::Date;
use crate::time::{Duration, Lookback, TimeZone};

/// The canonical names of the touchpoint log's columns.
pub const EVENT_COLUMNS: [&str; 7] = ["user_id", "timestamp", "channel", "campaign", "stage", "event_type", "revenue"];

/// The canonical names of the spend table's columns.
pub const SPEND_COLUMNS: [&str; 7] = ["date", "channel", "campaign", "stage", "spend", "impressions", "clicks"];

/// One of a run's two input tables, each with its own column mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputTable {
    /// The touchpoint log: mapped by `--column` and `[columns]`.
    Log,
    /// The ad-spend table: mapped by `--spend-column` and `[spend_columns]`.
    Spend,
}

impl InputTable {
    /// The table's canonical column names.
    #[must_use]
    pub fn canonical_columns(self) -> &'static [&'static str] {
        match self {
            Self::Log => &EVENT_COLUMNS,
            Self::Spend => &SPEND_COLUMNS,
        }
    }

    /// The command-line flag that maps the table's columns.
    #[must_use]
    pub fn flag(self) -> &'static str {
        match self {
            Self::Log => "--column",
            Self::Spend => "--spend-column",
        }
    }

    /// The config file's table of the table's column mappings.
    #[must_use]
    pub fn config_key(self) -> &'static str {
        match self {
            Self::Log => "columns",
            Self::Spend => "spend_columns",
        }
    }

    /// What the table is called in messages.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::Log => "the touchpoint log",
            Self::Spend => "the spend table",
        }
    }

    /// Checks that `canonical` names a column of this table; the error says
    /// which columns it has, and where a column of the other table is mapped.
    ///
    /// # Errors
    ///
    /// The message when `canonical` is not one of the table's columns.
    pub fn check_column(self, canonical: &str) -> Result<(), String> {
        if self.canonical_columns().contains(&canonical) {
            return Ok(());
        }
        let other = match self {
            Self::Log => Self::Spend,
            Self::Spend => Self::Log,
        };
        if other.canonical_columns().contains(&canonical) {
            return Err(format!(
                "`{canonical}` is a column of {} only: map it with `{} {canonical}=NAME` or in the config file's [{}] table",
                other.description(),
                other.flag(),
                other.config_key()
            ));
        }
        let mut known = self.canonical_columns().to_vec();
        known.sort_unstable();
        Err(format!("unknown column `{canonical}` of {}; expected one of {}", self.description(), known.join(", ")))
    }
}

/// The default of [`Config::incremental_memory`], in days.
pub const DEFAULT_INCREMENTAL_MEMORY_DAYS: i64 = 60;

/// The default of [`Config::max_events_per_user`].
pub const DEFAULT_MAX_EVENTS_PER_USER: u64 = 100_000;

/// The default of [`Config::interval`].
pub const DEFAULT_INTERVAL: f64 = 0.9;

/// The default of [`Config::max_rejects_listed`].
pub const DEFAULT_MAX_REJECTS_LISTED: u64 = 100_000;

/// How much of the job to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Everything: accounting, attribution and every report.
    #[default]
    Attribute,
    /// Ingest and accounting only: `summary.json` and the reject files.
    Validate,
    /// Accounting and the conversion paths (`paths.csv`, `stage_paths.csv`),
    /// without attribution.
    Paths,
}

/// Everything a run needs to know besides its inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Canonical column name → the name used in the touchpoint log's files,
    /// for the columns whose names differ.
    pub columns: BTreeMap<String, String>,
    /// Canonical column name → the name used in the spend table's files, for
    /// the columns whose names differ.
    pub spend_columns: BTreeMap<String, String>,
    /// Channel → funnel stage, used when the log has no stage column, when a
    /// row's stage is blank, and for spend rows without a stage.
    pub channel_stages: BTreeMap<String, Stage>,
    /// Channel → touch class (paid, owned or earned), for the reports' view
    /// by class; channels not listed are `unknown`.
    pub channel_classes: BTreeMap<String, TouchClass>,
    /// How far back from a conversion touches still count (default 30 days).
    pub lookback: Lookback,
    /// How long a touch can change `incremental`'s purchase rate, and so be
    /// credited by it (default 60 days; the lookback when that is longer).
    /// Effects that outlast the lookback would otherwise be read as the
    /// baseline, or given to whatever opened a session on them.
    pub incremental_memory: Lookback,
    /// The share of users whose phases `incremental`'s fit counts (default
    /// 1, every user): each user is in or out by a draw from the hash of
    /// their id, the same in every run, bucket and engine. The fitted rate
    /// then credits every conversion.
    pub incremental_sample: f64,
    /// The zone naive timestamps are read in (default UTC).
    pub timezone: TimeZone,
    /// The largest share of rejected rows a run may publish results on
    /// (default 0.05).
    pub max_reject_rate: f64,
    /// Channels the `last_non_direct` model skips (default `["direct"]`).
    pub direct_channels: Vec<String>,
    /// The `time_decay` model's half-life (default 7 days).
    pub half_life: Duration,
    /// The `position_based` model's first, middle and last weights (default
    /// `[0.4, 0.2, 0.4]`), normalised.
    pub position_weights: [f64; 3],
    /// How paths are rewritten before attribution (default `none`).
    pub path_transform: PathTransform,
    /// The order of the `markov` model's chain, 1 to 4 (default 1).
    pub markov_order: u8,
    /// The models to run, by name; empty runs them all.
    pub models: Vec<String>,
    /// Bootstrap replicates behind the reports' intervals (default 0: no
    /// intervals); see [`crate::bootstrap`].
    pub bootstrap: u32,
    /// The coverage of the reports' intervals, strictly between 0 and 1
    /// (default 0.9: from the 5th to the 95th percentile of the
    /// replicates).
    pub interval: f64,
    /// The analysis period: conversions on or after this date (in
    /// `timezone`), and spend from this date.
    pub from: Option<Date>,
    /// The analysis period's last day, included.
    pub to: Option<Date>,
    /// The field separator of CSV inputs (default `,`): one ASCII character
    /// other than a quote or a line break, such as `;`, `|` or a tab.
    pub delimiter: char,
    /// Users with more accepted events than this are set aside (default
    /// 100 000): such a "user" is almost always a bot, a crawler or a shared
    /// placeholder id, and would otherwise dominate memory and credit. 0
    /// turns the check off.
    pub max_events_per_user: u64,
    /// How many rejected rows of the touchpoint log `rejects.csv` lists
    /// (default 100 000): the first, in file and row order. Every rejected
    /// row is counted by reason in the summary whatever the limit, and those
    /// not listed are counted as the warning `rejects_not_listed`. A bound on
    /// what a run holds and what a distributed run sends its driver, however
    /// dirty the log; 0 lists none.
    pub max_rejects_listed: u64,
    /// Memory to stay within (`--memory-budget`): a log that looks larger is
    /// read in buckets of users, with the same results. How a run executes,
    /// not what it computes, so it is not written to summaries or states.
    #[serde(skip_serializing)]
    pub memory_budget: Option<ByteSize>,
}

/// A size in bytes, written as a number with an optional binary unit: `4GB`,
/// `512M`, `1.5GiB`, `1048576`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    /// K, M, G and T are powers of 1024, with or without a trailing `B` or
    /// `iB`, in any case.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        let expected = || format!("expected a size such as 4GB, 512MB or 1.5GiB; got `{raw}`");
        let split = text.find(|character: char| !character.is_ascii_digit() && character != '.').unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| expected())?;
        let unit = unit.trim().to_ascii_uppercase();
        let shift = match unit.strip_suffix("IB").or_else(|| unit.strip_suffix('B')).unwrap_or(&unit) {
            "" => 0,
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => return Err(expected()),
        };
        #[expect(clippy::cast_precision_loss, reason = "a size, read from a decimal number")]
        let bytes = number * (1_u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes >= 2_f64.powi(63) {
            return Err(expected());
        }
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "in range, checked above")]
        Ok(Self(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            columns: BTreeMap::new(),
            spend_columns: BTreeMap::new(),
            channel_stages: default_channel_stages(),
            channel_classes: default_channel_classes(),
            lookback: Lookback::default(),
            incremental_memory: Lookback::new(Duration::days(DEFAULT_INCREMENTAL_MEMORY_DAYS)),
            incremental_sample: 1.0,
            timezone: TimeZone::default(),
            max_reject_rate: 0.05,
            direct_channels: vec!["direct".to_owned()],
            half_life: Duration::days(7),
            position_weights: [0.4, 0.2, 0.4],
            path_transform: PathTransform::None,
            markov_order: 1,
            models: Vec::new(),
            bootstrap: 0,
            interval: DEFAULT_INTERVAL,
            from: None,
            to: None,
            delimiter: ',',
            max_events_per_user: DEFAULT_MAX_EVENTS_PER_USER,
            max_rejects_listed: DEFAULT_MAX_REJECTS_LISTED,
            memory_budget: None,
        }
    }
}

impl Config {
    /// A commented configuration file holding every setting at its default,
    /// as `touchpath init` writes it.
    pub const TEMPLATE: &'static str = include_str!("config/touchpath.toml");

    /// Reads a TOML configuration file. Keys left out keep their defaults;
    /// unknown keys and wrong types are errors naming the key and its line.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Io`] when the file cannot be read,
    /// [`crate::Error::ConfigFile`] when it is not a valid configuration.
    pub fn load(path: &std::path::Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| crate::Error::io(path, error))?;
        Self::parse(&text).map_err(|message| crate::Error::ConfigFile { path: path.to_owned(), message })
    }

    /// Parses the text of a configuration file; the error is the parser's
    /// message, with the key, line and column.
    ///
    /// # Errors
    ///
    /// The message when `text` is not a valid configuration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config: Self =
            toml::from_str(text).map_err(|error: toml::de::Error| error.to_string().trim_end().to_owned())?;
        config.channel_stages = normalized_keys(std::mem::take(&mut config.channel_stages), "channel_stages")?;
        config.channel_classes = normalized_keys(std::mem::take(&mut config.channel_classes), "channel_classes")?;
        config.direct_channels = config.direct_channels.iter().map(|channel| normalize_channel(channel)).collect();
        Ok(config)
    }

    /// How long a touch can change `incremental`'s purchase rate: the longer
    /// of [`Config::incremental_memory`] and the lookback (no limit when
    /// either has none).
    #[must_use]
    pub fn rate_memory(&self) -> Lookback {
        match (self.lookback.window(), self.incremental_memory.window()) {
            (Some(lookback), Some(memory)) => Lookback::new(lookback.max(memory)),
            _ => Lookback::NONE,
        }
    }

    /// Checks the values no type can rule out.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] naming the setting.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |setting: &str, value: String, reason: &str| crate::Error::Config {
            setting: setting.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        if !(0.0..=1.0).contains(&self.max_reject_rate) {
            return Err(invalid(
                "max_reject_rate",
                self.max_reject_rate.to_string(),
                "expected a share between 0 and 1",
            ));
        }
        if !(self.incremental_sample > 0.0 && self.incremental_sample <= 1.0) {
            return Err(invalid(
                "incremental_sample",
                self.incremental_sample.to_string(),
                "expected a share of users above 0 and at most 1",
            ));
        }
        if self.incremental_sample < 1.0 && self.bootstrap > 0 && self.selects("incremental") {
            return Err(invalid(
                "incremental_sample",
                self.incremental_sample.to_string(),
                "the bootstrap refits `incremental` from every user's sums: set it to 1, or bootstrap to 0",
            ));
        }
        let weights = self.position_weights;
        let sum = weights.iter().sum::<f64>();
        if weights.iter().any(|weight| !weight.is_finite() || *weight < 0.0) || sum <= 0.0 || !sum.is_finite() {
            let value = weights.map(|weight| weight.to_string()).join(",");
            return Err(invalid("position_weights", value, "weights must be ≥ 0, not all 0, with a finite sum"));
        }
        for table in [InputTable::Log, InputTable::Spend] {
            for canonical in self.mappings(table).keys() {
                table
                    .check_column(canonical)
                    .map_err(|reason| invalid(&format!("[{}] key", table.config_key()), canonical.clone(), &reason))?;
            }
        }
        if self.bootstrap > crate::bootstrap::MAX_REPLICATES {
            return Err(invalid(
                "bootstrap",
                self.bootstrap.to_string(),
                &format!("expected at most {} replicates", crate::bootstrap::MAX_REPLICATES),
            ));
        }
        if !(self.interval > 0.0 && self.interval < 1.0) {
            return Err(invalid(
                "interval",
                self.interval.to_string(),
                "expected a coverage between 0 and 1, such as 0.9",
            ));
        }
        if !(1..=4).contains(&self.markov_order) {
            return Err(invalid("markov_order", self.markov_order.to_string(), "expected 1, 2, 3 or 4"));
        }
        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\n' | '\r') {
            return Err(invalid(
                "delimiter",
                self.delimiter.escape_default().to_string(),
                "expected one ASCII character other than a quote or a line break, such as `;` or `\\t`",
            ));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(invalid("period", format!("{from}..{to}"), "`from` is after `to`"));
        }
        Ok(())
    }

    /// The CSV field separator as a byte (`,` if the setting is not ASCII,
    /// which [`Config::validate`] refuses).
    #[must_use]
    pub fn delimiter_byte(&self) -> u8 {
        u8::try_from(self.delimiter).ok().filter(u8::is_ascii).unwrap_or(b',')
    }

    /// The column mappings of one input table.
    #[must_use]
    pub fn mappings(&self, table: InputTable) -> &BTreeMap<String, String> {
        match table {
            InputTable::Log => &self.columns,
            InputTable::Spend => &self.spend_columns,
        }
    }

    /// The name a canonical column has in an input table's files.
    #[must_use]
    pub fn column_name<'a>(&'a self, table: InputTable, canonical: &'a str) -> &'a str {
        self.mappings(table).get(canonical).map_or(canonical, String::as_str)
    }

    /// True when a day (days since the epoch) is inside the analysis period.
    #[must_use]
    pub fn in_period(&self, day: i64) -> bool {
        self.from.is_none_or(|from| day >= from.days()) && self.to.is_none_or(|to| day <= to.days())
    }

    /// True when model `name` runs: every model when none is named.
    #[must_use]
    pub fn selects(&self, name: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|selected| selected == name)
    }

    /// True when an instant's local day is inside the analysis period.
    /// Without a period, true at once, with no local day worked out: the
    /// KPI count asks once per event.
    #[must_use]
    pub fn in_period_at(&self, instant: i64) -> bool {
        (self.from.is_none() && self.to.is_none()) || self.in_period(self.timezone.local_day(instant))
    }

    /// The event index of `journey`'s conversion when the run credits it:
    /// the journey converted, and its conversion falls in the analysis
    /// period.
    #[must_use]
    pub fn credited_conversion(&self, log: &EventLog, journey: &Journey) -> Option<usize> {
        journey.conversion.filter(|&conversion| self.in_period_at(log.time[conversion]))
    }

    /// The touch class the channel map gives a (normalised) channel.
    #[must_use]
    pub fn class_of(&self, channel: &str) -> TouchClass {
        self.channel_classes.get(channel).copied().unwrap_or(TouchClass::Unknown)
    }

    /// The stage the channel map gives a (normalised) channel.
    #[must_use]
    pub fn stage_of(&self, channel: &str) -> Stage {
        self.channel_stages.get(channel).copied().unwrap_or(Stage::Unknown)
    }
}

/// Channel names in a map, normalised like the log's (`Paid Search` is
/// `paid_search`), so that the map applies; two keys naming one channel are
/// an error.
fn normalized_keys<V: PartialEq>(map: BTreeMap<String, V>, table: &str) -> Result<BTreeMap<String, V>, String> {
    let mut normalized = BTreeMap::new();
    let mut spelled: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in map {
        let channel = normalize_channel(&key);
        if let Some(other) = spelled.get(&channel) {
            return Err(format!("[{table}]: `{other}` and `{key}` name the same channel `{channel}`"));
        }
        spelled.insert(channel.clone(), key);
        normalized.insert(channel, value);
    }
    Ok(normalized)
}

/// The default channel → stage map: where each common channel usually sits
/// in the funnel. Loyalty and advocacy depend on who is touched, not on the
/// channel, so they come only from a log's `stage` column.
#[must_use]
pub fn default_channel_stages() -> BTreeMap<String, Stage> {
    [
        ("paid_social", Stage::Awareness),
        ("display", Stage::Awareness),
        ("video", Stage::Awareness),
        ("organic_social", Stage::Awareness),
        ("organic_search", Stage::Consideration),
        ("referral", Stage::Consideration),
        ("email", Stage::Consideration),
        ("paid_search", Stage::Conversion),
        ("affiliate", Stage::Conversion),
        ("direct", Stage::Conversion),
    ]
    .into_iter()
    .map(|(channel, stage)| (channel.to_owned(), stage))
    .collect()
}

/// The default channel → touch class map.
#[must_use]
pub fn default_channel_classes() -> BTreeMap<String, TouchClass> {
    [
        ("paid_social", TouchClass::Paid),
        ("paid_search", TouchClass::Paid),
        ("display", TouchClass::Paid),
        ("video", TouchClass::Paid),
        ("affiliate", TouchClass::Paid),
        ("email", TouchClass::Owned),
        ("direct", TouchClass::Owned),
        ("organic_search", TouchClass::Owned),
        ("organic_social", TouchClass::Earned),
        ("referral", TouchClass::Earned),
    ]
    .into_iter()
    .map(|(channel, class)| (channel.to_owned(), class))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_holds_every_default() {
        assert_eq!(Config::parse(Config::TEMPLATE), Ok(Config::default()));
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let keys: Vec<&String> = defaults.as_table().unwrap().keys().collect();
        assert_eq!(keys.len(), 20, "{keys:?}");
        for key in keys.into_iter().map(String::as_str).chain(["from", "to", "memory_budget"]) {
            let shown = Config::TEMPLATE.lines().any(|line| {
                let line = line.trim_start_matches("# ");
                line.starts_with(&format!("{key} = ")) || line == format!("[{key}]")
            });
            assert!(shown, "`{key}` is missing from the template");
        }
    }

    #[test]
    fn the_rate_memory_is_the_longer_of_the_memory_and_the_lookback() {
        let memory = |text: &str| Config::parse(text).map(|config| config.rate_memory().to_string());
        assert_eq!(memory(""), Ok("60d".to_owned()));
        assert_eq!(memory("lookback = \"90d\""), Ok("90d".to_owned()));
        assert_eq!(memory("incremental_memory = \"14d\""), Ok("30d".to_owned()));
        assert_eq!(memory("lookback = \"none\""), Ok("none".to_owned()));
        assert_eq!(memory("incremental_memory = \"none\""), Ok("none".to_owned()));
    }

    #[test]
    fn channel_names_in_maps_are_normalised_like_the_log() {
        let config = Config::parse(
            "direct_channels = [\"Direct \", \"Brand-Search\"]\n[channel_stages]\n\"Paid Search\" = \"loyalty\"\n",
        )
        .unwrap();
        assert_eq!(config.stage_of("paid_search"), Stage::Loyalty);
        assert_eq!(config.direct_channels, ["direct", "brand_search"]);
        let twice = Config::parse("[channel_classes]\n\"Paid Search\" = \"paid\"\npaid_search = \"owned\"\n");
        assert_eq!(
            twice.unwrap_err(),
            "[channel_classes]: `Paid Search` and `paid_search` name the same channel `paid_search`"
        );
    }

    #[test]
    fn the_incremental_sample_is_a_share_of_users_without_a_bootstrap() {
        let check = |text: &str| Config::parse(text).unwrap().validate().map_err(|error| error.to_string());
        assert_eq!(check("incremental_sample = 0.25"), Ok(()));
        assert_eq!(check("incremental_sample = 1.0"), Ok(()));
        for share in ["0.0", "-0.5", "1.5", "nan"] {
            assert_eq!(
                check(&format!("incremental_sample = {share}")),
                Err(format!(
                    "invalid incremental_sample `{}`: expected a share of users above 0 and at most 1",
                    share.parse::<f64>().unwrap()
                )),
            );
        }
        let refused = check("incremental_sample = 0.5\nbootstrap = 20");
        assert!(refused.is_err_and(|message| message.contains("the bootstrap refits `incremental`")));
        // Without `incremental` among the models, the share is left alone.
        assert_eq!(check("incremental_sample = 0.5\nbootstrap = 20\nmodels = [\"markov\"]"), Ok(()));
    }

    #[test]
    fn each_table_is_mapped_in_its_own_table_of_the_file() {
        let config = Config::parse("[columns]\nstage = \"funnel_stage\"\n[spend_columns]\nspend = \"cost\"\n").unwrap();
        assert_eq!(config.validate().map_err(|error| error.to_string()), Ok(()));
        assert_eq!(config.column_name(InputTable::Log, "stage"), "funnel_stage");
        assert_eq!(config.column_name(InputTable::Spend, "stage"), "stage", "the log's mapping stays in the log");
        assert_eq!(config.column_name(InputTable::Spend, "spend"), "cost");
        assert_eq!(config.column_name(InputTable::Log, "channel"), "channel");

        let misplaced = Config::parse("[columns]\nspend = \"cost\"\n").unwrap().validate().unwrap_err();
        assert_eq!(
            misplaced.to_string(),
            "invalid [columns] key `spend`: `spend` is a column of the spend table only: map it with \
             `--spend-column spend=NAME` or in the config file's [spend_columns] table"
        );
        let unknown = Config::parse("[spend_columns]\ncolour = \"hue\"\n").unwrap().validate().unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "invalid [spend_columns] key `colour`: unknown column `colour` of the spend table; expected one of \
             campaign, channel, clicks, date, impressions, spend, stage"
        );
        assert_eq!(
            InputTable::Spend.check_column("user_id"),
            Err("`user_id` is a column of the touchpoint log only: map it with `--column user_id=NAME` \
                 or in the config file's [columns] table"
                .to_owned())
        );
        for shared in ["channel", "campaign", "stage"] {
            assert_eq!(
                (InputTable::Log.check_column(shared), InputTable::Spend.check_column(shared)),
                (Ok(()), Ok(()))
            );
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        let size = |text: &str| text.parse::<ByteSize>().map(|size| size.0);
        assert_eq!(size("4GB"), Ok(4 << 30));
        assert_eq!(size("512m"), Ok(512 << 20));
        assert_eq!(size("1.5GiB"), Ok(3 << 29));
        assert_eq!(size(" 2048 "), Ok(2048));
        assert_eq!(size("1KB"), Ok(1024));
        for bad in ["", "GB", "4XB", "-1GB", "0", "1e30TB", "4 G B"] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert_eq!(Config::parse("memory_budget = \"6GB\"\n").unwrap().memory_budget, Some(ByteSize(6 << 30)));
        assert!(Config::parse("memory_budget = \"six\"\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_line() {
        let unknown = Config::parse("lookback = \"7d\"\nlook_back = \"3d\"\n").unwrap_err();
        assert!(unknown.contains("line 2") && unknown.contains("look_back"), "{unknown}");
        let wrong = Config::parse("markov_order = \"two\"\n").unwrap_err();
        assert!(wrong.contains("line 1") && wrong.contains("markov_order"), "{wrong}");
        let stage = Config::parse("[channel_stages]\ntiktok = \"virality\"\n").unwrap_err();
        assert!(stage.contains("line 2") && stage.contains("virality"), "{stage}");
    }
}
