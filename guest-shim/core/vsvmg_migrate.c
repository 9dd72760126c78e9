// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_migrate.c - guest-driven migration between guest RAM and device
 *                   memory, prefetch, and the two migration events
 *                   (MIGRATE_REQ, PREFETCH_DONE).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Guest-driven migration
 *
 * Guest RAM is a memfd shared with the host, which host HMM cannot
 * migrate, and the guest kernel owns the pages; so the guest moves data
 * (docs/protocol.md 10.4).  A device-private entry in the guest page table
 * stands for a page of one device's memory; the guest CPU cannot reach it,
 * and a CPU touch brings the page back (migrate_to_ram).  One range is
 * moved in chunks of at most VSVMG_MIGRATE_PAGES pages:
 *
 *   migrate_setup(chunk, to, owner = the device)     mm lock inside:
 *     seq advanced, own invalidation (no UNMAP),      entries -> migration
 *     destinations allocated, *seq returned           entries
 *   inval_seq = ctx->unmap_seq            (ctx->lock, briefly)
 *   build one submission per piece (maximal run of collected pages of one
 *   kind, one protection, at most max_runs GPA runs):
 *     guest RAM -> device N:  MAP(piece, inval_seq, runs = the pages now)
 *                             + MIGRATE(piece, N, runs = the same pages)
 *     device -> guest RAM:    MIGRATE(piece, SYSTEM, runs = new pages)
 *     device M -> device N:   MIGRATE(piece, N, no runs)
 *   lock(ctx->lock)
 *     read_retry(seq)? unlock; every page restored; setup again
 *     queue every piece                   (queue order is apply order)
 *   unlock(ctx->lock)
 *   wait, check; a piece whose MIGRATE failed has its pages restored
 *   migrate_finalize(chunk)    device-private entries (source pages
 *                              freed) or new guest pages; or restored
 *
 * The MAP in front of a move to a device is there because MIGRATE needs
 * every page of its range mapped in the context (7.8 state check 7) and
 * a range no device touched yet is not; it names the very pages MIGRATE
 * copies from, so it changes nothing where the range was mapped already.
 *
 * Coherency, the same argument as the fault path's (vsvmg_fault.c):
 * setup advanced the mm's sequence before anything else could see the
 * migration entries, so a fault answer computed from the old entries is
 * discarded by its own read_retry, or was queued ahead of our pieces.  An
 * invalidation that starts after setup (munmap of the range) advances the
 * sequence before it takes ctx->lock to queue its UNMAP: if it came first
 * our read_retry sees it and nothing is sent (the freed pages are never
 * named); if we came first our MIGRATE is applied before its UNMAP, which
 * then frees the device memory, and only after that acknowledgement does
 * the mm free the pages.  Our own invalidation sends no UNMAP: MIGRATE is
 * what changes the device's view of an own migration (10.1).
 *
 * DOC: Requests and prefetch
 *
 * A MIGRATE_REQ (8.3) is served on the event thread: the range is moved
 * as above, then one MIGRATE carrying the request id and no runs answers
 * it, with location = the requested device (for a request to SYSTEM, a
 * device where data of the range was), which moves nothing that is in
 * guest RAM.  That same command is the decline of 10.4 when nothing could
 * move, so every request is answered and an asynchronous prefetch waiting
 * for it can complete.
 *
 * A prefetch first mirrors the range (MAP of its pages, populated like a
 * first touch): the host skips parts that are not mapped (7.7), and a
 * prefetched range should not fault.  A synchronous one then migrates the
 * guest-RAM data itself, since the host cannot wait for MIGRATEs behind
 * its own submission (7.7); an asynchronous one leaves that to the host's
 * MIGRATE_REQs and completes on PREFETCH_DONE.
 */
#include "vsvmg_internal.h"

#define VSVMG_MIGRATE_TRIES 8 /* setups of one chunk undone by races */

enum piece_kind {
	PIECE_TO_DEVICE, /* MAP + MIGRATE with runs: guest RAM -> device */
	PIECE_TO_SYSTEM, /* MIGRATE SYSTEM with runs: device -> guest RAM */
	PIECE_PEER,	 /* MIGRATE without runs: device -> device */
};

struct piece {
	struct vsvmg_call *call;
	__u64 va;
	__u32 first; /* page index in the chunk */
	__u32 nr;
	__u32 kind; /* enum piece_kind */
	__u16 status[2];
};

struct migration {
	struct vsvmg_ctx *ctx;
	__u32 to;
	__u64 *src;	       /* VSVMG_MIGRATE_PAGES */
	__u64 *dst;	       /* VSVMG_MIGRATE_PAGES */
	struct vsvm_run *runs; /* max_runs, while encoding one command */
	struct piece *pieces;  /* VSVMG_MIGRATE_PAGES */
	__u32 nr_pieces;
	__u32 max_runs;
	__u32 last_device; /* a device some data of the range was on */
	__u64 bytes;
	struct vsvmg_ctx_stats d;
};

/**
 * vsvmg_migrate_owner - the owner token of this driver's own migrations
 * @dev: the device
 *
 * What pgmap_owner is to migrate_vma_setup() in Linux: the core passes it
 * to mm_ops->migrate_setup, and the mm hands it to the notifier, which
 * passes it on to vsvmg_ctx_invalidate_range().
 *
 * Return: an address unique to @dev.
 */
const void *vsvmg_migrate_owner(const struct vsvmg_dev *dev)
{
	return dev;
}

/**
 * vsvmg_ctx_invalidate_range - the notifier callback with its owner
 * @ctx: the context
 * @va: start of the range
 * @len: bytes
 * @owner: the invalidation's owner, NULL for an ordinary one
 *
 * An invalidation owned by this driver's migration (a migration entry
 * replaces a page the device may map) sends no UNMAP: the MIGRATE that
 * follows blocks device access, copies and repoints the device's PTEs
 * itself, and an UNMAP would free the very device memory the data goes
 * to or comes from (protocol.md 10.1).  Every other one is
 * vsvmg_ctx_invalidate().
 *
 * Return: as vsvmg_ctx_invalidate(); 0 for an own migration.
 */
int vsvmg_ctx_invalidate_range(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
			       const void *owner)
{
	struct vsvmg_ctx_stats d = { 0 };

	if (owner && owner == vsvmg_migrate_owner(ctx->dev)) {
		d.own_invalidations = 1;
		vsvmg_stats_add(ctx, &d);
		return 0;
	}
	return vsvmg_ctx_invalidate(ctx, va, len);
}

static int pfn_is_ram(__u64 pfn)
{
	return (pfn & VSVMG_PFN_VALID) && !(pfn & VSVMG_PFN_DEVICE);
}

static __u64 pfn_gpa(__u64 pfn)
{
	return pfn & ~VSVMG_PFN_FLAGS;
}

static __u32 piece_kind(const struct migration *m, __u64 src)
{
	if (pfn_is_ram(src))
		return PIECE_TO_DEVICE;
	return m->to == VSVM_LOC_SYSTEM ? PIECE_TO_SYSTEM : PIECE_PEER;
}

/* The GPA a page's run names: the source going out, the new page back. */
static __u64 piece_gpa(const struct migration *m, __u32 kind, __u32 i)
{
	return pfn_gpa(kind == PIECE_TO_DEVICE ? m->src[i] : m->dst[i]);
}

/*
 * Split the collected pages of a chunk into pieces: maximal runs of
 * consecutive collected pages of one kind and one write permission whose
 * GPAs need at most max_runs runs.
 */
static void plan_pieces(struct migration *m, __u32 npages)
{
	__u32 i = 0;

	m->nr_pieces = 0;
	while (i < npages) {
		struct piece *p;
		__u32 kind, runs = 1;
		__u64 wr;

		if (!(m->src[i] & VSVMG_PFN_MIGRATE)) {
			i++;
			continue;
		}
		kind = piece_kind(m, m->src[i]);
		wr = m->src[i] & VSVMG_PFN_WRITE;
		p = &m->pieces[m->nr_pieces++];
		*p = (struct piece){ .first = i, .nr = 1, .kind = kind };
		for (i++; i < npages; i++) {
			__u64 s = m->src[i];

			if (!(s & VSVMG_PFN_MIGRATE) ||
			    piece_kind(m, s) != kind ||
			    (s & VSVMG_PFN_WRITE) != wr)
				break;
			if (kind != PIECE_PEER &&
			    piece_gpa(m, kind, i) != piece_gpa(m, kind, i - 1) +
							     VSVM_PAGE_SIZE) {
				if (runs == m->max_runs)
					break;
				runs++;
			}
			p->nr++;
		}
	}
}

/* The GPA runs of a piece, merged where contiguous. */
static __u32 piece_runs(struct migration *m, const struct piece *p)
{
	__u32 i, nr = 0;

	for (i = p->first; i < p->first + p->nr; i++) {
		__u64 gpa = piece_gpa(m, p->kind, i);

		if (nr && gpa == m->runs[nr - 1].gpa + m->runs[nr - 1].len) {
			m->runs[nr - 1].len += VSVM_PAGE_SIZE;
			continue;
		}
		m->runs[nr].gpa = gpa;
		m->runs[nr].len = VSVM_PAGE_SIZE;
		nr++;
	}
	return nr;
}

/* Allocate and encode one piece's submission.  No lock held. */
static int build_piece(struct migration *m, struct piece *p, __u64 start,
		       __u64 inval_seq)
{
	struct vsvmg_ctx *ctx = m->ctx;
	struct vsvm_request req = { .op = VSVM_CMD_MIGRATE };
	__u64 va = start + ((__u64)p->first << VSVM_PAGE_SHIFT);
	__u64 len = (__u64)p->nr << VSVM_PAGE_SHIFT;
	__u32 nr_runs = p->kind == PIECE_PEER ? 0 : piece_runs(m, p);
	__u32 run_bytes = nr_runs * sizeof(struct vsvm_gpa_run);
	int ret;

	p->va = va;
	p->call =
		vsvmg_call_alloc(2 * (sizeof(struct vsvm_cmd_map) + run_bytes),
				 sizeof(struct vsvm_reply_hdr) +
					 sizeof(struct vsvm_reply_migrate));
	if (!p->call)
		return -VSVMG_ENOMEM;
	if (p->kind == PIECE_TO_DEVICE) {
		struct vsvm_request map = { .op = VSVM_CMD_MAP };

		map.u.map.va = va;
		map.u.map.len = len;
		map.u.map.inval_seq = inval_seq;
		map.u.map.prot = m->src[p->first] & VSVMG_PFN_WRITE ?
					 VSVM_PROT_ALL :
					 VSVM_PROT_READ;
		map.u.map.nr_runs = nr_runs;
		map.u.map.runs = m->runs;
		ret = vsvmg_call_add(p->call, &map, ctx->num_devices);
		if (ret)
			return ret;
	}
	req.u.migrate.va = va;
	req.u.migrate.len = len;
	req.u.migrate.location = m->to;
	req.u.migrate.request_id = 0;
	req.u.migrate.nr_runs = nr_runs;
	req.u.migrate.runs = m->runs;
	return vsvmg_call_add(p->call, &req, ctx->num_devices);
}

static void free_pieces(struct migration *m)
{
	__u32 i;

	for (i = 0; i < m->nr_pieces; i++) {
		vsvmg_os_free(m->pieces[i].call);
		m->pieces[i].call = NULL;
	}
	m->nr_pieces = 0;
}

/* Undo a piece: its pages keep (get back) what they had. */
static void piece_fail(struct migration *m, const struct piece *p)
{
	__u32 i;

	for (i = p->first; i < p->first + p->nr; i++)
		m->src[i] &= ~VSVMG_PFN_MIGRATE;
}

/* A completed piece: its MIGRATE's status decides. */
static int piece_account(struct migration *m, struct piece *p)
{
	struct vsvmg_ctx *ctx = m->ctx;
	struct vsvm_response rsp[2];
	__u32 mig = p->kind == PIECE_TO_DEVICE ? 1 : 0;
	__u32 st;
	int ret;

	ret = vsvmg_call_check(ctx, p->call, rsp, 2, p->status);
	st = ret ? VSVM_ERR_CANCELED : p->status[mig];
	if (!ret && st == VSVM_OK) {
		m->d.migrates++;
		m->bytes += rsp[mig].u.migrate.bytes;
		if (p->kind == PIECE_TO_DEVICE)
			m->d.migrated_to_device += p->nr;
		else if (p->kind == PIECE_TO_SYSTEM)
			m->d.migrated_to_system += p->nr;
		else
			m->d.migrated_peer += p->nr;
		return 0;
	}
	piece_fail(m, p);
	m->d.migrate_failed++;
	if (ret)
		return ret;
	if (mig && p->status[0] != VSVM_OK)
		st = p->status[0]; /* the MAP failed; MIGRATE was canceled */
	if (st != VSVM_ERR_NOSPC)
		vsvmg_log("vsvmg: ctx %u: MIGRATE 0x%llx+0x%llx to %s%u: %s",
			  ctx->id, (unsigned long long)p->va,
			  (unsigned long long)p->nr << VSVM_PAGE_SHIFT,
			  m->to == VSVM_LOC_SYSTEM ? "system " : "device ",
			  m->to == VSVM_LOC_SYSTEM ? 0 : m->to,
			  vsvm_status_name(st));
	return vsvmg_status_errno(st);
}

static void note_devices(struct migration *m, __u32 npages)
{
	__u32 i;

	for (i = 0; i < npages; i++)
		if ((m->src[i] & VSVMG_PFN_MIGRATE) &&
		    (m->src[i] & VSVMG_PFN_DEVICE))
			m->last_device = VSVMG_PFN_DEV(m->src[i]);
}

/*
 * One chunk: setup, queue under ctx->lock unless an invalidation raced,
 * wait, finalize.  Return 0 or the first failure's -errno.
 */
static int migrate_chunk(struct migration *m, __u64 start, __u32 npages)
{
	struct vsvmg_ctx *ctx = m->ctx;
	const struct vsvmg_mm_ops *ops = ctx->mm_ops;
	__u32 tries, i, queued;
	__u64 seq, inval_seq;
	int n, ret, err;

	for (tries = 0; tries < VSVMG_MIGRATE_TRIES; tries++) {
		n = ops->migrate_setup(ctx->mm, start, npages, m->to,
				       vsvmg_migrate_owner(ctx->dev), m->src,
				       m->dst, &seq);
		if (n <= 0)
			return n;
		note_devices(m, npages);
		vsvmg_mutex_lock(&ctx->lock);
		inval_seq = ctx->unmap_seq;
		vsvmg_mutex_unlock(&ctx->lock);

		plan_pieces(m, npages);
		ret = 0;
		for (i = 0; i < m->nr_pieces && !ret; i++)
			ret = build_piece(m, &m->pieces[i], start, inval_seq);
		if (ret)
			goto undo;

		queued = 0;
		vsvmg_mutex_lock(&ctx->lock);
		if (ctx->dying) {
			ret = -VSVMG_ECANCELED;
		} else if (ops->read_retry(ctx->mm, seq)) {
			ret = -VSVMG_EAGAIN;
		} else {
			for (; queued < m->nr_pieces; queued++) {
				ret = vsvmg_call_queue(ctx,
						       m->pieces[queued].call);
				if (ret)
					break;
			}
		}
		vsvmg_mutex_unlock(&ctx->lock);
		if (ret == -VSVMG_EAGAIN) {
			m->d.migrate_raced++;
			goto undo;
		}
		err = ret;
		for (i = 0; i < m->nr_pieces; i++) {
			struct piece *p = &m->pieces[i];

			if (i >= queued) {
				piece_fail(m, p);
				continue;
			}
			vsvmg_call_wait(p->call);
			ret = piece_account(m, p);
			if (ret && !err)
				err = ret;
		}
		ops->migrate_finalize(ctx->mm, start, npages, m->src, m->dst);
		free_pieces(m);
		/*
		 * A MAP refused as STALE (the host's defence, protocol.md
		 * 7.2.1) means an invalidation got in after all: what did not
		 * move is set up again, like any other race.
		 */
		if (err != -VSVMG_ESTALE)
			return err;
		m->d.migrate_raced++;
		continue;

undo:
		for (i = 0; i < npages; i++)
			m->src[i] &= ~VSVMG_PFN_MIGRATE;
		ops->migrate_finalize(ctx->mm, start, npages, m->src, m->dst);
		free_pieces(m);
		if (ret != -VSVMG_EAGAIN)
			return ret;
	}
	return -VSVMG_EAGAIN;
}

static int migration_alloc(struct migration *m, struct vsvmg_ctx *ctx, __u32 to)
{
	const struct vsvm_caps *caps = &ctx->dev->caps;
	__u32 max_runs;

	/* MAP and MIGRATE of one piece share a submission. */
	max_runs = (caps->max_submit_bytes - 2 * sizeof(struct vsvm_cmd_map)) /
		   (2 * sizeof(struct vsvm_gpa_run));
	if (max_runs > caps->max_map_runs)
		max_runs = caps->max_map_runs;
	if (!max_runs)
		max_runs = 1;
	*m = (struct migration){ .ctx = ctx, .to = to, .max_runs = max_runs };
	m->src = vsvmg_os_zalloc(2 * VSVMG_MIGRATE_PAGES * sizeof(__u64) +
				 max_runs * sizeof(struct vsvm_run) +
				 VSVMG_MIGRATE_PAGES * sizeof(struct piece));
	if (!m->src)
		return -VSVMG_ENOMEM;
	m->dst = m->src + VSVMG_MIGRATE_PAGES;
	m->runs = (struct vsvm_run *)(m->dst + VSVMG_MIGRATE_PAGES);
	m->pieces = (struct piece *)(m->runs + max_runs);
	return 0;
}

/* Page-align [va, va + len) outward and clip it to the context. */
static int clip_range(const struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		      __u64 *start, __u64 *end)
{
	if (!len || va >= ctx->va_limit)
		return -VSVMG_EINVAL;
	*start = va & ~VSVMG_PAGE_MASK;
	*end = va + len;
	if (*end < va || *end > ctx->va_limit)
		*end = ctx->va_limit;
	*end = (*end + VSVMG_PAGE_MASK) & ~VSVMG_PAGE_MASK;
	return 0;
}

static int migration_allowed(const struct vsvmg_ctx *ctx, __u32 to)
{
	if (to != VSVM_LOC_SYSTEM && to >= ctx->num_devices)
		return -VSVMG_ENODEV;
	if (!ctx->mm_ops->migrate_setup || !ctx->mm_ops->migrate_finalize ||
	    !(ctx->features & VSVM_F_DEVICE_MEMORY))
		return -VSVMG_EOPNOTSUPP;
	return 0;
}

/* MIGRATE with a request id and no runs: the answer (or decline). */
static int answer_request(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
			  __u32 location, __u32 request_id)
{
	struct vsvm_request req = { .op = VSVM_CMD_MIGRATE };
	__u8 reply[sizeof(struct vsvm_reply_migrate)];
	__u8 cmd[sizeof(struct vsvm_cmd_migrate)];
	struct vsvm_response rsp;
	struct vsvmg_call call;
	int ret;

	req.u.migrate.va = va;
	req.u.migrate.len = len;
	req.u.migrate.location = location;
	req.u.migrate.request_id = request_id;
	vsvmg_call_init(&call, cmd, sizeof(cmd), reply, sizeof(reply));
	ret = vsvmg_call_add(&call, &req, ctx->num_devices);
	if (!ret)
		ret = vsvmg_call_run(ctx, &call, &rsp, 1);
	if (!ret && rsp.status != VSVM_OK) {
		vsvmg_log("vsvmg: ctx %u: answer to MIGRATE_REQ %u failed: %s",
			  ctx->id, request_id, vsvm_status_name(rsp.status));
		ret = vsvmg_status_errno(rsp.status);
	}
	return ret;
}

static int migrate_range(struct vsvmg_ctx *ctx, __u64 va, __u64 len, __u32 to,
			 __u64 *bytes, __u32 *last_device)
{
	struct migration m;
	__u64 start, end, a;
	int ret, err = 0;

	if (bytes)
		*bytes = 0;
	ret = clip_range(ctx, va, len, &start, &end);
	if (!ret)
		ret = migration_allowed(ctx, to);
	if (ret)
		return ret;
	ret = migration_alloc(&m, ctx, to);
	if (ret)
		return ret;
	m.last_device = to == VSVM_LOC_SYSTEM ? 0 : to;
	for (a = start; a < end;) {
		__u64 left = (end - a) >> VSVM_PAGE_SHIFT;
		__u32 n = left < VSVMG_MIGRATE_PAGES ? (__u32)left :
						       VSVMG_MIGRATE_PAGES;

		ret = migrate_chunk(&m, a, n);
		if (ret && !err)
			err = ret;
		/* Device memory is full: the rest would not fit either. */
		if (ret == -VSVMG_ENOSPC || ret == -VSVMG_ECANCELED ||
		    ret == -VSVMG_ENODEV)
			break;
		a += (__u64)n << VSVM_PAGE_SHIFT;
	}
	vsvmg_stats_add(ctx, &m.d);
	if (bytes)
		*bytes = m.bytes;
	if (last_device)
		*last_device = m.last_device;
	vsvmg_os_free(m.src);
	return err;
}

/**
 * vsvmg_ctx_migrate - move a VA range's data to a location
 * @ctx: the context
 * @va: start; widened down to a page
 * @len: bytes; the end is widened up to a page and clipped to va_bits
 * @location: a device index, or VSVM_LOC_SYSTEM
 * @bytes: if not NULL, the bytes the host reported copied
 *
 * See DOC: Guest-driven migration.  Pages that cannot move stay where
 * they are and are no failure: not present, shared copy-on-write, already
 * at @location, or PROT_NONE.  Sleeps; call it without the mm lock.
 *
 * Return: 0; -EINVAL for a bad range; -ENODEV for a device the context
 * does not have; -EOPNOTSUPP without device memory or migration mm_ops;
 * -ENOSPC when device memory ran out (what fitted moved); -EAGAIN when
 * invalidations kept racing a chunk; the -errno of another MIGRATE
 * failure (logged); -ENOMEM.
 */
int vsvmg_ctx_migrate(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		      __u32 location, __u64 *bytes)
{
	return migrate_range(ctx, va, len, location, bytes, NULL);
}

/**
 * vsvmg_ctx_migrate_to_ram - bring device-private pages back on a CPU touch
 * @ctx: the context
 * @va: the touched address
 * @len: bytes the access spans
 *
 * The dev_pagemap migrate_to_ram of this driver: the mm calls it (without
 * its lock) when the CPU touches a device-private entry.  The fault window
 * (cfg.fault_window) around the access is brought back in one go, so a
 * CPU walking the data does not fault on every page.
 *
 * Return: as vsvmg_ctx_migrate().
 */
int vsvmg_ctx_migrate_to_ram(struct vsvmg_ctx *ctx, __u64 va, __u64 len)
{
	__u64 w = ctx->dev->cfg.fault_window;
	__u64 start = va & ~(w - 1), end;

	if (!len || va + len < va)
		return -VSVMG_EINVAL;
	end = (va + len + w - 1) & ~(w - 1);
	if (!end || end > ctx->va_limit)
		end = ctx->va_limit;
	if (start >= end)
		return -VSVMG_EINVAL;
	return migrate_range(ctx, start, end - start, VSVM_LOC_SYSTEM, NULL,
			     NULL);
}

/**
 * vsvmg_migrate_request - serve a MIGRATE_REQ event
 * @ctx: the context; called from its event thread only
 * @ev: the event (validated: range inside va_bits, a known location)
 *
 * Moves what can move, then answers (DOC: Requests and prefetch).
 */
void vsvmg_migrate_request(struct vsvmg_ctx *ctx,
			   const struct vsvm_event_val *ev)
{
	struct vsvmg_ctx_stats d = { .migrate_reqs = 1 };
	__u32 last = 0, location = ev->device;
	int ret;

	ret = migrate_range(ctx, ev->va, ev->len, ev->device, NULL, &last);
	if (ret && ret != -VSVMG_ENOSPC && ret != -VSVMG_EOPNOTSUPP)
		vsvmg_log("vsvmg: ctx %u: MIGRATE_REQ %u (0x%llx+0x%llx): %d",
			  ctx->id, ev->id, (unsigned long long)ev->va,
			  (unsigned long long)ev->len, ret);
	if (location == VSVM_LOC_SYSTEM)
		location = last;
	if (!vsvmg_ctx_is_dying(ctx))
		answer_request(ctx, ev->va, ev->len, location, ev->id);
	vsvmg_stats_add(ctx, &d);
}

/*
 * Mirror [start, end) as a first touch would: populate, then MAP the
 * present guest-RAM pages.  A chunk whose first page has no mapping that
 * allows a read is skipped.  Best effort: errors end it quietly, since a
 * device access that still faults is answered by the fault path.
 */
static void mirror_range(struct vsvmg_ctx *ctx, __u64 start, __u64 end)
{
	struct migration m;
	__u64 a;

	if (migration_alloc(&m, ctx, 0))
		return;
	for (a = start; a < end;) {
		__u64 left = (end - a) >> VSVM_PAGE_SHIFT;
		__u32 n = left < VSVMG_MIGRATE_PAGES ? (__u32)left :
						       VSVMG_MIGRATE_PAGES;
		__u32 tries, i, queued;
		__u64 seq, inval_seq;
		int ret;

		for (tries = 0; tries < VSVMG_MIGRATE_TRIES; tries++) {
			seq = ctx->mm_ops->read_begin(ctx->mm);
			vsvmg_mutex_lock(&ctx->lock);
			inval_seq = ctx->unmap_seq;
			vsvmg_mutex_unlock(&ctx->lock);
			if (ctx->mm_ops->range_fault(ctx->mm, a, n, a, 0, 1,
						     m.dst))
				break;
			/* Pieces of guest-RAM pages, with MAP only. */
			for (i = 0; i < n; i++)
				m.src[i] =
					pfn_is_ram(m.dst[i]) ?
						m.dst[i] | VSVMG_PFN_MIGRATE :
						0;
			plan_pieces(&m, n);
			ret = 0;
			for (i = 0; i < m.nr_pieces && !ret; i++) {
				struct piece *p = &m.pieces[i];
				struct vsvm_request map = {
					.op = VSVM_CMD_MAP
				};

				p->call = vsvmg_call_alloc(
					sizeof(struct vsvm_cmd_map) +
						m.max_runs *
							sizeof(struct
							       vsvm_gpa_run),
					sizeof(struct vsvm_reply_hdr));
				if (!p->call) {
					ret = -VSVMG_ENOMEM;
					break;
				}
				map.u.map.va = a + ((__u64)p->first
						    << VSVM_PAGE_SHIFT);
				map.u.map.len = (__u64)p->nr << VSVM_PAGE_SHIFT;
				map.u.map.inval_seq = inval_seq;
				map.u.map.prot =
					m.src[p->first] & VSVMG_PFN_WRITE ?
						VSVM_PROT_ALL :
						VSVM_PROT_READ;
				map.u.map.nr_runs = piece_runs(&m, p);
				map.u.map.runs = m.runs;
				ret = vsvmg_call_add(p->call, &map,
						     ctx->num_devices);
			}
			queued = 0;
			vsvmg_mutex_lock(&ctx->lock);
			if (!ret && !ctx->dying &&
			    !ctx->mm_ops->read_retry(ctx->mm, seq)) {
				for (; queued < m.nr_pieces; queued++)
					if (vsvmg_call_queue(
						    ctx, m.pieces[queued].call))
						break;
			} else if (!ret) {
				ret = -VSVMG_EAGAIN;
			}
			vsvmg_mutex_unlock(&ctx->lock);
			for (i = 0; i < queued; i++) {
				vsvmg_call_wait(m.pieces[i].call);
				vsvmg_call_check(ctx, m.pieces[i].call, NULL, 0,
						 NULL);
			}
			free_pieces(&m);
			if (ret != -VSVMG_EAGAIN)
				break;
		}
		a += (__u64)n << VSVM_PAGE_SHIFT;
	}
	vsvmg_os_free(m.src);
}

static int prefetch_cmd(struct vsvmg_ctx *ctx, __u64 start, __u64 len,
			__u32 location, __u32 flags, struct vsvm_response *rsp)
{
	struct vsvm_request req = { .op = VSVM_CMD_PREFETCH };
	__u8 reply[sizeof(struct vsvm_reply_prefetch)];
	__u8 cmd[sizeof(struct vsvm_cmd_prefetch)];
	struct vsvmg_ctx_stats d = { 0 };
	struct vsvmg_call call;
	int ret;

	req.u.prefetch.va = start;
	req.u.prefetch.len = len;
	req.u.prefetch.location = location;
	req.u.prefetch.flags = flags;
	vsvmg_call_init(&call, cmd, sizeof(cmd), reply, sizeof(reply));
	ret = vsvmg_call_add(&call, &req, ctx->num_devices);
	if (!ret)
		ret = vsvmg_call_run(ctx, &call, rsp, 1);
	if (!ret)
		ret = vsvmg_status_errno(rsp->status);
	if (!ret) {
		d.prefetches = 1;
		vsvmg_stats_add(ctx, &d);
	}
	return ret;
}

/**
 * vsvmg_ctx_prefetch - make a range resident at a location, and mapped
 * @ctx: the context
 * @va: start; widened down to a page
 * @len: bytes; widened up to a page
 * @location: a device index or VSVM_LOC_SYSTEM
 * @bytes: if not NULL, the bytes at @location and mapped (7.7's reply)
 *
 * Mirrors the range, migrates its guest-RAM data to a device @location
 * (or its device data to SYSTEM) when the context has device memory, then
 * sends a synchronous PREFETCH, which maps it on the target devices and
 * moves data between devices.  Running out of device memory is no error.
 *
 * Return: 0, or -errno (bad range, unknown device, PREFETCH failed).
 */
int vsvmg_ctx_prefetch(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       __u32 location, __u64 *bytes)
{
	struct vsvm_response rsp;
	__u64 start, end;
	int ret;

	ret = clip_range(ctx, va, len, &start, &end);
	if (ret)
		return ret;
	if (location != VSVM_LOC_SYSTEM && location >= ctx->num_devices)
		return -VSVMG_ENODEV;
	mirror_range(ctx, start, end);
	if (!migration_allowed(ctx, location)) {
		ret = migrate_range(ctx, start, end - start, location, NULL,
				    NULL);
		if (ret && ret != -VSVMG_ENOSPC)
			vsvmg_log("vsvmg: ctx %u: prefetch: migration: %d",
				  ctx->id, ret);
	}
	ret = prefetch_cmd(ctx, start, end - start, location, 0, &rsp);
	if (!ret && bytes)
		*bytes = rsp.u.prefetch.bytes;
	return ret;
}

/*
 * Register a started asynchronous prefetch, or complete it at once if its
 * PREFETCH_DONE overtook the PREFETCH reply.
 */
static void prefetch_register(struct vsvmg_ctx *ctx, struct vsvmg_prefetch *pf)
{
	__u32 i;

	vsvmg_mutex_lock(&ctx->ev_lock);
	for (i = 0; i < ctx->nr_early_done; i++) {
		if (ctx->early_done[i].token != pf->token)
			continue;
		pf->status = ctx->early_done[i].status;
		ctx->early_done[i] = ctx->early_done[--ctx->nr_early_done];
		vsvmg_mutex_unlock(&ctx->ev_lock);
		vsvmg_complete(&pf->done);
		return;
	}
	pf->next = ctx->prefetches;
	ctx->prefetches = pf;
	vsvmg_mutex_unlock(&ctx->ev_lock);
}

/**
 * vsvmg_ctx_prefetch_async - start a prefetch that completes by event
 * @ctx: the context
 * @va: start; widened down to a page
 * @len: bytes; widened up to a page
 * @location: a device index or VSVM_LOC_SYSTEM
 * @pf: caller-owned; on success wait for it with vsvmg_ctx_prefetch_wait()
 *
 * Mirrors the range, then sends PREFETCH with VSVM_PREFETCH_F_ASYNC.  The
 * host moves what it can alone and asks for the rest with MIGRATE_REQs,
 * which the event thread serves; PREFETCH_DONE then completes @pf.
 *
 * Return: 0 (started), or -errno (nothing to wait for): bad range,
 * unknown device, -ENOSPC when the host's bound on outstanding
 * prefetches is reached, -EPROTO for a reply without a token.
 */
int vsvmg_ctx_prefetch_async(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
			     __u32 location, struct vsvmg_prefetch *pf)
{
	struct vsvm_response rsp;
	__u64 start, end;
	int ret;

	if (!pf)
		return -VSVMG_EINVAL;
	ret = clip_range(ctx, va, len, &start, &end);
	if (ret)
		return ret;
	if (location != VSVM_LOC_SYSTEM && location >= ctx->num_devices)
		return -VSVMG_ENODEV;
	mirror_range(ctx, start, end);
	*pf = (struct vsvmg_prefetch){ .va = start,
				       .len = end - start,
				       .location = location };
	ret = prefetch_cmd(ctx, start, end - start, location,
			   VSVM_PREFETCH_F_ASYNC, &rsp);
	if (ret)
		return ret;
	if (!rsp.u.prefetch.token) {
		vsvmg_log("vsvmg: ctx %u: asynchronous PREFETCH without token",
			  ctx->id);
		return -VSVMG_EPROTO;
	}
	pf->token = rsp.u.prefetch.token;
	pf->started = 1;
	vsvmg_completion_init(&pf->done);
	prefetch_register(ctx, pf);
	return 0;
}

/**
 * vsvmg_ctx_prefetch_wait - wait for an asynchronous prefetch to finish
 * @ctx: the context
 * @pf: started by vsvmg_ctx_prefetch_async(); waited for once
 *
 * Return: 0 when all of the range's mapped data reached the location;
 * -ENOSPC when device memory ran out; -ECANCELED when the driver declined
 * part of it or the context was destroyed; -EINVAL if @pf was not started.
 */
int vsvmg_ctx_prefetch_wait(struct vsvmg_ctx *ctx, struct vsvmg_prefetch *pf)
{
	(void)ctx;
	if (!pf || !pf->started)
		return -VSVMG_EINVAL;
	vsvmg_wait(&pf->done);
	vsvmg_completion_destroy(&pf->done);
	pf->started = 0;
	return vsvmg_status_errno(pf->status);
}

/**
 * vsvmg_prefetch_done - serve a PREFETCH_DONE event
 * @ctx: the context; called from its event thread only
 * @ev: the event; id is the prefetch's token, arg its status
 */
void vsvmg_prefetch_done(struct vsvmg_ctx *ctx, const struct vsvm_event_val *ev)
{
	struct vsvmg_ctx_stats d = { .prefetch_done = 1 };
	struct vsvmg_prefetch **pos, *pf = NULL;

	/*
	 * Counted before anyone can be woken: a waiter that returns and reads
	 * the stats must see its own completion in them.
	 */
	vsvmg_stats_add(ctx, &d);
	vsvmg_mutex_lock(&ctx->ev_lock);
	for (pos = &ctx->prefetches; *pos; pos = &(*pos)->next) {
		if ((*pos)->token == ev->id) {
			pf = *pos;
			*pos = pf->next;
			break;
		}
	}
	if (pf) {
		pf->status = ev->arg;
	} else {
		/* The issuer has not seen its reply yet: keep it for it. */
		if (ctx->nr_early_done == VSVMG_EARLY_DONE) {
			vsvmg_log(
				"vsvmg: ctx %u: PREFETCH_DONE %u for no prefetch",
				ctx->id, ctx->early_done[0].token);
			ctx->early_done[0] =
				ctx->early_done[--ctx->nr_early_done];
		}
		ctx->early_done[ctx->nr_early_done].token = ev->id;
		ctx->early_done[ctx->nr_early_done].status = ev->arg;
		ctx->nr_early_done++;
	}
	vsvmg_mutex_unlock(&ctx->ev_lock);
	if (pf)
		vsvmg_complete(&pf->done);
}
