// SPDX-License-Identifier: MIT
/*
 * fault.c - device faults: resolve from the context's map, or forward to
 *           the guest in batches, and wait for its answer.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Fault path
 *
 *   execution unit                 ctx (lock held)             guest
 *   miss at va ---------------->  va in ctx->maps?
 *                                  yes: vm_map() that page's 2 MiB
 *   <------------- replay ------   window on this device (minor)
 *                                  no: find/queue a vp_fault for the
 *                                  page (dedup), deliver to the parked
 *   sleeps on ctx->cond            EVENT_WAIT -------------------->
 *                                                  MAP ..., FAULT_REPLY
 *                                  FAULT_REPLY marks it DONE <-----
 *   <------------- wakes ------   (status 0: loop, the map now has it)
 *
 * A fault record collects every unit waiting on its page; the last waiter
 * to see it DONE frees it.  A DONE record with status 0 means "try again",
 * never "mapped": if the guest answered OK without mapping (or an UNMAP
 * raced), the replay simply misses again and a new record is queued.  So
 * no answer can install anything by itself; only MAP does, in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "context.h"

#define SZ_2M (2ull << 20)

static bool prot_allows(uint32_t prot, enum vp_access access)
{
	switch (access) {
	case VP_ACCESS_READ:
		return prot & VSVM_PROT_READ;
	case VP_ACCESS_WRITE:
		return prot & VSVM_PROT_WRITE;
	case VP_ACCESS_ATOMIC:
		return prot & VSVM_PROT_ATOMIC;
	}
	return false;
}

/* Device-access attribute limits what the guest's prot allows. */
static uint32_t attr_limit_prot(struct vp_ctx *ctx, uint64_t va,
				uint32_t prot)
{
	const struct vp_range *a = vp_range_map_find(&ctx->attrs, va);

	return a ? vp_attr_limit_prot(ATTR_ACCESS(a->val.word[0]), prot) : prot;
}

/* Does any part of [start, end) carry a DEVICE_ACCESS limit? */
static bool access_limited(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	const struct vp_range *a;

	for (a = vp_range_map_first_after(&ctx->attrs, start);
	     a && a->start < end; a = vp_range_map_next(a))
		if (ATTR_ACCESS(a->val.word[0]) != VSVM_DEVICE_ACCESS_RW)
			return true;
	return false;
}

/*
 * Install the PTEs of the mapped range around va on vm: up to the 2 MiB
 * window containing va, so the device can use a huge entry where the
 * guest RAM behind it is contiguous.  Caller holds ctx->lock.
 */
static int map_window(struct vp_ctx *ctx, uint32_t dev,
		      const struct vp_range *r, uint64_t va)
{
	const struct vp_device_ops *ops = ctx->cfg->devices[dev]->ops;
	uint64_t start = va & ~(SZ_2M - 1), end = start + SZ_2M;

	if (start < r->start)
		start = r->start;
	if (end > r->end)
		end = r->end;
	/* A DEVICE_ACCESS limit anywhere in the window: keep to va's page. */
	if (access_limited(ctx, start, end)) {
		start = va;
		end = va + VSVM_PAGE_SIZE;
	}
	/* PTEs point where the data lives now (migrate.c: Residency). */
	if (!vp_ctx_install(ctx, dev, start, end))
		return 0;
	/*
	 * Device memory ran out for page tables.  A kernel never fails for
	 * that: give back replicas and this context's other PTEs on dev (they
	 * come back on the next miss), then map just the page, moving this
	 * context's data to peers while that still does not fit.
	 */
	vp_ctx_drop_replicas(ctx, dev);
	ops->vm_unmap(ctx->vms[dev], 0, 1ull << ctx->va_bits);
	/* Still full: move this context's data off dev, to a peer. */
	while (vp_ctx_install(ctx, dev, va, va + VSVM_PAGE_SIZE))
		if (!vp_policy_evacuate(ctx, dev))
			return -ENOMEM;
	return 0;
}

static struct vp_fault *find_fault(struct vp_ctx *ctx, uint64_t va)
{
	struct vp_fault *f;

	for (f = ctx->faults; f; f = f->next)
		if (f->va == va && f->state != VP_FAULT_DONE)
			return f;
	return NULL;
}

static void free_fault(struct vp_ctx *ctx, struct vp_fault *dead)
{
	struct vp_fault **p, *prev = NULL;

	for (p = &ctx->faults; *p; prev = *p, p = &(*p)->next) {
		if (*p == dead) {
			*p = dead->next;
			if (ctx->faults_tail == dead)
				ctx->faults_tail = prev;
			ctx->nr_faults--;
			free(dead);
			return;
		}
	}
}

static struct vp_fault *queue_fault(struct vp_ctx *ctx, uint64_t va,
				    uint32_t device, enum vp_access access)
{
	struct vp_fault *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->va = va;
	f->device = device;
	f->access = access;
	f->state = VP_FAULT_QUEUED;
	if (++ctx->next_fault_id == 0)
		ctx->next_fault_id = 1;
	f->id = ctx->next_fault_id;
	/* Appended: the list stays oldest first for delivery. */
	if (ctx->faults_tail)
		ctx->faults_tail->next = f;
	else
		ctx->faults = f;
	ctx->faults_tail = f;
	ctx->nr_faults++;
	ctx->nr_queued++;
	ctx->stats.faults_forwarded++;
	return f;
}

/* Answer a fault; ctx->lock held.  The only way a record becomes DONE. */
static void fault_done(struct vp_ctx *ctx, struct vp_fault *f, int status)
{
	if (f->state == VP_FAULT_QUEUED)
		ctx->nr_queued--;
	f->state = VP_FAULT_DONE;
	f->status = status;
}

/*
 * Execution units are shared by every VM on a device, and an EU waits here
 * synchronously: a guest that never answers would starve the others.  So
 * an answer that takes longer than this fails the fault (the launch ends
 * with VSVM_ERR_FAULT); a late FAULT_REPLY then counts as unknown.
 */
#define VP_FAULT_TIMEOUT_S 30

static void wait_answer(struct vp_ctx *ctx, struct vp_fault *f)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += VP_FAULT_TIMEOUT_S;
	while (f->state != VP_FAULT_DONE) {
		if (pthread_cond_timedwait(&ctx->cond, &ctx->lock, &deadline) ==
		    ETIMEDOUT && f->state != VP_FAULT_DONE) {
			fault_done(ctx, f, -VSVM_ERR_FAULT);
			pthread_cond_broadcast(&ctx->cond);
		}
	}
}

static void complete_unlocked(struct vp_ctx *ctx, struct vp_submit *s)
{
	pthread_mutex_unlock(&ctx->lock);
	if (s)
		s->complete(s);
	pthread_mutex_lock(&ctx->lock);
}

/**
 * vp_ctx_fault - the vp_fault_fn of every VM of a context
 * @owner: the context
 * @vm: the faulting device's VM
 * @va: the address that missed (page aligned by the device)
 * @access: what the device tried
 *
 * Return: 0 to replay, or a negated vsvm_status failing the launch.
 */
int vp_ctx_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		 enum vp_access access)
{
	struct vp_ctx *ctx = owner;
	const struct vp_range *r;
	struct vp_fault *f;
	uint32_t dev;
	int ret;

	va &= ~(uint64_t)(VSVM_PAGE_SIZE - 1);
	for (dev = 0; dev < ctx->cfg->num_devices; dev++)
		if (ctx->vms[dev] == vm)
			break;
	pthread_mutex_lock(&ctx->lock);
	for (;;) {
		if (ctx->dying || !ctx->initialised) {
			ret = -VSVM_ERR_CANCELED;
			break;
		}
		r = vp_range_map_find(&ctx->maps, va);
		if (r) {
			uint32_t prot = attr_limit_prot(ctx, va,
							(uint32_t)r->val.word[0]);

			if (prot_allows((uint32_t)r->val.word[0], access) &&
			    !prot_allows(prot, access)) {
				/* DEVICE_ACCESS forbids it: no guest can help. */
				ret = -VSVM_ERR_FAULT;
				break;
			}
			if (!prot_allows(prot, access)) {
				/* e.g. copy-on-write: the guest must act. */
				r = NULL;
			} else {
				const struct vp_device_ops *ops =
					ctx->cfg->devices[dev]->ops;

				/*
				 * Another EU of this device resolved it while
				 * this one waited for the lock: replay, and do
				 * not count it twice.
				 */
				if (ops->vm_lookup &&
				    prot_allows(ops->vm_lookup(vm, va), access)) {
					ret = 0;
					break;
				}
				/* Placement first: PTEs then go where it is. */
				vp_policy_fault(ctx, dev, va, access, r->start,
						r->end);
				ret = map_window(ctx, dev, r, va);
				if (!ret)
					ctx->stats.faults_minor++;
				else
					ret = -VSVM_ERR_NOMEM;
				break;
			}
		}
		f = find_fault(ctx, va);
		if (!f) {
			if (ctx->nr_faults >= VP_MAX_FAULTS) {
				pthread_cond_wait(&ctx->cond, &ctx->lock);
				continue;
			}
			f = queue_fault(ctx, va, dev, access);
			ctx->stats.dev_faults[dev]++;
			if (!f) {
				ret = -VSVM_ERR_NOMEM;
				break;
			}
			/* Counted before the lock drops: cancel frees idle ones. */
			f->waiters++;
			complete_unlocked(ctx, vp_ctx_deliver_events(ctx));
		} else {
			if (f->state == VP_FAULT_QUEUED && access > f->access)
				f->access = access;
			f->waiters++;
		}
		wait_answer(ctx, f);
		ret = f->status;
		if (--f->waiters == 0)
			free_fault(ctx, f);
		/* Room for a new record may have been made. */
		pthread_cond_broadcast(&ctx->cond);
		if (ret) {
			ctx->stats.faults_failed++;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	return ret;
}

static uint32_t pending_events(struct vp_ctx *ctx)
{
	return ctx->misc_len + ctx->nr_queued;
}

/* Fill an EVENT_WAIT reply with up to max events; ctx->lock held. */
static void take_events(struct vp_ctx *ctx, uint32_t max,
			struct vsvm_event_val *ev, uint32_t *nr)
{
	struct vp_fault *f;
	uint32_t i, n = 0;

	for (i = 0; i < ctx->misc_len && n < max; i++)
		ev[n++] = ctx->misc[i];
	/* Keep the events that did not fit, in order. */
	for (i = n; i < ctx->misc_len; i++)
		ctx->misc[i - n] = ctx->misc[i];
	ctx->misc_len -= n;
	/* Oldest faults first: the list is in arrival order. */
	for (f = ctx->faults; f && n < max && ctx->nr_queued; f = f->next) {
		if (f->state != VP_FAULT_QUEUED)
			continue;
		f->state = VP_FAULT_DELIVERED;
		ctx->nr_queued--;
		ev[n++] = (struct vsvm_event_val){
			.type = VSVM_EVENT_FAULT,
			.id = f->id,
			.va = f->va,
			.len = VSVM_PAGE_SIZE,
			.device = f->device,
			.arg = f->access,
		};
	}
	*nr = n;
}

static void finish_wait(struct vp_ctx *ctx, struct vp_submit *s,
			uint32_t max)
{
	struct vsvm_event_val ev[VSVM_MAX_FAULT_BATCH];
	struct vsvm_response rsp = { .op = VSVM_CMD_EVENT_WAIT };

	take_events(ctx, max, ev, &rsp.u.wait.nr_events);
	rsp.u.wait.pending = pending_events(ctx);
	rsp.u.wait.events = ev;
	vp_submit_finish(s, &rsp);
}

struct vp_submit *vp_ctx_deliver_events(struct vp_ctx *ctx)
{
	struct vp_submit *s = ctx->parked_wait;

	if (!s || !pending_events(ctx))
		return NULL;
	ctx->parked_wait = NULL;
	finish_wait(ctx, s, ctx->parked_max_events);
	return s;
}

/* Called with ctx->lock held, from vp_ctx_apply(). */
int vp_ctx_event_wait(struct vp_ctx *ctx, const struct vsvm_request *req,
		      struct vsvm_writer *w, struct vp_submit *s)
{
	uint32_t max = req->u.wait.max_events;

	if (max > ctx->cfg->max_fault_batch)
		return -VSVM_ERR_LIMIT;
	if (ctx->parked_wait)
		return -VSVM_ERR_BUSY;
	if (pending_events(ctx) || (req->u.wait.flags & VSVM_WAIT_F_NONBLOCK)) {
		struct vsvm_event_val ev[VSVM_MAX_FAULT_BATCH];
		struct vsvm_response rsp = { .op = VSVM_CMD_EVENT_WAIT };

		take_events(ctx, max, ev, &rsp.u.wait.nr_events);
		rsp.u.wait.pending = pending_events(ctx);
		rsp.u.wait.events = ev;
		return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
	}
	/* Park: the reply stream so far stays in s->reply. */
	s->reply_len = w->off;
	ctx->parked_wait = s;
	ctx->parked_max_events = max;
	return 1;
}

int vp_ctx_fault_reply(struct vp_ctx *ctx, const struct vsvm_request *req,
		       struct vsvm_writer *w)
{
	struct vsvm_response rsp = { .op = VSVM_CMD_FAULT_REPLY };
	struct vsvm_resolution res;
	struct vp_fault *f;
	uint32_t i;

	for (i = 0; i < req->u.fault_reply.nr; i++) {
		vsvm_request_resolution(req, i, &res);
		for (f = ctx->faults; f; f = f->next)
			if (f->id == res.id && f->state != VP_FAULT_DONE)
				break;
		if (!f) {
			rsp.u.fault_reply.unknown++;
			continue;
		}
		fault_done(ctx, f, res.status == VSVM_OK ? 0 : -(int)res.status);
		rsp.u.fault_reply.resolved++;
	}
	pthread_cond_broadcast(&ctx->cond);
	return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
}

void vp_ctx_queue_event(struct vp_ctx *ctx, const struct vsvm_event_val *ev)
{
	if (ctx->misc_len == ctx->misc_cap &&
	    ctx->misc_cap < VP_MAX_MISC_EVENTS) {
		uint32_t cap = ctx->misc_cap ? 2 * ctx->misc_cap : 16;
		struct vsvm_event_val *n;

		if (cap > VP_MAX_MISC_EVENTS)
			cap = VP_MAX_MISC_EVENTS;
		n = realloc(ctx->misc, cap * sizeof(*n));
		if (n) {
			ctx->misc = n;
			ctx->misc_cap = cap;
		}
	}
	/*
	 * Bounded: room for every outstanding request and prefetch, so only
	 * a guest that never waits (or out of memory) loses the oldest.
	 */
	if (!ctx->misc_cap)
		return;
	if (ctx->misc_len == ctx->misc_cap) {
		uint32_t i;

		for (i = 1; i < ctx->misc_len; i++)
			ctx->misc[i - 1] = ctx->misc[i];
		ctx->misc_len--;
	}
	ctx->misc[ctx->misc_len++] = *ev;
}

struct vp_submit *vp_ctx_cancel_faults(struct vp_ctx *ctx)
{
	struct vp_submit *s = ctx->parked_wait;
	struct vp_fault *f, *next;

	for (f = ctx->faults; f; f = next) {
		next = f->next;
		fault_done(ctx, f, -VSVM_ERR_CANCELED);
		/* Nobody sleeps on it: nobody else will free it. */
		if (!f->waiters)
			free_fault(ctx, f);
	}
	ctx->misc_len = 0;
	pthread_cond_broadcast(&ctx->cond);
	ctx->parked_wait = NULL;
	if (s) {
		struct vsvm_response rsp = {
			.op = VSVM_CMD_EVENT_WAIT,
			.status = VSVM_ERR_CANCELED,
		};

		vp_submit_finish(s, &rsp);
	}
	return s;
}
