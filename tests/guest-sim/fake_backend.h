/* SPDX-License-Identifier: MIT */
/*
 * fake_backend.h - a scripted vhost-user backend for frontend tests: it
 *                  records every request (with flags, size, fds and the
 *                  payload's first bytes), answers like libvhost-user, and
 *                  misbehaves on one chosen request when told to.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * It serves one connection in its own thread.  Received fds are closed at
 * once, except the display socket's, which is kept until the fake stops so
 * the frontend's display thread sees no early hang-up.
 */
#ifndef VSVM_TEST_FAKE_BACKEND_H
#define VSVM_TEST_FAKE_BACKEND_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FAKE_MAX_LOG	64
#define FAKE_NEED_REPLY (1u << 3)

enum fake_mode {
	FAKE_OK,
	FAKE_WRONG_REQUEST, /* reply names another request */
	FAKE_NO_REPLY_FLAG,
	FAKE_BAD_VERSION,
	FAKE_WRONG_SIZE,  /* payload 4 bytes longer than expected */
	FAKE_REFUSE,	  /* REPLY_ACK status 1 */
	FAKE_SILENT,	  /* never answer */
	FAKE_HANG_UP,	  /* close the socket instead of answering */
	FAKE_FD_IN_REPLY, /* attach an fd to the reply */
};

struct fake_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	unsigned int nr_fds;
	uint8_t payload[280]; /* the first bytes of the payload */
};

struct fake_backend {
	char dir[64];
	char path[96];
	int lsock;
	int conn;
	int kept_fd; /* the display socket, if one came */
	pthread_t tid;

	uint64_t features;    /* GET_FEATURES answer */
	uint64_t protocol;    /* GET_PROTOCOL_FEATURES answer */
	uint32_t num_capsets; /* in the GET_CONFIG answer */

	uint32_t bad_request; /* the request to misbehave on */
	enum fake_mode mode;

	pthread_mutex_t lock;
	struct fake_msg log[FAKE_MAX_LOG];
	unsigned int nlog;
};

static inline int fake_read(int fd, void *buf, size_t len, int *fds,
			    unsigned int *nr_fds)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t r;

	if (fds) {
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		*nr_fds = 0;
	}
	r = recvmsg(fd, &msg, MSG_WAITALL);
	if (r != (ssize_t)len)
		return -1;
	if (!fds)
		return 0;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		unsigned int i, n = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) /
						   sizeof(int));

		for (i = 0; i < n && *nr_fds < 8; i++)
			memcpy(&fds[(*nr_fds)++],
			       CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return 0;
}

static inline void fake_send(struct fake_backend *f, uint32_t req,
			     uint32_t flags, const void *payload, uint32_t size,
			     int fd)
{
	uint32_t hdr[3] = { req, flags, size };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2] = { { hdr, sizeof(hdr) },
				{ (void *)payload, size } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	sendmsg(f->conn, &msg, MSG_NOSIGNAL);
}

/* The reply payload a well-behaved backend gives; size 0: none. */
static inline uint32_t fake_answer(struct fake_backend *f,
				   const struct fake_msg *m, uint8_t *out)
{
	uint64_t v;

	switch (m->request) {
	case 1: /* GET_FEATURES */
		v = f->features;
		break;
	case 15: /* GET_PROTOCOL_FEATURES */
		v = f->protocol;
		break;
	case 17: /* GET_QUEUE_NUM */
		v = 2;
		break;
	case 11: /* GET_VRING_BASE: {index, 0} */
		memcpy(out, m->payload, 4);
		memset(out + 4, 0, 4);
		return 8;
	case 24: /* GET_CONFIG: echo, with num_capsets at offset 12 */
		memcpy(out, m->payload, m->size);
		if (m->size >= 12 + 16)
			memcpy(out + 12 + 12, &f->num_capsets, 4);
		return m->size;
	default:
		if (!(m->flags & FAKE_NEED_REPLY))
			return 0;
		v = 0; /* REPLY_ACK: success */
		break;
	}
	memcpy(out, &v, sizeof(v));
	return sizeof(v);
}

static inline void fake_reply(struct fake_backend *f, const struct fake_msg *m)
{
	uint8_t out[300];
	uint32_t size = fake_answer(f, m, out);
	uint32_t flags = 0x1 | (1u << 2);
	int bad = f->mode != FAKE_OK && m->request == f->bad_request;
	uint64_t refuse = 1;

	if (!size && !bad)
		return;
	if (!bad) {
		fake_send(f, m->request, flags, out, size, -1);
		return;
	}
	switch (f->mode) {
	case FAKE_WRONG_REQUEST:
		fake_send(f, m->request + 1, flags, out, size, -1);
		break;
	case FAKE_NO_REPLY_FLAG:
		fake_send(f, m->request, 0x1, out, size, -1);
		break;
	case FAKE_BAD_VERSION:
		fake_send(f, m->request, 0x2 | (1u << 2), out, size, -1);
		break;
	case FAKE_WRONG_SIZE:
		memset(out + size, 0, 4);
		fake_send(f, m->request, flags, out, size + 4, -1);
		break;
	case FAKE_REFUSE:
		fake_send(f, m->request, flags, &refuse, sizeof(refuse), -1);
		break;
	case FAKE_HANG_UP:
		shutdown(f->conn, SHUT_RDWR);
		break;
	case FAKE_FD_IN_REPLY:
		fake_send(f, m->request, flags, out, size, f->conn);
		break;
	default: /* FAKE_SILENT */
		break;
	}
}

static inline void *fake_thread(void *p)
{
	struct fake_backend *f = p;
	int fds[8];

	f->conn = accept(f->lsock, NULL, NULL);
	if (f->conn < 0)
		return NULL;
	for (;;) {
		struct fake_msg m;
		uint32_t hdr[3];
		uint8_t skip[512];
		unsigned int i;

		memset(&m, 0, sizeof(m));
		if (fake_read(f->conn, hdr, sizeof(hdr), fds, &m.nr_fds))
			break;
		m.request = hdr[0];
		m.flags = hdr[1];
		m.size = hdr[2];
		if (m.size > sizeof(skip) ||
		    (m.size && fake_read(f->conn, skip, m.size, NULL, NULL)))
			break;
		memcpy(m.payload, skip,
		       m.size < sizeof(m.payload) ? m.size : sizeof(m.payload));
		for (i = 0; i < m.nr_fds; i++) {
			if (m.request == 33 && f->kept_fd < 0)
				f->kept_fd = fds[i];
			else
				close(fds[i]);
		}
		pthread_mutex_lock(&f->lock);
		if (f->nlog < FAKE_MAX_LOG)
			f->log[f->nlog++] = m;
		pthread_mutex_unlock(&f->lock);
		fake_reply(f, &m);
	}
	return NULL;
}

static inline struct fake_backend *fake_start(uint64_t features,
					      uint64_t protocol)
{
	struct fake_backend *f = calloc(1, sizeof(*f));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (!f)
		return NULL;
	f->features = features;
	f->protocol = protocol;
	f->conn = -1;
	f->kept_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	strcpy(f->dir, "/tmp/vsvm-fake-XXXXXX");
	if (!mkdtemp(f->dir))
		goto err;
	snprintf(f->path, sizeof(f->path), "%s/fake.sock", f->dir);
	strcpy(addr.sun_path, f->path);
	f->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lsock < 0 ||
	    bind(f->lsock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(f->lsock, 1))
		goto err;
	if (pthread_create(&f->tid, NULL, fake_thread, f))
		goto err;
	return f;
err:
	free(f);
	return NULL;
}

/*
 * Call after the frontend closed its end: the thread then sees EOF.  The
 * log stays readable until fake_free().
 */
static inline void fake_stop(struct fake_backend *f)
{
	pthread_join(f->tid, NULL);
	if (f->conn >= 0)
		close(f->conn);
	if (f->kept_fd >= 0)
		close(f->kept_fd);
	close(f->lsock);
	unlink(f->path);
	rmdir(f->dir);
}

static inline void fake_free(struct fake_backend *f)
{
	pthread_mutex_destroy(&f->lock);
	free(f);
}

#endif /* VSVM_TEST_FAKE_BACKEND_H */
