// The hook's statistics in Kea's StatsMgr, from whichever thread counts them.
#ifndef KEA_CLOUDSTACK_SHIM_STATS_H
#define KEA_CLOUDSTACK_SHIM_STATS_H

namespace isc {
namespace cloudstack {

/// Remember the calling thread as Kea's main thread (call from load()).
void statsOwnedByThisThread();

/// Apply the updates other threads left for Kea's thread. Call from Kea's threads only
/// (callouts, command handlers); costs one atomic read when there are none.
void applyDeferredStats();

} // namespace cloudstack
} // namespace isc

#endif
