/* SPDX-License-Identifier: MIT */
/*
 * fake_host.h - an in-test svm host behind struct vsvmg_transport_ops, for
 *               the guest-shim core's unit tests.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The fake host decodes each command stream with the codec and answers it
 * the way docs/protocol.md says a device does: the stream is validated
 * before anything is applied (a malformed one is rejected with CANCELED
 * replies and INVALID_PARAMETER), commands are applied in queue order by
 * one worker thread (so the host's apply order is exactly the order in
 * which submit() was called), a failing command cancels the rest of its
 * submission, EVENT_WAIT parks until a test injects events, DESTROY and
 * CTX_DESTROY complete a parked wait with ERR_CANCELED, MAP follows the
 * STALE rule (7.2.1, with an unbounded UNMAP history) and UNMAP the SEQ
 * rule.  Each context keeps a page table (VA page -> GPA, prot), so a test
 * can compare what the device would access with the process's page table.
 *
 * Every applied command is appended to a log (global apply order), which
 * is how the tests check ordering: which MAPs landed after which UNMAP.
 *
 * With VSVM_F_DEVICE_MEMORY in caps.features, MIGRATE follows 7.8's
 * state checks and moves PTEs between guest pages (dev 0) and device
 * memory (dev = device + 1); PREFETCH answers bytes = len, or a token
 * (ASYNC) whose PREFETCH_DONE is queued at once when prefetch_done_now is
 * set.  The log records MIGRATE's location in prot and request_id in seq.
 *
 * Test knobs: hold_unmap (the worker stops before a submission holding an
 * UNMAP until released: an unacknowledged invalidation), map_status (force
 * a MAP's status), mangle (rewrite a reply before completion: a hostile
 * host), launch_park (LAUNCHes wait for fh_finish_launches()).
 *
 * Locking: h->lock guards everything; done() callbacks run without it.
 * Include after <cmocka.h>.
 */
#ifndef FAKE_HOST_H
#define FAKE_HOST_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vsvmg.h"

#define FH_MAX_CTX		       8
#define FH_MAX_PTES		       8192
#define FH_MAX_LOG		       32768
#define FH_MAX_EVENTS		       4096
#define FH_MAX_ANSWERS		       65536
#define FH_MAX_UNMAPS		       65536
#define FH_MAX_LAUNCH		       16
#define FH_LOG_RUNS		       16 /* a 64 KiB window has at most 16 */

#define FH_RESP_OK_NODATA	       0x1100
#define FH_RESP_ERR_UNSPEC	       0x1200
#define FH_RESP_ERR_INVALID_CONTEXT_ID 0x1204
#define FH_RESP_ERR_INVALID_PARAMETER  0x1205

struct fh_pte {
	__u64 va;
	__u64 gpa;
	__u32 prot;
	__u32 dev; /* device memory of device dev - 1; 0: guest page gpa */
};

/* One applied command. */
struct fh_rec {
	__u32 ctx_id;
	__u32 sub_no; /* submission number, in queue order */
	__u16 op;
	__u16 status;
	__u64 va;
	__u64 len;
	__u64 seq; /* MAP: inval_seq; UNMAP: seq */
	__u32 prot;
	__u32 nr; /* MAP: runs; FAULT_REPLY: resolutions */
	struct vsvm_run runs[FH_LOG_RUNS];
};

struct fh_answer {
	__u32 id;
	__u32 status;
	int resolved; /* matched an outstanding fault */
};

struct fh_item;

struct fh_ctx {
	int used;
	int svm; /* initialised (INIT applied) */
	__u32 id;
	__u32 context_init;
	__u64 last_seq;
	__u32 nr_unmaps;
	struct {
		__u64 seq, va, len;
	} * unmaps;	     /* history, FH_MAX_UNMAPS */
	struct fh_pte *ptes; /* FH_MAX_PTES, unordered */
	__u32 nr_ptes;
	struct vsvm_event_val *events; /* queued, FH_MAX_EVENTS */
	__u32 nr_events;
	__u32 *outstanding; /* fault ids not answered yet */
	__u32 nr_outstanding;
	struct fh_answer *answers; /* FH_MAX_ANSWERS */
	__u32 nr_answers;
	struct fh_item *wait;		       /* parked EVENT_WAIT */
	struct fh_item *launch[FH_MAX_LAUNCH]; /* parked LAUNCHes */
	__u64 attrs[VSVM_ATTR_NR];
	__u32 waits; /* EVENT_WAITs applied */
};

/* A queued submission (or a CTX_DESTROY, which is ordered with them). */
struct fh_item {
	struct fh_item *next;
	__u32 ctx_id;
	__u32 sub_no;
	int ctx_destroy;
	int *destroy_done;
	__u8 *cmds;
	__u32 len;
	void *reply;
	__u32 cap;
	struct vsvmg_submission *sub;
	/* Replies written so far (a parked item keeps its prefix). */
	__u8 *out;
	__u32 out_len;
	__u32 out_cap;
	__u32 resp_type;
	__u32 last_op;
	__u64 launch_args[VSVM_MAX_KERNEL_ARGS];
	__u32 launch_kernel;
};

struct fake_host {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any state change */
	pthread_t worker;
	int stop;

	struct vsvm_caps caps;
	/* get_capset: raw bytes instead of caps, or an error. */
	const void *capset_raw;
	__u32 capset_raw_len;
	int capset_err;
	int ctx_create_err;

	struct fh_item *head, *tail;
	__u32 next_sub;
	struct fh_ctx ctx[FH_MAX_CTX];

	struct fh_rec *log;
	__u32 nr_log;

	/* Counters, queue side (submit() caller's thread). */
	__u32 queued_subs;
	__u32 queued_unmaps;
	__u32 queued_maps;
	/* Apply side. */
	__u32 stale_refusals;
	__u32 rejected; /* streams refused whole (P10, P11) */
	__u32 completed;

	/* Knobs. */
	int hold_unmap; /* stop before an UNMAP submission */
	int hold_all;	/* stop before any submission */
	int holding;	/* the worker is stopped there */
	int launch_park;
	/*
	 * Apply every well-formed MAP, even a stale one: tests of the
	 * guest's own guarantee must not lean on the host's defence.
	 */
	int stale_rule_off;
	/* Return a status to force for a MAP, or -1 to apply normally. */
	int (*map_status)(struct fake_host *h, const struct vsvm_request *req,
			  void *arg);
	void *map_status_arg;
	/* Rewrite a reply before completion. */
	void (*mangle)(struct fake_host *h, struct fh_item *it, __u8 *reply,
		       __u32 *len, __u32 *resp_type, void *arg);
	void *mangle_arg;
	/* submit() of a stream holding this op fails with fail_err. */
	__u32 fail_op;
	int fail_err;
	/* LAUNCH outcome when not parked: status and result. */
	__u32 launch_status;
	__u64 launch_fault_va;
	/* MIGRATE with runs fails with this status when not 0. */
	__u32 migrate_status;
	int prefetch_done_now;
	__u32 next_token;
};

static inline __u64 fh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on h->cond (h->lock held) until deadline; 0 on timeout. */
static inline int fh_cond_wait_until(struct fake_host *h, __u64 deadline)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (fh_now_ms() >= deadline)
		return 0;
	ts.tv_nsec += 10 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	return 1;
}

static inline struct fh_ctx *fh_ctx_get(struct fake_host *h, __u32 id)
{
	int i;

	for (i = 0; i < FH_MAX_CTX; i++)
		if (h->ctx[i].used && h->ctx[i].id == id)
			return &h->ctx[i];
	return NULL;
}

static inline void fh_log_add(struct fake_host *h, const struct fh_rec *r)
{
	if (h->nr_log < FH_MAX_LOG)
		h->log[h->nr_log++] = *r;
}

/* ---- per-command apply ------------------------------------------------ */

static inline int fh_overlap(__u64 a, __u64 alen, __u64 b, __u64 blen)
{
	return a < b + blen && b < a + alen;
}

static inline void fh_pte_clear(struct fh_ctx *c, __u64 va, __u64 len)
{
	__u32 i = 0;

	while (i < c->nr_ptes) {
		if (c->ptes[i].va >= va && c->ptes[i].va < va + len)
			c->ptes[i] = c->ptes[--c->nr_ptes];
		else
			i++;
	}
}

static inline struct fh_pte *fh_pte_find(struct fh_ctx *c, __u64 va)
{
	__u32 i;

	for (i = 0; i < c->nr_ptes; i++)
		if (c->ptes[i].va == va)
			return &c->ptes[i];
	return NULL;
}

static inline int fh_apply_map(struct fake_host *h, struct fh_ctx *c,
			       const struct vsvm_request *req)
{
	struct vsvm_run run;
	__u64 va = req->u.map.va;
	__u32 i, j;

	if (req->u.map.nr_runs > h->caps.max_map_runs)
		return VSVM_ERR_LIMIT;
	for (i = 0; i < c->nr_unmaps && !h->stale_rule_off; i++) {
		if (c->unmaps[i].seq > req->u.map.inval_seq &&
		    fh_overlap(c->unmaps[i].va, c->unmaps[i].len, req->u.map.va,
			       req->u.map.len)) {
			h->stale_refusals++;
			return VSVM_ERR_STALE;
		}
	}
	if (h->map_status) {
		int st = h->map_status(h, req, h->map_status_arg);

		if (st >= 0)
			return st;
	}
	fh_pte_clear(c, req->u.map.va, req->u.map.len);
	for (i = 0; i < req->u.map.nr_runs; i++) {
		vsvm_request_run(req, i, &run);
		for (j = 0; j < run.len / VSVM_PAGE_SIZE; j++) {
			if (c->nr_ptes == FH_MAX_PTES)
				return VSVM_ERR_LIMIT;
			c->ptes[c->nr_ptes++] =
				(struct fh_pte){ .va = va,
						 .gpa = run.gpa +
							j * VSVM_PAGE_SIZE,
						 .prot = req->u.map.prot };
			va += VSVM_PAGE_SIZE;
		}
	}
	return VSVM_OK;
}

/* Queue an event (h->lock held); a parked EVENT_WAIT completes. */
static inline void fh_queue_event_locked(struct fake_host *h, struct fh_ctx *c,
					 const struct vsvm_event_val *ev,
					 struct fh_item **done_list);

static inline int fh_apply_migrate(struct fake_host *h, struct fh_ctx *c,
				   const struct vsvm_request *req,
				   struct vsvm_response *rsp)
{
	__u32 loc = req->u.migrate.location, i, k, moved = 0;
	__u64 va = req->u.migrate.va, len = req->u.migrate.len, off;
	struct vsvm_run run;

	if (!(h->caps.features & VSVM_F_DEVICE_MEMORY))
		return VSVM_ERR_STATE;
	if (loc != VSVM_LOC_SYSTEM && loc >= h->caps.num_devices)
		return VSVM_ERR_NODEV;
	if (!req->u.migrate.nr_runs) {
		for (i = 0; i < c->nr_ptes; i++) {
			struct fh_pte *p = &c->ptes[i];

			if (p->va < va || p->va >= va + len || !p->dev ||
			    p->dev == loc + 1)
				continue;
			p->dev = loc + 1;
			moved++;
		}
		rsp->u.migrate.bytes = (__u64)moved * VSVM_PAGE_SIZE;
		return VSVM_OK;
	}
	for (off = 0; off < len; off += VSVM_PAGE_SIZE) {
		struct fh_pte *p = fh_pte_find(c, va + off);

		if (!p || (loc == VSVM_LOC_SYSTEM) != (p->dev != 0))
			return VSVM_ERR_STATE;
	}
	if (h->migrate_status)
		return (int)h->migrate_status;
	off = 0;
	for (i = 0; i < req->u.migrate.nr_runs; i++) {
		vsvm_request_run(req, i, &run);
		for (k = 0; k < run.len / VSVM_PAGE_SIZE; k++) {
			struct fh_pte *p = fh_pte_find(c, va + off);

			if (loc == VSVM_LOC_SYSTEM) {
				p->gpa = run.gpa + k * VSVM_PAGE_SIZE;
				p->dev = 0;
			} else {
				p->gpa = 0;
				p->dev = loc + 1;
			}
			off += VSVM_PAGE_SIZE;
		}
	}
	rsp->u.migrate.bytes = len;
	return VSVM_OK;
}

static inline int fh_apply_prefetch(struct fake_host *h, struct fh_ctx *c,
				    const struct vsvm_request *req,
				    struct vsvm_response *rsp,
				    struct fh_item **done_list)
{
	struct vsvm_event_val ev = { .type = VSVM_EVENT_PREFETCH_DONE };

	if (req->u.prefetch.location != VSVM_LOC_SYSTEM &&
	    req->u.prefetch.location >= h->caps.num_devices)
		return VSVM_ERR_NODEV;
	if (!(req->u.prefetch.flags & VSVM_PREFETCH_F_ASYNC)) {
		rsp->u.prefetch.bytes = req->u.prefetch.len;
		return VSVM_OK;
	}
	if (!++h->next_token)
		h->next_token = 1;
	rsp->u.prefetch.token = h->next_token;
	if (h->prefetch_done_now) {
		ev.id = h->next_token;
		ev.va = req->u.prefetch.va;
		ev.len = req->u.prefetch.len;
		ev.device = req->u.prefetch.location;
		ev.arg = VSVM_OK;
		fh_queue_event_locked(h, c, &ev, done_list);
	}
	return VSVM_OK;
}

static inline int fh_apply_unmap(struct fh_ctx *c,
				 const struct vsvm_request *req)
{
	if (req->u.unmap.seq <= c->last_seq)
		return VSVM_ERR_SEQ;
	fh_pte_clear(c, req->u.unmap.va, req->u.unmap.len);
	c->last_seq = req->u.unmap.seq;
	if (c->nr_unmaps < FH_MAX_UNMAPS) {
		c->unmaps[c->nr_unmaps].seq = req->u.unmap.seq;
		c->unmaps[c->nr_unmaps].va = req->u.unmap.va;
		c->unmaps[c->nr_unmaps].len = req->u.unmap.len;
		c->nr_unmaps++;
	}
	return VSVM_OK;
}

static inline void fh_apply_fault_reply(struct fh_ctx *c,
					const struct vsvm_request *req,
					struct vsvm_response *rsp)
{
	struct vsvm_resolution r;
	__u32 i, k;

	for (i = 0; i < req->u.fault_reply.nr; i++) {
		int found = 0;

		vsvm_request_resolution(req, i, &r);
		for (k = 0; k < c->nr_outstanding; k++) {
			if (c->outstanding[k] == r.id) {
				c->outstanding[k] =
					c->outstanding[--c->nr_outstanding];
				found = 1;
				break;
			}
		}
		if (found)
			rsp->u.fault_reply.resolved++;
		else
			rsp->u.fault_reply.unknown++;
		if (c->nr_answers < FH_MAX_ANSWERS)
			c->answers[c->nr_answers++] =
				(struct fh_answer){ .id = r.id,
						    .status = r.status,
						    .resolved = found };
	}
}

static inline void fh_init_reply(struct fake_host *h, struct vsvm_response *rsp,
				 struct vsvm_device_val *devs)
{
	__u32 i;

	rsp->u.init.major = VSVM_PROTO_MAJOR;
	rsp->u.init.minor = VSVM_PROTO_MINOR;
	rsp->u.init.features = h->caps.features;
	rsp->u.init.va_bits = h->caps.va_bits;
	rsp->u.init.num_devices = h->caps.num_devices;
	rsp->u.init.page_sizes = h->caps.page_sizes;
	for (i = 0; i < h->caps.num_devices; i++)
		devs[i] = (struct vsvm_device_val){ .mem_size = 1ull << 30,
						    .mem_used = i * 4096,
						    .exec_units = 4 + i };
	rsp->u.init.devices = devs;
}

/* Deliver up to max events into rsp (events array owned by caller). */
static inline void fh_deliver(struct fh_ctx *c, __u32 max,
			      struct vsvm_response *rsp,
			      struct vsvm_event_val *evs)
{
	__u32 n = c->nr_events < max ? c->nr_events : max;

	memcpy(evs, c->events, n * sizeof(*evs));
	memmove(c->events, c->events + n, (c->nr_events - n) * sizeof(*evs));
	c->nr_events -= n;
	rsp->u.wait.nr_events = n;
	rsp->u.wait.pending = c->nr_events;
	rsp->u.wait.events = evs;
}

static inline void fh_out_reply(struct fh_item *it,
				const struct vsvm_response *rsp)
{
	struct vsvm_writer w;
	int ret;

	vsvm_writer_init(&w, it->out + it->out_len, it->out_cap - it->out_len);
	ret = vsvm_encode_response(&w, rsp);
	if (ret < 0) {
		fprintf(stderr, "fake host: cannot encode %s reply: %s\n",
			vsvm_op_name(rsp->op), vsvm_status_name(-ret));
		abort();
	}
	it->out_len += (__u32)ret;
}

/* Finish an item: the caller completes it once h->lock is dropped. */
static inline void fh_finish(struct fake_host *h, struct fh_item *it)
{
	__u32 len = it->out_len < it->cap ? it->out_len : it->cap;

	memcpy(it->reply, it->out, len);
	if (h->mangle)
		h->mangle(h, it, it->reply, &len, &it->resp_type,
			  h->mangle_arg);
	it->sub->resp_type = it->resp_type;
	it->sub->reply_len = len;
	h->completed++;
}

static inline void fh_item_free(struct fh_item *it)
{
	free(it->cmds);
	free(it->out);
	free(it);
}

/* Complete a finished item: done() outside the lock, as an interrupt. */
static inline void fh_complete(struct fh_item *it)
{
	struct vsvmg_submission *sub = it->sub;

	fh_item_free(it);
	sub->done(sub);
}

static inline void fh_queue_event_locked(struct fake_host *h, struct fh_ctx *c,
					 const struct vsvm_event_val *ev,
					 struct fh_item **done_list)
{
	struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
	struct vsvm_response rsp = { .op = VSVM_CMD_EVENT_WAIT };
	struct fh_item *it = c->wait;
	struct vsvm_request req;
	struct vsvm_stream s;

	if (c->nr_events < FH_MAX_EVENTS)
		c->events[c->nr_events++] = *ev;
	if (!it)
		return;
	vsvm_stream_init(&s, it->cmds, it->len);
	while (vsvm_stream_next(&s, &req) > 0)
		;
	fh_deliver(c, req.u.wait.max_events, &rsp, evs);
	fh_out_reply(it, &rsp);
	fh_finish(h, it);
	c->wait = NULL;
	it->next = *done_list;
	*done_list = it;
}

/* Cancel what DESTROY cancels; finished items go to *done_list. */
static inline void fh_destroy_ctx(struct fake_host *h, struct fh_ctx *c,
				  struct fh_item **done_list)
{
	struct vsvm_response rsp;
	int i;

	if (c->wait) {
		rsp = (struct vsvm_response){ .op = VSVM_CMD_EVENT_WAIT,
					      .status = VSVM_ERR_CANCELED };
		fh_out_reply(c->wait, &rsp);
		fh_finish(h, c->wait);
		c->wait->next = *done_list;
		*done_list = c->wait;
		c->wait = NULL;
	}
	for (i = 0; i < FH_MAX_LAUNCH; i++) {
		struct fh_item *it = c->launch[i];

		if (!it)
			continue;
		rsp = (struct vsvm_response){ .op = VSVM_CMD_LAUNCH,
					      .status = VSVM_ERR_CANCELED };
		fh_out_reply(it, &rsp);
		fh_finish(h, it);
		it->next = *done_list;
		*done_list = it;
		c->launch[i] = NULL;
	}
	c->svm = 0;
	c->nr_ptes = 0;
	c->nr_events = 0;
	c->nr_outstanding = 0;
	c->nr_unmaps = 0;
	c->last_seq = 0;
}

/*
 * Apply one command.  Return its status; *parked is set when the item
 * parks (the reply is written later).
 */
static inline int fh_apply(struct fake_host *h, struct fh_ctx *c,
			   struct fh_item *it, const struct vsvm_request *req,
			   int *parked, struct fh_item **done_list)
{
	struct vsvm_device_val devs[VSVM_MAX_DEVICES];
	struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
	struct vsvm_attr_val attrs[VSVM_MAX_ATTRS];
	struct vsvm_response rsp = { .op = req->op };
	struct fh_rec rec = { .ctx_id = c->id,
			      .sub_no = it->sub_no,
			      .op = req->op };
	__u32 i;
	int st = VSVM_OK;

	if (req->op != VSVM_CMD_INIT && !c->svm) {
		st = VSVM_ERR_STATE;
		goto out;
	}
	switch (req->op) {
	case VSVM_CMD_INIT:
		if (c->svm) {
			st = VSVM_ERR_STATE;
			break;
		}
		if (req->u.init.major != VSVM_PROTO_MAJOR) {
			st = VSVM_ERR_VERSION;
			break;
		}
		c->svm = 1;
		fh_init_reply(h, &rsp, devs);
		break;
	case VSVM_CMD_QUERY:
		fh_init_reply(h, &rsp, devs);
		break;
	case VSVM_CMD_MAP:
		rec.va = req->u.map.va;
		rec.len = req->u.map.len;
		rec.seq = req->u.map.inval_seq;
		rec.prot = req->u.map.prot;
		rec.nr = req->u.map.nr_runs;
		for (i = 0; i < rec.nr && i < FH_LOG_RUNS; i++)
			vsvm_request_run(req, i, &rec.runs[i]);
		st = fh_apply_map(h, c, req);
		break;
	case VSVM_CMD_UNMAP:
		rec.va = req->u.unmap.va;
		rec.len = req->u.unmap.len;
		rec.seq = req->u.unmap.seq;
		st = fh_apply_unmap(c, req);
		break;
	case VSVM_CMD_EVENT_WAIT:
		if (req->u.wait.max_events > h->caps.max_fault_batch) {
			st = VSVM_ERR_LIMIT;
			break;
		}
		if (c->wait) {
			st = VSVM_ERR_BUSY;
			break;
		}
		c->waits++;
		if (!c->nr_events &&
		    !(req->u.wait.flags & VSVM_WAIT_F_NONBLOCK)) {
			it->last_op = req->op;
			c->wait = it;
			*parked = 1;
			fh_log_add(h, &rec);
			return VSVM_OK;
		}
		fh_deliver(c, req->u.wait.max_events, &rsp, evs);
		break;
	case VSVM_CMD_FAULT_REPLY:
		rec.nr = req->u.fault_reply.nr;
		if (rec.nr > h->caps.max_fault_batch) {
			st = VSVM_ERR_LIMIT;
			break;
		}
		fh_apply_fault_reply(c, req, &rsp);
		break;
	case VSVM_CMD_SET_ATTR:
		for (i = 0; i < req->u.attr.nr_attrs; i++) {
			vsvm_request_attr(req, i, &attrs[0]);
			c->attrs[attrs[0].type] = attrs[0].value;
		}
		break;
	case VSVM_CMD_GET_ATTR:
		for (i = 0; i < req->u.attr.nr_attrs; i++) {
			vsvm_request_attr(req, i, &attrs[i]);
			attrs[i].value = c->attrs[attrs[i].type];
			attrs[i].flags = 0;
		}
		rsp.u.get_attr.nr_attrs = req->u.attr.nr_attrs;
		rsp.u.get_attr.attrs = attrs;
		break;
	case VSVM_CMD_LAUNCH:
		if (req->u.launch.device >= h->caps.num_devices) {
			st = VSVM_ERR_NODEV;
			break;
		}
		if (h->launch_park) {
			for (i = 0; i < FH_MAX_LAUNCH; i++)
				if (!c->launch[i])
					break;
			if (i == FH_MAX_LAUNCH) {
				st = VSVM_ERR_LIMIT;
				break;
			}
			memcpy(it->launch_args, req->u.launch.args,
			       sizeof(it->launch_args));
			it->launch_kernel = req->u.launch.kernel;
			c->launch[i] = it;
			*parked = 1;
			fh_log_add(h, &rec);
			return VSVM_OK;
		}
		st = h->launch_status;
		rsp.u.launch.result = st ? 0 : req->u.launch.args[0] + 1;
		rsp.u.launch.fault_va =
			st == VSVM_ERR_FAULT ? h->launch_fault_va : 0;
		rsp.u.launch.faults = 3;
		rsp.u.launch.elapsed_ns = 1000;
		break;
	case VSVM_CMD_MIGRATE:
		rec.va = req->u.migrate.va;
		rec.len = req->u.migrate.len;
		rec.seq = req->u.migrate.request_id;
		rec.prot = req->u.migrate.location;
		rec.nr = req->u.migrate.nr_runs;
		for (i = 0; i < rec.nr && i < FH_LOG_RUNS; i++)
			vsvm_request_run(req, i, &rec.runs[i]);
		st = fh_apply_migrate(h, c, req, &rsp);
		break;
	case VSVM_CMD_PREFETCH:
		rec.va = req->u.prefetch.va;
		rec.len = req->u.prefetch.len;
		rec.prot = req->u.prefetch.location;
		rec.nr = req->u.prefetch.flags;
		st = fh_apply_prefetch(h, c, req, &rsp, done_list);
		break;
	case VSVM_CMD_DESTROY:
		fh_destroy_ctx(h, c, done_list);
		break;
	}
out:
	rsp.status = (__u16)st;
	rec.status = (__u16)st;
	fh_log_add(h, &rec);
	fh_out_reply(it, &rsp);
	return st;
}

/* Process one item (h->lock held).  Finished items go to *done_list. */
static inline void fh_process(struct fake_host *h, struct fh_item *it,
			      struct fh_item **done_list)
{
	struct fh_ctx *c = fh_ctx_get(h, it->ctx_id);
	__u32 nr_cmds, reply_bytes, bad, i;
	struct vsvm_request req;
	struct vsvm_stream s;
	int ret, failed = 0, parked = 0;

	if (it->ctx_destroy) {
		if (c) {
			fh_destroy_ctx(h, c, done_list);
			free(c->unmaps);
			free(c->ptes);
			free(c->events);
			free(c->outstanding);
			free(c->answers);
			memset(c, 0, sizeof(*c));
		}
		*it->destroy_done = 1;
		pthread_cond_broadcast(&h->cond);
		free(it);
		return;
	}
	it->out_cap = it->len * 64 + 16 * 1024;
	it->out = calloc(1, it->out_cap);
	it->resp_type = FH_RESP_OK_NODATA;
	if (!c) {
		it->resp_type = FH_RESP_ERR_INVALID_CONTEXT_ID;
		goto done;
	}
	ret = vsvm_stream_validate(it->cmds, it->len, h->caps.num_devices,
				   &nr_cmds, &reply_bytes, &bad);
	if (!ret && it->len > h->caps.max_submit_bytes) {
		ret = -VSVM_ERR_LIMIT;
		bad = 0;
	}
	if (!ret && nr_cmds > h->caps.max_cmds) {
		ret = -VSVM_ERR_LIMIT;
		bad = h->caps.max_cmds;
	}
	if (ret || it->cap < reply_bytes)
		h->rejected++;
	if (!ret && it->cap < reply_bytes) {
		/* P10: too little reply space. */
		it->resp_type = FH_RESP_ERR_INVALID_PARAMETER;
		goto done;
	}
	if (ret) {
		/* P11: CANCELED before the bad command, its error, nothing after. */
		it->resp_type = FH_RESP_ERR_INVALID_PARAMETER;
		vsvm_stream_init(&s, it->cmds, it->len);
		for (i = 0; i <= bad; i++) {
			struct vsvm_response r = { .status =
							   VSVM_ERR_CANCELED };

			if (vsvm_stream_next(&s, &req) <= 0 && i < bad)
				break;
			r.op = req.op;
			if (i == bad)
				r.status = (__u16)-ret;
			fh_out_reply(it, &r);
		}
		goto done;
	}
	vsvm_stream_init(&s, it->cmds, it->len);
	while (vsvm_stream_next(&s, &req) > 0) {
		if (failed) {
			struct vsvm_response r = { .op = req.op,
						   .status =
							   VSVM_ERR_CANCELED };

			fh_out_reply(it, &r);
			continue;
		}
		if (fh_apply(h, c, it, &req, &parked, done_list) != VSVM_OK)
			failed = 1;
	}
	if (parked)
		return;
done:
	fh_finish(h, it);
	it->next = *done_list;
	*done_list = it;
}

static inline int fh_has_unmap(const struct fh_item *it)
{
	struct vsvm_request req;
	struct vsvm_stream s;

	if (it->ctx_destroy)
		return 0;
	vsvm_stream_init(&s, it->cmds, it->len);
	while (vsvm_stream_next(&s, &req) > 0)
		if (req.op == VSVM_CMD_UNMAP)
			return 1;
	return 0;
}

/* Complete in the order finished (the list is built newest first). */
static inline void fh_complete_list(struct fh_item *list)
{
	struct fh_item *rev = NULL;

	while (list) {
		struct fh_item *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	list = rev;
	while (list) {
		struct fh_item *next = list->next;

		fh_complete(list);
		list = next;
	}
}

static inline void *fh_worker(void *arg)
{
	struct fake_host *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct fh_item *it, *done = NULL;

		while (!h->stop && (!h->head || h->hold_all ||
				    (h->hold_unmap && fh_has_unmap(h->head)))) {
			h->holding = h->head != NULL;
			pthread_cond_broadcast(&h->cond);
			pthread_cond_wait(&h->cond, &h->lock);
		}
		h->holding = 0;
		if (h->stop)
			break;
		it = h->head;
		h->head = it->next;
		if (!h->head)
			h->tail = NULL;
		fh_process(h, it, &done);
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		fh_complete_list(done);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* ---- transport ops ------------------------------------------------------ */

static inline int fh_get_capset(void *t, void *buf, __u32 cap)
{
	struct fake_host *h = t;
	struct vsvm_writer w;
	__u8 tmp[64];
	int ret;

	if (h->capset_err)
		return h->capset_err;
	if (h->capset_raw) {
		memcpy(buf, h->capset_raw,
		       h->capset_raw_len < cap ? h->capset_raw_len : cap);
		return (int)h->capset_raw_len;
	}
	vsvm_writer_init(&w, tmp, sizeof(tmp));
	ret = vsvm_encode_capset(&w, &h->caps);
	if (ret < 0)
		return -EINVAL;
	memcpy(buf, tmp, (__u32)ret < cap ? (__u32)ret : cap);
	return ret;
}

static inline int fh_ctx_create(void *t, __u32 ctx_id, __u32 context_init)
{
	struct fake_host *h = t;
	int i, ret = -ENOSPC;

	pthread_mutex_lock(&h->lock);
	if (h->ctx_create_err) {
		ret = h->ctx_create_err;
		goto out;
	}
	if (!ctx_id || fh_ctx_get(h, ctx_id)) {
		ret = -EINVAL;
		goto out;
	}
	for (i = 0; i < FH_MAX_CTX; i++) {
		struct fh_ctx *c = &h->ctx[i];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = 1;
		c->id = ctx_id;
		c->context_init = context_init;
		c->unmaps = calloc(FH_MAX_UNMAPS, sizeof(*c->unmaps));
		c->ptes = calloc(FH_MAX_PTES, sizeof(*c->ptes));
		c->events = calloc(FH_MAX_EVENTS, sizeof(*c->events));
		c->outstanding = calloc(FH_MAX_EVENTS, sizeof(__u32));
		c->answers = calloc(FH_MAX_ANSWERS, sizeof(*c->answers));
		c->attrs[VSVM_ATTR_PREFERRED_LOC] = VSVM_LOC_UNSET;
		c->attrs[VSVM_ATTR_GRANULARITY] = 12;
		ret = 0;
		break;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static inline void fh_enqueue_locked(struct fake_host *h, struct fh_item *it)
{
	it->sub_no = h->next_sub++;
	if (h->tail)
		h->tail->next = it;
	else
		h->head = it;
	h->tail = it;
	pthread_cond_broadcast(&h->cond);
}

static inline int fh_ctx_destroy(void *t, __u32 ctx_id)
{
	struct fake_host *h = t;
	struct fh_item *it = calloc(1, sizeof(*it));
	int done = 0;

	it->ctx_id = ctx_id;
	it->ctx_destroy = 1;
	it->destroy_done = &done;
	pthread_mutex_lock(&h->lock);
	fh_enqueue_locked(h, it);
	while (!done)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static inline int fh_submit(void *t, __u32 ctx_id, const void *cmds, __u32 len,
			    void *reply, __u32 cap,
			    struct vsvmg_submission *sub)
{
	struct fake_host *h = t;
	struct fh_item *it;
	struct vsvm_request req;
	struct vsvm_stream s;

	pthread_mutex_lock(&h->lock);
	vsvm_stream_init(&s, cmds, len);
	while (h->fail_op && vsvm_stream_next(&s, &req) > 0) {
		if (req.op == h->fail_op) {
			pthread_mutex_unlock(&h->lock);
			return h->fail_err;
		}
	}
	pthread_mutex_unlock(&h->lock);
	it = calloc(1, sizeof(*it));
	it->ctx_id = ctx_id;
	it->cmds = malloc(len ? len : 1);
	memcpy(it->cmds, cmds, len);
	it->len = len;
	it->reply = reply;
	it->cap = cap;
	it->sub = sub;
	pthread_mutex_lock(&h->lock);
	vsvm_stream_init(&s, cmds, len);
	while (vsvm_stream_next(&s, &req) > 0) {
		if (req.op == VSVM_CMD_UNMAP)
			h->queued_unmaps++;
		if (req.op == VSVM_CMD_MAP)
			h->queued_maps++;
	}
	h->queued_subs++;
	fh_enqueue_locked(h, it);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static const struct vsvmg_transport_ops fh_ops = {
	.get_capset = fh_get_capset,
	.ctx_create = fh_ctx_create,
	.ctx_destroy = fh_ctx_destroy,
	.submit = fh_submit,
};

/* ---- test API ----------------------------------------------------------- */

static inline struct vsvm_caps fh_default_caps(void)
{
	return (struct vsvm_caps){
		.major = 1,
		.minor = 0,
		.features = 0,
		.num_devices = 2,
		.va_bits = 48,
		.page_sizes = 1ull << 12,
		.max_contexts = 8,
		.max_submit_bytes = VSVM_MAX_SUBMIT_BYTES,
		.max_cmds = VSVM_MAX_CMDS,
		.max_fault_batch = 64,
		.max_map_runs = VSVM_MAX_MAP_RUNS,
		.max_launches = 8,
		.max_ranges = 4096,
	};
}

static inline struct fake_host *fh_create(void)
{
	struct fake_host *h = calloc(1, sizeof(*h));

	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->caps = fh_default_caps();
	h->log = calloc(FH_MAX_LOG, sizeof(*h->log));
	h->next_sub = 1;
	pthread_create(&h->worker, NULL, fh_worker, h);
	return h;
}

static inline void fh_destroy(struct fake_host *h)
{
	struct fh_item *it;
	int i;

	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->worker, NULL);
	while ((it = h->head)) {
		h->head = it->next;
		fh_item_free(it);
	}
	for (i = 0; i < FH_MAX_CTX; i++) {
		struct fh_ctx *c = &h->ctx[i];
		int k;

		if (c->wait)
			fh_item_free(c->wait);
		for (k = 0; k < FH_MAX_LAUNCH; k++)
			if (c->launch[k])
				fh_item_free(c->launch[k]);
		free(c->unmaps);
		free(c->ptes);
		free(c->events);
		free(c->outstanding);
		free(c->answers);
	}
	free(h->log);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Queue events on a context; a parked EVENT_WAIT completes. */
static inline void fh_inject(struct fake_host *h, __u32 ctx_id,
			     const struct vsvm_event_val *ev, __u32 nr)
{
	struct fh_item *done = NULL;
	struct fh_ctx *c;
	__u32 i;

	pthread_mutex_lock(&h->lock);
	c = fh_ctx_get(h, ctx_id);
	for (i = 0; c && i < nr && c->nr_events < FH_MAX_EVENTS; i++) {
		c->events[c->nr_events++] = ev[i];
		if (ev[i].type == VSVM_EVENT_FAULT)
			c->outstanding[c->nr_outstanding++] = ev[i].id;
	}
	if (c && c->wait && c->nr_events) {
		struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
		struct vsvm_response rsp = { .op = VSVM_CMD_EVENT_WAIT };
		struct fh_item *it = c->wait;
		struct vsvm_request req;
		struct vsvm_stream s;

		/* max_events of the parked command: decode its last command. */
		vsvm_stream_init(&s, it->cmds, it->len);
		while (vsvm_stream_next(&s, &req) > 0)
			;
		fh_deliver(c, req.u.wait.max_events, &rsp, evs);
		fh_out_reply(it, &rsp);
		fh_finish(h, it);
		c->wait = NULL;
		it->next = NULL;
		done = it;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	fh_complete_list(done);
}

static inline struct vsvm_event_val fh_fault(__u32 id, __u64 va, __u32 access)
{
	return (struct vsvm_event_val){ .type = VSVM_EVENT_FAULT,
					.id = id,
					.va = va,
					.len = VSVM_PAGE_SIZE,
					.device = 0,
					.arg = access };
}

static inline void fh_inject_fault(struct fake_host *h, __u32 ctx_id, __u32 id,
				   __u64 va, __u32 access)
{
	struct vsvm_event_val ev = fh_fault(id, va, access);

	fh_inject(h, ctx_id, &ev, 1);
}

/* Status of the first applied answer to fault id, or -1. */
static inline int fh_answer_locked(struct fake_host *h, __u32 ctx_id, __u32 id)
{
	struct fh_ctx *c = fh_ctx_get(h, ctx_id);
	__u32 i;

	for (i = 0; c && i < c->nr_answers; i++)
		if (c->answers[i].id == id)
			return (int)c->answers[i].status;
	return -1;
}

/* Wait up to ms for an answer to fault id; its status or -1. */
static inline int fh_wait_answer(struct fake_host *h, __u32 ctx_id, __u32 id,
				 unsigned int ms)
{
	__u64 deadline = fh_now_ms() + ms;
	int st;

	pthread_mutex_lock(&h->lock);
	while ((st = fh_answer_locked(h, ctx_id, id)) < 0 &&
	       fh_cond_wait_until(h, deadline))
		;
	pthread_mutex_unlock(&h->lock);
	return st;
}

/* Times fault id was answered (resolutions naming it). */
static inline unsigned int fh_answer_count(struct fake_host *h, __u32 ctx_id,
					   __u32 id)
{
	struct fh_ctx *c;
	unsigned int n = 0;
	__u32 i;

	pthread_mutex_lock(&h->lock);
	c = fh_ctx_get(h, ctx_id);
	for (i = 0; c && i < c->nr_answers; i++)
		n += c->answers[i].id == id;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* Wait up to ms until the event thread parked an EVENT_WAIT. */
static inline int fh_wait_parked(struct fake_host *h, __u32 ctx_id,
				 unsigned int ms)
{
	__u64 deadline = fh_now_ms() + ms;
	struct fh_ctx *c;
	int parked;

	pthread_mutex_lock(&h->lock);
	while (!((c = fh_ctx_get(h, ctx_id)) && c->wait) &&
	       fh_cond_wait_until(h, deadline))
		;
	c = fh_ctx_get(h, ctx_id);
	parked = c && c->wait;
	pthread_mutex_unlock(&h->lock);
	return parked;
}

/* Wait up to ms until at least n UNMAPs were queued; 1 if so. */
static inline int fh_wait_unmaps_queued(struct fake_host *h, __u32 n,
					unsigned int ms)
{
	__u64 deadline = fh_now_ms() + ms;
	int ok;

	pthread_mutex_lock(&h->lock);
	while (h->queued_unmaps < n && fh_cond_wait_until(h, deadline))
		;
	ok = h->queued_unmaps >= n;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

/* Wait up to ms until the worker sits on a held UNMAP; 1 if so. */
static inline int fh_wait_holding(struct fake_host *h, unsigned int ms)
{
	__u64 deadline = fh_now_ms() + ms;
	int ok;

	pthread_mutex_lock(&h->lock);
	while (!h->holding && fh_cond_wait_until(h, deadline))
		;
	ok = h->holding;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static inline void fh_set_hold_unmap(struct fake_host *h, int hold)
{
	pthread_mutex_lock(&h->lock);
	h->hold_unmap = hold;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static inline void fh_set_hold_all(struct fake_host *h, int hold)
{
	pthread_mutex_lock(&h->lock);
	h->hold_all = hold;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Install a reply rewriter (NULL to remove) while the worker may run. */
static inline void fh_set_mangle(struct fake_host *h,
				 void (*fn)(struct fake_host *,
					    struct fh_item *, __u8 *, __u32 *,
					    __u32 *, void *),
				 void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->mangle = fn;
	h->mangle_arg = arg;
	pthread_mutex_unlock(&h->lock);
}

static inline void fh_set_map_status(struct fake_host *h,
				     int (*fn)(struct fake_host *,
					       const struct vsvm_request *,
					       void *),
				     void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->map_status = fn;
	h->map_status_arg = arg;
	pthread_mutex_unlock(&h->lock);
}

static inline void fh_set_fail_op(struct fake_host *h, __u32 op, int err)
{
	pthread_mutex_lock(&h->lock);
	h->fail_op = op;
	h->fail_err = err;
	pthread_mutex_unlock(&h->lock);
}

/* Wait up to ms until at least n MAPs were queued; 1 if so. */
static inline int fh_wait_maps_queued(struct fake_host *h, __u32 n,
				      unsigned int ms)
{
	__u64 deadline = fh_now_ms() + ms;
	int ok;

	pthread_mutex_lock(&h->lock);
	while (h->queued_maps < n && fh_cond_wait_until(h, deadline))
		;
	ok = h->queued_maps >= n;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

/* Complete every parked LAUNCH of ctx with status (result = args[0] * 2). */
static inline unsigned int fh_finish_launches(struct fake_host *h, __u32 ctx_id,
					      __u32 status)
{
	struct fh_item *done = NULL;
	struct fh_ctx *c;
	unsigned int n = 0;
	int i;

	pthread_mutex_lock(&h->lock);
	c = fh_ctx_get(h, ctx_id);
	for (i = 0; c && i < FH_MAX_LAUNCH; i++) {
		struct fh_item *it = c->launch[i];
		struct vsvm_response rsp = { .op = VSVM_CMD_LAUNCH,
					     .status = (__u16)status };

		if (!it)
			continue;
		if (status == VSVM_OK)
			rsp.u.launch.result = it->launch_args[0] * 2;
		rsp.u.launch.elapsed_ns = 42;
		fh_out_reply(it, &rsp);
		fh_finish(h, it);
		it->next = done;
		done = it;
		c->launch[i] = NULL;
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	fh_complete_list(done);
	return n;
}

/* Parked LAUNCHes of ctx. */
static inline unsigned int fh_parked_launches(struct fake_host *h, __u32 ctx_id)
{
	struct fh_ctx *c;
	unsigned int n = 0;
	int i;

	pthread_mutex_lock(&h->lock);
	c = fh_ctx_get(h, ctx_id);
	for (i = 0; c && i < FH_MAX_LAUNCH; i++)
		n += c->launch[i] != NULL;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* Copy of the host's PTE for va in ctx; 0 if none. */
static inline int fh_pte(struct fake_host *h, __u32 ctx_id, __u64 va,
			 struct fh_pte *out)
{
	struct fh_ctx *c;
	struct fh_pte *p = NULL;

	pthread_mutex_lock(&h->lock);
	c = fh_ctx_get(h, ctx_id);
	if (c)
		p = fh_pte_find(c, va);
	if (p)
		*out = *p;
	pthread_mutex_unlock(&h->lock);
	return p != NULL;
}

#endif /* FAKE_HOST_H */
