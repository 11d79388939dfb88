//! The web chat channel's state on one instance: the session issuer (its
//! secret rotated by a reload) and the caps on open visitor sockets. The
//! routes that use it are in `http::webchat`; agent replies reach the
//! sockets over NATS (`outbound::webchat`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use secrecy::SecretString;
use switchboard_webchat::SessionIssuer;

use crate::config::{Settings, WebchatSettings};

/// The web chat channel of one instance, when `[channels.webchat]` is
/// configured.
#[derive(Debug)]
pub struct Chat {
    /// Replaced when a reload rotates `session_secret`.
    issuer: ArcSwap<SessionIssuer>,
    settings: WebchatSettings,
    public_url: String,
    sockets: Arc<Sockets>,
}

/// The session issuer for `w`'s `session_secret` and lifetime.
pub fn issuer(w: &WebchatSettings) -> Result<SessionIssuer, String> {
    let secret = w.session_secret.clone().unwrap_or_else(|| SecretString::from(String::new()));
    SessionIssuer::new(secret, Duration::from_secs(w.session_ttl_secs)).map_err(|e| e.to_string())
}

impl Chat {
    /// The channel for `settings`, or `None` when web chat is not configured.
    pub fn new(settings: &Settings) -> Result<Option<Chat>, String> {
        let Some(w) = &settings.channels.webchat else { return Ok(None) };
        Ok(Some(Chat {
            issuer: ArcSwap::from_pointee(issuer(w)?),
            settings: w.clone(),
            public_url: settings.server.public_url.clone(),
            sockets: Arc::default(),
        }))
    }

    /// Signs and checks sessions with `issuer` from now on (a reload that
    /// rotates `session_secret`): sessions signed with the previous secret
    /// are refused, and their widgets open new ones.
    pub fn rotate(&self, issuer: SessionIssuer) {
        self.issuer.store(Arc::new(issuer));
    }

    /// The session issuer in force now.
    pub fn issuer(&self) -> Arc<SessionIssuer> {
        self.issuer.load_full()
    }

    /// The channel's settings (as at start; the secret is rotated apart).
    pub fn settings(&self) -> &WebchatSettings {
        &self.settings
    }

    /// Whether a browser page of `origin` may use the web chat.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.settings.origin_allowed(origin, &self.public_url)
    }

    /// A place for one more socket of `visitor`, or which cap is reached.
    pub fn take_socket(&self, visitor: &str) -> Result<SocketSlot, SocketCap> {
        self.sockets.take(visitor, &self.settings)
    }
}

/// The visitor sockets open on this instance, in all and per visitor.
#[derive(Debug, Default)]
struct Sockets {
    open: Mutex<(u32, HashMap<String, u32>)>,
}

/// A socket cap that is reached.
#[derive(Debug, thiserror::Error)]
pub enum SocketCap {
    /// `max_sockets_per_visitor`.
    #[error("this visitor already has {0} sockets open (channels.webchat.max_sockets_per_visitor); close one first")]
    Visitor(u32),
    /// `max_sockets`.
    #[error("the web chat holds as many sockets as it may (channels.webchat.max_sockets); retry later")]
    Instance,
}

/// One visitor socket's place under the caps, given back when dropped
/// (the socket closed, or the upgrade never happened).
#[derive(Debug)]
pub struct SocketSlot {
    sockets: Arc<Sockets>,
    visitor: String,
}

impl Sockets {
    fn take(self: &Arc<Self>, visitor: &str, settings: &WebchatSettings) -> Result<SocketSlot, SocketCap> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_visitor) = &mut *open;
        let mine = per_visitor.get(visitor).copied().unwrap_or(0);
        if mine >= settings.max_sockets_per_visitor {
            return Err(SocketCap::Visitor(mine));
        }
        if *total >= settings.max_sockets {
            return Err(SocketCap::Instance);
        }
        *total += 1;
        per_visitor.insert(visitor.to_owned(), mine + 1);
        Ok(SocketSlot { sockets: self.clone(), visitor: visitor.to_owned() })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_visitor) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = per_visitor.get_mut(&self.visitor) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_visitor.remove(&self.visitor);
            }
        }
    }
}
