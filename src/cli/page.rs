//! `warroom page --incident ID --target TARGET [--message TEXT]`: page someone when Discord is
//! down, with the use case `/page` and `POST /v1/page` call, so the same rules and timeline
//! events. The page goes into the outbox; the `warroom run` engine sends it, and its outcome
//! (`page_sent` or `page_failed`) shows in `warroom incident show`.

use std::io::Write;

use clap::Args;
use serde_json::json;

use crate::domain::IncidentId;
use crate::ops::{Ops, PageRequest, Principal};

#[derive(Debug, Args)]
pub struct PageArgs {
    /// The incident, as 12 or INC-12
    #[arg(long)]
    pub incident: IncidentId,
    /// Whom to page: user:<Discord id>, role:<bot role>, schedule:<name>, notifier:<name>,
    /// or policy:<name> (the whole policy, from its first level)
    #[arg(long)]
    pub target: String,
    /// What they should know (shown in the page)
    #[arg(long)]
    pub message: Option<String>,
    /// Print `{"incident": Incident, "summary": "..."}`
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn page(
    ops: &Ops,
    who: &Principal,
    args: PageArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let request = PageRequest::parse(&args.target)?;
    let paged = ops
        .page(who, args.incident, request, args.message.as_deref())
        .await?;
    if args.json {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"incident": paged.incident, "summary": paged.summary}),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{}: {} (sent by the warroom run engine; `warroom incident show {}` shows the outcome)",
            args.incident, paged.summary, args.incident
        )?;
    }
    Ok(())
}
