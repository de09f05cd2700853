//! Discord's limits that serenity does not check (or checks per embed where Discord checks per
//! message), enforced on what the bot sends. Sources: discord-api-docs resources/message,
//! components/reference, interactions/application-commands and receiving-and-responding.

use std::collections::HashSet;

use serde_json::Value;

use crate::api_error::{ApiError, FormErrors, codes, sub};

/// Characters of message `content`.
pub const MESSAGE_CONTENT_LIMIT: usize = 2000;

/// How long a message's `nonce` is remembered for `enforce_nonce` ("checked for uniqueness
/// in the past few minutes", Discord's docs): a repeat within it returns the first message.
pub const NONCE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Embeds per message.
pub const EMBEDS_PER_MESSAGE: usize = 10;
pub const EMBED_TITLE_LIMIT: usize = 256;
pub const EMBED_DESCRIPTION_LIMIT: usize = 4096;
pub const EMBED_FIELDS_LIMIT: usize = 25;
pub const EMBED_FIELD_NAME_LIMIT: usize = 256;
pub const EMBED_FIELD_VALUE_LIMIT: usize = 1024;
pub const EMBED_FOOTER_LIMIT: usize = 2048;
pub const EMBED_AUTHOR_LIMIT: usize = 256;
/// Characters across title, description, field names and values, footer and author of *all*
/// embeds of one message (serenity only checks each embed on its own).
pub const EMBED_TOTAL_LIMIT: usize = 6000;
/// Top-level action rows in a legacy (non Components V2) message.
pub const ACTION_ROWS_LIMIT: usize = 5;
/// Buttons in one action row (a select menu takes a whole row).
pub const BUTTONS_PER_ROW: usize = 5;
pub const CUSTOM_ID_LIMIT: usize = 100;
pub const BUTTON_LABEL_LIMIT: usize = 80;
pub const SELECT_OPTIONS_LIMIT: usize = 25;
/// Components in total in a Components V2 message (flag 1 << 15).
pub const COMPONENTS_V2_TOTAL_LIMIT: usize = 40;
/// Message flag that switches a message to Components V2.
pub const FLAG_COMPONENTS_V2: u64 = 1 << 15;
pub const AUTOCOMPLETE_CHOICES_LIMIT: usize = 25;
pub const CHOICE_NAME_LIMIT: usize = 100;
pub const CHOICE_STRING_VALUE_LIMIT: usize = 100;
pub const COMMAND_NAME_LIMIT: usize = 32;
pub const COMMAND_DESCRIPTION_LIMIT: usize = 100;
/// Options per command or subcommand, and subcommands per group.
pub const COMMAND_OPTIONS_LIMIT: usize = 25;
pub const COMMAND_CHOICES_LIMIT: usize = 25;
/// Combined characters of a command's names, descriptions and choice names/values.
pub const COMMAND_TOTAL_CHARS_LIMIT: usize = 8000;
/// Chat-input commands per scope (global, or one guild).
pub const COMMANDS_PER_SCOPE_LIMIT: usize = 100;
pub const MODAL_TITLE_LIMIT: usize = 45;
pub const MODAL_COMPONENTS_LIMIT: usize = 5;
pub const TEXT_INPUT_VALUE_LIMIT: usize = 4000;
/// A text input's (legacy) label and a Label component's text.
pub const TEXT_INPUT_LABEL_LIMIT: usize = 45;
pub const TEXT_INPUT_PLACEHOLDER_LIMIT: usize = 100;
pub const LABEL_DESCRIPTION_LIMIT: usize = 100;
pub const SELECT_PLACEHOLDER_LIMIT: usize = 150;
/// A select option's label, value and description.
pub const SELECT_OPTION_TEXT_LIMIT: usize = 100;
/// `min_values` / `max_values` of a select menu.
pub const SELECT_VALUES_LIMIT: u64 = 25;
/// Message (type 3) and user (type 2) context-menu commands per kind and scope.
pub const CONTEXT_COMMANDS_PER_SCOPE_LIMIT: usize = 5;
/// Bytes per uploaded file for an unboosted guild.
pub const FILE_SIZE_LIMIT: usize = 10 * 1024 * 1024;
/// Bytes of all files in one request.
pub const REQUEST_FILES_LIMIT: usize = 25 * 1024 * 1024;
/// Channel and thread names.
pub const CHANNEL_NAME_LIMIT: usize = 100;
/// Topic of a text channel.
pub const CHANNEL_TOPIC_LIMIT: usize = 1024;
/// Topic (guidelines) of a forum channel.
pub const FORUM_TOPIC_LIMIT: usize = 4096;
/// Tags a forum can offer.
pub const FORUM_TAGS_LIMIT: usize = 20;
pub const FORUM_TAG_NAME_LIMIT: usize = 20;
/// Tags one forum post can carry.
pub const APPLIED_TAGS_LIMIT: usize = 5;
pub const SCHEDULED_EVENT_NAME_LIMIT: usize = 100;
pub const SCHEDULED_EVENT_DESCRIPTION_LIMIT: usize = 1000;
/// `entity_metadata.location` of an external event.
pub const SCHEDULED_EVENT_LOCATION_LIMIT: usize = 100;
/// Events in SCHEDULED or ACTIVE status a guild may have at once.
pub const SCHEDULED_EVENTS_LIMIT: usize = 100;
/// Allowed thread auto-archive durations, in minutes.
pub const AUTO_ARCHIVE_DURATIONS: &[u64] = &[60, 1440, 4320, 10080];

fn len(s: &str) -> usize {
    s.chars().count()
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn max_len(errs: &mut FormErrors, at: &[String], value: &str, limit: usize) {
    if len(value) > limit {
        errs.add(
            at,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {limit} or fewer in length."),
        );
    }
}

fn bad_length(errs: &mut FormErrors, at: &[String], value: &str, min: usize, max: usize) {
    let n = len(value);
    if n < min || n > max {
        errs.add(
            at,
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between {min} and {max} in length."),
        );
    }
}

fn max_items(errs: &mut FormErrors, at: &[String], n: usize, limit: usize) {
    if n > limit {
        errs.add(
            at,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {limit} or fewer in length."),
        );
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Checks a message body (create or edit; channel message, webhook or interaction response).
/// `at` is the path prefix (`["data"]` inside an interaction callback).
pub(crate) fn message(body: &Value, at: &[String], errs: &mut FormErrors) {
    max_len(
        errs,
        &sub(at, &["content"]),
        str_at(body, "content"),
        MESSAGE_CONTENT_LIMIT,
    );
    let embeds = array(body, "embeds");
    max_items(
        errs,
        &sub(at, &["embeds"]),
        embeds.len(),
        EMBEDS_PER_MESSAGE,
    );
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let p = sub(at, &["embeds".to_string(), i.to_string()]);
        max_len(
            errs,
            &sub(&p, &["title"]),
            str_at(e, "title"),
            EMBED_TITLE_LIMIT,
        );
        max_len(
            errs,
            &sub(&p, &["description"]),
            str_at(e, "description"),
            EMBED_DESCRIPTION_LIMIT,
        );
        let fields = array(e, "fields");
        max_items(
            errs,
            &sub(&p, &["fields"]),
            fields.len(),
            EMBED_FIELDS_LIMIT,
        );
        for (j, f) in fields.iter().enumerate() {
            let fp = sub(&p, &["fields".to_string(), j.to_string()]);
            bad_length(
                errs,
                &sub(&fp, &["name"]),
                str_at(f, "name"),
                1,
                EMBED_FIELD_NAME_LIMIT,
            );
            bad_length(
                errs,
                &sub(&fp, &["value"]),
                str_at(f, "value"),
                1,
                EMBED_FIELD_VALUE_LIMIT,
            );
            total += len(str_at(f, "name")) + len(str_at(f, "value"));
        }
        let footer = e
            .pointer("/footer/text")
            .and_then(Value::as_str)
            .unwrap_or("");
        let author = e
            .pointer("/author/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        max_len(
            errs,
            &sub(&p, &["footer", "text"]),
            footer,
            EMBED_FOOTER_LIMIT,
        );
        max_len(
            errs,
            &sub(&p, &["author", "name"]),
            author,
            EMBED_AUTHOR_LIMIT,
        );
        total +=
            len(str_at(e, "title")) + len(str_at(e, "description")) + len(footer) + len(author);
    }
    if total > EMBED_TOTAL_LIMIT {
        errs.add(
            &sub(at, &["embeds"]),
            "MAX_EMBED_SIZE_EXCEEDED",
            format!("Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"),
        );
    }
    let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0);
    components(
        array(body, "components"),
        flags & FLAG_COMPONENTS_V2 != 0,
        &sub(at, &["components"]),
        errs,
    );
    if let Some(choices) = body.get("choices") {
        autocomplete(choices, &sub(at, &["choices"]), errs);
    }
}

/// Whether a create would make an empty message (Discord's 50006).
pub(crate) fn empty_message(body: &Value, file_count: usize) -> Result<(), ApiError> {
    let has = |k: &str| match body.get(k) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    if file_count == 0
        && !["content", "embeds", "components", "sticker_ids", "poll"]
            .iter()
            .any(|k| has(k))
    {
        return Err(ApiError::new(
            400,
            codes::EMPTY_MESSAGE,
            "Cannot send an empty message",
        ));
    }
    Ok(())
}

pub(crate) fn components(list: &[Value], v2: bool, at: &[String], errs: &mut FormErrors) {
    let mut seen = HashSet::new();
    if v2 {
        let mut total = 0;
        count_components(list, &mut total);
        if total > COMPONENTS_V2_TOTAL_LIMIT {
            errs.add(
                at,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {COMPONENTS_V2_TOTAL_LIMIT} or fewer in length."),
            );
        }
        component_ids(list, at, errs, &mut seen);
        return;
    }
    max_items(errs, at, list.len(), ACTION_ROWS_LIMIT);
    for (i, row) in list.iter().enumerate() {
        let rp = sub(at, &[i]);
        if row.get("type").and_then(Value::as_u64) != Some(1) {
            errs.add(
                &sub(&rp, &["type"]),
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (1,).",
            );
            continue;
        }
        let children = array(row, "components");
        let selects = children
            .iter()
            .filter(|c| {
                c.get("type")
                    .and_then(Value::as_u64)
                    .is_some_and(|t| t != 2)
            })
            .count();
        if selects > 0 && children.len() > 1 {
            errs.add(
                &sub(&rp, &["components"]),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            );
        }
        max_items(
            errs,
            &sub(&rp, &["components"]),
            children.len(),
            BUTTONS_PER_ROW,
        );
        for (j, c) in children.iter().enumerate() {
            let cp = sub(&rp, &["components".to_string(), j.to_string()]);
            let ctype = c.get("type").and_then(Value::as_u64).unwrap_or(0);
            if matches!(ctype, 3 | 5..=8) {
                select_menu(c, &cp, errs);
            } else {
                max_len(
                    errs,
                    &sub(&cp, &["label"]),
                    str_at(c, "label"),
                    BUTTON_LABEL_LIMIT,
                );
            }
            let link = c.get("type").and_then(Value::as_u64) == Some(2)
                && c.get("style").and_then(Value::as_u64) == Some(5);
            if link && c.get("url").is_none() {
                errs.add(
                    &sub(&cp, &["url"]),
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                );
            }
        }
    }
    component_ids(list, at, errs, &mut seen);
}

/// A select menu (string, user, role, mentionable or channel) in a message: a string select
/// needs 1-25 options; `min_values` 0-25, `max_values` 1-25 and at most the number of options,
/// `min_values` <= `max_values`; lengths of placeholder and options
/// (docs: components/reference, "String Select").
fn select_menu(c: &Value, at: &[String], errs: &mut FormErrors) {
    let ctype = c.get("type").and_then(Value::as_u64).unwrap_or(0);
    max_len(
        errs,
        &sub(at, &["placeholder"]),
        str_at(c, "placeholder"),
        SELECT_PLACEHOLDER_LIMIT,
    );
    let options = array(c, "options");
    if ctype == 3 && (options.is_empty() || options.len() > SELECT_OPTIONS_LIMIT) {
        errs.add(
            &sub(at, &["options"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {SELECT_OPTIONS_LIMIT} in length."),
        );
    }
    let mut values = HashSet::new();
    for (i, o) in options.iter().enumerate() {
        let op = sub(at, &["options".to_string(), i.to_string()]);
        for key in ["label", "value"] {
            bad_length(
                errs,
                &sub(&op, &[key]),
                str_at(o, key),
                1,
                SELECT_OPTION_TEXT_LIMIT,
            );
        }
        max_len(
            errs,
            &sub(&op, &["description"]),
            str_at(o, "description"),
            SELECT_OPTION_TEXT_LIMIT,
        );
        if !values.insert(str_at(o, "value")) {
            errs.add(
                &sub(&op, &["value"]),
                "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                "Select option values must be unique",
            );
        }
    }
    let min = c.get("min_values").and_then(Value::as_u64).unwrap_or(1);
    let max = c.get("max_values").and_then(Value::as_u64).unwrap_or(1);
    if min > SELECT_VALUES_LIMIT {
        errs.add(
            &sub(at, &["min_values"]),
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {SELECT_VALUES_LIMIT}."),
        );
    }
    if max == 0 || max > SELECT_VALUES_LIMIT {
        errs.add(
            &sub(at, &["max_values"]),
            "NUMBER_TYPE_MAX",
            format!("int value should be between 1 and {SELECT_VALUES_LIMIT}."),
        );
    }
    if min > max {
        errs.add(
            &sub(at, &["min_values"]),
            "SELECT_COMPONENT_MIN_VALUES_INVALID",
            "min_values must be less than or equal to max_values",
        );
    }
    if ctype == 3 && !options.is_empty() && max as usize > options.len() {
        errs.add(
            &sub(at, &["max_values"]),
            "SELECT_COMPONENT_MAX_VALUES_TOO_LARGE",
            "max_values must be less than or equal to the number of options",
        );
    }
    let defaults = options
        .iter()
        .filter(|o| o.get("default").and_then(Value::as_bool) == Some(true))
        .count();
    if defaults as u64 > max {
        errs.add(
            &sub(at, &["options"]),
            "SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES",
            "More options are selected by default than max_values allows",
        );
    }
}

fn count_components(list: &[Value], total: &mut usize) {
    for c in list {
        *total += 1;
        count_components(array(c, "components"), total);
        if let Some(acc) = c.get("accessory") {
            count_components(std::slice::from_ref(acc), total);
        }
    }
}

fn component_ids(list: &[Value], at: &[String], errs: &mut FormErrors, seen: &mut HashSet<String>) {
    for (i, c) in list.iter().enumerate() {
        let cp = sub(at, &[i]);
        if let Some(id) = c.get("custom_id").and_then(Value::as_str) {
            bad_length(errs, &sub(&cp, &["custom_id"]), id, 1, CUSTOM_ID_LIMIT);
            if !seen.insert(id.to_string()) {
                errs.add(
                    &sub(&cp, &["custom_id"]),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                );
            }
        }
        component_ids(
            array(c, "components"),
            &sub(&cp, &["components"]),
            errs,
            seen,
        );
    }
}

/// Autocomplete choices (callback type 8).
pub(crate) fn autocomplete(choices: &Value, at: &[String], errs: &mut FormErrors) {
    let list = choices.as_array().map(Vec::as_slice).unwrap_or(&[]);
    max_items(errs, at, list.len(), AUTOCOMPLETE_CHOICES_LIMIT);
    for (i, c) in list.iter().enumerate() {
        choice(c, &sub(at, &[i]), errs);
    }
}

fn choice(c: &Value, at: &[String], errs: &mut FormErrors) {
    bad_length(
        errs,
        &sub(at, &["name"]),
        str_at(c, "name"),
        1,
        CHOICE_NAME_LIMIT,
    );
    if let Some(s) = c.get("value").and_then(Value::as_str) {
        max_len(errs, &sub(at, &["value"]), s, CHOICE_STRING_VALUE_LIMIT);
    }
}

/// A modal (callback type 9).
pub(crate) fn modal(data: &Value, at: &[String], errs: &mut FormErrors) {
    bad_length(
        errs,
        &sub(at, &["custom_id"]),
        str_at(data, "custom_id"),
        1,
        CUSTOM_ID_LIMIT,
    );
    bad_length(
        errs,
        &sub(at, &["title"]),
        str_at(data, "title"),
        1,
        MODAL_TITLE_LIMIT,
    );
    let comps = array(data, "components");
    if comps.is_empty() || comps.len() > MODAL_COMPONENTS_LIMIT {
        errs.add(
            &sub(at, &["components"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {MODAL_COMPONENTS_LIMIT} in length."),
        );
    }
    let mut seen = HashSet::new();
    component_ids(comps, &sub(at, &["components"]), errs, &mut seen);
    for (i, c) in comps.iter().enumerate() {
        let cp = sub(at, &["components".to_string(), i.to_string()]);
        match c.get("type").and_then(Value::as_u64) {
            // An action row holding exactly one text input (what serenity 0.12 builds).
            Some(1) => {
                let inner = array(c, "components");
                if inner.len() != 1 {
                    errs.add(
                        &sub(&cp, &["components"]),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 1 in length.",
                    );
                }
                for (j, input) in inner.iter().enumerate() {
                    let ip = sub(&cp, &["components".to_string(), j.to_string()]);
                    if input.get("type").and_then(Value::as_u64) == Some(4) {
                        text_input(input, &ip, true, errs);
                    } else {
                        errs.add(
                            &sub(&ip, &["type"]),
                            "UNION_TYPE_CHOICES",
                            "Value of field \"type\" must be one of (4,).",
                        );
                    }
                }
            }
            // A label (type 18) around one input; the label carries the text.
            Some(18) => {
                bad_length(
                    errs,
                    &sub(&cp, &["label"]),
                    str_at(c, "label"),
                    1,
                    TEXT_INPUT_LABEL_LIMIT,
                );
                max_len(
                    errs,
                    &sub(&cp, &["description"]),
                    str_at(c, "description"),
                    LABEL_DESCRIPTION_LIMIT,
                );
                match c.get("component") {
                    Some(input) if input.get("type").and_then(Value::as_u64) == Some(4) => {
                        text_input(input, &sub(&cp, &["component"]), false, errs)
                    }
                    Some(input)
                        if matches!(input.get("type").and_then(Value::as_u64), Some(3 | 5..=8)) =>
                    {
                        select_menu(input, &sub(&cp, &["component"]), errs)
                    }
                    _ => errs.add(
                        &sub(&cp, &["component"]),
                        "BASE_TYPE_REQUIRED",
                        "A label needs a text input or a select menu",
                    ),
                }
            }
            _ => errs.add(
                &sub(&cp, &["type"]),
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (1, 18).",
            ),
        }
    }
}

/// A text input of a modal: style 1 or 2, lengths, and a label when it sits in an action row.
fn text_input(c: &Value, at: &[String], needs_label: bool, errs: &mut FormErrors) {
    if !matches!(c.get("style").and_then(Value::as_u64), Some(1 | 2)) {
        errs.add(
            &sub(at, &["style"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (1, 2).",
        );
    }
    if needs_label {
        bad_length(
            errs,
            &sub(at, &["label"]),
            str_at(c, "label"),
            1,
            TEXT_INPUT_LABEL_LIMIT,
        );
    }
    max_len(
        errs,
        &sub(at, &["placeholder"]),
        str_at(c, "placeholder"),
        TEXT_INPUT_PLACEHOLDER_LIMIT,
    );
    max_len(
        errs,
        &sub(at, &["value"]),
        str_at(c, "value"),
        TEXT_INPUT_VALUE_LIMIT,
    );
    let limit = TEXT_INPUT_VALUE_LIMIT as u64;
    let min = c.get("min_length").and_then(Value::as_u64);
    let max = c.get("max_length").and_then(Value::as_u64);
    if min.is_some_and(|m| m > limit) {
        errs.add(
            &sub(at, &["min_length"]),
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {limit}."),
        );
    }
    if max.is_some_and(|m| m == 0 || m > limit) {
        errs.add(
            &sub(at, &["max_length"]),
            "NUMBER_TYPE_MAX",
            format!("int value should be between 1 and {limit}."),
        );
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        errs.add(
            &sub(at, &["min_length"]),
            "TEXT_INPUT_MIN_LENGTH_INVALID",
            "min_length must be less than or equal to max_length",
        );
    }
}

fn valid_command_name(name: &str) -> bool {
    let n = len(name);
    (1..=COMMAND_NAME_LIMIT).contains(&n)
        && name
            .chars()
            .all(|c| (c.is_alphanumeric() && !c.is_uppercase()) || matches!(c, '-' | '_' | '\''))
}

/// One command of a registration (PUT bulk overwrite element or POST body).
pub(crate) fn command(cmd: &Value, at: &[String], errs: &mut FormErrors) {
    let kind = cmd.get("type").and_then(Value::as_u64).unwrap_or(1);
    let name = str_at(cmd, "name");
    if kind == 1 {
        if !valid_command_name(name) {
            errs.add(
                &sub(at, &["name"]),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            );
        }
        bad_length(
            errs,
            &sub(at, &["description"]),
            str_at(cmd, "description"),
            1,
            COMMAND_DESCRIPTION_LIMIT,
        );
    } else {
        bad_length(errs, &sub(at, &["name"]), name, 1, COMMAND_NAME_LIMIT);
        if !str_at(cmd, "description").is_empty() {
            errs.add(
                &sub(at, &["description"]),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            );
        }
        if !array(cmd, "options").is_empty() {
            errs.add(
                &sub(at, &["options"]),
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            );
        }
        if !matches!(kind, 2 | 3) {
            errs.add(
                &sub(at, &["type"]),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1, 2, 3).",
            );
        }
    }
    let mut total = len(name) + len(str_at(cmd, "description"));
    options(
        array(cmd, "options"),
        0,
        &sub(at, &["options"]),
        errs,
        &mut total,
    );
    if total > COMMAND_TOTAL_CHARS_LIMIT {
        errs.add(
            at,
            "APPLICATION_COMMAND_TOO_LARGE",
            format!("Command exceeds maximum size ({COMMAND_TOTAL_CHARS_LIMIT})"),
        );
    }
}

/// `depth` 0 = the command's own options, 1 = inside a group or subcommand, 2 = inside a
/// subcommand of a group.
fn options(list: &[Value], depth: u8, at: &[String], errs: &mut FormErrors, total: &mut usize) {
    max_items(errs, at, list.len(), COMMAND_OPTIONS_LIMIT);
    let mut names = HashSet::new();
    let mut seen_optional = false;
    let is_sub = |o: &Value| matches!(o.get("type").and_then(Value::as_u64), Some(1 | 2));
    let subs = list.iter().filter(|o| is_sub(o)).count();
    if subs > 0 && subs < list.len() {
        errs.add(at, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-command and sub-command group option types are mutually exclusive to all other types");
    }
    for (i, o) in list.iter().enumerate() {
        let p = sub(at, &[i]);
        let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
        let name = str_at(o, "name");
        if !(1..=11).contains(&kind) {
            errs.add(
                &sub(&p, &["type"]),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11).",
            );
        }
        if !valid_command_name(name) {
            errs.add(
                &sub(&p, &["name"]),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            );
        }
        if !names.insert(name.to_string()) {
            errs.add(
                &sub(&p, &["name"]),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option name already exists",
            );
        }
        bad_length(
            errs,
            &sub(&p, &["description"]),
            str_at(o, "description"),
            1,
            COMMAND_DESCRIPTION_LIMIT,
        );
        *total += len(name) + len(str_at(o, "description"));
        let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
        if required && seen_optional {
            errs.add(
                &sub(&p, &["required"]),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID_ORDER",
                "Required options must be placed before non-required options",
            );
        }
        if !required && !is_sub(o) {
            seen_optional = true;
        }
        match kind {
            2 if depth > 0 => errs.add(
                &sub(&p, &["type"]),
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Sub-command groups can only be nested at the top level",
            ),
            1 if depth > 1 => errs.add(
                &sub(&p, &["type"]),
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Sub-commands can only be nested in a group",
            ),
            _ => {}
        }
        let children = array(o, "options");
        if kind == 2 {
            if children
                .iter()
                .any(|c| c.get("type").and_then(Value::as_u64) != Some(1))
            {
                errs.add(
                    &sub(&p, &["options"]),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups may only contain sub-commands",
                );
            }
            options(children, depth + 1, &sub(&p, &["options"]), errs, total);
        } else if kind == 1 {
            options(
                children,
                depth.max(1) + 1,
                &sub(&p, &["options"]),
                errs,
                total,
            );
        }
        let choices = array(o, "choices");
        max_items(
            errs,
            &sub(&p, &["choices"]),
            choices.len(),
            COMMAND_CHOICES_LIMIT,
        );
        for (j, c) in choices.iter().enumerate() {
            choice(c, &sub(&p, &["choices".to_string(), j.to_string()]), errs);
            *total += len(str_at(c, "name"))
                + c.get("value").and_then(Value::as_str).map(len).unwrap_or(0);
        }
        if !choices.is_empty() && o.get("autocomplete").and_then(Value::as_bool) == Some(true) {
            errs.add(
                &sub(&p, &["autocomplete"]),
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be enabled when choices are set",
            );
        }
    }
}

/// A bulk overwrite: each command, plus duplicate names and the per-scope count.
pub(crate) fn command_list(list: &[Value], errs: &mut FormErrors) {
    let mut seen = HashSet::new();
    let mut chat_input = 0;
    let (mut user, mut message) = (0, 0);
    for (i, cmd) in list.iter().enumerate() {
        let at = vec![i.to_string()];
        command(cmd, &at, errs);
        let kind = cmd.get("type").and_then(Value::as_u64).unwrap_or(1);
        match kind {
            1 => chat_input += 1,
            2 => user += 1,
            3 => message += 1,
            _ => {}
        }
        if !seen.insert((kind, str_at(cmd, "name").to_string())) {
            errs.add(
                &sub(&at, &["name"]),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            );
        }
    }
    if chat_input > COMMANDS_PER_SCOPE_LIMIT {
        errs.add(
            &[],
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {COMMANDS_PER_SCOPE_LIMIT} or fewer in length."),
        );
    }
    if user > CONTEXT_COMMANDS_PER_SCOPE_LIMIT || message > CONTEXT_COMMANDS_PER_SCOPE_LIMIT {
        errs.add(
            &[],
            "APPLICATION_COMMANDS_CONTEXT_MENU_LIMIT",
            format!(
                "At most {CONTEXT_COMMANDS_PER_SCOPE_LIMIT} user and {CONTEXT_COMMANDS_PER_SCOPE_LIMIT} message commands per scope."
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(body: Value) -> Option<Value> {
        let mut errs = FormErrors::default();
        message(&body, &[], &mut errs);
        errs.into_result().err().map(|e| e.body)
    }

    #[test]
    fn content_over_2000_is_invalid_form_body() {
        let body = check(json!({"content": "x".repeat(2001)})).expect("rejected");
        assert_eq!(body["code"], 50035);
        assert_eq!(
            body["errors"]["content"]["_errors"][0]["code"],
            "BASE_TYPE_MAX_LENGTH"
        );
        assert!(check(json!({"content": "x".repeat(2000)})).is_none());
    }

    #[test]
    fn embed_total_counts_across_embeds() {
        let embed = json!({"description": "x".repeat(3500)});
        let body = check(json!({"embeds": [embed.clone(), embed]})).expect("rejected");
        assert_eq!(
            body["errors"]["embeds"]["_errors"][0]["code"],
            "MAX_EMBED_SIZE_EXCEEDED"
        );
    }

    #[test]
    fn six_buttons_in_a_row_and_long_custom_ids_are_rejected() {
        let button = |id: &str| json!({"type": 2, "style": 1, "label": "b", "custom_id": id});
        let row = json!({"type": 1, "components": (0..6).map(|i| button(&format!("b{i}"))).collect::<Vec<_>>()});
        let body = check(json!({"components": [row]})).expect("rejected");
        assert!(body["errors"]["components"]["0"]["components"]["_errors"].is_array());
        let long = json!({"type": 1, "components": [button(&"x".repeat(101))]});
        let body = check(json!({"components": [long]})).expect("rejected");
        assert!(
            body["errors"]["components"]["0"]["components"]["0"]["custom_id"]["_errors"].is_array()
        );
    }

    #[test]
    fn command_option_rules() {
        let mut errs = FormErrors::default();
        let opts: Vec<Value> = (0..26)
            .map(|i| json!({"type": 3, "name": format!("o{i}"), "description": "d"}))
            .collect();
        command(
            &json!({"name": "Bad Name", "description": "d", "options": opts}),
            &[],
            &mut errs,
        );
        let body = errs.into_result().unwrap_err().body;
        assert!(body["errors"]["name"]["_errors"].is_array());
        assert!(body["errors"]["options"]["_errors"].is_array());
    }
}
