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
#include "range_map.h"
#include "svm.h"

/* UNMAPs remembered for the STALE check of MAP (protocol: at least 64). */
#define VP_UNMAP_HISTORY 64
/* Faults outstanding per context; more wait for room (back-pressure). */
#define VP_MAX_FAULTS 4096
/* Non-fault events queued per context (PREFETCH_DONE, MIGRATE_REQ). */
#define VP_MAX_MISC_EVENTS 64

/* Packed attributes in vp_range_val.word[0]; word[1] is accessed-by. */
#define ATTR_LOC(w) ((uint32_t)(w))
#define ATTR_READ_MOSTLY(w) ((uint32_t)((w) >> 32) & 0xff)
#define ATTR_GRAN(w) ((uint32_t)((w) >> 40) & 0xff)
#define ATTR_ACCESS(w) ((uint32_t)((w) >> 48) & 0xff)
#define ATTR_PACK(loc, rm, gran, acc)                                        \
	((uint64_t)(loc) | (uint64_t)(rm) << 32 | (uint64_t)(gran) << 40 |   \
	 (uint64_t)(acc) << 48)

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

struct vp_ctx_stats {
	uint64_t maps;
	uint64_t map_bytes;
	uint64_t map_stale;
	uint64_t unmaps;
	uint64_t faults_minor;		/* resolved from the map, no guest */
	uint64_t faults_forwarded;	/* sent to the guest */
	uint64_t faults_failed;
	uint64_t launches;
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

	uint64_t last_unmap_seq;
	struct vp_unmap_rec hist[VP_UNMAP_HISTORY];
	uint32_t hist_next;
	uint32_t hist_len;

	struct vp_fault *faults;	/* oldest first */
	struct vp_fault *faults_tail;
	uint32_t nr_faults;
	uint32_t nr_queued;		/* of them, VP_FAULT_QUEUED */
	uint32_t next_fault_id;
	struct vsvm_event_val misc[VP_MAX_MISC_EVENTS];
	uint32_t misc_len;

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

/* Complete a parked submission after appending its last reply. */
void vp_submit_finish(struct vp_submit *s, const struct vsvm_response *rsp);

#endif /* VP_CONTEXT_H */
