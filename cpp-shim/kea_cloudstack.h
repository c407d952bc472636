/*
 * kea_cloudstack.h: the only contract between the C++ shim (which talks to Kea) and the Rust
 * library (which decides). Plain C types only; bytes travel as pointer + length and are valid
 * for the duration of one call. bindgen reads this file to make Rust's view of it.
 *
 * Two directions:
 *   kcs_*  implemented by the C++ shim, called from Rust;
 *   kc_*   implemented by Rust, called from the shim.
 * No function of either side lets an exception or a panic cross it.
 */
#ifndef KEA_CLOUDSTACK_H
#define KEA_CLOUDSTACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Borrowed bytes; len 0 means absent. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} kc_bytes;

/** An IPv6 prefix: 16 network-order bytes and a length. */
typedef struct {
    uint8_t addr[16];
    uint8_t len;
} kc_prefix;

/* ------------------------------------------------------------------------------------------
 * Facts the shim reads from a client message. Relay facts come from the OUTERMOST relay
 * (the one closest to Kea: the provider router), which the client cannot forge.
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    uint8_t msg_type;            /* DHCPv6 type of the client's own message (1 = Solicit, ...) */
    uint8_t relay_hops;          /* number of Relay-Forward layers; 0 = not relayed */
    uint8_t remote_addr[16];     /* the source address of the packet Kea received (the relay's) */
    kc_bytes interface_id;       /* option 18 of the outermost relay */
    uint8_t link_addr[16];       /* the outermost relay's link-address */
    kc_bytes remote_id;          /* option 37 of the outermost relay: enterprise number + id */
    kc_bytes client_link_layer;  /* option 79 of the outermost relay: hardware type + address */
    uint8_t has_ia_pd;           /* the message carries at least one IA_PD */
    kc_bytes label;              /* Kea's label of the packet, for log lines */
} kc_query_facts;

/** What pkt6_receive should do with a client message. */
typedef enum {
    /** Not ours to judge (no IA_PD, or a message type we leave to Kea). */
    KC_QUERY_LEAVE = 0,
    /** Make Kea delegate `prefix` to this client: for Solicit/Request clear stale leases and
     *  put `prefix` as the IA_PD hint; for Renew/Rebind only remember it. */
    KC_QUERY_STEER = 1,
    /** No prefix for this client unless Kea holds a host reservation for it. */
    KC_QUERY_REFUSE = 2,
    /** Drop the whole message before anything touches a lease (a relay that is not a router). */
    KC_QUERY_DROP = 3
} kc_query_verdict;

/** Longest NIC id recorded on a lease (CloudStack's are 36-character UUIDs). */
#define KC_NIC_ID_MAX 64

typedef struct {
    kc_query_verdict verdict;
    kc_prefix prefix;            /* with STEER: the prefix the client gets */
    uint8_t mac[6];              /* the MAC the router vouched for, when has_mac */
    uint8_t has_mac;
    uint16_t vlan;               /* with STEER: the NIC's VLAN */
    uint8_t nic_id[KC_NIC_ID_MAX]; /* with STEER: the NIC's CloudStack id, nic_id_len bytes */
    uint8_t nic_id_len;
} kc_query_plan;

/* ------------------------------------------------------------------------------------------
 * Facts for lease6_select and lease6_renew / lease6_rebind.
 * ------------------------------------------------------------------------------------------ */

/** The Kea host reservation that holds a prefix, if any. */
typedef struct {
    uint8_t exists;
    kc_bytes hwaddr;             /* its hw-address identifier, if it has one */
    uint8_t duid_matches;        /* it names the client's own DUID */
} kc_reservation;

typedef struct {
    kc_prefix lease;             /* what Kea picked */
    uint8_t is_pd;               /* 0: an address lease, never ours to judge */
    uint8_t has_plan;            /* pkt6_receive steered this query */
    kc_prefix planned;           /* the prefix pkt6_receive planned */
    uint8_t planned_ia;          /* the lease is for the IA_PD the plan was made for (the first) */
    uint8_t mac[6];              /* the MAC the router vouched for in pkt6_receive, when has_mac */
    uint8_t has_mac;
    kc_reservation reservation;  /* looked up only when the lease is not the planned prefix */
    kc_bytes label;
} kc_selection_facts;

typedef enum {
    KC_SELECTION_ACCEPT = 0,
    KC_SELECTION_SKIP = 1        /* Kea must not hand this prefix out */
} kc_selection_verdict;

typedef struct {
    kc_query_facts query;        /* the Renew or Rebind */
    kc_prefix lease;             /* the prefix being extended */
    kc_bytes recorded_mac;       /* "mac" the hook recorded in the lease's user-context (text); len 0: none */
    uint8_t has_details;         /* reservation and query.label are filled in (else: not looked up yet) */
    kc_reservation reservation;
} kc_renewal_facts;

/* ------------------------------------------------------------------------------------------
 * Kea's applied configuration, for the check that every VLAN is served (dhcp6_srv_configured).
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    uint8_t first[16];           /* first delegated prefix of the pool */
    uint8_t last[16];            /* last delegated prefix of the pool */
    uint8_t delegated_len;
} kc_pd_pool;

typedef struct {
    uint32_t subnet_id;
    kc_prefix prefix;            /* the subnet's prefix */
    kc_bytes interface_id;       /* the subnet's interface-id (inherited from its shared network) */
    const kc_pd_pool *pools;
    size_t pool_count;
} kc_subnet_facts;

typedef enum {
    KC_RENEWAL_KEEP = 0,
    KC_RENEWAL_WITHDRAW = 1,     /* answer with preferred and valid lifetimes 0 */
    KC_RENEWAL_FOREIGN = 2,      /* another NIC's lease: leave it as it is, answer the sender with lifetimes 0 */
    /** Without details only: not kept unless a reservation keeps it. Nothing was counted or logged;
     *  ask again with the reservation and the label (never answered with details). */
    KC_RENEWAL_NEED_DETAILS = 3
} kc_renewal_verdict;

typedef struct {
    kc_query_facts query;        /* the Release, relayed by the router */
    kc_bytes recorded_mac;       /* as in kc_renewal_facts */
} kc_release_facts;

/* ------------------------------------------------------------------------------------------
 * Logging through Kea's logger "cloudstack-hooks". Message ids are those of
 * cloudstack_messages.mes; args fill %1, %2, ... in order.
 * ------------------------------------------------------------------------------------------ */
typedef enum {
    KC_SEV_DEBUG = 0,
    KC_SEV_INFO = 1,
    KC_SEV_WARN = 2,
    KC_SEV_ERROR = 3
} kc_severity;

/* ---------------------------------- implemented by the shim ------------------------------- */

/** KEA_HOOKS_VERSION of the Kea the shim was compiled against. */
int kcs_hooks_version(void);

/** Kea's load(): reads the hook parameters and hands them to kc_load. */
int kcs_load(void *library_handle);
int kcs_unload(void);

/** Callouts; each takes Kea's CalloutHandle as an opaque pointer. */
int kcs_pkt6_receive(void *callout_handle);
int kcs_lease6_select(void *callout_handle);
int kcs_lease6_renew(void *callout_handle);
int kcs_lease6_rebind(void *callout_handle);
int kcs_pkt6_send(void *callout_handle);
int kcs_lease6_release(void *callout_handle);
int kcs_dhcp6_srv_configured(void *callout_handle);
/** Adds the leases the hook cleared for this client to "deleted_leases6", which Kea's HA hook
 *  (listed after this one) sends to the partner. */
int kcs_leases6_committed(void *callout_handle);

/** Would Kea print a message of this severity (and debug level)? */
int kcs_log_enabled(kc_severity severity, int debug_level);
/** Log message `id` with `nargs` text arguments. */
void kcs_log(kc_severity severity, int debug_level, kc_bytes id, const kc_bytes *args, size_t nargs);

/** Add `delta` to Kea statistic `name` (created on first use). Called by Rust's hand-over only. */
void kcs_stat_add(kc_bytes name, int64_t delta);
/** Set Kea statistic `name` to `value`. */
void kcs_stat_set(kc_bytes name, int64_t value);

/* ---------------------------------- implemented by Rust ----------------------------------- */

/** Parse the hook parameters (JSON text) and start. On failure returns non-zero and writes a
 *  NUL-terminated message naming the parameter into error (at most error_len bytes). */
int kc_load(kc_bytes parameters_json, char *error, size_t error_len);
/** Stop the background sync and release everything load created. */
void kc_unload(void);

/** pkt6_receive: decide what happens to a client message. Returns 0, or -1 on an internal
 *  error (the plan is then LEAVE). */
int kc_plan_query(const kc_query_facts *facts, kc_query_plan *plan);
kc_selection_verdict kc_judge_selection(const kc_selection_facts *facts);
kc_renewal_verdict kc_judge_renewal(const kc_renewal_facts *facts);
/** lease6_release: may the Release free the prefix (1) or not (0)? */
int kc_judge_release(const kc_release_facts *facts);

/** pkt6_send saw a Reply that delegates the planned prefix: one delegation (an atomic add). */
void kc_count_delegation(void);

/** Hand the hook's counts to Kea's StatsMgr now (before a statistic command reads it). Rust hands
 *  them over in batches otherwise: at most once a second, from kc_plan_query. Kea's threads only. */
void kc_stats_flush(void);

/** Does Kea's configuration serve every VLAN (a subnet with its interface-id, a pd-pool covering
 *  its prefix at delegated-length)? Returns 0, or non-zero with a NUL-terminated message naming
 *  the VLAN in error (at most error_len bytes). */
int kc_check_subnets(const kc_subnet_facts *subnets, size_t count, char *error, size_t error_len);
/** Is the hook listed before Kea's HA hook (libdhcp_ha.so)? libraries: the paths of Kea's loaded
 *  hook libraries in their order (the order Kea calls their callouts in); own: this library's path
 *  as Kea loaded it (len 0: unknown). Returns 0, or non-zero with a NUL-terminated message naming
 *  both entries in error (at most error_len bytes). */
int kc_check_library_order(const kc_bytes *libraries, size_t count, kc_bytes own, char *error, size_t error_len);

/** A control command (`cloudstack-status`, `cloudstack-lookup`, `cloudstack-resync`) with its
 *  "arguments" as JSON text (len 0: none). Returns Kea's answer as NUL-terminated JSON text
 *  {"result": .., "text": .., "arguments": ..}, to be released with kc_string_free. */
char *kc_command(kc_bytes name, kc_bytes arguments_json);
/** Release a string returned by kc_command. */
void kc_string_free(char *text);

#ifdef __cplusplus
}
#endif

#endif /* KEA_CLOUDSTACK_H */
