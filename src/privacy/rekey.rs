//! `switchboard rekey --config …`: after a new key was put first in
//! `[security] data_keys`, seals again with it every value of Redis sealed
//! with an older key (and every plaintext one written before the keys were
//! set). Resumable: the `SCAN` cursor is kept in Redis, so a run stopped
//! half-way continues where it was; a Redis lock lets one process at a
//! time walk (another run, from another host, is refused until it ends).
//! The streams are not rewritten: their messages age out (or are erased)
//! and stay readable as long as their key is listed.

use std::time::Duration;

use crate::config::Settings;
use crate::store::{RekeyCounts, Store, StoreError};

/// How long the lock lives without being kept (a crashed run frees it).
const LOCK_TTL: Duration = Duration::from_secs(60);

/// Keys looked at per `SCAN` step.
const STEP: usize = 200;

/// Why a rekey did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// No keys configured.
    #[error("[security] data_keys is empty: there is no key to seal with")]
    NoKeys,
    /// Another process holds the lock.
    #[error("another rekey is running (the lock {0} is held); try again when it is through")]
    Locked(String),
    /// The lock expired under this run (it stalled past its life).
    #[error("the rekey lock was lost; run it again to resume")]
    LockLost,
    /// Redis.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the rekey to its end; what it did.
pub async fn run(settings: &Settings) -> Result<RekeyCounts, RekeyError> {
    let keyring = settings.security.keyring().ok_or(RekeyError::NoKeys)?;
    let store = Store::new(&settings.redis)?;
    let token = ulid::Ulid::new().to_string();
    let ttl = LOCK_TTL.as_millis() as u64;
    if !store.rekey_lock(&token, ttl).await? {
        return Err(RekeyError::Locked(store.keys().rekey_lock()));
    }
    let mut total = RekeyCounts::default();
    let result = async {
        loop {
            let (counts, done) = store.rekey_step(&keyring, STEP).await?;
            total.add(&counts);
            if done {
                return Ok(());
            }
            if !store.rekey_keep(&token, ttl).await? {
                return Err(RekeyError::LockLost);
            }
        }
    }
    .await;
    store.rekey_unlock(&token).await?;
    result.map(|()| total)
}
