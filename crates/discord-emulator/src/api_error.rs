//! Discord-shaped error responses: `{"code", "message", "errors"}` with the HTTP status
//! Discord uses, and the nested `errors` tree of 50035 "Invalid Form Body".

use serde_json::{Map, Value, json};

/// JSON error codes the emulator answers with (docs: topics/opcodes-and-status-codes).
pub mod codes {
    pub const UNKNOWN_CHANNEL: u64 = 10003;
    pub const UNKNOWN_GUILD: u64 = 10004;
    pub const UNKNOWN_MESSAGE: u64 = 10008;
    pub const UNKNOWN_ROLE: u64 = 10011;
    pub const UNKNOWN_USER: u64 = 10013;
    pub const UNKNOWN_EMOJI: u64 = 10014;
    pub const UNKNOWN_WEBHOOK: u64 = 10015;
    pub const UNKNOWN_APPLICATION_COMMAND: u64 = 10063;
    pub const UNKNOWN_INTERACTION: u64 = 10062;
    pub const UNKNOWN_MEMBER: u64 = 10007;
    pub const CANNOT_EDIT_OTHERS_MESSAGE: u64 = 50005;
    pub const EMPTY_MESSAGE: u64 = 50006;
    pub const CANNOT_MESSAGE_USER: u64 = 50007;
    pub const INVALID_FORM_BODY: u64 = 50035;
    pub const ALREADY_ACKNOWLEDGED: u64 = 40060;
    pub const REQUEST_TOO_LARGE: u64 = 40005;
    pub const MAX_PINS: u64 = 30003;
    pub const UNKNOWN_OVERWRITE: u64 = 10009;
    pub const UNKNOWN_SCHEDULED_EVENT: u64 = 10070;
    pub const MAX_SCHEDULED_EVENTS: u64 = 30038;
    pub const ONE_PARENT_CHANGE: u64 = 40009;
    pub const FORUM_MESSAGE: u64 = 40058;
    pub const TAG_REQUIRED: u64 = 40067;
    pub const WRONG_CHANNEL_TYPE: u64 = 50024;
    pub const ARCHIVED_THREAD: u64 = 50083;
    pub const THREAD_ALREADY_CREATED: u64 = 160004;
    pub const THREAD_LOCKED: u64 = 160005;
    pub const FINISHED_EVENT: u64 = 180000;
}

/// A non-2xx answer.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u64, message: &str) -> Self {
        Self {
            status,
            body: json!({"code": code, "message": message}),
            headers: Vec::new(),
        }
    }

    pub(crate) fn not_found(code: u64, message: &str) -> Self {
        Self::new(404, code, message)
    }

    pub(crate) fn unknown_channel() -> Self {
        Self::not_found(codes::UNKNOWN_CHANNEL, "Unknown Channel")
    }

    pub(crate) fn unknown_message() -> Self {
        Self::not_found(codes::UNKNOWN_MESSAGE, "Unknown Message")
    }

    pub(crate) fn unknown_interaction() -> Self {
        Self::not_found(codes::UNKNOWN_INTERACTION, "Unknown interaction")
    }

    pub(crate) fn bad_request(message: &str) -> Self {
        Self::new(400, 0, message)
    }

    pub(crate) fn code(&self) -> Option<u64> {
        self.body.get("code").and_then(Value::as_u64)
    }
}

/// Collects field errors at paths like `embeds.0.description`, the way Discord nests them:
/// `{"embeds": {"0": {"description": {"_errors": [{"code", "message"}]}}}}`.
#[derive(Debug, Default)]
pub(crate) struct FormErrors {
    root: Map<String, Value>,
}

impl FormErrors {
    pub(crate) fn add(&mut self, path: &[String], code: &str, message: impl Into<String>) {
        let mut node = &mut self.root;
        for seg in path {
            node = node
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("error tree nodes are objects");
        }
        let list = node.entry("_errors").or_insert_with(|| json!([]));
        list.as_array_mut()
            .expect("_errors is a list")
            .push(json!({"code": code, "message": message.into()}));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// `Ok(())` when nothing was added, otherwise Discord's 400 50035.
    pub(crate) fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            return Ok(());
        }
        let mut e = ApiError::new(400, codes::INVALID_FORM_BODY, "Invalid Form Body");
        e.body["errors"] = Value::Object(self.root);
        Err(e)
    }
}

/// Builds a path from segments: `path(&["embeds", "0"])`.
pub(crate) fn path<S: ToString>(segs: &[S]) -> Vec<String> {
    segs.iter().map(ToString::to_string).collect()
}

/// `base` followed by more segments.
pub(crate) fn sub<S: ToString>(base: &[String], more: &[S]) -> Vec<String> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(ToString::to_string));
    p
}
