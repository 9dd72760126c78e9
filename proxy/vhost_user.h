/* SPDX-License-Identifier: MIT */
/*
 * vhost_user.h - the vhost-user server of vsvm-proxy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * vsvm-proxy is a vhost-user backend for QEMU's vhost-user-gpu device (or,
 * for tests without KVM, vhost-user-gpio: enum vp_standin).  One server
 * listens on a UNIX socket and serves every VM that connects; each
 * connection gets its own thread, memory table, rings, virtio-gpu device
 * and struct vp_svm, so one VM's failure or disconnect never disturbs
 * another's.
 *
 * Message handling follows QEMU's docs/interop/vhost-user.rst; what QEMU
 * 7.2 needs from a backend is listed in docs (DESIGN section 4).  A
 * protocol violation (bad size, version, vring index or fd count) breaks
 * the connection for good and closes it; an unsupported or failed request
 * is an error the frontend hears about (REPLY_ACK) and the connection
 * goes on.
 */
#ifndef VP_VHOST_USER_H
#define VP_VHOST_USER_H

#include <stdint.h>

#include "svm.h"
#include "virtio_gpu.h"

/* Log levels for vp_server_config.verbosity. */
#define VP_LOG_ERR			  0 /* errors and violations */
#define VP_LOG_INFO			  1 /* connections, ring state */
#define VP_LOG_DEBUG			  2 /* every message and command */

/* Connections served at once when the config says 0. */
#define VP_SERVER_DEFAULT_MAX_CONNECTIONS 64

struct vp_server_config {
	/* Socket to listen on; NULL: only vp_server_add_connection(). */
	const char *socket_path;
	/* Template for each connection's struct vp_svm (devices shared). */
	struct vp_svm_config svm;
	enum vp_standin standin;
	int verbosity;		  /* VP_LOG_*; below 0 is silent */
	uint32_t max_connections; /* 0: the default */
};

struct vp_server_stats {
	uint64_t connections_served;  /* ever accepted */
	uint64_t connections_active;  /* being served now */
	uint64_t connections_refused; /* over max_connections, or failed */
	uint64_t connections_broken;  /* closed for a protocol violation */
	uint64_t messages;	      /* vhost-user messages handled */
	uint64_t errors;	      /* messages that failed */
	/* Summed from each connection's device when it ends. */
	uint64_t commands;
	uint64_t bad_chains;
	/* Summed from each connection's SVM contexts when it ends. */
	uint64_t launches;
	uint64_t faults;	      /* device faults, minor + forwarded */
	uint64_t faults_forwarded;    /* of those, answered by a guest */
	uint64_t migrations;	      /* granule moves, every direction */
	uint64_t migrated_bytes;
	uint64_t evictions;	      /* granules asked back to guest RAM */
	uint64_t thrash_pins;
};

struct vp_server;

/*
 * Start serving: bind and listen on cfg->socket_path (a stale socket there
 * is replaced; any other file is an error) with a thread accepting.
 * Return: the server, or NULL with errno set.
 */
struct vp_server *vp_server_start(const struct vp_server_config *cfg);

/*
 * Serve an already connected socket (a socketpair end in tests, an fd
 * inherited with --fd).  The server owns fd from here on, also on failure.
 * Return: 0 or -errno.
 */
int vp_server_add_connection(struct vp_server *server, int fd);

/* Close every connection, join every thread, unlink the socket, free. */
void vp_server_stop(struct vp_server *server);

void vp_server_get_stats(struct vp_server *server, struct vp_server_stats *out);

#endif /* VP_VHOST_USER_H */
