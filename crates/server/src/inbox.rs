//! The inbox writer: accepted pushes reach the store in batches, one transaction (one fsync) per batch, and each
//! webhook is answered only after its batch committed.
//!
//! Group commit is what lets durable acceptance keep up with a burst: requests that arrive while a commit is under
//! way wait for the next one together instead of queueing one fsync each.

use std::sync::Arc;

use greenlight_store::{Accepted, NewPush, Store};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The most pushes committed together.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<Accepted, String>>;

pub struct Inbox {
    sender: mpsc::Sender<(NewPush, Reply)>,
    closed: watch::Sender<bool>,
    /// Woken after each commit: workers claim at once instead of at their next poll.
    pub committed: Arc<Notify>,
}

impl Inbox {
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let (closed, on_close) = watch::channel(false);
        let committed = Arc::new(Notify::new());
        let writer = tokio::spawn(write(store, receiver, on_close, committed.clone()));
        (Self { sender, closed, committed }, writer)
    }

    /// Writes `push` to the store; returns once it is committed (or could not be).
    pub async fn accept(&self, push: NewPush) -> Result<Accepted, String> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((push, reply)).await.map_err(|_| "the server is shutting down".to_owned())?;
        answer.await.map_err(|_| "the inbox writer stopped".to_owned())?
    }

    /// Lets the writer finish what it holds and stop.
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }
}

async fn write(
    store: Store,
    mut receiver: mpsc::Receiver<(NewPush, Reply)>,
    mut closed: watch::Receiver<bool>,
    committed: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            item = receiver.recv() => item,
            _ = closed.wait_for(|closed| *closed) => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        commit(&store, &mut batch, &committed).await;
    }
    // Closing: whatever is still in the channel was sent by a request that waits for its answer.
    receiver.close();
    while let Some(item) = receiver.recv().await {
        batch.push(item);
    }
    if !batch.is_empty() {
        commit(&store, &mut batch, &committed).await;
    }
}

async fn commit(store: &Store, batch: &mut Vec<(NewPush, Reply)>, committed: &Notify) {
    let (pushes, replies): (Vec<NewPush>, Vec<Reply>) = batch.drain(..).unzip();
    match store.accept(&pushes, crate::worker::now_ms()).await {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
            committed.notify_waiters();
        }
        Err(error) => {
            tracing::error!(%error, pushes = pushes.len(), "cannot write deliveries to the store");
            for reply in replies {
                let _ = reply.send(Err(format!("the store refused the delivery: {error}")));
            }
        }
    }
}
