//! Names derived from `nats.prefix`, in one place.

use switchboard_core::Channel;

/// Subject, stream and consumer names for one prefix.
#[derive(Clone, Debug)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Names for `prefix` (validated by the configuration).
    pub fn new(prefix: &str) -> Self {
        Subjects { prefix: prefix.to_owned() }
    }

    /// `P.inbound.<channel>`
    pub fn inbound(&self, channel: Channel) -> String {
        format!("{}.inbound.{channel}", self.prefix)
    }

    /// `P.inbound.notice.<channel>`: a provider's notice (a delivery
    /// status, a profile event), on the inbound stream beside the messages.
    pub fn notice(&self, channel: Channel) -> String {
        format!("{}.inbound.notice.{channel}", self.prefix)
    }

    /// Whether `subject` is a [`notice`](Self::notice) subject.
    pub fn is_notice(&self, subject: &str) -> bool {
        subject.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with(".inbound.notice."))
    }

    /// `P.inbound.>`
    pub fn inbound_all(&self) -> String {
        format!("{}.inbound.>", self.prefix)
    }

    /// `P.outbound.<channel>`
    pub fn outbound(&self, channel: Channel) -> String {
        format!("{}.outbound.{channel}", self.prefix)
    }

    /// `P.outbound.>`
    pub fn outbound_all(&self) -> String {
        format!("{}.outbound.>", self.prefix)
    }

    /// `P.events.<suffix>` where the suffix is the CloudEvents type without
    /// its `switchboard.` head, e.g. `P.events.conversation.assigned`.
    pub fn event(&self, event_type: &str) -> String {
        let suffix = event_type.strip_prefix("switchboard.").unwrap_or(event_type);
        format!("{}.events.{suffix}", self.prefix)
    }

    /// `P.events.>`
    pub fn events_all(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// `P.agent.<id>`
    pub fn agent(&self, agent: &str) -> String {
        format!("{}.agent.{agent}", self.prefix)
    }

    /// `P.queue.<name>`
    pub fn queue(&self, queue: &str) -> String {
        format!("{}.queue.{queue}", self.prefix)
    }

    /// `P.webchat.<visitor id>`: core NATS frames (agent messages, typing,
    /// the visitor's own messages) for whichever replica holds the
    /// visitor's sockets. Not durable: a visitor who is not connected gets
    /// them through `history` on the next connect.
    pub fn webchat(&self, visitor: &str) -> String {
        format!("{}.webchat.{visitor}", self.prefix)
    }

    /// `P.config.changed`: an admin changed agents or queues at run time;
    /// every replica reloads (core NATS).
    pub fn config_changed(&self) -> String {
        format!("{}.config.changed", self.prefix)
    }

    /// `P.audit.<action>`: one audit event (`switchboard.audit.<action>`).
    pub fn audit(&self, action: &str) -> String {
        format!("{}.audit.{action}", self.prefix)
    }

    /// Stream of the audit trail (`P.audit.>`).
    pub fn audit_stream(&self) -> String {
        format!("{}_audit", self.prefix)
    }

    /// Stream of inbound messages.
    pub fn inbound_stream(&self) -> String {
        format!("{}_inbound", self.prefix)
    }

    /// Stream of outbound messages.
    pub fn outbound_stream(&self) -> String {
        format!("{}_outbound", self.prefix)
    }

    /// Stream of events.
    pub fn events_stream(&self) -> String {
        format!("{}_events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_prefix() {
        let s = Subjects::new("t1");
        assert_eq!(s.inbound(Channel::Sms), "t1.inbound.sms");
        assert_eq!(s.outbound(Channel::Sms), "t1.outbound.sms");
        assert_eq!(s.event("switchboard.conversation.assigned"), "t1.events.conversation.assigned");
        assert_eq!(s.agent("alice"), "t1.agent.alice");
        assert_eq!(s.queue("returns"), "t1.queue.returns");
        assert_eq!(s.inbound_stream(), "t1_inbound");
        assert_eq!(s.events_all(), "t1.events.>");
    }

    #[test]
    fn notices_share_the_inbound_stream_and_are_told_apart() {
        let s = Subjects::new("t1");
        assert_eq!(s.notice(Channel::Email), "t1.inbound.notice.email");
        assert!(s.is_notice(&s.notice(Channel::Sms)));
        assert!(!s.is_notice(&s.inbound(Channel::Sms)));
        assert!(!Subjects::new("t2").is_notice(&s.notice(Channel::Sms)), "another prefix's notice is not ours");
    }
}
