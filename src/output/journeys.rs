//! `--journeys-out`: one row per conversion, with its path, its moment of
//! truth and every model's credit per touch.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path as FilePath;

use polars::prelude::{DataFrame, DataType, IntoColumn, NamedFrom, ParquetWriter, Series, TimeUnit};

use super::CsvWriter;
use crate::config::Config;
use crate::event_log::EventLog;
use crate::format::FileFormat;
use crate::journey::{Journeys, TransformedPath};
use crate::models::{AttributionModel, CONVERSION_UNITS, Path, apportion};
use crate::moment::{StateScores, moment_of_truth};
use crate::time::format_instant;
use crate::{Error, Result};

/// One conversion's row.
struct Row {
    user: String,
    converted_at: i64,
    path: String,
    first_purchase: bool,
    touches: u32,
    moment_index: Option<u32>,
    moment_channel: Option<String>,
    revenue: f64,
    credits: Vec<String>,
}

/// The journeys file's format, from its extension.
///
/// # Errors
///
/// [`Error::Input`] for an extension other than `.csv` or `.parquet`.
pub fn check_journeys_target(target: &FilePath) -> Result<FileFormat> {
    FileFormat::from_path(target).ok_or_else(|| Error::Input {
        path: target.to_owned(),
        reason: "the journeys file must end in .csv or .parquet".to_owned(),
    })
}

/// Rows per Parquet row group: rows are written in groups of this many
/// whatever the batches they come in, so the file's bytes do not depend on
/// how the users were split.
const ROW_GROUP_ROWS: usize = 512 * 512;

/// The journeys file being written: rows are appended batch after batch of
/// users (in user order), and the file appears at its path, whole, on
/// [`JourneysFile::commit`].
///
/// Credit per touch is written as shares of the conversion joined with
/// ` > `, in path order, with nine decimals (exact: credit is counted in
/// billionths of a conversion); for `markov` these are the within-conversion
/// shares (in proportion to removal effects), before channel totals are
/// rescaled. `incremental` reads the touches as logged, whatever the path
/// transform, and keeps a part of each conversion for the baseline: its
/// shares follow the logged touches (the `path` column's touches unless a
/// transform rewrote them), its `baseline_incremental` column holds the
/// baseline's part and `earlier_incremental` the part of the user's touches
/// from before the journey (before the previous purchase, or older than the
/// lookback), so that a row's shares and those two parts sum to 1.
pub struct JourneysFile {
    target: std::path::PathBuf,
    temporary: tempfile::NamedTempFile,
    sink: Sink,
    group_rows: usize,
}

enum Sink {
    Csv(BufWriter<fs::File>),
    Parquet { writer: Box<polars::io::parquet::write::BatchedWriter<fs::File>>, pending: Vec<Row> },
}

impl JourneysFile {
    /// Starts the file at `target`, CSV or Parquet by extension, with a
    /// column of credit per model.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] for an extension other than `.csv` or `.parquet`;
    /// [`Error::Io`] when the file cannot be created.
    pub fn create(target: &FilePath, models: &[Box<dyn AttributionModel>]) -> Result<Self> {
        let format = check_journeys_target(target)?;
        let directory = super::parent_dir(target)?;
        let temporary = super::staging_file(&directory, target)?;
        let file = temporary.as_file().try_clone().map_err(|error| Error::io(target, error))?;
        let sink = match format {
            FileFormat::Csv => {
                let mut writer = BufWriter::new(file);
                let header = header(models);
                CsvWriter::new(&mut writer)
                    .record(header.iter().map(|name| Some(name.as_str())))
                    .map_err(|error| Error::io(target, error))?;
                Sink::Csv(writer)
            }
            FileFormat::Parquet => {
                let schema = frame(&[], models).map_err(|error| polars_error(target, &error))?.schema().clone();
                let writer = ParquetWriter::new(file).batched(&schema).map_err(|error| polars_error(target, &error))?;
                Sink::Parquet { writer: Box::new(writer), pending: Vec::new() }
            }
            FileFormat::Arrow => return Err(Error::Internal("the journeys file is a file, not a table".to_owned())),
        };
        Ok(Self { target: target.to_owned(), temporary, sink, group_rows: ROW_GROUP_ROWS })
    }

    /// Appends a row per converting journey of `log` in the analysis period.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written.
    pub fn append(
        &mut self,
        log: &EventLog,
        journeys: &Journeys,
        config: &Config,
        models: &[Box<dyn AttributionModel>],
        scores: &StateScores,
    ) -> Result<()> {
        let rows = collect_rows(log, journeys, config, models, scores);
        match &mut self.sink {
            Sink::Csv(writer) => write_csv(writer, &rows).map_err(|error| Error::io(&self.target, error)),
            Sink::Parquet { writer, pending } => {
                pending.extend(rows);
                while pending.len() >= self.group_rows {
                    let group: Vec<Row> = pending.drain(..self.group_rows).collect();
                    write_group(writer, &group, models).map_err(|error| polars_error(&self.target, &error))?;
                }
                Ok(())
            }
        }
    }

    /// Writes what is pending and moves the file to its path.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or moved.
    pub fn commit(self, models: &[Box<dyn AttributionModel>]) -> Result<()> {
        let target = self.target;
        let io = |error: std::io::Error| Error::io(&target, error);
        match self.sink {
            Sink::Csv(mut writer) => writer.flush().map_err(io)?,
            Sink::Parquet { mut writer, pending } => {
                if !pending.is_empty() {
                    write_group(&mut writer, &pending, models).map_err(|error| polars_error(&target, &error))?;
                }
                writer.finish().map_err(|error| polars_error(&target, &error))?;
            }
        }
        self.temporary.as_file().sync_all().map_err(io)?;
        self.temporary.persist(&target).map_err(|error| io(error.error))?;
        Ok(())
    }
}

/// The rows [`JourneysFile::append`] would write for `journeys`, as a
/// table: what each partition of a distributed run hands its engine, which
/// writes them (as partitioned Parquet) without gathering them anywhere.
///
/// # Errors
///
/// [`Error::Internal`] when the table cannot be built.
pub fn journeys_table(
    log: &EventLog,
    journeys: &Journeys,
    config: &Config,
    models: &[Box<dyn AttributionModel>],
    scores: &StateScores,
) -> Result<DataFrame> {
    let rows = collect_rows(log, journeys, config, models, scores);
    frame(&rows, models).map_err(|error| Error::Internal(format!("cannot build the journeys table: {error}")))
}

fn polars_error(target: &FilePath, error: &polars::prelude::PolarsError) -> Error {
    Error::io(target, std::io::Error::other(error.to_string()))
}

fn write_group(
    writer: &mut polars::io::parquet::write::BatchedWriter<fs::File>,
    rows: &[Row],
    models: &[Box<dyn AttributionModel>],
) -> polars::prelude::PolarsResult<()> {
    writer.write_batch(&frame(rows, models)?)
}

fn collect_rows(
    log: &EventLog,
    journeys: &Journeys,
    config: &Config,
    models: &[Box<dyn AttributionModel>],
    scores: &StateScores,
) -> Vec<Row> {
    let mut path = TransformedPath::default();
    let mut logged = TransformedPath::default();
    let mut weights = Vec::new();
    let mut units = Vec::new();
    let mut rows = Vec::new();
    for journey in journeys.iter() {
        let Some(conversion) = config.credited_conversion(log, &journey) else {
            continue;
        };
        config.path_transform.apply(log, journey.path.clone(), &mut path);
        let names: Vec<&str> = path.touches.iter().map(|&touch| log.channel_name(touch)).collect();
        let moment = if journey.first_purchase { moment_of_truth(log, &path.touches, scores) } else { None };
        let repeat = !journey.first_purchase;
        let view = Path::new(log, &path.touches, &path.counts, log.time[conversion]).repeat(repeat);
        let (earlier, carried) = crate::attribution::logged_path(log, &journey, config, &mut logged);
        let logged_view =
            Path::new(log, &logged.touches, &logged.counts, log.time[conversion]).repeat(repeat).with_carried(carried);
        let mut credits = Vec::with_capacity(models.len() + 2);
        for model in models {
            let view = if model.reads_logged_path() { &logged_view } else { &view };
            let length = view.len();
            // One slot per touch, and one for the baseline.
            weights.resize(length + 1, 0.0);
            units.resize(length + 1, 0);
            weights[length] =
                if view.is_empty() { 1.0 } else { model.weights_with_baseline(view, &mut weights[..length]) };
            let slots = if weights[length] > 0.0 { length + 1 } else { length };
            units[length] = 0;
            if slots > 0 {
                apportion(CONVERSION_UNITS, &weights[..slots], &mut units[..slots]);
            }
            // The journey's own touches; a model reading the logged path also
            // credits earlier touches, given in one sum.
            let own = if model.reads_logged_path() { earlier.min(length) } else { 0 };
            credits.push(units[own..length].iter().map(|&unit| share(unit)).collect::<Vec<_>>().join(" > "));
            if model.reads_logged_path() {
                credits.push(share(units[length]));
                credits.push(share(units[..own].iter().sum::<i64>()));
            }
        }
        rows.push(Row {
            user: log.users.get(journey.user).to_owned(),
            converted_at: log.time[conversion],
            path: if names.is_empty() { crate::event::NO_CHANNEL.to_owned() } else { names.join(" > ") },
            first_purchase: journey.first_purchase,
            touches: u32::try_from(path.touches.len()).unwrap_or(u32::MAX),
            moment_index: moment.and_then(|index| u32::try_from(index).ok()),
            moment_channel: moment.map(|index| names[index].to_owned()),
            revenue: crate::journey::micros_to_units(i128::from(log.revenue[conversion])),
            credits,
        });
    }
    rows
}

/// A share of one conversion, from billionths: nine decimals write it
/// exactly.
fn share(units: i64) -> String {
    format!("{}.{:09}", units / CONVERSION_UNITS, units % CONVERSION_UNITS)
}

/// The columns: the conversion's, then per model its credit per touch and,
/// for a model that keeps a part for the baseline, that part.
fn header(models: &[Box<dyn AttributionModel>]) -> Vec<String> {
    let fixed = ["user_id", "converted_at", "path", "purchase", "touches", "moment_index", "moment_channel", "revenue"];
    let mut names: Vec<String> = fixed.iter().map(|name| (*name).to_owned()).collect();
    for model in models {
        names.push(format!("credit_{}", model.name()));
        if model.reads_logged_path() {
            names.push(format!("baseline_{}", model.name()));
            names.push(format!("earlier_{}", model.name()));
        }
    }
    names
}

fn purchase(first: bool) -> &'static str {
    if first { "first" } else { "repeat" }
}

fn write_csv(sink: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    let mut writer = CsvWriter::new(sink);
    for row in rows {
        let fixed = [
            row.user.clone(),
            format_instant(row.converted_at),
            row.path.clone(),
            purchase(row.first_purchase).to_owned(),
            row.touches.to_string(),
            row.moment_index.map(|index| index.to_string()).unwrap_or_default(),
            row.moment_channel.clone().unwrap_or_default(),
            format!("{:.2}", row.revenue),
        ];
        writer.record(fixed.iter().chain(&row.credits).map(|field| Some(field.as_str())))?;
    }
    Ok(())
}

fn frame(rows: &[Row], models: &[Box<dyn AttributionModel>]) -> polars::prelude::PolarsResult<DataFrame> {
    let names = header(models);
    let converted_at =
        Series::new(names[1].as_str().into(), rows.iter().map(|row| row.converted_at).collect::<Vec<i64>>())
            .cast(&DataType::Datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC)))?;
    let mut columns = vec![
        Series::new(names[0].as_str().into(), rows.iter().map(|row| row.user.as_str()).collect::<Vec<_>>())
            .into_column(),
        converted_at.into_column(),
        Series::new(names[2].as_str().into(), rows.iter().map(|row| row.path.as_str()).collect::<Vec<_>>())
            .into_column(),
        Series::new(names[3].as_str().into(), rows.iter().map(|row| purchase(row.first_purchase)).collect::<Vec<_>>())
            .into_column(),
        Series::new(names[4].as_str().into(), rows.iter().map(|row| row.touches).collect::<Vec<_>>()).into_column(),
        Series::new(names[5].as_str().into(), rows.iter().map(|row| row.moment_index).collect::<Vec<_>>())
            .into_column(),
        Series::new(names[6].as_str().into(), rows.iter().map(|row| row.moment_channel.as_deref()).collect::<Vec<_>>())
            .into_column(),
        Series::new(names[7].as_str().into(), rows.iter().map(|row| row.revenue).collect::<Vec<_>>()).into_column(),
    ];
    for (index, name) in names.iter().enumerate().skip(8) {
        let values: Vec<&str> = rows.iter().map(|row| row.credits[index - 8].as_str()).collect();
        columns.push(Series::new(name.as_str().into(), values).into_column());
    }
    DataFrame::new(rows.len(), columns)
}

#[cfg(test)]
mod tests {
    use polars::prelude::{ParquetReader, SerReader};

    use super::*;
    use crate::aggregate::Aggregates;
    use crate::config::Mode;
    use crate::event_log::EventLogBuilder;
    use crate::report::Analysis;

    /// Each user: email, video, a purchase, email, a repeat purchase.
    fn log(users: &[&str]) -> EventLog {
        let mut builder = EventLogBuilder::new();
        for user in users {
            builder = builder
                .touch(user, 0, "email")
                .touch(user, 10, "video")
                .conversion(user, 20, 1_000_000)
                .touch(user, 30, "email")
                .conversion(user, 40, 2_500_000);
        }
        builder.build()
    }

    #[test]
    fn batches_of_users_write_the_bytes_of_one_batch() {
        let config = Config::default();
        let whole = log(&["a", "b", "c", "d", "e"]);
        let journeys = Journeys::build(&whole, config.lookback);
        let aggregates = Aggregates::compute(&whole, &journeys, &config, Mode::Attribute, whole.latest());
        let analysis = Analysis::fit(&aggregates, &config).unwrap();
        let directory = tempfile::tempdir().unwrap();
        for extension in ["csv", "parquet"] {
            let write = |name: &str, logs: &[EventLog]| {
                let target = directory.path().join(format!("{name}.{extension}"));
                let mut file = JourneysFile::create(&target, &analysis.models).unwrap();
                // Groups of 3 rows: 10 rows make 4 groups, across batches.
                file.group_rows = 3;
                for log in logs {
                    let journeys = Journeys::build(log, config.lookback);
                    file.append(log, &journeys, &config, &analysis.models, &analysis.scores).unwrap();
                }
                file.commit(&analysis.models).unwrap();
                fs::read(target).unwrap()
            };
            let one = write("one", std::slice::from_ref(&whole));
            let parts = write("parts", &[log(&["a"]), log(&["b", "c"]), log(&["d", "e"])]);
            assert!(one == parts, "{extension}: the same bytes");
            if extension == "parquet" {
                let frame = ParquetReader::new(std::io::Cursor::new(one)).finish().unwrap();
                let users: Vec<Option<&str>> = frame.column("user_id").unwrap().str().unwrap().iter().collect();
                assert_eq!(users, ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"].map(Some));
            } else {
                let text = String::from_utf8(one).unwrap();
                assert_eq!(text.lines().count(), 11, "{text}");
                assert!(
                    text.lines().nth(2).unwrap().starts_with("a,1970-01-01T00:00:00.000040Z,email,repeat,1,"),
                    "{text}"
                );
            }
        }
    }
}
