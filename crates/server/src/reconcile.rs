//! Reconciling: on start and every `reconcile_every`, fetch each repository's mirror and queue the head of every
//! deploy branch that has no deploy yet, or whose every job was superseded. GitHub does not redeliver a webhook that
//! failed, so this is how a push missed during downtime still gets its status; and it does not promise the order of
//! its webhooks, so this is how a head that a late webhook of an older commit superseded gets one too.
//!
//! The delivery id of a found push is `reconcile:{repo}:{branch}:{sha}`; the store decides from the deploy's jobs
//! whether it is new, so replicas reconciling at once queue it once.

use std::sync::Arc;

use greenlight_github::webhook::is_http_url;
use greenlight_store::{Accepted, NewPush};
use tokio::sync::watch;

use crate::app::App;
use crate::config::RepositoryConfig;

/// Where each repository is fetched from, as the store knows it now: the config's `clone_url`, else the latest
/// push's. `None` when nothing was ever pushed and the config names none: there is nothing to compare with.
pub async fn sources(app: &App) -> Vec<(RepositoryConfig, Option<String>)> {
    let mut sources = Vec::new();
    for repo in app.config.repositories.values() {
        let url = match &repo.clone_url {
            Some(url) => Some(url.clone()),
            None => app.store.clone_url(&repo.name).await.unwrap_or_else(|error| {
                tracing::warn!(repo = %repo.name, %error, "cannot read the clone url");
                None
            }),
        };
        // A payload's url from before payloads were held to http(s) is not fetched (see `worker::check`).
        let url = url.filter(|url| {
            let fetched = repo.clone_url.is_some() || is_http_url(url);
            if !fetched {
                tracing::warn!(repo = %repo.name, url, "not reconciled: the latest push's clone_url is not http(s); set clone_url in the server config");
            }
            fetched
        });
        sources.push((repo.clone(), url));
    }
    sources
}

/// Reconciles `first` (the sources read at start, before any webhook was served), then every `reconcile_every`.
pub async fn run(app: Arc<App>, first: Vec<(RepositoryConfig, Option<String>)>, mut stopped: watch::Receiver<bool>) {
    let mut sources = first;
    loop {
        for (repo, url) in &sources {
            let Some(url) = url else { continue };
            if let Err(error) = reconcile(&app, repo, url).await {
                tracing::warn!(repo = %repo.name, %error, "cannot reconcile");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(app.config.reconcile_every) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        sources = self::sources(&app).await;
    }
}

/// Offers each deploy branch's head to the store, which queues it when it has no status coming (no deploy yet, or
/// every job on it superseded) and answers `Known` otherwise.
async fn reconcile(app: &App, repo: &RepositoryConfig, url: &str) -> Result<(), String> {
    let branches = repo.deploy_branches.clone();
    // Before the fetch: a push accepted after this may be newer than the head the fetch finds.
    let read_at = crate::worker::now_ms();
    let heads = app
        .mirrors
        .read(&app.metrics, &repo.name, url, move |git| -> Vec<(String, String)> {
            branches
                .into_iter()
                .filter_map(|branch| {
                    let head = git.resolve(&format!("refs/heads/{branch}")).ok()?;
                    Some((branch, head.to_string()))
                })
                .collect()
        })
        .await
        .map_err(|e| e.to_string())?;
    for (branch, sha) in heads {
        let push = NewPush {
            delivery: format!("reconcile:{}:{branch}:{sha}", repo.name),
            repo: repo.name.clone(),
            branch: branch.clone(),
            sha: sha.clone(),
            clone_url: url.to_owned(),
            read_at: Some(read_at),
            before: None,
        };
        if let Accepted::Queued { deploy, superseded, .. } = app.inbox.accept(push).await? {
            tracing::info!(repo = %repo.name, %branch, %sha, deploy, "queued a branch head that had no status coming");
            if !superseded.is_empty() {
                let superseded = crate::app::superseded_deploys(&superseded);
                tracing::info!(deploy, ?superseded, "superseded the queued work of older pushes");
            }
        }
    }
    Ok(())
}
