//! Where a sync reads VMs from.
use crate::cloudstack::{ApiClient, ApiError, Vm};
use crate::config::HookConfig;
use std::sync::atomic::AtomicBool;

/// Something that lists every VM with its NICs.
pub trait NicSource: Send + Sync {
    /// The full listing, handed to `page` piece by piece, or why it could not be had (then
    /// what was handed over must be thrown away). Gives up between pages once `stop` is set.
    fn list_vms(&self, stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<(), ApiError>;
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
}

impl NicSource for CloudStackSource {
    fn list_vms(&self, stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<(), ApiError> {
        let secret = self.cfg.secret_key().map_err(|e| ApiError::Transport(e.to_string()))?;
        let client = ApiClient::new(&self.cfg, &secret);
        client.for_each_page(stop, page).map(|_| ())
    }
}
