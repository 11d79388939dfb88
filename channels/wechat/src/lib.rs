//! The WeChat Official Account channel of switchboard.
//!
//! Inbound, a push goes through pure steps with no I/O, so they are fuzzed
//! and tested against WeChat's published vectors:
//!
//! 1. `GET /webhooks/wechat/{account}`: [`verify_echo`] checks `signature`
//!    and returns the `echostr` to answer.
//! 2. `POST`: [`Verified::check`] verifies `signature` (plaintext mode) or
//!    `msg_signature` and then decrypts (safe and compatible mode), checking
//!    the AppID inside; the only way to a [`Verified`] is through it.
//! 3. [`decode`] turns the verified XML into a [`Push`]: a customer message
//!    as a [`switchboard_core::InboundMessage`], or a [`WechatEvent`]
//!    (follow, unfollow, QR scan, menu click/view, location report) that
//!    mostly updates the customer's profile ([`EventKind::is_conversational`]).
//!
//! Each failure is a [`WechatError`] whose [`kind`](WechatError::kind) tells
//! the daemon which 4xx to answer. WeChat retries a push up to three times
//! when it gets no answer within 5 s, so the daemon answers `success` fast
//! and de-duplicates by [`Push::dedupe_key`].
//!
//! What a message carries, by `MsgType`: `text` → `Content` as the text;
//! `image` → an `image/*` attachment with `PicUrl` and `MediaId`; `voice` →
//! an `audio/<Format>` attachment with `MediaId`, and `Recognition` as the
//! text when present; `video`/`shortvideo` → a `video/*` attachment with
//! `MediaId` (`ThumbMediaId` in metadata); `location` → `Label` as the text,
//! coordinates and scale in metadata; `link` → `Title` and `Url` as the
//! text, `Description` in metadata. Metadata always has `MsgType` and
//! `CreateTime`.
//!
//! Outbound, [`WechatApi`] fetches access tokens and sends customer-service
//! text messages; [`within_reply_window`] tells the daemon beforehand
//! whether WeChat's 48-hour window is still open. Caching the token (in
//! Redis, for all replicas), de-duplicating and acknowledging belong to the
//! daemon: this crate never talks to NATS or Redis.

mod crypto;
mod decode;
mod error;
mod http;
mod sender;
mod signature;
mod verify;
mod window;
mod xml;

#[cfg(test)]
mod vectors;

pub use crypto::{encrypt, AccountKeys};
pub use decode::{decode, EventKind, Push, WechatEvent, MAX_CREATE_TIME};
pub use error::{Result, WechatError};
pub use sender::{AccessToken, ApiOptions, WechatApi, WechatSendError};
pub use signature::{signature, verify_echo, PushQuery};
pub use verify::{PushPolicy, Verified};
pub use window::{within_reply_window, REPLY_WINDOW};
