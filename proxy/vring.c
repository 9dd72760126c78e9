// SPDX-License-Identifier: MIT
/*
 * vring.c - the device side of one split virtqueue.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The three parts of a split ring live in guest RAM, shared with a guest
 * that may be hostile or simply racing us:
 *
 *   desc[num]            16 bytes each; the guest owns them until popped
 *   avail {flags, idx, ring[num], used_event}      written by the guest
 *   used  {flags, idx, ring[num] {id, len}, avail_event}  written by us
 *
 * Popping a chain copies every descriptor once and validates the copy:
 * head and next indices below the table size, at most as many links as
 * the table has entries (a loop ends there), indirect tables well formed
 * and not nested, readable buffers before writable ones, every buffer
 * inside the memory table, and byte totals that fit 32 bits.  Nothing is
 * read or written outside the memory table, whatever the guest wrote.
 *
 * Malformed chains: when the head index itself is valid the chain is
 * handed back as -EBADMSG and the caller completes it with used len 0, so
 * the guest gets its descriptors back and is not stuck.  When the avail
 * ring is corrupt (idx jumping by more than num, a head out of range) no
 * chain can be named to complete, so the ring is marked broken (sticky
 * until the frontend lays it out again) and the error eventfd signalled.
 *
 * Notification suppression (VIRTIO_RING_F_EVENT_IDX): avail_event is
 * updated only when the ring is found empty, which lets the guest skip
 * kicks while we are still draining; used_event decides calls.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vring.h"

/* Required alignments of the ring parts (virtio 1.x, split ring). */
#define DESC_ALIGN  16
#define AVAIL_ALIGN 2
#define USED_ALIGN  4

void vp_vring_init(struct vp_vring *vr, const struct vp_memtable *mt,
		   uint32_t index)
{
	memset(vr, 0, sizeof(*vr));
	vr->mt = mt;
	vr->index = index;
	vr->kick_fd = -1;
	vr->call_fd = -1;
	vr->err_fd = -1;
}

void vp_vring_release(struct vp_vring *vr)
{
	const struct vp_memtable *mt = vr->mt;
	uint32_t index = vr->index;
	uint32_t epoch = vr->epoch;

	vp_vring_set_kick(vr, -1);
	vp_vring_set_call(vr, -1);
	vp_vring_set_err(vr, -1);
	vp_vring_init(vr, mt, index);
	/* Elements popped from the old ring must still see it as gone. */
	vr->epoch = epoch + 1;
}

static void replace_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

void vp_vring_set_kick(struct vp_vring *vr, int fd)
{
	replace_fd(&vr->kick_fd, fd);
}

void vp_vring_set_call(struct vp_vring *vr, int fd)
{
	replace_fd(&vr->call_fd, fd);
}

void vp_vring_set_err(struct vp_vring *vr, int fd)
{
	replace_fd(&vr->err_fd, fd);
}

static void write_eventfd(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN means the counter is already non-zero: the peer will wake. */
	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

static void mark_broken(struct vp_vring *vr)
{
	vr->broken = true;
	if (vr->err_fd >= 0)
		write_eventfd(vr->err_fd);
}

static uint64_t avail_size(const struct vp_vring *vr)
{
	return 4 + 2ull * vr->num + (vr->event_idx ? 2 : 0);
}

static uint64_t used_size(const struct vp_vring *vr)
{
	return 4 + 8ull * vr->num + (vr->event_idx ? 2 : 0);
}

static void unmap(struct vp_vring *vr)
{
	vr->desc = NULL;
	vr->avail = NULL;
	vr->used = NULL;
}

static int aligned(const void *p, uintptr_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

int vp_vring_map(struct vp_vring *vr)
{
	void *desc, *avail, *used;

	unmap(vr);
	if (!vr->addr_set || vr->num == 0)
		return -EFAULT;
	desc = vp_memtable_uva(vr->mt, vr->desc_uva, 16ull * vr->num);
	avail = vp_memtable_uva(vr->mt, vr->avail_uva, avail_size(vr));
	used = vp_memtable_uva(vr->mt, vr->used_uva, used_size(vr));
	if (!desc || !avail || !used)
		return -EFAULT;
	/* The atomic index accesses below need natural alignment. */
	if (!aligned(desc, DESC_ALIGN) || !aligned(avail, AVAIL_ALIGN) ||
	    !aligned(used, USED_ALIGN))
		return -EFAULT;
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	/*
	 * Until the ring starts, the ring in guest memory is the authority on
	 * where used stands (a resumed ring keeps its index); once started we
	 * are, as its only writer.
	 */
	if (!vr->started)
		vr->used_idx = le16toh(
			__atomic_load_n(&vr->used->idx, __ATOMIC_RELAXED));
	return 0;
}

void vp_vring_set_event_idx(struct vp_vring *vr, bool on)
{
	if (vr->event_idx == on)
		return;
	vr->event_idx = on;
	if (vr->addr_set)
		vp_vring_map(vr);
}

int vp_vring_set_num(struct vp_vring *vr, uint32_t num)
{
	if (vr->started)
		return -EBUSY;
	if (num == 0 || num > VP_VRING_MAX_NUM || (num & (num - 1)))
		return -EINVAL;
	if (num != vr->num)
		vr->epoch++;
	vr->num = num;
	if (vr->addr_set)
		vp_vring_map(vr);
	return 0;
}

int vp_vring_set_base(struct vp_vring *vr, uint32_t base)
{
	if (vr->started)
		return -EBUSY;
	/* Split rings only: the base is a 16-bit free-running index. */
	if (base > UINT16_MAX)
		return -EINVAL;
	if (base != vr->last_avail_idx)
		vr->epoch++;
	vr->last_avail_idx = (uint16_t)base;
	vr->signalled_used_valid = false;
	return 0;
}

int vp_vring_set_addr(struct vp_vring *vr, uint64_t desc, uint64_t avail,
		      uint64_t used)
{
	if (vr->num == 0)
		return -EINVAL;
	if (!vr->addr_set || desc != vr->desc_uva || avail != vr->avail_uva ||
	    used != vr->used_uva)
		vr->epoch++;
	vr->addr_set = true;
	vr->desc_uva = desc;
	vr->avail_uva = avail;
	vr->used_uva = used;
	/* No table yet: SET_MEM_TABLE maps the ring when it comes. */
	if (vr->mt->nr == 0) {
		unmap(vr);
		return 0;
	}
	return vp_vring_map(vr);
}

uint16_t vp_vring_stop(struct vp_vring *vr)
{
	vr->started = false;
	vr->signalled_used_valid = false;
	return vr->last_avail_idx;
}

bool vp_vring_ready(const struct vp_vring *vr)
{
	return vr->started && vr->enabled && !vr->broken && vr->desc && vr->num;
}

/* --- popping ----------------------------------------------------------- */

/* A chain being collected; readable segments come first by construction. */
struct chain_walk {
	const struct vp_memtable *mt;
	uint32_t nr;
	uint32_t nr_out;
	uint64_t out_len;
	uint64_t in_len;
	bool seen_writable;
	struct vp_vring_seg segs[VP_VRING_MAX_SEGS];
};

static uint16_t read_avail_idx(const struct vp_vring *vr)
{
	/*
	 * Acquire: ring entries and descriptors are read after the index;
	 * pairs with the driver's write barrier (virtio_wmb) between filling
	 * them and publishing avail->idx.
	 */
	return le16toh(__atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE));
}

static void set_avail_event(struct vp_vring *vr)
{
	uint16_t *avail_event = (uint16_t *)&vr->used->ring[vr->num];

	__atomic_store_n(avail_event, htole16(vr->last_avail_idx),
			 __ATOMIC_RELAXED);
	/*
	 * Full barrier between publishing avail_event and re-reading
	 * avail->idx; pairs with the driver's virtio_mb() between publishing
	 * avail->idx and reading avail_event (virtqueue_kick_prepare).  Either
	 * we see its new entries or it sees our event index and kicks.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void read_desc(const struct vring_desc *table, uint32_t i,
		      struct vring_desc *out)
{
	/* One copy, then only the copy is looked at (no TOCTOU). */
	memcpy(out, &table[i], sizeof(*out));
	out->addr = le64toh(out->addr);
	out->len = le32toh(out->len);
	out->flags = le16toh(out->flags);
	out->next = le16toh(out->next);
}

static int add_seg(struct chain_walk *w, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (!writable && w->seen_writable)
		return -EBADMSG; /* readable after writable */
	w->seen_writable |= writable;
	if (d->len == 0)
		return 0; /* names no memory */
	if (w->nr >= VP_VRING_MAX_SEGS)
		return -EBADMSG;
	if (!vp_memtable_gpa(w->mt, d->addr, d->len))
		return -EBADMSG;
	if (writable)
		w->in_len += d->len;
	else
		w->out_len += d->len;
	if (w->out_len > UINT32_MAX || w->in_len > UINT32_MAX)
		return -EBADMSG;
	w->segs[w->nr].gpa = d->addr;
	w->segs[w->nr].len = d->len;
	w->segs[w->nr].pad = 0;
	w->nr++;
	if (!writable)
		w->nr_out++;
	return 0;
}

/* Switch the walk to the indirect table d names; *max is its length. */
static int enter_indirect(const struct chain_walk *w,
			  const struct vring_desc *d, bool nested,
			  const struct vring_desc **table, uint32_t *max)
{
	const struct vring_desc *t;

	if (nested || (d->flags & VRING_DESC_F_NEXT))
		return -EBADMSG;
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > VP_VRING_MAX_SEGS)
		return -EBADMSG;
	t = vp_memtable_gpa(w->mt, d->addr, d->len);
	if (!t)
		return -EBADMSG;
	*table = t;
	*max = d->len / sizeof(struct vring_desc);
	return 0;
}

static int walk_chain(const struct vp_vring *vr, uint16_t head,
		      struct chain_walk *w)
{
	const struct vring_desc *table = vr->desc;
	uint32_t max = vr->num, i = head, count = 0;
	bool indirect = false;
	struct vring_desc d;
	int ret;

	for (;;) {
		read_desc(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			ret = enter_indirect(w, &d, indirect, &table, &max);
			if (ret)
				return ret;
			indirect = true;
			i = 0;
			count = 0;
			continue;
		}
		ret = add_seg(w, &d);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		/* More links than entries: a loop, or a chain too long. */
		if (++count >= max)
			return -EBADMSG;
		i = d.next;
		if (i >= max)
			return -EBADMSG;
	}
}

static int fill_elem(const struct chain_walk *w, struct vp_vring_elem *elem)
{
	if (w->nr) {
		elem->segs = malloc(w->nr * sizeof(*elem->segs));
		if (!elem->segs)
			return -ENOMEM;
		memcpy(elem->segs, w->segs, w->nr * sizeof(*elem->segs));
	}
	elem->nr_out = w->nr_out;
	elem->nr_in = w->nr - w->nr_out;
	elem->out_len = (uint32_t)w->out_len;
	elem->in_len = (uint32_t)w->in_len;
	return 0;
}

/* Next head, or 0 / -EIO as vp_vring_pop() returns them. */
static int next_head(struct vp_vring *vr, uint16_t *head)
{
	uint16_t avail_idx = read_avail_idx(vr);

	if (avail_idx == vr->last_avail_idx) {
		if (!vr->event_idx)
			return 0;
		set_avail_event(vr);
		avail_idx = read_avail_idx(vr);
		if (avail_idx == vr->last_avail_idx)
			return 0;
	}
	if ((uint16_t)(avail_idx - vr->last_avail_idx) > vr->num) {
		mark_broken(vr);
		return -EIO;
	}
	*head = le16toh(__atomic_load_n(
		&vr->avail->ring[vr->last_avail_idx & (vr->num - 1)],
		__ATOMIC_RELAXED));
	vr->last_avail_idx++;
	if (*head >= vr->num) {
		mark_broken(vr);
		return -EIO;
	}
	return 1;
}

int vp_vring_pop(struct vp_vring *vr, struct vp_vring_elem *elem)
{
	struct chain_walk *w;
	uint16_t head;
	int ret;

	memset(elem, 0, sizeof(*elem));
	if (!vp_vring_ready(vr))
		return 0;
	ret = next_head(vr, &head);
	if (ret <= 0)
		return ret;
	elem->head = head;
	/* 16 KiB of segments: on the heap, thread stacks may be small. */
	w = malloc(sizeof(*w));
	ret = -ENOMEM;
	if (w) {
		w->mt = vr->mt;
		w->nr = 0;
		w->nr_out = 0;
		w->out_len = 0;
		w->in_len = 0;
		w->seen_writable = false;
		ret = walk_chain(vr, head, w);
		if (!ret)
			ret = fill_elem(w, elem);
		free(w);
	}
	if (ret) {
		vr->stats.bad_chains++;
		return -EBADMSG;
	}
	vr->stats.popped++;
	return 1;
}

void vp_vring_elem_free(struct vp_vring_elem *elem)
{
	free(elem->segs);
	elem->segs = NULL;
	elem->nr_out = 0;
	elem->nr_in = 0;
}

/* --- copying ----------------------------------------------------------- */

static int copy_part(const struct vp_vring *vr, const struct vp_vring_elem *e,
		     bool writable, uint32_t off, uint8_t *buf, uint32_t len)
{
	uint32_t first = writable ? e->nr_out : 0;
	uint32_t end = first + (writable ? e->nr_in : e->nr_out);
	uint32_t total = writable ? e->in_len : e->out_len;
	uint32_t i, chunk;
	void *p;

	if (off > total || len > total - off)
		return -EINVAL;
	for (i = first; i < end && len; i++) {
		const struct vp_vring_seg *s = &e->segs[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		chunk = s->len - off < len ? s->len - off : len;
		/* Translated again: the table may have changed since pop. */
		p = vp_memtable_gpa(vr->mt, s->gpa + off, chunk);
		if (!p)
			return -EFAULT;
		if (writable)
			memcpy(p, buf, chunk);
		else
			memcpy(buf, p, chunk);
		buf += chunk;
		len -= chunk;
		off = 0;
	}
	return 0;
}

int vp_vring_gather(const struct vp_vring *vr, const struct vp_vring_elem *e,
		    uint32_t off, void *buf, uint32_t len)
{
	return copy_part(vr, e, false, off, buf, len);
}

int vp_vring_scatter(const struct vp_vring *vr, const struct vp_vring_elem *e,
		     uint32_t off, const void *buf, uint32_t len)
{
	return copy_part(vr, e, true, off, (uint8_t *)buf, len);
}

/* --- completing -------------------------------------------------------- */

int vp_vring_push(struct vp_vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *slot;

	if (!vp_vring_ready(vr))
		return -EAGAIN;
	if (head >= vr->num)
		return -EINVAL;
	slot = &vr->used->ring[vr->used_idx & (vr->num - 1)];
	__atomic_store_n(&slot->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&slot->len, htole32(len), __ATOMIC_RELAXED);
	vr->used_idx++;
	/*
	 * Release: the element and the bytes scattered into the buffer are
	 * visible before the new index; pairs with the driver's virtio_rmb()
	 * after it reads used->idx (virtqueue_get_buf).
	 */
	__atomic_store_n(&vr->used->idx, htole16(vr->used_idx),
			 __ATOMIC_RELEASE);
	vr->pushed = true;
	vr->stats.used++;
	return 0;
}

static bool need_signal(struct vp_vring *vr)
{
	uint16_t old = vr->signalled_used, new = vr->used_idx, event;
	bool valid = vr->signalled_used_valid;
	uint16_t flags;

	/*
	 * Full barrier: the used->idx store above must be visible before we
	 * read used_event or the avail flags; pairs with the driver's
	 * virtio_mb() between writing those and re-reading used->idx
	 * (virtqueue_enable_cb_prepare/_delayed).  Either the driver sees our
	 * entries, or we see that it wants a call.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vr->event_idx) {
		flags = le16toh(
			__atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED));
		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	vr->signalled_used = new;
	vr->signalled_used_valid = true;
	if (!valid)
		return true;
	event = le16toh(
		__atomic_load_n(&vr->avail->ring[vr->num], __ATOMIC_RELAXED));
	return vring_need_event(event, new, old);
}

void vp_vring_notify(struct vp_vring *vr)
{
	if (!vr->pushed || !vr->avail)
		return;
	vr->pushed = false;
	if (need_signal(vr))
		vp_vring_signal(vr);
}

void vp_vring_signal(struct vp_vring *vr)
{
	if (vr->call_fd < 0)
		return;
	write_eventfd(vr->call_fd);
	vr->stats.signals++;
}
