//! Benchmark of `greenlight_tracker::gather`: N keys against a local fake tracker that answers every request after a
//! fixed latency, timed end to end with a fresh client per run, as the binary calls it (a current-thread runtime).
//! Prints the wall time and how many requests each run made, by kind. Run through `bench/tracker/run.sh`.
//!
//! Owns only the benchmark's setup and report; the fake trackers are the integration tests' (`tests/it/support.rs`).

#[path = "../tests/it/support.rs"]
mod support;

use std::time::{Duration, Instant};

use greenlight_http::{Auth, Client};
use greenlight_tracker::{Kind, Settings, gather};
use serde_json::json;
use support::{Fake, Flavor};

struct Args {
    keys: usize,
    latency: Duration,
    runs: usize,
    kinds: Vec<(Flavor, Kind, &'static str)>,
}

fn args() -> Args {
    let mut args = Args {
        keys: 500,
        latency: Duration::from_millis(50),
        runs: 5,
        kinds: vec![
            (Flavor::JiraCloud, Kind::JiraCloud, "jira-cloud"),
            (Flavor::JiraDc, Kind::JiraDc, "jira-dc"),
            (Flavor::Github, Kind::Github, "github"),
        ],
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--keys" => args.keys = value().parse().unwrap_or_else(|_| usage("--keys takes a number")),
            "--latency-ms" => {
                args.latency =
                    Duration::from_millis(value().parse().unwrap_or_else(|_| usage("--latency-ms takes a number")))
            }
            "--runs" => args.runs = value().parse().unwrap_or_else(|_| usage("--runs takes a number")),
            "--kind" => {
                let kind = value();
                args.kinds.retain(|(_, _, name)| *name == kind);
                if args.kinds.is_empty() {
                    usage("--kind is jira-cloud, jira-dc or github");
                }
            }
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!("gather_bench: {problem}");
    eprintln!("usage: gather_bench [--keys N] [--latency-ms MS] [--runs R] [--kind jira-cloud|jira-dc|github]");
    std::process::exit(2);
}

/// A tracker holding `n` issues the deploy names: two projects (or repositories), every fifth a sub-task of the
/// issue before it, every tenth ready, one field required by name, plus ready issues the deploy does not name.
fn populate(fake: &Fake, flavor: Flavor, n: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(n);
    fake.add_field("customfield_10044", "Risk");
    for i in 1..=n {
        let (project, number) = if i % 2 == 0 { ("AB", i / 2) } else { ("CD", i.div_ceil(2)) };
        let ready = number % 10 == 0;
        match flavor {
            Flavor::Github => {
                let repo = if project == "AB" { "acme/shop" } else { "acme/web" };
                let labels: &[&str] = if ready { &["Done", "backend"] } else { &["backend"] };
                fake.add(support::github(repo, number as u64, "open").labels(labels).build());
                keys.push(format!("{repo}#{number}"));
            }
            _ => {
                let key = format!("{project}-{number}");
                let mut issue = support::jira(&key, if ready { "Done" } else { "In Progress" })
                    .field("customfield_10044", json!({"value": "Low"}));
                if number % 5 == 0 {
                    issue = issue.subtask_of(&format!("{project}-{}", number - 1));
                }
                fake.add(issue.build());
                keys.push(key);
            }
        }
    }
    for extra in 1..=20 {
        match flavor {
            Flavor::Github => fake.add(support::github("acme/shop", 100_000 + extra, "open").labels(&["Done"]).build()),
            _ => fake.add(support::jira(&format!("AB-{}", 100_000 + extra), "Done").build()),
        }
    }
    keys
}

fn main() {
    let args = args();
    // The fake answers on its own runtime and thread, as a remote tracker would.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the fake tracker");
    println!(
        "{:<11} {:>5} {:>8} {:>5}  {:>8}  {:>8}  {:>8}  requests per run",
        "tracker", "keys", "latency", "runs", "median", "min", "max"
    );
    for (flavor, kind, name) in &args.kinds {
        let fake = server.block_on(Fake::start_with_delay(*flavor, args.latency));
        let keys = populate(&fake, *flavor, args.keys);
        let keys: Vec<greenlight_core::IssueKey> = keys.into_iter().map(greenlight_core::IssueKey::new).collect();
        let settings = Settings {
            repository: (*kind == Kind::Github).then(|| "acme/shop".to_owned()),
            ready_statuses: vec!["Done".into()],
            projects: Vec::new(),
            fields: vec![if *kind == Kind::Github { "Labels" } else { "Risk" }.into()],
            ..Settings::new(*kind, fake.url())
        };
        let mut walls = Vec::new();
        let mut per_run = Vec::new();
        for _ in 0..args.runs {
            let before = fake.seen().len();
            let client = Client::builder().credential_name("TOKEN").build().expect("an http client");
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for gather");
            let started = Instant::now();
            let facts = runtime
                .block_on(gather(&settings, &client, &Auth::Bearer("t".into()), &keys))
                .unwrap_or_else(|e| panic!("gather failed: {e}"));
            walls.push(started.elapsed());
            assert_eq!(facts.asked.len(), args.keys, "every key is asked");
            assert_eq!(facts.issues.len(), args.keys, "every key is found");
            per_run.push(fake.seen()[before..].to_vec());
        }
        walls.sort();
        let last = per_run.last().cloned().unwrap_or_default();
        let mut by_path: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for seen in &last {
            let path = if *flavor == Flavor::Github && seen.query.is_none() {
                "/repos/{repo}/issues/{n}".to_owned()
            } else {
                seen.path.clone()
            };
            *by_path.entry(path).or_default() += 1;
        }
        let breakdown: Vec<String> = by_path.iter().map(|(path, n)| format!("{n} {path}")).collect();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{:<11} {:>5} {:>8} {:>5}  {:>8}  {:>8}  {:>8}  {} ({})",
            name,
            args.keys,
            ms(args.latency),
            args.runs,
            ms(walls[walls.len() / 2]),
            ms(walls[0]),
            ms(walls[walls.len() - 1]),
            last.len(),
            breakdown.join(", ")
        );
    }
}
