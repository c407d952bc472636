//! Everything the worker threads share.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::blackhole::Blackhole;
use crate::clock::EventClock;
use crate::cloud::{Cloud, Vm};
use crate::event_actions::{self, Action};
use crate::events::EventLog;
use crate::fault::FaultBoard;
use crate::held::HeldAnswers;
use crate::latency::{Latency, Pacer};
use crate::request_log::RequestLog;
use crate::server_zone::ServerZone;
use crate::signature::Credentials;

/// The stand-in's state: fixed settings plus the parts tests change through `/control/`.
pub struct Standin {
    /// The one key pair requests must be signed with.
    pub credentials: Credentials,
    /// The server's `default.page.size`.
    pub default_page_size: u32,
    /// The VMs. A read lock is held while an answer page is serialized, so pages are consistent snapshots.
    /// Whoever changes the cloud and writes the events of that change takes this lock first, then `events`.
    pub cloud: RwLock<Cloud>,
    /// What CloudStack recorded of the changes made through `/control/` and listing faults.
    pub events: Mutex<EventLog>,
    /// The second events are stamped with.
    pub clock: EventClock,
    /// The management server's time zone: how dates are written and `startdate`/`enddate` read.
    pub zone: ServerZone,
    /// Holds API answers back as long as the latency model says.
    pub pacer: Pacer,
    /// API requests seen.
    pub requests: RequestLog,
    /// The armed fault.
    pub faults: FaultBoard,
    /// Answers the `accept-and-hang` fault holds back.
    pub held: HeldAnswers,
    /// The `--blackhole-listen` address, when the stand-in has one.
    pub blackhole: Option<Arc<Blackhole>>,
    /// Port the server listens on: identifies our side of a connection when a fault must cut it.
    pub local_port: u16,
}

impl Standin {
    /// A stand-in with no requests seen, no events, no fault armed, no latency, in UTC.
    pub fn new(credentials: Credentials, default_page_size: u32, cloud: Cloud, local_port: u16) -> Standin {
        Standin {
            credentials,
            default_page_size,
            cloud: RwLock::new(cloud),
            events: Mutex::new(EventLog::default()),
            clock: EventClock::default(),
            zone: ServerZone::UTC,
            pacer: Pacer::new(Latency::default()),
            requests: RequestLog::default(),
            faults: FaultBoard::default(),
            held: HeldAnswers::default(),
            blackhole: None,
            local_port,
        }
    }

    /// Writes the events CloudStack writes when `action` is done to `vm`, stamped with the event clock's second.
    pub fn record(&self, action: &Action, vm: &Vm) {
        event_actions::record(&mut self.events.lock(), action, vm, self.clock.now());
    }
}
