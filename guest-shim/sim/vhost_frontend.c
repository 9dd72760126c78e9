// SPDX-License-Identifier: MIT
/*
 * vhost_frontend.c - the vhost-user frontend (QEMU's side of the socket).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Wire format
 *
 * A vhost-user message is a 12-byte header (request, flags, size) and size
 * bytes of payload, in host byte order; file descriptors ride along as
 * SCM_RIGHTS ancillary data of the header.  flags holds the protocol
 * version (1) in bits 0-1, the reply bit (bit 2) and need-reply (bit 3).
 * The payload structs below are the spec's, with compile-time size checks.
 * The vhost-user-gpu display protocol has the same 12-byte header shape.
 *
 * One function, vu_call(), performs every exchange: it sends, then reads
 * and validates the reply or the REPLY_ACK acknowledgement.  Nothing else
 * reads the control socket.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "guest_ram.h"
#include "vhost_frontend.h"
#include "vsvmg_os.h"

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_GPU_SET_SOCKET = 33,
	VU_REQUEST_NR,
};

static const char *const vu_request_names[VU_REQUEST_NR] = {
	[VU_GET_FEATURES] = "GET_FEATURES",
	[VU_SET_FEATURES] = "SET_FEATURES",
	[VU_SET_OWNER] = "SET_OWNER",
	[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VU_GET_CONFIG] = "GET_CONFIG",
	[VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
};

#define VU_VERSION	   0x1u
#define VU_VERSION_MASK	   0x3u
#define VU_FLAG_REPLY	   (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_VRING_NOFD	   (1ull << 8) /* in SET_VRING_KICK/CALL/ERR */
#define VU_VRING_IDX_MASK  0xffull

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_uva;
	uint64_t used_uva;
	uint64_t avail_uva;
	uint64_t log_gpa;
};

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[GSIM_VHOST_MAX_REGIONS];
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[GSIM_VHOST_CONFIG_MAX];
};

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_vring_state) == 8, "vring state");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address");
_Static_assert(sizeof(struct vu_region) == 32, "memory region");
_Static_assert(offsetof(struct vu_mem_table, regions) == 8, "memory table");
_Static_assert(sizeof(struct vu_config) == 12 + 256, "config");

/* vhost-user-gpu display protocol (docs/interop/vhost-user-gpu.rst). */
enum vu_gpu_request {
	VU_GPU_GET_PROTOCOL_FEATURES = 1,
	VU_GPU_SET_PROTOCOL_FEATURES = 2,
	VU_GPU_GET_DISPLAY_INFO = 3,
	VU_GPU_CURSOR_POS = 4,
	VU_GPU_CURSOR_POS_HIDE = 5,
	VU_GPU_CURSOR_UPDATE = 6,
	VU_GPU_SCANOUT = 7,
	VU_GPU_UPDATE = 8,
	VU_GPU_DMABUF_SCANOUT = 9,
	VU_GPU_DMABUF_UPDATE = 10,
	VU_GPU_GET_EDID = 11,
	VU_GPU_DMABUF_SCANOUT2 = 12,
};

#define VU_GPU_FLAG_REPLY (1u << 2)
/* Resolution offered for the one (disabled) scanout. */
#define DISPLAY_WIDTH	  1024
#define DISPLAY_HEIGHT	  768

/* Most fds one message may carry: the memory table's. */
#define VU_MAX_FDS	  GSIM_VHOST_MAX_REGIONS

struct gsim_vhost {
	int sock;
	pthread_mutex_t lock; /* one exchange at a time */
	int broken;	      /* first fatal -errno, sticky */

	uint64_t offered; /* GET_FEATURES */
	uint64_t acked;	  /* what SET_FEATURES will send */
	uint64_t protocol_offered;
	uint64_t protocol_acked;
	unsigned int nr_queues;
	int masked_call[GSIM_VHOST_MAX_QUEUES];
	int err_fd[GSIM_VHOST_MAX_QUEUES];

	int gpu_sock; /* our end of the display socketpair */
	int display_running;
	pthread_t display_tid;
	pthread_mutex_t stats_lock;
	struct gsim_vhost_display_stats stats;
};

static const char *vu_name(uint32_t req)
{
	if (req < VU_REQUEST_NR && vu_request_names[req])
		return vu_request_names[req];
	return "UNKNOWN";
}

static int has_protocol(const struct gsim_vhost *vh, unsigned int bit)
{
	return !!(vh->protocol_acked & (1ull << bit));
}

/* A fatal error: log it and remember it for every later call. */
static int vu_fail(struct gsim_vhost *vh, uint32_t req, int err,
		   const char *why)
{
	vsvmg_log("vhost-user: %s: %s (%s)", vu_name(req), why, strerror(-err));
	if (!vh->broken)
		vh->broken = err;
	return err;
}

static void close_fds(const int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Collect SCM_RIGHTS fds from msg into fds[]; return how many. */
static unsigned int take_fds(struct msghdr *msg, int *fds, unsigned int max)
{
	struct cmsghdr *cmsg;
	unsigned int n = 0, i, k;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned int)((cmsg->cmsg_len - CMSG_LEN(0)) /
				   sizeof(int));
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			       sizeof(fd));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/*
 * Read exactly len bytes.  The first read takes any fds that came with
 * them (they belong to the first byte of a message).  Return 0, -EPIPE on
 * EOF, -ETIMEDOUT or -errno.
 */
static int read_full(int fd, void *buf, size_t len, int *fds,
		     unsigned int *nr_fds, unsigned int max_fds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	size_t done = 0;
	ssize_t r;

	if (nr_fds)
		*nr_fds = 0;
	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		if (done == 0 && fds) {
			msg.msg_control = ctrl.buf;
			msg.msg_controllen = sizeof(ctrl.buf);
		}
		r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -EPIPE;
		if (msg.msg_controllen && fds)
			*nr_fds = take_fds(&msg, fds, max_fds);
		done += (size_t)r;
	}
	return 0;
}

static int send_msg(int fd, const void *hdr, size_t hdr_len,
		    const void *payload, size_t len, const int *fds,
		    unsigned int nr_fds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2] = {
		{ (void *)hdr, hdr_len },
		{ (void *)payload, len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	struct cmsghdr *cmsg;
	ssize_t r;

	if (nr_fds > VU_MAX_FDS)
		return -EINVAL;
	if (nr_fds) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nr_fds * sizeof(int));
	}
	do {
		/* MSG_NOSIGNAL: a dead backend is an error, not SIGPIPE. */
		r = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if ((size_t)r != hdr_len + len)
		return -EIO; /* a stream socket sends all or blocks */
	return 0;
}

/*
 * Read and check the reply to req: version 1, reply bit, same request,
 * exactly size bytes, no fds.  Caller holds vh->lock.
 */
static int recv_reply(struct gsim_vhost *vh, uint32_t req, void *payload,
		      uint32_t size)
{
	int fds[VU_MAX_FDS];
	unsigned int nr_fds;
	struct vu_hdr hdr;
	int err;

	err = read_full(vh->sock, &hdr, sizeof(hdr), fds, &nr_fds, VU_MAX_FDS);
	if (err)
		return vu_fail(vh, req, err,
			       err == -EPIPE ? "backend closed the socket" :
					       "no reply from backend");
	if (nr_fds) {
		close_fds(fds, nr_fds);
		return vu_fail(vh, req, -EPROTO, "reply carried fds");
	}
	if ((hdr.flags & VU_VERSION_MASK) != VU_VERSION ||
	    !(hdr.flags & VU_FLAG_REPLY))
		return vu_fail(vh, req, -EPROTO, "reply has bad version/flags");
	if (hdr.request != req)
		return vu_fail(vh, req, -EPROTO,
			       "reply is for another request");
	if (hdr.size != size)
		return vu_fail(vh, req, -EPROTO, "reply has the wrong size");
	err = read_full(vh->sock, payload, size, NULL, NULL, 0);
	if (err)
		return vu_fail(vh, req, err, "truncated reply");
	return 0;
}

/*
 * One exchange.  reply != NULL: the request has a reply payload of exactly
 * reply_size bytes.  Otherwise, with REPLY_ACK negotiated, ask for the
 * acknowledgement and turn a non-zero one into -EREMOTEIO.
 */
static int vu_call(struct gsim_vhost *vh, uint32_t req, const void *payload,
		   uint32_t size, const int *fds, unsigned int nr_fds,
		   void *reply, uint32_t reply_size)
{
	struct vu_hdr hdr = { req, VU_VERSION, size };
	int ack = !reply && has_protocol(vh, GSIM_VHOST_PROTOCOL_F_REPLY_ACK);
	uint64_t status;
	int err;

	if (ack)
		hdr.flags |= VU_FLAG_NEED_REPLY;
	pthread_mutex_lock(&vh->lock);
	if (vh->broken) {
		err = vh->broken;
		goto out;
	}
	err = send_msg(vh->sock, &hdr, sizeof(hdr), payload, size, fds, nr_fds);
	if (err) {
		err = vu_fail(vh, req, err, "cannot send");
		goto out;
	}
	if (reply) {
		err = recv_reply(vh, req, reply, reply_size);
	} else if (ack) {
		err = recv_reply(vh, req, &status, sizeof(status));
		if (!err && status) {
			/* A refusal is not a protocol error: not sticky. */
			vsvmg_log(
				"vhost-user: %s: backend refused (status %llu)",
				vu_name(req), (unsigned long long)status);
			err = -EREMOTEIO;
		}
	}
out:
	pthread_mutex_unlock(&vh->lock);
	return err;
}

static int vu_get_u64(struct gsim_vhost *vh, uint32_t req, uint64_t *val)
{
	return vu_call(vh, req, NULL, 0, NULL, 0, val, sizeof(*val));
}

static int vu_set_u64(struct gsim_vhost *vh, uint32_t req, uint64_t val)
{
	return vu_call(vh, req, &val, sizeof(val), NULL, 0, NULL, 0);
}

static int vu_set_state(struct gsim_vhost *vh, uint32_t req, uint32_t index,
			uint32_t num)
{
	struct vu_vring_state s = { index, num };

	return vu_call(vh, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

/* SET_VRING_KICK/CALL/ERR: the index, and the fd as ancillary data. */
static int vu_set_vring_fd(struct gsim_vhost *vh, uint32_t req, uint32_t index,
			   int fd)
{
	uint64_t val = index & VU_VRING_IDX_MASK;

	if (fd < 0)
		val |= VU_VRING_NOFD;
	return vu_call(vh, req, &val, sizeof(val), &fd, fd < 0 ? 0 : 1, NULL,
		       0);
}

int gsim_vhost_connect(const char *path, unsigned int timeout_ms,
		       struct gsim_vhost **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	const struct timespec pause = { 0, 10 * 1000 * 1000 };
	unsigned int waited_ms = 0;
	struct gsim_vhost *vh;
	unsigned int i;
	int err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	vh = calloc(1, sizeof(*vh));
	if (!vh)
		return -ENOMEM;
	for (i = 0; i < GSIM_VHOST_MAX_QUEUES; i++)
		vh->masked_call[i] = vh->err_fd[i] = -1;
	vh->gpu_sock = -1;
	for (;;) {
		/* A fresh socket per try: a failed connect() may spoil one. */
		vh->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (vh->sock < 0) {
			err = -errno;
			goto err_free;
		}
		if (!connect(vh->sock, (struct sockaddr *)&addr, sizeof(addr)))
			break;
		err = -errno;
		if ((err != -ENOENT && err != -ECONNREFUSED) ||
		    waited_ms >= timeout_ms) {
			vsvmg_log("vhost-user: cannot connect to %s: %s", path,
				  strerror(-err));
			goto err_close;
		}
		close(vh->sock);
		nanosleep(&pause, NULL);
		waited_ms += 10;
	}
	if (setsockopt(vh->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(vh->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		err = -errno;
		goto err_close;
	}
	pthread_mutex_init(&vh->lock, NULL);
	pthread_mutex_init(&vh->stats_lock, NULL);
	*out = vh;
	return 0;

err_close:
	close(vh->sock);
err_free:
	free(vh);
	return err;
}

int gsim_vhost_fd(const struct gsim_vhost *vh)
{
	return vh->sock;
}

uint64_t gsim_vhost_features(const struct gsim_vhost *vh)
{
	return vh->acked;
}

uint64_t gsim_vhost_offered_features(const struct gsim_vhost *vh)
{
	return vh->offered;
}

uint64_t gsim_vhost_protocol_features(const struct gsim_vhost *vh)
{
	return vh->protocol_acked;
}

static int negotiate_protocol(struct gsim_vhost *vh)
{
	const uint64_t want = (1ull << GSIM_VHOST_PROTOCOL_F_MQ) |
			      (1ull << GSIM_VHOST_PROTOCOL_F_REPLY_ACK) |
			      (1ull << GSIM_VHOST_PROTOCOL_F_CONFIG);
	uint64_t acked;
	int err;

	err = vu_get_u64(vh, VU_GET_PROTOCOL_FEATURES, &vh->protocol_offered);
	if (err)
		return err;
	acked = vh->protocol_offered & want;
	/* Sent before REPLY_ACK is in force, so never acknowledged. */
	err = vu_set_u64(vh, VU_SET_PROTOCOL_FEATURES, acked);
	if (err)
		return err;
	vh->protocol_acked = acked;
	return 0;
}

/* QEMU's vhost_virtqueue_init(): a masked call fd and an error fd. */
static int init_queue_fds(struct gsim_vhost *vh, uint32_t index)
{
	int err;

	vh->masked_call[index] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vh->err_fd[index] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vh->masked_call[index] < 0 || vh->err_fd[index] < 0)
		return -errno;
	err = vu_set_vring_fd(vh, VU_SET_VRING_CALL, index,
			      vh->masked_call[index]);
	if (err)
		return err;
	return vu_set_vring_fd(vh, VU_SET_VRING_ERR, index, vh->err_fd[index]);
}

int gsim_vhost_negotiate(struct gsim_vhost *vh, uint64_t device_features,
			 unsigned int nr_queues)
{
	const uint64_t transport = (1ull << VIRTIO_F_VERSION_1) |
				   (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
				   (1ull << VIRTIO_RING_F_EVENT_IDX) |
				   (1ull << GSIM_VHOST_F_PROTOCOL_FEATURES);
	uint64_t queues;
	unsigned int i;
	int err;

	if (nr_queues == 0 || nr_queues > GSIM_VHOST_MAX_QUEUES)
		return -EINVAL;
	err = vu_get_u64(vh, VU_GET_FEATURES, &vh->offered);
	if (err)
		return err;
	if (!(vh->offered & (1ull << VIRTIO_F_VERSION_1)))
		return vu_fail(vh, VU_GET_FEATURES, -EPROTO,
			       "backend does not offer VIRTIO_F_VERSION_1");
	vh->acked = vh->offered & (transport | (device_features & 0xffffff));

	if (vh->offered & (1ull << GSIM_VHOST_F_PROTOCOL_FEATURES)) {
		err = negotiate_protocol(vh);
		if (err)
			return err;
	}
	if (has_protocol(vh, GSIM_VHOST_PROTOCOL_F_MQ)) {
		err = vu_get_u64(vh, VU_GET_QUEUE_NUM, &queues);
		if (err)
			return err;
		if (queues < nr_queues)
			return vu_fail(vh, VU_GET_QUEUE_NUM, -EPROTO,
				       "backend has too few queues");
	}
	err = vu_call(vh, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (err)
		return err;
	vh->nr_queues = nr_queues;
	for (i = 0; i < nr_queues; i++) {
		err = init_queue_fds(vh, i);
		if (err)
			return err;
	}
	return 0;
}

int gsim_vhost_get_config(struct gsim_vhost *vh, void *buf, uint32_t len)
{
	struct vu_config cfg = { .offset = 0, .size = len };
	uint32_t size = (uint32_t)offsetof(struct vu_config, region) + len;
	int err;

	if (!has_protocol(vh, GSIM_VHOST_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	if (len == 0 || len > GSIM_VHOST_CONFIG_MAX)
		return -EINVAL;
	/* The reply is the request with the region filled in. */
	err = vu_call(vh, VU_GET_CONFIG, &cfg, size, NULL, 0, &cfg, size);
	if (err)
		return err;
	if (cfg.offset != 0 || cfg.size != len)
		return vu_fail(vh, VU_GET_CONFIG, -EPROTO,
			       "reply describes another config range");
	memcpy(buf, cfg.region, len);
	return 0;
}

int gsim_vhost_set_features(struct gsim_vhost *vh)
{
	return vu_set_u64(vh, VU_SET_FEATURES, vh->acked);
}

int gsim_vhost_set_mem_table(struct gsim_vhost *vh,
			     const struct gsim_region *regions, unsigned int nr,
			     int fd)
{
	struct vu_mem_table mt = { .nregions = nr };
	int fds[GSIM_VHOST_MAX_REGIONS];
	unsigned int i;

	if (nr == 0 || nr > GSIM_VHOST_MAX_REGIONS)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		mt.regions[i].gpa = regions[i].gpa;
		mt.regions[i].size = regions[i].size;
		mt.regions[i].uva = regions[i].uva;
		mt.regions[i].mmap_offset = regions[i].mmap_offset;
		/* QEMU sends one fd per region, even when they repeat. */
		fds[i] = fd;
	}
	return vu_call(vh, VU_SET_MEM_TABLE, &mt,
		       (uint32_t)(offsetof(struct vu_mem_table, regions) +
				  nr * sizeof(struct vu_region)),
		       fds, nr, NULL, 0);
}

int gsim_vhost_vring_setup(struct gsim_vhost *vh,
			   const struct gsim_vhost_vring *vr)
{
	struct vu_vring_addr addr = {
		.index = vr->index,
		.flags = 0,
		.desc_uva = vr->desc_uva,
		.used_uva = vr->used_uva,
		.avail_uva = vr->avail_uva,
		.log_gpa = vr->used_gpa,
	};
	int err;

	err = vu_set_state(vh, VU_SET_VRING_NUM, vr->index, vr->num);
	if (!err)
		err = vu_set_state(vh, VU_SET_VRING_BASE, vr->index, 0);
	if (!err)
		err = vu_call(vh, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL,
			      0, NULL, 0);
	if (!err)
		err = vu_set_vring_fd(vh, VU_SET_VRING_KICK, vr->index,
				      vr->kick_fd);
	return err;
}

int gsim_vhost_vring_enable(struct gsim_vhost *vh, uint32_t index, int on)
{
	/*
	 * Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled as soon as
	 * it starts and the request does not exist (vhost-user.rst).
	 */
	if (!(vh->acked & (1ull << GSIM_VHOST_F_PROTOCOL_FEATURES)))
		return 0;
	return vu_set_state(vh, VU_SET_VRING_ENABLE, index, !!on);
}

int gsim_vhost_vring_set_call(struct gsim_vhost *vh, uint32_t index, int fd)
{
	return vu_set_vring_fd(vh, VU_SET_VRING_CALL, index, fd);
}

int gsim_vhost_vring_get_base(struct gsim_vhost *vh, uint32_t index,
			      uint32_t *base)
{
	struct vu_vring_state s = { index, 0 };
	int err;

	err = vu_call(vh, VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &s,
		      sizeof(s));
	if (err)
		return err;
	if (s.index != index)
		return vu_fail(vh, VU_GET_VRING_BASE, -EPROTO,
			       "reply names another ring");
	*base = s.num;
	return 0;
}

/* ---- the display protocol, answered as a headless QEMU would ---- */

static void display_count(struct gsim_vhost *vh, uint32_t req,
			  unsigned int nr_fds)
{
	pthread_mutex_lock(&vh->stats_lock);
	if (req < GSIM_VHOST_GPU_REQ_MAX)
		vh->stats.requests[req]++;
	else
		vh->stats.unknown++;
	vh->stats.fds_closed += nr_fds;
	pthread_mutex_unlock(&vh->stats_lock);
}

void gsim_vhost_display_stats(struct gsim_vhost *vh,
			      struct gsim_vhost_display_stats *out)
{
	pthread_mutex_lock(&vh->stats_lock);
	*out = vh->stats;
	pthread_mutex_unlock(&vh->stats_lock);
}

static int display_reply(int fd, uint32_t req, const void *payload,
			 uint32_t size)
{
	struct vu_hdr hdr = { req, VU_GPU_FLAG_REPLY, size };

	return send_msg(fd, &hdr, sizeof(hdr), payload, size, NULL, 0);
}

/* Read and drop len payload bytes (updates carry whole frames). */
static int display_skip(int fd, uint32_t len)
{
	char buf[4096];
	int err;

	while (len) {
		uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);

		err = read_full(fd, buf, n, NULL, NULL, 0);
		if (err)
			return err;
		len -= n;
	}
	return 0;
}

static int display_answer(int fd, uint32_t req)
{
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid edid;
	uint64_t features = 0; /* no EDID, no DMABUF2 */

	switch (req) {
	case VU_GPU_GET_PROTOCOL_FEATURES:
		return display_reply(fd, req, &features, sizeof(features));
	case VU_GPU_GET_DISPLAY_INFO:
		memset(&info, 0, sizeof(info));
		info.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
		/* A head that exists but is switched off: nothing to show. */
		info.pmodes[0].r.width = DISPLAY_WIDTH;
		info.pmodes[0].r.height = DISPLAY_HEIGHT;
		info.pmodes[0].enabled = 0;
		return display_reply(fd, req, &info, sizeof(info));
	case VU_GPU_GET_EDID:
		/* Not negotiated; answer so the backend does not stall. */
		memset(&edid, 0, sizeof(edid));
		edid.hdr.type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return display_reply(fd, req, &edid, sizeof(edid));
	case VU_GPU_DMABUF_UPDATE:
		/* The backend waits for this acknowledgement. */
		return display_reply(fd, req, NULL, 0);
	default:
		return 0; /* scanout, update, cursor: shown nowhere */
	}
}

static void *display_thread(void *p)
{
	struct gsim_vhost *vh = p;
	int fds[VU_MAX_FDS];
	unsigned int nr_fds;
	struct vu_hdr hdr;
	int err;

	for (;;) {
		err = read_full(vh->gpu_sock, &hdr, sizeof(hdr), fds, &nr_fds,
				VU_MAX_FDS);
		if (err)
			break;
		/* Dmabufs would be imported by a real display; drop them. */
		close_fds(fds, nr_fds);
		display_count(vh, hdr.request, nr_fds);
		err = display_skip(vh->gpu_sock, hdr.size);
		if (!err)
			err = display_answer(vh->gpu_sock, hdr.request);
		if (err)
			break;
	}
	/* EPIPE is the backend closing, or gsim_vhost_close() shutting down. */
	if (err != -EPIPE)
		vsvmg_log("vhost-user-gpu display socket: %s", strerror(-err));
	return NULL;
}

int gsim_vhost_gpu_set_socket(struct gsim_vhost *vh)
{
	int sv[2], err;

	if (vh->gpu_sock >= 0)
		return -EBUSY;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	vh->gpu_sock = sv[0];
	/* The thread must answer before the backend waits on it. */
	err = -pthread_create(&vh->display_tid, NULL, display_thread, vh);
	if (err) {
		close(sv[0]);
		close(sv[1]);
		vh->gpu_sock = -1;
		return err;
	}
	pthread_setname_np(vh->display_tid, "vsvm-vu-display");
	vh->display_running = 1;
	err = vu_call(vh, VU_GPU_SET_SOCKET, NULL, 0, &sv[1], 1, NULL, 0);
	close(sv[1]); /* the backend has its own copy now */
	return err;
}

void gsim_vhost_close(struct gsim_vhost *vh)
{
	unsigned int i;
	eventfd_t cnt;

	if (!vh)
		return;
	if (vh->display_running) {
		/* Wakes the thread's read with EOF. */
		shutdown(vh->gpu_sock, SHUT_RDWR);
		pthread_join(vh->display_tid, NULL);
	}
	if (vh->gpu_sock >= 0)
		close(vh->gpu_sock);
	for (i = 0; i < GSIM_VHOST_MAX_QUEUES; i++) {
		if (vh->err_fd[i] >= 0) {
			if (!eventfd_read(vh->err_fd[i], &cnt))
				vsvmg_log(
					"vhost-user: backend signalled an error on vring %u",
					i);
			close(vh->err_fd[i]);
		}
		if (vh->masked_call[i] >= 0)
			close(vh->masked_call[i]);
	}
	close(vh->sock);
	pthread_mutex_destroy(&vh->stats_lock);
	pthread_mutex_destroy(&vh->lock);
	free(vh);
}
