//! `warroom incident review` and `warroom incident action ...`: the post-incident review and
//! follow-up action items without Discord, printed for people or as JSON.

use std::io::Write;

use clap::{Args, Subcommand};

use crate::domain::{ActionItem, IncidentId, Review};
use crate::ops::{ActionRequest, Ops, Principal, ReviewRequest};

#[derive(Debug, Args)]
pub struct ReviewArgs {
    pub id: IncidentId,
    /// When the review meeting is: 2026-12-24T18:00:00Z, "2026-12-24 18:00" (UTC) or a span
    /// like 2d (a Discord Scheduled Event shows it)
    #[arg(long, value_name = "TIME")]
    pub when: Option<String>,
    /// Who owns the review: a Discord user id
    #[arg(long, value_name = "ID")]
    pub owner: Option<String>,
    /// Mark the review done
    #[arg(long)]
    pub done: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Add an action item
    Add {
        id: IncidentId,
        #[arg(long)]
        text: String,
        /// Who does it: a Discord user id
        #[arg(long, value_name = "DISCORD_ID")]
        owner: String,
        /// When it is due: 2026-12-24 (end of that day, UTC), an RFC 3339 time or a span like 7d
        #[arg(long, value_name = "DATE")]
        due: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark action item ITEM (its number) of incident ID done
    Done {
        id: IncidentId,
        item: i64,
        #[arg(long)]
        json: bool,
    },
    /// List the incident's action items
    List {
        id: IncidentId,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn review(
    ops: &Ops,
    who: &Principal,
    args: ReviewArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let request = ReviewRequest {
        when: args.when,
        owner: args.owner,
        done: args.done,
    };
    let review = ops.review(who, args.id, request).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &review)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", describe_review(&review))?;
    }
    Ok(())
}

/// One line about a review, for people.
pub fn describe_review(review: &Review) -> String {
    let mut line = format!(
        "Review of {}: {}, owner {}, due {}",
        review.incident_id,
        review.state(),
        review.owner.name,
        review.due_at.human()
    );
    if let Some(at) = review.meeting_at {
        line.push_str(&format!(", meeting {}", at.human()));
    }
    if let Some(at) = review.done_at {
        line.push_str(&format!(", done {}", at.human()));
    }
    line
}

/// One line about an action item, for people.
pub fn describe_item(item: &ActionItem) -> String {
    let state = match item.done_at {
        Some(at) => format!("done {}", at.human()),
        None => "open".to_owned(),
    };
    format!(
        "#{} [{state}] {} — {}, due {}",
        item.number,
        item.text,
        item.owner.name,
        item.due_at.human()
    )
}

pub(super) async fn action(
    ops: &Ops,
    who: &Principal,
    command: ActionCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (items, json) = match command {
        ActionCommand::Add {
            id,
            text,
            owner,
            due,
            json,
        } => {
            let request = ActionRequest { text, owner, due };
            (vec![ops.add_action_item(who, id, request).await?], json)
        }
        ActionCommand::Done { id, item, json } => {
            (vec![ops.finish_action_item(who, id, item).await?], json)
        }
        ActionCommand::List { id, json } => {
            let items = ops.action_items(who, id).await?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &items)?;
                writeln!(out)?;
            } else if items.is_empty() {
                writeln!(out, "{id} has no action items")?;
            }
            if json {
                return Ok(());
            }
            (items, false)
        }
    };
    for item in &items {
        if json {
            serde_json::to_writer_pretty(&mut *out, item)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", describe_item(item))?;
        }
    }
    Ok(())
}
