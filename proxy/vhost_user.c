// SPDX-License-Identifier: MIT
/*
 * vhost_user.c - the vhost-user server of vsvm-proxy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Threads
 *
 * One listener thread accepts; every connection then has a thread of its
 * own that owns everything of that connection (socket, memory table,
 * rings, device, struct vp_svm) and waits in epoll on:
 *
 *   the socket          one vhost-user message per wake-up
 *   each ring's kick    the guest made buffers available
 *   the wake eventfd    the SVM core finished a submission, or a drain
 *                       pass stopped at its batch size (virtio_gpu.c)
 *   the stop eventfd    shared by the whole server; never read, so every
 *                       thread sees it until it has left
 *
 * Nothing of a connection is shared with another, so there is no lock
 * between connections; the server's lock guards only its list of
 * connections.  A connection that ends (EOF, error, violation) tears its
 * own state down on its thread and marks itself finished; its thread is
 * joined by the next vp_server_add_connection() or by vp_server_stop().
 *
 * DOC: Messages
 *
 * A message is a 12-byte header, a payload of header.size bytes and
 * SCM_RIGHTS fds that arrive with the header.  The header is read first;
 * its version, payload size and fd count are checked against the handler
 * table before a byte of payload is read.  Every fd received is either
 * taken by a handler (which sets its slot to -1) or closed after it.
 *
 * Handlers return 0 (done; acknowledged if NEED_REPLY), VU_REPLIED (they
 * sent their own reply), -EPROTO (protocol violation: the connection is
 * closed), or another -errno (the request failed: NEED_REPLY gets a
 * non-zero u64 and the connection goes on).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vhost_user.h"

/* Request numbers of docs/interop/vhost-user.rst (front-end messages). */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
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
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_CREATE_CRYPTO_SESSION = 26,
	VU_CLOSE_CRYPTO_SESSION = 27,
	VU_POSTCOPY_ADVISE = 28,
	VU_POSTCOPY_LISTEN = 29,
	VU_POSTCOPY_END = 30,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_GPU_SET_SOCKET = 33,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQUEST_MAX,
};

#define VU_VERSION		0x1u
#define VU_VERSION_MASK		0x3u
#define VU_FLAG_REPLY		(1u << 2)
#define VU_FLAG_NEED_REPLY	(1u << 3)

/* Feature bit 30: QEMU 7.2 aborts at realize without it. */
#define VU_F_PROTOCOL_FEATURES	30
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG	9

/*
 * Feature bits refused even though QEMU's device model may pass them on
 * from the guest: they change the ring layout or its addresses, promise
 * in-order completion (parked submissions complete out of order), or ask
 * for dirty logging we cannot do.  Any other bit we did not offer (such
 * as a virtio-gpu feature QEMU adds on its own) only names commands that
 * get RESP_ERR_UNSPEC here; refusing it would stop QEMU starting the
 * device, so it is logged and ignored.
 */
#define VU_F_NOTIFICATION_DATA	38
#define VU_FEATURES_REFUSED                                           \
	(1ull << VHOST_F_LOG_ALL | 1ull << VIRTIO_F_ACCESS_PLATFORM | \
	 1ull << VIRTIO_F_RING_PACKED | 1ull << VIRTIO_F_IN_ORDER |   \
	 1ull << VU_F_NOTIFICATION_DATA)

/* SET_VRING_KICK/CALL/ERR payload: ring index, and "no fd" (polling). */
#define VU_VRING_IDX_MASK  0xffu
#define VU_VRING_NOFD	   (1u << 8)

/* Most fds in one message: one per memory region (SET_MEM_TABLE). */
#define VU_MAX_FDS	   VP_MEMTABLE_MAX_REGIONS
#define VU_MAX_CONFIG_SIZE 256 /* VHOST_USER_MAX_CONFIG_SIZE */
#define VU_CONFIG_HDR_SIZE 12  /* offset, size, flags */

#define VU_REPLIED	   1

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_FDS];
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_MAX_CONFIG_SIZE];
};

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

union vu_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct vu_memory memory;
	struct vu_config config;
};

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vring address");
_Static_assert(sizeof(struct vu_memory) == 264, "memory table");
_Static_assert(sizeof(struct vu_config) == 268, "config space");

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload payload;
	int fds[VU_MAX_FDS];
	uint32_t nr_fds;
	bool fd_overflow; /* more fds came than any message may carry */
};

enum conn_tag {
	TAG_SOCK,
	TAG_WAKE,
	TAG_STOP,
	TAG_KICK0, /* + ring index */
};

struct vp_conn {
	struct vp_server *srv;
	unsigned int id;
	pthread_t thread;
	int finished;	      /* atomic: the thread has ended */
	struct vp_conn *next; /* server list, under srv->lock */

	/* Connection thread only, from here on. */
	int sock;
	int epfd;
	int wake_fd;
	int gpu_sock;	     /* VHOST_USER_GPU_SET_SOCKET, unused */
	bool stopped;	     /* the control queue was stopped ... */
	uint32_t stop_epoch; /* ... with this layout */
	uint64_t features;
	uint64_t protocol_features;
	struct vp_memtable mt;
	struct vp_vring rings[VP_GPU_NUM_QUEUES];
	struct vp_svm *svm;
	struct vp_gpu *gpu;
};

struct vp_server {
	struct vp_server_config cfg;
	char *path;
	int listen_fd;
	int stop_fd;
	bool has_listener;
	pthread_t listener;
	pthread_mutex_t lock; /* conns, next_id, stopping */
	struct vp_conn *conns;
	unsigned int next_id;
	bool stopping;
	struct vp_server_stats stats; /* atomics */
};

#define STAT_ADD(srv, field, n) \
	__atomic_fetch_add(&(srv)->stats.field, (n), __ATOMIC_RELAXED)

__attribute__((format(printf, 3, 4))) static void
conn_log(const struct vp_conn *c, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > c->srv->cfg.verbosity)
		return;
	fprintf(stderr, "vsvm-proxy: conn %u: ", c->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- socket I/O --------------------------------------------------------- */

/* Wait for events on the socket.  0, -ECANCELED (server stops), -errno. */
static int wait_sock(struct vp_conn *c, short events)
{
	struct pollfd p[2] = {
		{ .fd = c->sock, .events = events },
		{ .fd = c->srv->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return -ECANCELED;
		if (p[0].revents)
			return 0;
	}
}

static int read_full(struct vp_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		n = recv(c->sock, p, len, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET; /* EOF inside a message */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		ret = wait_sock(c, POLLIN);
		if (ret)
			return ret;
	}
	return 0;
}

static int send_full(struct vp_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		n = send(c->sock, p, len, MSG_NOSIGNAL);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -ECONNRESET;
		ret = wait_sock(c, POLLOUT);
		if (ret)
			return ret;
	}
	return 0;
}

static int send_reply(struct vp_conn *c, const struct vu_msg *req,
		      const void *payload, uint32_t size)
{
	uint8_t buf[sizeof(struct vu_hdr) + sizeof(union vu_payload)];
	struct vu_hdr hdr = {
		.request = req->hdr.request,
		.flags = VU_VERSION | VU_FLAG_REPLY,
		.size = size,
	};
	int ret;

	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	ret = send_full(c, buf, sizeof(hdr) + size);
	return ret ? ret : VU_REPLIED;
}

static int reply_u64(struct vp_conn *c, const struct vu_msg *req,
		     uint64_t value)
{
	return send_reply(c, req, &value, sizeof(value));
}

/* Keep the fds of an SCM_RIGHTS message; close what does not fit. */
static void collect_fds(struct vu_msg *m, struct msghdr *mh)
{
	struct cmsghdr *cm;
	size_t i, n;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (m->nr_fds < VU_MAX_FDS) {
				m->fds[m->nr_fds++] = fd;
			} else {
				close(fd);
				m->fd_overflow = true;
			}
		}
	}
	/* The kernel closed those that did not fit our buffer. */
	if (mh->msg_flags & MSG_CTRUNC)
		m->fd_overflow = true;
}

/*
 * Read a header and the fds sent with it.  Return: 0; -EAGAIN nothing to
 * read; -ECONNRESET end of stream; another -errno.
 */
static int recv_header(struct vp_conn *c, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	do {
		n = recvmsg(c->sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	collect_fds(m, &mh);
	if ((size_t)n < sizeof(m->hdr))
		return read_full(c, (uint8_t *)&m->hdr + n,
				 sizeof(m->hdr) - (size_t)n);
	return 0;
}

static void close_msg_fds(struct vu_msg *m)
{
	uint32_t i;

	for (i = 0; i < m->nr_fds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nr_fds = 0;
}

static int take_fd(struct vu_msg *m, uint32_t i)
{
	int fd = m->fds[i];

	m->fds[i] = -1;
	return fd;
}

/* --- handlers: features and ownership ----------------------------------- */

static uint64_t offered_features(void)
{
	return vp_gpu_device_features() | 1ull << VU_F_PROTOCOL_FEATURES;
}

static uint64_t offered_protocol_features(void)
{
	return 1ull << VU_PROTOCOL_F_REPLY_ACK | 1ull << VU_PROTOCOL_F_CONFIG;
}

static int vu_get_features(struct vp_conn *c, struct vu_msg *m)
{
	return reply_u64(c, m, offered_features());
}

static int vu_set_features(struct vp_conn *c, struct vu_msg *m)
{
	uint64_t f = m->payload.u64;
	uint32_t i;

	if (f & VU_FEATURES_REFUSED) {
		conn_log(c, VP_LOG_ERR, "features 0x%llx are not supported",
			 (unsigned long long)(f & VU_FEATURES_REFUSED));
		return -EINVAL;
	}
	if (f & ~offered_features())
		conn_log(c, VP_LOG_INFO, "ignoring unoffered features 0x%llx",
			 (unsigned long long)(f & ~offered_features()));
	f &= offered_features();
	c->features = f;
	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		vp_vring_set_event_idx(&c->rings[i],
				       f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	vp_gpu_set_features(c->gpu, f);
	return 0;
}

static int vu_get_protocol_features(struct vp_conn *c, struct vu_msg *m)
{
	return reply_u64(c, m, offered_protocol_features());
}

static int vu_set_protocol_features(struct vp_conn *c, struct vu_msg *m)
{
	if (m->payload.u64 & ~offered_protocol_features())
		return -EINVAL;
	c->protocol_features = m->payload.u64;
	return 0;
}

static int vu_set_owner(struct vp_conn *c, struct vu_msg *m)
{
	(void)c;
	(void)m;
	return 0;
}

/* Deprecated; vhost-user.rst recommends ignoring it. */
static int vu_reset_owner(struct vp_conn *c, struct vu_msg *m)
{
	(void)c;
	(void)m;
	return 0;
}

static int vu_get_queue_num(struct vp_conn *c, struct vu_msg *m)
{
	return reply_u64(c, m, VP_GPU_NUM_QUEUES);
}

/* --- handlers: memory --------------------------------------------------- */

static void remap_rings(struct vp_conn *c)
{
	uint32_t i;

	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		if (c->rings[i].addr_set && vp_vring_map(&c->rings[i]))
			conn_log(c, VP_LOG_ERR,
				 "ring %u is outside the new memory table", i);
}

static int vu_set_mem_table(struct vp_conn *c, struct vu_msg *m)
{
	const struct vu_memory *mem = &m->payload.memory;
	uint64_t gpa[VU_MAX_FDS], size[VU_MAX_FDS], uva[VU_MAX_FDS];
	uint64_t off[VU_MAX_FDS];
	struct vp_memtable mt;
	uint32_t i, n = mem->nregions;
	int ret;

	if (n > VU_MAX_FDS ||
	    m->hdr.size != offsetof(struct vu_memory, regions) +
				   n * sizeof(struct vu_region) ||
	    m->nr_fds != n)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		gpa[i] = mem->regions[i].gpa;
		size[i] = mem->regions[i].size;
		uva[i] = mem->regions[i].uva;
		off[i] = mem->regions[i].mmap_offset;
	}
	/* Takes (closes) every fd, also on failure. */
	ret = vp_memtable_build(&mt, n, gpa, size, uva, off, m->fds);
	m->nr_fds = 0;
	if (ret) {
		conn_log(c, VP_LOG_ERR, "memory table refused: %s",
			 strerror(-ret));
		return ret;
	}
	/* No device may keep a pointer into the old table past this. */
	vp_svm_memtable_changed(c->svm);
	vp_memtable_clear(&c->mt);
	c->mt = mt;
	remap_rings(c);
	conn_log(c, VP_LOG_INFO, "memory table: %u regions", n);
	return 0;
}

/* --- handlers: rings ---------------------------------------------------- */

static struct vp_vring *ring_of(struct vp_conn *c, uint32_t index)
{
	return index < VP_GPU_NUM_QUEUES ? &c->rings[index] : NULL;
}

static int vu_set_vring_num(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r = ring_of(c, m->payload.state.index);

	if (!r)
		return -EPROTO;
	return vp_vring_set_num(r, m->payload.state.num);
}

static int vu_set_vring_base(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r = ring_of(c, m->payload.state.index);

	if (!r)
		return -EPROTO;
	return vp_vring_set_base(r, m->payload.state.num);
}

static int vu_set_vring_addr(struct vp_conn *c, struct vu_msg *m)
{
	const struct vhost_vring_addr *a = &m->payload.addr;
	struct vp_vring *r = ring_of(c, a->index);

	if (!r)
		return -EPROTO;
	return vp_vring_set_addr(r, a->desc_user_addr, a->avail_user_addr,
				 a->used_user_addr);
}

static void unwatch_kick(struct vp_conn *c, struct vp_vring *r)
{
	if (r->kick_fd >= 0)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, r->kick_fd, NULL);
	vp_vring_set_kick(r, -1);
}

static int vu_get_vring_base(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r = ring_of(c, m->payload.state.index);
	struct vhost_vring_state state;

	if (!r)
		return -EPROTO;
	unwatch_kick(c, r);
	state.index = r->index;
	state.num = vp_vring_stop(r);
	if (r->index == VP_GPU_CTRLQ) {
		c->stopped = true;
		c->stop_epoch = r->epoch;
	}
	conn_log(c, VP_LOG_INFO, "ring %u stopped at %u", r->index, state.num);
	return send_reply(c, m, &state, sizeof(state));
}

/*
 * Payload of SET_VRING_KICK/CALL/ERR: the ring and its fd (-1 with the
 * no-fd flag).  The fd count must match the flag.
 */
static int parse_vring_fd(struct vp_conn *c, struct vu_msg *m,
			  struct vp_vring **r, int *fd)
{
	uint64_t v = m->payload.u64;
	bool nofd = v & VU_VRING_NOFD;

	if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))
		return -EPROTO;
	*r = ring_of(c, v & VU_VRING_IDX_MASK);
	if (!*r || m->nr_fds != (nofd ? 0u : 1u))
		return -EPROTO;
	*fd = nofd ? -1 : take_fd(m, 0);
	/* Never block the connection thread on an eventfd. */
	if (*fd >= 0)
		fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/*
 * The control queue starts again after a stop.  QEMU stops the rings both
 * when the VM pauses and when the guest resets the device, and sends the
 * same messages for both; only the restart tells them apart.  A paused VM
 * resumes its rings as they were (same size, addresses and avail index),
 * so its contexts and parked submissions live on.  A reset driver lays
 * its rings out anew from index 0, and its contexts died with the old
 * driver (docs/protocol.md 14.1): the SVM service starts over.
 */
static int restart_ctrlq(struct vp_conn *c, struct vp_vring *r)
{
	struct vp_svm *svm;

	if (r->epoch == c->stop_epoch) {
		c->stopped = false;
		return 0;
	}
	svm = vp_svm_create(&c->srv->cfg.svm, &c->mt);
	if (!svm)
		return -ENOMEM;
	c->stopped = false;
	conn_log(c, VP_LOG_INFO, "device reset: contexts destroyed");
	/* Completes parked submissions; their ring is gone, they are dropped. */
	vp_svm_destroy(c->svm);
	c->svm = svm;
	vp_gpu_set_svm(c->gpu, svm);
	return 0;
}

static int vu_set_vring_kick(struct vp_conn *c, struct vu_msg *m)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct vp_vring *r;
	int fd, ret;

	ret = parse_vring_fd(c, m, &r, &fd);
	if (ret)
		return ret;
	unwatch_kick(c, r);
	vp_vring_set_kick(r, fd);
	if (fd >= 0) {
		ev.data.u32 = TAG_KICK0 + r->index;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			ret = -errno;
			vp_vring_set_kick(r, -1);
			return ret;
		}
	} else {
		conn_log(c, VP_LOG_ERR, "ring %u: polling is not supported",
			 r->index);
	}
	if (r->index == VP_GPU_CTRLQ && c->stopped) {
		ret = restart_ctrlq(c, r);
		if (ret)
			return ret;
	}
	r->started = true;
	/* Without protocol features a ring is enabled when started. */
	if (!(c->features & (1ull << VU_F_PROTOCOL_FEATURES)))
		r->enabled = true;
	/* The guest may have posted buffers before this kick fd existed. */
	vp_gpu_queue_notify(c->gpu, r->index);
	return 0;
}

static int vu_set_vring_call(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r;
	int fd, ret;

	ret = parse_vring_fd(c, m, &r, &fd);
	if (ret)
		return ret;
	vp_vring_set_call(r, fd);
	/*
	 * A call may have gone to the fd just replaced (QEMU swaps fds when
	 * the guest masks a vector); a spurious one is harmless, a lost one
	 * hangs the guest.
	 */
	if (vp_vring_ready(r))
		vp_vring_signal(r);
	return 0;
}

static int vu_set_vring_err(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r;
	int fd, ret;

	ret = parse_vring_fd(c, m, &r, &fd);
	if (ret)
		return ret;
	vp_vring_set_err(r, fd);
	return 0;
}

static int vu_set_vring_enable(struct vp_conn *c, struct vu_msg *m)
{
	struct vp_vring *r = ring_of(c, m->payload.state.index);

	if (!r)
		return -EPROTO;
	if (m->payload.state.num > 1)
		return -EINVAL;
	r->enabled = m->payload.state.num;
	conn_log(c, VP_LOG_INFO, "ring %u %s", r->index,
		 r->enabled ? "enabled" : "disabled");
	/* Buffers posted while the ring was disabled are ours now. */
	if (r->enabled)
		vp_gpu_queue_notify(c->gpu, r->index);
	return 0;
}

/* --- handlers: config space and the GPU socket -------------------------- */

static int check_config_msg(const struct vu_msg *m)
{
	const struct vu_config *cfg = &m->payload.config;

	if (cfg->size > VU_MAX_CONFIG_SIZE ||
	    m->hdr.size != VU_CONFIG_HDR_SIZE + cfg->size)
		return -EPROTO;
	return 0;
}

static int vu_get_config(struct vp_conn *c, struct vu_msg *m)
{
	struct vu_config *cfg = &m->payload.config;

	if (check_config_msg(m))
		return -EPROTO;
	if (vp_gpu_get_config(c->gpu, cfg->offset, cfg->size, cfg->region)) {
		/* vhost-user.rst: an empty payload reports the error. */
		conn_log(c, VP_LOG_ERR, "GET_CONFIG [%u, +%u) out of range",
			 cfg->offset, cfg->size);
		STAT_ADD(c->srv, errors, 1);
		return send_reply(c, m, NULL, 0);
	}
	return send_reply(c, m, cfg, VU_CONFIG_HDR_SIZE + cfg->size);
}

/* Every field of our config space is read-only to the driver. */
static int vu_set_config(struct vp_conn *c, struct vu_msg *m)
{
	(void)c;
	if (check_config_msg(m))
		return -EPROTO;
	return -EPERM;
}

static int vu_gpu_set_socket(struct vp_conn *c, struct vu_msg *m)
{
	if (m->nr_fds != 1)
		return -EPROTO;
	/* Kept open (QEMU would see EOF as a backend failure), never used:
	 * vsvm does not display. */
	if (c->gpu_sock >= 0)
		close(c->gpu_sock);
	c->gpu_sock = take_fd(m, 0);
	return 0;
}

/* --- dispatch ----------------------------------------------------------- */

struct vu_handler {
	const char *name;
	int (*fn)(struct vp_conn *c, struct vu_msg *m);
	uint32_t min_size;
	uint32_t max_size;
	uint32_t max_fds;
};

#define H(req, fn, min, max, fds) [VU_##req] = { #req, fn, min, max, fds }
#define H_NONE(req)		  [VU_##req] = { #req, NULL, 0, 0, 0 }
#define U64			  sizeof(uint64_t)
#define STATE			  sizeof(struct vhost_vring_state)

static const struct vu_handler vu_handlers[VU_REQUEST_MAX] = {
	H(GET_FEATURES, vu_get_features, 0, 0, 0),
	H(SET_FEATURES, vu_set_features, U64, U64, 0),
	H(SET_OWNER, vu_set_owner, 0, 0, 0),
	H(RESET_OWNER, vu_reset_owner, 0, 0, 0),
	H(SET_MEM_TABLE, vu_set_mem_table, offsetof(struct vu_memory, regions),
	  sizeof(struct vu_memory), VU_MAX_FDS),
	H(SET_VRING_NUM, vu_set_vring_num, STATE, STATE, 0),
	H(SET_VRING_ADDR, vu_set_vring_addr, sizeof(struct vhost_vring_addr),
	  sizeof(struct vhost_vring_addr), 0),
	H(SET_VRING_BASE, vu_set_vring_base, STATE, STATE, 0),
	H(GET_VRING_BASE, vu_get_vring_base, STATE, STATE, 0),
	H(SET_VRING_KICK, vu_set_vring_kick, U64, U64, 1),
	H(SET_VRING_CALL, vu_set_vring_call, U64, U64, 1),
	H(SET_VRING_ERR, vu_set_vring_err, U64, U64, 1),
	H(GET_PROTOCOL_FEATURES, vu_get_protocol_features, 0, 0, 0),
	H(SET_PROTOCOL_FEATURES, vu_set_protocol_features, U64, U64, 0),
	H(GET_QUEUE_NUM, vu_get_queue_num, 0, 0, 0),
	H(SET_VRING_ENABLE, vu_set_vring_enable, STATE, STATE, 0),
	H(GET_CONFIG, vu_get_config, VU_CONFIG_HDR_SIZE,
	  sizeof(struct vu_config), 0),
	H(SET_CONFIG, vu_set_config, VU_CONFIG_HDR_SIZE,
	  sizeof(struct vu_config), 0),
	H(GPU_SET_SOCKET, vu_gpu_set_socket, 0, 0, 1),
	/* Named for the log only: we never offer what they need. */
	H_NONE(SET_LOG_BASE),
	H_NONE(SET_LOG_FD),
	H_NONE(SEND_RARP),
	H_NONE(NET_SET_MTU),
	H_NONE(SET_BACKEND_REQ_FD),
	H_NONE(IOTLB_MSG),
	H_NONE(SET_VRING_ENDIAN),
	H_NONE(CREATE_CRYPTO_SESSION),
	H_NONE(CLOSE_CRYPTO_SESSION),
	H_NONE(POSTCOPY_ADVISE),
	H_NONE(POSTCOPY_LISTEN),
	H_NONE(POSTCOPY_END),
	H_NONE(GET_INFLIGHT_FD),
	H_NONE(SET_INFLIGHT_FD),
	H_NONE(RESET_DEVICE),
	H_NONE(VRING_KICK),
	H_NONE(GET_MAX_MEM_SLOTS),
	H_NONE(ADD_MEM_REG),
	H_NONE(REM_MEM_REG),
	H_NONE(SET_STATUS),
	H_NONE(GET_STATUS),
};

static const struct vu_handler *handler_of(uint32_t request)
{
	return request < VU_REQUEST_MAX ? &vu_handlers[request] : NULL;
}

static const char *request_name(uint32_t request)
{
	const struct vu_handler *h = handler_of(request);

	return h && h->name ? h->name : "UNKNOWN";
}

/*
 * Check the header against the handler table, then read the payload.
 * Messages we do not handle may carry any payload that fits the union
 * and any fds that fit; they are read whole to stay in step.
 */
static int read_payload(struct vp_conn *c, struct vu_msg *m)
{
	const struct vu_handler *h = handler_of(m->hdr.request);
	uint32_t min = 0, max = sizeof(union vu_payload), max_fds = VU_MAX_FDS;
	const char *why = NULL;

	if (h && h->fn) {
		min = h->min_size;
		max = h->max_size;
		max_fds = h->max_fds;
	}
	if ((m->hdr.flags & VU_VERSION_MASK) != VU_VERSION)
		why = "bad version";
	else if (m->hdr.size > sizeof(union vu_payload))
		why = "payload larger than any message";
	else if (m->hdr.size < min || m->hdr.size > max)
		why = "bad payload size";
	else if (m->fd_overflow || m->nr_fds > max_fds)
		why = "too many fds";
	if (why) {
		conn_log(c, VP_LOG_ERR, "%s (request %u %s, size %u, %u fds)",
			 why, m->hdr.request, request_name(m->hdr.request),
			 m->hdr.size, m->nr_fds);
		return -EPROTO;
	}
	return read_full(c, &m->payload, m->hdr.size);
}

static int run_handler(struct vp_conn *c, struct vu_msg *m)
{
	const struct vu_handler *h = handler_of(m->hdr.request);
	int ret;

	conn_log(c, VP_LOG_DEBUG, "%s size %u fds %u",
		 request_name(m->hdr.request), m->hdr.size, m->nr_fds);
	if (!h || !h->fn) {
		conn_log(c, VP_LOG_ERR, "unsupported request %u (%s)",
			 m->hdr.request, request_name(m->hdr.request));
		ret = -EOPNOTSUPP;
	} else {
		ret = h->fn(c, m);
	}
	if (ret == -EPROTO || ret == -ECONNRESET || ret == -ECANCELED)
		return ret;
	if (ret < 0) {
		conn_log(c, VP_LOG_ERR, "%s failed: %s",
			 request_name(m->hdr.request), strerror(-ret));
		STAT_ADD(c->srv, errors, 1);
	}
	/* Handlers with their own reply answered already (REPLY_ACK). */
	if (ret != VU_REPLIED && (m->hdr.flags & VU_FLAG_NEED_REPLY))
		return reply_u64(c, m, ret < 0) == VU_REPLIED ? 0 : -ECONNRESET;
	return 0;
}

/* One message.  Return: 0 to go on, -errno to close the connection. */
static int handle_message(struct vp_conn *c)
{
	struct vu_msg m;
	int ret;

	memset(&m.hdr, 0, sizeof(m.hdr));
	m.nr_fds = 0;
	m.fd_overflow = false;
	ret = recv_header(c, &m);
	if (ret == -EAGAIN)
		return 0;
	if (!ret)
		ret = read_payload(c, &m);
	if (!ret) {
		STAT_ADD(c->srv, messages, 1);
		ret = run_handler(c, &m);
	}
	close_msg_fds(&m);
	if (ret == -EPROTO) {
		conn_log(c, VP_LOG_ERR, "protocol violation: closing");
		STAT_ADD(c->srv, connections_broken, 1);
	}
	return ret;
}

/* --- connections -------------------------------------------------------- */

static void drain_eventfd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static int conn_event(struct vp_conn *c, uint32_t tag)
{
	uint32_t q;

	switch (tag) {
	case TAG_STOP:
		return -ECANCELED;
	case TAG_SOCK:
		return handle_message(c);
	case TAG_WAKE:
		drain_eventfd(c->wake_fd);
		vp_gpu_complete(c->gpu);
		return 0;
	default:
		q = tag - TAG_KICK0;
		/* The fd may have been replaced earlier in this batch. */
		if (q < VP_GPU_NUM_QUEUES && c->rings[q].kick_fd >= 0) {
			drain_eventfd(c->rings[q].kick_fd);
			vp_gpu_queue_notify(c->gpu, q);
		}
		return 0;
	}
}

static int conn_loop(struct vp_conn *c)
{
	struct epoll_event ev[8];
	int i, n, ret;

	for (;;) {
		n = epoll_wait(c->epfd, ev, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			ret = conn_event(c, ev[i].data.u32);
			if (ret)
				return ret;
		}
	}
}

/* What the operator sees in the proxy's summary, from one VM's contexts. */
static void conn_add_svm_stats(struct vp_server *srv,
			       const struct vp_ctx_stats *cs)
{
	uint64_t moves = 0, bytes = 0;
	uint32_t i;

	/* Every move has one destination: summing "to" counts each once. */
	for (i = 0; i <= VSVM_MAX_DEVICES; i++) {
		moves += cs->migrations_to[i];
		bytes += cs->bytes_to[i];
	}
	STAT_ADD(srv, launches, cs->launches);
	STAT_ADD(srv, faults, cs->faults_minor + cs->faults_forwarded);
	STAT_ADD(srv, faults_forwarded, cs->faults_forwarded);
	STAT_ADD(srv, migrations, moves);
	STAT_ADD(srv, migrated_bytes, bytes);
	STAT_ADD(srv, evictions, cs->evictions);
	STAT_ADD(srv, thrash_pins, cs->thrash_pins);
}

/* Free everything but the struct; the thread that ran it may be joined. */
static void conn_teardown(struct vp_conn *c)
{
	struct vp_gpu_stats gs;
	struct vp_ctx_stats cs;
	uint32_t i;

	if (c->svm) {
		vp_svm_get_stats(c->svm, &cs);
		conn_add_svm_stats(c->srv, &cs);
		/* Completes every parked submission (into c->gpu's lists). */
		vp_svm_destroy(c->svm);
	}
	c->svm = NULL;
	if (c->gpu) {
		vp_gpu_get_stats(c->gpu, &gs);
		STAT_ADD(c->srv, commands, gs.commands);
		STAT_ADD(c->srv, bad_chains, gs.bad_chains);
		vp_gpu_destroy(c->gpu);
		c->gpu = NULL;
	}
	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		vp_vring_release(&c->rings[i]);
	/* The SVM core is gone, so nothing can point into the table. */
	vp_memtable_clear(&c->mt);
	if (c->gpu_sock >= 0)
		close(c->gpu_sock);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->sock >= 0)
		close(c->sock);
	c->gpu_sock = c->wake_fd = c->epfd = c->sock = -1;
}

static void *conn_thread(void *arg)
{
	struct vp_conn *c = arg;
	int ret;

	conn_log(c, VP_LOG_INFO, "connected");
	ret = conn_loop(c);
	if (ret == -ECONNRESET)
		conn_log(c, VP_LOG_INFO, "disconnected");
	else if (ret != -ECANCELED && ret != -EPROTO)
		conn_log(c, VP_LOG_ERR, "closing: %s", strerror(-ret));
	conn_teardown(c);
	__atomic_fetch_sub(&c->srv->stats.connections_active, 1,
			   __ATOMIC_RELAXED);
	__atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int watch(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int conn_init(struct vp_conn *c)
{
	struct vp_gpu_params gp;
	uint32_t i;

	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		vp_vring_init(&c->rings[i], &c->mt, i);
	if (fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->wake_fd < 0 || c->epfd < 0)
		return -errno;
	if (watch(c->epfd, c->sock, TAG_SOCK) ||
	    watch(c->epfd, c->wake_fd, TAG_WAKE) ||
	    watch(c->epfd, c->srv->stop_fd, TAG_STOP))
		return -errno;
	c->svm = vp_svm_create(&c->srv->cfg.svm, &c->mt);
	if (!c->svm)
		return -ENOMEM;
	memset(&gp, 0, sizeof(gp));
	gp.svm = c->svm;
	for (i = 0; i < VP_GPU_NUM_QUEUES; i++)
		gp.queues[i] = &c->rings[i];
	gp.wake_fd = c->wake_fd;
	gp.standin = c->srv->cfg.standin;
	gp.verbosity = c->srv->cfg.verbosity;
	gp.id = c->id;
	c->gpu = vp_gpu_create(&gp);
	return c->gpu ? 0 : -ENOMEM;
}

static struct vp_conn *conn_create(struct vp_server *srv, int fd,
				   unsigned int id, int *err)
{
	struct vp_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	c->srv = srv;
	c->id = id;
	c->sock = fd;
	c->epfd = -1;
	c->wake_fd = -1;
	c->gpu_sock = -1;
	*err = conn_init(c);
	if (*err) {
		conn_teardown(c);
		free(c);
		return NULL;
	}
	return c;
}

/* Join connections whose thread has ended; srv->lock held. */
static void reap_finished(struct vp_server *srv)
{
	struct vp_conn **pp = &srv->conns, *c;

	while ((c = *pp)) {
		if (!__atomic_load_n(&c->finished, __ATOMIC_ACQUIRE)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
}

static uint32_t max_connections(const struct vp_server *srv)
{
	return srv->cfg.max_connections ? srv->cfg.max_connections :
					  VP_SERVER_DEFAULT_MAX_CONNECTIONS;
}

/* Refuse fd: counted before it is closed, so the peer's EOF implies it. */
static int refuse(struct vp_server *srv, int fd, int err)
{
	STAT_ADD(srv, connections_refused, 1);
	if (fd >= 0)
		close(fd);
	return err;
}

/* Create and start a connection; srv->lock held. */
static int start_connection(struct vp_server *srv, int fd)
{
	struct vp_conn *c;
	int ret;

	if (srv->stopping)
		return refuse(srv, fd, -ECANCELED);
	if (__atomic_load_n(&srv->stats.connections_active, __ATOMIC_RELAXED) >=
	    max_connections(srv))
		return refuse(srv, fd, -EBUSY);
	c = conn_create(srv, fd, ++srv->next_id, &ret);
	if (!c)
		return refuse(srv, -1, ret); /* conn_create closed fd */
	STAT_ADD(srv, connections_active, 1);
	ret = -pthread_create(&c->thread, NULL, conn_thread, c);
	if (ret) {
		__atomic_fetch_sub(&srv->stats.connections_active, 1,
				   __ATOMIC_RELAXED);
		conn_teardown(c);
		free(c);
		return refuse(srv, -1, ret);
	}
	STAT_ADD(srv, connections_served, 1);
	c->next = srv->conns;
	srv->conns = c;
	return 0;
}

int vp_server_add_connection(struct vp_server *srv, int fd)
{
	int ret;

	pthread_mutex_lock(&srv->lock);
	reap_finished(srv);
	ret = start_connection(srv, fd);
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

/* --- server ------------------------------------------------------------- */

static void *listener_thread(void *arg)
{
	struct vp_server *srv = arg;
	struct pollfd p[2] = {
		{ .fd = srv->listen_fd, .events = POLLIN },
		{ .fd = srv->stop_fd, .events = POLLIN },
	};
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			vp_server_add_connection(srv, fd);
		} else if (errno != EAGAIN && errno != EINTR &&
			   errno != ECONNABORTED) {
			/* Out of fds or memory: do not spin on it. */
			fprintf(stderr, "vsvm-proxy: accept: %s\n",
				strerror(errno));
			usleep(100 * 1000);
		}
	}
	return NULL;
}

/* A socket left by an earlier run is replaced; any other file is not. */
static int remove_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	return unlink(path) < 0 ? -errno : 0;
}

static int listen_on(struct vp_server *srv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	if (strlen(srv->path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, srv->path);
	ret = remove_stale_socket(srv->path);
	if (ret)
		return ret;
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0)
		return -errno;
	if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(srv->listen_fd, 16) < 0)
		return -errno;
	return 0;
}

static void server_free(struct vp_server *srv)
{
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->path);
	}
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	pthread_mutex_destroy(&srv->lock);
	free(srv->path);
	free(srv);
}

struct vp_server *vp_server_start(const struct vp_server_config *cfg)
{
	struct vp_server *srv = calloc(1, sizeof(*srv));
	int ret = -ENOMEM;

	if (!srv)
		goto err;
	srv->cfg = *cfg;
	srv->listen_fd = -1;
	pthread_mutex_init(&srv->lock, NULL);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	if (!cfg->socket_path)
		return srv;
	srv->path = strdup(cfg->socket_path);
	if (!srv->path)
		goto err_free;
	srv->cfg.socket_path = srv->path;
	ret = listen_on(srv);
	if (ret)
		goto err_free;
	ret = -pthread_create(&srv->listener, NULL, listener_thread, srv);
	if (ret)
		goto err_free;
	srv->has_listener = true;
	return srv;

err_free:
	server_free(srv);
err:
	errno = -ret;
	return NULL;
}

void vp_server_stop(struct vp_server *srv)
{
	struct vp_conn *c, *next;
	uint64_t one = 1;

	if (!srv)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	/* Level-triggered and never read: every thread sees it. */
	if (write(srv->stop_fd, &one, sizeof(one)) < 0)
		fprintf(stderr, "vsvm-proxy: stop: %s\n", strerror(errno));
	if (srv->has_listener)
		pthread_join(srv->listener, NULL);
	pthread_mutex_lock(&srv->lock);
	c = srv->conns;
	srv->conns = NULL;
	pthread_mutex_unlock(&srv->lock);
	for (; c; c = next) {
		next = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
	server_free(srv);
}

void vp_server_get_stats(struct vp_server *srv, struct vp_server_stats *out)
{
	const uint64_t *src = (const uint64_t *)&srv->stats;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	/* Every field is a uint64_t counter; read each atomically. */
	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
