//! The run's stop signal: a watch channel, so that a task subscribing late
//! still sees that it fired.

/// The receiving side; every clone sees the stop.
pub type Stop = tokio::sync::watch::Receiver<bool>;

/// Resolves when `stop` fires (or its sender is gone).
pub async fn stopped(mut stop: Stop) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Whether `stop` has fired.
pub fn is_stopped(stop: &Stop) -> bool {
    *stop.borrow()
}
