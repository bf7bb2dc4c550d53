//! `greenlight guard`: judge a canary against its baseline in Prometheus, over a past window or live.
//!
//! Owns: reading `guard.toml`, parsing `--start/--end`, the `--watch` loop (one look per interval), running the
//! Prometheus queries on a small runtime, and after the verdict, in this order: the `[on_fail]` hooks, `--report` and
//! printing the report (human or JSON), so that a fail exits 1 and runs its hooks whatever happens to the output.
//! Does not own: the file's shape, the queries or the judges (`greenlight-guard`), or HTTP behaviour
//! (`greenlight-http`).

use std::io::{IsTerminal as _, Write as _};

use anyhow::{Context as _, anyhow, bail};
use greenlight_guard::file::parse_duration;
use greenlight_guard::{
    Analysis, FetchError, Fetched, GuardFile, IntervalInput, Notes, Observation, OnFail, Prometheus, Report, Verdict,
    Window, check_lookback, fetch_window, judge_window, lookback_end,
};
use greenlight_http::{Client, Method, Policy, Url, header};
use jiff::{SignedDuration, Timestamp};

use crate::cli::{ContentsFormat, GuardArgs};

const NO_WINDOW: &str =
    "no window to judge: give --start and --end for a past window, or --watch DURATION to judge live";

pub fn run(args: &GuardArgs, _color: bool) -> anyhow::Result<u8> {
    // Before the config is read: a missing window is a mistake in the command, whatever the file says.
    if args.watch.is_none() && (args.start.is_none() || args.end.is_none()) {
        bail!("{NO_WINDOW}");
    }
    let began = std::time::Instant::now();
    let (mut fetching, mut judging) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let origin = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {origin}"))?;
    let file = GuardFile::parse(&text, &origin)?;
    let client = Client::new().map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let attempt_timeout = client.policy().attempt_timeout;
    let prometheus = Prometheus::new(client, &file.prometheus)?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    // An error after some intervals were judged (a `--watch` that lost Prometheus): said after their report.
    let mut ended_by = None;
    let (mut report, notes) = match (&args.watch, &args.start, &args.end) {
        (Some(watch), _, _) => {
            let duration = parse_duration(watch).map_err(|e| anyhow!("--watch {e}"))?;
            let watched = live(&file, &prometheus, attempt_timeout, &runtime, watch, duration)?;
            if let Some(error) = watched.error {
                if watched.report.intervals.is_empty() {
                    return Err(error);
                }
                ended_by = Some(error);
            }
            (watched.report, watched.notes)
        }
        (None, Some(start), Some(end)) => {
            let start = parse_time(start).with_context(|| format!("--start `{start}`"))?;
            let end = parse_time(end).with_context(|| format!("--end `{end}`"))?;
            if end <= start {
                bail!("--end {end} is not after --start {start}");
            }
            // Prometheus has no data after now: such a window would be judged inconclusive for want of it. One step
            // of allowance for a clock a little behind Prometheus'.
            let now = Timestamp::now();
            if end > now + file.step {
                let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
                bail!(
                    "--end {end} is in the future (now is {now}): a past window must have ended; use --watch DURATION to judge live"
                );
            }
            let window = Window::new(start, end, file.interval)?;
            let fetched = std::time::Instant::now();
            let Fetched { inputs, notes } = runtime.block_on(fetch_window(&prometheus, &file, &window))?;
            fetching = fetched.elapsed();
            let judged = std::time::Instant::now();
            let report = judge_window(file.config.clone(), inputs)?;
            judging = judged.elapsed();
            (report, notes)
        }
        _ => bail!("{NO_WINDOW}"),
    };
    // A warning comes with an answer that is still a success, often a partial one: judged as it is, but said.
    report.warnings = prometheus.warnings();
    for warning in &report.warnings {
        eprintln!("greenlight: Prometheus warned: {warning}");
    }
    // What the fetch refused (counts of `bad` beyond `total`) is said in the reasons and with the warnings.
    notes.annotate(&mut report);
    for warning in notes.warnings(&file) {
        eprintln!("greenlight: warning: {warning}");
        report.warnings.push(warning);
    }
    // A `total` without any series for a group over the whole run is a mistake in the query or the matchers: exit 2,
    // after the report, whose reasons say it too.
    if ended_by.is_none() {
        ended_by = notes.missing_totals(&file).map(anyhow::Error::msg);
    }
    // A fail verdict exits 1 and runs its hooks whatever happens to the output: the hooks run first, and a report
    // that cannot be written or printed is said on stderr without changing a fail's exit code.
    let mut code = report.verdict.exit_code();
    let mut hooks_took = std::time::Duration::ZERO;
    if report.verdict == Verdict::Fail
        && let Some(hooks) = &file.on_fail
    {
        let hooked = std::time::Instant::now();
        for problem in on_fail(hooks, &report, &runtime) {
            eprintln!("greenlight: on_fail: {problem}");
        }
        hooks_took = hooked.elapsed();
    }
    if let Some(path) = &args.report {
        let title = match (&args.watch, &args.start, &args.end) {
            (Some(watch), _, _) => format!("{origin}, watched for {watch}"),
            (_, Some(start), Some(end)) => format!("{origin}, {start} to {end}"),
            _ => origin.clone(),
        };
        if let Err(e) = std::fs::write(path, greenlight_guard::html::render(&report, &title)) {
            eprintln!("greenlight: cannot write {}: {e}", path.display());
            if report.verdict != Verdict::Fail {
                code = 2;
            }
        }
    }
    match print(&report, args.format) {
        Ok(()) => {}
        // A reader that stopped reading (`| head`) is not an error; the verdict's code stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("greenlight: cannot print the report: {e}");
            if report.verdict != Verdict::Fail {
                code = 2;
            }
        }
    }
    if args.timings {
        timings(&prometheus, began.elapsed().saturating_sub(hooks_took), fetching, judging);
    }
    match ended_by {
        Some(error) => Err(error),
        None => Ok(code),
    }
}

/// The report on stdout, as `--format` asks.
fn print(report: &Report, format: ContentsFormat) -> std::io::Result<()> {
    match format {
        // One line, as every other JSON greenlight prints: a long window's report is megabytes.
        ContentsFormat::Json => crate::output::json(report),
        ContentsFormat::Human => {
            // Buffered: a locked stdout flushes at every newline.
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            human(&mut out, report)?;
            out.flush()
        }
    }
}

/// `--timings`: one JSON line on stderr. `fetch_ms` is the wall time from the first query sent to the last answer
/// decoded (queries run `IN_FLIGHT` at a time); `decode_ms` is greenlight's own decoding within it, so
/// `fetch_ms - decode_ms` is the time spent waiting on Prometheus; `judge_ms` is judging the fetched intervals;
/// `total_ms` runs from reading the config to the printed report, without the time the on_fail hooks took. A
/// `--watch` run reports only queries, decoding and total (it waits for the clock, not only for Prometheus).
fn timings(
    prometheus: &Prometheus,
    total: std::time::Duration,
    fetching: std::time::Duration,
    judging: std::time::Duration,
) {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let stats = prometheus.stats();
    let line = serde_json::json!({
        "queries": stats.queries,
        "fetch_ms": ms(fetching),
        "decode_ms": ms(stats.decoding),
        "judge_ms": ms(judging),
        "total_ms": ms(total),
    });
    eprintln!("timings: {line}");
}

/// Runs `[on_fail]` after a fail verdict: the command with the JSON report on stdin (up to 3 attempts, backing off
/// 0.5 s then 1 s), and the signed POST through the HTTP client (its retries with backoff, from a small reserved
/// budget). Returns what went wrong; the verdict stays fail whatever the hooks do.
fn on_fail(hooks: &OnFail, report: &Report, runtime: &tokio::runtime::Runtime) -> Vec<String> {
    let mut problems = Vec::new();
    let body = match serde_json::to_vec(report) {
        Ok(body) => body,
        Err(e) => return vec![format!("cannot encode the report: {e}")],
    };
    if let Some(command) = &hooks.command
        && let Err(e) = run_command(command, hooks.timeout, &body)
    {
        problems.push(e);
    }
    if let Some(url) = &hooks.url
        && let Err(e) = post(url, hooks.secret_env.as_deref(), body, runtime)
    {
        problems.push(e);
    }
    problems
}

/// Runs the `on_fail` command, up to 3 times until it exits 0; a run longer than `timeout` is stopped (with what it
/// started) and counts as failed.
fn run_command(command: &[String], timeout: SignedDuration, body: &[u8]) -> Result<(), String> {
    use std::os::unix::process::CommandExt as _;
    const ATTEMPTS: u32 = 3;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(500 << (attempt - 1)));
        }
        let child = std::process::Command::new(&command[0])
            .args(&command[1..])
            .env("GREENLIGHT_GUARD_VERDICT", "fail")
            .stdin(std::process::Stdio::piped())
            // A group of its own, so that a timeout stops what a script started too.
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => return Err(format!("cannot run `{}`: {e}", command[0])),
        };
        // From a thread of its own: a command that never reads a report larger than the pipe would block the write.
        // A command that does not read its input is fine.
        if let Some(mut stdin) = child.stdin.take() {
            let body = body.to_vec();
            std::thread::spawn(move || drop(stdin.write_all(&body)));
        }
        match wait_timeout::ChildExt::wait_timeout(&mut child, timeout.unsigned_abs()) {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => last = format!("`{}` {status}", command.join(" ")),
            Ok(None) => {
                greenlight_git::process::stop_group(&mut child, std::time::Duration::from_secs(5));
                last = format!("`{}` did not finish within {timeout:#}", command.join(" "));
            }
            Err(e) => last = format!("`{}`: {e}", command[0]),
        }
    }
    Err(format!("{last} ({ATTEMPTS} attempts)"))
}

fn post(url: &str, secret_env: Option<&str>, body: Vec<u8>, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("the on_fail url is not a URL: {e}"))?;
    let secret = match secret_env {
        Some(var) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                let shown = greenlight_http::redact(&parsed);
                return Err(format!("{var} is not set: it must hold the secret that signs the POST to {shown}"));
            }
        },
        None => None,
    };
    let policy = Policy { retry_budget_reserve: 3, ..Policy::default() };
    let client = Client::builder().policy(policy).build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    // One id for the POST and all its retries, as GitHub's X-GitHub-Delivery: a receiver can drop a repeat.
    let delivery = format!("{:032x}", fastrand::u128(..));
    let mut request = client
        .request(Method::POST, parsed)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-Greenlight-Event", "guard.fail")
        .header("X-Greenlight-Delivery", delivery);
    if let Some(secret) = secret {
        request = request.header("X-Hub-Signature-256", greenlight_github::webhook::sign(secret.as_bytes(), &body));
    }
    runtime.block_on(client.send(request.body(body))).map(drop).map_err(|e| e.to_string())
}

/// After this many intervals in a row whose queries failed, a `--watch` gives up (exit 2): a Prometheus down that
/// long is no passing hiccup, and a deploy should not go on unwatched.
const FAILED_IN_A_ROW: u32 = 3;

/// What a watch judged, and the error that ended it early, if one did.
struct Watched {
    report: Report,
    notes: Notes,
    error: Option<anyhow::Error>,
}

/// Judges live: interval after interval from now, each once its end plus one `step` has passed (so Prometheus has
/// evaluated it), until `duration` has passed or a regression counts. Progress goes to a terminal's stderr. With
/// `[before_after]`, the watch must lie within the deploy's lookback: one that would run past its end is cut to end
/// there (said on stderr) when an interval fits, and one that cannot fit (started before the deploy, or after the
/// lookback's end) is an error before the first wait. Before the first wait,
/// too, Prometheus is asked a query that needs no data, so that one unreachable or refusing is an error at once.
///
/// Once watching, an interval whose queries fail for a reason that may pass (after the HTTP client's own retries)
/// is fetched again until one step before the next interval is due (each query given up there, `Prometheus::until`,
/// so one that never answers cannot hold the watch longer); still failing, it is no data, with the error in
/// its reasons. `FAILED_IN_A_ROW` such intervals in a row end the watch, and so does an error that will not pass (a
/// refused query): either is returned with the report of the intervals judged so far.
fn live(
    file: &GuardFile,
    prometheus: &Prometheus,
    attempt_timeout: std::time::Duration,
    runtime: &tokio::runtime::Runtime,
    watch: &str,
    duration: SignedDuration,
) -> anyhow::Result<Watched> {
    if duration < file.interval {
        bail!("--watch must last at least one interval ({}s)", file.interval.as_secs_f64());
    }
    let progress = std::io::stderr().is_terminal();
    let begin = next_whole_second(Timestamp::now());
    let mut until = begin.checked_add(duration).map_err(|_| anyhow!("--watch: now plus the watch is not a time"))?;
    // `[before_after]`: a watch that would run past the deploy plus its lookback ends there, if an interval fits
    // before it (`--watch 30m` with `lookback = "30m"` starts a moment after the deploy).
    if let (Some(before_after), Some(last)) = (&file.before_after, lookback_end(file))
        && until > last
        && begin >= before_after.deployed_at
        && let Ok(cut) = Window::new(begin, last, file.interval)
    {
        eprintln!(
            "greenlight: --watch {watch} ends at {last}, the deploy plus its lookback of {:#}: {} intervals",
            before_after.lookback, cut.count
        );
        until = last;
    }
    let whole = Window::new(begin, until, file.interval)?;
    check_lookback(file, whole.start, whole.end()).map_err(|e| anyhow!("--watch {watch}: {e}"))?;
    // Whether Prometheus answers is known now, not after the first interval and its step.
    runtime.block_on(prometheus.check(Timestamp::now(), file.step))?;
    let mut analysis = Analysis::new(file.config.clone());
    let mut notes = Notes::default();
    let mut failed_in_a_row = 0;
    let mut error = None;
    for index in 0.. {
        let start = begin + file.interval * index;
        let end = start + file.interval;
        if end > until {
            break;
        }
        let ready = end + file.step;
        let wait = ready.duration_since(Timestamp::now());
        if wait.is_positive() {
            std::thread::sleep(wait.unsigned_abs());
        }
        let window = Window::new(start, end, file.interval)?;
        // Up to one step before the next interval is due; each query, and each attempt of it, gives up there too,
        // so a Prometheus that accepts and never answers costs no more than that. The first attempt still gets the
        // client's attempt timeout when the deadline is nearer (with `interval` = `step` it is due at once).
        let deadline = ready + file.interval - file.step;
        let left = deadline.duration_since(Timestamp::now()).max(SignedDuration::ZERO).unsigned_abs();
        let bounded = prometheus.until(std::time::Instant::now() + left.max(attempt_timeout));
        let fetched = fetch_until(deadline, Timestamp::now, std::thread::sleep, || {
            runtime.block_on(fetch_window(&bounded, file, &window))
        });
        let inputs = match fetched {
            Ok(fetched) => {
                failed_in_a_row = 0;
                notes.append(fetched.notes);
                fetched.inputs
            }
            Err(e) if e.is_transient() => {
                failed_in_a_row += 1;
                eprintln!("greenlight: interval {index} ({start} .. {end}) counts as no data: {e}");
                notes.append(Notes::failed(file, &e));
                if failed_in_a_row >= FAILED_IN_A_ROW {
                    error = Some(anyhow!("{e} ({FAILED_IN_A_ROW} intervals in a row failed; the watch stopped)"));
                }
                let observations = vec![Observation::Missing; file.queries.len()];
                vec![IntervalInput { start, end, observations }]
            }
            Err(e) => {
                error = Some(e.into());
                break;
            }
        };
        for input in inputs {
            let interval = analysis.push(input)?;
            if progress {
                let failing: Vec<&str> =
                    interval.metrics.iter().filter(|m| m.verdict == Verdict::Fail).map(|m| m.name.as_str()).collect();
                eprintln!(
                    "guard: interval {} ({} .. {}): {}{}",
                    interval.index,
                    interval.start,
                    interval.end,
                    word(interval.verdict),
                    if failing.is_empty() { String::new() } else { format!(" ({})", failing.join(", ")) }
                );
            }
        }
        if analysis.halted_at().is_some() || error.is_some() {
            break;
        }
    }
    Ok(Watched { report: analysis.report(), notes, error })
}

/// `t`, or the next whole second after it: a watch's intervals start and end at whole seconds, and print so.
fn next_whole_second(t: Timestamp) -> Timestamp {
    match t.subsec_nanosecond() {
        0 => t,
        _ => Timestamp::from_second(t.as_second() + 1).unwrap_or(t),
    }
}

/// Calls `fetch` until it succeeds, fails for a reason that will not pass, or fails at or after `deadline`,
/// pausing between attempts (a second, or less when the deadline is nearer). At least one attempt.
fn fetch_until(
    deadline: Timestamp,
    now: impl Fn() -> Timestamp,
    pause: impl Fn(std::time::Duration),
    mut fetch: impl FnMut() -> Result<Fetched, FetchError>,
) -> Result<Fetched, FetchError> {
    loop {
        match fetch() {
            Err(e) if e.is_transient() => {
                let left = deadline.duration_since(now());
                if !left.is_positive() {
                    return Err(e);
                }
                pause(left.unsigned_abs().min(std::time::Duration::from_secs(1)));
            }
            done => return done,
        }
    }
}

/// RFC 3339 (`2026-11-22T05:00:00Z`) or unix seconds (`1795323600`, decimals allowed).
fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    greenlight_guard::file::parse_time(text)
        .ok_or_else(|| anyhow!("not a time: write RFC 3339 (2026-11-22T05:00:00Z) or unix seconds"))
}

fn word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn human(out: &mut impl std::io::Write, report: &Report) -> std::io::Result<()> {
    let halt = match report.halted_at.and_then(|i| report.intervals.get(i)) {
        Some(interval) => format!(" (halt at interval {}, {})", interval.index, interval.end),
        None => String::new(),
    };
    // Headed as `check` heads its report (`greenlight: FAIL  from..to`): the command, then the verdict in capitals.
    writeln!(out, "greenlight guard: {}{halt}", word(report.verdict).to_uppercase())?;
    for metric in &report.metrics {
        let critical = if metric.critical { ", critical" } else { "" };
        writeln!(out, "  {} {}{critical}: {}", word(metric.verdict), metric.name, metric.reason)?;
    }
    writeln!(out, "intervals:")?;
    for interval in &report.intervals {
        writeln!(out, "  {:>3} {} .. {}  {}", interval.index, interval.start, interval.end, word(interval.verdict))?;
        for metric in &interval.metrics {
            writeln!(out, "        {} {}: {}", word(metric.verdict), metric.name, metric.reason)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_guard::SourceError;

    #[test]
    fn a_failing_interval_is_fetched_again_until_its_deadline() {
        let start = Timestamp::from_second(1_000).unwrap();
        let deadline = start + SignedDuration::from_secs(5);
        let down = || FetchError::Source(SourceError::Http { url: "u".into(), detail: "connection closed".into() });
        let fetched = || Fetched { inputs: Vec::new(), notes: Notes::default() };
        // A clock that moves only when the loop pauses.
        let run = |mut answers: Vec<Result<Fetched, FetchError>>| {
            let clock = std::cell::Cell::new(start);
            let attempts = std::cell::Cell::new(0);
            answers.reverse();
            let got = fetch_until(
                deadline,
                || clock.get(),
                |pause| clock.set(clock.get() + SignedDuration::try_from(pause).unwrap()),
                || {
                    attempts.set(attempts.get() + 1);
                    answers.pop().unwrap_or_else(|| Err(down()))
                },
            );
            (got.is_ok(), attempts.get(), clock.get().duration_since(start).as_secs())
        };
        assert_eq!(run(vec![Err(down()), Err(down()), Ok(fetched())]), (true, 3, 2), "back after two failures");
        assert_eq!(run(vec![]), (false, 6, 5), "down throughout: one attempt a second, up to the deadline");
        let refused = FetchError::Source(SourceError::Refused {
            url: "u".into(),
            query: "q".into(),
            message: "bad_data".into(),
            status: Some(400),
        });
        assert_eq!(run(vec![Err(refused)]), (false, 1, 0), "a refused query is not asked again");
    }

    #[test]
    fn a_watch_starts_at_a_whole_second() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(next_whole_second(t("2026-11-22T21:13:17.965574444Z")).to_string(), "2026-11-22T21:13:18Z");
        assert_eq!(next_whole_second(t("2026-11-22T21:13:17Z")), t("2026-11-22T21:13:17Z"));
    }

    #[test]
    fn times() {
        let t = |s: &str| parse_time(s).map(|t| t.as_millisecond()).map_err(|e| e.to_string());
        assert_eq!(t("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(t("1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(t("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(t("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000));
        assert!(t("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
