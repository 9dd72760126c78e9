/* SPDX-License-Identifier: MIT */
/*
 * svm.h - the SVM service of one VM connection, as the transport sees it.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The transport (vhost_user.c, vring.c, virtio_gpu.c) speaks vhost-user and
 * virtio-gpu; everything svm-specific is behind this interface.  One
 * struct vp_svm serves one connection: its contexts (one per guest process,
 * keyed by virtio-gpu ctx_id) are independent of every other connection's.
 *
 * A SUBMIT_3D becomes a struct vp_submit: the transport has already copied
 * the command stream out of guest memory (so the guest cannot change it
 * while it is validated) and gives a reply buffer sized from the
 * device-writable descriptors.  The core fills the reply stream and calls
 * complete() exactly once: at once for most submissions, later for a
 * parked one (EVENT_WAIT, LAUNCH), possibly from another thread.  The
 * transport copies the reply into the writable descriptors and only then
 * marks the buffer used.
 *
 * complete() may run inside vp_svm_submit() or vp_svm_destroy() on the
 * caller's thread, and never after vp_svm_destroy() returned.  The memory
 * table is replaced on the connection thread only, after
 * vp_svm_memtable_changed(); the core translates guest addresses only while
 * applying a submission (on that thread), never from device threads.
 */
#ifndef VP_SVM_H
#define VP_SVM_H

#include <stdint.h>

#include "device.h"
#include "memtable.h"

struct vp_svm;

struct vp_submit {
	uint32_t ctx_id;
	const uint8_t *cmds;		/* the command stream (a private copy) */
	uint32_t cmds_len;
	uint32_t stream_len;		/* the size the guest gave; > cmds_len
					 * only for a stream too long to copy */
	uint8_t *reply;			/* reply stream, written by the core */
	uint32_t reply_cap;
	uint32_t reply_len;		/* set by the core before complete() */
	uint32_t resp_type;		/* VIRTIO_GPU_RESP_*, set by the core */
	void (*complete)(struct vp_submit *s);
	void *priv;			/* the transport's */
};

/*
 * Counters of one context (and, summed, of a connection).  Per device and
 * per location (index VSVM_MAX_DEVICES: guest RAM); see
 * docs/memory-hints.md for what each counts.
 */
struct vp_ctx_stats {
	uint64_t maps;
	uint64_t map_bytes;
	uint64_t map_stale;
	uint64_t unmaps;
	uint64_t faults_minor;		/* resolved from the map, no guest */
	uint64_t faults_forwarded;	/* sent to the guest */
	uint64_t faults_failed;
	uint64_t launches;
	/* Memory hints, migration, policy (docs/memory-hints.md). */
	uint64_t dev_faults[VSVM_MAX_DEVICES];	/* minor + forwarded */
	/* Indexed by location: device index, or VP_LOC_SYS. */
	uint64_t migrations_to[VSVM_MAX_DEVICES + 1];
	uint64_t migrations_from[VSVM_MAX_DEVICES + 1];
	uint64_t bytes_to[VSVM_MAX_DEVICES + 1];
	uint64_t bytes_from[VSVM_MAX_DEVICES + 1];
	uint64_t migrate_cmds;		/* MIGRATE commands applied */
	uint64_t policy_moves;		/* device-to-device moves by policy */
	uint64_t migrate_reqs_sent;
	uint64_t migrate_reqs_answered;
	uint64_t thrash_pins;
	uint64_t evictions;		/* granules asked back to SYSTEM */
	uint64_t replicas_created;
	uint64_t replica_collapses;
	uint64_t replicas_dropped;	/* freed for memory or on unmap */
	uint64_t prefetches;
	uint64_t prefetches_async;
	uint64_t remote_maps;		/* PTEs to data on another location */
};

struct vp_policy;

struct vp_svm_config {
	struct vp_device **devices;	/* shared by every connection */
	uint32_t num_devices;
	uint32_t va_bits;		/* 47..57 */
	uint32_t max_contexts;
	uint32_t max_ranges;
	uint32_t max_launches;
	uint32_t max_fault_batch;
	uint32_t max_submit_bytes;
	/* NULL: vp_policy_defaults; read live, must outlive the svm. */
	const struct vp_policy *policy;
};

struct vp_svm *vp_svm_create(const struct vp_svm_config *cfg,
			     const struct vp_memtable *mt);
/* The connection is gone: destroy every context, then free. */
void vp_svm_destroy(struct vp_svm *svm);

/* Write the svm capset; return bytes written or -errno. */
int vp_svm_capset(struct vp_svm *svm, void *buf, uint32_t cap);

/* VIRTIO_GPU_CMD_CTX_CREATE / CTX_DESTROY; return a VIRTIO_GPU_RESP_*. */
uint32_t vp_svm_ctx_create(struct vp_svm *svm, uint32_t ctx_id,
			   uint32_t context_init);
uint32_t vp_svm_ctx_destroy(struct vp_svm *svm, uint32_t ctx_id);

/* VIRTIO_GPU_CMD_SUBMIT_3D; s->complete() runs once, now or later. */
void vp_svm_submit(struct vp_svm *svm, struct vp_submit *s);

/*
 * The memory table is about to be replaced or freed: drop every PTE that
 * points into it, on every device, before returning.
 */
void vp_svm_memtable_changed(struct vp_svm *svm);

/*
 * Counters of context ctx_id (they survive DESTROY, not CTX_DESTROY).
 * Return: 0, or -ENOENT if there is no such context.
 */
int vp_svm_ctx_stats(struct vp_svm *svm, uint32_t ctx_id,
		     struct vp_ctx_stats *out);
/* The sum over every context the connection has had. */
void vp_svm_get_stats(struct vp_svm *svm, struct vp_ctx_stats *out);

/*
 * Test hook (tests/isolation): the GPU VA space of context ctx_id on
 * device, or NULL if there is no such context, it is not initialised, or
 * device >= num_devices.  The pointer is valid until the context's next
 * DESTROY, CTX_DESTROY or vp_svm_destroy(); only a test that also makes
 * every submission may hold it.
 */
struct vp_dev_vm *vp_svm_ctx_vm(struct vp_svm *svm, uint32_t ctx_id,
				uint32_t device);

#endif /* VP_SVM_H */
