//! After the incident (SPEC §1 "Review and action item"): the post-incident review a resolved
//! incident gets, and the follow-up action items people take on. Both are read models of the
//! timeline (`review_scheduled`, `review_done`, `action_item_added`, `action_item_done`).

use serde::Serialize;

use super::{Actor, IncidentId, Timestamp};

/// The timer kind that reminds a review's owner once its due date has passed.
pub const REVIEW_DUE_TIMER: &str = "review_due";

/// The timer kind that reminds an action item's owner once its due date has passed.
pub const ACTION_DUE_TIMER: &str = "action_item_due";

/// A resolved incident's post-incident review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Review {
    pub incident_id: IncidentId,
    pub owner: Actor,
    pub due_at: Timestamp,
    pub created_at: Timestamp,
    /// When the review meeting is (a Discord Scheduled Event shows it).
    pub meeting_at: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<String>,
}

impl Review {
    pub fn is_done(&self) -> bool {
        self.done_at.is_some()
    }

    /// `open` or `done`.
    pub fn state(&self) -> &'static str {
        if self.is_done() { "done" } else { "open" }
    }

    /// Done by its due date.
    pub fn on_time(&self) -> bool {
        self.done_at.is_some_and(|done| done <= self.due_at)
    }
}

/// One follow-up action item of an incident, numbered from 1 per incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    pub incident_id: IncidentId,
    pub number: i64,
    pub text: String,
    pub owner: Actor,
    pub due_at: Timestamp,
    pub added_at: Timestamp,
    pub added_by: String,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<String>,
}

impl ActionItem {
    pub fn is_done(&self) -> bool {
        self.done_at.is_some()
    }

    /// How people and timers name it: `INC-12#3`.
    pub fn label(&self) -> String {
        action_label(self.incident_id, self.number)
    }
}

/// `INC-12#3`: the timer subject and outbox key of an incident's third action item.
pub fn action_label(incident: IncidentId, number: i64) -> String {
    format!("{incident}#{number}")
}
