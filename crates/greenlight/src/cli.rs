//! The command line: verbs, flags and their help. No behaviour beyond parsing.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "greenlight", version, about = "A deploy gate: what is in a deploy, and may it ship?")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour human output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the commits in the deploy (`from..to`) and the issue keys they name.
    Contents(ContentsArgs),
    /// Run the checks on the deploy. Exit 0: pass; 1: deny-level findings; 2: could not run.
    Check(CheckArgs),
    /// Write a commented greenlight.toml at the repository's root.
    Init(InitArgs),
    /// The commit-msg hook that applies the same key rules to each new commit.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Judge a canary against its baseline in Prometheus. Exit 0: pass; 1: fail (halt); 2: error; 3: inconclusive.
    Guard(GuardArgs),
    /// Run the service: GitHub push webhooks in, commit statuses out (see docs/serve.md).
    Serve(ServeArgs),
    /// Ask a running server to check a deploy again (POST /api/deploys/{id}/recheck).
    Recheck(RecheckArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server's config: listen address, store, GitHub, repositories.
    #[arg(long, default_value = "server.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecheckArgs {
    /// The deploy's id, as in its page's url (`/deploys/{id}`).
    pub deploy: i64,
    /// The server's public url.
    #[arg(long, env = "GREENLIGHT_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The variable that holds the API's bearer token (the server's `api_token_env`).
    #[arg(long, default_value = "GREENLIGHT_API_TOKEN")]
    pub token_env: String,
}

/// The window is a past one (`--start` with `--end`) or a live one (`--watch`), not both. None at all is refused by
/// `guard` itself, with a message that names both choices whole (clap's would name `--start` alone).
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The guard's config: Prometheus, groups and metrics.
    #[arg(long, default_value = "guard.toml")]
    pub config: PathBuf,
    /// Start of the past window to judge: RFC 3339 or unix seconds.
    #[arg(long, requires = "end", conflicts_with = "watch")]
    pub start: Option<String>,
    /// End of the past window to judge: RFC 3339 or unix seconds.
    #[arg(long, requires = "start", conflicts_with = "watch")]
    pub end: Option<String>,
    /// Judge live, once per interval from now, until this long has passed (`10m`, `1h`) or the deploy halts.
    #[arg(long, value_name = "DURATION")]
    pub watch: Option<String>,
    /// Also write one self-contained HTML page with a chart per metric and each interval's reasons.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ContentsFormat::Human)]
    pub format: ContentsFormat,
    /// Print where the time went (queries, fetching, decoding, judging) as one JSON line on stderr.
    #[arg(long)]
    pub timings: bool,
}

/// Which deploy: the repository and the two revisions.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// The repository (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// What production runs. Default: `production` under `[deploy]` in greenlight.toml.
    #[arg(long)]
    pub from: Option<String>,
    /// What is about to ship.
    #[arg(long, default_value = "HEAD")]
    pub to: String,
    /// The rules file. Default: greenlight.toml at the repository's root, if there is one.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ContentsArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    #[arg(long, value_enum, default_value_t = ContentsFormat::Human)]
    pub format: ContentsFormat,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Do not ask the issue tracker: its checks report `skipped`.
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Replace an existing greenlight.toml (never through a symbolic link: init refuses one).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Install the commit-msg hook in the repository (honours core.hooksPath).
    Install(HookInstallArgs),
    /// Judge a commit message file, as git's commit-msg hook does. Exit 1 rejects the commit.
    CommitMsg(CommitMsgArgs),
}

#[derive(Debug, Args)]
pub struct HookInstallArgs {
    /// The repository (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Replace a commit-msg hook that greenlight did not write; the old one is kept as commit-msg.backup.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CommitMsgArgs {
    /// The file git passes to the hook.
    pub file: PathBuf,
    /// The repository (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ContentsFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        }
    }
}
