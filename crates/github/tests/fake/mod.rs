//! Test doubles for the GitHub API calls: a fake GitHub on 127.0.0.1 that answers from a script and records every
//! request (the test kit's scripted server), a sleeper that records waits instead of sleeping, and a clock that
//! stands still. They own no GitHub logic.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use greenlight_http::{Clock, Sleeper, Url};
pub use greenlight_testkit::scripted::{Reply, Scripted, Seen};

/// A GitHub answer: `status` with a JSON body.
pub fn reply(status: u16, body: &str) -> Reply {
    Reply::status(status).header("content-type", "application/json; charset=utf-8").body(body)
}

/// A GitHub API that answers with its script in order and records what it was sent.
#[derive(Clone, Debug)]
pub struct FakeGitHub {
    server: Scripted,
}

impl FakeGitHub {
    /// Serves `script` in order; a request beyond it gets a 599 the client does not retry, and shows in `received`.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        let beyond = reply(599, r#"{"message":"the fake's script has run out"}"#);
        Self { server: Scripted::start(script, beyond).await }
    }

    /// The fake's root joined with `path` (e.g. `api/v3/` for a GitHub Enterprise layout).
    pub fn url(&self, path: &str) -> Url {
        self.server.url("/").join(path).unwrap()
    }

    pub fn received(&self) -> Vec<Seen> {
        self.server.seen()
    }
}

/// Records each wait the client asks for and returns at once.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.waits.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// The wall-clock second a [`StillClock`] shows: 2023-11-14T22:13:20Z.
pub const NOW_EPOCH_SECONDS: u64 = 1_700_000_000;

/// A clock that never moves, so rate-limit resets turn into exact waits.
#[derive(Debug)]
pub struct StillClock {
    instant: Instant,
}

impl StillClock {
    pub fn new() -> Self {
        Self { instant: Instant::now() }
    }
}

impl Clock for StillClock {
    fn now(&self) -> Instant {
        self.instant
    }

    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_EPOCH_SECONDS)
    }
}
