/* SPDX-License-Identifier: MIT */
/*
 * context.h - one SVM context: the GPU view of one guest process.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A context owns, for one guest process, a GPU VA space on every device
 * (one struct vp_dev_vm each, GPU VA == the process's CPU VA), the map of
 * what the guest mapped (VA -> host address of guest RAM, permissions),
 * the attribute map that spans all devices, and the fault queue.
 *
 * PTEs are installed lazily: MAP only records the range; a device's first
 * access misses, the fault function finds the range in the map and
 * installs the PTE on that device alone (a "minor" fault, no guest round
 * trip).  Only an access to a VA the guest has not mapped becomes a fault
 * event for the guest.  So page tables exist only where devices touched.
 *
 * DOC: Locking
 *
 * ctx->lock guards everything in the context.  It is held across
 * vp_device_ops.vm_map() and vm_unmap(), which is what makes "range looked
 * up, PTE installed" atomic against UNMAP: an UNMAP removes the range and
 * clears the PTEs under the same lock.  Device execution units call the
 * fault function holding no device lock (device.h), so waiting for the
 * lock there cannot block a vm_unmap() drain.  Lock order:
 * svm->lock -> ctx->lock -> (device locks).  A submission's complete() is
 * never called with ctx->lock held.
 */
#ifndef VP_CONTEXT_H
#define VP_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vsvm/vsvm_codec.h"
#include "device.h"
#include "policy.h"
#include "range_map.h"
#include "svm.h"

/* UNMAPs remembered for the STALE check of MAP (protocol: at least 64). */
#define VP_UNMAP_HISTORY 64
/* Faults outstanding per context; more wait for room (back-pressure). */
#define VP_MAX_FAULTS 4096
/*
 * Non-fault events queued per context (PREFETCH_DONE, MIGRATE_REQ).  Room
 * for every outstanding request and prefetch, so none is ever dropped.
 */
#define VP_MAX_MREQS 512
#define VP_MAX_PREFETCHES 64
#define VP_MAX_MISC_EVENTS (VP_MAX_MREQS + VP_MAX_PREFETCHES)
/* Location index of guest RAM in per-location counters. */
#define VP_LOC_SYS VSVM_MAX_DEVICES

/* Packed attributes in vp_range_val.word[0]; word[1] is accessed-by. */
#define ATTR_LOC(w) ((uint32_t)(w))
#define ATTR_READ_MOSTLY(w) ((uint32_t)((w) >> 32) & 0xff)
#define ATTR_GRAN(w) ((uint32_t)((w) >> 40) & 0xff)
#define ATTR_ACCESS(w) ((uint32_t)((w) >> 48) & 0xff)
#define ATTR_PACK(loc, rm, gran, acc)                                        \
	((uint64_t)(loc) | (uint64_t)(rm) << 32 | (uint64_t)(gran) << 40 |   \
	 (uint64_t)(acc) << 48)

#define VP_ATTR_DEFAULT_GRAN 21
#define VP_ATTR_DEFAULT_WORD                                                 \
	ATTR_PACK(VSVM_LOC_UNSET, 0, VP_ATTR_DEFAULT_GRAN,                   \
		  VSVM_DEVICE_ACCESS_RW)

/* What a DEVICE_ACCESS value leaves of the guest's prot. */
static inline uint32_t vp_attr_limit_prot(uint32_t access, uint32_t prot)
{
	if (access == VSVM_DEVICE_ACCESS_NONE)
		return 0;
	return access == VSVM_DEVICE_ACCESS_RO ? prot & VSVM_PROT_READ : prot;
}

enum vp_fault_state {
	VP_FAULT_QUEUED,	/* waiting for an EVENT_WAIT */
	VP_FAULT_DELIVERED,	/* the guest has it */
	VP_FAULT_DONE,		/* answered: status says how */
};

struct vp_fault {
	struct vp_fault *next;
	uint64_t va;		/* page */
	uint32_t id;
	uint32_t device;
	enum vp_access access;	/* the strongest access waiting */
	enum vp_fault_state state;
	int status;		/* 0: replay; else negated vsvm_status */
	uint32_t waiters;	/* execution units sleeping on it */
};

struct vp_unmap_rec {
	uint64_t seq;
	uint64_t start;
	uint64_t end;
};


/* An outstanding MIGRATE_REQ (8.3). */
struct vp_mreq {
	uint32_t id;
	uint32_t loc;		/* device index or VSVM_LOC_SYSTEM */
	uint64_t va;
	uint64_t len;
	uint64_t sent_ns;
	uint32_t token;		/* the ASYNC PREFETCH it serves, or 0 */
};

/* An outstanding asynchronous PREFETCH (7.7). */
struct vp_prefetch {
	uint32_t token;
	uint32_t loc;
	uint64_t va;
	uint64_t len;
	uint32_t pending;	/* its MIGRATE_REQs not yet answered */
	bool nospc;		/* a MIGRATE for it ran out of memory */
};

struct vp_ctx {
	const struct vp_svm_config *cfg;
	const struct vp_memtable *mt;
	uint32_t id;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* fault answered, launch ended */

	bool initialised;
	bool dying;		/* DESTROY in progress */
	uint32_t va_bits;
	uint16_t minor;
	struct vp_dev_vm *vms[VSVM_MAX_DEVICES];

	struct vp_range_map maps;	/* base: host address */
	struct vp_range_map attrs;	/* base: packed attributes */

	/*
	 * Residency (migrate.c, DOC: Residency).  res: the mapped pages whose
	 * data is in device memory; base: its host address, word[0]: the
	 * device.  reps[d]: read-only replicas on device d; base: host
	 * address of the replica.  Everything else that maps lives in guest
	 * RAM at the address ctx->maps gives.
	 */
	const struct vp_policy *policy;
	uint32_t features;		/* VSVM_F_* offered to this context */
	struct vp_range_map res;
	struct vp_range_map reps[VSVM_MAX_DEVICES];
	uint64_t rep_devs;		/* devices that may hold replicas */
	uint64_t data_bytes[VSVM_MAX_DEVICES];	/* device memory for data */
	struct vp_gran_table grans;
	struct vp_mreq *mreqs;		/* outstanding MIGRATE_REQs */
	uint32_t nr_mreqs;
	uint32_t next_mreq_id;
	struct vp_prefetch pf[VP_MAX_PREFETCHES];
	uint32_t nr_pf;

	uint64_t last_unmap_seq;
	struct vp_unmap_rec hist[VP_UNMAP_HISTORY];
	uint32_t hist_next;
	uint32_t hist_len;

	struct vp_fault *faults;	/* oldest first */
	struct vp_fault *faults_tail;
	uint32_t nr_faults;
	uint32_t nr_queued;		/* of them, VP_FAULT_QUEUED */
	uint32_t next_fault_id;
	struct vsvm_event_val *misc;	/* grown on demand */
	uint32_t misc_len;
	uint32_t misc_cap;

	struct vp_submit *parked_wait;	/* at most one EVENT_WAIT */
	uint32_t parked_max_events;
	uint32_t launches;		/* in flight */
	uint32_t next_token;

	struct vp_ctx_stats stats;
};

struct vp_ctx *vp_ctx_create(const struct vp_svm_config *cfg,
			     const struct vp_memtable *mt, uint32_t id);
/* Tear down (as DESTROY) and free; no submission may be running. */
void vp_ctx_free(struct vp_ctx *ctx);

/*
 * Apply one validated command.  Writes its reply with w, except for a
 * parking command that parked: then it returns 1 and the reply is written
 * when it completes.  Return: 0 done (reply written), 1 parked, or a
 * negated vsvm_status (no reply written, nothing changed).
 */
int vp_ctx_apply(struct vp_ctx *ctx, const struct vsvm_request *req,
		 struct vsvm_writer *w, struct vp_submit *s);

/*
 * Start tearing down: fail faults, cancel the parked wait and launches.
 * Idempotent.  Devices are shared, so a VM going away cancels all its
 * contexts first: a context's launches may be queued behind another
 * context's execution units that wait for faults only a cancel answers.
 */
void vp_ctx_cancel(struct vp_ctx *ctx);
/* DESTROY: cancel, wait for launches, back to uninitialised. */
void vp_ctx_reset(struct vp_ctx *ctx);

/* Drop every mapping and PTE (the memory table is changing). */
void vp_ctx_drop_mappings(struct vp_ctx *ctx);

/* fault.c */
int vp_ctx_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		 enum vp_access access);
int vp_ctx_event_wait(struct vp_ctx *ctx, const struct vsvm_request *req,
		      struct vsvm_writer *w, struct vp_submit *s);
int vp_ctx_fault_reply(struct vp_ctx *ctx, const struct vsvm_request *req,
		       struct vsvm_writer *w);
void vp_ctx_queue_event(struct vp_ctx *ctx, const struct vsvm_event_val *ev);
/* Fail every fault and cancel the parked wait; ctx->lock held. */
struct vp_submit *vp_ctx_cancel_faults(struct vp_ctx *ctx);
/* If events are pending and a wait is parked, detach and fill it. */
struct vp_submit *vp_ctx_deliver_events(struct vp_ctx *ctx);

/* migrate.c */
static inline bool vp_ctx_has_devmem(const struct vp_ctx *ctx)
{
	return ctx->features & VSVM_F_DEVICE_MEMORY;
}
/* The VSVM_F_* the devices of cfg support. */
uint32_t vp_devices_features(const struct vp_svm_config *cfg);
/* Remove every PTE of [va, va + len) on every device; ctx->lock held. */
void vp_ctx_unmap_all(struct vp_ctx *ctx, uint64_t va, uint64_t len);
/*
 * Install dev's PTEs for the mapped pages of [start, end), pointing where
 * the data lives, with the guest's prot as DEVICE_ACCESS and replicas
 * leave it.  Return: 0 or -ENOMEM.
 */
int vp_ctx_install(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
		   uint64_t end);
/* Install on every device of mask; errors are left to later faults. */
void vp_ctx_install_mask(struct vp_ctx *ctx, uint64_t mask, uint64_t start,
			 uint64_t end);
/* ACCESSED_BY devices of [start, end) get their PTEs (eager mapping). */
void vp_ctx_map_accessed_by(struct vp_ctx *ctx, uint64_t start, uint64_t end);
/* The guest unmapped [start, end): free its device memory and replicas. */
void vp_ctx_release(struct vp_ctx *ctx, uint64_t start, uint64_t end);
/* DESTROY: free all device memory, requests and prefetches. */
void vp_ctx_release_all(struct vp_ctx *ctx);
/* Where the data of va lives: a device index or VP_LOC_SYS. */
uint32_t vp_ctx_loc(struct vp_ctx *ctx, uint64_t va, uint64_t *stop);
/* Does [start, end) hold a replica on any device? */
bool vp_ctx_has_replicas(struct vp_ctx *ctx, uint64_t start, uint64_t end);
/* Collapse replicas of [start, end): unmap everywhere, free them. */
void vp_ctx_collapse(struct vp_ctx *ctx, uint64_t start, uint64_t end);
/* Free every replica this context holds on dev; return bytes freed. */
uint64_t vp_ctx_drop_replicas(struct vp_ctx *ctx, uint32_t dev);
/* Make read-only replicas of the device data of [start, end) on dev. */
void vp_ctx_replicate(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
		      uint64_t end);
/* Move device data of [start, end) to device dst (the device's own move). */
uint64_t vp_ctx_move_d2d(struct vp_ctx *ctx, uint64_t start, uint64_t end,
			 uint32_t dst, bool policy);
/*
 * Queue a MIGRATE_REQ for [va, va + len) to loc.  Return: the request id,
 * or 0 if the table is full.  The caller delivers events.
 */
uint32_t vp_ctx_request(struct vp_ctx *ctx, uint64_t va, uint64_t len,
			uint32_t loc, uint32_t token);
/* An outstanding request overlapping [va, va + len) to loc, or NULL. */
struct vp_mreq *vp_ctx_find_request(struct vp_ctx *ctx, uint64_t va,
				    uint64_t len, uint32_t loc);
/* Is an ASYNC PREFETCH bringing [va, end) to device dev? */
bool vp_ctx_prefetching(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			uint32_t dev);
/* Ask the guest to bring the mapped data of [va, end) to loc. */
void vp_ctx_request_range(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			  uint32_t loc);
/* Attribute word of va (packed, context.h ATTR_*) and its ACCESSED_BY. */
uint64_t vp_ctx_attr(struct vp_ctx *ctx, uint64_t va, uint64_t *accessed_by);
/* The policy's granule shift at va. */
uint32_t vp_ctx_gran_shift(struct vp_ctx *ctx, uint64_t va);
/* The permissions DEVICE_ACCESS leaves of prot at addr, up to *stop. */
uint32_t vp_ctx_limited_prot(struct vp_ctx *ctx, uint64_t addr, uint64_t end,
			     uint32_t prot, uint64_t *stop);
int vp_ctx_migrate(struct vp_ctx *ctx, const struct vsvm_request *req,
		   struct vsvm_writer *w, struct vp_submit **deliver);
int vp_ctx_prefetch(struct vp_ctx *ctx, const struct vsvm_request *req,
		    struct vsvm_writer *w, struct vp_submit **deliver);
/* Bytes dev may still give to data (after the page-table reserve). */
uint64_t vp_ctx_data_room(struct vp_ctx *ctx, uint32_t dev);
/* Device memory the context holds on dev: page tables and data. */
uint64_t vp_ctx_mem_used(struct vp_ctx *ctx, uint32_t dev);

/* Complete a parked submission after appending its last reply. */
void vp_submit_finish(struct vp_submit *s, const struct vsvm_response *rsp);

#endif /* VP_CONTEXT_H */
