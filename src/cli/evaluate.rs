//! `touchpath evaluate`.

use std::path::PathBuf;

use crate::Config;
use crate::evaluate::{
    Evaluation, Options, evaluate_log, evaluate_scenario, read_truth, render_table, write_csv, write_html,
};
use crate::generate::Scenario;
use crate::generate::scenario::SHIPPED;
use crate::output::write_file;
use anyhow::{Context, bail};
use clap::Args;

use super::terminal;

/// Flags of `touchpath evaluate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath evaluate                                   # every shipped scenario
  touchpath evaluate --scenario harvesting --users 20000
  touchpath evaluate --scenario my-world.toml --out eval
  touchpath evaluate --events other/events.csv --truth other/truth.csv --name other")]
pub struct EvaluateArgs {
    /// Worlds to simulate and score on: shipped scenario names or scenario
    /// files (repeatable) [default: every shipped scenario].
    #[arg(long, value_name = "NAME|FILE")]
    scenario: Vec<String>,

    /// Users simulated per scenario.
    #[arg(long, default_value_t = 100_000)]
    users: u64,

    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Score on a log made elsewhere instead, with its --truth.
    #[arg(long, num_args = 1.., value_name = "PATH", requires = "truth")]
    events: Vec<PathBuf>,

    /// The ground truth of --events: a truth.csv (channel, conversions,
    /// revenue per row).
    #[arg(long, value_name = "FILE", requires = "events")]
    truth: Option<PathBuf>,

    /// The spend table of --events, if any.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    spend: Vec<PathBuf>,

    /// The name of the --events world in the results.
    #[arg(long, default_value = "log")]
    name: String,

    /// A TOML configuration file for the models' parameters.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Bootstrap replicates per run: scores then include how often each
    /// model's intervals hold the true shares [default: 0, none].
    #[arg(long, value_name = "N")]
    bootstrap: Option<u32>,

    /// Coverage of the bootstrap intervals [default: 0.9].
    #[arg(long, value_name = "LEVEL")]
    interval: Option<f64>,

    /// Output directory: one folder per world (log, truth, report), then
    /// evaluate.csv and evaluate.html.
    #[arg(long, value_name = "DIR", default_value = "touchpath-evaluate")]
    out: PathBuf,
}

/// Scores every model on each world and prints the table.
pub fn execute(args: &EvaluateArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(replicates) = args.bootstrap {
        config.bootstrap = replicates;
    }
    if let Some(level) = args.interval {
        config.interval = level;
    }
    config.validate()?;
    let evaluations = if let Some(truth) = &args.truth {
        if !args.scenario.is_empty() {
            bail!("--events and --scenario are exclusive: score a log made elsewhere, or simulate scenarios");
        }
        let truth = read_truth(truth)?;
        vec![evaluate_log(&args.name, &args.events, &args.spend, &truth, &args.out.join(&args.name), &config)?]
    } else {
        scenarios(args)?
            .iter()
            .map(|scenario| {
                terminal::note(&format!("evaluating {} ({} users)", scenario.name, terminal::thousands(args.users)));
                let options = Options { users: args.users, seed: args.seed, out: args.out.clone() };
                evaluate_scenario(scenario, &options, &config).with_context(|| format!("scenario {}", scenario.name))
            })
            .collect::<anyhow::Result<Vec<Evaluation>>>()?
    };
    write_file(&args.out.join("evaluate.csv"), |sink| write_csv(&evaluations, sink))?;
    write_file(&args.out.join("evaluate.html"), |sink| write_html(&evaluations, sink))?;
    terminal::data(&(render_table(&evaluations) + "\n"))?;
    terminal::note(&format!("evaluation written to {}", args.out.display()));
    Ok(())
}

fn scenarios(args: &EvaluateArgs) -> anyhow::Result<Vec<Scenario>> {
    if args.scenario.is_empty() {
        return Ok(Scenario::all_shipped()?);
    }
    let scenarios: Vec<Scenario> =
        args.scenario.iter().map(|name| Scenario::load(name)).collect::<crate::Result<_>>()?;
    let mut names: Vec<&str> = scenarios.iter().map(|scenario| scenario.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        bail!("two scenarios share a name; each writes its own folder (shipped: {})", shipped_names());
    }
    Ok(scenarios)
}

fn shipped_names() -> String {
    SHIPPED.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}
