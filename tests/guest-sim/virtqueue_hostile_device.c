// SPDX-License-Identifier: MIT
/*
 * virtqueue_hostile_device.c - a buggy or hostile device cannot crash the
 * guest's ring: a used id that is out of range or not in flight is logged
 * and ignored, a used length beyond the buffer is clamped, a used index
 * running ahead of the ring breaks the queue cleanly (every buffer in
 * flight fails with -EIO), scribbling on the descriptor table does not
 * corrupt the driver's free list, and a backend hang-up fails what was in
 * flight instead of leaving callers waiting.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guest_ram.h"
#include "virtqueue.h"
#include "vq_device.h"

#define RAM_SIZE (16ull << 20)
#define RING	 8

struct fix {
	struct gsim_ram *ram;
	struct gsim_vq *vq;
	struct vq_dev d;
	uint64_t page;
};

struct buf {
	int calls;
	int err;
	uint32_t len;
};

static void buf_done(void *arg, uint32_t len, int err)
{
	struct buf *b = arg;

	__atomic_fetch_add(&b->calls, 1, __ATOMIC_RELAXED);
	b->len = len;
	b->err = err;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = gsim_ram_create(RAM_SIZE);
	assert_int_equal(gsim_vq_create(f->ram, 0, RING, &f->vq), 0);
	vq_dev_init(&f->d, f->ram, f->vq);
	f->page = gsim_ram_alloc_page(f->ram);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	gsim_vq_destroy(f->vq);
	gsim_ram_put_page(f->ram, f->page);
	assert_int_equal(gsim_ram_pages_used(f->ram), 0);
	gsim_ram_destroy(f->ram);
	free(f);
	return 0;
}

/* A chain of one readable and one 100-byte writable segment. */
static void add(struct fix *f, struct buf *b)
{
	struct gsim_vq_seg segs[2] = { { f->page, 16 },
				       { f->page + 1024, 100 } };

	assert_int_equal(gsim_vq_add(f->vq, segs, 1, 1, buf_done, b), 0);
}

static void bad_used_ids_are_ignored(void **state)
{
	struct fix *f = *state;
	struct buf a = { 0 }, b = { 0 };
	struct vq_dev_buf da, db;
	struct gsim_vq_stats st;

	add(f, &a);
	add(f, &b);
	assert_true(vq_dev_pop(&f->d, &da));
	assert_true(vq_dev_pop(&f->d, &db));
	vq_dev_push(&f->d, 999, 4);	     /* beyond the ring */
	vq_dev_push(&f->d, da.head + 1u, 4); /* inside a chain, not a head */
	vq_dev_push(&f->d, 5, 4);	     /* a free descriptor */
	vq_dev_push(&f->d, da.head, 7);
	vq_dev_push(&f->d, da.head, 7); /* the same buffer twice */
	assert_int_equal(gsim_vq_harvest(f->vq), 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.len, 7);
	assert_int_equal(b.calls, 0);
	gsim_vq_stats(f->vq, &st);
	assert_int_equal(st.bad_ids, 4);
	/* The queue still works: b completes normally. */
	vq_dev_push(&f->d, db.head, 3);
	assert_int_equal(gsim_vq_harvest(f->vq), 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 3);
	/* And the bad ids did not leak the descriptors of a. */
	add(f, &a);
	assert_true(vq_dev_pop(&f->d, &da));
	vq_dev_push(&f->d, da.head, 1);
	assert_int_equal(gsim_vq_harvest(f->vq), 1);
	assert_int_equal(a.calls, 2);
}

static void overlong_used_len_is_clamped(void **state)
{
	struct fix *f = *state;
	struct buf a = { 0 };
	struct vq_dev_buf da;
	struct gsim_vq_stats st;

	add(f, &a);
	assert_true(vq_dev_pop(&f->d, &da));
	vq_dev_push(&f->d, da.head, 0xffffffffu);
	assert_int_equal(gsim_vq_harvest(f->vq), 1);
	assert_int_equal(a.len, 100); /* the writable bytes of the chain */
	gsim_vq_stats(f->vq, &st);
	assert_int_equal(st.bad_lens, 1);
}

static void used_idx_running_ahead_breaks_the_queue(void **state)
{
	struct fix *f = *state;
	struct buf bufs[3] = { { 0 } };
	struct gsim_vq_seg seg = { f->page, 8 };
	int i;

	for (i = 0; i < 3; i++)
		add(f, &bufs[i]);
	/* Claim RING + 5 completions at once: more than the ring holds. */
	__atomic_store_n(&f->d.used->idx, htole16(RING + 5), __ATOMIC_RELEASE);
	assert_int_equal(gsim_vq_harvest(f->vq), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(bufs[i].calls, 1);
		assert_int_equal(bufs[i].err, -EIO);
		assert_int_equal(bufs[i].len, 0);
	}
	/* Broken is sticky. */
	assert_int_equal(gsim_vq_add(f->vq, &seg, 1, 0, buf_done, &bufs[0]),
			 -EIO);
	assert_int_equal(gsim_vq_harvest(f->vq), 0);
}

static void scribbled_descriptor_table_does_not_corrupt_free_list(void **state)
{
	struct fix *f = *state;
	struct buf bufs[RING / 2];
	struct vq_dev_buf db;
	int round, i;

	for (round = 0; round < 4; round++) {
		memset(bufs, 0, sizeof(bufs));
		for (i = 0; i < RING / 2; i++)
			add(f, &bufs[i]);
		/* The device rewrites every descriptor's next and flags. */
		for (i = 0; i < RING; i++) {
			f->d.desc[i].next = htole16(0x7777);
			f->d.desc[i].flags = htole16(0xffff);
		}
		/* The driver does not care; it rewrites on every add. */
		for (i = 0; i < RING / 2; i++) {
			uint16_t head = le16toh(
				f->d.avail->ring[f->d.last_avail % RING]);

			f->d.last_avail++;
			vq_dev_push(&f->d, head, 1);
		}
		assert_int_equal(gsim_vq_harvest(f->vq), RING / 2);
		for (i = 0; i < RING / 2; i++)
			assert_int_equal(bufs[i].calls, 1);
	}
	/* Fresh chains are well formed again. */
	add(f, &bufs[0]);
	assert_true(vq_dev_pop(&f->d, &db));
	assert_int_equal(db.nr_out, 1);
	assert_int_equal(db.nr_in, 1);
	assert_int_equal(db.in[0].len, 100);
	vq_dev_push(&f->d, db.head, 1);
	assert_int_equal(gsim_vq_harvest(f->vq), 1);
}

static void backend_hangup_fails_buffers_in_flight(void **state)
{
	struct fix *f = *state;
	struct buf a = { 0 }, b = { 0 };
	struct gsim_vq_irq *irq;
	struct gsim_vq_seg seg = { f->page, 8 };
	struct vq_dev_buf da;
	struct timespec ts = { 0, 2000000 };
	int sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	add(f, &a);
	add(f, &b);
	assert_int_equal(gsim_vq_irq_start(&f->vq, 1, sv[0], &irq), 0);
	/* The device finished a but never told us, then died. */
	assert_true(vq_dev_pop(&f->d, &da));
	vq_dev_push(&f->d, da.head, 5);
	close(sv[1]);
	for (i = 0;
	     i < 2500 && __atomic_load_n(&b.calls, __ATOMIC_RELAXED) == 0; i++)
		nanosleep(&ts, NULL);
	gsim_vq_irq_stop(irq);
	close(sv[0]);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, 5);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -EIO);
	assert_int_equal(gsim_vq_add(f->vq, &seg, 1, 0, buf_done, &a), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bad_used_ids_are_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(overlong_used_len_is_clamped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			used_idx_running_ahead_breaks_the_queue, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			scribbled_descriptor_table_does_not_corrupt_free_list,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			backend_hangup_fails_buffers_in_flight, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
