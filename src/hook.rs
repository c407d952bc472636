//! The one state object of a loaded hook: created by load(), stopped by unload(). Kea may
//! unload and load again in the same process image (config reload), so nothing outlives it.
use crate::config::HookConfig;
use crate::counters::{Counters, Stat};
use crate::delegation::Delegator;
use crate::index::snapshot;
use crate::log::Level;
use crate::log_at;
use crate::refresh::{CloudStackSource, IndexCell, NicSource, Refresher};
use parking_lot::RwLock;
use std::sync::Arc;

/// A loaded hook.
pub struct Hook {
    pub cfg: Arc<HookConfig>,
    pub index: Arc<IndexCell>,
    pub refresher: Arc<Refresher>,
    pub delegator: Delegator,
    pub counters: Arc<Counters>,
}

static CURRENT: RwLock<Option<Arc<Hook>>> = RwLock::new(None);

/// The index an unloaded hook had, for a reload in the same process (Kea unloads and loads the
/// library in place): with the same VLAN layout it serves at once, without a warm-up wait.
struct KeptIndex {
    layout: String,
    /// Where the index came from: its authority carries over only to a hook reading the same.
    source: String,
    index: Arc<crate::index::NicIndex>,
    authority: u64,
    counters: Arc<Counters>,
}

/// What identifies the CloudStack an index was read from.
fn source_of(cfg: &HookConfig) -> String {
    format!("{} zone={:?} key={}", cfg.api_url, cfg.zone_id, cfg.api_key)
}

static KEPT: parking_lot::Mutex<Option<KeptIndex>> = parking_lot::Mutex::new(None);

impl Hook {
    /// Parse the parameters, load the snapshot, start syncing and, unless an index is already in
    /// hand, wait for the warm-up (at most warmup-timeout). Err names the parameter at fault.
    pub fn start(parameters: &serde_json::Value) -> Result<Hook, String> {
        let cfg = HookConfig::from_json(parameters).map_err(|e| e.to_string())?;
        cfg.secret_key().map_err(|e| e.to_string())?;
        if cfg.plain_http() {
            log_at!(Level::Warn, CLOUDSTACK_PLAIN_HTTP, cfg.api_url);
        }
        let source = Box::new(CloudStackSource::new(cfg.clone()));
        Hook::start_with(cfg, source)
    }

    /// `start` with another NIC source (tests).
    pub fn start_with(cfg: HookConfig, source: Box<dyn NicSource>) -> Result<Hook, String> {
        let cfg = Arc::new(cfg);
        if cfg.trusts_everyone() {
            log_at!(Level::Warn, CLOUDSTACK_TRUSTS_ANY_RELAY);
        }
        let index = Arc::new(IndexCell::default());
        let kept = KEPT.lock().take().filter(|k| k.layout == snapshot::layout(&cfg));
        // A reload that keeps the index keeps the counts too.
        let counters = kept.as_ref().map_or_else(|| Arc::new(Counters::default()), |k| k.counters.clone());
        let mut serving_from = "an empty index".to_string();
        // With an index already in hand (kept across a reload, or the snapshot) Kea serves at once
        // and the first sync runs in the background; with none, load waits up to warmup-timeout.
        let mut serve_at_once = false;
        if let Some(kept) = &kept {
            index.adopt(kept.index.clone());
            // Another API, zone or key may see other VMs: serve what is known, but withdraw
            // nothing until a complete listing from the new source.
            if kept.source == source_of(&cfg) {
                index.restore_authority(kept.authority);
            }
            serve_at_once = true;
            counters.set(Stat::Nics, kept.index.len() as i64);
            log_at!(Level::Info, CLOUDSTACK_INDEX_KEPT, kept.index.len());
        } else if let Some(path) = &cfg.snapshot_file {
            if path.exists() {
                match snapshot::read(path, &cfg) {
                    Ok(saved) => {
                        log_at!(Level::Info, CLOUDSTACK_SNAPSHOT_LOADED, path.display(), saved.len());
                        serving_from = format!("the snapshot ({} NICs)", saved.len());
                        counters.set(Stat::Nics, saved.len() as i64);
                        index.replace(saved);
                        serve_at_once = true;
                    }
                    Err(why) => log_at!(Level::Warn, CLOUDSTACK_SNAPSHOT_REFUSED, path.display(), why),
                }
            }
        }
        let refresher = Refresher::start((*cfg).clone(), source, index.clone(), counters.clone())
            .map_err(|e| format!("cannot start the sync thread: {e}"))?;
        let refresher = Arc::new(refresher);
        if serve_at_once {
            // Serving already; the first sync runs in the background.
        } else if refresher.wait_first_attempt(cfg.warmup_timeout) {
            log_at!(Level::Info, CLOUDSTACK_WARMUP_DONE, index.current().len());
        } else {
            log_at!(Level::Warn, CLOUDSTACK_WARMUP_LATE, cfg.warmup_timeout.as_secs(), serving_from);
        }
        // Every statistic exists in Kea from load on (at 0 unless kept), so dashboards see it before
        // the first event; load() runs on Kea's thread, where StatsMgr may be touched.
        counters.publish_all();
        log_at!(Level::Info, CLOUDSTACK_LOAD_OK, cfg.vlans.len(), cfg.api_url);
        let delegator = Delegator::new(cfg.clone(), index.clone(), refresher.clone(), counters.clone());
        Ok(Hook { cfg, index, refresher, delegator, counters })
    }

    /// Make this the hook Kea's callouts use (replacing and stopping any previous one).
    pub fn install(hook: Hook) {
        let previous = CURRENT.write().replace(Arc::new(hook));
        if let Some(previous) = previous {
            previous.refresher.stop();
        }
    }

    /// Stop the current hook's sync thread and forget it, keeping its index for a reload.
    pub fn uninstall() {
        let previous = CURRENT.write().take();
        if let Some(previous) = previous {
            previous.refresher.stop();
            let index = previous.index.current();
            if !index.is_empty() {
                let layout = snapshot::layout(&previous.cfg);
                let (source, authority, counters) = (source_of(&previous.cfg), previous.index.authority(), previous.counters.clone());
                *KEPT.lock() = Some(KeptIndex { layout, source, index, authority, counters });
            }
        }
    }

    /// The hook Kea's callouts use, if loaded.
    pub fn current() -> Option<Arc<Hook>> {
        CURRENT.read().clone()
    }
}
