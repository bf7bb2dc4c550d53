//! The inbox writer: accepted pushes reach the store in batches, one transaction per batch, and each webhook is
//! answered only after its batch is durable.
//!
//! Group commit is what lets durable acceptance keep up with a burst. Two tasks form a pipeline: the writer commits
//! whatever requests are waiting as one batch, hands the batch to the syncer, and goes on with the next; the syncer
//! makes every batch committed so far durable with one sync ([`Store::sync`]) and then answers their requests. So a
//! batch is being written while the one before it is being synced, and one sync covers all the batches that were
//! committed while the previous sync ran.

use std::sync::Arc;
use std::time::Instant;

use greenlight_store::{Accepted, NewPush, Store};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::metrics::InboxMetrics;

/// The most pushes committed together.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<Accepted, String>>;

/// A committed batch waiting for its sync: each request's reply and its answer.
type Committed = Vec<(Reply, Accepted)>;

pub struct Inbox {
    sender: mpsc::Sender<(NewPush, Reply)>,
    closed: watch::Sender<bool>,
    /// Woken after each sync: workers claim at once instead of at their next poll.
    pub committed: Arc<Notify>,
}

impl Inbox {
    pub fn start(store: Store, metrics: InboxMetrics) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let (closed, on_close) = watch::channel(false);
        let committed = Arc::new(Notify::new());
        let (to_sync, synced) = mpsc::unbounded_channel();
        let syncer = tokio::spawn(sync(store.clone(), synced, committed.clone()));
        let writer = Writer { store, to_sync, metrics };
        let writer = tokio::spawn(async move {
            writer.run(receiver, on_close).await;
            // The writer dropped its end: the syncer answers what it still holds, then stops.
            let _ = syncer.await;
        });
        (Self { sender, closed, committed }, writer)
    }

    /// Writes `push` to the store; returns once it is durable (or could not be written).
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

struct Writer {
    store: Store,
    to_sync: mpsc::UnboundedSender<Committed>,
    metrics: InboxMetrics,
}

impl Writer {
    async fn run(self, mut receiver: mpsc::Receiver<(NewPush, Reply)>, mut closed: watch::Receiver<bool>) {
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
            self.commit(&mut batch).await;
        }
        // Closing: whatever is still in the channel was sent by a request that waits for its answer.
        receiver.close();
        while let Some(item) = receiver.recv().await {
            batch.push(item);
        }
        if !batch.is_empty() {
            self.commit(&mut batch).await;
        }
    }

    async fn commit(&self, batch: &mut Vec<(NewPush, Reply)>) {
        let (pushes, replies): (Vec<NewPush>, Vec<Reply>) = batch.drain(..).unzip();
        let started = Instant::now();
        let written = self.store.accept_unsynced(&pushes, crate::worker::now_ms()).await;
        self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.batch_size.observe(pushes.len() as f64);
        match written {
            Ok(answers) => {
                // The syncer outlives the writer, so this cannot fail while requests wait.
                let _ = self.to_sync.send(replies.into_iter().zip(answers).collect());
            }
            Err(error) => {
                tracing::error!(%error, pushes = pushes.len(), "cannot write deliveries to the store");
                for reply in replies {
                    let _ = reply.send(Err(format!("the store refused the delivery: {error}")));
                }
            }
        }
    }
}

/// The syncer: takes every committed batch waiting, syncs once, answers them all.
async fn sync(store: Store, mut batches: mpsc::UnboundedReceiver<Committed>, committed: Arc<Notify>) {
    let mut waiting = Vec::new();
    while batches.recv_many(&mut waiting, usize::MAX).await > 0 {
        match store.sync().await {
            Ok(()) => {
                for (reply, answer) in waiting.drain(..).flatten() {
                    let _ = reply.send(Ok(answer));
                }
                committed.notify_waiters();
            }
            Err(error) => {
                tracing::error!(%error, "cannot make accepted deliveries durable");
                for (reply, _) in waiting.drain(..).flatten() {
                    let _ = reply.send(Err(format!("the store could not make the delivery durable: {error}")));
                }
            }
        }
    }
}
