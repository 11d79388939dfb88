//! Note: an internal note, kept with the messages (`direction: note`) for
//! agents, never sent to the customer.

use tracing::instrument;

use super::{CommandError, Visible};
use crate::app::App;
use crate::model::{Direction, Note};

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Add a note to `conversation`.
#[derive(Debug)]
pub struct AddNote {
    /// The conversation, and who writes the note.
    pub conversation: Visible,
    /// The note; trimmed, 1 to 4000 characters.
    pub text: String,
}

impl AddNote {
    /// Stores the note and answers it.
    #[instrument(name = "note", skip_all, fields(conversation = %self.conversation.id()))]
    pub async fn apply(self, app: &App) -> Result<Note, CommandError> {
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
            return Err(CommandError::Invalid { field: "text", why: "must be 1 to 4000 characters" });
        }
        let note = Note {
            id: ulid::Ulid::new().to_string(),
            direction: Direction::Note,
            agent: self.conversation.by().name().to_owned(),
            text: text.to_owned(),
            at: chrono::Utc::now(),
        };
        let stored = serde_json::to_string(&note).map_err(|e| CommandError::unavailable(&e))?;
        app.store.append_message(self.conversation.id(), &stored).await.map_err(|e| CommandError::unavailable(&e))?;
        Ok(note)
    }
}
