//! greenlight's deploy guard, judging core: is the canary really worse than the baseline, is it shown not to be,
//! or can the data not tell yet?
//!
//! This crate owns the pure statistics of the guard and the shapes of its answer: the config values it judges by
//! (`config`), what a source hands it per interval (`input`), the judges (`judge`), a run over intervals
//! (`analysis`) and the verdicts with their numbers (`report`). Those modules do no IO: no Prometheus, no files,
//! no clock, no async, no hooks. Beside them, and only beside them, sit the source side: `guard.toml` (`file`),
//! Prometheus through greenlight's HTTP client (`prometheus`) and the cutting of query results into interval inputs
//! (`fetch`). The binary reads files, runs the runtime and renders.
//!
//! The guarantees, from `../shared/notes/guard-statistics.md`:
//! - false halts: at most α per run (default 0.01), over all metrics and however often it looks, because every
//!   halt rests on an e-process crossing 1/α_m (Ville's inequality) with α_m = α/M;
//! - persistence: a regression counts only after `fail_after` consecutive bad intervals and only if the evidence
//!   holds without the `fail_after − 1` most incriminating intervals, so one interval never halts;
//! - too little data (no series, NaN, totals under `min_total`, no bad events anywhere) is inconclusive, never pass
//!   and never fail; a pass needs an anytime upper confidence bound below the pass bound after a soak.

pub mod analysis;
pub mod config;
pub mod fetch;
pub mod file;
pub mod html;
pub mod input;
pub mod judge;
pub mod prometheus;
pub mod report;

pub use analysis::{Analysis, InputError, judge_window};
pub use config::{ConfigError, Direction, Group, Groups, MetricKind, MetricSpec, Settings, ValidConfig};
pub use fetch::{FetchError, Fetched, Notes, Window, check_lookback, fetch_window, lookback_end};
pub use file::{FileError, GuardFile, OnFail, Queries};
pub use input::{Counts, IntervalInput, Observation, RatioObservation, ValueObservation};
pub use prometheus::{MetricSource, Prometheus, QueryStats, Series, SourceError};
pub use report::{
    IntervalReport, MetricInterval, MetricSummary, Numbers, RatioNumbers, Report, Side, SideNumbers, ValueNumbers,
    Verdict, overall,
};
