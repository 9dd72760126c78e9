/* SPDX-License-Identifier: MIT */
/*
 * virtqueue.h - the driver side of a split virtqueue living in guest RAM,
 *               as a guest kernel's virtio_ring would drive it.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A struct gsim_vq owns one split ring (descriptor table, avail ring, used
 * ring) in page frames of the simulated guest RAM, a kick eventfd (driver to
 * device) and a call eventfd (device to driver).  The device side is
 * whatever process maps the same guest RAM: vsvm-proxy, QEMU's
 * vhost-user-gpu, or a test harness.
 *
 * A buffer is a chain of device-readable segments followed by
 * device-writable ones, each a guest-physical address and a length.
 * gsim_vq_add() publishes it and kicks if the device asked for kicks;
 * its done() callback runs once, when the device returns the chain through
 * the used ring, or with an error if the queue is torn down or the device
 * breaks the protocol first.  Completions may arrive in any order.
 *
 * The device is not trusted.  Its used-ring entries are read once, their
 * ids checked against the chains in flight (a bad id is logged and
 * ignored), their lengths clamped to the writable bytes of the chain, and a
 * used index that runs ahead by more than the ring size marks the queue
 * broken.  The driver keeps its own copy of every chain and never reads the
 * descriptor table back, since the device can write it.
 *
 * Locking: each queue has one mutex over its free list, avail index and the
 * chains in flight.  A caller that finds too few free descriptors sleeps on
 * a condition variable; callers are served first come, first served, so
 * calls from one thread reach the ring in call order and a long chain is
 * not starved by short ones.  done() callbacks run without the lock, in the
 * thread that harvests (the interrupt thread below, or the caller of
 * gsim_vq_harvest()/gsim_vq_cancel_all()).
 *
 * An interrupt thread (struct gsim_vq_irq) plays the guest's interrupt
 * handler for a whole device: it sleeps on the call eventfds of its queues
 * and harvests the queue that was signalled.  A done() callback may add
 * buffers again, but from that thread gsim_vq_add() never sleeps for room
 * (the sleeper would be the only thread that can make room): it fails with
 * -EAGAIN instead.
 */
#ifndef GSIM_VIRTQUEUE_H
#define GSIM_VIRTQUEUE_H

#include <stdint.h>

struct gsim_ram;
struct gsim_vq;
struct gsim_vq_irq;

#define GSIM_VQ_MAX_SIZE 32768 /* the split ring's limit */

/* One segment of a buffer chain, in guest-physical addresses. */
struct gsim_vq_seg {
	uint64_t gpa;
	uint32_t len;
};

/*
 * Called once per buffer: err 0 and len = bytes the device wrote (at most
 * the writable bytes of the chain), or err < 0 and len 0 when the buffer
 * came back without the device completing it (-ECANCELED: the queue was
 * torn down; -EIO: the device broke the protocol or went away).
 */
typedef void (*gsim_vq_done_fn)(void *arg, uint32_t len, int err);

/* Where the ring lives, for SET_VRING_ADDR, and its eventfds. */
struct gsim_vq_layout {
	uint16_t index; /* queue index in the device */
	uint16_t num;	/* ring size, a power of two */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	uint64_t size; /* bytes from desc_gpa to the end */
	int kick_fd;   /* eventfd the device waits on */
	int call_fd;   /* eventfd the driver waits on */
};

struct gsim_vq_stats {
	uint64_t added;		   /* buffers published */
	uint64_t completed;	   /* buffers the device returned */
	uint64_t kicks;		   /* eventfd writes to the device */
	uint64_t kicks_suppressed; /* publishes the device asked not to hear */
	uint64_t bad_ids;	   /* used entries ignored: id not in flight */
	uint64_t bad_lens;	   /* used lengths clamped */
	uint64_t waits;		   /* adds that slept for free descriptors */
};

/*
 * Allocate a ring of num (power of two, 1..GSIM_VQ_MAX_SIZE) entries in
 * guest RAM.  Return 0 or -errno.
 */
int gsim_vq_create(struct gsim_ram *ram, uint16_t index, uint32_t num,
		   struct gsim_vq **out);
/*
 * Free the ring.  The device must have stopped using it (GET_VRING_BASE
 * answered, or it never started) and no interrupt thread may watch it;
 * buffers still in flight are completed with -ECANCELED first.
 */
void gsim_vq_destroy(struct gsim_vq *vq);

/* VIRTIO_RING_F_EVENT_IDX was negotiated; set before the first add. */
void gsim_vq_set_event_idx(struct gsim_vq *vq, int on);
void gsim_vq_layout(const struct gsim_vq *vq, struct gsim_vq_layout *out);
/* The avail index published so far (what GET_VRING_BASE should return). */
uint16_t gsim_vq_avail_idx(struct gsim_vq *vq);

/*
 * Publish a chain of nr_out readable then nr_in writable segments and kick
 * the device unless it suppressed kicks.  Sleeps while the ring has too few
 * free descriptors.  Return 0 (done() will be called exactly once), or
 * -EINVAL (empty chain, a zero-length segment, more segments than the ring),
 * -EAGAIN (ring full and called from the interrupt thread), -EIO (queue
 * broken or stopped); on error done() is never called.
 */
int gsim_vq_add(struct gsim_vq *vq, const struct gsim_vq_seg *segs,
		unsigned int nr_out, unsigned int nr_in, gsim_vq_done_fn done,
		void *arg);

/* Harvest the used ring now and run the callbacks; return how many. */
int gsim_vq_harvest(struct gsim_vq *vq);

/*
 * Stop the queue: later adds fail with -EIO and sleepers wake.  Then
 * complete every buffer still in flight with err (the caller guarantees the
 * device no longer uses them).  Return how many were cancelled.
 */
int gsim_vq_cancel_all(struct gsim_vq *vq, int err);

void gsim_vq_stats(struct gsim_vq *vq, struct gsim_vq_stats *out);

/*
 * Start the interrupt thread of one device over its queues (which must
 * outlive it).  If hup_fd >= 0 (the vhost-user socket), the thread also
 * watches it: when the backend hangs up, every queue is stopped and its
 * buffers completed with -EIO, so no caller waits for a dead device.
 * Return 0 or -errno.
 */
int gsim_vq_irq_start(struct gsim_vq *const *vqs, unsigned int nr, int hup_fd,
		      struct gsim_vq_irq **out);
/* Stop and join the thread; returns after the last callback it ran. */
void gsim_vq_irq_stop(struct gsim_vq_irq *irq);

#endif /* GSIM_VIRTQUEUE_H */
