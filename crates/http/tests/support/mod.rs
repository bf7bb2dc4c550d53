//! Test doubles for the client: a scripted HTTP/1.1 server on loopback, a sleeper that records instead of
//! sleeping, and a clock moved by hand.
//!
//! They own nothing of the client's logic and deliberately do as little HTTP as the tests need: one request
//! per connection, `Content-Length` bodies only, every answer closes the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use greenlight_http::{Clock, Sleeper};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Never answer: the connection stays open until the client gives up.
    hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new(), hang: false }
    }

    pub fn json(body: &str) -> Self {
        Self::status(200).header("content-type", "application/json").body(body)
    }

    pub fn hang() -> Self {
        Self { hang: true, ..Self::status(200) }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Script {
    replies: VecDeque<Reply>,
    then: Reply,
    seen: Vec<Seen>,
}

/// Answers requests with `replies` in order, then with `then` forever, and remembers every request.
#[derive(Clone, Debug)]
pub struct Server {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Server {
    pub async fn start(replies: impl IntoIterator<Item = Reply>, then: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script { replies: replies.into_iter().collect(), then, seen: Vec::new() }));
        let shared = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Self { addr, script }
    }

    pub fn url(&self, path: &str) -> greenlight_http::Url {
        greenlight_http::Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    pub fn hits(&self) -> usize {
        self.script.lock().unwrap().seen.len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Mutex<Script>>) {
    let Some(seen) = read_request(&mut stream).await else {
        return;
    };
    let reply = {
        let mut script = script.lock().unwrap();
        script.seen.push(seen);
        let then = script.then.clone();
        script.replies.pop_front().unwrap_or(then)
    };
    if reply.hang {
        // Keep the connection open without answering; the task ends when the client hangs up.
        let mut sink = [0u8; 64];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let mut head =
        format!("HTTP/1.1 {} canned\r\ncontent-length: {}\r\nconnection: close\r\n", reply.status, reply.body.len());
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(reply.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { method, target, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

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
