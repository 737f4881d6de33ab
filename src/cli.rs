//! Command-line definitions (PRODUCT.md §5). `--config` and `--read-only` are global: accepted before
//! or after the verb.
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "shipdeck",
    version,
    about = "A terminal operations console for the path from commit to production"
)]
pub struct Cli {
    /// Configuration file (default: the platform config directory's shipdeck/config.toml).
    #[arg(long, global = true, value_name = "FILE", env = "SHIPDECK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Hide and refuse every mutation.
    #[arg(long, global = true)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The console on the built-in simulated estate (no setup needed).
    Demo(DemoArgs),
    /// Print the estate board once, for scripts.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Build N apps with a few pods each (for benchmarks) instead of the default shop estate.
    #[arg(long, value_name = "N")]
    pub scale: Option<usize>,
    /// Seed for the simulation, so a run is repeatable.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
    /// Run only the simulated estate: print its endpoints and wait for Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: write DIR/kubeconfig and DIR/config.toml pointing at the simulated estate.
    #[arg(long, value_name = "DIR", requires = "serve")]
    pub write_config: Option<PathBuf>,
    /// Start with the simulated world's clock paused (nothing changes; for idle measurements).
    #[arg(long)]
    pub paused: bool,
    /// Simulated seconds per wall-clock second.
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this app.
    #[arg(long, value_name = "A")]
    pub app: Option<String>,
    /// Only this environment.
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_after_the_verb() {
        let cli = Cli::try_parse_from(["shipdeck", "status", "--config", "x.toml", "--read-only"])
            .unwrap();
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("x.toml")));
        assert!(cli.read_only);
    }

    #[test]
    fn write_config_needs_serve() {
        assert!(Cli::try_parse_from(["shipdeck", "demo", "--write-config", "d"]).is_err());
        assert!(
            Cli::try_parse_from(["shipdeck", "demo", "--serve", "--write-config", "d"]).is_ok()
        );
    }
}
