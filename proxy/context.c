// SPDX-License-Identifier: MIT
/*
 * context.c - apply a guest process's svm commands to its context.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * One function per command, each given a command the codec has validated
 * (syntax) and checking what needs the context (state, va_bits, devices,
 * the memory table, limits).  A handler that fails changes nothing and
 * returns the status; svm.c then cancels the rest of the submission.
 * Locking: see context.h.  Every handler but DESTROY runs under ctx->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"

#define SZ_2M (2ull << 20)

static const struct vp_range_val attr_default = {
	.word = { VP_ATTR_DEFAULT_WORD, 0 },
};

static const struct vp_device_ops *dev_ops(struct vp_ctx *ctx, uint32_t i)
{
	return ctx->cfg->devices[i]->ops;
}

struct vp_ctx *vp_ctx_create(const struct vp_svm_config *cfg,
			     const struct vp_memtable *mt, uint32_t id)
{
	struct vp_ctx *ctx = calloc(1, sizeof(*ctx));
	uint32_t i;

	if (!ctx)
		return NULL;
	ctx->cfg = cfg;
	ctx->mt = mt;
	ctx->id = id;
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->cond, NULL);
	vp_range_map_init(&ctx->maps, true, cfg->max_ranges);
	vp_range_map_init(&ctx->attrs, false, cfg->max_ranges);
	vp_range_map_init(&ctx->res, true, 0);
	for (i = 0; i < VSVM_MAX_DEVICES; i++)
		vp_range_map_init(&ctx->reps[i], true, 0);
	ctx->policy = cfg->policy ? cfg->policy : &vp_policy_defaults;
	return ctx;
}

void vp_ctx_free(struct vp_ctx *ctx)
{
	vp_ctx_reset(ctx);
	free(ctx->misc);
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

void vp_ctx_cancel(struct vp_ctx *ctx)
{
	struct vp_submit *s;
	uint32_t i;

	pthread_mutex_lock(&ctx->lock);
	if (!ctx->initialised || ctx->dying) {
		pthread_mutex_unlock(&ctx->lock);
		return;
	}
	ctx->dying = true;
	s = vp_ctx_cancel_faults(ctx);
	for (i = 0; i < ctx->cfg->num_devices; i++)
		dev_ops(ctx, i)->vm_cancel(ctx->vms[i]);
	pthread_mutex_unlock(&ctx->lock);
	if (s)
		s->complete(s);
}

void vp_ctx_reset(struct vp_ctx *ctx)
{
	uint32_t i;

	vp_ctx_cancel(ctx);
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->initialised) {
		pthread_mutex_unlock(&ctx->lock);
		return;
	}
	/* Cancelled launches end at their next chunk, or in the fault path. */
	while (ctx->launches)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	for (i = 0; i < ctx->cfg->num_devices; i++) {
		dev_ops(ctx, i)->vm_destroy(ctx->vms[i]);
		ctx->vms[i] = NULL;
	}
	/* No PTE is left anywhere: device memory can go back. */
	vp_ctx_release_all(ctx);
	vp_range_map_clear(&ctx->maps);
	vp_range_map_clear(&ctx->attrs);
	ctx->last_unmap_seq = 0;
	ctx->hist_len = 0;
	ctx->hist_next = 0;
	ctx->initialised = false;
	ctx->dying = false;
	pthread_mutex_unlock(&ctx->lock);
}

void vp_ctx_drop_mappings(struct vp_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	if (ctx->initialised) {
		vp_range_map_clear(&ctx->maps);
		vp_ctx_unmap_all(ctx, 0, 1ull << ctx->va_bits);
		vp_ctx_release(ctx, 0, 1ull << ctx->va_bits);
	}
	pthread_mutex_unlock(&ctx->lock);
}

static void fill_devices(struct vp_ctx *ctx, struct vsvm_device_val *dv)
{
	struct vp_device_info info;
	struct vp_vm_stats st;
	uint32_t i;

	for (i = 0; i < ctx->cfg->num_devices; i++) {
		dev_ops(ctx, i)->info(ctx->cfg->devices[i], &info);
		dev_ops(ctx, i)->vm_stats(ctx->vms[i], &st);
		dv[i].mem_size = info.mem_size;
		/* Page tables and data live in device memory, like a GPU's. */
		dv[i].mem_used = st.pt_bytes + ctx->data_bytes[i];
		dv[i].exec_units = info.exec_units;
	}
}

static int reply_init(struct vp_ctx *ctx, uint16_t op, struct vsvm_writer *w)
{
	struct vsvm_device_val dv[VSVM_MAX_DEVICES];
	struct vsvm_response rsp = { .op = op };

	fill_devices(ctx, dv);
	rsp.u.init.major = VSVM_PROTO_MAJOR;
	rsp.u.init.minor = ctx->minor;
	rsp.u.init.features = ctx->features;
	rsp.u.init.va_bits = ctx->va_bits;
	rsp.u.init.num_devices = ctx->cfg->num_devices;
	rsp.u.init.page_sizes = VSVM_PAGE_SIZE | SZ_2M;
	rsp.u.init.devices = dv;
	return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
}

static int cmd_init(struct vp_ctx *ctx, const struct vsvm_request *req,
		    struct vsvm_writer *w)
{
	uint32_t va_bits = req->u.init.va_bits, i;
	int ret;

	if (ctx->initialised)
		return -VSVM_ERR_STATE;
	if (req->u.init.major != VSVM_PROTO_MAJOR)
		return -VSVM_ERR_VERSION;
	if (!va_bits)
		va_bits = ctx->cfg->va_bits;
	if (va_bits > ctx->cfg->va_bits)
		return -VSVM_ERR_LIMIT;
	for (i = 0; i < ctx->cfg->num_devices; i++) {
		ret = dev_ops(ctx, i)->vm_create(ctx->cfg->devices[i], va_bits,
						 ctx, vp_ctx_fault,
						 &ctx->vms[i]);
		if (ret)
			goto err_destroy;
	}
	ctx->va_bits = va_bits;
	ctx->features = vp_devices_features(ctx->cfg);
	/* min(guest, host); the host serves minor VSVM_PROTO_MINOR. */
	ctx->minor = VSVM_PROTO_MINOR;
	if (req->u.init.minor + 0u < ctx->minor + 0u)
		ctx->minor = req->u.init.minor;
	ctx->initialised = true;
	return reply_init(ctx, VSVM_CMD_INIT, w);

err_destroy:
	while (i--) {
		dev_ops(ctx, i)->vm_destroy(ctx->vms[i]);
		ctx->vms[i] = NULL;
	}
	return -VSVM_ERR_NOMEM;
}

/* Did an UNMAP newer than seq overlap [start, end)?  (protocol: STALE) */
static bool map_is_stale(struct vp_ctx *ctx, uint64_t seq, uint64_t start,
			 uint64_t end)
{
	uint32_t i;

	if (seq >= ctx->last_unmap_seq)
		return false;
	/* The history lost some UNMAPs newer than seq: be conservative. */
	if (ctx->hist_len == VP_UNMAP_HISTORY) {
		uint32_t oldest = ctx->hist_next;

		if (ctx->hist[oldest].seq > seq + 1)
			return true;
	}
	for (i = 0; i < ctx->hist_len; i++) {
		const struct vp_unmap_rec *u = &ctx->hist[i];

		if (u->seq > seq && u->start < end && start < u->end)
			return true;
	}
	return false;
}

/* One piece of a MAP: a VA range backed by one memory region. */
struct map_piece {
	uint64_t va;
	uint64_t len;
	uint64_t hva;
};

/*
 * Cut the runs at region boundaries (a run may cross regions adjacent in
 * GPA: the guest cannot see them).  Return the number of pieces, or a
 * negated vsvm_status if a byte is outside guest RAM or too many pieces.
 */
static int map_pieces(struct vp_ctx *ctx, const struct vsvm_request *req,
		      struct map_piece *pc, uint32_t max)
{
	uint64_t va = req->u.map.va;
	struct vsvm_run run;
	uint32_t i, n = 0;

	for (i = 0; i < req->u.map.nr_runs; i++) {
		vsvm_request_run(req, i, &run);
		while (run.len) {
			uint64_t avail;
			void *hva = vp_memtable_gpa_extent(ctx->mt, run.gpa,
							   &avail);

			if (!hva)
				return -VSVM_ERR_RANGE;
			if (n == max)
				return -VSVM_ERR_LIMIT;
			if (avail > run.len)
				avail = run.len;
			pc[n++] = (struct map_piece){ va, avail,
						      (uint64_t)(uintptr_t)hva };
			va += avail;
			run.gpa += avail;
			run.len -= avail;
		}
	}
	return (int)n;
}

/* Pieces a MAP may become: every run split at most at a few regions. */
#define MAP_MAX_PIECES (2 * VSVM_MAX_MAP_RUNS)

static int cmd_map(struct vp_ctx *ctx, const struct vsvm_request *req,
		   struct vsvm_writer *w)
{
	uint64_t va = req->u.map.va, end = va + req->u.map.len;
	struct vp_range_val val = { .word = { req->u.map.prot, 0 } };
	struct vp_range_map *m = &ctx->maps;
	struct map_piece *pc;
	int n, i;

	if (vsvm_check_range(va, req->u.map.len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	if (map_is_stale(ctx, req->u.map.inval_seq, va, end)) {
		ctx->stats.map_stale++;
		return -VSVM_ERR_STALE;
	}
	pc = malloc(MAP_MAX_PIECES * sizeof(*pc));
	if (!pc)
		return -VSVM_ERR_NOMEM;
	/* Every GPA must be guest RAM of this VM before anything changes. */
	n = map_pieces(ctx, req, pc, MAP_MAX_PIECES);
	if (n < 0)
		goto out;
	if (m->limit && m->count + 2 * (uint64_t)n + 2 > m->limit) {
		n = -VSVM_ERR_LIMIT;
		goto out;
	}
	/* A remap replaces: old PTEs go (and drain) before new ones exist. */
	{
		const struct vp_range *old = vp_range_map_first_after(m, va);

		if (old && old->start < end) {
			vp_ctx_unmap_all(ctx, va, req->u.map.len);
			/* Device memory that backed the old mapping goes. */
			vp_ctx_release(ctx, va, end);
		}
	}
	for (i = 0; i < n; i++) {
		val.base = pc[i].hva;
		if (vp_range_map_set(m, pc[i].va, pc[i].va + pc[i].len, &val)) {
			/* Leave the range unmapped: devices fault, safely. */
			vp_range_map_remove(m, va, end);
			n = -VSVM_ERR_NOMEM;
			goto out;
		}
	}
	/* ACCESSED_BY devices map it now, so they never fault on it. */
	vp_ctx_map_accessed_by(ctx, va, end);
	ctx->stats.maps++;
	ctx->stats.map_bytes += req->u.map.len;
	n = vsvm_encode_response(w, &(struct vsvm_response){
					    .op = VSVM_CMD_MAP }) < 0 ?
		    -VSVM_ERR_UNSPEC :
		    0;
out:
	free(pc);
	return n < 0 ? n : 0;
}

static int cmd_unmap(struct vp_ctx *ctx, const struct vsvm_request *req,
		     struct vsvm_writer *w)
{
	uint64_t va = req->u.unmap.va, len = req->u.unmap.len;
	struct vp_unmap_rec *u;

	if (vsvm_check_range(va, len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	if (req->u.unmap.seq <= ctx->last_unmap_seq)
		return -VSVM_ERR_SEQ;
	/*
	 * An UNMAP that passed its checks must not fail: the guest frees the
	 * pages after it.  Without memory to split a straddling range, drop
	 * the straddling ranges whole; devices then fault on the extra part
	 * and the guest maps it again.
	 */
	if (vp_range_map_remove(&ctx->maps, va, va + len) < 0) {
		uint64_t ws, we;

		vp_range_map_remove_whole(&ctx->maps, va, va + len, &ws, &we);
		vp_ctx_unmap_all(ctx, ws, we - ws);
		vp_ctx_release(ctx, ws, we);
	}
	/* Returns when no device access can reach the old pages. */
	vp_ctx_unmap_all(ctx, va, len);
	/* Only then may the device memory behind them be reused. */
	vp_ctx_release(ctx, va, va + len);
	ctx->last_unmap_seq = req->u.unmap.seq;
	u = &ctx->hist[ctx->hist_next];
	u->seq = req->u.unmap.seq;
	u->start = va;
	u->end = va + len;
	ctx->hist_next = (ctx->hist_next + 1) % VP_UNMAP_HISTORY;
	if (ctx->hist_len < VP_UNMAP_HISTORY)
		ctx->hist_len++;
	ctx->stats.unmaps++;
	return vsvm_encode_response(w, &(struct vsvm_response){
					       .op = VSVM_CMD_UNMAP }) < 0 ?
		       -VSVM_ERR_UNSPEC :
		       0;
}

static int check_attr_devices(struct vp_ctx *ctx, const struct vsvm_attr_val *a)
{
	uint32_t n = ctx->cfg->num_devices;

	if (a->type == VSVM_ATTR_PREFERRED_LOC && a->value < VSVM_MAX_DEVICES &&
	    a->value >= n)
		return -VSVM_ERR_NODEV;
	if (a->type == VSVM_ATTR_ACCESSED_BY && n < 64 && (a->value >> n))
		return -VSVM_ERR_NODEV;
	return 0;
}

static void apply_attr(struct vp_range_val *v, const struct vsvm_attr_val *a)
{
	uint64_t w = v->word[0];
	uint32_t loc = ATTR_LOC(w), rm = ATTR_READ_MOSTLY(w);
	uint32_t gran = ATTR_GRAN(w), acc = ATTR_ACCESS(w);

	switch (a->type) {
	case VSVM_ATTR_PREFERRED_LOC:
		loc = (uint32_t)a->value;
		break;
	case VSVM_ATTR_ACCESSED_BY:
		v->word[1] = a->value;
		break;
	case VSVM_ATTR_READ_MOSTLY:
		rm = (uint32_t)a->value;
		break;
	case VSVM_ATTR_GRANULARITY:
		gran = (uint32_t)a->value;
		break;
	case VSVM_ATTR_DEVICE_ACCESS:
		acc = (uint32_t)a->value;
		break;
	}
	v->word[0] = ATTR_PACK(loc, rm, gran, acc);
}

static bool is_default(const struct vp_range_val *v)
{
	return v->word[0] == attr_default.word[0] &&
	       v->word[1] == attr_default.word[1];
}

/*
 * One piece of a SET_ATTR: old value (or the default in a gap) with the
 * command's attributes applied.  Default-valued pieces are removed so the
 * map holds only what differs from the defaults.
 */
static int set_attr_piece(struct vp_ctx *ctx, const struct vsvm_request *req,
			  uint64_t start, uint64_t end,
			  const struct vp_range_val *old)
{
	struct vp_range_val v = *old;
	struct vsvm_attr_val a;
	uint32_t i;

	for (i = 0; i < req->u.attr.nr_attrs; i++) {
		vsvm_request_attr(req, i, &a);
		apply_attr(&v, &a);
	}
	if (is_default(&v))
		return vp_range_map_remove(&ctx->attrs, start, end) < 0 ?
			       -VSVM_ERR_NOMEM : 0;
	switch (vp_range_map_set(&ctx->attrs, start, end, &v)) {
	case 0:
		return 0;
	case -ENOSPC:
		return -VSVM_ERR_LIMIT;
	}
	return -VSVM_ERR_NOMEM;
}

/* set_attr_effects(): bit n = attribute type n was set; and this one. */
#define SET_ATTR_TO_SYSTEM (1u << 31)

/*
 * What a SET_ATTR does besides recording (docs/memory-hints.md).  The
 * mapping never changes; PTEs do where the new rules ask for it.
 */
static void set_attr_effects(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			     uint32_t types)
{
	/*
	 * DEVICE_ACCESS may have shrunk, and READ_MOSTLY off means no more
	 * replicas: drop the PTEs so that they come back under the new rules.
	 */
	if (types & (1u << VSVM_ATTR_DEVICE_ACCESS | 1u << VSVM_ATTR_READ_MOSTLY))
		vp_ctx_unmap_all(ctx, va, end - va);
	if ((types & 1u << VSVM_ATTR_READ_MOSTLY) &&
	    vp_ctx_has_replicas(ctx, va, end)) {
		uint64_t cur = va, stop;
		const struct vp_range *a;

		/* Replicas survive only where READ_MOSTLY is still 1. */
		for (; cur < end; cur = stop) {
			a = vp_range_map_first_after(&ctx->attrs, cur);
			if (a && a->start <= cur) {
				stop = a->end < end ? a->end : end;
				if (ATTR_READ_MOSTLY(a->val.word[0]))
					continue;
			} else {
				stop = a && a->start < end ? a->start : end;
			}
			vp_ctx_collapse(ctx, cur, stop);
		}
	}
	/* A new ACCESSED_BY mask maps its devices at once. */
	if (types & (1u << VSVM_ATTR_ACCESSED_BY |
		     1u << VSVM_ATTR_DEVICE_ACCESS | 1u << VSVM_ATTR_READ_MOSTLY))
		vp_ctx_map_accessed_by(ctx, va, end);
	/* SYSTEM preferred: no device fault would ever bring data back. */
	if (types & SET_ATTR_TO_SYSTEM)
		vp_ctx_request_range(ctx, va, end, VSVM_LOC_SYSTEM);
}

static int cmd_set_attr(struct vp_ctx *ctx, const struct vsvm_request *req,
			struct vsvm_writer *w)
{
	uint64_t cur = req->u.attr.va, end = cur + req->u.attr.len;
	struct vsvm_attr_val a;
	uint32_t i, types = 0;
	int ret;

	if (vsvm_check_range(cur, req->u.attr.len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	for (i = 0; i < req->u.attr.nr_attrs; i++) {
		vsvm_request_attr(req, i, &a);
		ret = check_attr_devices(ctx, &a);
		if (ret)
			return ret;
		types |= 1u << a.type;
		if (a.type == VSVM_ATTR_PREFERRED_LOC &&
		    a.value == VSVM_LOC_SYSTEM)
			types |= SET_ATTR_TO_SYSTEM;
	}
	/* Walk entries and gaps in order; each piece is set on its own. */
	while (cur < end) {
		const struct vp_range *r =
			vp_range_map_first_after(&ctx->attrs, cur);
		struct vp_range_val old = attr_default;
		uint64_t stop = end;

		if (r && r->start <= cur) {
			old = r->val;
			stop = r->end < end ? r->end : end;
		} else if (r && r->start < end) {
			stop = r->start;
		}
		ret = set_attr_piece(ctx, req, cur, stop, &old);
		if (ret)
			return ret;
		cur = stop;
	}
	set_attr_effects(ctx, req->u.attr.va, end, types);
	return vsvm_encode_response(w, &(struct vsvm_response){
					       .op = VSVM_CMD_SET_ATTR }) < 0 ?
		       -VSVM_ERR_UNSPEC :
		       0;
}

static uint64_t attr_value(const struct vp_range_val *v, uint32_t type)
{
	switch (type) {
	case VSVM_ATTR_PREFERRED_LOC:
		return ATTR_LOC(v->word[0]);
	case VSVM_ATTR_ACCESSED_BY:
		return v->word[1];
	case VSVM_ATTR_READ_MOSTLY:
		return ATTR_READ_MOSTLY(v->word[0]);
	case VSVM_ATTR_GRANULARITY:
		return ATTR_GRAN(v->word[0]);
	}
	return ATTR_ACCESS(v->word[0]);
}

static int cmd_get_attr(struct vp_ctx *ctx, const struct vsvm_request *req,
			struct vsvm_writer *w)
{
	struct vsvm_response rsp = { .op = VSVM_CMD_GET_ATTR };
	uint64_t va = req->u.attr.va, end = va + req->u.attr.len;
	struct vsvm_attr_val out[VSVM_MAX_ATTRS];
	const struct vp_range *r;
	uint32_t i;

	if (vsvm_check_range(va, req->u.attr.len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	for (i = 0; i < req->u.attr.nr_attrs; i++) {
		struct vsvm_attr_val a;
		uint64_t cur = va, first;
		bool mixed = false;

		vsvm_request_attr(req, i, &a);
		r = vp_range_map_find(&ctx->attrs, va);
		first = attr_value(r ? &r->val : &attr_default, a.type);
		/* Every entry and every gap of the range must agree. */
		for (r = vp_range_map_first_after(&ctx->attrs, va);
		     r && r->start < end && !mixed; r = vp_range_map_next(r)) {
			if (r->start > cur &&
			    attr_value(&attr_default, a.type) != first)
				mixed = true;
			if (attr_value(&r->val, a.type) != first)
				mixed = true;
			cur = r->end;
		}
		if (cur < end && attr_value(&attr_default, a.type) != first)
			mixed = true;
		out[i] = (struct vsvm_attr_val){
			.type = a.type,
			.flags = mixed ? VSVM_ATTR_F_MIXED : 0,
			.value = first,
		};
	}
	rsp.u.get_attr.nr_attrs = req->u.attr.nr_attrs;
	rsp.u.get_attr.attrs = out;
	return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
}

struct vp_ctx_launch {
	struct vp_launch l;
	struct vp_ctx *ctx;
	struct vp_submit *s;
};

static void launch_done(struct vp_launch *l)
{
	struct vp_ctx_launch *cl = l->priv;
	struct vp_ctx *ctx = cl->ctx;
	struct vsvm_response rsp = {
		.op = VSVM_CMD_LAUNCH,
		.status = (uint16_t)(l->status ? -l->status : VSVM_OK),
		.u.launch = { l->result, l->fault_va, l->faults,
			      l->elapsed_ns },
	};
	struct vp_submit *s = cl->s;

	free(cl);
	vp_submit_finish(s, &rsp);
	/*
	 * Complete before the count drops: teardown waits for the count, and
	 * the transport needs every complete() before vp_svm_destroy()
	 * returns.  After the count dropped, ctx may be freed.
	 */
	s->complete(s);
	pthread_mutex_lock(&ctx->lock);
	ctx->launches--;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

static int cmd_launch(struct vp_ctx *ctx, const struct vsvm_request *req,
		      struct vsvm_writer *w, struct vp_submit *s)
{
	uint32_t dev = req->u.launch.device;
	struct vp_ctx_launch *cl;

	if (dev >= ctx->cfg->num_devices)
		return -VSVM_ERR_NODEV;
	if (ctx->launches >= ctx->cfg->max_launches)
		return -VSVM_ERR_LIMIT;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -VSVM_ERR_NOMEM;
	cl->ctx = ctx;
	cl->s = s;
	cl->l.kernel = req->u.launch.kernel;
	cl->l.nr_args = req->u.launch.nr_args;
	memcpy(cl->l.args, req->u.launch.args, sizeof(cl->l.args));
	cl->l.done = launch_done;
	cl->l.priv = cl;
	s->reply_len = w->off;
	ctx->launches++;
	ctx->stats.launches++;
	if (dev_ops(ctx, dev)->launch(ctx->vms[dev], &cl->l)) {
		ctx->launches--;
		free(cl);
		return -VSVM_ERR_NOMEM;
	}
	return 1;
}

/**
 * vp_ctx_apply - apply one validated command to a context
 * @ctx: the context
 * @req: the decoded command
 * @w: the reply stream writer
 * @s: the submission (for commands that park)
 *
 * Return: 0 (reply written), 1 (parked) or a negated vsvm_status.
 */
int vp_ctx_apply(struct vp_ctx *ctx, const struct vsvm_request *req,
		 struct vsvm_writer *w, struct vp_submit *s)
{
	struct vp_submit *deliver = NULL;
	int ret;

	if (req->op == VSVM_CMD_DESTROY) {
		vp_ctx_reset(ctx);
		return vsvm_encode_response(w, &(struct vsvm_response){
						       .op = VSVM_CMD_DESTROY }) < 0 ?
			       -VSVM_ERR_UNSPEC :
			       0;
	}
	pthread_mutex_lock(&ctx->lock);
	if (req->op != VSVM_CMD_INIT && !ctx->initialised) {
		pthread_mutex_unlock(&ctx->lock);
		return -VSVM_ERR_STATE;
	}
	switch (req->op) {
	case VSVM_CMD_INIT:
		ret = cmd_init(ctx, req, w);
		break;
	case VSVM_CMD_MAP:
		ret = cmd_map(ctx, req, w);
		break;
	case VSVM_CMD_UNMAP:
		ret = cmd_unmap(ctx, req, w);
		break;
	case VSVM_CMD_EVENT_WAIT:
		ret = vp_ctx_event_wait(ctx, req, w, s);
		break;
	case VSVM_CMD_FAULT_REPLY:
		ret = vp_ctx_fault_reply(ctx, req, w);
		break;
	case VSVM_CMD_SET_ATTR:
		ret = cmd_set_attr(ctx, req, w);
		break;
	case VSVM_CMD_GET_ATTR:
		ret = cmd_get_attr(ctx, req, w);
		break;
	case VSVM_CMD_PREFETCH:
		ret = vp_ctx_prefetch(ctx, req, w, &deliver);
		break;
	case VSVM_CMD_MIGRATE:
		ret = vp_ctx_migrate(ctx, req, w, &deliver);
		break;
	case VSVM_CMD_LAUNCH:
		ret = cmd_launch(ctx, req, w, s);
		break;
	case VSVM_CMD_QUERY:
		ret = reply_init(ctx, VSVM_CMD_QUERY, w);
		break;
	default:
		ret = -VSVM_ERR_OPCODE;
		break;
	}
	pthread_mutex_unlock(&ctx->lock);
	if (deliver)
		deliver->complete(deliver);
	return ret;
}
