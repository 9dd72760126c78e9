// SPDX-License-Identifier: MIT
/*
 * virtqueue_notify_suppression.c - the driver kicks exactly when the
 * device asked for it: VRING_USED_F_NO_NOTIFY without EVENT_IDX, the
 * avail_event index with it; and it keeps used_event at the next entry it
 * will harvest, so an EVENT_IDX device keeps calling.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "guest_ram.h"
#include "virtqueue.h"
#include "vq_device.h"

#define RAM_SIZE (16ull << 20)

struct fix {
	struct gsim_ram *ram;
	struct gsim_vq *vq;
	struct vq_dev d;
	uint64_t page;
};

static void nop_done(void *arg, uint32_t len, int err)
{
	(void)arg;
	(void)len;
	(void)err;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = gsim_ram_create(RAM_SIZE);
	assert_int_equal(gsim_vq_create(f->ram, 1, 64, &f->vq), 0);
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
	gsim_ram_destroy(f->ram);
	free(f);
	return 0;
}

static void add(struct fix *f)
{
	struct gsim_vq_seg seg = { f->page, 8 };

	assert_int_equal(gsim_vq_add(f->vq, &seg, 1, 0, nop_done, NULL), 0);
}

static void no_notify_flag_suppresses_kicks(void **state)
{
	struct fix *f = *state;
	struct gsim_vq_stats st;

	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 1);
	f->d.used->flags = htole16(VRING_USED_F_NO_NOTIFY);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	add(f);
	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 0);
	f->d.used->flags = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 1);
	gsim_vq_stats(f->vq, &st);
	assert_int_equal(st.kicks, 2);
	assert_int_equal(st.kicks_suppressed, 2);
}

static void avail_event_says_when_to_kick(void **state)
{
	struct fix *f = *state;
	int i;

	gsim_vq_set_event_idx(f->vq, 1);
	/* avail_event 0: kick when avail->idx moves past 0. */
	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 1);
	/* The device is busy and has not moved avail_event: silence. */
	add(f);
	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 0);
	/* Ask to hear when entry 5 is published (avail->idx 5 -> 6). */
	vq_dev_set_avail_event(&f->d, 5);
	add(f); /* idx 4 */
	add(f); /* idx 5 */
	assert_int_equal(vq_dev_kicks(&f->d), 0);
	add(f); /* idx 6: passes the event */
	assert_int_equal(vq_dev_kicks(&f->d), 1);
	/* NO_NOTIFY is ignored once EVENT_IDX is in force. */
	f->d.used->flags = htole16(VRING_USED_F_NO_NOTIFY);
	vq_dev_set_avail_event(&f->d, 6);
	add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 1);
	/* The 16-bit index wraps: a far-away event never fires. */
	vq_dev_set_avail_event(&f->d, 0x8000);
	for (i = 0; i < 8; i++)
		add(f);
	assert_int_equal(vq_dev_kicks(&f->d), 0);
}

static void used_event_tracks_next_entry_to_harvest(void **state)
{
	struct fix *f = *state;
	struct vq_dev_buf b;
	int i;

	gsim_vq_set_event_idx(f->vq, 1);
	for (i = 0; i < 5; i++)
		add(f);
	for (i = 0; i < 3; i++) {
		assert_true(vq_dev_pop(&f->d, &b));
		vq_dev_push(&f->d, b.head, 0);
	}
	assert_int_equal(gsim_vq_harvest(f->vq), 3);
	/* "Call me when used->idx passes 3", i.e. at the next entry. */
	assert_int_equal(vq_dev_used_event(&f->d), 3);
	for (i = 0; i < 2; i++) {
		assert_true(vq_dev_pop(&f->d, &b));
		vq_dev_push(&f->d, b.head, 0);
	}
	assert_int_equal(gsim_vq_harvest(f->vq), 2);
	assert_int_equal(vq_dev_used_event(&f->d), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_notify_flag_suppresses_kicks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(avail_event_says_when_to_kick,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			used_event_tracks_next_entry_to_harvest, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
