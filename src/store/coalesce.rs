//! Opportunistic batching of one kind of Redis call: requests that arrive
//! while earlier ones are in flight go to Redis together, as one script
//! call. Nothing waits for a batch to fill: an idle store sends each
//! request alone, at once, and a busy one sends what queued up meanwhile,
//! so a batch costs no latency and saves a round trip (and a script
//! dispatch in redis-server) per request under load.
//!
//! A batch runs its requests in the order they arrived, in one atomic
//! script, so each sees the effects of those before it, exactly as if they
//! had been sent one after the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::StoreError;

/// What runs one batch: the requests in arrival order, one answer each in
/// the same order.
pub type Run<Req, Resp> =
    Arc<dyn Fn(Vec<Req>) -> Pin<Box<dyn Future<Output = Result<Vec<Resp>, StoreError>> + Send>> + Send + Sync>;

type Waiting<Req, Resp> = (Req, oneshot::Sender<Result<Resp, StoreError>>);

/// A batching front of one kind of call.
pub struct Coalescer<Req, Resp> {
    tx: mpsc::UnboundedSender<Waiting<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Coalescer<Req, Resp> {
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
                    let n = requests.len();
                    match run(requests).await {
                        Ok(answers) if answers.len() == n => {
                            for (waiter, answer) in waiters.into_iter().zip(answers) {
                                let _ = waiter.send(Ok(answer));
                            }
                        }
                        Ok(answers) => {
                            let e = StoreError::Corrupt {
                                key: "(batch)".into(),
                                reason: format!("{} answers to {n} requests", answers.len()),
                            };
                            for waiter in waiters {
                                let _ = waiter.send(Err(replicate(&e)));
                            }
                        }
                        Err(e) => {
                            for waiter in waiters {
                                let _ = waiter.send(Err(replicate(&e)));
                            }
                        }
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
        let run: Run<u32, u32> = Arc::new(move |batch: Vec<u32>| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(batch.into_iter().map(|x| x * 10).collect())
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
}
