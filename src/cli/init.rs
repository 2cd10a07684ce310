//! `touchpath init`.

use std::io::Write as _;
use std::path::PathBuf;

use crate::Config;
use anyhow::{Context, bail};
use clap::Args;

use super::terminal;

/// Flags of `touchpath init`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath init                        # writes ./touchpath.toml
  touchpath init conf/attribution.toml
  touchpath run --config touchpath.toml --events logs/")]
pub struct InitArgs {
    /// Where to write the configuration file.
    #[arg(value_name = "FILE", default_value = "touchpath.toml")]
    path: PathBuf,

    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

/// Writes the commented template, atomically.
pub fn execute(args: &InitArgs) -> anyhow::Result<()> {
    if args.path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it", args.path.display());
    }
    let directory = match args.path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&directory).with_context(|| format!("cannot create {}", directory.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&directory)
        .with_context(|| format!("cannot write in {}", directory.display()))?;
    file.write_all(Config::TEMPLATE.as_bytes()).with_context(|| format!("cannot write {}", args.path.display()))?;
    file.persist(&args.path).with_context(|| format!("cannot write {}", args.path.display()))?;
    terminal::note(&format!(
        "wrote {}: every setting at its default; edit it, then `touchpath run --config {}`",
        args.path.display(),
        args.path.display()
    ));
    Ok(())
}
