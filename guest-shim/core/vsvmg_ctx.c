// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_ctx.c - the device and the lifetime of SVM contexts, and the
 *               event thread that serves each context's faults.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Device and contexts
 *
 * vsvmg_dev_create() reads and validates the svm capset once; every
 * context of the device then works within its limits.  A context is one
 * guest process's SVM state on the host:
 *
 *   vsvmg_ctx_create()                       vsvmg_ctx_destroy()
 *     ctx id (lowest free, from 1)              dying = 1 (under ctx->lock)
 *     transport ctx_create(id, 0x53)            DESTROY  -> host completes
 *     INIT -> agreed version, va_bits,                      the parked
 *             devices (checked)                             EVENT_WAIT with
 *     event thread: EVENT_WAIT (parks)                      ERR_CANCELED
 *        -> faults: vsvmg_fault_batch()        join the event thread
 *        -> repeat until CANCELED or dying     transport ctx_destroy
 *                                              free the id
 *
 * The caller must stop calling into a context (unregister its mmu
 * notifier, let launches return) before destroying it, and must destroy
 * every context before the device.
 *
 * DOC: The event thread
 *
 * Exactly one EVENT_WAIT per context is outstanding at a time (the host
 * refuses a second with ERR_BUSY), asking for caps.max_fault_batch events.
 * The thread answers the whole batch before it waits again, so the host
 * can merge faults that arrive meanwhile into the next batch.  It stops
 * on ERR_CANCELED (destroy), on any other failure of the wait, and on a
 * malformed reply (a host that breaks the protocol gets no more answers;
 * the failure is logged).
 */
#include "vsvmg_internal.h"

static int check_config(const struct vsvmg_config *in, struct vsvmg_config *cfg)
{
	cfg->fault_window = VSVMG_FAULT_WINDOW_DEFAULT;
	cfg->populate = 0;
	if (!in)
		return 0;
	if (in->fault_window) {
		__u32 w = in->fault_window;

		if (w < VSVM_PAGE_SIZE || w > VSVMG_FAULT_WINDOW_MAX ||
		    (w & (w - 1)))
			return -VSVMG_EINVAL;
		cfg->fault_window = w;
	}
	cfg->populate = in->populate ? 1 : 0;
	return 0;
}

/**
 * vsvmg_dev_create - discover the svm capset of a virtio-gpu device
 * @ops: the transport; every member must be set
 * @t: the transport's handle, passed back to @ops
 * @cfg: fault window and populate policy, or NULL for the defaults
 *	 (64 KiB window, no populate)
 *
 * Return: the device, or NULL if @cfg is invalid, the capset cannot be
 * read, or it fails the checks of protocol.md 17.2 (logged).
 */
struct vsvmg_dev *vsvmg_dev_create(const struct vsvmg_transport_ops *ops,
				   void *t, const struct vsvmg_config *cfg)
{
	struct vsvmg_dev *dev;
	void *buf;
	int ret;

	if (!ops || !ops->get_capset || !ops->ctx_create || !ops->ctx_destroy ||
	    !ops->submit)
		return NULL;
	dev = vsvmg_os_zalloc(sizeof(*dev));
	if (!dev)
		return NULL;
	if (check_config(cfg, &dev->cfg)) {
		vsvmg_log("vsvmg: bad config: fault_window %u",
			  cfg->fault_window);
		goto err_free;
	}
	buf = vsvmg_os_zalloc(VSVMG_CAPSET_MAX);
	if (!buf)
		goto err_free;
	ret = ops->get_capset(t, buf, VSVMG_CAPSET_MAX);
	if (ret < 0) {
		vsvmg_log("vsvmg: GET_CAPSET failed: %d", ret);
		goto err_free_buf;
	}
	/* A transport may report the size the device has, not what it copied. */
	if (ret > VSVMG_CAPSET_MAX)
		ret = VSVMG_CAPSET_MAX;
	ret = vsvm_decode_capset(buf, (__u32)ret, &dev->caps);
	if (ret < 0) {
		vsvmg_log("vsvmg: bad capset: %s", vsvm_status_name(-ret));
		goto err_free_buf;
	}
	vsvmg_os_free(buf);
	dev->ops = ops;
	dev->t = t;
	vsvmg_mutex_init(&dev->lock);
	return dev;

err_free_buf:
	vsvmg_os_free(buf);
err_free:
	vsvmg_os_free(dev);
	return NULL;
}

/**
 * vsvmg_dev_destroy - free a device
 * @dev: the device, with no live context; NULL is ignored
 */
void vsvmg_dev_destroy(struct vsvmg_dev *dev)
{
	if (!dev)
		return;
	if (dev->contexts)
		vsvmg_log("vsvmg: device destroyed with live context %u",
			  dev->contexts->id);
	vsvmg_mutex_destroy(&dev->lock);
	vsvmg_os_free(dev);
}

/**
 * vsvmg_dev_caps - the validated capset
 * @dev: the device
 *
 * Return: the capabilities and limits, valid while @dev lives.
 */
const struct vsvm_caps *vsvmg_dev_caps(const struct vsvmg_dev *dev)
{
	return &dev->caps;
}

/* The lowest id no live context uses; the list is short. */
static void ctx_link(struct vsvmg_dev *dev, struct vsvmg_ctx *ctx)
{
	struct vsvmg_ctx **pos;
	__u32 id = 1;

	vsvmg_mutex_lock(&dev->lock);
	/* dev->contexts is sorted by id, so the first gap is the answer. */
	for (pos = &dev->contexts; *pos && (*pos)->id == id;
	     pos = &(*pos)->next)
		id++;
	ctx->id = id;
	ctx->next = *pos;
	*pos = ctx;
	vsvmg_mutex_unlock(&dev->lock);
}

static void ctx_unlink(struct vsvmg_dev *dev, struct vsvmg_ctx *ctx)
{
	struct vsvmg_ctx **pos;

	vsvmg_mutex_lock(&dev->lock);
	for (pos = &dev->contexts; *pos; pos = &(*pos)->next) {
		if (*pos == ctx) {
			*pos = ctx->next;
			break;
		}
	}
	vsvmg_mutex_unlock(&dev->lock);
}

/* Everything an INIT reply says must agree with what we asked and the capset. */
static int check_init(struct vsvmg_ctx *ctx, const struct vsvm_response *r)
{
	const struct vsvm_caps *caps = &ctx->dev->caps;

	if (r->u.init.major != VSVM_PROTO_MAJOR ||
	    r->u.init.minor > VSVM_PROTO_MINOR)
		return -1;
	/* We asked for va_bits 0: the capset's. */
	if (r->u.init.va_bits != caps->va_bits)
		return -1;
	if (r->u.init.num_devices > caps->num_devices)
		return -1;
	if (r->u.init.features & ~caps->features)
		return -1;
	if ((r->u.init.page_sizes & ~caps->page_sizes) ||
	    !(r->u.init.page_sizes & VSVM_PAGE_SIZE))
		return -1;
	return 0;
}

static int ctx_init(struct vsvmg_ctx *ctx)
{
	struct vsvm_request req = { .op = VSVM_CMD_INIT };
	__u32 num_devices = ctx->dev->caps.num_devices;
	struct vsvm_response rsp;
	struct vsvmg_call *call;
	int ret;

	call = vsvmg_call_alloc(
		sizeof(struct vsvm_cmd_init),
		sizeof(struct vsvm_reply_init) +
			num_devices * sizeof(struct vsvm_device_info));
	if (!call)
		return -VSVMG_ENOMEM;
	req.u.init.major = VSVM_PROTO_MAJOR;
	req.u.init.minor = VSVM_PROTO_MINOR;
	req.u.init.va_bits = 0;
	ret = vsvmg_call_add(call, &req, num_devices);
	if (ret)
		goto out;
	ret = vsvmg_call_run(ctx, call, &rsp, 1);
	if (ret)
		goto out;
	if (rsp.status != VSVM_OK) {
		vsvmg_log("vsvmg: ctx %u: INIT failed: %s", ctx->id,
			  vsvm_status_name(rsp.status));
		ret = vsvmg_status_errno(rsp.status);
		goto out;
	}
	if (check_init(ctx, &rsp)) {
		vsvmg_log(
			"vsvmg: ctx %u: INIT reply disagrees with the capset (version %u.%u, va_bits %u, %u devices)",
			ctx->id, rsp.u.init.major, rsp.u.init.minor,
			rsp.u.init.va_bits, rsp.u.init.num_devices);
		ret = -VSVMG_EPROTO;
		goto out;
	}
	ctx->major = rsp.u.init.major;
	ctx->minor = rsp.u.init.minor;
	ctx->features = rsp.u.init.features;
	ctx->va_bits = rsp.u.init.va_bits;
	ctx->num_devices = rsp.u.init.num_devices;
	ctx->page_sizes = rsp.u.init.page_sizes;
	ctx->va_limit = 1ull << ctx->va_bits;
out:
	vsvmg_os_free(call);
	return ret;
}

/**
 * vsvmg_ctx_is_dying - whether destroy has begun
 * @ctx: the context
 *
 * Return: non-zero once vsvmg_ctx_destroy() started.
 */
int vsvmg_ctx_is_dying(struct vsvmg_ctx *ctx)
{
	int dying;

	vsvmg_mutex_lock(&ctx->lock);
	dying = ctx->dying;
	vsvmg_mutex_unlock(&ctx->lock);
	return dying;
}

/**
 * vsvmg_stats_add - add counters to the context's statistics
 * @ctx: the context
 * @d: the increments
 */
void vsvmg_stats_add(struct vsvmg_ctx *ctx, const struct vsvmg_ctx_stats *d)
{
	vsvmg_mutex_lock(&ctx->stat_lock);
	ctx->stats.faults += d->faults;
	ctx->stats.faults_failed += d->faults_failed;
	ctx->stats.pages_mirrored += d->pages_mirrored;
	ctx->stats.maps += d->maps;
	ctx->stats.map_stale += d->map_stale;
	ctx->stats.invalidations += d->invalidations;
	ctx->stats.launches += d->launches;
	ctx->stats.migrated_to_device += d->migrated_to_device;
	ctx->stats.migrated_to_system += d->migrated_to_system;
	ctx->stats.migrated_peer += d->migrated_peer;
	ctx->stats.migrates += d->migrates;
	ctx->stats.migrate_failed += d->migrate_failed;
	ctx->stats.migrate_raced += d->migrate_raced;
	ctx->stats.own_invalidations += d->own_invalidations;
	ctx->stats.migrate_reqs += d->migrate_reqs;
	ctx->stats.prefetches += d->prefetches;
	ctx->stats.prefetch_done += d->prefetch_done;
	vsvmg_mutex_unlock(&ctx->stat_lock);
}

/*
 * An event without an id cannot be answered.  A fault the host names for
 * a device or a VA the context does not have is still answered (with
 * VSVM_ERR_FAULT, by the fault path), so that nothing waits on it forever.
 */
static int event_valid(struct vsvmg_ctx *ctx, const struct vsvm_event_val *ev)
{
	if (!ev->id)
		return 0;
	if (ev->type == VSVM_EVENT_FAULT)
		return 1;
	if (ev->va >= ctx->va_limit || ev->len > ctx->va_limit - ev->va)
		return 0;
	return ev->device < ctx->num_devices || ev->device == VSVM_LOC_SYSTEM;
}

static void serve_event(struct vsvmg_ctx *ctx, const struct vsvm_event_val *ev)
{
	if (ev->type == VSVM_EVENT_MIGRATE_REQ) {
		vsvmg_migrate_request(ctx, ev);
		return;
	}
	if (ev->type == VSVM_EVENT_PREFETCH_DONE) {
		vsvmg_prefetch_done(ctx, ev);
		return;
	}

	int first;

	vsvmg_mutex_lock(&ctx->stat_lock);
	ctx->events_ignored++;
	first = !ctx->events_ignored_logged;
	ctx->events_ignored_logged = 1;
	vsvmg_mutex_unlock(&ctx->stat_lock);
	if (first)
		vsvmg_log(
			"vsvmg: ctx %u: unknown event type %u; ignoring such events",
			ctx->id, ev->type);
}

/*
 * Serve one EVENT_WAIT reply.  The faults are copied out of the reply
 * buffer first: answering them takes a while and the buffer is the next
 * wait's.  Faults go first, since launches stall on them; then the other
 * events in the order the host queued them (a PREFETCH_DONE after the
 * MIGRATE_REQs it waited for).  The reply buffer stays valid meanwhile:
 * the next EVENT_WAIT is built only after this returns.
 */
static void handle_events(struct vsvmg_ctx *ctx, const struct vsvm_response *r,
			  struct vsvm_event_val *faults)
{
	struct vsvm_event_val ev;
	__u32 i, nr = 0;

	for (i = 0; i < r->u.wait.nr_events; i++) {
		vsvm_response_event(r, i, &ev);
		if (!event_valid(ctx, &ev)) {
			vsvmg_log(
				"vsvmg: ctx %u: dropping invalid event type %u id %u va 0x%llx device %u",
				ctx->id, ev.type, ev.id,
				(unsigned long long)ev.va, ev.device);
			continue;
		}
		if (ev.type == VSVM_EVENT_FAULT)
			faults[nr++] = ev;
	}
	if (nr)
		vsvmg_fault_batch(ctx, faults, nr);
	for (i = 0; i < r->u.wait.nr_events; i++) {
		vsvm_response_event(r, i, &ev);
		if (ev.type != VSVM_EVENT_FAULT && event_valid(ctx, &ev))
			serve_event(ctx, &ev);
	}
}

static void event_thread(void *arg)
{
	struct vsvmg_ctx *ctx = arg;
	__u32 max = ctx->dev->caps.max_fault_batch;
	struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
	struct vsvmg_call *call = ctx->wait_call;
	struct vsvm_response rsp;
	int ret;

	req.u.wait.max_events = max;
	req.u.wait.flags = 0;
	while (!vsvmg_ctx_is_dying(ctx)) {
		vsvmg_call_init(call, call->w.buf, call->w.cap, call->reply,
				call->reply_cap);
		ret = vsvmg_call_add(call, &req, ctx->num_devices);
		if (!ret)
			ret = vsvmg_call_run(ctx, call, &rsp, 1);
		if (ret) {
			if (!vsvmg_ctx_is_dying(ctx))
				vsvmg_log(
					"vsvmg: ctx %u: event thread stops: %d",
					ctx->id, ret);
			break;
		}
		if (rsp.status != VSVM_OK) {
			/* CANCELED is destroy's doing; anything else is news. */
			if (rsp.status != VSVM_ERR_CANCELED &&
			    !vsvmg_ctx_is_dying(ctx))
				vsvmg_log(
					"vsvmg: ctx %u: EVENT_WAIT failed: %s; event thread stops",
					ctx->id, vsvm_status_name(rsp.status));
			break;
		}
		handle_events(ctx, &rsp, ctx->faults);
	}
}

static struct vsvmg_ctx *ctx_alloc(struct vsvmg_dev *dev,
				   const struct vsvmg_mm_ops *mm_ops, void *mm)
{
	__u32 max = dev->caps.max_fault_batch;
	struct vsvmg_ctx *ctx;

	ctx = vsvmg_os_zalloc(sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->wait_call =
		vsvmg_call_alloc(sizeof(struct vsvm_cmd_event_wait),
				 sizeof(struct vsvm_reply_event_wait) +
					 max * sizeof(struct vsvm_event));
	ctx->faults = vsvmg_os_zalloc(sizeof(*ctx->faults) * max);
	if (!ctx->wait_call || !ctx->faults) {
		vsvmg_os_free(ctx->faults);
		vsvmg_os_free(ctx->wait_call);
		vsvmg_os_free(ctx);
		return NULL;
	}
	ctx->dev = dev;
	ctx->mm_ops = mm_ops;
	ctx->mm = mm;
	vsvmg_mutex_init(&ctx->lock);
	vsvmg_mutex_init(&ctx->stat_lock);
	vsvmg_mutex_init(&ctx->ev_lock);
	return ctx;
}

static void ctx_free(struct vsvmg_ctx *ctx)
{
	vsvmg_mutex_destroy(&ctx->ev_lock);
	vsvmg_mutex_destroy(&ctx->stat_lock);
	vsvmg_mutex_destroy(&ctx->lock);
	vsvmg_os_free(ctx->faults);
	vsvmg_os_free(ctx->wait_call);
	vsvmg_os_free(ctx);
}

/**
 * vsvmg_ctx_create - create the SVM context of one guest process
 * @dev: the device
 * @mm_ops: the process's memory, as HMM sees it; every member must be set
 * @mm: handle passed back to @mm_ops
 * @out: the new context
 *
 * Creates the virtio-gpu context (context_init = the svm capset id), sends
 * INIT, checks the reply and starts the event thread that answers the
 * context's faults.  Register the process's mmu notifier (which calls
 * vsvmg_ctx_invalidate()) only after this returned.
 *
 * Return: 0; -EINVAL for bad arguments; -ENOMEM; the transport's -errno;
 * -EPROTO for a malformed or inconsistent INIT reply; the errno of INIT's
 * failure status (-ENOSPC for ERR_LIMIT: too many contexts).
 */
int vsvmg_ctx_create(struct vsvmg_dev *dev, const struct vsvmg_mm_ops *mm_ops,
		     void *mm, struct vsvmg_ctx **out)
{
	struct vsvmg_ctx *ctx;
	int ret;

	if (!dev || !out || !mm_ops || !mm_ops->range_fault ||
	    !mm_ops->read_begin || !mm_ops->read_retry)
		return -VSVMG_EINVAL;
	ctx = ctx_alloc(dev, mm_ops, mm);
	if (!ctx)
		return -VSVMG_ENOMEM;
	ctx_link(dev, ctx);
	ret = dev->ops->ctx_create(dev->t, ctx->id, VSVM_CAPSET_ID);
	if (ret) {
		vsvmg_log("vsvmg: ctx %u: CTX_CREATE failed: %d", ctx->id, ret);
		goto err_unlink;
	}
	ret = ctx_init(ctx);
	if (ret)
		goto err_ctx_destroy;
	ret = vsvmg_thread_start(&ctx->thread, event_thread, ctx,
				 "vsvmg-events");
	if (ret)
		goto err_ctx_destroy;
	ctx->thread_started = 1;
	*out = ctx;
	return 0;

err_ctx_destroy:
	/* CTX_DESTROY undoes INIT too (protocol.md 2.3). */
	dev->ops->ctx_destroy(dev->t, ctx->id);
err_unlink:
	ctx_unlink(dev, ctx);
	ctx_free(ctx);
	return ret < 0 ? ret : -VSVMG_EIO;
}

/* DESTROY: the host cancels the parked EVENT_WAIT and running launches. */
static int ctx_send_destroy(struct vsvmg_ctx *ctx)
{
	struct vsvm_request req = { .op = VSVM_CMD_DESTROY };
	struct vsvm_response rsp;
	struct vsvmg_call *call;
	int ret;

	call = vsvmg_call_alloc(sizeof(struct vsvm_cmd_empty),
				sizeof(struct vsvm_reply_hdr));
	if (!call)
		return -VSVMG_ENOMEM;
	ret = vsvmg_call_add(call, &req, ctx->num_devices);
	if (!ret)
		ret = vsvmg_call_run(ctx, call, &rsp, 1);
	if (!ret && rsp.status != VSVM_OK) {
		vsvmg_log("vsvmg: ctx %u: DESTROY failed: %s", ctx->id,
			  vsvm_status_name(rsp.status));
		ret = vsvmg_status_errno(rsp.status);
	}
	vsvmg_os_free(call);
	return ret;
}

/**
 * vsvmg_ctx_destroy - end a context
 * @ctx: the context; no other call into it may be running or follow
 *
 * Sends DESTROY, which completes the event thread's parked EVENT_WAIT with
 * ERR_CANCELED, joins the thread, then destroys the virtio-gpu context and
 * frees everything.  If DESTROY fails (device gone), CTX_DESTROY is sent
 * before the join instead: it completes parked submissions as well.
 */
void vsvmg_ctx_destroy(struct vsvmg_ctx *ctx)
{
	struct vsvmg_dev *dev;
	int destroyed = 0;
	int ret;

	if (!ctx)
		return;
	dev = ctx->dev;
	vsvmg_mutex_lock(&ctx->lock);
	ctx->dying = 1;
	vsvmg_mutex_unlock(&ctx->lock);

	if (ctx_send_destroy(ctx)) {
		ret = dev->ops->ctx_destroy(dev->t, ctx->id);
		if (ret)
			vsvmg_log("vsvmg: ctx %u: CTX_DESTROY failed: %d",
				  ctx->id, ret);
		destroyed = 1;
	}
	if (ctx->thread_started)
		vsvmg_thread_join(&ctx->thread);
	/* DESTROY dropped outstanding prefetches without an event. */
	vsvmg_mutex_lock(&ctx->ev_lock);
	while (ctx->prefetches) {
		struct vsvmg_prefetch *pf = ctx->prefetches;

		ctx->prefetches = pf->next;
		pf->status = VSVM_ERR_CANCELED;
		vsvmg_complete(&pf->done);
	}
	vsvmg_mutex_unlock(&ctx->ev_lock);
	if (!destroyed) {
		ret = dev->ops->ctx_destroy(dev->t, ctx->id);
		if (ret)
			vsvmg_log("vsvmg: ctx %u: CTX_DESTROY failed: %d",
				  ctx->id, ret);
	}
	ctx_unlink(dev, ctx);
	ctx_free(ctx);
}

/**
 * vsvmg_ctx_stats - read a context's counters
 * @ctx: the context
 * @out: a consistent snapshot
 */
void vsvmg_ctx_stats(struct vsvmg_ctx *ctx, struct vsvmg_ctx_stats *out)
{
	vsvmg_mutex_lock(&ctx->stat_lock);
	*out = ctx->stats;
	vsvmg_mutex_unlock(&ctx->stat_lock);
}

/**
 * vsvmg_ctx_features - the VSVM_F_* bits INIT agreed for the context
 * @ctx: the context
 */
__u32 vsvmg_ctx_features(const struct vsvmg_ctx *ctx)
{
	return ctx->features;
}

/**
 * vsvmg_ctx_num_devices - the context's device count
 * @ctx: the context
 */
__u32 vsvmg_ctx_num_devices(const struct vsvmg_ctx *ctx)
{
	return ctx->num_devices;
}

/**
 * vsvmg_ctx_id - the context's virtio-gpu ctx_id
 * @ctx: the context
 *
 * Return: the id, unique among the device's live contexts.
 */
__u32 vsvmg_ctx_id(const struct vsvmg_ctx *ctx)
{
	return ctx->id;
}
