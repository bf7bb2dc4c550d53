//! The `--report FILE.html` page: one self-contained page (no scripts, no external files) with an SVG chart per
//! metric, baseline against canary over the intervals, each interval shaded by the metric's verdict, and the
//! reasons beside the chart.
//!
//! Owns: rendering a `Report` to HTML. Pure: it writes no file and decides nothing.

use std::fmt::Write as _;

use crate::report::{MetricInterval, Numbers, Report, Verdict, num};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn shade(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "#e3f4e1",
        Verdict::Fail => "#f9d6d5",
        Verdict::Inconclusive => "#ececec",
    }
}

/// The charted values of one metric in one interval: (baseline, canary), ratios or medians.
fn values(metric: &MetricInterval) -> (Option<f64>, Option<f64>) {
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    match &metric.numbers {
        Numbers::Ratio(r) => (finite(r.baseline_ratio), finite(r.canary_ratio)),
        Numbers::Value(v) => (finite(v.baseline_median), finite(v.canary_median)),
    }
}

/// A polyline per run of consecutive known points.
fn lines(points: &[Option<(f64, f64)>], color: &str, out: &mut String) {
    for run in points.split(Option::is_none) {
        let coords: Vec<String> = run.iter().flatten().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        match coords.len() {
            0 => {}
            1 => {
                let (x, y) = run[0].expect("known");
                let _ = write!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#);
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    coords.join(" ")
                );
            }
        }
    }
}

fn chart(report: &Report, index: usize, out: &mut String) {
    let n = report.intervals.len().max(1);
    let band = (WIDTH - LEFT - RIGHT) / n as f64;
    let series: Vec<(Option<f64>, Option<f64>)> = report.intervals.iter().map(|i| values(&i.metrics[index])).collect();
    let max = series.iter().flat_map(|(b, c)| [*b, *c]).flatten().fold(0.0f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / top);
    let is_ratio = matches!(report.intervals.first().map(|i| &i.metrics[index].numbers), Some(Numbers::Ratio(_)));
    let label = |v: f64| {
        if is_ratio { format!("{}%", num(100.0 * v)) } else { num(v) }
    };
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">"#
    );
    for (i, interval) in report.intervals.iter().enumerate() {
        let metric = &interval.metrics[index];
        let x = LEFT + band * i as f64;
        let _ = write!(
            out,
            r#"<rect class="{1}" x="{x:.1}" y="{TOP}" width="{band:.1}" height="{0:.1}" fill="{2}"><title>interval {3}: {1} — {4}</title></rect>"#,
            HEIGHT - TOP - BOTTOM,
            word(metric.verdict),
            shade(metric.verdict),
            interval.index,
            escape(&metric.reason)
        );
    }
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#555"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#555"/>"##,
        WIDTH - RIGHT
    );
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text><text x="{:.1}" y="{bottom}" font-size="11" text-anchor="end">0</text>"#,
        LEFT - 4.0,
        y(max.max(0.0)) + 4.0,
        escape(&label(max)),
        LEFT - 4.0
    );
    if let (Some(first), Some(last)) = (report.intervals.first(), report.intervals.last()) {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{:.1}" font-size="11">{}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            HEIGHT - 8.0,
            first.start,
            WIDTH - RIGHT,
            HEIGHT - 8.0,
            last.end
        );
    }
    let point = |i: usize, v: Option<f64>| v.map(|v| (LEFT + band * (i as f64 + 0.5), y(v)));
    let baseline: Vec<_> = series.iter().enumerate().map(|(i, (b, _))| point(i, *b)).collect();
    let canary: Vec<_> = series.iter().enumerate().map(|(i, (_, c))| point(i, *c)).collect();
    lines(&baseline, "#2b6cb0", out);
    lines(&canary, "#dd6b20", out);
    if let Some(halt) = report.halted_at.filter(|&i| i < report.intervals.len()) {
        // The moment of the halt: the end of the interval that decided it.
        let x = LEFT + band * (halt + 1) as f64;
        let _ = write!(
            out,
            r##"<g class="halt"><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#c53030" stroke-width="2" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#c53030">halt</text></g>"##,
            x + 3.0,
            TOP + 11.0
        );
    }
    out.push_str("</svg>");
}

/// The whole page. `title` names the run (for example the config file and the window).
pub fn render(report: &Report, title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>greenlight guard: {} — {}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}.metric{{display:flex;gap:24px;\
         align-items:flex-start;margin-bottom:32px}}.reasons{{font-size:13px;max-width:560px}}.pass{{color:#276749}}\
         .fail{{color:#c53030}}.inconclusive{{color:#555}}table{{border-collapse:collapse}}td{{padding:2px 6px;\
         vertical-align:top;border-bottom:1px solid #eee}}.key span{{display:inline-block;width:12px;height:3px;\
         margin:0 4px 3px 12px}}</style></head><body>\n",
        escape(title),
        word(report.verdict)
    );
    let halt = match report.halted_at.and_then(|i| report.intervals.get(i)) {
        Some(interval) => format!(" — halt at interval {} ({})", interval.index, interval.end),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "<h1>greenlight guard: <span class=\"{0}\">{0}</span>{1}</h1><p>{2}</p>\
         <p class=\"key\">{3}<span style=\"background:#2b6cb0\"></span> {4}<span \
         style=\"background:#dd6b20\"></span> · shading: the metric's verdict in each interval (green pass, red \
         fail, grey inconclusive)</p>",
        word(report.verdict),
        escape(&halt),
        escape(title),
        report.groups.baseline().label(),
        report.groups.canary().label()
    );
    for warning in &report.warnings {
        let _ = writeln!(out, "<p class=\"fail\">Warning: {}</p>", escape(warning));
    }
    // The metrics that decided first: those that failed, then those that could not tell, then those that passed; in
    // the config's order within each.
    let mut order: Vec<usize> = (0..report.metrics.len()).collect();
    order.sort_by_key(|&index| match report.metrics[index].verdict {
        Verdict::Fail => 0,
        Verdict::Inconclusive => 1,
        Verdict::Pass => 2,
    });
    for index in order {
        let metric = &report.metrics[index];
        let critical = if metric.critical { " (critical)" } else { "" };
        let _ = write!(
            out,
            "<h2>{0}{1}: <span class=\"{2}\">{2}</span></h2><p>{3}</p><div class=\"metric\">",
            escape(&metric.name),
            critical,
            word(metric.verdict),
            escape(&metric.reason)
        );
        chart(report, index, &mut out);
        out.push_str("<div class=\"reasons\"><table>");
        for interval in &report.intervals {
            let m = &interval.metrics[index];
            let _ = write!(
                out,
                "<tr><td>{0}</td><td class=\"{1}\">{1}</td><td>{2}</td></tr>",
                interval.index,
                word(m.verdict),
                escape(&m.reason)
            );
        }
        out.push_str("</table></div></div>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MetricSpec, Settings, ValidConfig};
    use crate::input::{IntervalInput, Observation, RatioObservation};
    use crate::judge_window;
    use jiff::{SignedDuration, Timestamp};

    #[test]
    fn a_page_with_a_chart_per_metric() {
        let config = ValidConfig::new(Settings::default(), vec![MetricSpec::ratio("errors <5xx>")]).unwrap();
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let inputs = (0..4).map(|i| IntervalInput {
            start: start + SignedDuration::from_secs(60 * i),
            end: start + SignedDuration::from_secs(60 * (i + 1)),
            observations: vec![if i == 1 {
                Observation::Missing
            } else {
                Observation::Ratio(RatioObservation::new((10.0, 1000.0), (40.0, 1000.0)))
            }],
        });
        let mut report = judge_window(config, inputs).unwrap();
        report.warnings = vec!["`sum(x)`: partial response <store 2>".to_owned()];
        let page = render(&report, "guard.toml <test>");
        assert!(page.contains("Warning: `sum(x)`: partial response &lt;store 2&gt;"), "{page}");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(page.matches("<rect").count(), 4);
        assert!(page.contains("errors &lt;5xx&gt;"));
        assert!(page.contains("guard.toml &lt;test&gt;"));
        assert!(!page.contains("<script"));
        assert!(page.contains(r##"<rect class="fail" "##) && page.contains("#f9d6d5"), "a failed interval is shaded");
        assert_eq!(page.contains(r#"<g class="halt">"#), report.halted_at.is_some(), "the halt is marked");
        assert!(page.contains("<polyline"), "the known intervals after the gap are joined");
        assert!(page.contains("<circle"), "the single interval before the gap is a dot");
    }

    #[test]
    fn a_failed_metric_comes_first() {
        let metrics = vec![MetricSpec::ratio("calm"), MetricSpec::ratio("errors")];
        let config = ValidConfig::new(Settings::default(), metrics).unwrap();
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let inputs = (0..4).map(|i| IntervalInput {
            start: start + SignedDuration::from_secs(60 * i),
            end: start + SignedDuration::from_secs(60 * (i + 1)),
            observations: vec![
                Observation::Ratio(RatioObservation::new((10.0, 1000.0), (10.0, 1000.0))),
                Observation::Ratio(RatioObservation::new((10.0, 1000.0), (60.0, 1000.0))),
            ],
        });
        let report = judge_window(config, inputs).unwrap();
        assert_eq!(report.metrics[1].verdict, Verdict::Fail);
        let page = render(&report, "guard.toml");
        let (errors, calm) = (page.find("<h2>errors").unwrap(), page.find("<h2>calm").unwrap());
        assert!(errors < calm, "the failed metric is first");
    }
}
