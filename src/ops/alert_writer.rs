//! The alert writer: tasks (one on SQLite, two on PostgreSQL: `AlertStore::alert_writers`)
//! that record concurrent deliveries' alerts in one transaction and one commit (group
//! commit). A delivery whose group's incident is active (the hot path of
//! a busy Alertmanager) enqueues its `RecordJob` and waits; the writer takes everything queued
//! (up to `max_batch`), hands it to `AlertStore::record_alerts_batch`, and answers each
//! delivery only after that commit, so a 2xx still means stored. On PostgreSQL a commit is an
//! fsync and every statement a round trip, so one commit and one statement of each kind for
//! many deliveries is the lever.
//!
//! The queue is bounded: when it is full a delivery waits for room (backpressure), it is never
//! dropped. Nothing here is the only record of anything: a job not yet committed is only in the
//! memory of the request that waits for it, which answers the sender with an error if the
//! writer goes away, and the sender sends again.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{RecordJob, Recorded, Store, StoreError};

/// Deliveries that may wait for the writer. More than the HTTP clients a busy sender runs at
/// once (Alertmanager sends each group from its own goroutine), so concurrent deliveries
/// rarely wait for room; small enough that what waits stays a few hundred kilobytes.
pub const ALERT_QUEUE_CAPACITY: usize = 256;

/// Jobs per transaction at most: bounds how long one commit holds the incidents' locks and
/// how long the first delivery of a batch waits for the last one's writes.
pub const ALERT_BATCH_MAX: usize = 64;

/// A job and where its outcome goes.
type Queued = (RecordJob, oneshot::Sender<Result<Recorded, StoreError>>);

/// Why the writer did not answer a job.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer task ended before answering (the process is shutting down, or the task
    /// failed); whether the job was committed is unknown, and sending it again is safe.
    #[error("the alert writer stopped before recording this delivery")]
    Gone,
}

/// A handle on the writer task; clones share the task, which ends when the last is dropped.
#[derive(Clone, Debug)]
pub struct AlertWriter {
    /// Bounded (see `ALERT_QUEUE_CAPACITY`): `send` waits while it is full.
    queue: mpsc::Sender<Queued>,
}

impl AlertWriter {
    /// Starts the writer on the current tokio runtime, with a queue of `capacity` jobs and
    /// at most `max_batch` jobs per transaction (each at least 1).
    pub fn spawn(store: Arc<dyn Store>, capacity: usize, max_batch: usize) -> AlertWriter {
        let (queue, jobs) = mpsc::channel(capacity.max(1));
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        // Writer tasks take batches from the one queue: one on SQLite, whose single writer
        // serializes them anyway; a few on PostgreSQL, where one writer would wait out every
        // round trip of its batch alone (see `AlertStore::alert_writers`). They lock incidents
        // in the same order (see `record_alerts_batch`), so they cannot deadlock.
        for _ in 0..store.alert_writers().max(1) {
            tokio::spawn(write_batches(store.clone(), jobs.clone(), max_batch.max(1)));
        }
        AlertWriter { queue }
    }

    /// Records `job` in the writer's next transaction; answers once it is committed (or has
    /// failed). Waits for room while the queue is full.
    pub async fn record(&self, job: RecordJob) -> Result<Recorded, WriterError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| WriterError::Gone)?;
        Ok(answer.await.map_err(|_| WriterError::Gone)??)
    }
}

/// The writer task: take what is queued, record it in one transaction, answer each job.
/// No artificial delay: while one batch is written the next one queues, so batches grow with
/// the load and a lone delivery is written at once.
/// One writer holds the receiver while it waits, so the next batch forms while others write.
async fn write_batches(
    store: Arc<dyn Store>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Queued>>>,
    max_batch: usize,
) {
    let mut taken = Vec::with_capacity(max_batch);
    loop {
        let count = queue.lock().await.recv_many(&mut taken, max_batch).await;
        if count == 0 {
            return;
        }
        let (jobs, replies): (Vec<RecordJob>, Vec<_>) = taken.drain(..).unzip();
        let batch = store.record_alerts_batch(&jobs).await;
        if batch.retried {
            crate::metrics::alert_batch_retried();
        }
        for (reply, result) in replies.into_iter().zip(batch.results) {
            // The delivery may have given up (its client disconnected); its job is stored
            // all the same, and a replay changes nothing.
            let _ = reply.send(result);
        }
    }
}
