//! `greenlight guard` end to end against a real Prometheus: each test writes OpenMetrics, backfills it with
//! `promtool tsdb create-blocks-from openmetrics`, starts its own `prometheus` on a free loopback port, and judges an
//! explicit past window. `scripts/test` installs Prometheus (the Debian package ships both binaries).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use greenlight_testkit::browser::Browser;
use greenlight_testkit::scripted::{Reply, Scripted};
use serde_json::Value;

const STEP: i64 = 15;
const MINUTES: i64 = 30;

/// Traffic of one group in one minute.
#[derive(Clone, Copy)]
struct Traffic {
    /// Requests per second.
    rps: f64,
    error_ratio: f64,
    /// Seconds; `None`: the group exports no latency series at all.
    latency: Option<f64>,
}

const HEALTHY: Traffic = Traffic { rps: 100.0, error_ratio: 0.01, latency: Some(0.2) };

/// A deterministic noise source in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// The start of the backfilled data: whole hours, well older than the 3 h Prometheus keeps in its head block.
fn data_start() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    now - now % 3600 - 10 * 3600
}

/// OpenMetrics text for a baseline (`v1`) and a canary (`v2`), minute by minute, scraped every 15 s.
fn openmetrics(start: i64, baseline: impl Fn(i64) -> Traffic, canary: impl Fn(i64) -> Traffic) -> String {
    let groups: [(&str, &dyn Fn(i64) -> Traffic); 2] = [("v1", &baseline), ("v2", &canary)];
    let mut requests = String::from("# TYPE http_requests counter\n");
    let mut latency = String::from("# TYPE latency_seconds gauge\n");
    for (seed, (version, traffic)) in groups.iter().enumerate() {
        let mut noise = Noise(seed as u64 + 7);
        let (mut ok, mut errors) = (String::new(), String::new());
        let (mut ok_total, mut error_total) = (0.0f64, 0.0f64);
        let mut lat = String::new();
        for k in 0..=(MINUTES * 60 / STEP) {
            let t = start + k * STEP;
            // The increments of sample k are the traffic of (t - 15 s, t]; its gauge reads that minute too.
            let now = traffic(((k - 1).max(0) * STEP) / 60);
            if k > 0 {
                let n = (now.rps * STEP as f64 * (1.0 + 0.1 * noise.next())).round();
                let bad = (n * now.error_ratio * (1.0 + 0.3 * noise.next())).round();
                ok_total += n - bad;
                error_total += bad;
            }
            writeln!(ok, "http_requests_total{{version=\"{version}\",status=\"200\"}} {ok_total} {t}").unwrap();
            writeln!(errors, "http_requests_total{{version=\"{version}\",status=\"500\"}} {error_total} {t}").unwrap();
            if let Some(l) = now.latency {
                writeln!(lat, "latency_seconds{{version=\"{version}\"}} {:.5} {t}", l * (1.0 + 0.05 * noise.next()))
                    .unwrap();
            }
        }
        requests.push_str(&ok);
        requests.push_str(&errors);
        latency.push_str(&lat);
    }
    format!("{requests}{latency}# EOF\n")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is not on PATH: these tests need a real Prometheus; scripts/test installs it (apt-get install prometheus)"
    );
}

/// A Prometheus serving backfilled data; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

impl Prometheus {
    fn start(openmetrics: &str) -> Self {
        require("promtool");
        require("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let input = dir.path().join("metrics.om");
        if !openmetrics.is_empty() {
            std::fs::write(&input, openmetrics).unwrap();
            let out = Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&input)
                .arg(&data)
                .output()
                .unwrap();
            assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\nscrape_configs: []\n").unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=3650d")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if get(port, "/-/ready").is_some_and(|a| a.starts_with("HTTP/1.0 200") || a.starts_with("HTTP/1.1 200")) {
                return Self { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
                panic!("prometheus exited with {status}: {log}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("prometheus on port {port} did not become ready");
    }
}

const ERRORS: &str = r#"
[[metrics]]
name = "http-errors"
kind = "ratio"
bad = 'sum(increase(http_requests_total{status="500",$group}[1m]))'
total = 'sum(increase(http_requests_total{$group}[1m]))'
direction = "increase"
min_total = 200
critical = true
"#;

const LATENCY: &str = r#"
[[metrics]]
name = "latency"
kind = "value"
query = 'max(latency_seconds{$group})'
direction = "increase"
tolerance = 0.10
"#;

fn config(dir: &Path, url: &str, metrics: &[&str]) -> PathBuf {
    let path = dir.join("guard.toml");
    let text = format!(
        "prometheus = \"{url}\"\nstep = \"15s\"\ninterval = \"1m\"\nfail_after = 2\nrecover_after = 2\n\n\
         [groups]\nbaseline = 'version=\"v1\"'\ncanary = 'version=\"v2\"'\n{}",
        metrics.concat()
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
    /// The `--report` page, when one was asked for.
    page: Option<String>,
}

/// Judges minutes 2..MINUTES of the data.
/// `greenlight guard --config CONFIG`, to add a window and options to.
fn guard_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_greenlight"));
    command.arg("guard").arg("--config").arg(config);
    command
}

fn guard(config: &Path, start: i64) -> Run {
    let out = guard_output(config, start, "json");
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        code: out.status.code().expect("exited"),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8(out.stderr).unwrap(),
        page: None,
    }
}

fn guard_output(config: &Path, start: i64, format: &str) -> std::process::Output {
    guard_between(config, start + 120, start + MINUTES * 60, format)
}

fn guard_between(config: &Path, from: i64, to: i64, format: &str) -> std::process::Output {
    guard_command(config)
        .args(["--start", &from.to_string(), "--end", &to.to_string()])
        .args(["--format", format])
        .output()
        .unwrap()
}

fn scenario(baseline: impl Fn(i64) -> Traffic, canary: impl Fn(i64) -> Traffic, metrics: &[&str]) -> Run {
    let start = data_start();
    let prometheus = Prometheus::start(&openmetrics(start, baseline, canary));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &prometheus.url, metrics);
    let run = guard(&config, start);
    assert!(run.json != Value::Null, "no JSON report; exit {}: {}", run.code, run.stderr);
    let page = dir.path().join("report.html");
    let with_page = guard_command(&config)
        .args(["--start", &(start + 120).to_string(), "--end", &(start + MINUTES * 60).to_string()])
        .arg("--report")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(with_page.status.code(), Some(run.code));
    let mut run = run;
    run.page = Some(std::fs::read_to_string(&page).unwrap());
    let human = guard_output(&config, start, "human");
    assert_eq!(human.status.code(), Some(run.code));
    let text = String::from_utf8(human.stdout).unwrap();
    let verdict = run.json["verdict"].as_str().unwrap();
    // As `check` heads its report (`greenlight: FAIL  …`): the command, then the verdict in capitals.
    assert!(text.starts_with(&format!("greenlight guard: {}", verdict.to_uppercase())), "{text}");
    eprintln!("{text}");
    run
}

fn metric<'a>(run: &'a Run, name: &str) -> &'a Value {
    run.json["metrics"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()
}

fn summary(run: &Run) -> String {
    let metrics: Vec<String> = run.json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}: {} ({})", m["name"], m["verdict"], m["reason"]))
        .collect();
    format!("exit {}, {}: {}", run.code, run.json["verdict"], metrics.join("; "))
}

#[test]
fn healthy_canary_passes() {
    let run = scenario(|_| HEALTHY, |_| HEALTHY, &[ERRORS, LATENCY]);
    let page = run.page.as_deref().expect("the HTML report");
    assert_eq!(page.matches("<svg").count(), 2);
    assert!(page.contains("<polyline"));
    assert_eq!(run.code, 0, "{}", summary(&run));
    assert_eq!(run.json["verdict"], "pass");
    assert_eq!(run.json["intervals"].as_array().unwrap().len(), (MINUTES - 2) as usize);
    assert_eq!(metric(&run, "http-errors")["verdict"], "pass", "{}", summary(&run));
}

#[test]
fn three_times_the_error_ratio_fails() {
    let bad = Traffic { error_ratio: 0.03, ..HEALTHY };
    let run = scenario(|_| HEALTHY, move |_| bad, &[ERRORS, LATENCY]);
    assert_eq!(run.code, 1, "{}", summary(&run));
    assert_eq!(run.json["verdict"], "fail");
    assert_eq!(metric(&run, "http-errors")["verdict"], "fail");
    assert!(run.json["halted_at"].as_u64().unwrap() <= 3, "{}", summary(&run));
}

/// What Chromium draws of the `--report` page: a chart per metric, laid out, with a line for each group; every interval
/// shaded with the verdict the JSON report gives it; the halt marked at the end of the interval the report names; the
/// reasons beside each chart; and nothing run or loaded from anywhere (the page is self-contained).
#[test]
fn the_report_page_as_a_browser_draws_it() {
    let bad = Traffic { error_ratio: 0.03, ..HEALTHY };
    let run = scenario(|_| HEALTHY, move |_| bad, &[ERRORS, LATENCY]);
    assert_eq!(run.code, 1, "{}", summary(&run));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    std::fs::write(&path, run.page.as_deref().unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = runtime.block_on(async {
        let browser = Browser::start().await;
        browser.open(&format!("file://{}", path.display())).await;
        let page = browser.run(DRAWN).await;
        browser.close().await;
        page
    });

    assert_eq!(page["resources"], serde_json::json!([]), "the page loads nothing: {page}");
    assert_eq!(page["scripts"], 0, "the page runs nothing: {page}");
    let heading = page["heading"].as_str().unwrap();
    assert!(heading.starts_with("greenlight guard: fail — halt at interval"), "{heading}");
    let intervals = run.json["intervals"].as_array().unwrap();
    let halted = run.json["halted_at"].as_u64().unwrap() as usize;
    let charts = page["charts"].as_array().unwrap();
    assert_eq!(page["names"], serde_json::json!(["http-errors (critical): fail", "latency: pass"]), "{page}");
    // Charts come failed metrics first: each is matched to its metric in the JSON by name.
    let metrics = run.json["metrics"].as_array().unwrap();
    for (drawn, chart) in charts.iter().enumerate() {
        let name = page["names"][drawn].as_str().unwrap();
        let index = metrics.iter().position(|m| name.starts_with(m["name"].as_str().unwrap())).unwrap();
        assert!(chart["width"].as_f64().unwrap() > 600.0 && chart["height"].as_f64().unwrap() > 200.0, "{chart}");
        let verdicts: Vec<&Value> = intervals.iter().map(|i| &i["metrics"][index]["verdict"]).collect();
        let shaded: Vec<&Value> = chart["shaded"].as_array().unwrap().iter().collect();
        assert_eq!(shaded, verdicts, "chart {index}: each interval shaded with its verdict");
        assert_eq!(chart["rows"].as_u64(), Some(intervals.len() as u64), "a reason per interval beside the chart");
        for colour in ["#2b6cb0", "#dd6b20"] {
            let drawn = chart["lines"].as_array().unwrap().iter().find(|l| l["stroke"] == colour);
            let drawn = drawn.unwrap_or_else(|| panic!("chart {index} has no {colour} line: {chart}"));
            assert!(drawn["points"].as_u64().unwrap() >= 2 && drawn["width"].as_f64().unwrap() > 100.0, "{drawn}");
        }
        let band = &chart["bands"][halted];
        let end = band[0].as_f64().unwrap() + band[1].as_f64().unwrap();
        assert!((chart["halt"].as_f64().unwrap() - end).abs() < 0.2, "chart {index}: halt drawn at {end}: {chart}");
    }
    assert_eq!(charts.len(), 2);
}

/// Reads what the browser laid out and drew of the report page.
const DRAWN: &str = r#"
const charts = [...document.querySelectorAll("svg")].map(svg => {
  const box = svg.getBoundingClientRect();
  const halt = svg.querySelector("g.halt line");
  const rects = [...svg.querySelectorAll("rect")];
  return {
    width: box.width,
    height: box.height,
    shaded: rects.map(r => r.getAttribute("class")),
    bands: rects.map(r => [r.x.baseVal.value, r.width.baseVal.value]),
    lines: [...svg.querySelectorAll("polyline")].map(p =>
      ({ stroke: p.getAttribute("stroke"), points: p.points.numberOfItems, width: p.getBBox().width })),
    halt: halt ? halt.x1.baseVal.value : null,
    rows: svg.parentElement.querySelector(".reasons table").rows.length,
  };
});
return {
  heading: document.querySelector("h1").innerText,
  names: [...document.querySelectorAll("h2")].map(h => h.innerText),
  charts,
  resources: performance.getEntriesByType("resource").map(e => e.name),
  scripts: document.scripts.length,
};
"#;

#[test]
fn latency_regression_fails() {
    let slow = Traffic { latency: Some(0.4), ..HEALTHY };
    let run = scenario(|_| HEALTHY, move |_| slow, &[ERRORS, LATENCY]);
    assert_eq!(run.code, 1, "{}", summary(&run));
    assert_eq!(metric(&run, "latency")["verdict"], "fail", "{}", summary(&run));
    assert_eq!(metric(&run, "http-errors")["verdict"], "pass", "{}", summary(&run));
}

#[test]
fn errors_against_a_baseline_without_errors_fail() {
    let clean = Traffic { error_ratio: 0.0, ..HEALTHY };
    let failing = Traffic { error_ratio: 0.02, ..HEALTHY };
    let run = scenario(move |_| clean, move |_| failing, &[ERRORS]);
    assert_eq!(run.code, 1, "{}", summary(&run));
    assert_eq!(metric(&run, "http-errors")["verdict"], "fail");
}

#[test]
fn low_traffic_is_inconclusive() {
    let quiet = Traffic { rps: 1.0, ..HEALTHY };
    let run = scenario(move |_| quiet, move |_| quiet, &[ERRORS]);
    assert_eq!(run.code, 3, "{}", summary(&run));
    assert_eq!(run.json["verdict"], "inconclusive");
    let reason = metric(&run, "http-errors")["reason"].as_str().unwrap().to_owned();
    let first = &run.json["intervals"][0]["metrics"][0]["reason"];
    assert!(first.as_str().unwrap().contains("min_total"), "{reason} / {first}");
}

/// `bad` and `total` swapped: every request counted as bad. Clamped, both groups would read 100 % errors and pass;
/// instead each interval is no data, said in its reason and once among the warnings.
#[test]
fn bad_and_total_swapped_are_no_data_and_said() {
    let swapped = ERRORS
        .replace("bad = 'sum(increase(http_requests_total{status=\"500\",$group}[1m]))'", "bad = 'SWAP'")
        .replace(
            "total = 'sum(increase(http_requests_total{$group}[1m]))'",
            "total = 'sum(increase(http_requests_total{status=\"500\",$group}[1m]))'",
        )
        .replace("bad = 'SWAP'", "bad = 'sum(increase(http_requests_total{$group}[1m]))'")
        // Enough 5xx to judge by, so that clamped counts would pass.
        .replace("min_total = 200", "min_total = 10");
    let run = scenario(|_| HEALTHY, |_| Traffic { error_ratio: 0.03, ..HEALTHY }, &[&swapped]);
    assert_eq!(run.code, 3, "{}", summary(&run));
    let errors = metric(&run, "http-errors");
    assert!(errors["reason"].as_str().unwrap().contains("are `bad` and `total` swapped?"), "{}", summary(&run));
    let first = run.json["intervals"][0]["metrics"][0]["reason"].as_str().unwrap();
    assert!(first.starts_with("no data: `bad` exceeds `total` for the baseline ("), "{first}");
    let warnings = run.json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(run.stderr.contains("greenlight: warning: metric `http-errors`: `bad` exceeded `total`"), "{}", run.stderr);
}

#[test]
fn a_missing_series_is_inconclusive() {
    let silent = Traffic { latency: None, ..HEALTHY };
    let critical_latency = LATENCY.replace("tolerance = 0.10", "tolerance = 0.10\ncritical = true");
    let run = scenario(|_| HEALTHY, move |_| silent, &[ERRORS, &critical_latency]);
    assert_eq!(run.code, 3, "{}", summary(&run));
    assert_eq!(metric(&run, "latency")["verdict"], "inconclusive");
    let reason = metric(&run, "latency")["reason"].as_str().unwrap();
    assert_eq!(reason, "no data: `query` returned no series for the canary over the whole window");
    assert_eq!(metric(&run, "http-errors")["verdict"], "pass", "{}", summary(&run));
}

/// A typo in `total` for one group: its reasons name the query and the group (not "no events"), and a `total` with
/// no series over the whole window is an error (exit 2, notes §1.7), said after the report.
#[test]
fn a_total_without_any_series_is_an_error_after_the_report() {
    let typo = ERRORS.replace(
        "total = 'sum(increase(http_requests_total{$group}",
        "total = 'sum(increase(http_request_total{$group}",
    );
    let run = scenario(|_| HEALTHY, |_| HEALTHY, &[&typo]);
    assert_eq!(run.code, 2, "{}", summary(&run));
    let first = run.json["intervals"][0]["metrics"][0]["reason"].as_str().unwrap();
    assert_eq!(first, "no data: `total` returned no series for either group");
    assert_eq!(
        run.stderr.trim_end(),
        "greenlight: error: metric `http-errors`: `total` returned no series for either group over the whole window: \
         check its selector"
    );
    // A typo in the canary's matchers: the canary named, with its matchers.
    let start = data_start();
    let prometheus = Prometheus::start(&openmetrics(start, |_| HEALTHY, |_| HEALTHY));
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &prometheus.url, &[ERRORS]);
    let text =
        std::fs::read_to_string(&path).unwrap().replace("canary = 'version=\"v2\"'", "canary = 'verison=\"v2\"'");
    std::fs::write(&path, text).unwrap();
    let run = guard(&path, start);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let reason = metric(&run, "http-errors")["reason"].as_str().unwrap();
    assert_eq!(reason, "no data: `total` returned no series for the canary over the whole window");
    assert!(run.stderr.contains("check its selector and the canary's matchers (`verison=\"v2\"`)"), "{}", run.stderr);
}

/// `bad` with no series in either group is no errors (Prometheus has no series for a counter never incremented), but
/// said, in case errors were expected.
#[test]
fn a_bad_without_any_series_is_said() {
    let typo = ERRORS.replace("status=\"500\"", "stauts=\"500\"");
    let run = scenario(|_| HEALTHY, |_| HEALTHY, &[&typo]);
    let reason = metric(&run, "http-errors")["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("`bad` matched no series for either group: check its selector if errors were expected"),
        "{reason}"
    );
}

/// `[before_after]` on the canary's series (`version="v2"`): deployed at minute 17, compared with minutes 4..17.
const DEPLOY_MINUTE: i64 = 17;

fn before_after(canary: impl Fn(i64) -> Traffic, window: (i64, i64)) -> Run {
    let start = data_start();
    let prometheus = Prometheus::start(&openmetrics(start, |_| HEALTHY, canary));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let deployed_at = start + DEPLOY_MINUTE * 60;
    let text = format!(
        "prometheus = \"{}\"\nstep = \"15s\"\ninterval = \"1m\"\n\n[before_after]\ndeployed_at = \"{deployed_at}\"\n\
         lookback = \"13m\"\nmatchers = 'version=\"v2\"'\n{ERRORS}{LATENCY}",
        prometheus.url
    );
    std::fs::write(&path, text).unwrap();
    let out = guard_between(&path, start + window.0 * 60, start + window.1 * 60, "json");
    Run {
        code: out.status.code().expect("exited"),
        json: serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap_or(Value::Null),
        stderr: String::from_utf8(out.stderr).unwrap(),
        page: None,
    }
}

#[test]
fn before_after_fails_when_the_series_worsens_after_the_deploy() {
    let worse = Traffic { error_ratio: 0.03, ..HEALTHY };
    let run = before_after(move |minute| if minute >= DEPLOY_MINUTE { worse } else { HEALTHY }, (17, 30));
    assert_eq!(run.code, 1, "{}; {}", run.stderr, summary(&run));
    assert_eq!(metric(&run, "http-errors")["verdict"], "fail", "{}", summary(&run));
    assert_eq!(metric(&run, "latency")["verdict"], "pass", "{}", summary(&run));
    // Judged interval k met lookback interval k: 13 of them, the 3 % after the deploy against the 1 % before.
    assert_eq!(run.json["intervals"].as_array().unwrap().len(), 13);
    let first = &run.json["intervals"][0]["metrics"][0];
    assert!(first["canary_ratio"].as_f64().unwrap() > 2.0 * first["baseline_ratio"].as_f64().unwrap(), "{first}");
}

#[test]
fn before_after_passes_a_series_that_did_not_change() {
    let run = before_after(|_| HEALTHY, (17, 30));
    assert_eq!(run.code, 0, "{}; {}", run.stderr, summary(&run));
    assert_eq!(metric(&run, "http-errors")["verdict"], "pass", "{}", summary(&run));
}

/// Every text a run shows people: the JSON's reasons and warnings, the human report, stderr of both, and the
/// `--report` page.
fn said_to_people(config: &Path, from: i64, to: i64) -> Vec<String> {
    let json = guard_between(config, from, to, "json");
    let report: Value = serde_json::from_slice(&json.stdout).expect("a JSON report");
    let mut texts = vec![String::from_utf8(json.stderr).unwrap()];
    let reasons = |metrics: &Value| -> Vec<String> {
        metrics.as_array().unwrap().iter().map(|m| m["reason"].as_str().unwrap().to_owned()).collect()
    };
    texts.extend(reasons(&report["metrics"]));
    for interval in report["intervals"].as_array().unwrap() {
        texts.extend(reasons(&interval["metrics"]));
    }
    texts.extend(report["warnings"].as_array().into_iter().flatten().map(|w| w.as_str().unwrap().to_owned()));
    let human = guard_between(config, from, to, "human");
    texts.push(String::from_utf8(human.stdout).unwrap());
    texts.push(String::from_utf8(human.stderr).unwrap());
    let page = config.with_file_name("report.html");
    let out = guard_command(config)
        .args(["--start", &from.to_string(), "--end", &to.to_string(), "--report"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), human.status.code());
    texts.push(std::fs::read_to_string(&page).unwrap());
    texts
}

/// `[before_after]` compares a series after the deploy with itself before it: no canary and no baseline in anything
/// a run says, but "after" and "before" the deploy; `[groups]` keeps the canary and the baseline.
#[test]
fn before_after_says_after_and_before_the_deploy_never_canary_or_baseline() {
    let start = data_start();
    let worse = Traffic { error_ratio: 0.03, ..HEALTHY };
    // Errors rise at the deploy (fail), and the latency series only exists from the deploy on (no series before it).
    let canary = move |minute| if minute >= DEPLOY_MINUTE { worse } else { Traffic { latency: None, ..HEALTHY } };
    let prometheus = Prometheus::start(&openmetrics(start, |_| HEALTHY, canary));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let text = format!(
        "prometheus = \"{}\"\nstep = \"15s\"\ninterval = \"1m\"\n\n[before_after]\n\
         deployed_at = \"{}\"\nlookback = \"13m\"\nmatchers = 'version=\"v2\"'\n{ERRORS}{LATENCY}",
        prometheus.url,
        start + DEPLOY_MINUTE * 60
    );
    std::fs::write(&path, text).unwrap();
    let texts = said_to_people(&path, start + DEPLOY_MINUTE * 60, start + 30 * 60);
    let all = texts.join("\n");
    for word in ["canary", "baseline"] {
        let found: Vec<&str> =
            texts.iter().flat_map(|t| t.lines()).filter(|line| line.to_lowercase().contains(word)).collect();
        assert!(found.is_empty(), "`{word}` in a [before_after] run: {found:#?}");
    }
    assert!(all.contains("the ratio after the deploy is above 1.2× that before it"), "{all}");
    assert!(all.contains("`query` returned no series before the deploy"), "{all}");
    assert!(all.contains(" vs before ") && all.contains("before<span"), "counts and the chart's key: {all}");
    // The same data as [groups] (v1 beside v2): canary and baseline.
    let groups = config(dir.path(), &prometheus.url, &[ERRORS, LATENCY]);
    let all = said_to_people(&groups, start + 2 * 60, start + 30 * 60).join("\n");
    assert!(all.contains("the canary's ratio is above 1.2× the baseline's"), "{all}");
    assert!(all.contains("`query` returned no series for the canary"), "{all}");
}

#[test]
fn before_after_refuses_a_window_beyond_its_lookback() {
    // 17 + 13 = 30: a window to minute 31 would judge an interval without a lookback interval of its own.
    let run = before_after(|_| HEALTHY, (17, 31));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("[before_after]") && run.stderr.contains("lookback"), "{}", run.stderr);
    let early = before_after(|_| HEALTHY, (16, 20));
    assert_eq!(early.code, 2, "a window before the deploy: {}", early.stderr);
}

#[test]
fn a_single_interval_spike_does_not_halt() {
    let run = scenario(
        |_| HEALTHY,
        |minute| {
            if minute == 10 { Traffic { error_ratio: 0.3, ..HEALTHY } } else { HEALTHY }
        },
        &[ERRORS, LATENCY],
    );
    assert_ne!(run.code, 1, "{}", summary(&run));
    assert_ne!(run.json["verdict"], "fail");
    assert!(run.json["halted_at"].is_null());
}

/// A loopback port of the test's own that refuses every connection, for as long as the socket lives: bound, so no
/// other test can take it, but never listening, so Linux answers a connection with a reset.
fn refusing_port() -> (socket2::Socket, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

#[test]
fn prometheus_down_is_an_error_naming_the_url() {
    let (_refusing, port) = refusing_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let config = config(dir.path(), &url, &[ERRORS]);
    let run = guard(&config, data_start());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&url), "{}", run.stderr);
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

/// A federated Prometheus (Thanos, Cortex) answers a query some of whose stores failed with a success and a warning:
/// the guard judges what it got, and says so on stderr and in the JSON.
#[test]
fn warnings_of_a_partial_answer_are_said() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let partial = r#"{"status":"success","data":{"resultType":"matrix","result":[]},
        "warnings":["partial response: store 10.0.0.7:10901 did not answer"]}"#;
    let source = runtime.block_on(Scripted::start([], Reply::json(partial)));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), source.url("").as_str().trim_end_matches('/'), &[ERRORS]);
    let run = guard(&config, data_start());
    assert_eq!(run.code, 2, "no series of `total` at all is an error, after the report: {}", run.stderr);
    let said = |l: &&str| {
        l.starts_with("greenlight: Prometheus warned: `sum(increase(http_requests_total{status=\"500\",")
            && l.ends_with("[1m]))`: partial response: store 10.0.0.7:10901 did not answer")
    };
    assert_eq!(run.stderr.lines().filter(said).count(), 2, "the bad events of both groups: {}", run.stderr);
    let warnings = run.json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 4, "each query's warning once: {warnings:?}");
}

#[test]
fn a_bad_query_is_an_error_naming_the_url() {
    let start = data_start();
    let prometheus = Prometheus::start(&openmetrics(start, |_| HEALTHY, |_| HEALTHY));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &prometheus.url, &[&LATENCY.replace("max(", "max((")]);
    let run = guard(&config, start);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&prometheus.url), "{}", run.stderr);
    assert!(run.stderr.contains("bad_data"), "{}", run.stderr);
}

/// A user name and password in `prometheus` go to Prometheus, never to stderr: an unreachable server, a refused
/// query and an answer that is not a range-query result all name the URL without them.
#[test]
fn errors_never_show_the_password_in_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let check = |base: &str, shown: &str| {
        let config = config(dir.path(), base, &[ERRORS]);
        let run = guard(&config, data_start());
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(shown), "{}", run.stderr);
        assert!(!run.stderr.contains("secret") && !run.stderr.contains("user:"), "{}", run.stderr);
        run.stderr
    };
    let (_refusing, port) = refusing_port();
    let down = format!("127.0.0.1:{port}");
    check(&format!("http://user:secret@{down}"), &format!("http://{down}/api/v1/query_range"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refusing = runtime.block_on(Scripted::start(
        [],
        Reply::status(422).body(r#"{"status":"error","errorType":"execution","error":"too many samples"}"#),
    ));
    let url = refusing.url("/");
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap();
    let stderr =
        check(&format!("http://user:secret@{host}:{port}"), &format!("http://{host}:{port}/api/v1/query_range"));
    assert!(stderr.contains("refused the query"), "{stderr}");
    let garbled = runtime.block_on(Scripted::start([], Reply::status(200).body("<html>")));
    let port = garbled.url("/").port().unwrap();
    let stderr =
        check(&format!("http://user:secret@{host}:{port}"), &format!("http://{host}:{port}/api/v1/query_range"));
    assert!(stderr.contains("not a range-query result"), "{stderr}");
}

/// A duration beyond 366 days is a clear error (exit 2), never a panic of the time arithmetic (exit 101).
#[test]
fn durations_longer_than_366_days_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", &[ERRORS]);
    let out = guard_command(&path).args(["--watch", "4000000d"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--watch `4000000d` is longer than 366 days"), "{stderr}");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[groups]\nbaseline = 'version=\"v1\"'\ncanary = 'version=\"v2\"'",
        "[before_after]\ndeployed_at = \"2026-11-22T05:00:00Z\"\nlookback = \"4000000d\"",
    );
    std::fs::write(&path, text).unwrap();
    let run = guard(&path, data_start());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("guard.toml:9:12: `4000000d` is longer than 366 days"), "{}", run.stderr);
}

/// Without a window, the error says both ways to give one.
#[test]
fn without_a_window_the_error_names_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", &[ERRORS]);
    let out = guard_command(&path).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "greenlight: error: no window to judge: give --start and --end for a past window, or --watch DURATION to \
         judge live"
    );
    // Each of the three ways to give half of one, or both, is refused too.
    for args in [&["--start", "1"][..], &["--end", "1"], &["--start", "1", "--end", "2", "--watch", "1m"]] {
        let out = guard_command(&path).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A window that has not ended yet has no data to judge: an error that says so and points at `--watch`, never a
/// silent inconclusive. An end within one step of now is still allowed, for clock skew.
#[test]
fn a_window_ending_in_the_future_is_an_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    let source = runtime.block_on(Scripted::start([], Reply::json(empty)));
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), source.url("").as_str().trim_end_matches('/'), &[ERRORS]);
    let out = guard_between(&path, 1_893_456_000, 1_893_456_300, "json");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("greenlight: error: --end 2030-01-01T00:05:00Z is in the future"), "{stderr}");
    assert!(stderr.contains("use --watch"), "{stderr}");
    assert_eq!(source.hits(), 0, "nothing was queried");
    // Ending now, to the second, is a past window (its last interval, if any, is judged as Prometheus has it).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let out = guard_between(&path, now - 300, now, "json");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("in the future"), "{stderr}");
    // Judged: the scripted server's empty answers leave `total` without series, an error after the report.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`total` returned no series") && !out.stdout.is_empty(), "{stderr}");
}

#[test]
fn a_bad_config_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", &[&ERRORS.replace("min_total", "min_totl")]);
    let run = guard(&path, data_start());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("guard.toml:17:1: unknown field `min_totl`"), "{}", run.stderr);
}

/// `--watch` judges live from now. Live data comes from PromQL that needs no samples: `vector(N)` with the group
/// spliced in, so the canary's error ratio is 3 × the baseline's in every interval.
fn watch(prometheus: &Prometheus, groups: (&str, &str), bad: &str, total: &str, duration: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let text = format!(
        "prometheus = \"{}\"\nstep = \"1s\"\ninterval = \"1s\"\nfail_after = 2\n\n[groups]\nbaseline = '{}'\n\
         canary = '{}'\n\n[[metrics]]\nname = \"errors\"\nkind = \"ratio\"\nbad = '{bad}'\ntotal = '{total}'\n\
         critical = true\n",
        prometheus.url, groups.0, groups.1
    );
    std::fs::write(&path, text).unwrap();
    let out = guard_command(&path).args(["--watch", duration, "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        code: out.status.code().expect("exited"),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8(out.stderr).unwrap(),
        page: None,
    }
}

#[test]
fn watch_halts_on_a_live_regression() {
    let prometheus = Prometheus::start("");
    let run = watch(&prometheus, ("10", "30"), "vector($group)", "vector(1000 + 0 * $group)", "60s");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["verdict"], "fail");
    let intervals = run.json["intervals"].as_array().unwrap().len();
    let halted_at = run.json["halted_at"].as_u64().unwrap() as usize;
    assert_eq!(intervals, halted_at + 1, "the watch stops at the halt");
    // The watch's intervals start at whole seconds, and are printed so.
    let start = run.json["intervals"][0]["start"].as_str().unwrap();
    assert!(start.ends_with("Z") && !start.contains('.'), "{start}");
    assert!(halted_at < 5, "{}", summary(&run));
}

#[test]
fn watch_without_data_is_inconclusive_when_the_time_is_up() {
    let prometheus = Prometheus::start("");
    // No events: a `total` of 0, not a `total` without series (an error, below).
    let zero = "sum(nothing{$group}) or vector(0)";
    let run = watch(&prometheus, ("job=\"a\"", "job=\"b\""), "sum(nothing{$group})", zero, "2s");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["intervals"].as_array().unwrap().len(), 2);
    let reason = run.json["intervals"][0]["metrics"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("no data"), "{reason}");
}

#[test]
fn watch_whose_total_has_no_series_is_an_error_after_its_report() {
    let prometheus = Prometheus::start("");
    let run = watch(&prometheus, ("job=\"a\"", "job=\"b\""), "sum(nothing{$group})", "sum(nothing{$group})", "2s");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.json["intervals"].as_array().unwrap().len(), 2, "the report is printed: {}", run.stderr);
    let reason = run.json["intervals"][0]["metrics"][0]["reason"].as_str().unwrap();
    assert_eq!(reason, "no data: `total` returned no series for either group");
    assert!(run.stderr.contains("`total` returned no series for either group over the whole window"), "{}", run.stderr);
}

/// A watch asks Prometheus when it starts, before it waits for its first interval: an unreachable Prometheus is an
/// error at once (here the first interval would end in an hour), in the words of any other failed query.
#[test]
fn watch_finds_an_unreachable_prometheus_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (_refusing, port) = refusing_port();
    let url = format!("http://127.0.0.1:{port}");
    let path = config(dir.path(), &url, &[ERRORS]);
    let text = std::fs::read_to_string(&path).unwrap().replace("interval = \"1m\"", "interval = \"1h\"");
    std::fs::write(&path, text).unwrap();
    let out = guard_command(&path).args(["--watch", "1h"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let endpoint = format!("{url}/api/v1/query_range");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "greenlight: error: cannot query Prometheus: cannot reach {endpoint}: connection refused (os error 111)"
        )
    );
}

/// The first request of a watch is that check: a query that needs no data, over the last step, sent before the first
/// interval's queries.
#[test]
fn watch_asks_prometheus_first_with_a_query_that_needs_no_data() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    let source = runtime.block_on(Scripted::start([], Reply::json(empty)));
    let url = source.url("/");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let text = format!(
        "prometheus = \"http://{}:{}\"\nstep = \"1s\"\ninterval = \"1s\"\n\n[groups]\nbaseline = 'job=\"a\"'\n\
         canary = 'job=\"b\"'\n\n[[metrics]]\nname = \"errors\"\nkind = \"ratio\"\n\
         bad = 'sum(errors{{$group}})'\ntotal = 'sum(requests{{$group}})'\n",
        url.host_str().unwrap(),
        url.port().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    let out = guard_command(&path).args(["--watch", "1s", "--format", "json"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "a `total` without any series is an error: {stderr}");
    let seen = source.seen();
    let queries: Vec<String> = seen
        .iter()
        .map(|s| {
            let url = url.join(&s.target).unwrap();
            url.query_pairs().find(|(k, _)| k == "query").map(|(_, v)| v.into_owned()).unwrap_or_default()
        })
        .collect();
    assert_eq!(queries.len(), 5, "the check, then bad and total of both groups: {queries:?}");
    assert_eq!(queries[0], "1", "{queries:?}");
    assert!(queries[1..].iter().all(|q| q.contains("{job=")), "{queries:?}");
}

/// A watch that loses Prometheus after it started: each interval whose queries still fail (after the client's
/// retries, and again until shortly before the next interval) is no data with the error in its reasons; after 3 such
/// intervals in a row the watch ends with exit 2, and the report of the intervals judged so far is printed first.
#[test]
fn watch_that_loses_prometheus_prints_what_it_judged_then_fails() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    // The start-up check and the four queries of the first interval, then 503 (a Prometheus restarting) for good.
    let source = runtime.block_on(Scripted::start(vec![Reply::json(empty); 5], Reply::status(503)));
    let url = source.url("/");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let text = format!(
        "prometheus = \"http://{}:{}\"\nstep = \"1s\"\ninterval = \"2s\"\n\n[groups]\nbaseline = 'job=\"a\"'\n\
         canary = 'job=\"b\"'\n\n[[metrics]]\nname = \"errors\"\nkind = \"ratio\"\n\
         bad = 'sum(errors{{$group}})'\ntotal = 'sum(requests{{$group}})'\n",
        url.host_str().unwrap(),
        url.port().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    let page = dir.path().join("report.html");
    let out =
        guard_command(&path).args(["--watch", "60s", "--format", "json", "--report"]).arg(&page).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let json: Value = serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).expect("the report, printed");
    let intervals = json["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4, "the first, then 3 failed in a row: {json}");
    let reason = |i: usize| intervals[i]["metrics"][0]["reason"].as_str().unwrap().to_owned();
    assert!(!reason(0).contains("failed"), "{}", reason(0));
    for i in 1..4 {
        assert!(reason(i).starts_with("no data: the queries of this interval failed: "), "{}", reason(i));
        assert!(reason(i).contains(url.host_str().unwrap()), "the error names Prometheus: {}", reason(i));
    }
    assert!(std::fs::read_to_string(&page).unwrap().contains("<svg"), "--report is written too");
    let last = stderr.trim_end().lines().last().unwrap();
    assert!(last.starts_with("greenlight: error: ") && last.contains("3 intervals in a row failed"), "{stderr}");
}

/// `[before_after]` with `--watch` for a deploy at `deployed_at` (unix seconds) with `lookback`.
fn before_after_watch(url: &str, deployed_at: u64, lookback: &str, duration: &str) -> (Option<i32>, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    let text = format!(
        "prometheus = \"{url}\"\nstep = \"1s\"\ninterval = \"1s\"\n\n[before_after]\ndeployed_at = \"{deployed_at}\"\n\
         lookback = \"{lookback}\"\n\n[[metrics]]\nname = \"errors\"\nkind = \"ratio\"\nbad = 'vector(1)'\n\
         total = 'vector(100)'\n"
    );
    std::fs::write(&path, text).unwrap();
    let out = guard_command(&path).args(["--watch", duration, "--format", "json"]).output().unwrap();
    let json = serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap_or(Value::Null);
    (out.status.code(), String::from_utf8(out.stderr).unwrap(), json)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `[before_after]` with `--watch`: a watch that cannot fit in the lookback (here one starting after its end) is
/// refused when it starts, before any interval is waited for or queried.
#[test]
fn watch_beyond_the_lookback_is_refused_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    let source = runtime.block_on(Scripted::start([], Reply::json(empty)));
    let url = source.url("/");
    let url = format!("http://{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let (code, stderr, _) = before_after_watch(&url, unix_now() - 10, "3s", "10s");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--watch 10s: [before_after]") && stderr.contains("the deploy plus its lookback of 3s"));
    assert_eq!(source.hits(), 0, "no interval was queried: {stderr}");
}

/// A watch started at the deploy, as long as the lookback or longer, starts a moment after it: it is cut to end at
/// the deploy plus the lookback, said on stderr, and judges the intervals that fit.
#[test]
fn watch_past_the_lookback_is_cut_to_end_there() {
    let prometheus = Prometheus::start("");
    // Up to 5 s of start-up still leaves an interval to judge.
    let (code, stderr, json) = before_after_watch(&prometheus.url, unix_now(), "6s", "20s");
    assert_ne!(code, Some(2), "{stderr}");
    assert!(stderr.contains("greenlight: --watch 20s ends at "), "{stderr}");
    assert!(stderr.contains(", the deploy plus its lookback of 6s: "), "{stderr}");
    let intervals = json["intervals"].as_array().unwrap().len();
    assert!((1..=6).contains(&intervals), "{json}");
}

/// A canary with 3 % errors against a healthy baseline, and a config whose `[on_fail]` writes its input to the
/// returned file, plus `more` keys: the data's start, Prometheus and the directory (kept alive), the config.
fn failing_with_on_fail(more: &str) -> (i64, Prometheus, tempfile::TempDir, PathBuf, PathBuf) {
    let start = data_start();
    let bad = Traffic { error_ratio: 0.03, ..HEALTHY };
    let prometheus = Prometheus::start(&openmetrics(start, |_| HEALTHY, move |_| bad));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &prometheus.url, &[ERRORS]);
    let written = dir.path().join("hook-input.json");
    let hooks = format!("\n[on_fail]\ncommand = [\"sh\", \"-c\", 'cat > \"$0\"', \"{}\"]\n{more}", written.display());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&hooks);
    std::fs::write(&config, text).unwrap();
    (start, prometheus, dir, config, written)
}

#[test]
fn on_fail_runs_the_command_and_posts_a_signed_report() {
    // The receiver fails the first POST: the retry must carry the same delivery id and a valid signature.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime.block_on(Scripted::start([Reply::status(503)], Reply::status(200)));
    let url = receiver.url("/halt");
    let post = format!("url = \"{url}\"\nsecret_env = \"GUARD_TEST_SECRET\"\n");
    let (start, _prometheus, _dir, config, written) = failing_with_on_fail(&post);
    let out = guard_command(&config)
        .args(["--start", &(start + 120).to_string(), "--end", &(start + MINUTES * 60).to_string()])
        .env("GUARD_TEST_SECRET", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(input["verdict"], "fail");
    let posts = receiver.seen();
    assert_eq!(posts.len(), 2, "{posts:?}");
    for post in &posts {
        assert_eq!((post.method.as_str(), post.target.as_str()), ("POST", "/halt"));
        assert_eq!(post.header("x-greenlight-event"), Some("guard.fail"));
        let signature = post.header("x-hub-signature-256");
        greenlight_github::webhook::verify_signature(b"s3cret", &post.body, signature).expect("a valid signature");
        assert_eq!(post.json()["verdict"], "fail");
    }
    let delivery = posts[0].header("x-greenlight-delivery").expect("a delivery id");
    assert_eq!(delivery.len(), 32, "{delivery}");
    assert_eq!(posts[1].header("x-greenlight-delivery"), Some(delivery), "a retry is the same delivery");
}

#[test]
fn an_on_fail_command_that_hangs_is_stopped_with_what_it_started() {
    let (start, _prometheus, dir, config, _) = failing_with_on_fail("");
    // The command starts a sleeper in the background, notes its pid, and waits for it.
    let pids = dir.path().join("pids");
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, _) = text.split_once("\n[on_fail]").unwrap();
    let hook = format!(
        "{head}\n[on_fail]\ncommand = [\"sh\", \"-c\", 'sleep 300 & echo $! >> \"$0\"; wait', \"{}\"]\ntimeout = \"1s\"\n",
        pids.display()
    );
    std::fs::write(&config, hook).unwrap();
    let out = guard_command(&config)
        .args(["--start", &(start + 120).to_string(), "--end", &(start + MINUTES * 60).to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a fail stays a fail: {stderr}");
    assert!(stderr.contains("did not finish within 1s (3 attempts)"), "{stderr}");
    let pids = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(pids.lines().count(), 3, "{pids}");
    for pid in pids.lines() {
        // Gone, or a zombie that its new parent has not reaped yet. A process killed a moment ago can still show
        // as running until the kernel has delivered the signal: give it a bounded while.
        let state = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = |state: &str| state.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'));
        for _ in 0..50 {
            if !running(&state()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let state = state();
        assert!(!running(&state), "the background sleep {pid} still runs: {state}");
    }
}

/// A fail verdict exits 1 and runs `[on_fail]` whatever happens to the output: a `--report` that cannot be written,
/// or a stdout whose reader is gone before the report is printed (`| head -1`).
#[test]
fn a_fail_exits_1_and_runs_on_fail_even_when_the_output_fails() {
    let (start, _prometheus, _dir, config, written) = failing_with_on_fail("");
    let command = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_greenlight"));
        command.arg("guard").arg("--config").arg(&config).args([
            "--start",
            &(start + 120).to_string(),
            "--end",
            &(start + MINUTES * 60).to_string(),
        ]);
        command
    };

    let out = command().args(["--report", "/nonexistent-dir/x.html"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("greenlight: cannot write /nonexistent-dir/x.html"), "{stderr}");
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(input["verdict"], "fail");
    assert!(out.stdout.starts_with(b"greenlight guard: FAIL (halt at interval"), "the report is still printed");

    std::fs::remove_file(&written).unwrap();
    let mut child =
        command().args(["--format", "human"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The reader is gone before the guard has queried anything, so printing the report meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(input["verdict"], "fail");
}
