/* SPDX-License-Identifier: MIT */
/*
 * guest_ring.h - the guest side of a split virtqueue, for the transport
 *                tests: guest RAM in a memfd and a driver that posts
 *                descriptor chains and reads used elements.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Written from the virtio specification, independently of proxy/vring.c,
 * so that a misreading of the spec in one does not hide in the other.
 * Guest RAM sits between two PROT_NONE guard pages, so a backend access
 * just outside it faults instead of passing silently.
 */
#ifndef GUEST_RING_H
#define GUEST_RING_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_ring.h>

#define GUEST_PAGE 4096u

struct guest_mem {
	int fd;		/* memfd backing guest RAM */
	uint8_t *base;	/* our mapping of it */
	uint8_t *guard; /* the reservation with its guard pages */
	uint64_t size;
	uint64_t gpa;  /* guest physical address of base */
	uint64_t next; /* bump allocator, offset into RAM */
};

static inline int guest_mem_init(struct guest_mem *gm, uint64_t size,
				 uint64_t gpa)
{
	memset(gm, 0, sizeof(*gm));
	gm->fd = memfd_create("vsvm-test-guest", MFD_CLOEXEC);
	if (gm->fd < 0 || ftruncate(gm->fd, (off_t)size) < 0)
		return -1;
	gm->guard = mmap(NULL, size + 2 * GUEST_PAGE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (gm->guard == MAP_FAILED)
		return -1;
	gm->base = mmap(gm->guard + GUEST_PAGE, size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_FIXED, gm->fd, 0);
	if (gm->base == MAP_FAILED)
		return -1;
	gm->size = size;
	gm->gpa = gpa;
	return 0;
}

static inline void guest_mem_free(struct guest_mem *gm)
{
	if (gm->guard && gm->guard != MAP_FAILED)
		munmap(gm->guard, gm->size + 2 * GUEST_PAGE);
	if (gm->fd >= 0)
		close(gm->fd);
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
}

static inline uint64_t guest_alloc(struct guest_mem *gm, uint64_t size,
				   uint64_t align)
{
	uint64_t off = (gm->next + align - 1) & ~(align - 1);

	gm->next = off + size;
	return gm->gpa + off;
}

static inline void *guest_ptr(struct guest_mem *gm, uint64_t gpa)
{
	return gm->base + (gpa - gm->gpa);
}

/* The frontend's virtual address of a GPA: our own mapping, as QEMU's. */
static inline uint64_t guest_uva(struct guest_mem *gm, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)guest_ptr(gm, gpa);
}

struct guest_ring {
	struct guest_mem *gm;
	uint32_t num;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
	uint16_t used_seen;
	uint16_t next_desc; /* descriptors handed out round robin */
};

static inline void guest_ring_init(struct guest_ring *gr, struct guest_mem *gm,
				   uint32_t num)
{
	memset(gr, 0, sizeof(*gr));
	gr->gm = gm;
	gr->num = num;
	gr->desc_gpa = guest_alloc(gm, 16ull * num, 16);
	gr->avail_gpa = guest_alloc(gm, 6 + 2ull * num, 2);
	gr->used_gpa = guest_alloc(gm, 6 + 8ull * num, 4);
	gr->desc = guest_ptr(gm, gr->desc_gpa);
	gr->avail = guest_ptr(gm, gr->avail_gpa);
	gr->used = guest_ptr(gm, gr->used_gpa);
}

struct guest_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static inline void guest_desc_set(struct guest_ring *gr, uint16_t i,
				  uint64_t gpa, uint32_t len, uint16_t flags,
				  uint16_t next)
{
	gr->desc[i].addr = htole64(gpa);
	gr->desc[i].len = htole32(len);
	gr->desc[i].flags = htole16(flags);
	gr->desc[i].next = htole16(next);
}

/* Write a chain of n buffers into free descriptors; return its head. */
static inline uint16_t guest_chain(struct guest_ring *gr,
				   const struct guest_buf *b, unsigned int n)
{
	uint16_t head = gr->next_desc % gr->num, i, next;
	unsigned int k;

	for (k = 0; k < n; k++) {
		i = (uint16_t)((head + k) % gr->num);
		next = (uint16_t)((head + k + 1) % gr->num);
		guest_desc_set(gr, i, b[k].gpa, b[k].len,
			       (b[k].writable ? VRING_DESC_F_WRITE : 0) |
				       (k + 1 < n ? VRING_DESC_F_NEXT : 0),
			       k + 1 < n ? next : 0);
	}
	gr->next_desc = (uint16_t)(gr->next_desc + n);
	return head;
}

/* Make head available: entry first, then the index (release). */
static inline void guest_publish(struct guest_ring *gr, uint16_t head)
{
	gr->avail->ring[gr->avail_idx % gr->num] = htole16(head);
	gr->avail_idx++;
	__atomic_store_n(&gr->avail->idx, htole16(gr->avail_idx),
			 __ATOMIC_RELEASE);
}

static inline uint16_t guest_used_idx(struct guest_ring *gr)
{
	return le16toh(__atomic_load_n(&gr->used->idx, __ATOMIC_ACQUIRE));
}

/* Next used element, if any. */
static inline bool guest_get_used(struct guest_ring *gr, uint32_t *id,
				  uint32_t *len)
{
	struct vring_used_elem *e;

	if (guest_used_idx(gr) == gr->used_seen)
		return false;
	e = &gr->used->ring[gr->used_seen % gr->num];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	gr->used_seen++;
	return true;
}

/* EVENT_IDX: the driver's used_event (avail->ring[num]). */
static inline void guest_set_used_event(struct guest_ring *gr, uint16_t v)
{
	__atomic_store_n(&gr->avail->ring[gr->num], htole16(v),
			 __ATOMIC_SEQ_CST);
}

/* EVENT_IDX: the device's avail_event (used->ring[num]). */
static inline uint16_t guest_avail_event(struct guest_ring *gr)
{
	uint16_t *p = (uint16_t *)&gr->used->ring[gr->num];

	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

#endif /* GUEST_RING_H */
