//! Everything the worker threads share.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::blackhole::Blackhole;
use crate::cloud::Cloud;
use crate::fault::FaultBoard;
use crate::held::HeldAnswers;
use crate::request_log::RequestLog;
use crate::signature::Credentials;

/// The stand-in's state: fixed settings plus the parts tests change through `/control/`.
pub struct Standin {
    /// The one key pair requests must be signed with.
    pub credentials: Credentials,
    /// The server's `default.page.size`.
    pub default_page_size: u32,
    /// The VMs. A read lock is held while an answer page is serialized, so pages are consistent snapshots.
    pub cloud: RwLock<Cloud>,
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
    /// A stand-in with no requests seen and no fault armed.
    pub fn new(credentials: Credentials, default_page_size: u32, cloud: Cloud, local_port: u16) -> Standin {
        Standin {
            credentials,
            default_page_size,
            cloud: RwLock::new(cloud),
            requests: RequestLog::default(),
            faults: FaultBoard::default(),
            held: HeldAnswers::default(),
            blackhole: None,
            local_port,
        }
    }
}
