// SPDX-License-Identifier: MIT
/*
 * svm.c - the SVM service of one connection: its contexts, the capset, and
 *         the submission pipeline of docs/protocol.md.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Submission pipeline
 *
 *  1. Find the context (unknown ctx_id: RESP_ERR_INVALID_CONTEXT_ID).
 *  2. Validate the whole command stream with the codec, and check the
 *     reply space.  A malformed stream applies nothing: CANCELED replies up
 *     to the bad command, its error, RESP_ERR_INVALID_PARAMETER.
 *  3. Apply the commands in order.  The first that fails gets its error;
 *     the rest get CANCELED.  A parking command (EVENT_WAIT, LAUNCH: always
 *     last) keeps the submission until it completes.
 *
 * Submissions come from the connection's thread only, so a context's
 * commands are applied in the order the guest queued them.
 */
#include <errno.h>
#include <linux/virtio_gpu.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "svm.h"

struct vp_svm {
	struct vp_svm_config cfg;
	const struct vp_memtable *mt;
	pthread_mutex_t lock;	/* guards ctxs[] and nr_ctxs */
	struct vp_ctx **ctxs;	/* open addressing, 2 * max_contexts */
	uint32_t nr_slots;
	uint32_t nr_ctxs;
	struct vp_ctx_stats ended;	/* of contexts destroyed; by lock */
};

struct vp_svm *vp_svm_create(const struct vp_svm_config *cfg,
			     const struct vp_memtable *mt)
{
	struct vp_svm *svm = calloc(1, sizeof(*svm));

	if (!svm)
		return NULL;
	svm->cfg = *cfg;
	svm->mt = mt;
	svm->nr_slots = 2 * cfg->max_contexts;
	svm->ctxs = calloc(svm->nr_slots, sizeof(*svm->ctxs));
	if (!svm->ctxs) {
		free(svm);
		return NULL;
	}
	pthread_mutex_init(&svm->lock, NULL);
	return svm;
}

void vp_svm_destroy(struct vp_svm *svm)
{
	uint32_t i;

	if (!svm)
		return;
	/* Cancel everything first: see vp_ctx_cancel(). */
	for (i = 0; i < svm->nr_slots; i++)
		if (svm->ctxs[i])
			vp_ctx_cancel(svm->ctxs[i]);
	for (i = 0; i < svm->nr_slots; i++)
		if (svm->ctxs[i])
			vp_ctx_free(svm->ctxs[i]);
	pthread_mutex_destroy(&svm->lock);
	free(svm->ctxs);
	free(svm);
}

/* Slot of ctx_id, or of the empty slot where it would go; lock held. */
static uint32_t slot_of(struct vp_svm *svm, uint32_t id)
{
	uint32_t i = (id * 2654435761u) % svm->nr_slots;

	while (svm->ctxs[i] && svm->ctxs[i]->id != id)
		i = (i + 1) % svm->nr_slots;
	return i;
}

static struct vp_ctx *find_ctx(struct vp_svm *svm, uint32_t id)
{
	struct vp_ctx *ctx;

	pthread_mutex_lock(&svm->lock);
	ctx = svm->ctxs[slot_of(svm, id)];
	pthread_mutex_unlock(&svm->lock);
	return ctx;
}

int vp_svm_capset(struct vp_svm *svm, void *buf, uint32_t cap)
{
	const struct vp_svm_config *c = &svm->cfg;
	struct vsvm_caps caps = {
		.major = VSVM_PROTO_MAJOR,
		.minor = VSVM_PROTO_MINOR,
		.features = vp_devices_features(c),
		.num_devices = c->num_devices,
		.va_bits = c->va_bits,
		.page_sizes = VSVM_PAGE_SIZE | (2u << 20),
		.max_contexts = c->max_contexts,
		.max_submit_bytes = c->max_submit_bytes,
		.max_cmds = VSVM_MAX_CMDS,
		.max_fault_batch = c->max_fault_batch,
		.max_map_runs = VSVM_MAX_MAP_RUNS,
		.max_launches = c->max_launches,
		.max_ranges = c->max_ranges,
	};
	struct vsvm_writer w;
	int ret;

	vsvm_writer_init(&w, buf, cap);
	ret = vsvm_encode_capset(&w, &caps);
	return ret < 0 ? -EINVAL : ret;
}

uint32_t vp_svm_ctx_create(struct vp_svm *svm, uint32_t ctx_id,
			   uint32_t context_init)
{
	uint32_t capset = context_init & VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK;
	struct vp_ctx *ctx;
	uint32_t slot;

	/* 0: no context type named; it becomes svm by its INIT. */
	if (capset && capset != VSVM_CAPSET_ID)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (ctx_id == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	pthread_mutex_lock(&svm->lock);
	slot = slot_of(svm, ctx_id);
	if (svm->ctxs[slot]) {
		pthread_mutex_unlock(&svm->lock);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (svm->nr_ctxs >= svm->cfg.max_contexts) {
		pthread_mutex_unlock(&svm->lock);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	ctx = vp_ctx_create(&svm->cfg, svm->mt, ctx_id);
	if (!ctx) {
		pthread_mutex_unlock(&svm->lock);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	svm->ctxs[slot] = ctx;
	svm->nr_ctxs++;
	pthread_mutex_unlock(&svm->lock);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Remove slot i and re-place the cluster after it (linear probing). */
static void remove_slot(struct vp_svm *svm, uint32_t i)
{
	uint32_t j = i;

	svm->ctxs[i] = NULL;
	for (;;) {
		struct vp_ctx *c;
		uint32_t k;

		j = (j + 1) % svm->nr_slots;
		c = svm->ctxs[j];
		if (!c)
			return;
		svm->ctxs[j] = NULL;
		k = slot_of(svm, c->id);
		svm->ctxs[k] = c;
	}
}

/* Every field of struct vp_ctx_stats is a uint64_t counter. */
static void add_stats(struct vp_ctx_stats *sum, const struct vp_ctx_stats *s)
{
	uint64_t *d = (uint64_t *)sum;
	const uint64_t *v = (const uint64_t *)s;
	size_t i;

	for (i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		d[i] += v[i];
}

int vp_svm_ctx_stats(struct vp_svm *svm, uint32_t ctx_id,
		     struct vp_ctx_stats *out)
{
	struct vp_ctx *ctx = find_ctx(svm, ctx_id);

	if (!ctx)
		return -ENOENT;
	pthread_mutex_lock(&ctx->lock);
	*out = ctx->stats;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

void vp_svm_get_stats(struct vp_svm *svm, struct vp_ctx_stats *out)
{
	uint32_t i;

	pthread_mutex_lock(&svm->lock);
	*out = svm->ended;
	for (i = 0; i < svm->nr_slots; i++) {
		struct vp_ctx *ctx = svm->ctxs[i];

		if (!ctx)
			continue;
		pthread_mutex_lock(&ctx->lock);
		add_stats(out, &ctx->stats);
		pthread_mutex_unlock(&ctx->lock);
	}
	pthread_mutex_unlock(&svm->lock);
}

uint32_t vp_svm_ctx_destroy(struct vp_svm *svm, uint32_t ctx_id)
{
	struct vp_ctx *ctx;
	uint32_t slot;

	pthread_mutex_lock(&svm->lock);
	slot = slot_of(svm, ctx_id);
	ctx = svm->ctxs[slot];
	if (!ctx) {
		pthread_mutex_unlock(&svm->lock);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	remove_slot(svm, slot);
	svm->nr_ctxs--;
	pthread_mutex_unlock(&svm->lock);
	vp_ctx_reset(ctx);
	pthread_mutex_lock(&svm->lock);
	add_stats(&svm->ended, &ctx->stats);
	pthread_mutex_unlock(&svm->lock);
	vp_ctx_free(ctx);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

void vp_svm_memtable_changed(struct vp_svm *svm)
{
	uint32_t i;

	pthread_mutex_lock(&svm->lock);
	for (i = 0; i < svm->nr_slots; i++)
		if (svm->ctxs[i])
			vp_ctx_drop_mappings(svm->ctxs[i]);
	pthread_mutex_unlock(&svm->lock);
}

struct vp_dev_vm *vp_svm_ctx_vm(struct vp_svm *svm, uint32_t ctx_id,
				uint32_t device)
{
	struct vp_ctx *ctx = find_ctx(svm, ctx_id);
	struct vp_dev_vm *vm = NULL;

	if (!ctx || device >= svm->cfg.num_devices)
		return NULL;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->initialised)
		vm = ctx->vms[device];
	pthread_mutex_unlock(&ctx->lock);
	return vm;
}

void vp_submit_finish(struct vp_submit *s, const struct vsvm_response *rsp)
{
	struct vsvm_writer w;

	vsvm_writer_init(&w, s->reply, s->reply_cap);
	w.off = s->reply_len;
	/* Space was checked before the submission was accepted. */
	if (vsvm_encode_response(&w, rsp) < 0)
		s->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	s->reply_len = w.off;
}

/* A header-only reply; the opcode is echoed even if unknown. */
static void put_status(struct vsvm_writer *w, uint16_t op, uint16_t status)
{
	/* A LAUNCH reply always carries its body, zero on error. */
	uint32_t len = op == VSVM_CMD_LAUNCH ? sizeof(struct vsvm_reply_launch) :
					       sizeof(struct vsvm_reply_hdr);
	uint8_t *p = w->buf + w->off;

	if (w->cap - w->off < len)
		return;
	memset(p, 0, len);
	/* Byte stores: the wire is little-endian whatever the host is. */
	p[0] = (uint8_t)op;
	p[1] = (uint8_t)(op >> 8);
	p[2] = (uint8_t)status;
	p[3] = (uint8_t)(status >> 8);
	p[4] = (uint8_t)len;
	w->off += len;
}

/* Replies for commands [0, upto): each CANCELED. */
static void put_canceled(struct vsvm_writer *w, const struct vp_submit *s,
			 uint32_t upto)
{
	struct vsvm_request req;
	struct vsvm_stream st;
	uint32_t i;

	vsvm_stream_init(&st, s->cmds, s->cmds_len);
	for (i = 0; i < upto && vsvm_stream_next(&st, &req) > 0; i++)
		put_status(w, req.op, VSVM_ERR_CANCELED);
}

/* The opcode of command index i of a stream that failed validation. */
static uint16_t op_at(const struct vp_submit *s, uint32_t index)
{
	struct vsvm_request req;
	struct vsvm_stream st;
	uint32_t i;
	int ret = 1;

	vsvm_stream_init(&st, s->cmds, s->cmds_len);
	for (i = 0; i < index && ret > 0; i++)
		ret = vsvm_stream_next(&st, &req);
	if (st.len - st.off < sizeof(struct vsvm_cmd_hdr))
		return 0;
	return (uint16_t)(st.buf[st.off] | st.buf[st.off + 1] << 8);
}

static void reject(struct vp_submit *s, struct vsvm_writer *w, uint32_t bad,
		   int err)
{
	put_canceled(w, s, bad);
	put_status(w, op_at(s, bad), (uint16_t)-err);
	s->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

/* Apply commands in order; return 1 if the last one parked. */
static int apply_stream(struct vp_ctx *ctx, struct vp_submit *s,
			struct vsvm_writer *w)
{
	struct vsvm_request req;
	struct vsvm_stream st;
	int ret, failed = 0;

	vsvm_stream_init(&st, s->cmds, s->cmds_len);
	while (vsvm_stream_next(&st, &req) > 0) {
		if (failed) {
			put_status(w, req.op, VSVM_ERR_CANCELED);
			continue;
		}
		ret = vp_ctx_apply(ctx, &req, w, s);
		if (ret == 1)
			return 1;
		if (ret < 0) {
			put_status(w, req.op, (uint16_t)-ret);
			failed = 1;
		}
	}
	return 0;
}

void vp_svm_submit(struct vp_svm *svm, struct vp_submit *s)
{
	struct vp_ctx *ctx = find_ctx(svm, s->ctx_id);
	uint32_t nr, need, bad;
	struct vsvm_writer w;
	int ret;

	s->reply_len = 0;
	s->resp_type = VIRTIO_GPU_RESP_OK_NODATA;
	if (s->stream_len < s->cmds_len)
		s->stream_len = s->cmds_len;
	vsvm_writer_init(&w, s->reply, s->reply_cap);
	if (!ctx) {
		s->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
		goto complete;
	}
	/* Protocol 5.2: P6, P7, then P8. */
	bad = 0;
	if (s->stream_len > VSVM_MAX_SUBMIT_BYTES)
		ret = -VSVM_ERR_LENGTH;
	else if (s->stream_len > svm->cfg.max_submit_bytes)
		ret = -VSVM_ERR_LIMIT;
	else
		ret = vsvm_stream_validate(s->cmds, s->cmds_len,
					   svm->cfg.num_devices, &nr, &need,
					   &bad);
	if (ret) {
		reject(s, &w, bad, ret);
		goto complete;
	}
	if (need > s->reply_cap) {
		/* Too little room for the replies: apply nothing. */
		put_status(&w, op_at(s, 0), VSVM_ERR_LENGTH);
		s->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		goto complete;
	}
	if (apply_stream(ctx, s, &w))
		return;		/* parked: completed by its command */
complete:
	s->reply_len = w.off;
	s->complete(s);
}
