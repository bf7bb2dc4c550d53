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
    runtime.block_on(async {
        let mut running = greenlight_server::start(config).await?;
        tracing::info!(addr = %running.addr(), "greenlight is serving");
        let stopped = tokio::select! {
            () = shutdown_signal() => None,
            stopped = running.wait() => Some(stopped),
        };
        match stopped {
            Some(stopped) => stopped?,
            None => {
                tracing::info!("shutting down: finishing requests and jobs in flight");
                running.shutdown().await?;
            }
        }
        anyhow::Ok(0)
    })
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
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
    println!("{}", answer.get("url").and_then(|u| u.as_str()).unwrap_or("recheck queued"));
    Ok(0)
}
