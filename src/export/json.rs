//! The JSON post-mortem, schema `warroom.postmortem/v1`: every field, for tools.
//!
//! Written piece by piece so the timeline array streams: each event is serialized and written
//! on its own.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Gathered, JSON_SCHEMA, Renderer, Report};
use crate::domain::Event;

#[derive(Default)]
pub(super) struct Json {
    /// Whether an event was written yet, to place the commas of the timeline array.
    wrote_event: bool,
}

fn millis(duration: Option<Duration>) -> Value {
    duration.map_or(Value::Null, |duration| json!(duration.as_millis() as u64))
}

impl Renderer for Json {
    fn begin(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        let incident = report.incident;
        let times = report.key_times();
        let rto = report.rto();
        let head = json!({
            "schema": JSON_SCHEMA,
            "generated_at": report.generated_at,
            "incident": incident,
            "severity": report.severity.map(|severity| json!({
                "name": severity.name,
                "description": severity.description,
                "ack_within_ms": severity.ack_within.as_millis() as u64,
            })),
            "service": report.service.map(|service| json!({
                "name": service.name,
                "description": service.description,
                "rto_ms": service.rto.as_millis() as u64,
                "rpo_ms": service.rpo.as_millis() as u64,
                "checklist": service.checklist,
            })),
            "objectives": {
                "rto": rto.map(|rto| json!({
                    "target_ms": rto.target.as_millis() as u64,
                    "actual_ms": millis(rto.actual),
                    "result": rto.verdict.as_str(),
                })),
                "rpo": report.rpo().map(|rpo| json!({
                    "target_ms": rpo.target.as_millis() as u64,
                    "actual_ms": millis(rpo.actual),
                    "result": match &report.recovery_point {
                        Some(_) => rpo.verdict.as_str(),
                        None => "not_measured",
                    },
                    "recovery_point": report.recovery_point.as_ref().map(|point| json!({
                        "restored_from": point.restored_from,
                        "no_data_lost": point.restored_from.is_none(),
                        "note": point.note,
                        "recorded_by": point.by,
                        "recorded_at": point.at,
                    })),
                })),
            },
            "key_times": {
                "opened_at": incident.opened_at,
                "acknowledged_at": incident.acknowledged_at,
                "mitigated_at": incident.mitigated_at,
                "resolved_at": incident.resolved_at,
                "time_to_acknowledge_ms": millis(times.to_acknowledge),
                "time_to_mitigate_ms": millis(times.to_mitigate),
                "time_to_resolve_ms": millis(times.to_resolve),
            },
        });
        // Open the object, copy the head's members, then leave the timeline array open.
        let head = serde_json::to_string(&head)?;
        let members = head
            .strip_suffix('}')
            .expect("a JSON object ends with a brace");
        write!(out, "{members},\"timeline\":[")
    }

    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()> {
        if self.wrote_event {
            out.write_all(b",")?;
        }
        self.wrote_event = true;
        serde_json::to_writer(&mut *out, event)?;
        Ok(())
    }

    fn finish(
        &mut self,
        out: &mut dyn Write,
        report: &Report<'_>,
        gathered: &Gathered,
    ) -> io::Result<()> {
        let participants: Vec<Value> = gathered
            .participants
            .iter()
            .map(|participant| {
                json!({
                    "actor": participant.actor,
                    "events": participant.events,
                    "first_seen": participant.first_seen,
                })
            })
            .collect();
        let checklist: Vec<Value> = gathered
            .checklist
            .iter()
            .map(|entry| {
                json!({
                    "item": entry.item,
                    "checked": entry.checked.is_some(),
                    "by": entry.checked.as_ref().map(|(actor, _)| actor),
                    "at": entry.checked.as_ref().map(|(_, at)| at),
                })
            })
            .collect();
        let tail = json!({
            "event_count": gathered.events,
            "pages": gathered.pages,
            "commands": gathered.commands,
            "commands_not_run": gathered.commands_not_run,
            "participants": participants,
            "checklist": checklist,
            "recovery_log": super::recovery::json(&super::recovery::RecoveryLog::new(report, gathered)),
            "review": super::followup::json_review(gathered),
            "sections": {"root_cause": null, "lessons_learned": null, "action_items": super::followup::json_action_items(gathered)},
        });
        let tail = serde_json::to_string(&tail)?;
        let members = tail
            .strip_prefix('{')
            .expect("a JSON object starts with a brace");
        write!(out, "],{members}")?;
        writeln!(out)
    }
}
