/* SPDX-License-Identifier: MIT */
/*
 * gpu_cmd.h - virtio-gpu control commands as a guest driver builds them,
 *             for the transport tests.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#ifndef GPU_CMD_H
#define GPU_CMD_H

#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <linux/virtio_gpu.h>

#define HDR ((uint32_t)sizeof(struct virtio_gpu_ctrl_hdr))

static inline void make_hdr(struct virtio_gpu_ctrl_hdr *h, uint32_t type,
			    uint32_t ctx_id)
{
	memset(h, 0, sizeof(*h));
	h->type = htole32(type);
	h->ctx_id = htole32(ctx_id);
}

/*
 * A SUBMIT_3D command into buf: a stream of len bytes whose first two are
 * op and tag (the SVM test double's toy commands, svm_double.h), the rest
 * a counting pattern; size_field is what the command claims.  Returns the
 * command's length.
 */
static inline uint32_t submit_req(uint8_t *buf, uint32_t ctx_id, uint8_t op,
				  uint8_t tag, uint32_t len,
				  uint32_t size_field)
{
	struct virtio_gpu_cmd_submit *s = (void *)buf;
	uint32_t i;

	memset(s, 0, sizeof(*s));
	make_hdr(&s->hdr, VIRTIO_GPU_CMD_SUBMIT_3D, ctx_id);
	s->size = htole32(size_field);
	for (i = 0; i < len; i++)
		buf[sizeof(*s) + i] = (uint8_t)(i + 2);
	if (len > 0)
		buf[sizeof(*s)] = op;
	if (len > 1)
		buf[sizeof(*s) + 1] = tag;
	return (uint32_t)sizeof(*s) + len;
}

#endif /* GPU_CMD_H */
