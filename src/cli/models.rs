//! `touchpath models`.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::Config;
use crate::models::describe;
use clap::{Args, ValueEnum};

use super::terminal;

/// Flags of `touchpath models`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath models
  touchpath models --config touchpath.toml --format json")]
pub struct ModelsArgs {
    /// A TOML configuration file whose parameters to show.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// How to print the list.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// How the list is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// One block per model.
    Table,
    /// A JSON array.
    Json,
}

/// Prints every model with its formula and parameters.
pub fn execute(args: &ModelsArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.validate()?;
    let models = describe(&config);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&models)? + "\n",
        Format::Table => {
            let mut text = String::new();
            for model in &models {
                let selected = if model.selected { "" } else { "  (not selected by `models`)" };
                let _ = writeln!(text, "{}  [{}]{selected}", model.name, model.kind);
                let _ = writeln!(text, "    {}", model.formula);
                if !model.parameters.is_empty() {
                    let _ = writeln!(text, "    parameters: {}", model.parameters.join("; "));
                }
            }
            text.push_str("Formulas, sources and edge cases: docs/models.md\n");
            text
        }
    };
    terminal::data(&text)?;
    Ok(())
}
