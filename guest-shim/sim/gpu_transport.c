// SPDX-License-Identifier: MIT
/*
 * gpu_transport.c - virtio-gpu driver side for the guest simulator.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Requests and bounce buffers
 *
 * Each command is a struct gpu_req with one bounce buffer: a contiguous
 * run of guest page frames holding the device-readable command at offset 0
 * and, 8-byte aligned after it, the device-writable response::
 *
 *   gpa  +-------------------------------+
 *        | command (ctrl_hdr + body)     |  out_len bytes, device reads
 *        +-------------------------------+  in_off
 *        | response ctrl_hdr + payload   |  in_len bytes, device writes
 *        +-------------------------------+
 *
 * The bounce buffer belongs to the device from gsim_vq_add() until the
 * ring hands the chain back (or is cancelled after the device stopped); it
 * is freed only by the completion.  A response is copied out of guest RAM
 * once, with lengths bounded by what the driver allocated, before anything
 * looks at it.
 *
 * Two kinds of request complete differently:
 *
 *  - a submission (the core's SUBMIT_3D) copies its reply stream to the
 *    caller's buffer and calls sub->done().  The completion first waits
 *    until the submitter has marked the request published, so done() never
 *    runs before submit() has returned 0 (vsvmg.h's rule), even when the
 *    device answers faster than the submitting thread returns.
 *  - a synchronous command has two owners, the waiter and the completion;
 *    the last to let go frees it.  A waiter that times out leaves, and the
 *    completion then neither copies into the waiter's buffer nor wakes it.
 *
 * Locking: gpu->lock guards published, the synchronous state and refs;
 * gpu->cond is broadcast on any change of them.  It is never held while
 * calling into the ring or a done() callback; it is held around the guest
 * RAM allocator (gpu->lock, then the allocator's lock; never the reverse).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "gpu_transport.h"
#include "guest_ram.h"
#include "vhost_frontend.h"
#include "virtqueue.h"
#include "vsvm/vsvm_proto.h"
#include "vsvmg_os.h"

/* Bounds on what one command may make the driver allocate. */
#define GPU_MAX_STREAM	    VSVM_MAX_SUBMIT_BYTES /* command stream */
#define GPU_MAX_REPLY	    VSVM_MAX_SUBMIT_BYTES /* reply stream */
/* A device could claim any number and size of capsets; look at these. */
#define GPU_MAX_CAPSETS	    64
#define GPU_MAX_CAPSET_SIZE (64u * 1024)

#define GPU_DEBUG_NAME	    "vsvm"

struct gsim_gpu {
	struct gsim_ram *ram;
	struct gsim_vhost *vh;
	struct gsim_vq *vq[GSIM_GPU_NR_QUEUES];
	struct gsim_vq_irq *irq;
	uint32_t timeout_ms;
	uint64_t features;
	uint32_t num_capsets;
	unsigned int rings_started; /* SET_VRING_KICK done, to stop */

	pthread_mutex_t lock; /* see DOC above */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC */
};

enum gpu_req_kind {
	GPU_REQ_SUBMIT,
	GPU_REQ_SYNC,
};

struct gpu_req {
	struct gsim_gpu *gpu;
	enum gpu_req_kind kind;
	uint64_t gpa;
	uint32_t npages;
	uint8_t *buf; /* gpa in this process */
	uint32_t out_len;
	uint32_t in_off;
	uint32_t in_len;

	/* GPU_REQ_SUBMIT */
	struct vsvmg_submission *sub;
	void *reply;
	uint32_t cap;
	int published; /* submit() has returned; under gpu->lock */

	/* GPU_REQ_SYNC, all under gpu->lock */
	void *resp;
	uint32_t resp_len;
	int refs; /* waiter and completion */
	int done;
	int err;
	uint32_t len;
	int abandoned; /* the waiter timed out and left */
};

/* Set while this thread runs a completion; sync waits would deadlock. */
static __thread int in_completion;

static struct gpu_req *req_alloc(struct gsim_gpu *gpu, uint32_t out_len,
				 uint32_t in_len)
{
	uint32_t in_off = (out_len + 7u) & ~7u;
	uint64_t total = (uint64_t)in_off + in_len;
	struct gpu_req *req;

	req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->gpu = gpu;
	req->out_len = out_len;
	req->in_off = in_off;
	req->in_len = in_len;
	req->npages = (uint32_t)((total + GSIM_PAGE_SIZE - 1) / GSIM_PAGE_SIZE);
	req->gpa = gsim_ram_alloc_contig(gpu->ram, req->npages);
	if (!req->gpa) {
		vsvmg_log(
			"virtio-gpu: guest RAM exhausted (%u pages for a command)",
			req->npages);
		free(req);
		return NULL;
	}
	req->buf = gsim_ram_ptr(gpu->ram, req->gpa,
				(uint64_t)req->npages * GSIM_PAGE_SIZE);
	return req;
}

static void req_free_bounce(struct gpu_req *req)
{
	gsim_ram_free_contig(req->gpu->ram, req->gpa, req->npages);
	req->buf = NULL;
}

static void complete_submit(struct gpu_req *req, uint32_t len, int err)
{
	struct gsim_gpu *gpu = req->gpu;
	struct vsvmg_submission *sub = req->sub;
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t n = 0;

	pthread_mutex_lock(&gpu->lock);
	while (!req->published)
		pthread_cond_wait(&gpu->cond, &gpu->lock);
	pthread_mutex_unlock(&gpu->lock);

	sub->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (!err && len < sizeof(hdr)) {
		vsvmg_log(
			"virtio-gpu: SUBMIT_3D response of %u bytes, shorter than its header",
			len);
	} else if (!err) {
		memcpy(&hdr, req->buf + req->in_off, sizeof(hdr));
		sub->resp_type = le32toh(hdr.type);
		n = len - (uint32_t)sizeof(hdr);
		if (n > req->cap)
			n = req->cap; /* the ring already clamps; belt */
		if (n)
			memcpy(req->reply, req->buf + req->in_off + sizeof(hdr),
			       n);
	}
	sub->reply_len = n;
	req_free_bounce(req);
	free(req);
	sub->done(sub);
}

static void complete_sync(struct gpu_req *req, uint32_t len, int err)
{
	struct gsim_gpu *gpu = req->gpu;
	int last;

	/* Cursor commands have no response; everything else a header. */
	if (!err && req->resp_len && len < sizeof(struct virtio_gpu_ctrl_hdr)) {
		vsvmg_log(
			"virtio-gpu: response of %u bytes, shorter than its header",
			len);
		err = -EPROTO;
	}
	pthread_mutex_lock(&gpu->lock);
	if (!err && !req->abandoned && req->resp_len)
		memcpy(req->resp, req->buf + req->in_off,
		       len < req->resp_len ? len : req->resp_len);
	/*
	 * Free the bounce buffer before the waiter can see done: once it
	 * does, it may free req, and its caller may count guest RAM pages.
	 */
	req_free_bounce(req);
	req->err = err;
	req->len = len;
	req->done = 1;
	last = --req->refs == 0;
	pthread_cond_broadcast(&gpu->cond);
	pthread_mutex_unlock(&gpu->lock);
	if (last)
		free(req);
}

/* The ring's callback, in the interrupt thread (or a cancelling one). */
static void req_done(void *arg, uint32_t len, int err)
{
	struct gpu_req *req = arg;

	in_completion++;
	if (req->kind == GPU_REQ_SUBMIT)
		complete_submit(req, len, err);
	else
		complete_sync(req, len, err);
	in_completion--;
}

static int req_queue(struct gsim_gpu *gpu, unsigned int queue,
		     struct gpu_req *req)
{
	struct gsim_vq_seg segs[2] = {
		{ req->gpa, req->out_len },
		{ req->gpa + req->in_off, req->in_len },
	};

	return gsim_vq_add(gpu->vq[queue], segs, 1, req->in_len ? 1 : 0,
			   req_done, req);
}

static int wait_sync(struct gsim_gpu *gpu, struct gpu_req *req)
{
	struct timespec deadline;
	int err = 0, last;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += gpu->timeout_ms / 1000;
	deadline.tv_nsec += (long)(gpu->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&gpu->lock);
	while (!req->done && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&gpu->cond, &gpu->lock, &deadline);
	if (req->done) {
		err = req->err ? req->err : (int)req->len;
	} else {
		req->abandoned = 1;
		err = -ETIMEDOUT;
	}
	last = --req->refs == 0;
	pthread_mutex_unlock(&gpu->lock);
	if (last)
		free(req);
	return err;
}

int gsim_gpu_command(struct gsim_gpu *gpu, unsigned int queue, const void *cmd,
		     uint32_t cmd_len, void *resp, uint32_t resp_len)
{
	struct gpu_req *req;
	int err;

	if (queue >= GSIM_GPU_NR_QUEUES ||
	    cmd_len < sizeof(struct virtio_gpu_ctrl_hdr) ||
	    cmd_len > GPU_MAX_STREAM || resp_len > GPU_MAX_REPLY ||
	    (resp_len && !resp))
		return -EINVAL;
	if (in_completion)
		return -EDEADLK;
	req = req_alloc(gpu, cmd_len, resp_len);
	if (!req)
		return -ENOMEM;
	memcpy(req->buf, cmd, cmd_len);
	req->kind = GPU_REQ_SYNC;
	req->resp = resp;
	req->resp_len = resp_len;
	req->refs = 2;
	err = req_queue(gpu, queue, req);
	if (err) {
		req_free_bounce(req);
		free(req);
		return err;
	}
	err = wait_sync(gpu, req);
	if (err == -ETIMEDOUT) {
		const struct virtio_gpu_ctrl_hdr *hdr = cmd;

		vsvmg_log("virtio-gpu: command 0x%x: no response in %u ms",
			  le32toh(hdr->type), gpu->timeout_ms);
	}
	return err;
}

/* Map an error response to -errno; 0 if type is the expected one. */
static int resp_errno(uint32_t type, uint32_t expected, const char *what)
{
	if (type == expected)
		return 0;
	vsvmg_log("virtio-gpu: %s: response 0x%x", what, type);
	switch (type) {
	case VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY:
		return -ENOMEM;
	case VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID:
	case VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID:
	case VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID:
	case VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER:
		return -EINVAL;
	case VIRTIO_GPU_RESP_ERR_UNSPEC:
		return -EIO;
	default:
		return -EPROTO;
	}
}

/* A command with a fixed-size response of the expected type. */
static int command_expect(struct gsim_gpu *gpu, const void *cmd,
			  uint32_t cmd_len, void *resp, uint32_t resp_len,
			  uint32_t expected, const char *what)
{
	struct virtio_gpu_ctrl_hdr *hdr = resp;
	int n;

	memset(resp, 0, resp_len);
	n = gsim_gpu_command(gpu, GSIM_GPU_CONTROLQ, cmd, cmd_len, resp,
			     resp_len);
	if (n < 0)
		return n;
	return resp_errno(le32toh(hdr->type), expected, what);
}

int gsim_gpu_get_display_info(struct gsim_gpu *gpu,
			      struct virtio_gpu_resp_display_info *out)
{
	struct virtio_gpu_ctrl_hdr cmd = {
		.type = htole32(VIRTIO_GPU_CMD_GET_DISPLAY_INFO),
	};

	return command_expect(gpu, &cmd, sizeof(cmd), out, sizeof(*out),
			      VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
			      "GET_DISPLAY_INFO");
}

int gsim_gpu_get_capset_info(struct gsim_gpu *gpu, uint32_t index,
			     struct virtio_gpu_resp_capset_info *out)
{
	struct virtio_gpu_get_capset_info cmd = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_GET_CAPSET_INFO),
		.capset_index = htole32(index),
	};

	return command_expect(gpu, &cmd, sizeof(cmd), out, sizeof(*out),
			      VIRTIO_GPU_RESP_OK_CAPSET_INFO,
			      "GET_CAPSET_INFO");
}

int gsim_gpu_get_capset(struct gsim_gpu *gpu, uint32_t id, uint32_t version,
			uint32_t max_size, void *buf, uint32_t cap)
{
	struct virtio_gpu_get_capset cmd = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_GET_CAPSET),
		.capset_id = htole32(id),
		.capset_version = htole32(version),
	};
	const uint32_t hdr_len = sizeof(struct virtio_gpu_resp_capset);
	struct virtio_gpu_resp_capset *resp;
	uint32_t got;
	int n, err;

	if (max_size == 0 || max_size > GPU_MAX_CAPSET_SIZE)
		return -EINVAL;
	resp = calloc(1, hdr_len + max_size);
	if (!resp)
		return -ENOMEM;
	n = gsim_gpu_command(gpu, GSIM_GPU_CONTROLQ, &cmd, sizeof(cmd), resp,
			     hdr_len + max_size);
	if (n < 0) {
		err = n;
		goto out;
	}
	err = resp_errno(le32toh(resp->hdr.type), VIRTIO_GPU_RESP_OK_CAPSET,
			 "GET_CAPSET");
	if (err)
		goto out;
	got = (uint32_t)n - hdr_len;
	if (got > max_size)
		got = max_size;
	if (got > cap)
		got = cap;
	memcpy(buf, resp->capset_data, got);
	err = (int)got;
out:
	free(resp);
	return err;
}

/* ---- struct vsvmg_transport_ops ---- */

static int gpu_get_capset(void *t, void *buf, __u32 cap)
{
	struct gsim_gpu *gpu = t;
	struct virtio_gpu_resp_capset_info info;
	uint32_t i, n = gpu->num_capsets;
	int err;

	if (n > GPU_MAX_CAPSETS) {
		vsvmg_log("virtio-gpu: device claims %u capsets; looking at %u",
			  n, GPU_MAX_CAPSETS);
		n = GPU_MAX_CAPSETS;
	}
	for (i = 0; i < n; i++) {
		err = gsim_gpu_get_capset_info(gpu, i, &info);
		if (err)
			return err;
		if (le32toh(info.capset_id) != VSVM_CAPSET_ID)
			continue;
		if (le32toh(info.capset_max_version) < VSVM_CAPSET_VERSION) {
			vsvmg_log("virtio-gpu: svm capset version %u < %u",
				  le32toh(info.capset_max_version),
				  VSVM_CAPSET_VERSION);
			return -EPROTONOSUPPORT;
		}
		return gsim_gpu_get_capset(
			gpu, VSVM_CAPSET_ID, VSVM_CAPSET_VERSION,
			le32toh(info.capset_max_size), buf, cap);
	}
	vsvmg_log("virtio-gpu: no svm capset (id 0x%x) among %u capsets",
		  VSVM_CAPSET_ID, gpu->num_capsets);
	return -ENOENT;
}

static int gpu_ctx_create(void *t, __u32 ctx_id, __u32 context_init)
{
	struct gsim_gpu *gpu = t;
	struct virtio_gpu_ctx_create cmd = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_CTX_CREATE),
		.hdr.ctx_id = htole32(ctx_id),
		.nlen = htole32(sizeof(GPU_DEBUG_NAME) - 1),
	};
	struct virtio_gpu_ctrl_hdr resp;

	/* Without CONTEXT_INIT the field is reserved: a plain context. */
	if (gpu->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT))
		cmd.context_init = htole32(context_init);
	memcpy(cmd.debug_name, GPU_DEBUG_NAME, sizeof(GPU_DEBUG_NAME) - 1);
	return command_expect(gpu, &cmd, sizeof(cmd), &resp, sizeof(resp),
			      VIRTIO_GPU_RESP_OK_NODATA, "CTX_CREATE");
}

static int gpu_ctx_destroy(void *t, __u32 ctx_id)
{
	struct gsim_gpu *gpu = t;
	struct virtio_gpu_ctx_destroy cmd = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_CTX_DESTROY),
		.hdr.ctx_id = htole32(ctx_id),
	};
	struct virtio_gpu_ctrl_hdr resp;

	return command_expect(gpu, &cmd, sizeof(cmd), &resp, sizeof(resp),
			      VIRTIO_GPU_RESP_OK_NODATA, "CTX_DESTROY");
}

static int gpu_submit(void *t, __u32 ctx_id, const void *cmds, __u32 len,
		      void *reply, __u32 cap, struct vsvmg_submission *sub)
{
	struct gsim_gpu *gpu = t;
	struct virtio_gpu_cmd_submit *hdr;
	struct gpu_req *req;
	int err;

	if (!sub || !sub->done || (len && !cmds) || (cap && !reply))
		return -EINVAL;
	if (len > GPU_MAX_STREAM || cap > GPU_MAX_REPLY)
		return -E2BIG;
	req = req_alloc(gpu, (uint32_t)sizeof(*hdr) + len,
			(uint32_t)sizeof(struct virtio_gpu_ctrl_hdr) + cap);
	if (!req)
		return -ENOMEM;
	hdr = (struct virtio_gpu_cmd_submit *)req->buf;
	hdr->hdr.type = htole32(VIRTIO_GPU_CMD_SUBMIT_3D);
	hdr->hdr.ctx_id = htole32(ctx_id);
	hdr->size = htole32(len);
	if (len)
		memcpy(req->buf + sizeof(*hdr), cmds, len);
	req->kind = GPU_REQ_SUBMIT;
	req->sub = sub;
	req->reply = reply;
	req->cap = cap;
	err = req_queue(gpu, GSIM_GPU_CONTROLQ, req);
	if (err) {
		req_free_bounce(req);
		free(req);
		return err;
	}
	/* From here the completion may run; it waits for this mark. */
	pthread_mutex_lock(&gpu->lock);
	req->published = 1;
	pthread_cond_broadcast(&gpu->cond);
	pthread_mutex_unlock(&gpu->lock);
	return 0;
}

const struct vsvmg_transport_ops gsim_gpu_transport_ops = {
	.get_capset = gpu_get_capset,
	.ctx_create = gpu_ctx_create,
	.ctx_destroy = gpu_ctx_destroy,
	.submit = gpu_submit,
};

/* ---- bring-up and teardown ---- */

uint64_t gsim_gpu_features(const struct gsim_gpu *gpu)
{
	return gpu->features;
}

uint32_t gsim_gpu_num_capsets(const struct gsim_gpu *gpu)
{
	return gpu->num_capsets;
}

struct gsim_vhost *gsim_gpu_vhost(struct gsim_gpu *gpu)
{
	return gpu->vh;
}

struct gsim_vq *gsim_gpu_queue(struct gsim_gpu *gpu, unsigned int index)
{
	return index < GSIM_GPU_NR_QUEUES ? gpu->vq[index] : NULL;
}

static int read_config(struct gsim_gpu *gpu)
{
	struct virtio_gpu_config config;
	int err;

	err = gsim_vhost_get_config(gpu->vh, &config, sizeof(config));
	if (err == -EOPNOTSUPP) {
		/* QEMU would have no config to show the guest either. */
		vsvmg_log(
			"virtio-gpu: backend offers no CONFIG; assuming no capsets");
		return 0;
	}
	if (err)
		return err;
	gpu->num_capsets = le32toh(config.num_capsets);
	return 0;
}

/* SET_VRING_NUM/BASE/ADDR/KICK for one ring, with this process's VAs. */
static int setup_ring(struct gsim_gpu *gpu, struct gsim_vq *vq)
{
	struct gsim_vq_layout l;
	struct gsim_vhost_vring vr;
	uint8_t *base;

	gsim_vq_layout(vq, &l);
	base = gsim_ram_ptr(gpu->ram, l.desc_gpa, l.size);
	vr.index = l.index;
	vr.num = l.num;
	vr.desc_uva = (uint64_t)(uintptr_t)base;
	vr.avail_uva = (uint64_t)(uintptr_t)(base + (l.avail_gpa - l.desc_gpa));
	vr.used_uva = (uint64_t)(uintptr_t)(base + (l.used_gpa - l.desc_gpa));
	vr.used_gpa = l.used_gpa;
	vr.kick_fd = l.kick_fd;
	return gsim_vhost_vring_setup(gpu->vh, &vr);
}

/* QEMU's device start, after realize. */
static int start_device(struct gsim_gpu *gpu, int display_socket)
{
	struct gsim_region regions[GSIM_VHOST_MAX_REGIONS];
	struct gsim_vq_layout l;
	unsigned int i, nr;
	int err;

	if (display_socket) {
		err = gsim_vhost_gpu_set_socket(gpu->vh);
		if (err)
			return err;
	}
	err = gsim_vhost_set_features(gpu->vh);
	if (err)
		return err;
	nr = gsim_ram_regions(gpu->ram, regions, GSIM_VHOST_MAX_REGIONS);
	err = gsim_vhost_set_mem_table(gpu->vh, regions, nr,
				       gsim_ram_fd(gpu->ram));
	if (err)
		return err;
	for (i = 0; i < GSIM_GPU_NR_QUEUES; i++) {
		gsim_vq_set_event_idx(
			gpu->vq[i],
			!!(gpu->features & (1ull << VIRTIO_RING_F_EVENT_IDX)));
		err = setup_ring(gpu, gpu->vq[i]);
		if (err)
			return err;
		gpu->rings_started++;
	}
	for (i = 0; i < GSIM_GPU_NR_QUEUES; i++) {
		err = gsim_vhost_vring_enable(gpu->vh, i, 1);
		if (err)
			return err;
	}
	for (i = 0; i < GSIM_GPU_NR_QUEUES; i++) {
		gsim_vq_layout(gpu->vq[i], &l);
		err = gsim_vhost_vring_set_call(gpu->vh, i, l.call_fd);
		if (err)
			return err;
		/*
		 * Until now the backend signalled the masked fd; look at the
		 * used ring once, as QEMU does when it unmasks a vector.
		 */
		eventfd_write(l.call_fd, 1);
	}
	return 0;
}

static int connect_device(struct gsim_gpu *gpu, const char *socket_path,
			  int display_socket)
{
	const uint64_t want = (1ull << VIRTIO_GPU_F_VIRGL) |
			      (1ull << VIRTIO_GPU_F_CONTEXT_INIT);
	int err;

	err = gsim_vhost_connect(socket_path, gpu->timeout_ms, &gpu->vh);
	if (err)
		return err;
	err = gsim_vhost_negotiate(gpu->vh, want, GSIM_GPU_NR_QUEUES);
	if (err)
		return err;
	gpu->features = gsim_vhost_features(gpu->vh);
	err = read_config(gpu);
	if (err)
		return err;
	err = gsim_vq_irq_start(gpu->vq, GSIM_GPU_NR_QUEUES,
				gsim_vhost_fd(gpu->vh), &gpu->irq);
	if (err)
		return err;
	return start_device(gpu, display_socket);
}

/* Undo whatever connect_device() and gsim_gpu_connect() got done. */
static void teardown(struct gsim_gpu *gpu)
{
	unsigned int i;
	uint32_t base;

	if (gpu->irq) {
		/* QEMU's vhost_dev_stop(): disable, then stop, each ring. */
		for (i = 0; i < gpu->rings_started; i++)
			gsim_vhost_vring_enable(gpu->vh, i, 0);
		for (i = 0; i < gpu->rings_started; i++) {
			if (gsim_vhost_vring_get_base(gpu->vh, i, &base))
				continue;
			if ((uint16_t)base != gsim_vq_avail_idx(gpu->vq[i]))
				vsvmg_log(
					"virtio-gpu: vring %u stopped at avail %u of %u",
					i, base, gsim_vq_avail_idx(gpu->vq[i]));
		}
		gsim_vq_irq_stop(gpu->irq);
		/* The rings are stopped: take what finished, fail the rest. */
		for (i = 0; i < GSIM_GPU_NR_QUEUES; i++)
			gsim_vq_harvest(gpu->vq[i]);
	}
	gsim_vhost_close(gpu->vh);
	for (i = 0; i < GSIM_GPU_NR_QUEUES; i++)
		gsim_vq_destroy(gpu->vq[i]);
	pthread_cond_destroy(&gpu->cond);
	pthread_mutex_destroy(&gpu->lock);
	free(gpu);
}

int gsim_gpu_connect(struct gsim_ram *ram, const char *socket_path,
		     const struct gsim_gpu_config *cfg, struct gsim_gpu **out)
{
	uint32_t qsize =
		cfg && cfg->queue_size ? cfg->queue_size : GSIM_GPU_QUEUE_SIZE;
	struct gsim_gpu *gpu;
	pthread_condattr_t attr;
	unsigned int i;
	int err;

	gpu = calloc(1, sizeof(*gpu));
	if (!gpu)
		return -ENOMEM;
	gpu->ram = ram;
	gpu->timeout_ms =
		cfg && cfg->timeout_ms ? cfg->timeout_ms : GSIM_GPU_TIMEOUT_MS;
	pthread_mutex_init(&gpu->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&gpu->cond, &attr);
	pthread_condattr_destroy(&attr);
	for (i = 0; i < GSIM_GPU_NR_QUEUES; i++) {
		err = gsim_vq_create(ram, (uint16_t)i, qsize, &gpu->vq[i]);
		if (err) {
			vsvmg_log(
				"virtio-gpu: cannot create vring %u of %u: %s",
				i, qsize, strerror(-err));
			goto err_teardown;
		}
	}
	err = connect_device(gpu, socket_path,
			     !(cfg && cfg->no_display_socket));
	if (err) {
		vsvmg_log("virtio-gpu: bring-up over %s failed: %s",
			  socket_path, strerror(-err));
		goto err_teardown;
	}
	*out = gpu;
	return 0;

err_teardown:
	teardown(gpu);
	return err;
}

void gsim_gpu_disconnect(struct gsim_gpu *gpu)
{
	if (gpu)
		teardown(gpu);
}
