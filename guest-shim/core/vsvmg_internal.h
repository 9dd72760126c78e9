/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vsvmg_internal.h - private state of the guest shim's portable core.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Objects and locks
 *
 * struct vsvmg_dev is one virtio-gpu device: its transport, the validated
 * capset and the list of live contexts (for ctx ids).  struct vsvmg_ctx is
 * one guest process's SVM context.  The locks, outermost first:
 *
 *   guest mm lock (mmap lock, held by the notifier's caller)
 *     -> ctx->lock    the queue lock: UNMAPs and MAPs are queued only
 *                     under it, and ctx->unmap_seq and ctx->dying live
 *                     under it.  transport->submit is called under it;
 *                     nothing ever waits for a completion, allocates
 *                     memory or calls into mm_ops while holding it.
 *       -> transport's own locks
 *   ctx->stat_lock    leaf: ctx->stats and the event counters.
 *   ctx->ev_lock      leaf: asynchronous prefetches waiting for their
 *                     PREFETCH_DONE, and completions that came first.
 *   dev->lock         leaf: dev->contexts (ctx id allocation).
 *
 * The fault path takes ctx->lock only after range_fault() returned, never
 * around it: range_fault takes the mm lock, and the mm calls
 * vsvmg_ctx_invalidate() (which takes ctx->lock) with the mm lock held.
 *
 * No allocation happens under ctx->lock: in the kernel, reclaim may call
 * the mmu notifier of this very mm, which takes ctx->lock.
 */
#ifndef VSVMG_INTERNAL_H
#define VSVMG_INTERNAL_H

#include "vsvmg.h"

#ifndef NULL
#define NULL ((void *)0)
#endif

/* Linux errno values; the core returns them negated. */
#define VSVMG_EIO			  5
#define VSVMG_EAGAIN			  11
#define VSVMG_ENOMEM			  12
#define VSVMG_EFAULT			  14
#define VSVMG_EBUSY			  16
#define VSVMG_ENODEV			  19
#define VSVMG_EINVAL			  22
#define VSVMG_ENOSPC			  28
#define VSVMG_EOPNOTSUPP		  95
#define VSVMG_EPROTO			  71
#define VSVMG_ESTALE			  116
#define VSVMG_ECANCELED			  125

/* virtio-gpu response types (include/uapi/linux/virtio_gpu.h). */
#define VSVMG_RESP_OK_NODATA		  0x1100
#define VSVMG_RESP_ERR_INVALID_CONTEXT_ID 0x1204
#define VSVMG_RESP_ERR_INVALID_PARAMETER  0x1205

#define VSVMG_PAGE_MASK			  ((__u64)VSVM_PAGE_SIZE - 1)

/* struct vsvmg_config.fault_window: default and bounds, in bytes. */
#define VSVMG_FAULT_WINDOW_DEFAULT	  (64u << 10)
#define VSVMG_FAULT_WINDOW_MAX		  (2u << 20) /* one 2 MiB PTE */

/* Largest capset accepted; a later minor may append fields to the 64. */
#define VSVMG_CAPSET_MAX		  4096

#define vsvmg_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

struct vsvmg_dev {
	const struct vsvmg_transport_ops *ops;
	void *t;
	struct vsvmg_config cfg; /* validated, defaults filled in */
	struct vsvm_caps caps;

	struct vsvmg_mutex lock;    /* leaf; guards contexts */
	struct vsvmg_ctx *contexts; /* live contexts, by ->next */
};

/*
 * One synchronous SUBMIT_3D: a command stream built with the codec, the
 * reply space its commands need, and the completion done() signals.
 */
struct vsvmg_call {
	struct vsvmg_submission sub;
	struct vsvmg_completion done;
	struct vsvm_writer w; /* the command stream */
	__u8 *reply;
	__u32 reply_cap;  /* bytes at reply */
	__u32 reply_need; /* sum of the commands' reply sizes */
	__u32 nr_cmds;
	int queued; /* submit() accepted it: wait once */
};

/* PREFETCH_DONE events kept until their prefetch is registered. */
#define VSVMG_EARLY_DONE		  64

struct vsvmg_ctx {
	struct vsvmg_dev *dev;
	const struct vsvmg_mm_ops *mm_ops;
	void *mm;
	__u32 id;
	struct vsvmg_ctx *next; /* dev->contexts, under dev->lock */

	/* Agreed at INIT; constant afterwards. */
	__u16 major;
	__u16 minor;
	__u32 features;
	__u32 va_bits;
	__u32 num_devices;
	__u64 page_sizes;
	__u64 va_limit; /* 2^va_bits */

	/*
	 * Queue lock (DOC: Objects and locks).  Every UNMAP and MAP of the
	 * context is passed to transport->submit under it, so queue order,
	 * which is the host's apply order, is lock order.
	 */
	struct vsvmg_mutex lock;
	__u64 unmap_seq; /* seq of the newest UNMAP queued */
	int dying;	 /* destroy began: stop serving events */

	struct vsvmg_mutex stat_lock; /* leaf */
	struct vsvmg_ctx_stats stats;
	__u64 events_ignored; /* MIGRATE_REQ, PREFETCH_DONE */
	int events_ignored_logged;

	/*
	 * Asynchronous prefetches (ctx->ev_lock): those whose PREFETCH
	 * reply named a token, and tokens whose PREFETCH_DONE arrived before
	 * the issuing thread registered its prefetch (the event thread may
	 * see the event before that thread sees the reply).
	 */
	struct vsvmg_mutex ev_lock;
	struct vsvmg_prefetch *prefetches;
	struct {
		__u32 token;
		__u32 status;
	} early_done[VSVMG_EARLY_DONE];
	__u32 nr_early_done;

	/* Event thread; only it touches wait_call and faults. */
	struct vsvmg_thread thread;
	int thread_started;
	struct vsvmg_call *wait_call;  /* EVENT_WAIT for max_fault_batch */
	struct vsvm_event_val *faults; /* max_fault_batch, copied out */
};

/* vsvmg_submit.c: building, queuing and checking one SUBMIT_3D. */
struct vsvmg_call *vsvmg_call_alloc(__u32 cmd_cap, __u32 reply_cap);
void vsvmg_call_init(struct vsvmg_call *call, void *cmds, __u32 cmd_cap,
		     void *reply, __u32 reply_cap);
int vsvmg_call_add(struct vsvmg_call *call, const struct vsvm_request *req,
		   __u32 num_devices);
int vsvmg_call_queue(struct vsvmg_ctx *ctx, struct vsvmg_call *call);
void vsvmg_call_wait(struct vsvmg_call *call);
int vsvmg_call_check(struct vsvmg_ctx *ctx, struct vsvmg_call *call,
		     struct vsvm_response *rsp, __u32 nr_rsp, __u16 *status);
int vsvmg_call_run(struct vsvmg_ctx *ctx, struct vsvmg_call *call,
		   struct vsvm_response *rsp, __u32 nr_rsp);
int vsvmg_status_errno(__u32 status);

/* vsvmg_fault.c: the event thread's answer to one batch of faults. */
void vsvmg_fault_batch(struct vsvmg_ctx *ctx,
		       const struct vsvm_event_val *faults, __u32 nr);

/* vsvmg_migrate.c: events of the migration protocol (event thread). */
void vsvmg_migrate_request(struct vsvmg_ctx *ctx,
			   const struct vsvm_event_val *ev);
void vsvmg_prefetch_done(struct vsvmg_ctx *ctx,
			 const struct vsvm_event_val *ev);

/* vsvmg_ctx.c */
int vsvmg_ctx_is_dying(struct vsvmg_ctx *ctx);
void vsvmg_stats_add(struct vsvmg_ctx *ctx, const struct vsvmg_ctx_stats *d);

#endif /* VSVMG_INTERNAL_H */
