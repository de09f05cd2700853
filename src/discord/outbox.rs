//! The DM outbox (SPEC §8): direct messages warroom owes people outside any incident channel
//! (an overdue action item's owner, whoever comes on call) are rows written by whatever
//! decided them, in any process; the gateway holder's projector sends each once. A message
//! nonce made from the row (with `enforce_nonce`) keeps a send retried after a crash from
//! arriving twice.

use serenity::all::{CreateAllowedMentions, CreateMessage, Nonce, UserId};

use super::context::Bot;
use super::render;
use super::rooms::Failed;
use crate::store::OutboxDm;

/// Direct messages sent per round.
const BATCH: u32 = 50;

/// Attempts at a message that keeps failing for a reason that may pass before it is given up.
const ATTEMPTS: i64 = 10;

impl Bot {
    /// Sends what the outbox holds; false when something is to be retried.
    pub(crate) async fn send_outbox(&self) -> bool {
        let store = self.ops().store();
        let dms = match store.unsent_dms(BATCH).await {
            Ok(dms) => dms,
            Err(error) => {
                tracing::warn!(%error, "cannot read the DM outbox");
                return false;
            }
        };
        let mut done = true;
        for dm in dms {
            let now = self.ops().clock().now();
            let (sent_at, outcome) = match self.send_dm(&dm).await {
                Ok(()) => (Some(now), "sent".to_owned()),
                Err(failed) if failed.permanent || dm.attempts + 1 >= ATTEMPTS => {
                    tracing::warn!(key = %dm.key, user = dm.user_id, reason = %failed, "a direct message cannot be sent; given up");
                    (Some(now), format!("not sent: {failed}"))
                }
                Err(failed) => {
                    tracing::info!(key = %dm.key, user = dm.user_id, reason = %failed, "a direct message could not be sent yet; retrying shortly");
                    done = false;
                    (None, format!("failed for now: {failed}"))
                }
            };
            if let Err(error) = store.record_dm(dm.id, sent_at, &outcome).await {
                tracing::warn!(%error, key = %dm.key, "cannot record a direct message's outcome; it is sent again (its nonce keeps it once)");
                done = false;
            }
        }
        done
    }

    async fn send_dm(&self, dm: &OutboxDm) -> Result<(), Failed> {
        let channel = UserId::new(dm.user_id)
            .create_dm_channel(self.http())
            .await
            .map_err(|error| Failed::of(&error, "opening the DM channel"))?;
        let message = CreateMessage::new()
            .content(render::fit(dm.content.clone()))
            .allowed_mentions(CreateAllowedMentions::new())
            .nonce(Nonce::String(format!("wo{}", dm.id)))
            .enforce_nonce(true);
        channel
            .id
            .send_message(self.http(), message)
            .await
            .map(|_| ())
            .map_err(|error| Failed::of(&error, "sending the DM"))
    }
}
