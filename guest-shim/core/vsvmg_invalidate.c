// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_invalidate.c - the mmu-notifier side of the coherency handshake.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Invalidation
 *
 * The guest mm calls vsvmg_ctx_invalidate() before it takes access to a
 * range away (munmap, mprotect, COW break, reclaim, migration), with its
 * own lock held and after it advanced the sequence that mm_ops->read_retry
 * checks (mmu_interval_set_seq, or the simulator's seq bump).  Then:
 *
 *   lock(ctx->lock)
 *   seq = ++ctx->unmap_seq
 *   queue SUBMIT_3D { UNMAP(range, seq) }   alone in its submission
 *   unlock(ctx->lock)
 *   wait for the completion                 the host's acknowledgement
 *
 * The host applies a context's commands in queue order and acknowledges
 * an UNMAP only once no device access can reach the old pages.  The fault
 * path queues its MAPs under the same lock after checking read_retry, so
 * a MAP is either queued before this UNMAP (and removed by it) or was
 * computed after the sequence moved (and is discarded before queuing):
 * once this returns 0, no device access hits the old page (DESIGN.md
 * invariant 2; docs/protocol.md 10.1 - 10.3).
 *
 * Lock order: mm lock -> ctx->lock.  This path therefore never calls into
 * mm_ops (range_fault takes the mm lock) and never allocates (in the
 * kernel, reclaim calls the notifier; the buffers live on the stack and
 * the transport copies them).  Any number of threads may invalidate at
 * once, also while the event thread answers faults: each UNMAP gets its
 * own sequence number, and queue order is sequence order because both are
 * decided under ctx->lock.
 */
#include "vsvmg_internal.h"

/**
 * vsvmg_ctx_invalidate - drop a VA range from every device of a context
 * @ctx: the context
 * @va: start of the range; widened down to a page boundary
 * @len: length in bytes; the end is widened up to a page boundary and
 *	 clipped to the context's VA width (2^va_bits)
 *
 * Sleeps until the host acknowledged the UNMAP.  Called with the guest
 * mm's lock held: see DOC: Invalidation for why that is safe.
 *
 * Return: 0 once the host acknowledged (also for an empty range or one
 * wholly beyond va_bits, which nothing can map); the transport's -errno;
 * -EIO when the host answered with an error (logged), -ENODEV when it
 * lost the context, -EPROTO for a malformed acknowledgement.
 */
int vsvmg_ctx_invalidate(struct vsvmg_ctx *ctx, __u64 va, __u64 len)
{
	struct vsvm_request req = { .op = VSVM_CMD_UNMAP };
	__u8 reply[sizeof(struct vsvm_reply_hdr)];
	__u8 cmd[sizeof(struct vsvm_cmd_unmap)];
	struct vsvmg_ctx_stats d = { 0 };
	struct vsvm_response rsp;
	struct vsvmg_call call;
	__u64 start, end;
	int ret;

	if (!len || va >= ctx->va_limit)
		return 0;
	start = va & ~VSVMG_PAGE_MASK;
	end = va + len;
	/* va_limit is page aligned, so rounding up below cannot pass it. */
	if (end < va || end > ctx->va_limit)
		end = ctx->va_limit;
	end = (end + VSVMG_PAGE_MASK) & ~VSVMG_PAGE_MASK;
	req.u.unmap.va = start;
	req.u.unmap.len = end - start;

	/*
	 * The caller frees the pages when this returns, so returning before
	 * the host acknowledged is only allowed once the device is gone (the
	 * host then dropped the context with its PTEs).  A transient failure
	 * to queue (memory, ring space) is retried: docs/coherency.md 4.1.
	 */
	for (;;) {
		vsvmg_call_init(&call, cmd, sizeof(cmd), reply, sizeof(reply));
		vsvmg_mutex_lock(&ctx->lock);
		/* A failed UNMAP consumes its number; gaps are allowed. */
		req.u.unmap.seq = ++ctx->unmap_seq;
		ret = vsvmg_call_add(&call, &req, ctx->num_devices);
		if (!ret)
			ret = vsvmg_call_queue(ctx, &call);
		vsvmg_mutex_unlock(&ctx->lock);
		if (!ret)
			break;
		if (ret != -VSVMG_ENOMEM && ret != -VSVMG_EAGAIN) {
			vsvmg_log("vsvmg: ctx %u: cannot queue UNMAP "
				  "0x%llx+0x%llx: %d (device gone)",
				  ctx->id, (unsigned long long)start,
				  (unsigned long long)(end - start), ret);
			return ret;
		}
		vsvmg_os_relax();
	}

	vsvmg_call_wait(&call);
	ret = vsvmg_call_check(ctx, &call, &rsp, 1, NULL);
	if (ret)
		return ret;
	if (rsp.status != VSVM_OK) {
		vsvmg_log(
			"vsvmg: ctx %u: UNMAP 0x%llx+0x%llx seq %llu failed: %s",
			ctx->id, (unsigned long long)start,
			(unsigned long long)(end - start),
			(unsigned long long)req.u.unmap.seq,
			vsvm_status_name(rsp.status));
		return -VSVMG_EIO;
	}
	d.invalidations = 1;
	vsvmg_stats_add(ctx, &d);
	return 0;
}
