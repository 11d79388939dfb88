//! Opportunistic batching of one kind of Redis call: requests that arrive
//! while earlier ones are in flight go to Redis together, as one script
//! call. Nothing waits for a batch to fill: an idle store sends each
//! request alone, at once, and a busy one sends what queued up meanwhile,
//! so a batch costs no latency and saves a round trip (and a script
//! dispatch in redis-server) per request under load.
//!
//! A batch runs its requests in the order they arrived, in one atomic
//! script, so each sees the effects of those before it, exactly as if they
//! had been sent one after the other. A batch that fails for a reason other
//! than an outage (one request's key of the wrong type, say) is tried again
//! one request at a time, so that only the request at fault fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::StoreError;

/// What runs one batch: the requests in arrival order, one answer each in
/// the same order.
pub type Run<Req, Resp> =
    Arc<dyn Fn(Arc<Vec<Req>>) -> Pin<Box<dyn Future<Output = Result<Vec<Resp>, StoreError>> + Send>> + Send + Sync>;

type Waiting<Req, Resp> = (Req, oneshot::Sender<Result<Resp, StoreError>>);

/// A batching front of one kind of call.
pub struct Coalescer<Req, Resp> {
    tx: mpsc::UnboundedSender<Waiting<Req, Resp>>,
}

impl<Req: Clone + Send + Sync + 'static, Resp: Send + 'static> Coalescer<Req, Resp> {
    /// Starts the batching task (on the current runtime): at most `lanes`
    /// batches in flight, each of at most `max` requests.
    pub fn start(max: usize, lanes: usize, run: Run<Req, Resp>) -> Coalescer<Req, Resp> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiting<Req, Resp>>();
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        tokio::spawn(async move {
            loop {
                // While every lane is busy, requests queue up for the next.
                let Ok(lane) = lanes.clone().acquire_owned().await else { return };
                let Some(first) = rx.recv().await else { return };
                let mut batch = vec![first];
                while batch.len() < max.max(1) {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let run = run.clone();
                tokio::spawn(async move {
                    let (requests, waiters): (Vec<Req>, Vec<_>) = batch.into_iter().unzip();
                    for (waiter, answer) in waiters.into_iter().zip(answer_each(&run, requests).await) {
                        let _ = waiter.send(answer);
                    }
                    drop(lane);
                });
            }
        });
        Coalescer { tx }
    }

    /// Sends `request` with whatever else is waiting, and its answer.
    pub async fn call(&self, request: Req) -> Result<Resp, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((request, tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Runs a batch and answers each of its requests; a batch that failed
/// other than transiently is run again one request at a time.
async fn answer_each<Req: Clone, Resp>(run: &Run<Req, Resp>, requests: Vec<Req>) -> Vec<Result<Resp, StoreError>> {
    let n = requests.len();
    let requests = Arc::new(requests);
    match run(requests.clone()).await {
        Ok(answers) if answers.len() == n => answers.into_iter().map(Ok).collect(),
        Ok(answers) => {
            let e = StoreError::Corrupt { key: "(batch)".into(), reason: format!("{} answers to {n} requests", answers.len()) };
            (0..n).map(|_| Err(replicate(&e))).collect()
        }
        Err(e) if n > 1 && !e.is_transient() => {
            let mut out = Vec::with_capacity(n);
            for request in requests.iter() {
                let alone = run(Arc::new(vec![request.clone()])).await;
                out.push(alone.and_then(|mut a| a.pop().ok_or_else(|| replicate(&e))));
            }
            out
        }
        Err(e) => (0..n).map(|_| Err(replicate(&e))).collect(),
    }
}

/// The batching task is gone (the runtime is shutting down): as transient
/// as a lost connection.
fn gone() -> StoreError {
    StoreError::Redis(redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the batching task stopped",
    )))
}

/// A copy of a batch's error for each of its requests, keeping what
/// decides how it is handled (an I/O error and its kind stay one, so a
/// transient outage stays transient).
fn replicate(e: &StoreError) -> StoreError {
    match e {
        StoreError::Url => StoreError::Url,
        StoreError::Corrupt { key, reason } => StoreError::Corrupt { key: key.clone(), reason: reason.clone() },
        StoreError::Redis(r) => {
            let io = std::error::Error::source(r).and_then(|s| s.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
            let copy = match io {
                Some(kind) => redis::RedisError::from(std::io::Error::new(kind, r.to_string())),
                None if r.is_io_error() => {
                    redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionReset, r.to_string()))
                }
                None => redis::RedisError::from((r.kind(), "batched call failed", r.to_string())),
            };
            StoreError::Redis(copy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn requests_queued_meanwhile_go_together_and_in_order() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let run: Run<u32, u32> = Arc::new(move |batch: Arc<Vec<u32>>| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(batch.iter().map(|x| x * 10).collect())
            })
        });
        let c = Arc::new(Coalescer::start(64, 1, run));
        let first = tokio::spawn({
            let c = c.clone();
            async move { c.call(0).await.unwrap() }
        });
        // The first is in flight alone (an idle store does not wait)…
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // …and the 49 that come meanwhile go together, after it, in order.
        let rest = futures::future::join_all((1..50u32).map(|i| {
            let c = c.clone();
            async move { c.call(i).await.unwrap() }
        }))
        .await;
        assert_eq!(first.await.unwrap(), 0);
        assert_eq!(rest, (1..50u32).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_request_alike() {
        let run: Run<u32, u32> = Arc::new(|_| {
            Box::pin(async {
                Err(StoreError::Redis(redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "down"))))
            })
        });
        let c = Coalescer::start(8, 2, run);
        let e = c.call(1).await.unwrap_err();
        assert!(e.is_transient(), "{e}");
        let wrong: Run<u32, u32> = Arc::new(|_| Box::pin(async { Ok(vec![]) }));
        let c = Coalescer::start(8, 2, wrong);
        assert!(matches!(c.call(1).await, Err(StoreError::Corrupt { .. })));
    }

    #[tokio::test]
    async fn a_request_at_fault_fails_alone() {
        // Request 13 makes any batch it is in fail (not an outage).
        let run: Run<u32, u32> = Arc::new(|batch: Arc<Vec<u32>>| {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if batch.contains(&13) {
                    return Err(StoreError::Corrupt { key: "k".into(), reason: "wrong type".into() });
                }
                Ok(batch.iter().map(|x| x + 1).collect())
            })
        });
        let c = Arc::new(Coalescer::start(64, 1, run));
        let answers = futures::future::join_all((10..20u32).map(|i| {
            let c = c.clone();
            async move { c.call(i).await }
        }))
        .await;
        for (i, answer) in (10..20u32).zip(answers) {
            match answer {
                Ok(v) => assert_eq!(v, i + 1),
                Err(e) => assert_eq!(i, 13, "{i} failed with {e}"),
            }
        }
    }
}
