// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_submit.c - one SUBMIT_3D of the svm context type: build, queue,
 *                  wait, and check everything the host wrote back.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Synchronous submissions
 *
 * A struct vsvmg_call carries one command stream.  Commands are appended
 * with vsvmg_call_add(), which encodes them with the codec (so the core can
 * never send a malformed command) and adds up the reply space they need
 * (docs/protocol.md 4.2.1).  vsvmg_call_queue() hands the stream to the
 * transport; it is the only step that must happen under ctx->lock when
 * the stream holds a MAP or an UNMAP.  vsvmg_call_wait() sleeps until the
 * transport's done() fired, which must be done without ctx->lock.
 *
 * The host is not trusted.  vsvmg_call_check() validates the reply stream
 * against the commands that were sent (protocol.md 4.2, 5.2, 17.1): one
 * well-formed reply per command and in order, each with the command's op,
 * no bytes beyond the space given or after the last reply, only CANCELED
 * after a failure, at most max_events events per EVENT_WAIT.  Any
 * violation is logged and reported as -EPROTO; the caller never reads a
 * reply that failed these checks.
 */
#include "vsvmg_internal.h"

static void call_done(struct vsvmg_submission *sub)
{
	struct vsvmg_call *call = sub->priv;

	vsvmg_complete(&call->done);
}

/**
 * vsvmg_call_alloc - allocate a call with its own stream and reply space
 * @cmd_cap: bytes of command stream
 * @reply_cap: bytes of reply stream
 *
 * Both buffers follow the struct in one allocation; free it with
 * vsvmg_os_free() once it is no longer queued.  May sleep: never call it
 * under ctx->lock.
 *
 * Return: the call, or NULL.
 */
struct vsvmg_call *vsvmg_call_alloc(__u32 cmd_cap, __u32 reply_cap)
{
	/* Keep the buffers 8-byte aligned, as wire structs are. */
	unsigned long head = (sizeof(struct vsvmg_call) + 7) & ~7ul;
	unsigned long cmds = ((unsigned long)cmd_cap + 7) & ~7ul;
	struct vsvmg_call *call;
	__u8 *p;

	call = vsvmg_os_zalloc(head + cmds + reply_cap);
	if (!call)
		return NULL;
	p = (__u8 *)call;
	vsvmg_call_init(call, p + head, cmd_cap, p + head + cmds, reply_cap);
	return call;
}

/**
 * vsvmg_call_init - start an empty command stream over caller buffers
 * @call: the call
 * @cmds: command stream buffer
 * @cmd_cap: its size
 * @reply: reply stream buffer
 * @reply_cap: its size
 *
 * The buffers may be anywhere (even on the stack): the transport copies
 * the stream when it queues it and the reply when the device is done.
 */
void vsvmg_call_init(struct vsvmg_call *call, void *cmds, __u32 cmd_cap,
		     void *reply, __u32 reply_cap)
{
	vsvm_writer_init(&call->w, cmds, cmd_cap);
	call->reply = reply;
	call->reply_cap = reply_cap;
	call->reply_need = 0;
	call->nr_cmds = 0;
	call->queued = 0;
}

/**
 * vsvmg_call_add - append one command
 * @call: a call not yet queued
 * @req: the command, in host order
 * @num_devices: the context's device count, which sizes INIT/QUERY replies
 *
 * Return: 0; -EINVAL if the codec refuses the command (bad arguments) or
 * it does not fit in the stream or its reply in the reply space.
 */
int vsvmg_call_add(struct vsvmg_call *call, const struct vsvm_request *req,
		   __u32 num_devices)
{
	__u32 need = vsvm_reply_size(req, num_devices);
	int ret;

	if (need > call->reply_cap - call->reply_need)
		return -VSVMG_EINVAL;
	ret = vsvm_encode_request(&call->w, req);
	if (ret < 0)
		return -VSVMG_EINVAL;
	call->reply_need += need;
	call->nr_cmds++;
	return 0;
}

/**
 * vsvmg_call_queue - hand a built stream to the transport
 * @ctx: the context it is for
 * @call: the call; on success it must be waited for with vsvmg_call_wait()
 *
 * Does not sleep for the device; this is the step the fault path and the
 * invalidation path take under ctx->lock.
 *
 * Return: 0 or the transport's -errno.
 */
int vsvmg_call_queue(struct vsvmg_ctx *ctx, struct vsvmg_call *call)
{
	struct vsvmg_dev *dev = ctx->dev;
	int ret;

	call->sub.resp_type = 0;
	call->sub.reply_len = 0;
	call->sub.done = call_done;
	call->sub.priv = call;
	vsvmg_completion_init(&call->done);
	ret = dev->ops->submit(dev->t, ctx->id, call->w.buf, call->w.off,
			       call->reply, call->reply_need, &call->sub);
	if (ret) {
		vsvmg_completion_destroy(&call->done);
		return ret < 0 ? ret : -VSVMG_EIO;
	}
	call->queued = 1;
	return 0;
}

/**
 * vsvmg_call_wait - wait until the device completed a queued call
 * @call: the call; nothing happens if it was not queued
 *
 * Sleeps: never call it under ctx->lock.
 */
void vsvmg_call_wait(struct vsvmg_call *call)
{
	if (!call->queued)
		return;
	vsvmg_wait(&call->done);
	vsvmg_completion_destroy(&call->done);
	call->queued = 0;
}

static int bad_reply(struct vsvmg_ctx *ctx, __u32 index, __u32 op,
		     const char *why, __u32 detail)
{
	vsvmg_log(
		"vsvmg: ctx %u: host sent a malformed reply to command %u (%s): %s %u",
		ctx->id, index, vsvm_op_name(op), why, detail);
	return -VSVMG_EPROTO;
}

/* An EVENT_WAIT reply may not bring more than was asked for. */
static int check_events(const struct vsvm_request *req,
			const struct vsvm_response *rsp)
{
	if (rsp->u.wait.nr_events > req->u.wait.max_events)
		return -1;
	/* Only a NONBLOCK wait may complete empty (protocol.md 7.4). */
	if (!rsp->u.wait.nr_events &&
	    !(req->u.wait.flags & VSVM_WAIT_F_NONBLOCK))
		return -1;
	return 0;
}

/*
 * The ordering rules of statuses (protocol.md 5.2): in an applied stream,
 * everything after a failed command is CANCELED; in a rejected stream the
 * replies are CANCELED up to the one error that rejected it, then none.
 */
static int check_status(int rejected, int *failed, __u32 status)
{
	if (*failed && (rejected || status != VSVM_ERR_CANCELED))
		return -1;
	if (rejected && status == VSVM_OK)
		return -1;
	if (status != VSVM_OK && (!rejected || status != VSVM_ERR_CANCELED))
		*failed = 1;
	return 0;
}

/**
 * vsvmg_call_check - validate a completed call's reply stream
 * @ctx: the context, for logs
 * @call: a call that was queued and waited for
 * @rsp: the first @nr_rsp replies are decoded here (array fields point
 *	 into the call's reply buffer)
 * @nr_rsp: size of @rsp
 * @status: if not NULL, one enum vsvm_status per command
 *
 * A command the device left without a reply (a rejected stream stops at
 * the offending command) is reported as VSVM_ERR_CANCELED: it was not
 * applied.  The replies and statuses are filled in whatever is returned.
 *
 * Return: 0 when the stream was applied and every reply is well formed
 * (individual commands may still have failed: look at the statuses);
 * -EIO when the device rejected the stream or failed the submission as a
 * whole; -ENODEV when it no longer knows the context (device lost);
 * -EPROTO when the reply stream is malformed (logged).
 */
int vsvmg_call_check(struct vsvmg_ctx *ctx, struct vsvmg_call *call,
		     struct vsvm_response *rsp, __u32 nr_rsp, __u16 *status)
{
	__u32 type = call->sub.resp_type, len = call->sub.reply_len;
	int rejected = type != VSVMG_RESP_OK_NODATA;
	struct vsvm_response r;
	struct vsvm_request req;
	struct vsvm_stream cs;
	__u32 i, off = 0;
	int failed = 0;
	int ret;

	for (i = 0; i < nr_rsp; i++)
		rsp[i] = (struct vsvm_response){ .status = VSVM_ERR_CANCELED };
	for (i = 0; status && i < call->nr_cmds; i++)
		status[i] = VSVM_ERR_CANCELED;

	if (len > call->reply_need)
		return bad_reply(ctx, 0, 0,
				 "reply stream longer than its space", len);
	if (type == VSVMG_RESP_ERR_INVALID_CONTEXT_ID) {
		vsvmg_log("vsvmg: ctx %u: device no longer knows the context",
			  ctx->id);
		return len ? bad_reply(ctx, 0, 0, "replies with error type",
				       type) :
			     -VSVMG_ENODEV;
	}
	if (rejected && type != VSVMG_RESP_ERR_INVALID_PARAMETER) {
		vsvmg_log(
			"vsvmg: ctx %u: submission failed, response type 0x%x",
			ctx->id, type);
		return len ? bad_reply(ctx, 0, 0, "replies with error type",
				       type) :
			     -VSVMG_EIO;
	}

	/* Our own stream: decoding it again only recovers ops and counts. */
	vsvm_stream_init(&cs, call->w.buf, call->w.off);
	for (i = 0; vsvm_stream_next(&cs, &req) > 0; i++) {
		if (off == len) {
			if (!rejected)
				return bad_reply(ctx, i, req.op,
						 "missing reply", i);
			continue;
		}
		ret = vsvm_decode_response(call->reply + off, len - off, &r);
		if (ret < 0)
			return bad_reply(ctx, i, req.op, vsvm_status_name(-ret),
					 off);
		if (r.op != req.op)
			return bad_reply(ctx, i, req.op, "reply op", r.op);
		if (check_status(rejected, &failed, r.status))
			return bad_reply(ctx, i, req.op, "status out of order",
					 r.status);
		if (req.op == VSVM_CMD_EVENT_WAIT && r.status == VSVM_OK &&
		    check_events(&req, &r))
			return bad_reply(ctx, i, req.op, "events",
					 r.u.wait.nr_events);
		if (i < nr_rsp)
			rsp[i] = r;
		if (status)
			status[i] = r.status;
		off += (__u32)ret;
	}
	if (off != len)
		return bad_reply(ctx, i, 0, "bytes after the last reply",
				 len - off);
	if (rejected) {
		/* A rejection that names no offending command is no answer. */
		if (len && !failed)
			return bad_reply(ctx, 0, 0, "rejected without error",
					 0);
		vsvmg_log("vsvmg: ctx %u: device rejected a submission",
			  ctx->id);
		return -VSVMG_EIO;
	}
	return 0;
}

/**
 * vsvmg_call_run - queue a call, wait for it and check its replies
 * @ctx: the context
 * @call: a built call with no MAP or UNMAP (those are queued under
 *	  ctx->lock by their own paths)
 * @rsp: decoded replies, as vsvmg_call_check()
 * @nr_rsp: size of @rsp
 *
 * Return: as vsvmg_call_check(), or the transport's -errno.
 */
int vsvmg_call_run(struct vsvmg_ctx *ctx, struct vsvmg_call *call,
		   struct vsvm_response *rsp, __u32 nr_rsp)
{
	int ret = vsvmg_call_queue(ctx, call);

	if (ret) {
		vsvmg_log("vsvmg: ctx %u: submit failed: %d", ctx->id, ret);
		return ret;
	}
	vsvmg_call_wait(call);
	return vsvmg_call_check(ctx, call, rsp, nr_rsp, NULL);
}

/**
 * vsvmg_status_errno - the -errno a failed command maps to
 * @status: enum vsvm_status from a reply
 *
 * Return: 0 for VSVM_OK, else a negative Linux errno value.
 */
int vsvmg_status_errno(__u32 status)
{
	switch (status) {
	case VSVM_OK:
		return 0;
	case VSVM_ERR_OPCODE:
	case VSVM_ERR_LENGTH:
	case VSVM_ERR_RESERVED:
	case VSVM_ERR_ALIGN:
	case VSVM_ERR_RANGE:
	case VSVM_ERR_COUNT:
	case VSVM_ERR_VALUE:
	case VSVM_ERR_STATE:
		return -VSVMG_EINVAL;
	case VSVM_ERR_VERSION:
	case VSVM_ERR_SEQ:
		return -VSVMG_EPROTO;
	case VSVM_ERR_LIMIT:
	case VSVM_ERR_NOSPC:
		return -VSVMG_ENOSPC;
	case VSVM_ERR_NOMEM:
		return -VSVMG_ENOMEM;
	case VSVM_ERR_BUSY:
		return -VSVMG_EBUSY;
	case VSVM_ERR_STALE:
		return -VSVMG_ESTALE;
	case VSVM_ERR_CANCELED:
		return -VSVMG_ECANCELED;
	case VSVM_ERR_FAULT:
		return -VSVMG_EFAULT;
	case VSVM_ERR_NODEV:
	case VSVM_ERR_DEVICE_LOST:
		return -VSVMG_ENODEV;
	}
	return -VSVMG_EIO;
}
