/* SPDX-License-Identifier: MIT */
/*
 * virtio_gpu.h - the virtio-gpu device of one vhost-user connection.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The device layer turns the chains of the control queue into virtio-gpu
 * commands, answers the few the svm context type needs (display info,
 * capsets, context create/destroy, SUBMIT_3D) and refuses the rest with
 * VIRTIO_GPU_RESP_ERR_UNSPEC.  The cursor queue is consumed and completed.
 *
 * Threading: every function below runs on the connection thread, except
 * the complete() callback it installs in each struct vp_submit, which the
 * SVM core may call from any thread.  That callback only queues the
 * finished submission under the device's lock and writes params.wake_fd;
 * the connection thread then calls vp_gpu_complete(), which writes the
 * response into guest memory and marks the buffer used.  So guest memory
 * and the rings are only ever touched by the connection thread.
 */
#ifndef VP_VIRTIO_GPU_H
#define VP_VIRTIO_GPU_H

#include <stdint.h>

#include "svm.h"
#include "vring.h"

#define VP_GPU_NUM_QUEUES 2
#define VP_GPU_CTRLQ	  0
#define VP_GPU_CURSORQ	  1

/*
 * What config space the device shows.  VP_STANDIN_GPIO carries the very
 * same queues and commands behind QEMU's vhost-user-gpio-pci, which
 * realizes without KVM (docs: DESIGN section 4); only GET_CONFIG differs.
 */
enum vp_standin {
	VP_STANDIN_NONE = 0,
	VP_STANDIN_GPIO,
};

struct vp_gpu_params {
	struct vp_svm *svm;
	struct vp_vring *queues[VP_GPU_NUM_QUEUES];
	int wake_fd; /* eventfd the connection polls */
	enum vp_standin standin;
	int verbosity;	 /* 0 errors, 1 info, 2 each command */
	unsigned int id; /* connection number, for logs */
};

struct vp_gpu_stats {
	uint64_t commands;    /* control commands handled */
	uint64_t cmd_errors;  /* answered with an error response */
	uint64_t bad_chains;  /* malformed chains completed len 0 */
	uint64_t submits;     /* SUBMIT_3D handed to the core */
	uint64_t completions; /* submissions answered */
	uint64_t dropped;     /* completions whose ring was reset */
};

/* Device feature bits offered to the driver (VIRTIO_GPU_F_*, ring bits). */
uint64_t vp_gpu_device_features(void);

struct vp_gpu *vp_gpu_create(const struct vp_gpu_params *p);
/*
 * Free the device and every finished submission, without touching guest
 * memory.  Call after vp_svm_destroy(), which completes every submission
 * the core held; should one still be held, the device is leaked (and
 * logged) rather than freed under the core.
 */
void vp_gpu_destroy(struct vp_gpu *gpu);

/* The SVM service was replaced (device reset); the old one is destroyed. */
void vp_gpu_set_svm(struct vp_gpu *gpu, struct vp_svm *svm);

/* The features the driver acknowledged (SET_FEATURES). */
void vp_gpu_set_features(struct vp_gpu *gpu, uint64_t features);

/*
 * Queue qidx was kicked or became ready: answer deferred completions,
 * drain its available chains, and signal the guest as EVENT_IDX allows.
 */
void vp_gpu_queue_notify(struct vp_gpu *gpu, uint32_t qidx);

/* wake_fd fired: write out the submissions the core has finished. */
void vp_gpu_complete(struct vp_gpu *gpu);

/*
 * Read len bytes at offset off of the config space into out.
 * Return: 0 or -EINVAL when the range is not inside the config space.
 */
int vp_gpu_get_config(const struct vp_gpu *gpu, uint32_t off, uint32_t len,
		      void *out);

void vp_gpu_get_stats(struct vp_gpu *gpu, struct vp_gpu_stats *out);

#endif /* VP_VIRTIO_GPU_H */
