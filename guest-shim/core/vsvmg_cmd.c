// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvmg_cmd.c - the synchronous commands a process issues on its context:
 *               LAUNCH, SET_ATTR, GET_ATTR and QUERY.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Synchronous commands
 *
 * Each is one submission holding one command, built with the codec (which
 * refuses arguments the host would call malformed: -EINVAL), queued
 * without ctx->lock (none of them changes the mapping, so their order
 * against UNMAPs does not matter), waited for and checked.  Any number may
 * run at once from different threads; LAUNCH parks on the host until the
 * kernel ends, and its faults are answered meanwhile by the event thread.
 *
 * A command the host fails is reported by its status: LAUNCH returns 0
 * with the status in its result (ERR_FAULT with fault_va is an answer, not
 * a failure of the call); the others map the status to -errno
 * (vsvmg_status_errno()).  -errno from LAUNCH means the submission itself
 * failed: transport error, context lost (-ENODEV), malformed reply
 * (-EPROTO).
 */
#include "vsvmg_internal.h"

/* Submit one command in a call of its own and check its reply. */
static int run_one(struct vsvmg_ctx *ctx, const struct vsvm_request *req,
		   struct vsvmg_call **callp, struct vsvm_response *rsp)
{
	__u32 reply = vsvm_reply_size(req, ctx->num_devices);
	struct vsvmg_call *call;
	int ret;

	/* The largest command here is LAUNCH; GET_ATTR with 8 is 160 bytes. */
	call = vsvmg_call_alloc(sizeof(struct vsvm_cmd_launch) +
					VSVM_MAX_ATTRS *
						sizeof(struct vsvm_attr),
				reply);
	if (!call)
		return -VSVMG_ENOMEM;
	*callp = call;
	ret = vsvmg_call_add(call, req, ctx->num_devices);
	if (ret)
		return ret;
	return vsvmg_call_run(ctx, call, rsp, 1);
}

/**
 * vsvmg_ctx_launch - run a built-in kernel and wait for it to end
 * @ctx: the context
 * @kernel: enum vsvm_kernel
 * @device: device index
 * @args: @nr_args kernel arguments (GPU VAs are the process's VAs)
 * @nr_args: the kernel's argument count
 * @res: the outcome: status (enum vsvm_status), result, fault_va, faults
 *	 and elapsed_ns as the host reported them
 *
 * Return: 0 when the host answered (look at @res->status); -EINVAL for
 * arguments the codec refuses; -ENOMEM; the transport's -errno; -EIO if
 * the host failed the submission as a whole; -ENODEV if it lost the
 * context; -EPROTO for a malformed reply.
 */
int vsvmg_ctx_launch(struct vsvmg_ctx *ctx, __u32 kernel, __u32 device,
		     const __u64 *args, __u32 nr_args,
		     struct vsvmg_launch_result *res)
{
	struct vsvm_request req = { .op = VSVM_CMD_LAUNCH };
	struct vsvmg_call *call = NULL;
	struct vsvmg_ctx_stats d = { 0 };
	struct vsvm_response rsp = { 0 };
	__u32 i;
	int ret;

	if (!res || nr_args > VSVM_MAX_KERNEL_ARGS || (nr_args && !args))
		return -VSVMG_EINVAL;
	req.u.launch.kernel = kernel;
	req.u.launch.device = device;
	req.u.launch.nr_args = nr_args;
	for (i = 0; i < nr_args; i++)
		req.u.launch.args[i] = args[i];
	ret = run_one(ctx, &req, &call, &rsp);
	/*
	 * A rejected stream still carries LAUNCH's own error reply (with its
	 * body): that is the answer.  A reply CANCELED for want of any reply
	 * (len 0) is not.
	 */
	if (ret == -VSVMG_EIO && rsp.len)
		ret = 0;
	if (!ret) {
		res->status = rsp.status;
		res->result = rsp.u.launch.result;
		res->fault_va = rsp.u.launch.fault_va;
		res->faults = rsp.u.launch.faults;
		res->elapsed_ns = rsp.u.launch.elapsed_ns;
		d.launches = 1;
		vsvmg_stats_add(ctx, &d);
	}
	vsvmg_os_free(call);
	return ret;
}

static int attr_request(struct vsvmg_ctx *ctx, __u16 op, __u64 va, __u64 len,
			const struct vsvm_attr_val *attrs, __u32 nr,
			struct vsvm_request *req)
{
	(void)ctx;
	if (!attrs || !nr || nr > VSVM_MAX_ATTRS)
		return -VSVMG_EINVAL;
	*req = (struct vsvm_request){ .op = op };
	req->u.attr.va = va;
	req->u.attr.len = len;
	req->u.attr.nr_attrs = nr;
	req->u.attr.attrs = attrs;
	return 0;
}

/**
 * vsvmg_ctx_set_attr - set memory attributes of a VA range on all devices
 * @ctx: the context
 * @va: start, page aligned
 * @len: bytes, page aligned
 * @attrs: @nr attributes, each type once, flags 0
 * @nr: 1 .. VSVM_MAX_ATTRS
 *
 * Return: 0, or -errno (the status's, see vsvmg_status_errno(), or as
 * vsvmg_ctx_launch() for a failed submission).
 */
int vsvmg_ctx_set_attr(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       const struct vsvm_attr_val *attrs, __u32 nr)
{
	struct vsvmg_call *call = NULL;
	struct vsvm_response rsp;
	struct vsvm_request req;
	int ret;

	ret = attr_request(ctx, VSVM_CMD_SET_ATTR, va, len, attrs, nr, &req);
	if (ret)
		return ret;
	ret = run_one(ctx, &req, &call, &rsp);
	if (!ret)
		ret = vsvmg_status_errno(rsp.status);
	vsvmg_os_free(call);
	return ret;
}

/**
 * vsvmg_ctx_get_attr - read memory attributes of a VA range
 * @ctx: the context
 * @va: start, page aligned
 * @len: bytes, page aligned
 * @attrs: @nr attributes; the caller sets each type (once); on success
 *	   value and flags (VSVM_ATTR_F_MIXED) are filled in
 * @nr: 1 .. VSVM_MAX_ATTRS
 *
 * Return: 0, -EPROTO if the host answered other types or another count,
 * or -errno as vsvmg_ctx_set_attr().
 */
int vsvmg_ctx_get_attr(struct vsvmg_ctx *ctx, __u64 va, __u64 len,
		       struct vsvm_attr_val *attrs, __u32 nr)
{
	struct vsvm_attr_val q[VSVM_MAX_ATTRS], a;
	struct vsvmg_call *call = NULL;
	struct vsvm_response rsp;
	struct vsvm_request req;
	__u32 i;
	int ret;

	if (!attrs || !nr || nr > VSVM_MAX_ATTRS)
		return -VSVMG_EINVAL;
	/* GET carries the types only: values and flags must be zero. */
	for (i = 0; i < nr; i++)
		q[i] = (struct vsvm_attr_val){ .type = attrs[i].type };
	ret = attr_request(ctx, VSVM_CMD_GET_ATTR, va, len, q, nr, &req);
	if (ret)
		return ret;
	ret = run_one(ctx, &req, &call, &rsp);
	if (!ret)
		ret = vsvmg_status_errno(rsp.status);
	if (ret)
		goto out;
	if (rsp.u.get_attr.nr_attrs != nr) {
		ret = -VSVMG_EPROTO;
		goto bad;
	}
	for (i = 0; i < nr; i++) {
		vsvm_response_attr(&rsp, i, &a);
		if (a.type != q[i].type) {
			ret = -VSVMG_EPROTO;
			goto bad;
		}
	}
	for (i = 0; i < nr; i++) {
		vsvm_response_attr(&rsp, i, &a);
		attrs[i].value = a.value;
		attrs[i].flags = a.flags;
	}
	goto out;
bad:
	vsvmg_log("vsvmg: ctx %u: GET_ATTR reply does not match the request",
		  ctx->id);
out:
	vsvmg_os_free(call);
	return ret;
}

/**
 * vsvmg_ctx_query - read the context's devices and their memory use
 * @ctx: the context
 * @devs: up to @cap devices are copied here, in index order
 * @cap: size of @devs
 * @num_devices: set to the context's device count (may exceed @cap)
 *
 * Return: 0, -EPROTO if the reply contradicts what INIT agreed, or -errno
 * as vsvmg_ctx_set_attr().
 */
int vsvmg_ctx_query(struct vsvmg_ctx *ctx, struct vsvm_device_val *devs,
		    __u32 cap, __u32 *num_devices)
{
	struct vsvm_request req = { .op = VSVM_CMD_QUERY };
	struct vsvmg_call *call = NULL;
	struct vsvm_response rsp;
	__u32 i;
	int ret;

	if (!num_devices || (cap && !devs))
		return -VSVMG_EINVAL;
	ret = run_one(ctx, &req, &call, &rsp);
	if (!ret)
		ret = vsvmg_status_errno(rsp.status);
	if (ret)
		goto out;
	if (rsp.u.init.major != ctx->major || rsp.u.init.minor != ctx->minor ||
	    rsp.u.init.va_bits != ctx->va_bits ||
	    rsp.u.init.num_devices != ctx->num_devices ||
	    rsp.u.init.features != ctx->features ||
	    rsp.u.init.page_sizes != ctx->page_sizes) {
		vsvmg_log("vsvmg: ctx %u: QUERY reply contradicts INIT's",
			  ctx->id);
		ret = -VSVMG_EPROTO;
		goto out;
	}
	*num_devices = rsp.u.init.num_devices;
	for (i = 0; i < cap && i < rsp.u.init.num_devices; i++)
		vsvm_response_device(&rsp, i, &devs[i]);
out:
	vsvmg_os_free(call);
	return ret;
}
