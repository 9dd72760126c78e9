/* SPDX-License-Identifier: MIT */
/*
 * vq_device.h - a tiny device side of a split virtqueue for tests: it reads
 *               the ring out of the same guest RAM the driver wrote, the
 *               way a vhost-user backend would, and can misbehave on
 *               purpose.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Memory ordering mirrors a real device: acquire on avail->idx before the
 * entry and descriptors (pairs with the driver's release store), release
 * on used->idx after the used entries (pairs with the driver's acquire),
 * and a full fence between publishing avail_event and re-reading avail->idx.
 */
#ifndef VSVM_TEST_VQ_DEVICE_H
#define VSVM_TEST_VQ_DEVICE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>

#include <linux/virtio_ring.h>

#include "guest_ram.h"
#include "virtqueue.h"

#define VQ_DEV_MAX_SEGS 16

struct vq_dev {
	struct gsim_ram *ram;
	struct gsim_vq_layout l;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;
	uint16_t used_idx;
};

/* One popped chain, as the device sees it. */
struct vq_dev_buf {
	uint16_t head;
	unsigned int nr_out;
	unsigned int nr_in;
	struct gsim_vq_seg out[VQ_DEV_MAX_SEGS];
	struct gsim_vq_seg in[VQ_DEV_MAX_SEGS];
};

static inline void vq_dev_init(struct vq_dev *d, struct gsim_ram *ram,
			       struct gsim_vq *vq)
{
	memset(d, 0, sizeof(*d));
	d->ram = ram;
	gsim_vq_layout(vq, &d->l);
	d->desc = gsim_ram_ptr(ram, d->l.desc_gpa, 16ull * d->l.num);
	d->avail = gsim_ram_ptr(ram, d->l.avail_gpa, 6 + 2ull * d->l.num);
	d->used = gsim_ram_ptr(ram, d->l.used_gpa, 6 + 8ull * d->l.num);
}

static inline uint16_t vq_dev_avail_idx(struct vq_dev *d)
{
	return le16toh(__atomic_load_n(&d->avail->idx, __ATOMIC_ACQUIRE));
}

/* Pop the next available chain; 0 if there is none. */
static inline int vq_dev_pop(struct vq_dev *d, struct vq_dev_buf *b)
{
	uint16_t i, flags;
	unsigned int n = 0;

	if (vq_dev_avail_idx(d) == d->last_avail)
		return 0;
	memset(b, 0, sizeof(*b));
	b->head = le16toh(d->avail->ring[d->last_avail % d->l.num]);
	d->last_avail++;
	i = b->head;
	do {
		struct gsim_vq_seg s = { le64toh(d->desc[i].addr),
					 le32toh(d->desc[i].len) };

		flags = le16toh(d->desc[i].flags);
		if (flags & VRING_DESC_F_WRITE)
			b->in[b->nr_in++] = s;
		else
			b->out[b->nr_out++] = s;
		i = le16toh(d->desc[i].next);
	} while ((flags & VRING_DESC_F_NEXT) && ++n < VQ_DEV_MAX_SEGS);
	return 1;
}

/* Return a used entry without telling the driver. */
static inline void vq_dev_push(struct vq_dev *d, uint32_t id, uint32_t len)
{
	struct vring_used_elem *e = &d->used->ring[d->used_idx % d->l.num];

	e->id = htole32(id);
	e->len = htole32(len);
	d->used_idx++;
	/* Entry before index; pairs with the driver's acquire. */
	__atomic_store_n(&d->used->idx, htole16(d->used_idx), __ATOMIC_RELEASE);
}

static inline void vq_dev_call(struct vq_dev *d)
{
	eventfd_write(d->l.call_fd, 1);
}

/* Kicks received since the last look. */
static inline uint64_t vq_dev_kicks(struct vq_dev *d)
{
	eventfd_t n = 0;

	if (eventfd_read(d->l.kick_fd, &n))
		return 0;
	return n;
}

static inline void vq_dev_set_avail_event(struct vq_dev *d, uint16_t v)
{
	__virtio16 *ev = (__virtio16 *)&d->used->ring[d->l.num];

	__atomic_store_n(ev, htole16(v), __ATOMIC_RELAXED);
	/* Pairs with the driver's fence between avail->idx and reading this. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint16_t vq_dev_used_event(struct vq_dev *d)
{
	return le16toh(
		__atomic_load_n(&d->avail->ring[d->l.num], __ATOMIC_RELAXED));
}

static inline void *vq_dev_ptr(struct vq_dev *d, struct gsim_vq_seg s)
{
	return gsim_ram_ptr(d->ram, s.gpa, s.len);
}

#endif /* VSVM_TEST_VQ_DEVICE_H */
