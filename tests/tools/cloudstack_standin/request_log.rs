//! The API requests seen so far, for tests to assert on what the client actually sent.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

use crate::signature::Params;

/// Oldest entries are dropped past this many, so a long load test cannot exhaust memory.
pub const LOG_CAPACITY: usize = 100_000;

/// One API request and what the stand-in did with it.
#[derive(Debug, Clone, Serialize)]
pub struct SeenRequest {
    /// The `command` parameter, if any.
    pub command: Option<String>,
    /// Every parameter as decoded (first value per name). The secret key is never sent, so never here.
    pub params: Params,
    /// HTTP status answered; `null` when the connection was closed without an answer.
    pub status: Option<u16>,
    /// Whether the signature checked out.
    pub verified: bool,
    /// Why verification failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'static str>,
    /// The injected fault that shaped the answer, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
}

/// The log itself; shared by all worker threads.
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<SeenRequest>>,
}

impl RequestLog {
    /// Appends an entry, dropping the oldest one at capacity.
    pub fn record(&self, entry: SeenRequest) {
        let mut entries = self.entries.lock();
        if entries.len() == LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The JSON list of all entries, oldest first.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.entries.lock()).expect("the log always serializes")
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}
