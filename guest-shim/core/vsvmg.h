/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vsvmg.h - the guest shim's portable core: one SVM context per guest
 *           process, mirroring, fault answering and invalidation.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * This is the logic of vsvm_guest.ko written once, in portable C, so that
 * the very same code runs in the kernel module and in the userspace guest
 * simulator.  It reaches the outside world through three seams:
 *
 *  - struct vsvmg_transport_ops: the virtio-gpu device (capset, context
 *    create/destroy, SUBMIT_3D with a completion).  The kernel module
 *    drives a virtqueue; the simulator drives a vhost-user frontend.
 *  - struct vsvmg_mm_ops: the guest process's memory as HMM sees it
 *    (hmm_range_fault, mmu_interval_read_begin/read_retry).
 *  - vsvmg_os.h: locks, completions, threads, allocation.
 *
 * Invalidation handshake (docs/protocol.md): vsvmg_ctx_invalidate() is the
 * mmu-notifier callback.  It takes ctx->lock, bumps the UNMAP sequence,
 * queues UNMAP, drops the lock and waits for the acknowledgement.  The
 * fault path reads the guest page table after read_begin, then takes the
 * same lock, checks read_retry and queues MAP + FAULT_REPLY under it.  Both
 * queue under one lock, and the host applies a context's commands in queue
 * order, so a MAP computed before an invalidation can never land after it.
 */
#ifndef VSVMG_H
#define VSVMG_H

#include "vsvmg_os.h"
#include "vsvm/vsvm_codec.h"

struct vsvmg_dev;
struct vsvmg_ctx;

/* One SUBMIT_3D in flight; done() is called once, from any thread. */
struct vsvmg_submission {
	__u32 resp_type;	/* VIRTIO_GPU_RESP_* from the ctrl_hdr */
	__u32 reply_len;	/* bytes of reply stream the device wrote */
	void (*done)(struct vsvmg_submission *sub);
	void *priv;
};

struct vsvmg_transport_ops {
	/* GET_CAPSET for VSVM_CAPSET_ID version 1; return bytes or -errno. */
	int (*get_capset)(void *t, void *buf, __u32 cap);
	/* CTX_CREATE / CTX_DESTROY; return 0 or -errno. */
	int (*ctx_create)(void *t, __u32 ctx_id, __u32 context_init);
	int (*ctx_destroy)(void *t, __u32 ctx_id);
	/*
	 * Queue a SUBMIT_3D of cmds; the device writes the reply stream into
	 * reply (up to cap bytes).  Calls queued one after another reach the
	 * device in that order.  Must not call sub->done() before returning
	 * 0; on an error return done() is never called.
	 */
	int (*submit)(void *t, __u32 ctx_id, const void *cmds, __u32 len,
		      void *reply, __u32 cap, struct vsvmg_submission *sub);
};

/* Per-page result of range_fault(). */
#define VSVMG_PFN_VALID (1ull << 0)	/* page present in guest RAM */
#define VSVMG_PFN_WRITE (1ull << 1)	/* writable by the process */
#define VSVMG_PFN_FLAGS 0xfffull	/* the rest is the page's GPA */

struct vsvmg_mm_ops {
	/*
	 * Describe npages pages from start (page aligned) into out[]: the
	 * GPA | VSVMG_PFN_* of each present page, 0 for an unmapped one.  The
	 * page at fault_va is faulted in first (for write: copy-on-write
	 * broken) like hmm_range_fault with HMM_PFN_REQ_FAULT; others are
	 * faulted in only if populate is set.  Return: 0, or -EFAULT if
	 * fault_va has no mapping that allows the access.
	 */
	int (*range_fault)(void *mm, __u64 start, __u32 npages,
			   __u64 fault_va, int write, int populate, __u64 *out);
	/* mmu_interval_read_begin()/read_retry() over the whole process. */
	__u64 (*read_begin)(void *mm);
	int (*read_retry)(void *mm, __u64 seq);
};

struct vsvmg_config {
	__u32 fault_window;	/* bytes mirrored around a fault (pow2) */
	__u32 populate;		/* fault in the whole window, not one page */
};

struct vsvmg_ctx_stats {
	__u64 faults;		/* fault events answered */
	__u64 faults_failed;	/* answered with an error */
	__u64 pages_mirrored;	/* pages sent in MAP commands */
	__u64 maps;		/* MAP commands */
	__u64 map_stale;	/* MAPs dropped or refused as stale */
	__u64 invalidations;	/* UNMAP commands acknowledged */
	__u64 launches;
};

struct vsvmg_launch_result {
	__u32 status;		/* enum vsvm_status */
	__u64 result;
	__u64 fault_va;
	__u64 faults;
	__u64 elapsed_ns;
};

/* The device: discovers the capset.  Return NULL on failure. */
struct vsvmg_dev *vsvmg_dev_create(const struct vsvmg_transport_ops *ops,
				   void *t, const struct vsvmg_config *cfg);
void vsvmg_dev_destroy(struct vsvmg_dev *dev);
const struct vsvm_caps *vsvmg_dev_caps(const struct vsvmg_dev *dev);

/*
 * A context for one guest process: CTX_CREATE, INIT, and an event thread
 * that answers faults.  Return 0 or -errno (-EPROTO for a protocol error).
 */
int vsvmg_ctx_create(struct vsvmg_dev *dev, const struct vsvmg_mm_ops *mm_ops,
		     void *mm, struct vsvmg_ctx **out);
/* DESTROY, stop the event thread, CTX_DESTROY, free. */
void vsvmg_ctx_destroy(struct vsvmg_ctx *ctx);

/* The mmu-notifier callback: returns once the host acknowledged. */
int vsvmg_ctx_invalidate(struct vsvmg_ctx *ctx, __u64 va, __u64 len);

/* Run a kernel and wait for it (faults are answered meanwhile). */
int vsvmg_ctx_launch(struct vsvmg_ctx *ctx, __u32 kernel, __u32 device,
		     const __u64 *args, __u32 nr_args,
		     struct vsvmg_launch_result *res);

int vsvmg_ctx_set_attr(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       const struct vsvm_attr_val *attrs, __u32 nr);
int vsvmg_ctx_get_attr(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       struct vsvm_attr_val *attrs, __u32 nr);
int vsvmg_ctx_query(struct vsvmg_ctx *ctx, struct vsvm_device_val *devs,
		    __u32 cap, __u32 *num_devices);

void vsvmg_ctx_stats(struct vsvmg_ctx *ctx, struct vsvmg_ctx_stats *out);
__u32 vsvmg_ctx_id(const struct vsvmg_ctx *ctx);

#endif /* VSVMG_H */
