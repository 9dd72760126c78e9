// SPDX-License-Identifier: MIT
/*
 * virtio_gpu.c - the virtio-gpu device of one vhost-user connection.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * Control queue chains are decoded through one table indexed by command
 * type: name, size of the fixed part, handler.  The dispatcher copies the
 * fixed part out of guest memory and checks its size before any handler
 * runs; a handler sees only the private copy.
 *
 * Every response starts with a struct virtio_gpu_ctrl_hdr that echoes the
 * request's fence (VIRTIO_GPU_FLAG_FENCE, fence_id), ctx_id and ring_idx,
 * and is written only when the command has finished, so a guest fence
 * signals exactly when its command is done.
 *
 * DOC: Submissions and completions
 *
 *   connection thread                        any thread (SVM core)
 *   -----------------                        ---------------------
 *   pop chain, copy command stream
 *   req -> inflight list
 *   vp_svm_submit(req)  ------------------>  ... later ...
 *                                            complete(req):
 *                                              lock; inflight -> done;
 *                                              write wake_fd; unlock
 *   wake_fd readable: vp_gpu_complete()
 *     lock; take done list; unlock
 *     write hdr + reply stream, push used, signal call fd
 *
 * A completion for a ring that is stopped or disabled waits on the
 * deferred list until the ring is ready again; one for a ring the
 * frontend has since laid out anew (its epoch changed) is dropped, since
 * its descriptor head means nothing in the new ring.
 *
 * DOC: Malformed input
 *
 * A malformed chain (vring.c) is completed with used len 0.  A well formed
 * chain carrying a malformed command gets an error response
 * (VIRTIO_GPU_RESP_ERR_UNSPEC or _INVALID_PARAMETER) when its writable part
 * holds a ctrl_hdr, and used len 0 otherwise.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpio.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "virtio_gpu.h"

/*
 * Reply space handed to the core per submission.  The guest sizes the
 * writable part; without a cap it could make us allocate 4 GiB.  1 MiB
 * holds the replies of any realistic stream; one that needs more (1024
 * QUERY commands on a host with dozens of devices) gets the clean
 * "writable space too short" error of docs/protocol.md 5.2 P10.
 */
#define VP_GPU_MAX_REPLY_BYTES	  VSVM_MAX_SUBMIT_BYTES

/*
 * Host memory held by submissions in flight (command copies plus reply
 * buffers) per connection.  Parked submissions stay for as long as the
 * guest likes; this bounds what one guest can pin: 64 full-size ones.
 */
#define VP_GPU_MAX_INFLIGHT_BYTES (128u << 20)

/* Capsets are small (struct vsvm_capset is 64 bytes); room to grow. */
#define VP_GPU_MAX_CAPSET_BYTES	  4096

/*
 * Chains handled per pass over a queue before the connection thread
 * looks at its socket and other queues again; the rest wait for the
 * next pass (the wake eventfd is written so that one comes).
 */
#define VP_GPU_DRAIN_BATCH	  128

#define HDR_SIZE		  ((uint32_t)sizeof(struct virtio_gpu_ctrl_hdr))

struct vp_gpu_req {
	struct vp_submit submit;
	struct vp_gpu *gpu;
	uint32_t qidx;
	uint32_t epoch; /* of the ring when popped */
	struct vp_vring_elem elem;
	struct virtio_gpu_ctrl_hdr hdr; /* the request's, host order */
	size_t bytes;			/* counted in inflight_bytes */
	struct vp_gpu_req *prev;
	struct vp_gpu_req *next;
};

struct req_list {
	struct vp_gpu_req *head;
	struct vp_gpu_req *tail;
};

/* One control command being handled; the response body is built here. */
struct gpu_cmd {
	struct vp_gpu *gpu;
	struct vp_vring *vq;
	struct vp_vring_elem *elem;
	struct virtio_gpu_ctrl_hdr hdr; /* host order */
	union {
		struct virtio_gpu_get_capset_info capset_info;
		struct virtio_gpu_get_capset get_capset;
		struct virtio_gpu_ctx_create ctx_create;
		struct virtio_gpu_cmd_submit submit;
		uint8_t bytes[128];
	} req; /* fixed part, wire order */
	uint32_t resp_type;
	uint32_t body_len;
	union {
		uint64_t align;
		uint8_t bytes[VP_GPU_MAX_CAPSET_BYTES];
	} body; /* response after its ctrl_hdr */
};

struct vp_gpu {
	struct vp_gpu_params p;
	uint64_t features;

	/*
	 * lock guards inflight, done and inflight_bytes: the only state the
	 * core's threads touch (through complete()).  Lock order: taken last;
	 * nothing is called with it held but write() on wake_fd.
	 */
	pthread_mutex_t lock;
	struct req_list inflight; /* with the core */
	struct req_list done;	  /* finished, not yet written */
	size_t inflight_bytes;

	/* Connection thread only. */
	struct req_list deferred;     /* finished, ring not ready */
	bool more[VP_GPU_NUM_QUEUES]; /* a drain stopped at its batch */
	struct gpu_cmd cmd;	      /* scratch for the command at hand */
	struct vp_gpu_stats stats;
};

#define CMD_ASYNC 1 /* handler kept the chain; it completes later */

struct gpu_cmd_desc {
	uint32_t type;
	const char *name;
	uint32_t size; /* fixed part, ctrl_hdr included */
	int (*handle)(struct gpu_cmd *c);
};

__attribute__((format(printf, 3, 4))) static void
gpu_log(const struct vp_gpu *gpu, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > gpu->p.verbosity)
		return;
	fprintf(stderr, "vsvm-proxy: conn %u: ", gpu->p.id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- request lists ------------------------------------------------------ */

static void list_add_tail(struct req_list *l, struct vp_gpu_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_del(struct req_list *l, struct vp_gpu_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = NULL;
	r->next = NULL;
}

static struct vp_gpu_req *list_take_all(struct req_list *l)
{
	struct vp_gpu_req *head = l->head;

	l->head = NULL;
	l->tail = NULL;
	return head;
}

static void write_wake(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN: the counter is already non-zero, a wake-up is pending. */
	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

/* --- responses ---------------------------------------------------------- */

/* docs/protocol.md 5.5: the fence bits and fields are echoed as sent. */
static void fill_resp_hdr(struct virtio_gpu_ctrl_hdr *resp,
			  const struct virtio_gpu_ctrl_hdr *req, uint32_t type)
{
	memset(resp, 0, sizeof(*resp));
	resp->type = htole32(type);
	resp->flags = htole32(req->flags & (VIRTIO_GPU_FLAG_FENCE |
					    VIRTIO_GPU_FLAG_INFO_RING_IDX));
	resp->fence_id = htole64(req->fence_id);
	resp->ctx_id = htole32(req->ctx_id);
	resp->ring_idx = req->ring_idx;
}

/*
 * Write ctrl_hdr + body into the writable part (the body truncated to
 * what fits) and mark the chain used with the bytes written.
 */
static void respond(struct vp_vring *vq, const struct vp_vring_elem *e,
		    const struct virtio_gpu_ctrl_hdr *req, uint32_t type,
		    const void *body, uint32_t body_len)
{
	struct virtio_gpu_ctrl_hdr resp;
	uint32_t len = 0, n;

	if (e->in_len >= HDR_SIZE) {
		n = body_len < e->in_len - HDR_SIZE ? body_len :
						      e->in_len - HDR_SIZE;
		fill_resp_hdr(&resp, req, type);
		if (!vp_vring_scatter(vq, e, 0, &resp, HDR_SIZE) &&
		    !vp_vring_scatter(vq, e, HDR_SIZE, body, n))
			len = HDR_SIZE + n;
	}
	vp_vring_push(vq, e->head, len);
}

/* --- submissions -------------------------------------------------------- */

static void req_free(struct vp_gpu *gpu, struct vp_gpu_req *req)
{
	pthread_mutex_lock(&gpu->lock);
	gpu->inflight_bytes -= req->bytes;
	pthread_mutex_unlock(&gpu->lock);
	vp_vring_elem_free(&req->elem);
	free((void *)req->submit.cmds);
	free(req->submit.reply);
	free(req);
}

/* The core finished s: hand it to the connection thread.  Any thread. */
static void submit_complete(struct vp_submit *s)
{
	struct vp_gpu_req *req = s->priv;
	struct vp_gpu *gpu = req->gpu;

	pthread_mutex_lock(&gpu->lock);
	list_del(&gpu->inflight, req);
	list_add_tail(&gpu->done, req);
	/*
	 * Written under the lock: once it is dropped the connection may free
	 * gpu (after vp_svm_destroy), and this function must not touch it.
	 */
	write_wake(gpu->p.wake_fd);
	pthread_mutex_unlock(&gpu->lock);
}

/* Write out one finished submission, or keep it until its ring is ready. */
static void finish_req(struct vp_gpu *gpu, struct vp_gpu_req *req)
{
	struct vp_vring *vq = gpu->p.queues[req->qidx];
	struct vp_submit *s = &req->submit;
	uint32_t type = s->resp_type, len = s->reply_len;

	if (req->epoch != vq->epoch) {
		gpu->stats.dropped++;
		gpu_log(gpu, 1, "dropping completion of a reset ring");
		req_free(gpu, req);
		return;
	}
	if (!vp_vring_ready(vq)) {
		list_add_tail(&gpu->deferred, req);
		return;
	}
	if (len > s->reply_cap) {
		gpu_log(gpu, 0, "core reply of %u bytes exceeds %u", len,
			s->reply_cap);
		type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		len = 0;
	}
	respond(vq, &req->elem, &req->hdr, type, s->reply, len);
	gpu->stats.completions++;
	req_free(gpu, req);
}

static void finish_list(struct vp_gpu *gpu, struct vp_gpu_req *req)
{
	struct vp_gpu_req *next;

	for (; req; req = next) {
		next = req->next;
		finish_req(gpu, req);
	}
}

static void process_done(struct vp_gpu *gpu)
{
	struct vp_gpu_req *req;

	pthread_mutex_lock(&gpu->lock);
	req = list_take_all(&gpu->done);
	pthread_mutex_unlock(&gpu->lock);
	finish_list(gpu, req);
}

static void process_deferred(struct vp_gpu *gpu)
{
	finish_list(gpu, list_take_all(&gpu->deferred));
}

/* Count bytes against the in-flight budget.  Return: 0 or -ENOMEM. */
static int reserve_bytes(struct vp_gpu *gpu, size_t bytes)
{
	int ret = 0;

	pthread_mutex_lock(&gpu->lock);
	if (bytes > VP_GPU_MAX_INFLIGHT_BYTES - gpu->inflight_bytes)
		ret = -ENOMEM;
	else
		gpu->inflight_bytes += bytes;
	pthread_mutex_unlock(&gpu->lock);
	return ret;
}

static struct vp_gpu_req *req_alloc(struct vp_gpu *gpu, uint32_t size,
				    uint32_t reply_cap)
{
	struct vp_gpu_req *req;

	if (reserve_bytes(gpu, (size_t)size + reply_cap))
		return NULL;
	req = calloc(1, sizeof(*req));
	if (!req)
		goto err_unreserve;
	req->gpu = gpu;
	req->bytes = (size_t)size + reply_cap;
	/* malloc(0) may return NULL; keep every pointer valid. */
	req->submit.cmds = malloc(size ? size : 1);
	req->submit.reply = malloc(reply_cap ? reply_cap : 1);
	if (!req->submit.cmds || !req->submit.reply)
		goto err_free;
	return req;

err_free:
	free((void *)req->submit.cmds);
	free(req->submit.reply);
	free(req);
err_unreserve:
	pthread_mutex_lock(&gpu->lock);
	gpu->inflight_bytes -= (size_t)size + reply_cap;
	pthread_mutex_unlock(&gpu->lock);
	return NULL;
}

static int cmd_submit_3d(struct gpu_cmd *c)
{
	struct vp_gpu *gpu = c->gpu;
	uint32_t size = le32toh(c->req.submit.size);
	uint32_t avail = c->elem->out_len - sizeof(c->req.submit);
	uint32_t reply_cap = c->elem->in_len - HDR_SIZE;
	struct vp_gpu_req *req;

	uint32_t claimed = size;

	if (size > avail) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return 0;
	}
	/*
	 * VSVM_MAX_SUBMIT_BYTES bounds the copy; a longer stream is copied
	 * only far enough for the core to name its first command in the
	 * ERR_LENGTH reply (protocol 5.2, P4 and P6).
	 */
	if (size > VSVM_MAX_SUBMIT_BYTES)
		size = sizeof(struct vsvm_cmd_hdr);
	if (reply_cap > VP_GPU_MAX_REPLY_BYTES)
		reply_cap = VP_GPU_MAX_REPLY_BYTES;
	req = req_alloc(gpu, size, reply_cap);
	if (!req) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return 0;
	}
	/* The private copy: the guest cannot change it under validation. */
	if (vp_vring_gather(c->vq, c->elem, sizeof(c->req.submit),
			    (void *)req->submit.cmds, size)) {
		req_free(gpu, req);
		c->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return 0;
	}
	req->qidx = VP_GPU_CTRLQ;
	req->epoch = c->vq->epoch;
	req->elem = *c->elem;
	c->elem->segs = NULL; /* now the request's */
	req->hdr = c->hdr;
	req->submit.ctx_id = c->hdr.ctx_id;
	req->submit.cmds_len = size;
	req->submit.stream_len = claimed;
	req->submit.reply_cap = reply_cap;
	req->submit.resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	req->submit.complete = submit_complete;
	req->submit.priv = req;
	pthread_mutex_lock(&gpu->lock);
	list_add_tail(&gpu->inflight, req);
	pthread_mutex_unlock(&gpu->lock);
	gpu->stats.submits++;
	vp_svm_submit(gpu->p.svm, &req->submit);
	return CMD_ASYNC;
}

/* --- synchronous commands ----------------------------------------------- */

static int cmd_display_info(struct gpu_cmd *c)
{
	/* One scanout, disabled: vsvm computes, it does not display. */
	c->body_len = sizeof(struct virtio_gpu_resp_display_info) - HDR_SIZE;
	memset(c->body.bytes, 0, c->body_len);
	c->resp_type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
	return 0;
}

static int cmd_capset_info(struct gpu_cmd *c)
{
	struct virtio_gpu_resp_capset_info r;
	int n;

	if (le32toh(c->req.capset_info.capset_index) != 0) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return 0;
	}
	n = vp_svm_capset(c->gpu->p.svm, c->body.bytes, sizeof(c->body));
	if (n < 0) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.capset_id = htole32(VSVM_CAPSET_ID);
	r.capset_max_version = htole32(VSVM_CAPSET_VERSION);
	r.capset_max_size = htole32((uint32_t)n);
	c->body_len = sizeof(r) - HDR_SIZE;
	memcpy(c->body.bytes, (uint8_t *)&r + HDR_SIZE, c->body_len);
	c->resp_type = VIRTIO_GPU_RESP_OK_CAPSET_INFO;
	return 0;
}

static int cmd_get_capset(struct gpu_cmd *c)
{
	uint32_t id = le32toh(c->req.get_capset.capset_id);
	uint32_t version = le32toh(c->req.get_capset.capset_version);
	int n;

	if (id != VSVM_CAPSET_ID || version > VSVM_CAPSET_VERSION) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return 0;
	}
	n = vp_svm_capset(c->gpu->p.svm, c->body.bytes, sizeof(c->body));
	if (n < 0) {
		c->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return 0;
	}
	c->body_len = (uint32_t)n;
	c->resp_type = VIRTIO_GPU_RESP_OK_CAPSET;
	return 0;
}

static int cmd_ctx_create(struct gpu_cmd *c)
{
	uint32_t context_init = 0;

	/* Without CONTEXT_INIT the field is padding the driver need not set. */
	if (c->gpu->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT))
		context_init = le32toh(c->req.ctx_create.context_init);
	c->resp_type =
		vp_svm_ctx_create(c->gpu->p.svm, c->hdr.ctx_id, context_init);
	return 0;
}

static int cmd_ctx_destroy(struct gpu_cmd *c)
{
	c->resp_type = vp_svm_ctx_destroy(c->gpu->p.svm, c->hdr.ctx_id);
	return 0;
}

static int cmd_unsupported(struct gpu_cmd *c)
{
	c->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	return 0;
}

#define CMD(t, s, h)                                        \
	{                                                   \
		VIRTIO_GPU_CMD_##t, #t, sizeof(struct s), h \
	}
#define CMD_NO(t) CMD(t, virtio_gpu_ctrl_hdr, cmd_unsupported)

static const struct gpu_cmd_desc gpu_cmds[] = {
	CMD(GET_DISPLAY_INFO, virtio_gpu_ctrl_hdr, cmd_display_info),
	CMD(GET_CAPSET_INFO, virtio_gpu_get_capset_info, cmd_capset_info),
	CMD(GET_CAPSET, virtio_gpu_get_capset, cmd_get_capset),
	CMD(CTX_CREATE, virtio_gpu_ctx_create, cmd_ctx_create),
	CMD(CTX_DESTROY, virtio_gpu_ctx_destroy, cmd_ctx_destroy),
	CMD(SUBMIT_3D, virtio_gpu_cmd_submit, cmd_submit_3d),
	/* Named for the log; vsvm has no resources, scanouts or EDID. */
	CMD_NO(GET_EDID),
	CMD_NO(RESOURCE_CREATE_2D),
	CMD_NO(RESOURCE_UNREF),
	CMD_NO(SET_SCANOUT),
	CMD_NO(RESOURCE_FLUSH),
	CMD_NO(TRANSFER_TO_HOST_2D),
	CMD_NO(RESOURCE_ATTACH_BACKING),
	CMD_NO(RESOURCE_DETACH_BACKING),
	CMD_NO(RESOURCE_ASSIGN_UUID),
	CMD_NO(RESOURCE_CREATE_BLOB),
	CMD_NO(SET_SCANOUT_BLOB),
	CMD_NO(CTX_ATTACH_RESOURCE),
	CMD_NO(CTX_DETACH_RESOURCE),
	CMD_NO(RESOURCE_CREATE_3D),
	CMD_NO(TRANSFER_TO_HOST_3D),
	CMD_NO(TRANSFER_FROM_HOST_3D),
	CMD_NO(RESOURCE_MAP_BLOB),
	CMD_NO(RESOURCE_UNMAP_BLOB),
};

_Static_assert(sizeof(struct virtio_gpu_ctx_create) <= 128, "gpu_cmd.req");

static const struct gpu_cmd_desc *find_cmd(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(gpu_cmds) / sizeof(gpu_cmds[0]); i++)
		if (gpu_cmds[i].type == type)
			return &gpu_cmds[i];
	return NULL;
}

static void read_hdr(struct gpu_cmd *c)
{
	struct virtio_gpu_ctrl_hdr h;

	memset(&c->hdr, 0, sizeof(c->hdr));
	if (vp_vring_gather(c->vq, c->elem, 0, &h, HDR_SIZE))
		return;
	c->hdr.type = le32toh(h.type);
	c->hdr.flags = le32toh(h.flags);
	c->hdr.fence_id = le64toh(h.fence_id);
	c->hdr.ctx_id = le32toh(h.ctx_id);
	c->hdr.ring_idx = h.ring_idx;
}

/* Decode and run one command; return CMD_ASYNC if it kept the chain. */
static int run_cmd(struct gpu_cmd *c)
{
	const struct gpu_cmd_desc *d;

	c->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	c->body_len = 0;
	if (c->elem->out_len < HDR_SIZE) {
		gpu_log(c->gpu, 0, "control command shorter than its header");
		return 0;
	}
	read_hdr(c);
	d = find_cmd(c->hdr.type);
	if (!d) {
		gpu_log(c->gpu, 0, "unknown command 0x%x", c->hdr.type);
		return 0;
	}
	gpu_log(c->gpu, 2, "%s ctx %u", d->name, c->hdr.ctx_id);
	if (c->elem->out_len < d->size ||
	    vp_vring_gather(c->vq, c->elem, 0, &c->req, d->size)) {
		gpu_log(c->gpu, 0, "%s: %u bytes, need %u", d->name,
			c->elem->out_len, d->size);
		return 0;
	}
	return d->handle(c);
}

static void handle_ctrl(struct vp_gpu *gpu, struct vp_vring *vq,
			struct vp_vring_elem *elem)
{
	struct gpu_cmd *c = &gpu->cmd;

	gpu->stats.commands++;
	if (elem->in_len < HDR_SIZE) {
		/* Nowhere to answer; give the buffers back. */
		gpu_log(gpu, 0, "control command with no room for a response");
		gpu->stats.cmd_errors++;
		vp_vring_push(vq, elem->head, 0);
		return;
	}
	c->gpu = gpu;
	c->vq = vq;
	c->elem = elem;
	if (run_cmd(c) == CMD_ASYNC)
		return;
	if (c->resp_type >= VIRTIO_GPU_RESP_ERR_UNSPEC)
		gpu->stats.cmd_errors++;
	respond(vq, elem, &c->hdr, c->resp_type, c->body.bytes, c->body_len);
}

/* --- queues ------------------------------------------------------------- */

static void notify_all(struct vp_gpu *gpu)
{
	uint32_t i;

	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		vp_vring_notify(gpu->p.queues[i]);
}

static void drain(struct vp_gpu *gpu, uint32_t qidx)
{
	struct vp_vring *vq = gpu->p.queues[qidx];
	struct vp_vring_elem elem;
	uint32_t n;
	int ret;

	gpu->more[qidx] = false;
	for (n = 0; n < VP_GPU_DRAIN_BATCH; n++) {
		ret = vp_vring_pop(vq, &elem);
		if (ret == 0)
			return;
		if (ret == -EIO) {
			gpu_log(gpu, 0, "queue %u: avail ring corrupt, broken",
				qidx);
			return;
		}
		if (ret == -EBADMSG) {
			gpu_log(gpu, 0, "queue %u: malformed chain %u", qidx,
				elem.head);
			gpu->stats.bad_chains++;
			vp_vring_push(vq, elem.head, 0);
			continue;
		}
		if (qidx == VP_GPU_CTRLQ)
			handle_ctrl(gpu, vq, &elem);
		else
			vp_vring_push(vq, elem.head, 0); /* cursor: no-op */
		vp_vring_elem_free(&elem);
	}
	gpu->more[qidx] = true;
	write_wake(gpu->p.wake_fd);
}

void vp_gpu_queue_notify(struct vp_gpu *gpu, uint32_t qidx)
{
	if (qidx >= VP_GPU_NUM_QUEUES)
		return;
	process_deferred(gpu);
	drain(gpu, qidx);
	/* Submissions the core finished at once go out in the same call. */
	process_done(gpu);
	notify_all(gpu);
}

void vp_gpu_complete(struct vp_gpu *gpu)
{
	uint32_t i;

	process_done(gpu);
	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		if (gpu->more[i])
			drain(gpu, i);
	process_done(gpu);
	notify_all(gpu);
}

/* --- device ------------------------------------------------------------- */

uint64_t vp_gpu_device_features(void)
{
	return 1ull << VIRTIO_F_VERSION_1 |
	       1ull << VIRTIO_RING_F_INDIRECT_DESC |
	       1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_GPU_F_VIRGL |
	       1ull << VIRTIO_GPU_F_CONTEXT_INIT;
}

void vp_gpu_set_svm(struct vp_gpu *gpu, struct vp_svm *svm)
{
	gpu->p.svm = svm;
}

void vp_gpu_set_features(struct vp_gpu *gpu, uint64_t features)
{
	gpu->features = features;
}

int vp_gpu_get_config(const struct vp_gpu *gpu, uint32_t off, uint32_t len,
		      void *out)
{
	union {
		struct virtio_gpu_config gpu;
		struct virtio_gpio_config gpio;
	} cfg;
	uint32_t size;

	memset(&cfg, 0, sizeof(cfg));
	if (gpu->p.standin == VP_STANDIN_GPIO) {
		/* QEMU's vhost-user-gpio-pci reads this at realize. */
		cfg.gpio.ngpio = htole16(1);
		size = sizeof(cfg.gpio);
	} else {
		cfg.gpu.num_scanouts = htole32(1);
		cfg.gpu.num_capsets = htole32(1);
		size = sizeof(cfg.gpu);
	}
	if (off > size || len > size - off)
		return -EINVAL;
	memcpy(out, (uint8_t *)&cfg + off, len);
	return 0;
}

struct vp_gpu *vp_gpu_create(const struct vp_gpu_params *p)
{
	struct vp_gpu *gpu = calloc(1, sizeof(*gpu));

	if (!gpu)
		return NULL;
	gpu->p = *p;
	pthread_mutex_init(&gpu->lock, NULL);
	return gpu;
}

static size_t free_list(struct vp_gpu *gpu, struct vp_gpu_req *req)
{
	struct vp_gpu_req *next;
	size_t n = 0;

	for (; req; req = next, n++) {
		next = req->next;
		req_free(gpu, req);
	}
	return n;
}

void vp_gpu_destroy(struct vp_gpu *gpu)
{
	struct vp_gpu_req *inflight;

	if (!gpu)
		return;
	pthread_mutex_lock(&gpu->lock);
	inflight = gpu->inflight.head;
	pthread_mutex_unlock(&gpu->lock);
	/*
	 * The core completes every submission before vp_svm_destroy()
	 * returns.  One it still holds would be used after free if freed
	 * here; leak it (and say so) instead.
	 */
	if (inflight)
		gpu_log(gpu, 0, "SVM core still holds submissions; leaking");
	free_list(gpu, list_take_all(&gpu->done));
	free_list(gpu, list_take_all(&gpu->deferred));
	if (inflight)
		return;
	pthread_mutex_destroy(&gpu->lock);
	free(gpu);
}

void vp_gpu_get_stats(struct vp_gpu *gpu, struct vp_gpu_stats *out)
{
	*out = gpu->stats;
}
