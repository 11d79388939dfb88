//! Note: an internal note, kept with the messages (`direction: note`) for
//! agents, never sent to the customer.

use tracing::instrument;

use super::{visible, Actor, CommandError};
use crate::app::App;
use crate::model::{Direction, Note};

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Add a note to `conversation`.
#[derive(Debug)]
pub struct AddNote {
    /// The conversation.
    pub conversation: String,
    /// Who writes it.
    pub by: Actor,
    /// The note; trimmed, 1 to 4000 characters.
    pub text: String,
}

impl AddNote {
    /// Stores the note and answers it.
    #[instrument(name = "note", skip_all, fields(conversation = %self.conversation))]
    pub async fn apply(self, app: &App) -> Result<Note, CommandError> {
        visible(app, &self.by, &self.conversation).await?;
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
            return Err(CommandError::Invalid { field: "text", why: "must be 1 to 4000 characters" });
        }
        let note = Note {
            id: ulid::Ulid::new().to_string(),
            direction: Direction::Note,
            agent: self.by.name().to_owned(),
            text: text.to_owned(),
            at: chrono::Utc::now(),
        };
        let stored = serde_json::to_string(&note).map_err(|e| CommandError::unavailable(&e))?;
        app.store.append_message(&self.conversation, &stored).await.map_err(|e| CommandError::unavailable(&e))?;
        Ok(note)
    }
}
