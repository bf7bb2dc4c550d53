//! `greenlight guard`: judge a past window of a canary against its baseline in Prometheus.
//!
//! Owns: reading `guard.toml`, parsing `--start/--end`, running the Prometheus queries on a small runtime, and
//! printing the report (human or JSON). Does not own: the file's shape, the queries or the judges
//! (`greenlight-guard`), or HTTP behaviour (`greenlight-http`).

use std::io::Write as _;

use anyhow::{Context as _, anyhow, bail};
use greenlight_guard::{GuardFile, Prometheus, Report, Verdict, Window, fetch_window, judge_window};
use greenlight_http::Client;
use jiff::Timestamp;

use crate::cli::{ContentsFormat, GuardArgs};

pub fn run(args: &GuardArgs, _color: bool) -> anyhow::Result<u8> {
    let origin = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {origin}"))?;
    let file = GuardFile::parse(&text, &origin)?;
    let start = parse_time(&args.start).with_context(|| format!("--start `{}`", args.start))?;
    let end = parse_time(&args.end).with_context(|| format!("--end `{}`", args.end))?;
    if end <= start {
        bail!("--end {end} is not after --start {start}");
    }
    let window = Window::new(start, end, file.interval)?;
    let client = Client::new().map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let prometheus = Prometheus::new(client, &file.prometheus)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let inputs = runtime.block_on(fetch_window(&prometheus, &file, &window))?;
    let report = judge_window(file.config.clone(), inputs)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ContentsFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ContentsFormat::Human => human(&mut out, &report)?,
    }
    out.flush()?;
    Ok(report.verdict.exit_code())
}

/// RFC 3339 (`2026-11-22T05:00:00Z`) or unix seconds (`1795323600`, decimals allowed).
fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Timestamp::from_millisecond((seconds * 1000.0).round() as i64)
            .map_err(|e| anyhow!("out of range: {e}"));
    }
    text.parse::<Timestamp>()
        .map_err(|_| anyhow!("not a time: write RFC 3339 (2026-11-22T05:00:00Z) or unix seconds"))
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
    writeln!(out, "guard: {}{halt}", word(report.verdict))?;
    for metric in &report.metrics {
        let critical = if metric.critical { ", critical" } else { "" };
        writeln!(
            out,
            "  {} {}{critical}: {}",
            word(metric.verdict),
            metric.name,
            metric.reason
        )?;
    }
    writeln!(out, "intervals:")?;
    for interval in &report.intervals {
        writeln!(
            out,
            "  {:>3} {} .. {}  {}",
            interval.index,
            interval.start,
            interval.end,
            word(interval.verdict)
        )?;
        for metric in &interval.metrics {
            writeln!(
                out,
                "        {} {}: {}",
                word(metric.verdict),
                metric.name,
                metric.reason
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
