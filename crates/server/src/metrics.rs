//! `GET /metrics`: deliveries by event and outcome, the inbox's batches (size and commit time), the queue's depth,
//! checks run by verdict, mirror fetches by outcome, job durations, jobs by final state, and the outbound GitHub calls
//! by status code, in the OpenMetrics text format.
//!
//! A labelled counter whose label values are a closed set is shown at 0 from start-up, each series that can occur:
//! `rate()` and alerts on a series that does not exist yet see nothing, not a zero. The GitHub answers' status codes
//! are not a closed set; their series appear as they are counted.

use std::sync::{Arc, Mutex, PoisonError};

use greenlight_http::Stats;
use greenlight_store::QueueDepth;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    code: String,
}

/// What the inbox writer observes per batch; the histograms are shared handles, registered with [`Metrics`].
#[derive(Clone, Debug)]
pub struct InboxMetrics {
    /// Pushes per committed batch.
    pub batch_size: Histogram,
    /// Time to write and commit one batch.
    pub commit_seconds: Histogram,
}

/// The GitHub client's answers by status code: counters kept by the client, exported as they were at the scrape.
#[derive(Debug, Default)]
struct GitHubResponses {
    latest: Mutex<Vec<(String, u64)>>,
}

impl GitHubResponses {
    fn set(&self, stats: &Stats) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.clear();
        latest.extend(stats.responses.iter().map(|(code, count)| (code.to_string(), *count)));
        latest.push(("none".to_owned(), stats.attempt_errors.values().sum()));
    }
}

impl Collector for GitHubResponses {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "github_responses",
            "Answers GitHub gave to this process's calls, by status code (attempts; errors as code=\"none\")",
            None,
            MetricType::Counter,
        )?;
        for (code, count) in self.latest.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let labels = OutboundLabels { code: code.clone() };
            ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The outcomes of a delivery that every event can have: refused before its event matters.
const REFUSED: [&str; 4] = ["unreadable", "busy", "unauthorized", "malformed"];

/// Each `event` label of the deliveries, with the outcomes it can have besides [`REFUSED`] (see `app::event_label`).
const DELIVERIES: [(&str, &[&str]); 5] = [
    ("push", &["accepted", "duplicate", "ignored", "error"]),
    ("ping", &["pong"]),
    ("other", &["ignored"]),
    // Without the event header a delivery is malformed.
    ("none", &[]),
    ("jira", &["accepted", "duplicate", "ignored", "error"]),
];
/// The verdicts of a check.
const VERDICTS: [&str; 3] = ["pass", "fail", "error"];
/// The outcomes of a mirror fetch.
const FETCHES: [&str; 4] = ["ok", "failed", "local", "refused"];
/// The final states of a job.
const FINISHED: [&str; 4] = ["success", "failure", "error", "refused"];

pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    checks: Family<CheckLabels, Counter>,
    fetches: Family<FetchLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    job_seconds: Histogram,
    pub inbox: InboxMetrics,
    queue: Family<QueueLabels, Gauge>,
    github: Arc<GitHubResponses>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("greenlight");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register("webhook_deliveries", "Webhook deliveries by event and outcome", deliveries.clone());
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register("checks", "Checks run on deploys, by verdict (pass, fail, error)", checks.clone());
        let fetches = Family::<FetchLabels, Counter>::default();
        registry.register(
            "git_fetches",
            "Mirror fetches by outcome (ok, failed, local: failed on the mirror's side, refused: skipped while the \
             remote's breaker is open)",
            fetches.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Jobs finished, by the final status posted (refused: GitHub refused it for good)",
            jobs.clone(),
        );
        let job_seconds = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        registry.register("job_duration_seconds", "Time from claiming a job to its final status", job_seconds.clone());
        let inbox = InboxMetrics {
            batch_size: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]),
            commit_seconds: Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0]),
        };
        registry.register("inbox_batch_size", "Pushes written to the store per commit", inbox.batch_size.clone());
        registry.register(
            "inbox_commit_duration_seconds",
            "Time to write and commit one batch of pushes",
            inbox.commit_seconds.clone(),
        );
        let queue = Family::<QueueLabels, Gauge>::default();
        registry.register("queue_depth", "Jobs queued or running, from the store", queue.clone());
        let github = Arc::new(GitHubResponses::default());
        registry.register_collector(Box::new(github.clone()));
        let metrics = Self { registry, deliveries, checks, fetches, jobs, job_seconds, inbox, queue, github };
        metrics.zero();
        metrics
    }
}

impl Metrics {
    /// Creates every series of the counters whose labels are a closed set, at 0.
    fn zero(&self) {
        for (event, outcomes) in DELIVERIES {
            for outcome in REFUSED.iter().chain(outcomes) {
                let _ = self
                    .deliveries
                    .get_or_create(&DeliveryLabels { event: event.to_owned(), outcome: (*outcome).to_owned() });
            }
        }
        for verdict in VERDICTS {
            let _ = self.checks.get_or_create(&CheckLabels { verdict: verdict.to_owned() });
        }
        for outcome in FETCHES {
            let _ = self.fetches.get_or_create(&FetchLabels { outcome: outcome.to_owned() });
        }
        for state in FINISHED {
            let _ = self.jobs.get_or_create(&JobLabels { state: state.to_owned() });
        }
    }

    pub fn delivery(&self, event: &str, outcome: &str) {
        self.deliveries.get_or_create(&DeliveryLabels { event: event.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    pub fn checked(&self, verdict: &str) {
        let _ = self.checks.get_or_create(&CheckLabels { verdict: verdict.to_owned() }).inc();
    }

    pub fn fetched(&self, outcome: &str) {
        let _ = self.fetches.get_or_create(&FetchLabels { outcome: outcome.to_owned() }).inc();
    }

    pub fn job_finished(&self, state: &str, seconds: f64) {
        let _ = self.jobs.get_or_create(&JobLabels { state: state.to_owned() }).inc();
        self.job_seconds.observe(seconds);
    }

    /// The text exposition; `depth` is `None` when the store did not answer, and the queue's depth is then left out
    /// rather than shown as it last was.
    pub fn encode(&self, depth: Option<QueueDepth>, github: &Stats) -> String {
        match depth {
            Some(depth) => {
                self.queue.get_or_create(&QueueLabels { state: "queued".into() }).set(depth.queued);
                self.queue.get_or_create(&QueueLabels { state: "running".into() }).set(depth.running);
            }
            None => self.queue.clear(),
        }
        self.github.set(github);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_carries_each_family() {
        let metrics = Metrics::default();
        metrics.delivery("push", "accepted");
        metrics.delivery("push", "accepted");
        metrics.job_finished("success", 0.2);
        metrics.checked("fail");
        metrics.fetched("refused");
        metrics.inbox.batch_size.observe(3.0);
        let mut stats = Stats::default();
        stats.responses.insert(201, 3);
        let text = metrics.encode(Some(QueueDepth { queued: 4, running: 1 }), &stats);
        for line in [
            "greenlight_webhook_deliveries_total{event=\"push\",outcome=\"accepted\"} 2",
            "greenlight_jobs_finished_total{state=\"success\"} 1",
            "greenlight_checks_total{verdict=\"fail\"} 1",
            "greenlight_git_fetches_total{outcome=\"refused\"} 1",
            "greenlight_job_duration_seconds_count 1",
            "greenlight_inbox_batch_size_sum 3.0",
            "greenlight_inbox_batch_size_bucket{le=\"4.0\"} 1",
            "greenlight_queue_depth{state=\"queued\"} 4",
            "# TYPE greenlight_github_responses counter",
            "greenlight_github_responses_total{code=\"201\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let unknown = metrics.encode(None, &stats);
        assert!(!unknown.contains("greenlight_queue_depth{"), "{unknown}");
    }
}
