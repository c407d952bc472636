//! Injected faults: how the stand-in misbehaves on API requests when a test asks it to.
//!
//! Faults never touch `/control/`: a test must always be able to repair the stand-in it broke. Faults that move the
//! listing while a client pages through it live in `listing_fault.rs`.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::listing_fault::{CountChange, DuplicateAcrossPages, ExpungeWhilePaging, ListingMove, ShortPage};

/// One way of misbehaving, set with `PUT /control/fault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Fault {
    /// Answer normally.
    None,
    /// Close the connection without answering.
    Refuse,
    /// Answer every API request with this HTTP status (CloudStack error body).
    Status {
        /// HTTP status and `errorcode`.
        code: u16,
    },
    /// Wait this long, then answer normally (the answer reflects the cloud when the request arrived).
    Hang {
        /// Delay in seconds; fractions allowed.
        seconds: f64,
    },
    /// Send the normal answer's headers but only the first half of its body, then close.
    Truncate,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Fail only signed `listVirtualMachines` requests for this page number, with this status.
    FailPage {
        /// The `page` parameter that fails.
        page: i64,
        /// HTTP status and `errorcode` to fail with.
        code: u16,
    },
    /// Fail only signed requests for this command (matched exactly, as CloudStack matches command names), with
    /// this status; e.g. `listEvents` failing while listings go on.
    FailCommand {
        /// The `command` parameter that fails.
        command: String,
        /// HTTP status and `errorcode` to fail with.
        code: u16,
    },
    /// Take the request and send nothing back, not even a status line, until `PUT /control/fault` arms another
    /// mode; then answer it as it would have been answered when it arrived. `times` counts the requests held.
    AcceptAndHang,
    /// The `--blackhole-listen` address turns into a black hole: connects to it are never answered (SYNs dropped,
    /// no RST) and connections already made through it go silent, until another mode is armed. The main address,
    /// and with it `/control/`, keeps answering.
    BlackholeConnect,
    /// A VM is expunged as a page is asked for (see `listing_fault.rs`, like the three below).
    ExpungeWhilePaging(ExpungeWhilePaging),
    /// A page comes back one VM short.
    ShortPage(ShortPage),
    /// A VM is created as a page is asked for: `count` changes.
    CountChange(CountChange),
    /// A VM comes into view below the OFFSET as a page is asked for: the page repeats a VM.
    DuplicateAcrossPages(DuplicateAcrossPages),
}

impl Fault {
    /// Name used in the request log (the `mode` value).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Refuse => "refuse",
            Fault::Status { .. } => "status",
            Fault::Hang { .. } => "hang",
            Fault::Truncate => "truncate",
            Fault::Garbage => "garbage",
            Fault::FailPage { .. } => "fail-page",
            Fault::FailCommand { .. } => "fail-command",
            Fault::AcceptAndHang => "accept-and-hang",
            Fault::BlackholeConnect => "blackhole-connect",
            Fault::ExpungeWhilePaging(_) => "expunge-while-paging",
            Fault::ShortPage(_) => "short-page",
            Fault::CountChange(_) => "count-change",
            Fault::DuplicateAcrossPages(_) => "duplicate-across-pages",
        }
    }

    /// The listing fault this is, if it is one.
    pub fn listing(&self) -> Option<&dyn ListingMove> {
        match self {
            Fault::ExpungeWhilePaging(fault) => Some(fault),
            Fault::ShortPage(fault) => Some(fault),
            Fault::CountChange(fault) => Some(fault),
            Fault::DuplicateAcrossPages(fault) => Some(fault),
            _ => None,
        }
    }
}

/// The body of `PUT /control/fault`: a fault plus, optionally, how many API requests it hits before turning off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSetting {
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
    /// Requests left before the fault switches itself back to `none`; absent means "until changed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl FaultSetting {
    /// Reads and sanity-checks a setting; `Err` says what is wrong with it.
    pub fn from_json(text: &str) -> Result<FaultSetting, String> {
        let setting: FaultSetting = serde_json::from_str(text).map_err(|e| format!("not a fault: {e}"))?;
        match &setting.fault {
            Fault::Status { code } | Fault::FailPage { code, .. } | Fault::FailCommand { code, .. }
                if !(100..=599).contains(code) =>
            {
                Err(format!("code {code} is not an HTTP status"))
            }
            Fault::Hang { seconds } if !(0.0..=3600.0).contains(seconds) => {
                Err(format!("hang seconds must be within 0..=3600, not {seconds}"))
            }
            Fault::BlackholeConnect if setting.times.is_some() => {
                Err("blackhole-connect counts no requests: it lasts until another mode is armed, so no times".into())
            }
            fault => fault.listing().map_or(Ok(()), crate::listing_fault::check),
        }?;
        if setting.times == Some(0) {
            return Err("times must be at least 1".into());
        }
        Ok(setting)
    }
}

/// The fault currently armed; shared by all worker threads.
pub struct FaultBoard {
    armed: Mutex<FaultSetting>,
}

impl Default for FaultBoard {
    fn default() -> Self {
        FaultBoard { armed: Mutex::new(FaultSetting { fault: Fault::None, times: None }) }
    }
}

impl FaultBoard {
    /// Arms a new fault, replacing the previous one.
    pub fn set(&self, setting: FaultSetting) {
        *self.armed.lock() = setting;
    }

    /// The armed fault as JSON (what `GET /control/fault` shows).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.armed.lock()).expect("a fault always serializes")
    }

    /// Returns the armed fault if `applies` says it hits this request, counting it against `times`.
    ///
    /// Check and count happen under one lock, so with `times: 1` exactly one of several concurrent requests fails.
    pub fn fire(&self, applies: impl FnOnce(&Fault) -> bool) -> Option<Fault> {
        let mut armed = self.armed.lock();
        if armed.fault == Fault::None || !applies(&armed.fault) {
            return None;
        }
        let fault = armed.fault.clone();
        if let Some(left) = armed.times.as_mut() {
            *left -= 1;
            if *left == 0 {
                *armed = FaultSetting { fault: Fault::None, times: None };
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_mode_is_understood() {
        for (text, fault) in [
            (r#"{"mode":"none"}"#, Fault::None),
            (r#"{"mode":"refuse"}"#, Fault::Refuse),
            (r#"{"mode":"status","code":503}"#, Fault::Status { code: 503 }),
            (r#"{"mode":"hang","seconds":30}"#, Fault::Hang { seconds: 30.0 }),
            (r#"{"mode":"truncate"}"#, Fault::Truncate),
            (r#"{"mode":"garbage"}"#, Fault::Garbage),
            (r#"{"mode":"fail-page","page":2,"code":530}"#, Fault::FailPage { page: 2, code: 530 }),
            (
                r#"{"mode":"fail-command","command":"listEvents","code":530}"#,
                Fault::FailCommand { command: "listEvents".into(), code: 530 },
            ),
            (r#"{"mode":"accept-and-hang"}"#, Fault::AcceptAndHang),
            (r#"{"mode":"blackhole-connect"}"#, Fault::BlackholeConnect),
        ] {
            assert_eq!(FaultSetting::from_json(text).unwrap().fault, fault, "{text}");
        }
    }

    #[test]
    fn nonsense_settings_are_refused() {
        for text in [
            r#"{"mode":"explode"}"#,
            r#"{"mode":"status"}"#,
            r#"{"mode":"status","code":42}"#,
            r#"{"mode":"fail-command","command":"listEvents"}"#,
            r#"{"mode":"fail-command","command":"listEvents","code":1000}"#,
            r#"{"mode":"hang","seconds":-1}"#,
            r#"{"mode":"refuse","times":0}"#,
            r#"{"mode":"blackhole-connect","times":1}"#,
            r#"[]"#,
        ] {
            assert!(FaultSetting::from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn held_and_listing_modes_are_shown_as_armed() {
        let board = FaultBoard::default();
        board.set(FaultSetting::from_json(r#"{"mode":"accept-and-hang","times":2}"#).unwrap());
        assert_eq!(board.to_json(), r#"{"mode":"accept-and-hang","times":2}"#);
        let listing = r#"{"mode":"short-page","page":2,"id":"vm-4"}"#;
        board.set(FaultSetting::from_json(listing).unwrap());
        assert_eq!(board.to_json(), listing);
    }

    #[test]
    fn a_counted_fault_switches_itself_off() {
        let board = FaultBoard::default();
        board.set(FaultSetting::from_json(r#"{"mode":"refuse","times":2}"#).unwrap());
        assert_eq!(board.fire(|_| true), Some(Fault::Refuse));
        assert_eq!(board.fire(|_| true), Some(Fault::Refuse));
        assert_eq!(board.fire(|_| true), None);
        assert_eq!(board.to_json(), r#"{"mode":"none"}"#);
    }

    #[test]
    fn a_fault_that_does_not_apply_is_not_counted() {
        let board = FaultBoard::default();
        board.set(FaultSetting::from_json(r#"{"mode":"fail-page","page":2,"code":530,"times":1}"#).unwrap());
        assert_eq!(board.fire(|f| matches!(f, Fault::FailPage { page: 1, .. })), None);
        assert!(board.fire(|f| matches!(f, Fault::FailPage { page: 2, .. })).is_some());
        assert_eq!(board.fire(|_| true), None);
    }
}
