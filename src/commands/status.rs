//! Set status: an agent's presence. `available` takes conversations (and
//! hands out what waits at once), `away` and `offline` take none.

use tracing::instrument;

use super::{drain, Actor, CommandError};
use crate::app::App;
use crate::model::{AgentStatus, StatusSet};

/// Set `agent`'s status.
#[derive(Debug)]
pub struct SetStatus {
    /// The agent.
    pub agent: String,
    /// Who sets it: the agent itself, or the admin.
    pub by: Actor,
    /// The new status.
    pub status: AgentStatus,
}

impl SetStatus {
    /// Whether the agent exists (404) and the actor may set its status
    /// (403), before the new status is known.
    pub fn precheck(&self, app: &App) -> Result<(), CommandError> {
        if !app.live().settings.agents.contains_key(&self.agent) {
            return Err(CommandError::NotFound("agent"));
        }
        if !self.by.may_act_for(&self.agent) {
            return Err(CommandError::Forbidden("an agent may only set its own status"));
        }
        Ok(())
    }

    /// Sets it; 404 for an unknown agent, 403 for another agent's.
    #[instrument(name = "set_status", skip_all, fields(agent = %self.agent))]
    pub async fn apply(self, app: &App) -> Result<StatusSet, CommandError> {
        self.precheck(app)?;
        app.store.set_agent_status(&self.agent, self.status.as_str()).await.map_err(|e| CommandError::unavailable(&e))?;
        tracing::info!(status = self.status.as_str(), "agent status changed");
        if self.status == AgentStatus::Available {
            drain(app).await;
        }
        Ok(StatusSet { agent: self.agent, status: self.status })
    }
}
