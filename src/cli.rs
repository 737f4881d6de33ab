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
    /// Roll the image running in the source environment (by digest) out to ENV.
    Promote(PromoteArgs),
    /// `kubectl rollout undo`: back to the previous revision, or --to-revision N.
    Rollback(RollbackArgs),
    /// Set an image tag, restart, scale, pause or resume in one environment.
    Patch(PatchArgs),
    /// Retire an app everywhere: edge entries, workloads, monitoring, registry tags.
    Sunset(SunsetArgs),
    /// Approve the app's CI gate waiting for ENV.
    Approve(ApproveArgs),
    /// Silence the app's alerts (or one alert) for a while, or expire a silence.
    Silence(SilenceArgs),
    /// List the operations in the audit journal.
    Audit(AuditArgs),
}

/// Flags every mutating verb shares.
#[derive(Debug, Args, Clone)]
pub struct OpFlags {
    /// Print the preview (with the server-side dry-run) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Run without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// `table` prints the preview and progress; `json` prints one JSON document at the end.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    pub app: String,
    /// Target environment.
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Source environment (default: the target's promote_from).
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// Why: goes into change-cause, and overrides failed checks (audited).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub app: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The revision to go back to (default: the previous one).
    #[arg(long, value_name = "N")]
    pub to_revision: Option<i64>,
    /// Overrides failed checks (audited).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["image", "restart", "replicas", "pause", "resume"])))]
pub struct PatchArgs {
    pub app: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// A tag of the app's repository (checked in the registry) or a full image reference.
    #[arg(long, value_name = "TAG")]
    pub image: Option<String>,
    /// Restart the pods (kubectl's restartedAt).
    #[arg(long)]
    pub restart: bool,
    #[arg(long, value_name = "N")]
    pub replicas: Option<i32>,
    #[arg(long)]
    pub pause: bool,
    #[arg(long)]
    pub resume: bool,
    /// Overrides failed checks (audited).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
pub struct SunsetArgs {
    pub app: String,
    /// Continue the last sunset of APP that failed or was interrupted, from the journal.
    #[arg(long)]
    pub resume: bool,
    /// Overrides failed checks (audited).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    pub app: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["app", "expire"])))]
pub struct SilenceArgs {
    pub app: Option<String>,
    /// Only this alert (alertname); default: all of the app's alerts.
    #[arg(long, value_name = "NAME", requires = "app")]
    pub alert: Option<String>,
    /// How long: 30m, 2h, 1d.
    #[arg(long = "for", value_name = "DURATION", requires = "app")]
    pub duration: Option<String>,
    #[arg(long, value_name = "TEXT", requires = "app")]
    pub comment: Option<String>,
    /// Expire the silence with this id instead.
    #[arg(long, value_name = "ID", conflicts_with_all = ["app", "alert", "duration", "comment"])]
    pub expire: Option<String>,
    #[command(flatten)]
    pub flags: OpFlags,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this app's operations.
    #[arg(long, value_name = "A")]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
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
    /// Make production a GitOps environment: a simulated GitHub holds its manifests
    /// (`shop/manifests`, commit mode) and a CD controller applies them.
    #[arg(long)]
    pub gitops: bool,
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
    fn verbs_parse() {
        let cli = Cli::try_parse_from([
            "shipdeck",
            "promote",
            "web",
            "--to",
            "production",
            "--dry-run",
            "--reason",
            "hotfix",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Some(Command::Promote(ref a)) if a.flags.dry_run && a.reason.as_deref() == Some("hotfix"))
        );
        assert!(Cli::try_parse_from(["shipdeck", "patch", "web", "--env", "s"]).is_err());
        assert!(
            Cli::try_parse_from([
                "shipdeck",
                "patch",
                "web",
                "--env",
                "s",
                "--restart",
                "--pause"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["shipdeck", "silence", "--expire", "abc"]).is_ok());
        assert!(Cli::try_parse_from(["shipdeck", "silence"]).is_err());
        assert!(
            Cli::try_parse_from([
                "shipdeck",
                "silence",
                "web",
                "--for",
                "2h",
                "--comment",
                "x"
            ])
            .is_ok()
        );
        let cli = Cli::try_parse_from(["shipdeck", "rollback", "web", "--env", "p", "--read-only"])
            .unwrap();
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
