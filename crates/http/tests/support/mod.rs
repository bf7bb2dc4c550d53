//! Test doubles for the client: a sleeper that records instead of sleeping, and a clock moved by hand; the scripted
//! HTTP server on loopback is the test kit's. They own nothing of the client's logic.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use greenlight_http::{Clock, Sleeper};
pub use greenlight_testkit::scripted::{Reply, Scripted as Server};

/// A clock that moves only when told to (or when the recording sleeper "sleeps").
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<(Instant, SystemTime)>,
}

/// The wall-clock time a [`ManualClock`] starts at: 2023-11-14T22:13:20Z.
pub const EPOCH_START: u64 = 1_700_000_000;

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { now: Mutex::new((Instant::now(), UNIX_EPOCH + Duration::from_secs(EPOCH_START))) })
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        now.0 += by;
        now.1 += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.now.lock().unwrap().0
    }

    fn wall(&self) -> SystemTime {
        self.now.lock().unwrap().1
    }
}

/// Records every wait and returns at once, moving the clock by the wait.
#[derive(Debug)]
pub struct RecordingSleeper {
    waits: Mutex<Vec<Duration>>,
    clock: Arc<ManualClock>,
}

impl RecordingSleeper {
    pub fn moving(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self { waits: Mutex::default(), clock })
    }

    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.waits.lock().unwrap().push(duration);
        self.clock.advance(duration);
        Box::pin(std::future::ready(()))
    }
}
