//! Typing: shows or hides "agent is typing" in the visitor's web chat
//! (live only, not stored).

use switchboard_core::Channel;
use switchboard_webchat::{Sender, ServerFrame};

use super::{CommandError, Visible};
use crate::app::App;

/// Show (`on: true`) or hide the typing indicator in `conversation`.
#[derive(Debug)]
pub struct Typing {
    /// The conversation, and who types.
    pub conversation: Visible,
    /// Typing or not.
    pub on: bool,
}

impl Typing {
    /// Sends it to the visitor's open sockets; 409 `unsupported` outside
    /// web chat.
    pub async fn apply(self, app: &App) -> Result<(), CommandError> {
        let conv = self.conversation.record();
        if conv.channel != Channel::Webchat {
            return Err(CommandError::Conflict { code: "unsupported", message: "typing indicators exist only in web chat".into() });
        }
        let visitor = conv.address.clone().unwrap_or_default();
        let frame = ServerFrame::Typing { from: Sender::Agent, on: self.on };
        crate::outbound::webchat::push(app, &visitor, &frame, None).await;
        Ok(())
    }
}
