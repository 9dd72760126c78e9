/* SPDX-License-Identifier: MIT */
/*
 * vring.h - the device side of one split virtqueue.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A struct vp_vring is one virtqueue as vhost-user configures it: its size
 * (SET_VRING_NUM), the frontend addresses of its three parts
 * (SET_VRING_ADDR), the next avail index (SET_VRING_BASE), and the kick,
 * call and error eventfds.  It pops descriptor chains the guest made
 * available, validates them whole, and pushes used elements back.
 *
 * A popped chain (struct vp_vring_elem) is kept as guest physical
 * addresses, not pointers: every gather and scatter translates again
 * through the memory table, so an element parked across a SET_MEM_TABLE
 * never writes through a stale mapping.  Elements may be pushed in any
 * order (a parked submission completes after newer ones).
 *
 * Every function runs on the connection thread that owns the ring; nothing
 * here is locked.  The guest shares the rings: every value read from them
 * is copied once and validated before use.
 */
#ifndef VP_VRING_H
#define VP_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#include "memtable.h"

/*
 * Largest queue accepted.  QEMU's VIRTQUEUE_MAX_SIZE is 1024, and the
 * guest-visible cost of a ring (validation work per chain) grows with it.
 */
#define VP_VRING_MAX_NUM  1024

/*
 * Most buffers in one chain, direct and indirect together, and most entries
 * in one indirect table.  The guest chooses both; 1024 matches the iovec
 * limit of QEMU and Linux vhost (UIO_MAXIOV), so no driver they accept is
 * refused, and one chain's bookkeeping stays at 16 KiB.
 */
#define VP_VRING_MAX_SEGS 1024

/* One guest buffer of a chain; len > 0, inside the memory table at pop. */
struct vp_vring_seg {
	uint64_t gpa;
	uint32_t len;
	uint32_t pad;
};

/*
 * One popped chain: nr_out device-readable buffers, then nr_in
 * device-writable ones, in segs[] (heap, owned by the element).
 */
struct vp_vring_elem {
	uint16_t head;
	uint32_t nr_out;
	uint32_t nr_in;
	uint32_t out_len; /* readable bytes */
	uint32_t in_len;  /* writable bytes */
	struct vp_vring_seg *segs;
};

struct vp_vring_stats {
	uint64_t popped;     /* valid chains */
	uint64_t bad_chains; /* malformed chains (caller completes them) */
	uint64_t used;	     /* used elements pushed */
	uint64_t signals;    /* writes to the call eventfd */
};

struct vp_vring {
	const struct vp_memtable *mt;
	uint32_t index;

	/* Configuration from the frontend. */
	uint32_t num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_uva;
	uint64_t avail_uva;
	uint64_t used_uva;

	/* Host views of the three parts; NULL while not mapped. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx;	 /* shadow of used->idx */
	uint16_t signalled_used; /* used_idx at the last call */
	bool signalled_used_valid;
	bool pushed;	/* used entries since the last call */
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */

	bool started; /* kick fd set, not stopped */
	bool enabled; /* SET_VRING_ENABLE 1 */
	bool broken;  /* guest corrupted the ring; sticky */

	/*
	 * Bumped whenever the frontend lays the ring out anew (size, address
	 * or base changed): elements popped before belong to a ring that is
	 * gone and must not be pushed.
	 */
	uint32_t epoch;

	int kick_fd;
	int call_fd;
	int err_fd;

	struct vp_vring_stats stats;
};

/* An empty, stopped ring with no fds. */
void vp_vring_init(struct vp_vring *vr, const struct vp_memtable *mt,
		   uint32_t index);
/* Close the ring's fds and return it to the state of vp_vring_init(). */
void vp_vring_release(struct vp_vring *vr);

/* Configuration.  Return: 0, -EINVAL (bad value) or -EBUSY (started). */
int vp_vring_set_num(struct vp_vring *vr, uint32_t num);
int vp_vring_set_base(struct vp_vring *vr, uint32_t base);
/* Also -EFAULT when the table exists but does not hold the ring. */
int vp_vring_set_addr(struct vp_vring *vr, uint64_t desc, uint64_t avail,
		      uint64_t used);
/* Translate the ring again (the memory table changed).  0 or -EFAULT. */
int vp_vring_map(struct vp_vring *vr);
/* VIRTIO_RING_F_EVENT_IDX negotiated or not (the ring sizes change). */
void vp_vring_set_event_idx(struct vp_vring *vr, bool on);

/* Replace an eventfd; the old one is closed.  fd may be -1. */
void vp_vring_set_kick(struct vp_vring *vr, int fd);
void vp_vring_set_call(struct vp_vring *vr, int fd);
void vp_vring_set_err(struct vp_vring *vr, int fd);

/* GET_VRING_BASE: stop the ring; return the next avail index. */
uint16_t vp_vring_stop(struct vp_vring *vr);

/* Started, enabled, mapped and not broken: chains may be popped/pushed. */
bool vp_vring_ready(const struct vp_vring *vr);

/*
 * Pop the next available chain into elem.  Return: 1 popped; 0 nothing
 * available (or not ready); -EBADMSG the chain at elem->head is malformed
 * (elem holds no segments; the caller completes it with used len 0);
 * -EIO the ring itself is corrupt (bad avail idx or head): the ring is
 * marked broken and the error eventfd signalled.
 */
int vp_vring_pop(struct vp_vring *vr, struct vp_vring_elem *elem);
void vp_vring_elem_free(struct vp_vring_elem *elem);

/*
 * Copy len bytes at offset off of the readable part into buf, or buf into
 * the writable part.  Return: 0, -EINVAL (beyond the part) or -EFAULT (a
 * buffer is no longer in the memory table).
 */
int vp_vring_gather(const struct vp_vring *vr, const struct vp_vring_elem *e,
		    uint32_t off, void *buf, uint32_t len);
int vp_vring_scatter(const struct vp_vring *vr, const struct vp_vring_elem *e,
		     uint32_t off, const void *buf, uint32_t len);

/* Mark chain head used with len bytes written.  0, -EINVAL or -EAGAIN. */
int vp_vring_push(struct vp_vring *vr, uint16_t head, uint32_t len);

/* Signal the call eventfd if the driver wants it (EVENT_IDX or flags). */
void vp_vring_notify(struct vp_vring *vr);
/* Signal the call eventfd unconditionally (a new call fd was set). */
void vp_vring_signal(struct vp_vring *vr);

#endif /* VP_VRING_H */
