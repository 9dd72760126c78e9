// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_fault.c - answering a batch of forwarded GPU faults: read the
 *                 guest page table, queue MAPs and one FAULT_REPLY.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: The fault path
 *
 * The event thread hands over the FAULT events of one EVENT_WAIT reply.
 * Faults are grouped by fault window (cfg.fault_window bytes, aligned);
 * each window is a *unit* read from the guest page table once:
 *
 *   for each unit (no lock held):
 *     seq = mm_ops->read_begin(mm)
 *     inval_seq = ctx->unmap_seq            (under ctx->lock, briefly)
 *     for each fault of the unit not already covered by this read:
 *       mm_ops->range_fault(window, fault va, write = access != READ)
 *         < 0: the fault is answered VSVM_ERR_FAULT
 *         the page came back absent, or read-only for a write or
 *         atomic access: VSVM_ERR_FAULT; else VSVM_OK
 *   encode MAPs of every unit (runs of present pages with equal prot,
 *   GPA-contiguous pages merged into one run), then one FAULT_REPLY
 *   naming every fault with its status
 *   lock(ctx->lock)
 *     if mm_ops->read_retry(mm, seq) for some unit:
 *       unlock, count map_stale, read those units again, start over
 *       (after VSVMG_FAULT_READS reads a unit is given up: its faults
 *       are answered VSVM_OK with no MAP, so the device faults again;
 *       a race is never answered with an error)
 *     else: queue the stream, in as many submissions as the host's
 *       max_submit_bytes and max_cmds require, one after another
 *   unlock(ctx->lock)
 *   wait for every submission, check every reply
 *
 * Why no stale MAP can land: an invalidation advances the mm's sequence
 * before it takes ctx->lock to queue its UNMAP.  If its lock section came
 * first, read_retry sees the new sequence and the MAPs are dropped before
 * anything is queued; if ours came first, the MAPs are ahead of the UNMAP
 * in the queue and the host, applying in queue order, removes them before
 * it acknowledges.  inval_seq, the newest UNMAP seq when the page table
 * was read, lets the host refuse (ERR_STALE) a MAP that got this wrong
 * (protocol.md 7.2.1, 10.2) - defence in depth.
 *
 * The MAPs are encoded before the lock is taken: they depend only on what
 * was read, so the lock is held just for the read_retry checks and the
 * transport->submit calls, and no memory is allocated under it.
 * mm_ops->read_retry is therefore called under ctx->lock and must not
 * sleep or take the mm lock (mmu_interval_read_retry() does neither).
 *
 * DOC: When the host refuses a MAP
 *
 * A failing command cancels the rest of its submission (protocol.md 5.4),
 * FAULT_REPLY included, so the faults it named stay outstanding on the
 * host and must be answered again.  The batch therefore runs in rounds:
 * after each, faults whose FAULT_REPLY was not applied go round again -
 * re-read if their MAP was refused as STALE or canceled, answered
 * VSVM_ERR_FAULT if their MAP failed for another reason (ERR_LIMIT,
 * ERR_RANGE, ERR_NOMEM: the page cannot be mapped, and the launch should
 * learn why rather than fault forever).  The last of VSVMG_FAULT_ROUNDS
 * sends a bare FAULT_REPLY, which no MAP can cancel.  A transport error, a
 * lost context or a malformed reply ends the batch (logged).
 */
#include "vsvmg_internal.h"

#define VSVMG_FAULT_READS     16 /* page-table reads of a unit */
#define VSVMG_FAULT_ROUNDS    4	 /* submissions rounds of a batch */
#define VSVMG_PLAIN_REPLY_MAX 16 /* resolutions of a bare FAULT_REPLY */

enum unit_state {
	UNIT_READ,     /* the page table must be read (again) */
	UNIT_FRESH,    /* read; valid while read_retry(seq) is false */
	UNIT_GIVEN_UP, /* raced too often: answer VSVM_OK, map nothing */
	UNIT_FAILED,   /* the host refused its MAP: answer VSVM_ERR_FAULT */
};

struct fault_unit {
	__u64 start;	 /* window start, window aligned */
	__u64 seq;	 /* mm_ops->read_begin() of the current read */
	__u64 inval_seq; /* ctx->unmap_seq at that read */
	__u64 *pfns;	 /* npages: GPA | VSVMG_PFN_* or 0 */
	__u32 reads;
	__u32 state;	/* enum unit_state */
	int racy;	/* range_fault() said -EBUSY: read again */
	int map_failed; /* a MAP failed with a hard error */
	int pending;	/* faults of the unit still unanswered */
};

struct fault_rec {
	__u32 id;
	__u32 access; /* VSVM_ACCESS_* */
	__u64 va;
	__u32 unit;
	__u32 status;  /* resolution to send */
	int delivered; /* a FAULT_REPLY naming it was applied */
};

/* What one queued command stands for, to account for its reply. */
struct cmd_owner {
	__u32 unit; /* MAP: its unit; FAULT_REPLY: NO_UNIT */
	__u32 res;  /* FAULT_REPLY: first resolution */
	__u32 nr;   /* MAP: pages; FAULT_REPLY: resolutions */
};

#define NO_UNIT		   0xffffffffu

/* queue_round() outcomes that queued nothing (errors are -errno). */
#define ROUND_BUILD_FAILED 1 /* no memory, or unencodable MAP */
#define ROUND_DYING	   2 /* destroy began */

struct fault_chunk {
	struct vsvmg_call call;
	__u16 *status; /* per command, filled after completion */
	struct cmd_owner *owner;
};

struct fault_batch {
	struct vsvmg_ctx *ctx;
	struct fault_rec *faults;
	__u32 nr_faults;
	struct fault_unit *units;
	__u32 nr_units;
	__u32 npages;		     /* pages per window */
	__u64 *tmp;		     /* range_fault() output, npages */
	struct vsvm_run *runs;	     /* one MAP's runs, max_runs */
	struct vsvm_resolution *res; /* this round's resolutions */
	__u32 *res_fault;	     /* res[i] answers faults[res_fault[i]] */
	__u32 nr_res;
	/* Host limits, clamped so that one command always fits a stream. */
	__u32 max_bytes;
	__u32 max_cmds;
	__u32 max_runs;
	__u32 max_res;
	struct vsvmg_ctx_stats d; /* added to ctx->stats at the end */
};

/* Position in the stream a round sends: MAPs unit by unit, then replies. */
struct plan_pos {
	__u32 unit;
	__u32 page;
	__u32 res;
};

static __u64 pfn_gpa(__u64 pfn)
{
	return pfn & ~VSVMG_PFN_FLAGS;
}

static __u32 pfn_prot(__u64 pfn)
{
	return pfn & VSVMG_PFN_WRITE ? VSVM_PROT_ALL : VSVM_PROT_READ;
}

/* Does the unit's read already allow this fault's access? */
static int covered(const struct fault_batch *b, const struct fault_rec *f)
{
	const struct fault_unit *u = &b->units[f->unit];
	__u64 pfn = u->pfns[(f->va - u->start) >> VSVM_PAGE_SHIFT];

	/*
	 * A device-private page is mapped on the host already (MIGRATE put
	 * it there); it is answered without a MAP, which would replace it.
	 */
	if (!(pfn & (VSVMG_PFN_VALID | VSVMG_PFN_DEVICE)))
		return 0;
	return f->access == VSVM_ACCESS_READ || (pfn & VSVMG_PFN_WRITE);
}

/*
 * Read one unit's window from the guest page table.  No lock is held:
 * range_fault takes the mm lock and may itself invalidate (COW break).
 */
static void unit_read(struct fault_batch *b, __u32 ui)
{
	struct vsvmg_ctx *ctx = b->ctx;
	struct fault_unit *u = &b->units[ui];
	__u32 i;
	int ret;

	u->seq = ctx->mm_ops->read_begin(ctx->mm);
	/* After read_begin: an UNMAP queued later may postdate our read. */
	vsvmg_mutex_lock(&ctx->lock);
	u->inval_seq = ctx->unmap_seq;
	vsvmg_mutex_unlock(&ctx->lock);
	u->racy = 0;
	for (i = 0; i < b->npages; i++)
		u->pfns[i] = 0;

	for (i = 0; i < b->nr_faults; i++) {
		struct fault_rec *f = &b->faults[i];
		__u32 p;

		if (f->unit != ui || f->delivered)
			continue;
		if (covered(b, f)) {
			f->status = VSVM_OK;
			continue;
		}
		ret = ctx->mm_ops->range_fault(ctx->mm, u->start, b->npages,
					       f->va,
					       f->access != VSVM_ACCESS_READ,
					       ctx->dev->cfg.populate, b->tmp);
		if (ret == -VSVMG_EBUSY)
			u->racy = 1;
		if (ret < 0) {
			f->status = VSVM_ERR_FAULT;
			continue;
		}
		/* Both reads are checked by one read_retry: the newer wins. */
		for (p = 0; p < b->npages; p++)
			if (b->tmp[p] & (VSVMG_PFN_VALID | VSVMG_PFN_DEVICE))
				u->pfns[p] = b->tmp[p];
		f->status = covered(b, f) ? VSVM_OK : VSVM_ERR_FAULT;
	}
	u->reads++;
	u->state = UNIT_FRESH;
}

/* The status a fault is answered with in this round. */
static __u32 fault_status(const struct fault_batch *b,
			  const struct fault_rec *f)
{
	switch (b->units[f->unit].state) {
	case UNIT_FRESH:
		return f->status;
	case UNIT_FAILED:
		return VSVM_ERR_FAULT;
	}
	return VSVM_OK;
}

static void collect_resolutions(struct fault_batch *b)
{
	__u32 i;

	b->nr_res = 0;
	for (i = 0; i < b->nr_faults; i++) {
		struct fault_rec *f = &b->faults[i];

		if (f->delivered)
			continue;
		b->res[b->nr_res].id = f->id;
		b->res[b->nr_res].status = fault_status(b, f);
		b->res_fault[b->nr_res] = i;
		b->nr_res++;
	}
}

/*
 * The next MAP of unit u from page *page on: consecutive present pages
 * with one protection, as GPA runs, at most max_runs of them.
 */
static int next_map(struct fault_batch *b, __u32 ui, __u32 *page,
		    struct vsvm_request *req, struct cmd_owner *own)
{
	const struct fault_unit *u = &b->units[ui];
	__u32 p = *page, q, nr = 0;
	__u32 prot;

	while (p < b->npages && !(u->pfns[p] & VSVMG_PFN_VALID))
		p++;
	if (p == b->npages) {
		*page = p;
		return 0;
	}
	prot = pfn_prot(u->pfns[p]);
	for (q = p; q < b->npages; q++) {
		__u64 pfn = u->pfns[q];

		if (!(pfn & VSVMG_PFN_VALID) || pfn_prot(pfn) != prot)
			break;
		if (nr &&
		    pfn_gpa(pfn) == b->runs[nr - 1].gpa + b->runs[nr - 1].len) {
			b->runs[nr - 1].len += VSVM_PAGE_SIZE;
			continue;
		}
		if (nr == b->max_runs)
			break;
		b->runs[nr].gpa = pfn_gpa(pfn);
		b->runs[nr].len = VSVM_PAGE_SIZE;
		nr++;
	}
	*page = q;
	*req = (struct vsvm_request){ .op = VSVM_CMD_MAP };
	req->u.map.va = u->start + ((__u64)p << VSVM_PAGE_SHIFT);
	req->u.map.len = (__u64)(q - p) << VSVM_PAGE_SHIFT;
	req->u.map.inval_seq = u->inval_seq;
	req->u.map.prot = prot;
	req->u.map.nr_runs = nr;
	req->u.map.runs = b->runs;
	*own = (struct cmd_owner){ .unit = ui, .nr = q - p };
	return 1;
}

/*
 * The round's stream, one command per call: every fresh unit's MAPs, then
 * the resolutions in FAULT_REPLYs of at most max_res.  Deterministic, so
 * sizing and encoding walk the same commands.
 */
static int plan_next(struct fault_batch *b, struct plan_pos *pos,
		     struct vsvm_request *req, struct cmd_owner *own)
{
	__u32 nr;

	for (; pos->unit < b->nr_units; pos->unit++, pos->page = 0) {
		const struct fault_unit *u = &b->units[pos->unit];

		if (u->state != UNIT_FRESH || !u->pending)
			continue;
		if (next_map(b, pos->unit, &pos->page, req, own))
			return 1;
	}
	if (pos->res == b->nr_res)
		return 0;
	nr = b->nr_res - pos->res;
	if (nr > b->max_res)
		nr = b->max_res;
	*req = (struct vsvm_request){ .op = VSVM_CMD_FAULT_REPLY };
	req->u.fault_reply.nr = nr;
	req->u.fault_reply.res = b->res + pos->res;
	*own = (struct cmd_owner){ .unit = NO_UNIT, .res = pos->res, .nr = nr };
	pos->res += nr;
	return 1;
}

static __u32 cmd_bytes(const struct vsvm_request *req)
{
	if (req->op == VSVM_CMD_MAP)
		return sizeof(struct vsvm_cmd_map) +
		       req->u.map.nr_runs * sizeof(struct vsvm_gpa_run);
	return sizeof(struct vsvm_cmd_fault_reply) +
	       req->u.fault_reply.nr * sizeof(struct vsvm_fault_resolution);
}

/* Does a command of @bytes still fit the submission being filled? */
static int chunk_fits(const struct fault_batch *b, __u32 used, __u32 cmds,
		      __u32 bytes)
{
	return cmds < b->max_cmds && bytes <= b->max_bytes - used;
}

struct chunk_set {
	struct fault_chunk *chunk;
	__u32 nr;
	__u32 queued;
	void *mem;
};

static __u64 align8(__u64 v)
{
	return (v + 7) & ~7ull;
}

/*
 * Size the round's stream, allocate its submissions in one block and
 * encode every command.  Runs without ctx->lock.
 */
static int build_chunks(struct fault_batch *b, struct chunk_set *cs)
{
	__u32 nr_chunks = 0, used = 0, cmds = 0, total_cmds = 0;
	__u64 cmd_total = 0, reply_total = 0, size, cmd_off, cmd_end, reply_off;
	__u32 num_devices = b->ctx->num_devices;
	struct plan_pos pos = { 0 };
	struct vsvm_request req;
	struct cmd_owner own;
	struct fault_chunk *c;
	__u8 *mem;
	__u32 k;

	while (plan_next(b, &pos, &req, &own)) {
		__u32 bytes = cmd_bytes(&req);

		if (!cmds || !chunk_fits(b, used, cmds, bytes)) {
			nr_chunks++;
			used = 0;
			cmds = 0;
		}
		used += bytes;
		cmds++;
		total_cmds++;
		cmd_total += bytes;
		reply_total += vsvm_reply_size(&req, num_devices);
	}
	if (!nr_chunks)
		return 0;

	size = align8((__u64)nr_chunks * sizeof(*c)) +
	       align8((__u64)total_cmds * sizeof(struct cmd_owner)) +
	       align8((__u64)total_cmds * sizeof(__u16)) + cmd_total +
	       reply_total;
	mem = vsvmg_os_zalloc((unsigned long)size);
	if (!mem)
		return -VSVMG_ENOMEM;
	cs->mem = mem;
	cs->chunk = (struct fault_chunk *)mem;
	cs->nr = nr_chunks;
	cs->queued = 0;
	cs->chunk[0].owner =
		(struct cmd_owner *)(mem +
				     align8((__u64)nr_chunks * sizeof(*c)));
	cs->chunk[0].status =
		(__u16 *)((__u8 *)cs->chunk[0].owner +
			  align8((__u64)total_cmds * sizeof(struct cmd_owner)));
	cmd_off = (__u64)((__u8 *)cs->chunk[0].status - mem) +
		  align8((__u64)total_cmds * sizeof(__u16));
	cmd_end = cmd_off + cmd_total;
	reply_off = cmd_end;

	/* Same walk, same packing rule: the same chunk boundaries. */
	pos = (struct plan_pos){ 0 };
	k = 0;
	c = NULL;
	while (plan_next(b, &pos, &req, &own)) {
		__u32 bytes = cmd_bytes(&req);

		if (!c ||
		    !chunk_fits(b, c->call.w.off, c->call.nr_cmds, bytes)) {
			if (c) {
				cmd_off += c->call.w.off;
				reply_off += c->call.reply_need;
				cs->chunk[k].owner = c->owner + c->call.nr_cmds;
				cs->chunk[k].status =
					c->status + c->call.nr_cmds;
			}
			c = &cs->chunk[k++];
			/* Capacities: what is left; chunk_fits() caps use. */
			vsvmg_call_init(&c->call, mem + cmd_off,
					(__u32)(cmd_end - cmd_off),
					mem + reply_off,
					(__u32)(size - reply_off));
		}
		if (vsvmg_call_add(&c->call, &req, num_devices))
			goto err_free;
		c->owner[c->call.nr_cmds - 1] = own;
	}
	return 0;

err_free:
	/* The mm handed back something the codec refuses (a wrapping GPA). */
	vsvmg_log("vsvmg: ctx %u: cannot encode a MAP of the page table",
		  b->ctx->id);
	vsvmg_os_free(mem);
	cs->mem = NULL;
	cs->nr = 0;
	return -VSVMG_EINVAL;
}

static void free_chunks(struct chunk_set *cs)
{
	vsvmg_os_free(cs->mem);
	cs->mem = NULL;
	cs->nr = 0;
}

/*
 * Under ctx->lock: are all fresh reads still valid?  Stale ones are set
 * back to UNIT_READ, or given up after VSVMG_FAULT_READS reads.
 */
static __u32 drop_stale_locked(struct fault_batch *b)
{
	struct vsvmg_ctx *ctx = b->ctx;
	__u32 i, stale = 0;

	for (i = 0; i < b->nr_units; i++) {
		struct fault_unit *u = &b->units[i];

		if (u->state != UNIT_FRESH || !u->pending)
			continue;
		if (!u->racy && !ctx->mm_ops->read_retry(ctx->mm, u->seq))
			continue;
		stale++;
		u->state = u->reads < VSVMG_FAULT_READS ? UNIT_READ :
							  UNIT_GIVEN_UP;
	}
	return stale;
}

/*
 * Read, validate and queue one round.  Return: 0 with every submission of
 * the round queued, in order; ROUND_BUILD_FAILED or ROUND_DYING with none
 * queued; or the transport's -errno with the first cs->queued queued.
 */
static int queue_round(struct fault_batch *b, struct chunk_set *cs)
{
	struct vsvmg_ctx *ctx = b->ctx;
	__u32 i, stale;
	int ret;

	for (;;) {
		for (i = 0; i < b->nr_units; i++)
			if (b->units[i].pending &&
			    b->units[i].state == UNIT_READ)
				unit_read(b, i);
		collect_resolutions(b);
		if (build_chunks(b, cs))
			return ROUND_BUILD_FAILED;

		vsvmg_mutex_lock(&ctx->lock);
		if (ctx->dying) {
			vsvmg_mutex_unlock(&ctx->lock);
			free_chunks(cs);
			return ROUND_DYING;
		}
		stale = drop_stale_locked(b);
		ret = 0;
		if (!stale) {
			/* Queue order is apply order; UNMAPs wait for us. */
			for (; cs->queued < cs->nr; cs->queued++) {
				ret = vsvmg_call_queue(
					ctx, &cs->chunk[cs->queued].call);
				if (ret)
					break;
			}
		}
		vsvmg_mutex_unlock(&ctx->lock);
		if (!stale)
			return ret;
		b->d.map_stale += stale;
		free_chunks(cs);
	}
}

/* Account one submission's replies to its units and faults. */
static void account_chunk(struct fault_batch *b, struct fault_chunk *c)
{
	__u32 i, j;

	for (i = 0; i < c->call.nr_cmds; i++) {
		const struct cmd_owner *own = &c->owner[i];
		__u32 st = c->status[i];

		if (own->unit != NO_UNIT) {
			if (st == VSVM_OK) {
				b->d.maps++;
				b->d.pages_mirrored += own->nr;
			} else if (st == VSVM_ERR_STALE) {
				/*
				 * Its FAULT_REPLY, if in this submission, was
				 * canceled: the unit is read again next round.
				 */
				b->d.map_stale++;
			} else if (st != VSVM_ERR_CANCELED) {
				vsvmg_log(
					"vsvmg: ctx %u: MAP at 0x%llx failed: %s",
					b->ctx->id,
					(unsigned long long)b->units[own->unit]
						.start,
					vsvm_status_name(st));
				b->units[own->unit].map_failed = 1;
			}
			continue;
		}
		if (st != VSVM_OK)
			continue;
		for (j = own->res; j < own->res + own->nr; j++) {
			struct fault_rec *f = &b->faults[b->res_fault[j]];

			f->delivered = 1;
			b->d.faults++;
			if (b->res[j].status != VSVM_OK)
				b->d.faults_failed++;
		}
	}
}

/* Which units still have faults to answer, and how they go next round. */
static __u32 next_round(struct fault_batch *b)
{
	__u32 i, left = 0;

	for (i = 0; i < b->nr_units; i++)
		b->units[i].pending = 0;
	for (i = 0; i < b->nr_faults; i++) {
		if (b->faults[i].delivered)
			continue;
		b->units[b->faults[i].unit].pending = 1;
		left++;
	}
	for (i = 0; i < b->nr_units; i++) {
		struct fault_unit *u = &b->units[i];

		if (!u->pending)
			continue;
		if (u->map_failed)
			u->state = UNIT_FAILED;
		else if (u->state == UNIT_FRESH)
			u->state = UNIT_READ;
	}
	return left;
}

/*
 * One bare FAULT_REPLY of nr <= VSVMG_PLAIN_REPLY_MAX resolutions: no MAP,
 * so nothing can cancel it and it needs no ctx->lock.  Its buffers are on
 * the stack, so it is also the answer when memory ran out.
 */
static int send_bare_reply(struct vsvmg_ctx *ctx,
			   const struct vsvm_resolution *res, __u32 nr)
{
	__u8 cmd[sizeof(struct vsvm_cmd_fault_reply) +
		 VSVMG_PLAIN_REPLY_MAX * sizeof(struct vsvm_fault_resolution)];
	__u8 reply[sizeof(struct vsvm_reply_fault_reply)];
	struct vsvm_request req = { .op = VSVM_CMD_FAULT_REPLY };
	struct vsvm_response rsp;
	struct vsvmg_call call;
	int ret;

	req.u.fault_reply.nr = nr;
	req.u.fault_reply.res = res;
	vsvmg_call_init(&call, cmd, sizeof(cmd), reply, sizeof(reply));
	ret = vsvmg_call_add(&call, &req, ctx->num_devices);
	if (!ret)
		ret = vsvmg_call_run(ctx, &call, &rsp, 1);
	if (!ret && rsp.status != VSVM_OK)
		ret = vsvmg_status_errno(rsp.status);
	if (ret && !vsvmg_ctx_is_dying(ctx))
		vsvmg_log("vsvmg: ctx %u: FAULT_REPLY of %u faults failed: %d",
			  ctx->id, nr, ret);
	return ret;
}

/* Resolutions per bare FAULT_REPLY within the host's limits. */
static __u32 bare_max(const struct vsvm_caps *caps)
{
	__u32 max =
		(caps->max_submit_bytes - sizeof(struct vsvm_cmd_fault_reply)) /
		sizeof(struct vsvm_fault_resolution);

	if (max > caps->max_fault_batch)
		max = caps->max_fault_batch;
	return max < VSVMG_PLAIN_REPLY_MAX ? max : VSVMG_PLAIN_REPLY_MAX;
}

/* Bare FAULT_REPLYs for every fault of the batch still unanswered. */
static int answer_plain(struct fault_batch *b)
{
	__u32 max = bare_max(&b->ctx->dev->caps), i, j, nr;
	int ret;

	collect_resolutions(b);
	for (i = 0; i < b->nr_res; i += nr) {
		nr = b->nr_res - i < max ? b->nr_res - i : max;
		ret = send_bare_reply(b->ctx, b->res + i, nr);
		if (ret)
			return ret;
		for (j = i; j < i + nr; j++) {
			b->faults[b->res_fault[j]].delivered = 1;
			b->d.faults++;
			if (b->res[j].status != VSVM_OK)
				b->d.faults_failed++;
		}
	}
	return 0;
}

/*
 * No memory for the batch: answer every fault VSVM_OK without a MAP, so
 * the device faults again once memory may be back.
 */
static void answer_nomem(struct vsvmg_ctx *ctx, const struct vsvm_event_val *ev,
			 __u32 nr)
{
	struct vsvm_resolution res[VSVMG_PLAIN_REPLY_MAX];
	__u32 max = bare_max(&ctx->dev->caps), i, j, n;
	struct vsvmg_ctx_stats d = { 0 };

	for (i = 0; i < nr; i += n) {
		n = nr - i < max ? nr - i : max;
		for (j = 0; j < n; j++)
			res[j] = (struct vsvm_resolution){ .id = ev[i + j].id };
		if (send_bare_reply(ctx, res, n))
			break;
		d.faults += n;
	}
	vsvmg_stats_add(ctx, &d);
}

/* One round: queue, wait, account.  Return 0 to go on, -errno to stop. */
static int run_round(struct fault_batch *b)
{
	struct chunk_set cs = { 0 };
	int ret, err = 0;
	__u32 i;

	ret = queue_round(b, &cs);
	if (ret == ROUND_BUILD_FAILED) {
		/* Nothing queued; answer so that the device faults again. */
		for (i = 0; i < b->nr_units; i++)
			if (b->units[i].state != UNIT_FAILED)
				b->units[i].state = UNIT_GIVEN_UP;
		return answer_plain(b) ? -VSVMG_EIO : 0;
	}
	if (ret == ROUND_DYING)
		return -VSVMG_ECANCELED;
	if (ret)
		vsvmg_log("vsvmg: ctx %u: cannot queue fault answers: %d",
			  b->ctx->id, ret);
	for (i = 0; i < cs.queued; i++) {
		struct fault_chunk *c = &cs.chunk[i];
		int r;

		vsvmg_call_wait(&c->call);
		r = vsvmg_call_check(b->ctx, &c->call, NULL, 0, c->status);
		/* A rejected stream is still accounted: nothing applied. */
		if (r && r != -VSVMG_EIO && !err)
			err = r;
		account_chunk(b, c);
	}
	free_chunks(&cs);
	return ret ? ret : err;
}

static int batch_alloc(struct fault_batch *b, struct vsvmg_ctx *ctx, __u32 nr)
{
	const struct vsvm_caps *caps = &ctx->dev->caps;
	__u64 size;
	__u8 *p;

	b->ctx = ctx;
	b->npages = ctx->dev->cfg.fault_window >> VSVM_PAGE_SHIFT;
	b->max_bytes = caps->max_submit_bytes;
	b->max_cmds = caps->max_cmds;
	/* The capset guarantees max_submit_bytes >= 88: >= 3 runs, 9 ids. */
	b->max_runs = (b->max_bytes - sizeof(struct vsvm_cmd_map)) /
		      sizeof(struct vsvm_gpa_run);
	if (b->max_runs > caps->max_map_runs)
		b->max_runs = caps->max_map_runs;
	b->max_res = (b->max_bytes - sizeof(struct vsvm_cmd_fault_reply)) /
		     sizeof(struct vsvm_fault_resolution);
	if (b->max_res > caps->max_fault_batch)
		b->max_res = caps->max_fault_batch;

	size = align8(nr * sizeof(struct fault_rec)) +
	       align8(nr * sizeof(struct fault_unit)) +
	       (__u64)nr * b->npages * sizeof(__u64) +
	       b->npages * sizeof(__u64) +
	       b->max_runs * sizeof(struct vsvm_run) +
	       nr * sizeof(struct vsvm_resolution) + align8(nr * sizeof(__u32));
	p = vsvmg_os_zalloc((unsigned long)size);
	if (!p)
		return -VSVMG_ENOMEM;
	b->faults = (struct fault_rec *)p;
	p += align8(nr * sizeof(struct fault_rec));
	b->units = (struct fault_unit *)p;
	p += align8(nr * sizeof(struct fault_unit));
	b->tmp = (__u64 *)p;
	p += b->npages * sizeof(__u64);
	b->runs = (struct vsvm_run *)p;
	p += b->max_runs * sizeof(struct vsvm_run);
	b->res = (struct vsvm_resolution *)p;
	p += nr * sizeof(struct vsvm_resolution);
	b->res_fault = (__u32 *)p;
	p += align8(nr * sizeof(__u32));
	/* Window buffers last: units get theirs as they are created. */
	b->units[0].pfns = (__u64 *)p;
	return 0;
}

/*
 * A fault on a device or VA the context does not have: answered
 * VSVM_ERR_FAULT through a unit that is never read.  Its start is not
 * window aligned, so no real window shares it.
 */
#define BOGUS_START (~0ull)

static int fault_bogus(const struct fault_batch *b,
		       const struct vsvm_event_val *ev)
{
	const struct vsvmg_ctx *ctx = b->ctx;

	return ev->va >= ctx->va_limit || ev->device >= ctx->num_devices;
}

/* Group the faults into units by window; equal pages share a unit too. */
static void batch_group(struct fault_batch *b, const struct vsvm_event_val *ev,
			__u32 nr)
{
	__u64 mask = ~((__u64)b->ctx->dev->cfg.fault_window - 1);
	__u64 *pfns = b->units[0].pfns;
	__u32 i, u;

	for (i = 0; i < nr; i++) {
		struct fault_rec *f = &b->faults[i];
		int bogus = fault_bogus(b, &ev[i]);
		__u64 start = bogus ? BOGUS_START : ev[i].va & mask;

		if (bogus)
			vsvmg_log(
				"vsvmg: ctx %u: fault %u at 0x%llx on device %u is outside the context",
				b->ctx->id, ev[i].id,
				(unsigned long long)ev[i].va, ev[i].device);
		f->id = ev[i].id;
		f->va = ev[i].va;
		f->access = ev[i].arg;
		for (u = 0; u < b->nr_units; u++)
			if (b->units[u].start == start)
				break;
		if (u == b->nr_units) {
			b->units[u].start = start;
			b->units[u].pfns = pfns + (__u64)u * b->npages;
			b->units[u].state = bogus ? UNIT_FAILED : UNIT_READ;
			b->units[u].pending = 1;
			b->nr_units++;
		}
		f->unit = u;
	}
	b->nr_faults = nr;
}

/**
 * vsvmg_fault_batch - answer one batch of FAULT events
 * @ctx: the context; called from its event thread only
 * @faults: FAULT events with an id; one outside the context (device,
 *	    va_bits) is answered VSVM_ERR_FAULT
 * @nr: how many, 1 .. caps.max_fault_batch
 *
 * Every fault is answered unless the context is being destroyed (DESTROY
 * drops them on the host) or the host stops answering (logged).  See
 * DOC: The fault path.
 */
void vsvmg_fault_batch(struct vsvmg_ctx *ctx,
		       const struct vsvm_event_val *faults, __u32 nr)
{
	struct fault_batch b = { 0 };
	__u32 round, i;

	if (batch_alloc(&b, ctx, nr)) {
		vsvmg_log(
			"vsvmg: ctx %u: no memory for %u faults; answering without mapping",
			ctx->id, nr);
		answer_nomem(ctx, faults, nr);
		return;
	}
	batch_group(&b, faults, nr);
	for (round = 0; round < VSVMG_FAULT_ROUNDS - 1; round++) {
		if (run_round(&b) || !next_round(&b))
			goto out;
	}
	/* Last round: no MAP, so no failure of one can cancel the answers. */
	for (i = 0; i < b.nr_units; i++)
		if (b.units[i].pending && b.units[i].state != UNIT_FAILED)
			b.units[i].state = UNIT_GIVEN_UP;
	answer_plain(&b);
out:
	vsvmg_stats_add(ctx, &b.d);
	vsvmg_os_free(b.faults);
}
