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
 *
 * Migration (vsvmg_migrate.c, docs/protocol.md 10.4): the guest drives
 * every move between guest RAM and device memory.  vsvmg_ctx_migrate()
 * runs the migrate_vma pattern through two optional mm_ops
 * (migrate_setup, migrate_finalize): the mm replaces the collected pages'
 * entries by migration entries, the core sends MIGRATE (with the MAP a
 * range no device touched yet needs), and the mm then installs
 * device-private entries (or, on the way back, the new guest pages) or
 * restores what was there.  The mm's own invalidation for such a move
 * names the device (vsvmg_migrate_owner()) as its owner, and
 * vsvmg_ctx_invalidate_range() sends no UNMAP for it.
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
#define VSVMG_PFN_DEVICE (1ull << 2)	/* device-private: not in guest RAM */
#define VSVMG_PFN_MIGRATE (1ull << 3)	/* migrate_setup collected it */
#define VSVMG_PFN_FLAGS 0xfffull	/* the rest is the page's GPA */
/* A VSVMG_PFN_DEVICE entry carries its device index instead of a GPA. */
#define VSVMG_PFN_DEV_SHIFT 12
#define VSVMG_PFN_DEV(pfn) ((__u32)((pfn) >> VSVMG_PFN_DEV_SHIFT) & 0xffffu)

/* How many pages one migrate_setup() call may be asked for. */
#define VSVMG_MIGRATE_PAGES 512u

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

	/*
	 * Optional: both or neither (without them the migration calls return
	 * -EOPNOTSUPP).  range_fault reports a device-private page (one this
	 * driver migrated) as VSVMG_PFN_DEVICE | device << VSVMG_PFN_DEV_SHIFT
	 * [| VSVMG_PFN_WRITE], without VALID and without faulting it back,
	 * as hmm_range_fault does for pages whose owner is the caller.
	 *
	 * migrate_setup is migrate_vma_setup plus the allocation of the
	 * destination pages.  Of the npages (<= VSVMG_MIGRATE_PAGES) pages
	 * from start it collects those that can move to @to: for a device
	 * index, pages present in guest RAM and not shared copy-on-write,
	 * and device-private pages of other devices; for VSVM_LOC_SYSTEM,
	 * device-private pages of any device (a guest page is allocated for
	 * each; collection stops where guest RAM runs out).  Under the mm
	 * lock it advances the read_retry sequence, invalidates the span of
	 * collected pages naming @owner (the driver's notifier sends no
	 * UNMAP for it) and replaces their entries by migration entries (a
	 * CPU access waits).  For page i: src[i] = what it is (as
	 * range_fault reports it) | VSVMG_PFN_MIGRATE, dst[i] = where it
	 * goes (GPA | VALID [| WRITE], or DEVICE | device [| WRITE]); both 0
	 * for a page not collected.  *seq gets the read_retry sequence as
	 * it stands after the setup's own advance (read under the same mm
	 * lock), so that any later invalidation of the range shows in
	 * read_retry(*seq).  Return: pages collected, or -errno.
	 *
	 * migrate_finalize is migrate_vma_pages + migrate_vma_finalize: each
	 * collected page whose src still has VSVMG_PFN_MIGRATE gets dst
	 * installed and its source released; one whose MIGRATE bit the
	 * caller cleared gets src restored and dst released.  A page whose
	 * migration entry is gone (munmap meanwhile) is left as it is.
	 */
	int (*migrate_setup)(void *mm, __u64 start, __u32 npages, __u32 to,
			     const void *owner, __u64 *src, __u64 *dst,
			     __u64 *seq);
	void (*migrate_finalize)(void *mm, __u64 start, __u32 npages,
				 const __u64 *src, const __u64 *dst);
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
	/* Migration (vsvmg_migrate.c); pages moved by successful MIGRATEs. */
	__u64 migrated_to_device;	/* guest RAM -> device memory */
	__u64 migrated_to_system;	/* device memory -> guest RAM */
	__u64 migrated_peer;		/* device -> device */
	__u64 migrates;			/* MIGRATE commands applied OK */
	__u64 migrate_failed;		/* MIGRATE (or its MAP) refused */
	__u64 migrate_raced;		/* setups undone: invalidation raced */
	__u64 own_invalidations;	/* own migrations: no UNMAP sent */
	__u64 migrate_reqs;		/* MIGRATE_REQ events served */
	__u64 prefetches;		/* PREFETCH commands applied OK */
	__u64 prefetch_done;		/* PREFETCH_DONE events received */
};

/*
 * An asynchronous prefetch (vsvmg_ctx_prefetch_async()): the caller owns
 * it and must vsvmg_ctx_prefetch_wait() for it once started.  The fields
 * are the core's; read status after the wait.
 */
struct vsvmg_prefetch {
	struct vsvmg_completion done;
	struct vsvmg_prefetch *next;	/* ctx->prefetches, under ctx->ev_lock */
	__u64 va;
	__u64 len;
	__u32 location;
	__u32 token;
	__u32 status;			/* enum vsvm_status from PREFETCH_DONE */
	int started;			/* waited for exactly once */
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
/*
 * The same, for a notifier that knows the invalidation's owner (Linux's
 * range->owner of MMU_NOTIFY_MIGRATE): an invalidation owned by this
 * driver's own migration (owner == vsvmg_migrate_owner()) sends nothing.
 */
int vsvmg_ctx_invalidate_range(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
			       const void *owner);
/* The pgmap owner token the core passes to mm_ops->migrate_setup. */
const void *vsvmg_migrate_owner(const struct vsvmg_dev *dev);

/*
 * Move the data of [va, va + len) to @location (a device index, or
 * VSVM_LOC_SYSTEM) with MIGRATE (protocol.md 7.8, 10.4).  @bytes, if not
 * NULL, gets the bytes moved.  Return 0 when every page that could move
 * moved (pages not present, shared copy-on-write or already there stay),
 * or -errno (the first failure; what moved stays moved).
 */
int vsvmg_ctx_migrate(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		      __u32 location, __u64 *bytes);
/* migrate_to_ram: the mm's CPU fault on a device-private page. */
int vsvmg_ctx_migrate_to_ram(struct vsvmg_ctx *ctx, __u64 va, __u64 len);
/*
 * Synchronous prefetch: with device memory, migrate guest-RAM data of the
 * range to a device location first, then PREFETCH (maps the range on the
 * targets).  @bytes: the PREFETCH reply's bytes.
 */
int vsvmg_ctx_prefetch(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       __u32 location, __u64 *bytes);
/* Asynchronous PREFETCH; complete with vsvmg_ctx_prefetch_wait(). */
int vsvmg_ctx_prefetch_async(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
			     __u32 location, struct vsvmg_prefetch *pf);
/* Wait for PREFETCH_DONE; 0 or the -errno of its status. */
int vsvmg_ctx_prefetch_wait(struct vsvmg_ctx *ctx, struct vsvmg_prefetch *pf);
/* The context's features (VSVM_F_*) and device count, as INIT agreed. */
__u32 vsvmg_ctx_features(const struct vsvmg_ctx *ctx);
__u32 vsvmg_ctx_num_devices(const struct vsvmg_ctx *ctx);

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
