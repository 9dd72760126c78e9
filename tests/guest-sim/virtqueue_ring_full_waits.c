// SPDX-License-Identifier: MIT
/*
 * virtqueue_ring_full_waits.c - when the ring has no room, an adder sleeps
 * until the device returns descriptors; adders are served in arrival
 * order, so a long chain is not starved; the interrupt thread never sleeps
 * for room; teardown wakes sleepers with an error.
 *
 * Copyright (C) 2026 The vsvm authors
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
#include <time.h>

#include "guest_ram.h"
#include "virtqueue.h"
#include "vq_device.h"

#define RAM_SIZE (16ull << 20)

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { 0, (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

struct fix {
	struct gsim_ram *ram;
	struct gsim_vq *vq;
	struct vq_dev d;
	uint64_t page;
};

static int setup4(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = gsim_ram_create(RAM_SIZE);
	assert_non_null(f->ram);
	assert_int_equal(gsim_vq_create(f->ram, 0, 4, &f->vq), 0);
	vq_dev_init(&f->d, f->ram, f->vq);
	f->page = gsim_ram_alloc_page(f->ram);
	*state = f;
	return 0;
}

static int teardown4(void **state)
{
	struct fix *f = *state;

	gsim_vq_destroy(f->vq);
	gsim_ram_put_page(f->ram, f->page);
	assert_int_equal(gsim_ram_pages_used(f->ram), 0);
	gsim_ram_destroy(f->ram);
	free(f);
	return 0;
}

static int cb_calls, cb_last_err;

static void count_done(void *arg, uint32_t len, int err)
{
	(void)arg;
	(void)len;
	__atomic_fetch_add(&cb_calls, 1, __ATOMIC_RELAXED);
	cb_last_err = err;
}

struct waiter {
	struct fix *f;
	unsigned int nsegs;
	int ret;
	int returned;
	uint32_t tag; /* written into the first segment */
};

static void *add_thread(void *p)
{
	struct waiter *w = p;
	struct gsim_vq_seg segs[4];
	unsigned int i;

	for (i = 0; i < w->nsegs; i++)
		segs[i] = (struct gsim_vq_seg){
			w->f->page + 256 * (w->tag * 4 + i), 16
		};
	memcpy(gsim_ram_ptr(w->f->ram, segs[0].gpa, 4), &w->tag, 4);
	w->ret = gsim_vq_add(w->f->vq, segs, w->nsegs, 0, count_done, w);
	__atomic_store_n(&w->returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int has_returned(struct waiter *w)
{
	return __atomic_load_n(&w->returned, __ATOMIC_ACQUIRE);
}

static void wait_returned(struct waiter *w)
{
	int i;

	for (i = 0; i < 2500 && !has_returned(w); i++)
		sleep_ms(2);
	assert_true(has_returned(w));
}

/* Wait until n adders have gone to sleep (each took its turn first). */
static void wait_sleepers(struct fix *f, uint64_t n)
{
	struct gsim_vq_stats st;
	int i;

	for (i = 0; i < 2500; i++) {
		gsim_vq_stats(f->vq, &st);
		if (st.waits >= n)
			return;
		sleep_ms(2);
	}
	fail_msg("adders did not go to sleep");
}

static void fill_ring(struct fix *f)
{
	struct gsim_vq_seg seg = { f->page, 8 };
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(
			gsim_vq_add(f->vq, &seg, 1, 0, count_done, NULL), 0);
}

/* Complete the next n popped chains and harvest them. */
static void device_complete(struct fix *f, int n)
{
	struct vq_dev_buf b;

	while (n-- > 0) {
		assert_true(vq_dev_pop(&f->d, &b));
		vq_dev_push(&f->d, b.head, 0);
	}
	gsim_vq_harvest(f->vq);
}

static void full_ring_sleeps_until_a_descriptor_frees(void **state)
{
	struct fix *f = *state;
	struct waiter w = { .f = f, .nsegs = 1, .tag = 9 };
	struct gsim_vq_stats st;
	pthread_t tid;

	fill_ring(f);
	assert_int_equal(pthread_create(&tid, NULL, add_thread, &w), 0);
	sleep_ms(50);
	assert_false(has_returned(&w));
	device_complete(f, 1);
	wait_returned(&w);
	pthread_join(tid, NULL);
	assert_int_equal(w.ret, 0);
	gsim_vq_stats(f->vq, &st);
	assert_int_equal(st.waits, 1);
	assert_int_equal(st.added, 5);
	/* The rest are cancelled by teardown. */
}

static void long_chain_is_served_before_later_short_ones(void **state)
{
	struct fix *f = *state;
	struct waiter big = { .f = f, .nsegs = 3, .tag = 1 };
	struct waiter small = { .f = f, .nsegs = 1, .tag = 2 };
	struct vq_dev_buf b;
	pthread_t t1, t2;
	uint32_t tag;

	fill_ring(f);
	assert_int_equal(pthread_create(&t1, NULL, add_thread, &big), 0);
	wait_sleepers(f, 1); /* big holds the first turn */
	assert_int_equal(pthread_create(&t2, NULL, add_thread, &small), 0);
	wait_sleepers(f, 2);
	/* One free descriptor would fit small, but it is big's turn. */
	device_complete(f, 1);
	sleep_ms(30);
	assert_false(has_returned(&small));
	assert_false(has_returned(&big));
	device_complete(f, 2);
	wait_returned(&big);
	assert_int_equal(big.ret, 0);
	/* big took all three; small waits for the fourth. */
	sleep_ms(30);
	assert_false(has_returned(&small));
	device_complete(f, 1);
	wait_returned(&small);
	assert_int_equal(small.ret, 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	/* On the ring: big's chain, then small's. */
	assert_true(vq_dev_pop(&f->d, &b));
	assert_int_equal(b.nr_out, 3);
	memcpy(&tag, vq_dev_ptr(&f->d, b.out[0]), 4);
	assert_int_equal(tag, 1);
	assert_true(vq_dev_pop(&f->d, &b));
	memcpy(&tag, vq_dev_ptr(&f->d, b.out[0]), 4);
	assert_int_equal(tag, 2);
}

static void chain_longer_than_ring_is_refused(void **state)
{
	struct fix *f = *state;
	struct gsim_vq_seg segs[5];
	int i;

	for (i = 0; i < 5; i++)
		segs[i] = (struct gsim_vq_seg){ f->page, 8 };
	assert_int_equal(gsim_vq_add(f->vq, segs, 5, 0, count_done, NULL),
			 -EINVAL);
	segs[1].len = 0;
	assert_int_equal(gsim_vq_add(f->vq, segs, 2, 0, count_done, NULL),
			 -EINVAL);
	assert_int_equal(gsim_vq_add(f->vq, segs, 0, 0, count_done, NULL),
			 -EINVAL);
}

struct irq_add {
	struct fix *f;
	int ret;
	int ran;
};

static void add_from_callback(void *arg, uint32_t len, int err)
{
	struct irq_add *a = arg;
	struct gsim_vq_seg segs[3] = { { a->f->page, 8 },
				       { a->f->page, 8 },
				       { a->f->page, 8 } };

	(void)len;
	if (err)
		return;
	/* Two descriptors are free, three wanted: sleeping would be forever. */
	a->ret = gsim_vq_add(a->f->vq, segs, 3, 0, count_done, NULL);
	__atomic_store_n(&a->ran, 1, __ATOMIC_RELEASE);
}

static void interrupt_thread_never_sleeps_for_room(void **state)
{
	struct fix *f = *state;
	struct irq_add a = { .f = f };
	struct gsim_vq_seg segs[2] = { { f->page, 8 }, { f->page, 8 } };
	struct gsim_vq_irq *irq;
	struct vq_dev_buf b;
	int i;

	/* A two-descriptor chain and two single ones fill a ring of 4. */
	assert_int_equal(gsim_vq_add(f->vq, segs, 2, 0, add_from_callback, &a),
			 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(
			gsim_vq_add(f->vq, segs, 1, 0, count_done, NULL), 0);
	assert_int_equal(gsim_vq_irq_start(&f->vq, 1, -1, &irq), 0);
	assert_true(vq_dev_pop(&f->d, &b));
	vq_dev_push(&f->d, b.head, 0);
	vq_dev_call(&f->d);
	for (i = 0; i < 2500 && !__atomic_load_n(&a.ran, __ATOMIC_ACQUIRE); i++)
		sleep_ms(2);
	gsim_vq_irq_stop(irq);
	assert_true(a.ran);
	assert_int_equal(a.ret, -EAGAIN);
}

static void teardown_wakes_sleeping_adder(void **state)
{
	struct fix *f = *state;
	struct waiter w = { .f = f, .nsegs = 1, .tag = 3 };
	pthread_t tid;

	cb_calls = 0;
	fill_ring(f);
	assert_int_equal(pthread_create(&tid, NULL, add_thread, &w), 0);
	sleep_ms(30);
	assert_false(has_returned(&w));
	/* The device has stopped; everything in flight comes back. */
	assert_int_equal(gsim_vq_cancel_all(f->vq, -ECANCELED), 4);
	wait_returned(&w);
	pthread_join(tid, NULL);
	assert_int_equal(w.ret, -EIO);
	assert_int_equal(cb_calls, 4);
	assert_int_equal(cb_last_err, -ECANCELED);
	assert_int_equal(gsim_vq_add(f->vq,
				     (struct gsim_vq_seg[]){ { f->page, 8 } },
				     1, 0, count_done, NULL),
			 -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			full_ring_sleeps_until_a_descriptor_frees, setup4,
			teardown4),
		cmocka_unit_test_setup_teardown(
			long_chain_is_served_before_later_short_ones, setup4,
			teardown4),
		cmocka_unit_test_setup_teardown(
			chain_longer_than_ring_is_refused, setup4, teardown4),
		cmocka_unit_test_setup_teardown(
			interrupt_thread_never_sleeps_for_room, setup4,
			teardown4),
		cmocka_unit_test_setup_teardown(teardown_wakes_sleeping_adder,
						setup4, teardown4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
