//! `greenlight serve`: signed GitHub push webhooks in, commit statuses out, with nothing acknowledged ever lost.
//!
//! The flow is one way: a webhook is verified, written to the store's inbox ([`inbox`], one commit per batch) and
//! only then acknowledged; workers ([`worker`]) claim jobs under leases, compute the deploy in a mirror clone, store
//! the report and post the statuses; [`reconcile`] finds pushes whose webhooks never came. Rechecks (Jira webhooks,
//! the API) only queue jobs. Owns: routes, HTML, the job loop. Does not own: SQL (`greenlight-store`), GitHub's
//! wire shapes (`greenlight-github`), or what a deploy contains and whether it passes (`greenlight-deploy`).

mod app;
pub mod config;
mod inbox;
mod metrics;
mod mirrors;
mod page;
mod reconcile;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use greenlight_github::GitHub;
use greenlight_http::{Auth, Client, Policy, Secret, Url};
use greenlight_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ServerConfig, ServerConfigError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0} is not set (or only blank): the server refuses to start without it")]
    MissingSecret(String),
    #[error("invalid github api_url {0:?}")]
    ApiUrl(String),
    #[error("data_dir = {path:?} cannot be created: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] greenlight_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// The secrets the config names: read from the environment once at start ([`Secrets::read`]), or given directly by
/// an embedding program or a test.
pub struct Secrets {
    /// Verifies `X-Hub-Signature-256` on GitHub webhooks. Required: without it the server does not start.
    pub webhook: Secret,
    /// Verifies Jira webhooks; `None` turns `/webhooks/jira` off.
    pub jira: Option<Secret>,
    /// The bearer token of the recheck API; `None` turns the API off.
    pub api_token: Option<Secret>,
    /// Sent to GitHub with every status.
    pub github_token: Secret,
}

impl Secrets {
    pub fn read(config: &ServerConfig) -> Result<Self, ServerError> {
        let read = |var: &str| match std::env::var(var) {
            // A blank secret is a mistake (an empty line in a secrets file), not a secret.
            Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value)),
            _ => Err(ServerError::MissingSecret(var.to_owned())),
        };
        Ok(Self {
            webhook: read(&config.github.webhook_secret_env)?,
            jira: config.jira_secret_env.as_deref().map(read).transpose()?,
            api_token: config.api_token_env.as_deref().map(read).transpose()?,
            github_token: read(&config.github.token_env)?,
        })
    }
}

/// A running server: its address, and the way to stop it.
pub struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServerError>>,
    progress: Arc<Progress>,
}

/// What a server is still doing: read while it shuts down, to say what it waits for, or what a stop at once leaves.
#[derive(Debug, Default)]
pub struct Progress {
    connections: AtomicUsize,
    workers: AtomicUsize,
}

impl Progress {
    /// Open connections: while shutting down, those still answering a request.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Running workers: once the server is told to stop, the idle ones end at once, and those left are finishing a
    /// job.
    pub fn workers(&self) -> usize {
        self.workers.load(Ordering::Relaxed)
    }

    /// Counts one more of `counter` until the returned guard is dropped.
    fn count(counter: &AtomicUsize) -> impl Drop + Send + use<'_> {
        struct Counted<'c>(&'c AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server is still doing.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Graceful shutdown: stop accepting, answer the requests in flight (each is committed before its answer),
    /// let workers finish their current job, close the store.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop();
        self.wait().await
    }

    /// Starts a graceful shutdown; [`Self::wait`] returns once it is over.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Runs until the server stops on its own (an error) or is shut down. Call it once.
    pub async fn wait(&mut self) -> Result<(), ServerError> {
        (&mut self.task).await.unwrap_or_else(|e| Err(ServerError::Serve(std::io::Error::other(e))))
    }
}

/// Reads the secrets from the environment, then [`start_with`].
pub async fn start(config: ServerConfig) -> Result<Running, ServerError> {
    let secrets = Secrets::read(&config)?;
    start_with(config, secrets).await
}

/// Opens the store, binds the listener, and starts the workers and the reconciler.
pub async fn start_with(config: ServerConfig, secrets: Secrets) -> Result<Running, ServerError> {
    if secrets.webhook.expose().is_empty() {
        return Err(ServerError::MissingSecret(config.github.webhook_secret_env.clone()));
    }
    // The mirrors are cloned there: a directory that cannot be made would fail every push.
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| ServerError::DataDir { path: config.data_dir.clone(), source })?;
    let store = Store::connect(&config.database_url).await?;
    let policy = Policy {
        attempt_timeout: config.github.attempt_timeout,
        breaker_cooldown: config.github.breaker_cooldown,
        ..Policy::default()
    };
    let client = Client::builder()
        .policy(policy)
        .credential_name(config.github.token_env.clone())
        .build()
        .map_err(|e| ServerError::Client(e.to_string()))?;
    let api_url = Url::parse(&config.github.api_url).map_err(|_| ServerError::ApiUrl(config.github.api_url.clone()))?;
    let github = GitHub::new(client, api_url, Auth::Bearer(secrets.github_token.clone()))
        .map_err(|_| ServerError::ApiUrl(config.github.api_url.clone()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Listen { addr: config.listen, source })?;
    let (stop, stopped) = watch::channel(false);
    let progress = Arc::new(Progress::default());
    let metrics = metrics::Metrics::default();
    let (inbox, writer) = inbox::Inbox::start(store.clone(), metrics.inbox.clone());
    let app = Arc::new(app::App::new(config, secrets, store.clone(), github, inbox, metrics));
    // Read before the first webhook is served: the start-up round compares with what was missed while down, and
    // never races a push arriving now.
    let sources = reconcile::sources(&app).await;
    let counted = progress.clone();
    let task = tokio::spawn(async move {
        let progress = counted;
        let mut workers = tokio::task::JoinSet::new();
        for n in 0..app.config.workers {
            let (app, stopped, progress) = (app.clone(), stopped.clone(), progress.clone());
            workers.spawn(async move {
                let _running = Progress::count(&progress.workers);
                worker::run(app, n, stopped).await;
            });
        }
        let reconciler = tokio::spawn(reconcile::run(app.clone(), sources, stopped.clone()));
        let router = app::router(app.clone());
        let served = serve(listener, router, app.config.read_timeout, stopped.clone(), &progress).await;
        // A job in a hung fetch would hold the shutdown for up to the git timeout.
        app.mirrors.stop();
        // Every request that got an answer was committed; the writer ends once the last sender is gone.
        app.inbox.close();
        let _ = writer.await;
        wait_for_workers(workers, &progress).await;
        reconciler.abort();
        store.close().await;
        served.map_err(ServerError::Serve)
    });
    Ok(Running { addr, stop, task, progress })
}

/// Answers HTTP/1.1 on `listener` until `stopped`, then lets each connection finish the request it is answering.
///
/// `axum::serve` gives hyper no timer, so hyper's header read timeout is off there and a client that never ends its
/// headers holds a connection for ever. Here each connection has one: a connection whose next request's headers are
/// not in within `read_timeout` (of connecting, or of the previous answer) is closed. The routes that read a body
/// bound it themselves (`app::read_body`).
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    read_timeout: std::time::Duration,
    mut stopped: watch::Receiver<bool>,
    progress: &Arc<Progress>,
) -> std::io::Result<()> {
    let (closing, connections_closing) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: the listener is fine, so wait a little rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = async { let _ = stopped.wait_for(|stop| *stop).await; } => break,
        };
        // Finished connections are reaped as others come, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let mut closing = connections_closing.clone();
        let progress = progress.clone();
        connections.spawn(async move {
            let _open = Progress::count(&progress.connections);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(read_timeout);
            let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closing.wait_for(|closing| *closing) => {}
            }
            // Answers the request in flight, if any, then closes; an idle connection closes at once.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    if !connections.is_empty() {
        tracing::info!(connections = connections.len(), "answering the requests in flight");
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// How often a shutdown that waits for jobs says so.
const WAITING_EVERY: Duration = Duration::from_secs(5);

/// Waits until every worker has ended; says how many jobs it waits for, at once and then every [`WAITING_EVERY`].
async fn wait_for_workers(mut workers: tokio::task::JoinSet<()>, progress: &Progress) {
    // The idle workers ended when told to stop; those left are in a job.
    while workers.try_join_next().is_some() {}
    let mut ticks = tokio::time::interval(WAITING_EVERY);
    while !workers.is_empty() {
        tokio::select! {
            _ = workers.join_next() => {}
            _ = ticks.tick() => tracing::info!(jobs = progress.workers(), "waiting for the jobs in progress"),
        }
    }
}
