//! Log lines go to Kea's logger "cloudstack-hooks" when running inside Kea (the sink is set by
//! the FFI layer at load), to stderr otherwise. Kea's configured severity decides whether a
//! line is even formatted: `log_at!` asks `enabled` first.
pub mod messages;
mod throttle;

pub use throttle::Throttle;

use parking_lot::RwLock;
use std::ffi::CStr;
use std::sync::Arc;

/// Debug level of per-packet decisions.
pub const DBG_PACKET: i32 = 40;
/// Debug level of sync progress.
pub const DBG_SYNC: i32 = 40;

/// How important a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug(i32),
    Info,
    Warn,
    Error,
}

/// Where lines go.
pub trait Sink: Send + Sync {
    /// Would a line of this level be shown?
    fn enabled(&self, level: Level) -> bool;
    /// Show message `id` with its arguments.
    fn write(&self, level: Level, id: &'static CStr, args: &[String]);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

/// Send lines to `sink` from now on (None: back to stderr).
pub fn set_sink(sink: Option<Arc<dyn Sink>>) {
    *SINK.write() = sink;
}

/// Would a line of this level be shown?
pub fn enabled(level: Level) -> bool {
    match SINK.read().as_ref() {
        Some(sink) => sink.enabled(level),
        None => !matches!(level, Level::Debug(_)),
    }
}

/// Show message `id` with its arguments.
pub fn write(level: Level, id: &'static CStr, args: &[String]) {
    let sink = SINK.read().clone();
    match sink {
        Some(sink) => sink.write(level, id, args),
        None => eprintln!("{level:?} {} {}", id.to_string_lossy(), args.join(" | ")),
    }
}

/// `log_at!(Level::Info, CLOUDSTACK_SYNC_FINISHED, nics, vlans, ...)`: arguments are only
/// formatted when the line will be shown.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $id:ident $(, $arg:expr)* $(,)?) => {{
        let level = $level;
        if $crate::log::enabled(level) {
            $crate::log::write(level, $crate::log::messages::$id, &[$($arg.to_string()),*]);
        }
    }};
}
