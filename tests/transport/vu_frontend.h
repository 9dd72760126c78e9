/* SPDX-License-Identifier: MIT */
/*
 * vu_frontend.h - a tiny vhost-user frontend for the transport tests: it
 *                 negotiates, hands over guest RAM (a memfd) and sets the
 *                 rings up in the order QEMU 7.2 uses, then plays the
 *                 virtio-gpu driver over them.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Written from docs/interop/vhost-user.rst, independently of
 * proxy/vhost_user.c: its message layouts are its own.  Every call waits
 * at most FE_TIMEOUT_MS, so a backend that hangs fails the test instead of
 * hanging it.
 */
#ifndef VU_FRONTEND_H
#define VU_FRONTEND_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/virtio_gpu.h>

#include "guest_ring.h"

#define FE_TIMEOUT_MS		 5000

/* vhost-user.rst request numbers the tests use. */
#define FE_GET_FEATURES		 1
#define FE_SET_FEATURES		 2
#define FE_SET_OWNER		 3
#define FE_RESET_OWNER		 4
#define FE_SET_MEM_TABLE	 5
#define FE_SET_LOG_BASE		 6
#define FE_SET_VRING_NUM	 8
#define FE_SET_VRING_ADDR	 9
#define FE_SET_VRING_BASE	 10
#define FE_GET_VRING_BASE	 11
#define FE_SET_VRING_KICK	 12
#define FE_SET_VRING_CALL	 13
#define FE_SET_VRING_ERR	 14
#define FE_GET_PROTOCOL_FEATURES 15
#define FE_SET_PROTOCOL_FEATURES 16
#define FE_GET_QUEUE_NUM	 17
#define FE_SET_VRING_ENABLE	 18
#define FE_GET_CONFIG		 24
#define FE_SET_CONFIG		 25
#define FE_GPU_SET_SOCKET	 33

#define FE_VERSION		 0x1u
#define FE_REPLY		 0x4u
#define FE_NEED_REPLY		 0x8u

#define FE_F_PROTOCOL_FEATURES	 (1ull << 30)
#define FE_PF_REPLY_ACK		 (1ull << 3)
#define FE_PF_CONFIG		 (1ull << 9)

#define FE_GPA			 0x100000ull
#define FE_RAM			 (1ull << 20)
#define FE_NUM			 16

struct fe_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct fe_state {
	uint32_t index;
	uint32_t num;
};

struct fe_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct fe_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct fe_memory {
	uint32_t nregions;
	uint32_t padding;
	struct fe_region regions[8];
};

struct fe_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[256];
};

struct fe {
	int sock;
	bool event_idx;
	struct guest_mem gm;
	struct guest_ring gr[2];
	int kick[2];
	int call[2];
	uint64_t resp_gpa[2][FE_NUM];
};

static inline int fe_send(struct fe *fe, uint32_t req, uint32_t flags,
			  const void *payload, uint32_t size, const int *fds,
			  int nfds)
{
	uint8_t buf[sizeof(struct fe_hdr) + 4096];
	struct fe_hdr h = { req, flags | FE_VERSION, size };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	size_t len = sizeof(h) + size;

	if (size > sizeof(buf) - sizeof(h) || nfds > 16)
		return -1;
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fe->sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static inline bool fe_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

/* Receive a reply: 0, or -1 on EOF, timeout or one larger than cap. */
static inline int fe_recv(struct fe *fe, struct fe_hdr *h, void *payload,
			  uint32_t cap)
{
	if (!fe_wait_readable(fe->sock, FE_TIMEOUT_MS))
		return -1;
	if (recv(fe->sock, h, sizeof(*h), MSG_WAITALL) != sizeof(*h))
		return -1;
	if (h->size > cap)
		return -1;
	if (h->size &&
	    recv(fe->sock, payload, h->size, MSG_WAITALL) != (ssize_t)h->size)
		return -1;
	return 0;
}

/* The backend closed the connection (EOF within the timeout). */
static inline bool fe_closed(struct fe *fe)
{
	char c;

	for (;;) {
		if (!fe_wait_readable(fe->sock, FE_TIMEOUT_MS))
			return false;
		if (recv(fe->sock, &c, 1, MSG_DONTWAIT) == 0)
			return true;
	}
}

static inline uint64_t fe_get_u64(struct fe *fe, uint32_t req)
{
	struct fe_hdr h;
	uint64_t v = ~0ull;

	assert_int_equal(fe_send(fe, req, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(fe_recv(fe, &h, &v, sizeof(v)), 0);
	assert_int_equal(h.request, req);
	assert_int_equal(h.flags, FE_VERSION | FE_REPLY);
	assert_int_equal(h.size, sizeof(v));
	return v;
}

/* Send with NEED_REPLY and return the acknowledgement (0: success). */
static inline uint64_t fe_ack(struct fe *fe, uint32_t req, const void *p,
			      uint32_t size, const int *fds, int nfds)
{
	struct fe_hdr h;
	uint64_t v = ~0ull;

	assert_int_equal(fe_send(fe, req, FE_NEED_REPLY, p, size, fds, nfds),
			 0);
	assert_int_equal(fe_recv(fe, &h, &v, sizeof(v)), 0);
	assert_int_equal(h.request, req);
	assert_int_equal(h.size, sizeof(v));
	return v;
}

static inline uint64_t fe_ack_u64(struct fe *fe, uint32_t req, uint64_t v)
{
	return fe_ack(fe, req, &v, sizeof(v), NULL, 0);
}

static inline uint64_t fe_ack_state(struct fe *fe, uint32_t req, uint32_t index,
				    uint32_t num)
{
	struct fe_state s = { index, num };

	return fe_ack(fe, req, &s, sizeof(s), NULL, 0);
}

static inline uint64_t fe_mem_table(struct fe *fe)
{
	struct fe_memory m = { .nregions = 1 };

	m.regions[0].gpa = fe->gm.gpa;
	m.regions[0].size = fe->gm.size;
	m.regions[0].uva = guest_uva(&fe->gm, fe->gm.gpa);
	m.regions[0].mmap_offset = 0;
	return fe_ack(fe, FE_SET_MEM_TABLE, &m, 8 + sizeof(struct fe_region),
		      &fe->gm.fd, 1);
}

static inline uint64_t fe_ring_fd_send(struct fe *fe, uint32_t req, int q,
				       int fd)
{
	uint64_t v = (uint64_t)q;

	return fe_ack(fe, req, &v, sizeof(v), &fd, 1);
}

/* NUM, BASE, ADDR, KICK: the first half of QEMU's ring start. */
static inline void fe_ring_prepare(struct fe *fe, int q, uint16_t base)
{
	struct guest_ring *gr = &fe->gr[q];
	struct fe_addr a = { 0 };

	assert_int_equal(fe_ack_state(fe, FE_SET_VRING_NUM, q, gr->num), 0);
	assert_int_equal(fe_ack_state(fe, FE_SET_VRING_BASE, q, base), 0);
	a.index = (uint32_t)q;
	a.desc = guest_uva(&fe->gm, gr->desc_gpa);
	a.avail = guest_uva(&fe->gm, gr->avail_gpa);
	a.used = guest_uva(&fe->gm, gr->used_gpa);
	assert_int_equal(fe_ack(fe, FE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			 0);
	if (fe->kick[q] >= 0)
		close(fe->kick[q]);
	fe->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(fe_ring_fd_send(fe, FE_SET_VRING_KICK, q, fe->kick[q]),
			 0);
}

/* ENABLE 1, then a new CALL fd: the second half. */
static inline void fe_ring_enable(struct fe *fe, int q)
{
	assert_int_equal(fe_ack_state(fe, FE_SET_VRING_ENABLE, q, 1), 0);
	if (fe->call[q] >= 0)
		close(fe->call[q]);
	fe->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(fe_ring_fd_send(fe, FE_SET_VRING_CALL, q, fe->call[q]),
			 0);
}

static inline void fe_init(struct fe *fe, int sock)
{
	memset(fe, 0, sizeof(*fe));
	fe->sock = sock;
	fe->kick[0] = fe->kick[1] = -1;
	fe->call[0] = fe->call[1] = -1;
	assert_int_equal(guest_mem_init(&fe->gm, FE_RAM, FE_GPA), 0);
	guest_ring_init(&fe->gr[0], &fe->gm, FE_NUM);
	guest_ring_init(&fe->gr[1], &fe->gm, FE_NUM);
}

/* Everything QEMU does up to a running device. */
static inline void fe_start(struct fe *fe, int sock, bool event_idx)
{
	uint64_t f, want = FE_F_PROTOCOL_FEATURES | (1ull << 32) |
			   (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			   (1ull << VIRTIO_GPU_F_VIRGL);

	fe_init(fe, sock);
	fe->event_idx = event_idx;
	if (event_idx)
		want |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	f = fe_get_u64(fe, FE_GET_FEATURES);
	assert_true((f & want) == want);
	assert_true(fe_get_u64(fe, FE_GET_PROTOCOL_FEATURES) & FE_PF_REPLY_ACK);
	assert_int_equal(fe_ack_u64(fe, FE_SET_PROTOCOL_FEATURES,
				    FE_PF_REPLY_ACK | FE_PF_CONFIG),
			 0);
	assert_int_equal(fe_ack(fe, FE_SET_OWNER, NULL, 0, NULL, 0), 0);
	assert_int_equal(fe_ack_u64(fe, FE_SET_FEATURES, want), 0);
	assert_int_equal(fe_mem_table(fe), 0);
	fe_ring_prepare(fe, 0, 0);
	fe_ring_enable(fe, 0);
	fe_ring_prepare(fe, 1, 0);
	fe_ring_enable(fe, 1);
}

static inline void fe_close(struct fe *fe)
{
	int q;

	for (q = 0; q < 2; q++) {
		if (fe->kick[q] >= 0)
			close(fe->kick[q]);
		if (fe->call[q] >= 0)
			close(fe->call[q]);
		fe->kick[q] = fe->call[q] = -1;
	}
	if (fe->sock >= 0)
		close(fe->sock);
	fe->sock = -1;
	guest_mem_free(&fe->gm);
}

/* Post a command and a response buffer on q without kicking. */
static inline uint16_t fe_post(struct fe *fe, int q, const void *req,
			       uint32_t len, uint32_t resp_cap)
{
	struct guest_ring *gr = &fe->gr[q];
	struct guest_buf b[2];
	uint64_t cmd = guest_alloc(&fe->gm, len, 16);
	uint16_t head;

	memcpy(guest_ptr(&fe->gm, cmd), req, len);
	b[0] = (struct guest_buf){ cmd, len, false };
	b[1] = (struct guest_buf){ guest_alloc(&fe->gm, resp_cap, 16), resp_cap,
				   true };
	head = guest_chain(gr, b, 2);
	fe->resp_gpa[q][head] = b[1].gpa;
	guest_publish(gr, head);
	return head;
}

static inline void fe_kick(struct fe *fe, int q)
{
	uint64_t one = 1;

	assert_int_equal(write(fe->kick[q], &one, sizeof(one)), sizeof(one));
}

/*
 * Wait for the next used element of q, as a driver does: ask for a call
 * (used_event with EVENT_IDX), re-check, sleep on the call eventfd.
 */
static inline void *fe_wait_used(struct fe *fe, int q, uint16_t *head,
				 uint32_t *len)
{
	struct guest_ring *gr = &fe->gr[q];
	uint32_t id;
	uint64_t v;

	for (;;) {
		if (fe->event_idx)
			guest_set_used_event(gr, gr->used_seen);
		if (guest_get_used(gr, &id, len))
			break;
		if (!fe_wait_readable(fe->call[q], FE_TIMEOUT_MS))
			return NULL;
		if (read(fe->call[q], &v, sizeof(v)) < 0)
			return NULL;
	}
	*head = (uint16_t)id;
	return guest_ptr(&fe->gm, fe->resp_gpa[q][id]);
}

/* Post, kick, wait: the response of one control command. */
static inline struct virtio_gpu_ctrl_hdr *fe_cmd(struct fe *fe, const void *req,
						 uint32_t len,
						 uint32_t resp_cap,
						 uint32_t *resp_len)
{
	uint16_t head = fe_post(fe, 0, req, len, resp_cap), got;
	struct virtio_gpu_ctrl_hdr *r;

	fe_kick(fe, 0);
	r = fe_wait_used(fe, 0, &got, resp_len);
	assert_non_null(r);
	assert_int_equal(got, head);
	return r;
}

#endif /* VU_FRONTEND_H */
