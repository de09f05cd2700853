//! The post-mortem's follow-up: the review (owner, due, meeting, done) and the action-items
//! table (text, owner, due, done when), in each format. Read once before the export ends,
//! from the rows the timeline's review and action-item events keep.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Gathered;
use super::html::Escaped;
use super::markdown::cell;

fn when(at: Option<crate::domain::Timestamp>) -> String {
    at.map_or_else(|| "not yet".to_owned(), |at| at.to_human())
}

pub(super) fn markdown(out: &mut dyn Write, gathered: &Gathered) -> io::Result<()> {
    writeln!(out, "## Review")?;
    writeln!(out)?;
    match &gathered.review {
        None => writeln!(
            out,
            "_No review yet: one is created when the incident is resolved._"
        )?,
        Some(review) => {
            writeln!(out, "| Owner | Due (UTC) | Meeting (UTC) | Done (UTC) |")?;
            writeln!(out, "|---|---|---|---|")?;
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&review.owner.name),
                review.due_at.to_human(),
                review
                    .meeting_at
                    .map_or_else(|| "not scheduled".to_owned(), |at| at.to_human()),
                when(review.done_at)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Action items")?;
    writeln!(out)?;
    writeln!(out, "| # | Action | Owner | Due (UTC) | Done (UTC) |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    if gathered.action_items.is_empty() {
        writeln!(
            out,
            "| | _none recorded yet: `/incident action add`_ | | | |"
        )?;
    }
    for item in &gathered.action_items {
        writeln!(
            out,
            "| {} | {} | {} ({}) | {} | {} |",
            item.number,
            cell(&item.text),
            cell(&item.owner.name),
            cell(&item.owner.id),
            item.due_at.to_human(),
            when(item.done_at)
        )?;
    }
    Ok(())
}

pub(super) fn json_review(gathered: &Gathered) -> Value {
    json!(gathered.review.as_ref().map(|review| json!({
        "owner": review.owner,
        "due_at": review.due_at,
        "meeting_at": review.meeting_at,
        "state": review.state(),
        "done_at": review.done_at,
        "done_by": review.done_by,
    })))
}

pub(super) fn json_action_items(gathered: &Gathered) -> Value {
    gathered
        .action_items
        .iter()
        .map(|item| {
            json!({
                "number": item.number,
                "text": item.text,
                "owner": item.owner,
                "due_at": item.due_at,
                "added_at": item.added_at,
                "added_by": item.added_by,
                "done": item.is_done(),
                "done_at": item.done_at,
                "done_by": item.done_by,
            })
        })
        .collect()
}

pub(super) fn html(out: &mut dyn Write, gathered: &Gathered) -> io::Result<()> {
    writeln!(out, "<h2>Review</h2>")?;
    match &gathered.review {
        None => writeln!(
            out,
            "<p class=todo>No review yet: one is created when the incident is resolved.</p>"
        )?,
        Some(review) => writeln!(
            out,
            "<table><tr><th>Owner</th><th>Due (UTC)</th><th>Meeting (UTC)</th><th>Done (UTC)</th></tr>\
             <tr><td>{}</td><td class=t>{}</td><td class=t>{}</td><td class=t>{}</td></tr></table>",
            Escaped(&review.owner.name),
            review.due_at.human(),
            review
                .meeting_at
                .map_or_else(|| "not scheduled".to_owned(), |at| at.to_human()),
            when(review.done_at)
        )?,
    }
    writeln!(
        out,
        "<h2>Action items</h2><table><tr><th>#</th><th>Action</th><th>Owner</th><th>Due (UTC)</th><th>Done (UTC)</th></tr>"
    )?;
    for item in &gathered.action_items {
        writeln!(
            out,
            "<tr><td class=n>{}</td><td>{}</td><td>{}</td><td class=t>{}</td><td class=t>{}</td></tr>",
            item.number,
            Escaped(&item.text),
            Escaped(&item.owner.name),
            item.due_at.human(),
            when(item.done_at)
        )?;
    }
    writeln!(out, "</table>")?;
    if gathered.action_items.is_empty() {
        writeln!(out, "<p class=todo>No action items recorded yet.</p>")?;
    }
    Ok(())
}
