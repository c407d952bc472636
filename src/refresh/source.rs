//! Where a sync reads VMs from.
use super::listing::{list_all, Listing};
use crate::cloudstack::{ApiClient, ApiError, Event, EventsRead, Vm};
use crate::config::HookConfig;
use std::sync::atomic::AtomicBool;

/// Something that lists every VM with its NICs, and looks one up.
pub trait NicSource: Send + Sync {
    /// The listing, handed to `page` piece by piece (each VM once), with what it proves; or
    /// why it could not be had (then what was handed over must be thrown away). Gives up
    /// between pages once `stop` is set.
    fn list_vms(&self, stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError>;

    /// One VM by id in whatever state; None when CloudStack lists nothing for it (expunged).
    fn lookup_vm(&self, id: &str) -> Result<Option<Vm>, ApiError>;

    /// The newest VM event CloudStack keeps (None: none). Sources without an event log fail.
    fn newest_event(&self) -> Result<Option<Event>, ApiError> {
        Err(ApiError::Transport("this source keeps no event log".into()))
    }

    /// VM events written at or after `since` (the server's local time), at most `max`.
    fn events_since(&self, _since: Option<&str>, _max: usize, _stop: &AtomicBool) -> Result<EventsRead, ApiError> {
        Err(ApiError::Transport("this source keeps no event log".into()))
    }

    /// The VMs with these ids, in whatever state (an id it lists nothing for is left out).
    fn vms_by_ids(&self, _ids: &[String], _stop: &AtomicBool) -> Result<Vec<Vm>, ApiError> {
        Err(ApiError::Transport("this source lists no VMs by id".into()))
    }
}

/// The CloudStack API of the configuration. The secret is read at each sync, so a rotated
/// secret-key-file takes effect without a reload.
pub struct CloudStackSource {
    cfg: HookConfig,
}

impl CloudStackSource {
    /// A source for this configuration.
    pub fn new(cfg: HookConfig) -> CloudStackSource {
        CloudStackSource { cfg }
    }

    fn client(&self) -> Result<ApiClient, ApiError> {
        let secret = self.cfg.secret_key().map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(ApiClient::new(&self.cfg, &secret))
    }
}

impl NicSource for CloudStackSource {
    fn list_vms(&self, stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
        list_all(&self.client()?, stop, page)
    }

    fn lookup_vm(&self, id: &str) -> Result<Option<Vm>, ApiError> {
        self.client()?.lookup_vm(id)
    }

    fn newest_event(&self) -> Result<Option<Event>, ApiError> {
        self.client()?.newest_vm_event()
    }

    fn events_since(&self, since: Option<&str>, max: usize, stop: &AtomicBool) -> Result<EventsRead, ApiError> {
        self.client()?.vm_events_since(since, max, stop)
    }

    fn vms_by_ids(&self, ids: &[String], stop: &AtomicBool) -> Result<Vec<Vm>, ApiError> {
        self.client()?.vms_by_ids(ids, stop)
    }
}
