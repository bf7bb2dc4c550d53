//! Headless Chromium driven through chromedriver (W3C WebDriver, with `fantoccini`), for the tests that look at a page
//! the way a browser renders it: what runs, what is drawn, what is loaded. `scripts/test` installs both (the Debian
//! packages `chromium` and `chromium-driver`).
//!
//! Each [`Browser`] has its own chromedriver on a free loopback port and its own Chromium profile, so tests run in
//! parallel without sharing anything.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// One chromedriver with one Chromium session; both stop when it is dropped.
pub struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session. Panics with directions when either is missing.
    pub async fn start() -> Self {
        let found = Command::new("chromedriver").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(
            found.is_ok_and(|s| s.success()),
            "`chromedriver` is not on PATH: the browser tests need headless Chromium; scripts/test installs it \
             (apt-get install chromium chromium-driver)"
        );
        let profile = tempfile::tempdir().expect("a profile directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = std::fs::File::create(profile.path().join("chromedriver.log")).expect("the driver's log");
        // Not `--allowed-ips`: it would make chromedriver listen on every interface, not only loopback.
        let mut driver = Command::new("chromedriver");
        driver.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(log);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut driver, 0);
        let driver = Driver(driver.spawn().expect("chromedriver starts"));
        // chromedriver listens within milliseconds; give a loaded machine up to 20 s.
        let ready = (0..400).any(|_| {
            let up = TcpStream::connect(("127.0.0.1", port)).is_ok();
            if !up {
                std::thread::sleep(Duration::from_millis(50));
            }
            up
        });
        assert!(ready, "chromedriver did not listen on 127.0.0.1:{port}");
        let capabilities = json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.path().join("chromium").display()),
                ]
            }
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| {
                let log = std::fs::read_to_string(profile.path().join("chromedriver.log")).unwrap_or_default();
                panic!("cannot open a Chromium session: {error}\nchromedriver's log:\n{log}")
            });
        Self { client, _driver: driver, _profile: profile }
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    }

    /// Runs `script` (a function body: it may `return` a value) in the page and returns what it returned.
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// chromedriver, started in a process group of its own.
struct Driver(Child);

impl Drop for Driver {
    /// Kills chromedriver and every process of its group (the Chromium it started), then reaps it.
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let group = format!("-{}", self.0.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
