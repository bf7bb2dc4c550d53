//! Test doubles for the GitHub API calls: a fake GitHub on 127.0.0.1 that answers from a script and records every
//! request, a sleeper that records waits instead of sleeping, and a clock that stands still.
//!
//! They own no GitHub logic and speak only as much HTTP/1.1 as the client needs: one request per connection,
//! bodies with `Content-Length`, and every answer closes the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use greenlight_http::{Clock, Sleeper, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An answer the fake gives.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json; charset=utf-8".into())],
            body: body.to_owned(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query as sent, still percent-encoded.
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is json")
    }
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Request>,
}

/// A GitHub API that answers with its script in order and records what it was sent.
#[derive(Clone, Debug)]
pub struct FakeGitHub {
    base: Url,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    /// Serves `script` in order; a request beyond it gets a 599 the client does not retry, and shows in `received`.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let state = Arc::new(Mutex::new(State { script: script.into_iter().collect(), received: Vec::new() }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, shared.clone()));
            }
        });
        Self { base, state }
    }

    /// The fake's root joined with `path` (e.g. `api/v3/` for a GitHub Enterprise layout).
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    pub fn received(&self) -> Vec<Request> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn answer(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let reply = {
        let mut state = state.lock().unwrap();
        state.received.push(request);
        state.script.pop_front().unwrap_or_else(|| Reply::new(599, r#"{"message":"the fake's script has run out"}"#))
    };
    let mut out = format!("HTTP/1.1 {} fake\r\n", reply.status);
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n{}", reply.body.len(), reply.body));
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    let end_of_head = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buffer[..n]);
    };
    let head = std::str::from_utf8(&data[..end_of_head]).ok()?.to_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = data.split_off(end_of_head);
    while body.len() < length {
        let n = stream.read(&mut buffer).await.ok().filter(|&n| n > 0)?;
        body.extend_from_slice(&buffer[..n]);
    }
    Some(Request { method, target, headers, body })
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
