//! `greenlight serve` (the runtime, JSON logs, signals) and `greenlight recheck` (a call to a running server).

use anyhow::{Context as _, bail};
use greenlight_http::{Auth, Client, Method, Secret, Url};
use greenlight_server::ServerConfig;

use crate::cli::{RecheckArgs, ServeArgs};

pub fn serve(args: &ServeArgs) -> anyhow::Result<u8> {
    let path = &args.config;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config = ServerConfig::parse(&text, &path.display().to_string())?;
    // One JSON object per line on standard error; spans (the delivery, the job) are carried into every event.
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREENLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let code = runtime.block_on(async {
        let mut signals = Signals::new();
        let mut running = greenlight_server::start(config).await?;
        tracing::info!(addr = %running.addr(), "greenlight is serving");
        let first = tokio::select! {
            signal = signals.next() => signal,
            stopped = running.wait() => return stopped.map(|()| 0).map_err(anyhow::Error::from),
        };
        tracing::info!(
            signal = first.name(),
            "shutting down: answering requests in flight and letting workers finish their current job; \
             a second signal stops at once"
        );
        running.stop();
        let progress = running.progress();
        tokio::select! {
            stopped = running.wait() => stopped.map(|()| 0).map_err(anyhow::Error::from),
            second = signals.next() => {
                // Nothing acknowledged is lost: accepted deliveries are in the store, and a job in progress is taken
                // over once its lease runs out, by a replica or after a restart.
                tracing::warn!(
                    signal = second.name(),
                    jobs = progress.workers(),
                    connections = progress.connections(),
                    "second signal: stopping at once"
                );
                Ok(second.exit_code())
            }
        }
    });
    // A stop at once does not wait for what is still running (a git process, a call to GitHub).
    runtime.shutdown_background();
    code
}

/// A signal that stops the server.
#[derive(Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process the signal ended.
    fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Ctrl-C (`SIGINT`) and `SIGTERM`, each as often as they come, from the moment [`Signals::new`] is called.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Must be called within the runtime.
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self { interrupt: signal(SignalKind::interrupt()).ok(), terminate: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        Self {}
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Signal {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.interrupt) => Signal::Interrupt,
            () = recv(&mut self.terminate) => Signal::Terminate,
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

pub fn recheck(args: &RecheckArgs) -> anyhow::Result<u8> {
    let token = match std::env::var(&args.token_env) {
        Ok(token) if !token.is_empty() => Secret::new(token),
        _ => bail!("{} is not set: it must hold the server's API token (its api_token_env)", args.token_env),
    };
    let url = format!("{}/api/deploys/{}/recheck", args.server.trim_end_matches('/'), args.deploy);
    let url = Url::parse(&url).with_context(|| format!("invalid server url {:?}", args.server))?;
    let client = Client::builder().credential_name(args.token_env.clone()).build()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer: serde_json::Value = runtime.block_on(async {
        let request = client.request(Method::POST, url.clone());
        client.json(Auth::Bearer(token).apply(request)).await
    })?;
    // What `POST /api/deploys/{id}/recheck` answers; anything else came from something that is not greenlight.
    let queued = serde_json::from_value::<Queued>(answer.clone())
        .ok()
        .filter(|queued| queued.status == "accepted" && queued.deploy == args.deploy);
    let Some(Queued { job, url: page, .. }) = queued else {
        bail!("{url} answered {answer}, not a greenlight server's recheck: is --server the right address?");
    };
    println!("recheck of deploy {} queued as job {job}: {page}", args.deploy);
    Ok(0)
}

/// A greenlight server's answer to a recheck.
#[derive(serde::Deserialize)]
struct Queued {
    status: String,
    deploy: i64,
    job: i64,
    url: String,
}
