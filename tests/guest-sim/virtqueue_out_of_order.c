// SPDX-License-Identifier: MIT
/*
 * virtqueue_out_of_order.c - the driver side of a split virtqueue takes
 * completions in whatever order the device returns them (vsvm-proxy parks
 * EVENT_WAIT buffers while later ones complete), runs each callback once,
 * and keeps the order of each submitting thread on the ring.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The device is tests/guest-sim/vq_device.h, reading the same guest RAM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "guest_ram.h"
#include "virtqueue.h"
#include "vq_device.h"

#define RAM_SIZE (16ull << 20)

struct buf {
	uint64_t gpa; /* one page: out at 0, in at 2048 */
	uint64_t tag;
	int calls;
	int err;
	uint32_t len;
	int order; /* position among completions */
};

static int completion_seq;

static void buf_done(void *arg, uint32_t len, int err)
{
	struct buf *b = arg;

	b->calls++;
	b->len = len;
	b->err = err;
	b->order = completion_seq++;
}

static int add_buf(struct gsim_vq *vq, struct gsim_ram *ram, struct buf *b)
{
	struct gsim_vq_seg segs[2];

	b->gpa = gsim_ram_alloc_page(ram);
	assert_true(b->gpa != 0);
	memcpy(gsim_ram_ptr(ram, b->gpa, 8), &b->tag, 8);
	segs[0] = (struct gsim_vq_seg){ b->gpa, 8 };
	segs[1] = (struct gsim_vq_seg){ b->gpa + 2048, 64 };
	return gsim_vq_add(vq, segs, 1, 1, buf_done, b);
}

static void completes_out_of_order(void **state)
{
	static const int order[8] = { 5, 0, 7, 3, 1, 6, 2, 4 };
	struct gsim_ram *ram = gsim_ram_create(RAM_SIZE);
	uint64_t base = gsim_ram_pages_used(ram);
	struct vq_dev_buf db[8];
	struct buf bufs[8];
	struct gsim_vq *vq;
	struct vq_dev d;
	int i;

	(void)state;
	assert_int_equal(gsim_vq_create(ram, 0, 16, &vq), 0);
	vq_dev_init(&d, ram, vq);
	memset(bufs, 0, sizeof(bufs));
	completion_seq = 0;
	for (i = 0; i < 8; i++) {
		bufs[i].tag = 0x1000 + (uint64_t)i;
		assert_int_equal(add_buf(vq, ram, &bufs[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		uint64_t tag;

		assert_true(vq_dev_pop(&d, &db[i]));
		assert_int_equal(db[i].nr_out, 1);
		assert_int_equal(db[i].nr_in, 1);
		memcpy(&tag, vq_dev_ptr(&d, db[i].out[0]), 8);
		assert_int_equal(tag, 0x1000 + (uint64_t)i);
	}
	assert_false(vq_dev_pop(&d, &db[0]));

	/* Half now, half later, in a scrambled order. */
	for (i = 0; i < 4; i++)
		vq_dev_push(&d, db[order[i]].head, 10u + (uint32_t)order[i]);
	assert_int_equal(gsim_vq_harvest(vq), 4);
	for (i = 4; i < 8; i++)
		vq_dev_push(&d, db[order[i]].head, 10u + (uint32_t)order[i]);
	assert_int_equal(gsim_vq_harvest(vq), 4);
	assert_int_equal(gsim_vq_harvest(vq), 0);

	for (i = 0; i < 8; i++) {
		struct buf *b = &bufs[order[i]];

		assert_int_equal(b->calls, 1);
		assert_int_equal(b->err, 0);
		assert_int_equal(b->len, 10 + order[i]);
		assert_int_equal(b->order, i);
		gsim_ram_put_page(ram, b->gpa);
	}
	gsim_vq_destroy(vq);
	assert_int_equal(gsim_ram_pages_used(ram), base);
	gsim_ram_destroy(ram);
}

/* ---- several threads, a small ring, a device thread, an irq thread ---- */

#define THREADS	   4
#define PER_THREAD 300
#define SMALL_RING 8

struct tagged {
	uint32_t thread;
	uint32_t seq;
};

struct adder {
	struct gsim_vq *vq;
	struct gsim_ram *ram;
	uint32_t id;
	uint64_t pages; /* PER_THREAD pages, one per buffer */
	int errors;
	int done; /* atomically counted completions */
};

static void counted_done(void *arg, uint32_t len, int err)
{
	struct adder *a = arg;

	if (err || len != 4)
		__atomic_fetch_add(&a->errors, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&a->done, 1, __ATOMIC_RELEASE);
}

static void *adder_thread(void *p)
{
	struct adder *a = p;
	uint32_t i;

	for (i = 0; i < PER_THREAD; i++) {
		uint64_t gpa = a->pages + i * GSIM_PAGE_SIZE;
		struct tagged t = { a->id, i };
		struct gsim_vq_seg segs[2] = { { gpa, sizeof(t) },
					       { gpa + 64, 4 } };

		memcpy(gsim_ram_ptr(a->ram, gpa, sizeof(t)), &t, sizeof(t));
		if (gsim_vq_add(a->vq, segs, 1, 1, counted_done, a))
			__atomic_fetch_add(&a->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

struct device {
	struct vq_dev d;
	int stop;
	int order_errors;
	uint32_t next_seq[THREADS];
};

/* Pops, checks per-thread order, completes newest first in bursts. */
static void *device_thread(void *p)
{
	struct device *dev = p;
	struct vq_dev_buf held[SMALL_RING];
	unsigned int nheld = 0;

	while (!__atomic_load_n(&dev->stop, __ATOMIC_ACQUIRE) || nheld) {
		struct vq_dev_buf b;
		struct tagged t;

		while (nheld < SMALL_RING && vq_dev_pop(&dev->d, &b)) {
			memcpy(&t, vq_dev_ptr(&dev->d, b.out[0]), sizeof(t));
			if (t.thread >= THREADS ||
			    t.seq != dev->next_seq[t.thread])
				dev->order_errors++;
			else
				dev->next_seq[t.thread]++;
			held[nheld++] = b;
		}
		/* Reverse order: the newest buffer completes first. */
		while (nheld) {
			nheld--;
			vq_dev_push(&dev->d, held[nheld].head, 4);
		}
		vq_dev_call(&dev->d);
		sched_yield();
	}
	return NULL;
}

static void threads_keep_their_order_on_a_small_ring(void **state)
{
	struct gsim_ram *ram = gsim_ram_create(RAM_SIZE);
	uint64_t base = gsim_ram_pages_used(ram);
	struct adder adders[THREADS];
	pthread_t atid[THREADS], dtid;
	struct device *dev;
	struct gsim_vq_irq *irq;
	struct gsim_vq_stats st;
	struct gsim_vq *vq;
	int i, all;

	(void)state;
	dev = calloc(1, sizeof(*dev));
	assert_non_null(dev);
	assert_int_equal(gsim_vq_create(ram, 0, SMALL_RING, &vq), 0);
	vq_dev_init(&dev->d, ram, vq);
	assert_int_equal(gsim_vq_irq_start(&vq, 1, -1, &irq), 0);
	assert_int_equal(pthread_create(&dtid, NULL, device_thread, dev), 0);
	for (i = 0; i < THREADS; i++) {
		adders[i] = (struct adder){ .vq = vq,
					    .ram = ram,
					    .id = (uint32_t)i };
		adders[i].pages = gsim_ram_alloc_contig(ram, PER_THREAD);
		assert_true(adders[i].pages != 0);
		assert_int_equal(pthread_create(&atid[i], NULL, adder_thread,
						&adders[i]),
				 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(atid[i], NULL);
	do {
		all = 1;
		for (i = 0; i < THREADS; i++)
			if (__atomic_load_n(&adders[i].done, __ATOMIC_ACQUIRE) <
			    PER_THREAD)
				all = 0;
		sched_yield();
	} while (!all);
	__atomic_store_n(&dev->stop, 1, __ATOMIC_RELEASE);
	pthread_join(dtid, NULL);
	gsim_vq_irq_stop(irq);

	assert_int_equal(dev->order_errors, 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(adders[i].errors, 0);
		assert_int_equal(adders[i].done, PER_THREAD);
		assert_int_equal(dev->next_seq[i], PER_THREAD);
		gsim_ram_free_contig(ram, adders[i].pages, PER_THREAD);
	}
	gsim_vq_stats(vq, &st);
	assert_int_equal(st.added, THREADS * PER_THREAD);
	assert_int_equal(st.completed, THREADS * PER_THREAD);
	assert_int_equal(st.bad_ids + st.bad_lens, 0);
	gsim_vq_destroy(vq);
	assert_int_equal(gsim_ram_pages_used(ram), base);
	gsim_ram_destroy(ram);
	free(dev);
}

/* ---- a callback that submits again, from the interrupt thread ---- */

struct resubmit {
	struct gsim_vq *vq;
	uint64_t gpa;
	int remaining;
	int errors;
	int finished;
};

static void resubmit_done(void *arg, uint32_t len, int err)
{
	struct resubmit *r = arg;
	struct gsim_vq_seg seg = { r->gpa, 16 };

	(void)len;
	if (err)
		r->errors++;
	if (--r->remaining > 0) {
		if (gsim_vq_add(r->vq, &seg, 0, 1, resubmit_done, r))
			r->errors++;
	} else {
		__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
	}
}

static void callback_may_submit_again(void **state)
{
	struct gsim_ram *ram = gsim_ram_create(RAM_SIZE);
	struct resubmit r = { .remaining = 50 };
	struct gsim_vq_seg seg;
	struct gsim_vq_irq *irq;
	struct vq_dev_buf b;
	struct gsim_vq *vq;
	struct vq_dev d;

	(void)state;
	assert_int_equal(gsim_vq_create(ram, 0, 4, &vq), 0);
	vq_dev_init(&d, ram, vq);
	r.vq = vq;
	r.gpa = gsim_ram_alloc_page(ram);
	assert_int_equal(gsim_vq_irq_start(&vq, 1, -1, &irq), 0);
	seg = (struct gsim_vq_seg){ r.gpa, 16 };
	assert_int_equal(gsim_vq_add(vq, &seg, 0, 1, resubmit_done, &r), 0);
	while (!__atomic_load_n(&r.finished, __ATOMIC_ACQUIRE)) {
		if (vq_dev_pop(&d, &b)) {
			vq_dev_push(&d, b.head, 16);
			vq_dev_call(&d);
		}
		sched_yield();
	}
	gsim_vq_irq_stop(irq);
	assert_int_equal(r.errors, 0);
	gsim_vq_destroy(vq);
	gsim_ram_put_page(ram, r.gpa);
	assert_int_equal(gsim_ram_pages_used(ram), 0);
	gsim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(completes_out_of_order),
		cmocka_unit_test(threads_keep_their_order_on_a_small_ring),
		cmocka_unit_test(callback_may_submit_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
