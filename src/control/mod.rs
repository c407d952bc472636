//! Kea control commands of the hook: `cloudstack-status`, `cloudstack-lookup`,
//! `cloudstack-resync`. Answers are Kea's `{"result", "text", "arguments"}`.
mod lookup;
mod status;

pub use lookup::lookup;
pub use status::status;

use crate::hook::Hook;
use crate::refresh::SyncReason;
use serde_json::{json, Value};

/// Kea's result codes.
pub const RESULT_SUCCESS: i64 = 0;
pub const RESULT_ERROR: i64 = 1;
pub const RESULT_UNSUPPORTED: i64 = 2;
pub const RESULT_EMPTY: i64 = 3;

/// An answer in Kea's form.
pub fn answer(result: i64, text: impl Into<String>, arguments: Option<Value>) -> Value {
    let mut answer = json!({"result": result, "text": text.into()});
    if let Some(arguments) = arguments {
        answer["arguments"] = arguments;
    }
    answer
}

/// Run command `name` with its `arguments` against the loaded hook.
pub fn run(hook: &Hook, name: &str, arguments: Option<&Value>) -> Value {
    match name {
        "cloudstack-status" => status(hook),
        "cloudstack-lookup" => match arguments {
            Some(arguments) => lookup(&hook.cfg, &hook.index.current(), arguments),
            None => answer(RESULT_ERROR, "cloudstack-lookup needs arguments: {\"mac\": ...} or {\"prefix\": ...}", None),
        },
        "cloudstack-resync" => {
            hook.refresher.request(SyncReason::Operator);
            answer(RESULT_SUCCESS, "full sync requested; cloudstack-status shows its progress", None)
        }
        other => answer(RESULT_UNSUPPORTED, format!("'{other}' is not a command of the cloudstack hook"), None),
    }
}
