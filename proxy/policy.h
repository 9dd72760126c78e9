/* SPDX-License-Identifier: MIT */
/*
 * policy.h - the placement policy of the SVM core: where data should live.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The policy engine decides, for each granule of a context's VA space
 * (the GRANULARITY attribute in force there, 2 MiB by default), where its
 * data should be: in guest RAM or in the memory of one device.  It acts on
 * device faults (fault.c) and on device-memory pressure (migrate.c); the
 * guest's own MIGRATE and PREFETCH commands are always obeyed, and only
 * counted here.  docs/memory-hints.md explains the rules; in short:
 *
 *  - PREFERRED_LOC set: a fault places the granule there (a move between
 *    devices the proxy does alone; a move into or out of guest RAM is
 *    asked of the guest driver with MIGRATE_REQ).
 *  - No preference: once a device has faulted on a granule
 *    migrate_threshold times, and more often than every other device,
 *    the granule moves to it ("dominates access").
 *  - Thrashing: a granule that moved thrash_migrations times within
 *    thrash_window_ms is pinned for pin_ms: no policy move, no
 *    MIGRATE_REQ, no new replica; devices map it where it is.
 *  - Oversubscription: data allocation keeps pt_reserve_kib free for page
 *    tables; when a device is full, replicas go first, then the least
 *    recently used granules are asked back to guest RAM (MIGRATE_REQ to
 *    SYSTEM); meanwhile devices map the data remotely.  A kernel never
 *    fails because device memory ran out.
 *
 * struct vp_policy holds the knobs; vsvm-proxy --policy key=value,... sets
 * them and --help prints them with their defaults.
 */
#ifndef VP_POLICY_H
#define VP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "device.h"

struct vp_ctx;

struct vp_policy {
	/* Faults of one device on a granule before it moves there; 0: off. */
	uint32_t migrate_threshold;
	/* K: moves of a granule within thrash_window_ms that pin it (>= 2). */
	uint32_t thrash_migrations;
	uint32_t thrash_window_ms;	/* T */
	uint32_t pin_ms;		/* how long a thrashing granule stays */
	/* An unanswered MIGRATE_REQ of the policy may be sent again after. */
	uint32_t request_timeout_ms;
	/* Device memory kept free of data, for page tables (KiB). */
	uint32_t pt_reserve_kib;
	/* 1: READ_MOSTLY device data gets replicas on reading devices. */
	uint32_t read_mostly_replicas;
	/* Outstanding asynchronous PREFETCHes per context. */
	uint32_t max_async_prefetches;
	/* Granules asked back to guest RAM per eviction round. */
	uint32_t evict_batch;
};

/* Most thrash_migrations a granule can remember. */
#define VP_POLICY_MAX_THRASH 16

extern const struct vp_policy vp_policy_defaults;

/*
 * Parse "key=value[,key=value]" into *p (which keeps its other fields).
 * Return: 0, or -EINVAL with a message in err.
 */
int vp_policy_parse(struct vp_policy *p, const char *spec, char *err,
		    size_t errlen);
/* One line per key: name, default, meaning (for --help). */
void vp_policy_print_help(FILE *f);

/*
 * DOC: Granules
 *
 * struct vp_gran is what the policy remembers about one granule of one
 * context: which devices have had PTEs in it (so that a migration can put
 * them back on every device that mapped the data), per-device fault
 * counts, when it was last used (LRU for eviction), its recent moves
 * (thrashing) and the policy's outstanding MIGRATE_REQ.  Records live in a
 * hash table of the context, made on first use, dropped when the guest
 * unmaps the granule and at DESTROY.  Guarded by ctx->lock.
 */
struct vp_gran {
	struct vp_gran *next;		/* hash chain */
	uint64_t va;			/* granule start */
	uint32_t shift;			/* log2 of its size */
	uint32_t nr_moves;		/* valid entries of moves[] */
	uint64_t mapped_mask;		/* devices that had PTEs here */
	uint64_t last_use_ns;
	uint64_t pinned_until_ns;
	uint64_t moves[VP_POLICY_MAX_THRASH];	/* ring of move times */
	uint32_t move_next;
	uint16_t faults[VSVM_MAX_DEVICES];
};

struct vp_gran_table {
	struct vp_gran **buckets;
	uint32_t nr_buckets;		/* a power of two, or 0 */
	uint64_t count;
	uint64_t shifts;		/* bit n: a record of size 2^n was made */
};

uint64_t vp_now_ns(void);

/* The granule record containing va (made if missing), or NULL (ENOMEM). */
struct vp_gran *vp_gran_get(struct vp_ctx *ctx, uint64_t va);
/* The record containing va if there is one. */
struct vp_gran *vp_gran_find(struct vp_ctx *ctx, uint64_t va);
/* Drop records of granules that lie wholly inside [start, end). */
void vp_gran_drop(struct vp_ctx *ctx, uint64_t start, uint64_t end);
void vp_gran_clear(struct vp_ctx *ctx);
/* Devices that had PTEs anywhere in [start, end). */
uint64_t vp_gran_mapped_mask(struct vp_ctx *ctx, uint64_t start,
			     uint64_t end);
/* Note that dev got PTEs in [start, end). */
void vp_gran_note_mapped(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
			 uint64_t end);
bool vp_gran_pinned(struct vp_ctx *ctx, uint64_t va, uint64_t now);

/*
 * Data of [start, end) moved (any cause, replica collapses included):
 * remember it, pin granules that thrash, reset their fault counts.
 */
void vp_policy_note_move(struct vp_ctx *ctx, uint64_t start, uint64_t end);

/*
 * A device fault on a mapped page that the access is allowed on; the
 * caller installs the PTEs afterwards.  Counts the fault and applies the
 * placement rules for va's granule (clipped to [rstart, rend), the mapped
 * range): may move device data, collapse or make replicas, queue a
 * MIGRATE_REQ.  ctx->lock held.
 */
void vp_policy_fault(struct vp_ctx *ctx, uint32_t dev, uint64_t va,
		     enum vp_access access, uint64_t rstart, uint64_t rend);

/*
 * Device dev lacks need bytes of memory for data: free what the proxy can
 * free alone (replicas), then ask the guest to take back the least
 * recently used granules of dev.  Return: true if need bytes may now fit.
 */
bool vp_policy_reclaim(struct vp_ctx *ctx, uint32_t dev, uint64_t need);

/*
 * dev has no memory left even for page tables: move its least recently
 * used granule of this context to a peer with room, now (a move the proxy
 * may make alone).  Return: true if memory was freed on dev.
 */
bool vp_policy_evacuate(struct vp_ctx *ctx, uint32_t dev);

#endif /* VP_POLICY_H */
