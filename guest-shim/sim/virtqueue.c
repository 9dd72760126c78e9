// SPDX-License-Identifier: MIT
/*
 * virtqueue.c - driver side of a split virtqueue in simulated guest RAM.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Ring layout and ownership
 *
 * One contiguous run of guest page frames holds the ring, laid out as a
 * legacy virtio ring with 4 KiB alignment (which satisfies the virtio 1.x
 * alignment rules too)::
 *
 *   ring_gpa  +----------------------+  desc[num], 16 bytes each
 *             | descriptor table     |  written by the driver only
 *             +----------------------+
 *             | avail: flags idx     |  driver writes, device reads
 *             |   ring[num]          |
 *             |   used_event         |  (EVENT_IDX: "call me after this")
 *             +----------------------+  page aligned
 *             | used: flags idx      |  device writes, driver reads
 *             |   ring[num] {id,len} |
 *             |   avail_event        |  (EVENT_IDX: "kick me after this")
 *             +----------------------+
 *
 * The free descriptors form a list threaded through next[], a private
 * shadow of desc[].next: the driver never trusts what the device might have
 * written into the descriptor table.  chains[head] remembers each chain in
 * flight (callback, length of its writable part, last descriptor), so a
 * used entry is checked against it before anything is freed.
 *
 * DOC: Memory ordering
 *
 * The device is another process mapping the same memfd, so ordering is
 * expressed with C11 atomics on the shared ring fields:
 *
 *  - avail->idx is stored with release semantics after the descriptors and
 *    the avail ring entry; pairs with the device's acquire load of
 *    avail->idx before it reads the entry.
 *  - used->idx is loaded with acquire semantics before the used entries;
 *    pairs with the device's release (write barrier) before it bumps it.
 *  - Between publishing avail->idx and reading the device's kick
 *    suppression (avail_event or VRING_USED_F_NO_NOTIFY) sits a full
 *    fence; it pairs with the device's full barrier between writing
 *    avail_event and re-reading avail->idx, so one side always sees the
 *    other and no kick is lost.
 *  - Likewise between storing used_event and re-reading used->idx before
 *    sleeping; pairs with the device's barrier between bumping used->idx
 *    and reading used_event.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "guest_ram.h"
#include "virtqueue.h"
#include "vsvmg_os.h"

/* Callbacks are run in batches of this many, outside the queue lock. */
#define VQ_BATCH     32
/* Log this many device errors per queue, then only count them. */
#define VQ_LOG_LIMIT 8
/* Queues one interrupt thread may watch. */
#define VQ_IRQ_MAX   8

enum vq_state {
	VQ_RUNNING,
	VQ_STOPPED, /* torn down, or the device broke it: terminal */
};

struct vq_chain {
	gsim_vq_done_fn done;
	void *arg;
	uint64_t in_bytes; /* device-writable bytes of the chain */
	uint16_t ndesc;
	uint16_t last; /* last descriptor, to splice the free list */
	uint8_t in_flight;
};

struct vq_completion {
	gsim_vq_done_fn done;
	void *arg;
	uint32_t len;
};

struct gsim_vq {
	struct gsim_ram *ram;
	uint16_t index;
	uint16_t num;
	uint64_t ring_gpa;
	uint32_t ring_pages;
	uint64_t avail_off;
	uint64_t used_off;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	__virtio16 *used_event;	 /* avail->ring[num] */
	__virtio16 *avail_event; /* after used->ring[num] */
	int kick_fd;
	int call_fd;
	int event_idx;

	/*
	 * lock guards everything below.  room is signalled whenever
	 * descriptors are freed, the turn passes, or the state changes.
	 */
	pthread_mutex_t lock;
	pthread_cond_t room;
	enum vq_state state;
	uint16_t *next; /* shadow of desc[].next */
	uint16_t free_head;
	uint32_t nr_free;
	struct vq_chain *chains; /* indexed by head descriptor */
	uint32_t nr_in_flight;
	uint16_t avail_idx;   /* next avail index to publish */
	uint16_t last_used;   /* next used index to harvest */
	uint64_t next_ticket; /* FIFO order of adders */
	uint64_t serving;
	int irq_active; /* an interrupt thread harvests us */
	pthread_t irq_tid;
	struct gsim_vq_stats stats;
};

struct gsim_vq_irq {
	pthread_t tid;
	int stop_fd;
	int hup_fd;
	unsigned int nr;
	struct gsim_vq *vqs[VQ_IRQ_MAX];
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int gsim_vq_create(struct gsim_ram *ram, uint16_t index, uint32_t num,
		   struct gsim_vq **out)
{
	struct gsim_vq *vq;
	uint64_t size;
	uint8_t *base;
	uint32_t i;
	int err = -ENOMEM;

	if (num == 0 || num > GSIM_VQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	vq->ram = ram;
	vq->index = index;
	vq->num = (uint16_t)num;
	vq->avail_off = 16ull * num;
	vq->used_off = align_up(vq->avail_off + 6 + 2ull * num, GSIM_PAGE_SIZE);
	size = vq->used_off + 6 + 8ull * num;
	vq->ring_pages =
		(uint32_t)(align_up(size, GSIM_PAGE_SIZE) / GSIM_PAGE_SIZE);

	vq->next = calloc(num, sizeof(*vq->next));
	vq->chains = calloc(num, sizeof(*vq->chains));
	if (!vq->next || !vq->chains)
		goto err_free;
	vq->ring_gpa = gsim_ram_alloc_contig(ram, vq->ring_pages);
	if (!vq->ring_gpa)
		goto err_free;
	base = gsim_ram_ptr(ram, vq->ring_gpa,
			    (uint64_t)vq->ring_pages * GSIM_PAGE_SIZE);
	if (!base) {
		err = -EFAULT;
		goto err_free_ring;
	}
	vq->desc = (struct vring_desc *)base;
	vq->avail = (struct vring_avail *)(base + vq->avail_off);
	vq->used = (struct vring_used *)(base + vq->used_off);
	vq->used_event = &vq->avail->ring[num];
	vq->avail_event = (__virtio16 *)&vq->used->ring[num];

	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0) {
		err = -errno;
		goto err_free_ring;
	}
	vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->call_fd < 0) {
		err = -errno;
		goto err_close_kick;
	}

	for (i = 0; i < num; i++)
		vq->next[i] = (uint16_t)((i + 1) % num);
	vq->free_head = 0;
	vq->nr_free = num;
	vq->state = VQ_RUNNING;
	pthread_mutex_init(&vq->lock, NULL);
	pthread_cond_init(&vq->room, NULL);
	*out = vq;
	return 0;

err_close_kick:
	close(vq->kick_fd);
err_free_ring:
	gsim_ram_free_contig(ram, vq->ring_gpa, vq->ring_pages);
err_free:
	free(vq->chains);
	free(vq->next);
	free(vq);
	return err;
}

void gsim_vq_destroy(struct gsim_vq *vq)
{
	if (!vq)
		return;
	gsim_vq_cancel_all(vq, -ECANCELED);
	pthread_cond_destroy(&vq->room);
	pthread_mutex_destroy(&vq->lock);
	close(vq->call_fd);
	close(vq->kick_fd);
	gsim_ram_free_contig(vq->ram, vq->ring_gpa, vq->ring_pages);
	free(vq->chains);
	free(vq->next);
	free(vq);
}

void gsim_vq_set_event_idx(struct gsim_vq *vq, int on)
{
	pthread_mutex_lock(&vq->lock);
	vq->event_idx = !!on;
	pthread_mutex_unlock(&vq->lock);
}

void gsim_vq_layout(const struct gsim_vq *vq, struct gsim_vq_layout *out)
{
	out->index = vq->index;
	out->num = vq->num;
	out->desc_gpa = vq->ring_gpa;
	out->avail_gpa = vq->ring_gpa + vq->avail_off;
	out->used_gpa = vq->ring_gpa + vq->used_off;
	out->size = (uint64_t)vq->ring_pages * GSIM_PAGE_SIZE;
	out->kick_fd = vq->kick_fd;
	out->call_fd = vq->call_fd;
}

uint16_t gsim_vq_avail_idx(struct gsim_vq *vq)
{
	uint16_t idx;

	pthread_mutex_lock(&vq->lock);
	idx = vq->avail_idx;
	pthread_mutex_unlock(&vq->lock);
	return idx;
}

void gsim_vq_stats(struct gsim_vq *vq, struct gsim_vq_stats *out)
{
	pthread_mutex_lock(&vq->lock);
	*out = vq->stats;
	pthread_mutex_unlock(&vq->lock);
}

static int in_irq_thread(const struct gsim_vq *vq)
{
	return vq->irq_active && pthread_equal(vq->irq_tid, pthread_self());
}

/* Does the device want to hear about avail entries [old, new)? */
static int need_kick(struct gsim_vq *vq, uint16_t old, uint16_t new)
{
	uint16_t event;

	if (vq->event_idx) {
		event = le16toh(
			__atomic_load_n(vq->avail_event, __ATOMIC_RELAXED));
		/* The device asked for a kick once avail->idx passes event. */
		return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
	}
	return !(le16toh(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED)) &
		 VRING_USED_F_NO_NOTIFY);
}

/* Write the chain into the descriptor table; caller holds the lock. */
static uint16_t fill_chain(struct gsim_vq *vq, const struct gsim_vq_seg *segs,
			   unsigned int nr_out, unsigned int n)
{
	uint16_t head = vq->free_head, d = head, last = head;
	uint64_t in_bytes = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t flags = 0;

		if (i >= nr_out) {
			flags |= VRING_DESC_F_WRITE;
			in_bytes += segs[i].len;
		}
		if (i + 1 < n)
			flags |= VRING_DESC_F_NEXT;
		vq->desc[d].addr = htole64(segs[i].gpa);
		vq->desc[d].len = htole32(segs[i].len);
		vq->desc[d].flags = htole16(flags);
		vq->desc[d].next = htole16(vq->next[d]);
		last = d;
		d = vq->next[d];
	}
	vq->free_head = d;
	vq->nr_free -= n;
	vq->chains[head].in_bytes = in_bytes;
	vq->chains[head].ndesc = (uint16_t)n;
	vq->chains[head].last = last;
	return head;
}

int gsim_vq_add(struct gsim_vq *vq, const struct gsim_vq_seg *segs,
		unsigned int nr_out, unsigned int nr_in, gsim_vq_done_fn done,
		void *arg)
{
	unsigned int i, n = nr_out + nr_in;
	uint16_t head, old;
	uint64_t ticket;
	int kick, waited = 0;

	if (n == 0 || n > vq->num || n < nr_out || !done)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!segs[i].len)
			return -EINVAL;

	pthread_mutex_lock(&vq->lock);
	if (in_irq_thread(vq) &&
	    (vq->serving != vq->next_ticket || vq->nr_free < n)) {
		/* Sleeping here would wait for ourselves to harvest. */
		pthread_mutex_unlock(&vq->lock);
		return -EAGAIN;
	}
	ticket = vq->next_ticket++;
	while (vq->state == VQ_RUNNING &&
	       (ticket != vq->serving || vq->nr_free < n)) {
		if (!waited++)
			vq->stats.waits++;
		pthread_cond_wait(&vq->room, &vq->lock);
	}
	if (vq->state != VQ_RUNNING) {
		/* Terminal: the turn order no longer matters. */
		pthread_mutex_unlock(&vq->lock);
		return -EIO;
	}

	head = fill_chain(vq, segs, nr_out, n);
	vq->chains[head].done = done;
	vq->chains[head].arg = arg;
	vq->chains[head].in_flight = 1;
	vq->nr_in_flight++;

	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = htole16(head);
	old = vq->avail_idx++;
	/* Descriptors and entry before the index; pairs with device acquire. */
	__atomic_store_n(&vq->avail->idx, htole16(vq->avail_idx),
			 __ATOMIC_RELEASE);
	/*
	 * Index before reading the device's suppression state; pairs with
	 * the device's barrier between writing it and re-reading avail->idx.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick = need_kick(vq, old, vq->avail_idx);
	vq->stats.added++;
	if (kick)
		vq->stats.kicks++;
	else
		vq->stats.kicks_suppressed++;

	vq->serving++;
	if (waited || vq->serving != vq->next_ticket)
		pthread_cond_broadcast(&vq->room);
	pthread_mutex_unlock(&vq->lock);

	/* An eventfd counter only grows, so a failed write is impossible. */
	if (kick && eventfd_write(vq->kick_fd, 1))
		vsvmg_log("vq%u: kick failed: %s", vq->index, strerror(errno));
	return 0;
}

/* Return chain head to the free list; caller holds the lock. */
static void free_chain(struct gsim_vq *vq, uint16_t head)
{
	struct vq_chain *c = &vq->chains[head];

	vq->next[c->last] = vq->free_head;
	vq->free_head = head;
	vq->nr_free += c->ndesc;
	vq->nr_in_flight--;
	c->in_flight = 0;
	c->done = NULL;
	c->arg = NULL;
}

static void run_batch(const struct vq_completion *batch, unsigned int n,
		      int err)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		batch[i].done(batch[i].arg, err ? 0 : batch[i].len, err);
}

/* Check and take one used entry; caller holds the lock. */
static int take_used(struct gsim_vq *vq, struct vq_completion *c)
{
	struct vring_used_elem *e =
		&vq->used->ring[vq->last_used & (vq->num - 1)];
	/* Read once: the device may rewrite the entry while we look. */
	uint32_t id = le32toh(__atomic_load_n(&e->id, __ATOMIC_RELAXED));
	uint32_t len = le32toh(__atomic_load_n(&e->len, __ATOMIC_RELAXED));
	struct vq_chain *chain;

	vq->last_used++;
	if (id >= vq->num || !vq->chains[id].in_flight) {
		if (vq->stats.bad_ids++ < VQ_LOG_LIMIT)
			vsvmg_log(
				"vq%u: device returned id %u, not in flight; ignored",
				vq->index, id);
		return 0;
	}
	chain = &vq->chains[id];
	if (len > chain->in_bytes) {
		if (vq->stats.bad_lens++ < VQ_LOG_LIMIT)
			vsvmg_log(
				"vq%u: device wrote %u bytes into a %llu-byte buffer; clamped",
				vq->index, len,
				(unsigned long long)chain->in_bytes);
		len = (uint32_t)chain->in_bytes;
	}
	c->done = chain->done;
	c->arg = chain->arg;
	c->len = len;
	free_chain(vq, (uint16_t)id);
	vq->stats.completed++;
	return 1;
}

/*
 * Collect up to VQ_BATCH completions; caller holds the lock.  Sets *broken
 * if the device moved used->idx further than the ring can hold.
 */
static unsigned int collect_used(struct gsim_vq *vq,
				 struct vq_completion *batch, int *broken)
{
	unsigned int n = 0;
	uint16_t used_idx;

	while (n < VQ_BATCH) {
		/* Pairs with the device's release before bumping used->idx. */
		used_idx = le16toh(
			__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
		if (used_idx == vq->last_used) {
			if (!vq->event_idx)
				break;
			/* Ask for a call at the very next used entry. */
			__atomic_store_n(vq->used_event, htole16(vq->last_used),
					 __ATOMIC_RELAXED);
			/*
			 * used_event before re-reading used->idx; pairs with
			 * the device's barrier between bumping used->idx and
			 * reading used_event.
			 */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (le16toh(__atomic_load_n(&vq->used->idx,
						    __ATOMIC_ACQUIRE)) ==
			    vq->last_used)
				break;
			continue;
		}
		if ((uint16_t)(used_idx - vq->last_used) > vq->num) {
			vsvmg_log(
				"vq%u: device moved used idx from %u to %u, beyond the ring of %u; queue broken",
				vq->index, vq->last_used, used_idx, vq->num);
			*broken = 1;
			break;
		}
		while (n < VQ_BATCH && vq->last_used != used_idx)
			n += (unsigned int)take_used(vq, &batch[n]);
	}
	return n;
}

int gsim_vq_harvest(struct gsim_vq *vq)
{
	struct vq_completion batch[VQ_BATCH];
	unsigned int n;
	int total = 0, broken = 0;

	for (;;) {
		pthread_mutex_lock(&vq->lock);
		if (vq->state != VQ_RUNNING) {
			pthread_mutex_unlock(&vq->lock);
			break;
		}
		n = collect_used(vq, batch, &broken);
		if (n)
			pthread_cond_broadcast(&vq->room);
		pthread_mutex_unlock(&vq->lock);
		run_batch(batch, n, 0);
		total += (int)n;
		if (broken || n < VQ_BATCH)
			break;
	}
	if (broken)
		gsim_vq_cancel_all(vq, -EIO);
	return total;
}

int gsim_vq_cancel_all(struct gsim_vq *vq, int err)
{
	struct vq_completion batch[VQ_BATCH];
	unsigned int n;
	uint32_t head;
	int total = 0;

	do {
		n = 0;
		pthread_mutex_lock(&vq->lock);
		vq->state = VQ_STOPPED;
		pthread_cond_broadcast(&vq->room);
		for (head = 0; head < vq->num && n < VQ_BATCH; head++) {
			struct vq_chain *c = &vq->chains[head];

			if (!c->in_flight)
				continue;
			batch[n].done = c->done;
			batch[n].arg = c->arg;
			batch[n].len = 0;
			n++;
			free_chain(vq, (uint16_t)head);
		}
		pthread_mutex_unlock(&vq->lock);
		run_batch(batch, n, err);
		total += (int)n;
	} while (n == VQ_BATCH);
	return total;
}

static void irq_register(struct gsim_vq_irq *irq, int on)
{
	unsigned int i;

	for (i = 0; i < irq->nr; i++) {
		struct gsim_vq *vq = irq->vqs[i];

		pthread_mutex_lock(&vq->lock);
		vq->irq_active = on;
		vq->irq_tid = pthread_self();
		pthread_mutex_unlock(&vq->lock);
	}
}

/* The backend hung up: take what it finished, fail the rest. */
static void irq_device_lost(struct gsim_vq_irq *irq)
{
	unsigned int i;
	int n = 0;

	for (i = 0; i < irq->nr; i++) {
		gsim_vq_harvest(irq->vqs[i]);
		n += gsim_vq_cancel_all(irq->vqs[i], -EIO);
	}
	vsvmg_log("vhost-user backend hung up; %d buffers in flight failed", n);
}

static void *irq_thread(void *p)
{
	struct gsim_vq_irq *irq = p;
	struct pollfd pfd[VQ_IRQ_MAX + 2];
	unsigned int i, nfds;
	int hup_fd = irq->hup_fd;
	eventfd_t cnt;

	irq_register(irq, 1);
	for (;;) {
		pfd[0].fd = irq->stop_fd;
		pfd[0].events = POLLIN;
		for (i = 0; i < irq->nr; i++) {
			pfd[1 + i].fd = irq->vqs[i]->call_fd;
			pfd[1 + i].events = POLLIN;
		}
		nfds = 1 + irq->nr;
		if (hup_fd >= 0) {
			pfd[nfds].fd = hup_fd;
			pfd[nfds].events = POLLRDHUP;
			nfds++;
		}
		if (poll(pfd, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			vsvmg_log("interrupt thread: poll: %s",
				  strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		for (i = 0; i < irq->nr; i++) {
			if (!pfd[1 + i].revents)
				continue;
			/* Clear before harvesting, so no call is lost. */
			eventfd_read(pfd[1 + i].fd, &cnt);
			gsim_vq_harvest(irq->vqs[i]);
		}
		if (hup_fd >= 0 && pfd[1 + irq->nr].revents) {
			irq_device_lost(irq);
			hup_fd = -1; /* once; it stays readable */
		}
	}
	irq_register(irq, 0);
	return NULL;
}

int gsim_vq_irq_start(struct gsim_vq *const *vqs, unsigned int nr, int hup_fd,
		      struct gsim_vq_irq **out)
{
	struct gsim_vq_irq *irq;
	int err;

	if (nr == 0 || nr > VQ_IRQ_MAX)
		return -EINVAL;
	irq = calloc(1, sizeof(*irq));
	if (!irq)
		return -ENOMEM;
	memcpy(irq->vqs, vqs, nr * sizeof(*vqs));
	irq->nr = nr;
	irq->hup_fd = hup_fd;
	irq->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq->stop_fd < 0) {
		err = -errno;
		goto err_free;
	}
	err = -pthread_create(&irq->tid, NULL, irq_thread, irq);
	if (err)
		goto err_close;
	pthread_setname_np(irq->tid, "vsvm-vq-irq");
	*out = irq;
	return 0;

err_close:
	close(irq->stop_fd);
err_free:
	free(irq);
	return err;
}

void gsim_vq_irq_stop(struct gsim_vq_irq *irq)
{
	if (!irq)
		return;
	eventfd_write(irq->stop_fd, 1);
	pthread_join(irq->tid, NULL);
	close(irq->stop_fd);
	free(irq);
}
