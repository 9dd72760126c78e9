/* SPDX-License-Identifier: MIT */
/*
 * gpu_transport.h - the guest simulator's virtio-gpu driver: a vhost-user
 *                   frontend, a control queue and a cursor queue in guest
 *                   RAM, and struct vsvmg_transport_ops on top.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * gsim_gpu_connect() brings a virtio-gpu device up the way QEMU and a guest
 * kernel would between them: the vhost-user exchange (vhost_frontend.h),
 * then two split rings in guest RAM (virtqueue.h) — controlq 0 and
 * cursorq 1 — and one interrupt thread for both.  Every command is copied
 * into a bounce buffer of guest page frames (device-readable command,
 * then device-writable response), as a guest driver's DMA buffers would be;
 * the device sees guest-physical addresses only.
 *
 * gsim_gpu_transport_ops is the guest-shim core's transport seam
 * (vsvmg.h): capset discovery, CTX_CREATE/CTX_DESTROY and an asynchronous
 * SUBMIT_3D.  The gsim_gpu_* helpers below are synchronous commands for
 * tests and tools.
 *
 * Threading: every function may be called from any thread at the same time;
 * calls made one after another by one thread reach the ring in that order.
 * Completions run in the interrupt thread.  A vsvmg_submission's done()
 * runs there too: it may submit again (a full ring then gives -EAGAIN
 * rather than a deadlock), but a synchronous helper called from it fails
 * with -EDEADLK, since only that thread could complete it.
 *
 * When the backend hangs up, or at gsim_gpu_disconnect(), commands still
 * in flight complete at once: submissions with resp_type
 * VIRTIO_GPU_RESP_ERR_UNSPEC and no reply, synchronous helpers with -EIO
 * or -ECANCELED.
 */
#ifndef GSIM_GPU_TRANSPORT_H
#define GSIM_GPU_TRANSPORT_H

#include <stdint.h>

#include <linux/virtio_gpu.h>

#include "vsvmg.h"

struct gsim_ram;
struct gsim_gpu;
struct gsim_vhost;
struct gsim_vq;

#define GSIM_GPU_CONTROLQ   0
#define GSIM_GPU_CURSORQ    1
#define GSIM_GPU_NR_QUEUES  2

#define GSIM_GPU_QUEUE_SIZE 256	  /* default ring size */
#define GSIM_GPU_TIMEOUT_MS 10000 /* default; see struct gsim_gpu_config */

struct gsim_gpu_config {
	uint32_t queue_size; /* power of two; 0: GSIM_GPU_QUEUE_SIZE */
	/*
	 * Bound on connecting, on each vhost-user reply and on each
	 * synchronous command; 0: GSIM_GPU_TIMEOUT_MS.  Asynchronous submits
	 * are never timed out: the backend may park them (EVENT_WAIT).
	 */
	uint32_t timeout_ms;
	/*
	 * QEMU always sends VHOST_USER_GPU_SET_SOCKET for vhost-user-gpu-pci;
	 * set this to leave it out (a backend that has no display).
	 */
	int no_display_socket;
};

/*
 * Connect to the vhost-user backend at socket_path and bring the device
 * up (cfg may be NULL).  Return 0 or -errno, with a log line saying which
 * step failed.
 */
int gsim_gpu_connect(struct gsim_ram *ram, const char *socket_path,
		     const struct gsim_gpu_config *cfg, struct gsim_gpu **out);
/*
 * Stop the rings (SET_VRING_ENABLE 0, GET_VRING_BASE), complete what is
 * still in flight, close the connection and free the rings.
 */
void gsim_gpu_disconnect(struct gsim_gpu *gpu);

/* The core's transport; its void *t is the struct gsim_gpu. */
extern const struct vsvmg_transport_ops gsim_gpu_transport_ops;

uint64_t gsim_gpu_features(const struct gsim_gpu *gpu); /* negotiated */
uint32_t gsim_gpu_num_capsets(const struct gsim_gpu *gpu);
struct gsim_vhost *gsim_gpu_vhost(struct gsim_gpu *gpu);
struct gsim_vq *gsim_gpu_queue(struct gsim_gpu *gpu, unsigned int index);

/*
 * Send cmd (starting with a struct virtio_gpu_ctrl_hdr) on queue and wait
 * for the response, copying up to resp_len bytes of it into resp.  Return
 * the bytes the device wrote (at least a ctrl_hdr), or -errno: -ETIMEDOUT,
 * -EIO (device lost), -ECANCELED (disconnect), -EPROTO (response shorter
 * than a ctrl_hdr), -EDEADLK (called from a completion).  The response's
 * type is not interpreted here.
 */
int gsim_gpu_command(struct gsim_gpu *gpu, unsigned int queue, const void *cmd,
		     uint32_t cmd_len, void *resp, uint32_t resp_len);

/* GET_DISPLAY_INFO; 0 or -errno (-EIO for an error response). */
int gsim_gpu_get_display_info(struct gsim_gpu *gpu,
			      struct virtio_gpu_resp_display_info *out);
/* GET_CAPSET_INFO for index; 0 or -errno. */
int gsim_gpu_get_capset_info(struct gsim_gpu *gpu, uint32_t index,
			     struct virtio_gpu_resp_capset_info *out);
/*
 * GET_CAPSET of id/version whose size the device gave as max_size; copies
 * up to cap bytes to buf.  Return the bytes copied or -errno.
 */
int gsim_gpu_get_capset(struct gsim_gpu *gpu, uint32_t id, uint32_t version,
			uint32_t max_size, void *buf, uint32_t cap);

#endif /* GSIM_GPU_TRANSPORT_H */
