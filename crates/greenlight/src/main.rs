//! The `greenlight` binary: parses the command line, wires the adapters together, prints, and maps outcomes to
//! exit codes. Thin on purpose: logic lives in the library crates.
//!
//! Exit codes: `0` pass, `1` the gate says no, `2` could not run (bad input, unknown revision, broken config),
//! `3` the guard cannot tell (inconclusive).

mod cli;
mod deploy;
mod guard;
mod hook;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc instead of the system's malloc: `contents` makes about ten small allocations per commit on two threads,
/// and `serve` a few small buffers per request on every thread, where glibc's allocator spent ~8 % of the webhook path
/// (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("greenlight: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each said once: many errors already end with their cause's words ("cannot
/// read greenlight.toml: Is a directory"), and a library's error often repeats the one beneath it.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    let color = cli.color.enabled();
    match cli.command {
        cli::Command::Contents(args) => {
            let deploy = deploy::load(&args.range)?;
            let contents = match args.format {
                cli::ContentsFormat::Json => {
                    let range = deploy.range();
                    let (from, to) = (range.from.to_string(), range.to.to_string());
                    output::contents_json(&mut std::io::stdout(), from, to, range.added, range.rolled_back)?
                }
                cli::ContentsFormat::Human => {
                    let contents = deploy.contents();
                    output::contents_human(&contents, color)?;
                    contents
                }
            };
            // The process ends here: freeing tens of thousands of strings one by one would only delay the exit.
            std::mem::forget(contents);
            Ok(0)
        }
        cli::Command::Check(args) => {
            let deploy = deploy::load(&args.range)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(deploy.check(args.offline)).report;
            match output::report(&report, args.format, color) {
                // A reader that stops early (`| head`) does not turn a deny into a pass under `pipefail`.
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err.into()),
                _ => {}
            }
            Ok(report.verdict.exit_code())
        }
        cli::Command::Init(args) => deploy::init(&args),
        cli::Command::Hook(cli::HookCommand::Install(args)) => hook::install(&args),
        cli::Command::Hook(cli::HookCommand::CommitMsg(args)) => hook::commit_msg(&args),
        cli::Command::Guard(args) => guard::run(&args, color),
        cli::Command::Serve(args) => serve::serve(&args),
        cli::Command::Recheck(args) => serve::recheck(&args),
    }
}
