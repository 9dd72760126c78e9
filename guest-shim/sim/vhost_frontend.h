/* SPDX-License-Identifier: MIT */
/*
 * vhost_frontend.h - a vhost-user frontend: the guest simulator's stand-in
 *                    for QEMU on the vhost-user socket.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The frontend connects to a backend's UNIX socket (vsvm-proxy, or QEMU's
 * own vhost-user-gpu) and drives the control protocol of QEMU's
 * docs/interop/vhost-user.rst in the order QEMU 7.2 uses for a
 * vhost-user-gpu-pci device::
 *
 *   realize:  GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
 *             [GET_QUEUE_NUM], SET_OWNER,
 *             per queue SET_VRING_CALL (a "masked" eventfd), SET_VRING_ERR,
 *             [GET_CONFIG]
 *   start:    [VHOST_USER_GPU_SET_SOCKET], SET_FEATURES, SET_MEM_TABLE,
 *             per queue SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
 *             SET_VRING_KICK; then SET_VRING_ENABLE 1 and a new
 *             SET_VRING_CALL per queue
 *   stop:     SET_VRING_ENABLE 0, GET_VRING_BASE per queue
 *
 * The caller (gpu_transport.c) sequences these calls; this file owns the
 * socket, the wire format and the checks.  Every reply is checked (version
 * bits, reply bit, request, exact size); with REPLY_ACK negotiated every
 * request that has no reply of its own asks for an acknowledgement, so a
 * backend's refusal is seen at the request that caused it.  The first
 * protocol violation marks the connection broken, and every later call
 * fails with -EPROTO (or the first error) without touching the socket.
 * Errors are -errno with one log line naming the request.
 *
 * VHOST_USER_GPU_SET_SOCKET hands the backend one end of a socketpair for
 * the vhost-user-gpu display protocol (docs/interop/vhost-user-gpu.rst).  A
 * small display thread answers the backend's requests on the other end as
 * a headless QEMU would: protocol features 0, one disabled scanout; other
 * updates are acknowledged where the protocol wants it and dropped.
 *
 * Locking: one mutex serialises request/reply exchanges, so calls may come
 * from any thread.  The display thread owns its socket alone.
 */
#ifndef GSIM_VHOST_FRONTEND_H
#define GSIM_VHOST_FRONTEND_H

#include <stdint.h>

struct gsim_region;
struct gsim_vhost;

#define GSIM_VHOST_MAX_QUEUES		8
#define GSIM_VHOST_MAX_REGIONS		8 /* VHOST_MEMORY_BASELINE_NREGIONS */
#define GSIM_VHOST_CONFIG_MAX		256 /* config space bytes one message holds */

/* Protocol feature bits (vhost-user.rst, "Protocol features"). */
#define GSIM_VHOST_PROTOCOL_F_MQ	0
#define GSIM_VHOST_PROTOCOL_F_REPLY_ACK 3
#define GSIM_VHOST_PROTOCOL_F_CONFIG	9

/* The feature bit that says the backend speaks protocol features. */
#define GSIM_VHOST_F_PROTOCOL_FEATURES	30

/* One ring, in the frontend's own addresses, as SET_VRING_ADDR wants. */
struct gsim_vhost_vring {
	uint32_t index;
	uint32_t num;
	uint64_t desc_uva;
	uint64_t avail_uva;
	uint64_t used_uva;
	uint64_t used_gpa; /* log_guest_addr, as QEMU fills it */
	int kick_fd;
};

/* What the backend's display-protocol requests were, by request id. */
#define GSIM_VHOST_GPU_REQ_MAX 16
struct gsim_vhost_display_stats {
	uint64_t requests[GSIM_VHOST_GPU_REQ_MAX]; /* by request id */
	uint64_t unknown;			   /* ids beyond the table */
	uint64_t fds_closed; /* dmabuf fds received and closed */
};

/*
 * Connect to the backend's socket, retrying while it does not exist or
 * refuses for up to timeout_ms (the backend may still be starting).  Each
 * reply is then awaited for up to timeout_ms too.  Return 0 or -errno.
 */
int gsim_vhost_connect(const char *path, unsigned int timeout_ms,
		       struct gsim_vhost **out);
/* Stop the display thread, close the socket and every fd made here. */
void gsim_vhost_close(struct gsim_vhost *vh);
/* The socket, for poll(POLLRDHUP) to notice a backend that went away. */
int gsim_vhost_fd(const struct gsim_vhost *vh);

/*
 * The realize-time exchange up to SET_OWNER and the masked call/err fds of
 * nr_queues queues.  device_features: the device-specific bits (0..23)
 * the driver would accept; the transport bits VERSION_1 (required),
 * INDIRECT_DESC, EVENT_IDX and PROTOCOL_FEATURES are added here.  Accepted
 * protocol features: MQ, REPLY_ACK, CONFIG, each only if offered.
 */
int gsim_vhost_negotiate(struct gsim_vhost *vh, uint64_t device_features,
			 unsigned int nr_queues);
uint64_t gsim_vhost_features(const struct gsim_vhost *vh); /* acked */
uint64_t gsim_vhost_offered_features(const struct gsim_vhost *vh);
uint64_t gsim_vhost_protocol_features(const struct gsim_vhost *vh); /* acked */

/* GET_CONFIG of len bytes from offset 0; -EOPNOTSUPP without CONFIG. */
int gsim_vhost_get_config(struct gsim_vhost *vh, void *buf, uint32_t len);
/* VHOST_USER_GPU_SET_SOCKET and the display thread. */
int gsim_vhost_gpu_set_socket(struct gsim_vhost *vh);
/* SET_FEATURES with what gsim_vhost_negotiate() accepted. */
int gsim_vhost_set_features(struct gsim_vhost *vh);
/* SET_MEM_TABLE: one fd per region (here the same memfd each time). */
int gsim_vhost_set_mem_table(struct gsim_vhost *vh,
			     const struct gsim_region *regions, unsigned int nr,
			     int fd);
/* SET_VRING_NUM, SET_VRING_BASE 0, SET_VRING_ADDR, SET_VRING_KICK. */
int gsim_vhost_vring_setup(struct gsim_vhost *vh,
			   const struct gsim_vhost_vring *vr);
int gsim_vhost_vring_enable(struct gsim_vhost *vh, uint32_t index, int on);
int gsim_vhost_vring_set_call(struct gsim_vhost *vh, uint32_t index, int fd);
/* GET_VRING_BASE: stops the ring; *base = next avail index it would read. */
int gsim_vhost_vring_get_base(struct gsim_vhost *vh, uint32_t index,
			      uint32_t *base);

void gsim_vhost_display_stats(struct gsim_vhost *vh,
			      struct gsim_vhost_display_stats *out);

#endif /* GSIM_VHOST_FRONTEND_H */
