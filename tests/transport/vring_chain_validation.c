// SPDX-License-Identifier: MIT
/*
 * vring_chain_validation.c - a descriptor chain is accepted only when it
 * is well formed, and a malformed one is refused without touching memory
 * outside the guest memory table: loops, indices out of range, chains too
 * long, bad indirect tables, writable before readable, buffers outside
 * the table, byte totals that overflow.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Guest RAM sits between PROT_NONE guard pages (guest_ring.h), so a
 * buffer that escaped validation and was read would crash the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>

#include "ring_fixture.h"
#include "svm_double.h"

#define GPA_END (FX_GPA + FX_RAM)

static int setup(void **state)
{
	*state = fx_create(FX_RAM, false);
	return 0;
}

static int teardown(void **state)
{
	fx_destroy(*state);
	return 0;
}

/* Pop expecting ret; a malformed chain is completed, as the device does. */
static void expect_pop(struct ring_fx *fx, int ret, uint16_t head)
{
	struct vp_vring_elem e;

	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), ret);
	if (ret == 1 || ret == -EBADMSG)
		assert_int_equal(e.head, head);
	if (ret == -EBADMSG) {
		assert_null(e.segs);
		assert_int_equal(vp_vring_push(&fx->vr[0], e.head, 0), 0);
	}
	vp_vring_elem_free(&e);
}

/* After a refused chain the ring goes on: a good chain still pops. */
static void expect_ring_still_works(struct ring_fx *fx)
{
	struct guest_buf b = { fx_buf(fx, 8, 1), 8, false };
	uint16_t head = guest_chain(&fx->gr[0], &b, 1);

	guest_publish(&fx->gr[0], head);
	expect_pop(fx, 1, head);
	assert_false(fx->vr[0].broken);
}

/* A broken ring pops and pushes nothing, whatever the guest posts. */
static void expect_ring_dead(struct ring_fx *fx)
{
	struct guest_buf b = { fx_buf(fx, 8, 1), 8, false };
	struct vp_vring_elem e;

	guest_publish(&fx->gr[0], guest_chain(&fx->gr[0], &b, 1));
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 0);
	assert_int_equal(vp_vring_push(&fx->vr[0], 0, 0), -EAGAIN);
}

static void valid_chain_pops_readable_then_writable(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf b[3] = {
		{ fx_buf(fx, 24, 'a'), 24, false },
		{ fx_buf(fx, 40, 'b'), 40, false },
		{ fx_buf(fx, 100, 0), 100, true },
	};
	uint16_t head = guest_chain(&fx->gr[0], b, 3);
	struct vp_vring_elem e;
	uint8_t buf[64];

	guest_publish(&fx->gr[0], head);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 1);
	assert_int_equal(e.head, head);
	assert_int_equal(e.nr_out, 2);
	assert_int_equal(e.nr_in, 1);
	assert_int_equal(e.out_len, 64);
	assert_int_equal(e.in_len, 100);
	/* Gather across the segment boundary. */
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 0, buf, 64), 0);
	assert_int_equal(buf[23], 'a');
	assert_int_equal(buf[24], 'b');
	assert_int_equal(vp_vring_scatter(&fx->vr[0], &e, 90, "xyz", 3), 0);
	assert_memory_equal((uint8_t *)guest_ptr(&fx->gm, b[2].gpa) + 90, "xyz",
			    3);
	vp_vring_elem_free(&e);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 0);
}

static void gather_and_scatter_stay_inside_their_part(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf b[2] = {
		{ fx_buf(fx, 16, 'r'), 16, false },
		{ fx_buf(fx, 16, 0), 16, true },
	};
	uint16_t head = guest_chain(&fx->gr[0], b, 2);
	struct vp_vring_elem e;
	uint8_t buf[32];

	guest_publish(&fx->gr[0], head);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 1);
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 0, buf, 17), -EINVAL);
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 17, buf, 0), -EINVAL);
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 8, buf, UINT32_MAX),
			 -EINVAL);
	assert_int_equal(vp_vring_scatter(&fx->vr[0], &e, 1, buf, 16), -EINVAL);
	assert_int_equal(vp_vring_scatter(&fx->vr[0], &e, UINT32_MAX, buf, 2),
			 -EINVAL);
	/* The readable buffer was never written through scatter. */
	assert_int_equal(((uint8_t *)guest_ptr(&fx->gm, b[0].gpa))[0], 'r');
	vp_vring_elem_free(&e);
}

static void chain_of_queue_size_is_accepted(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf b[FX_NUM];
	uint16_t head;
	int i;

	for (i = 0; i < FX_NUM; i++) {
		b[i].gpa = fx_buf(fx, 4, i);
		b[i].len = 4;
		b[i].writable = i >= FX_NUM / 2;
	}
	head = guest_chain(&fx->gr[0], b, FX_NUM);
	guest_publish(&fx->gr[0], head);
	expect_pop(fx, 1, head);
}

static void looping_chain_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	uint64_t d = fx_buf(fx, 8, 0);

	guest_desc_set(&fx->gr[0], 0, d, 8, VRING_DESC_F_NEXT, 1);
	guest_desc_set(&fx->gr[0], 1, d, 8, VRING_DESC_F_NEXT, 0);
	fx->gr[0].next_desc = 2;
	guest_publish(&fx->gr[0], 0);
	expect_pop(fx, -EBADMSG, 0);
	assert_int_equal(fx->vr[0].stats.bad_chains, 1);
	expect_ring_still_works(fx);
}

static void self_loop_is_refused(void **state)
{
	struct ring_fx *fx = *state;

	guest_desc_set(&fx->gr[0], 3, fx_buf(fx, 8, 0), 8, VRING_DESC_F_NEXT,
		       3);
	fx->gr[0].next_desc = 4;
	guest_publish(&fx->gr[0], 3);
	expect_pop(fx, -EBADMSG, 3);
	expect_ring_still_works(fx);
}

/* Empty buffers name no memory: only the link count can stop this loop. */
static void loop_of_empty_buffers_is_refused(void **state)
{
	struct ring_fx *fx = *state;

	guest_desc_set(&fx->gr[0], 0, 0, 0, VRING_DESC_F_NEXT, 1);
	guest_desc_set(&fx->gr[0], 1, 0, 0, VRING_DESC_F_NEXT, 0);
	fx->gr[0].next_desc = 2;
	guest_publish(&fx->gr[0], 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void next_index_out_of_range_is_refused(void **state)
{
	struct ring_fx *fx = *state;

	guest_desc_set(&fx->gr[0], 0, fx_buf(fx, 8, 0), 8, VRING_DESC_F_NEXT,
		       FX_NUM);
	fx->gr[0].next_desc = 1;
	guest_publish(&fx->gr[0], 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void head_out_of_range_breaks_the_ring(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	guest_publish(&fx->gr[0], FX_NUM + 3);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), -EIO);
	assert_true(fx->vr[0].broken);
	assert_int_equal(fx_count(fx->err_fd[0]), 1);
	/* Sticky: nothing more is popped or pushed on this ring. */
	expect_ring_dead(fx);
}

static void avail_index_jump_breaks_the_ring(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	__atomic_store_n(&fx->gr[0].avail->idx, htole16(FX_NUM + 1),
			 __ATOMIC_RELEASE);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), -EIO);
	assert_true(fx->vr[0].broken);
	assert_int_equal(vp_vring_push(&fx->vr[0], 0, 0), -EAGAIN);
}

static void writable_before_readable_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf b[2] = {
		{ fx_buf(fx, 16, 0), 16, true },
		{ fx_buf(fx, 16, 0), 16, false },
	};
	uint16_t head = guest_chain(&fx->gr[0], b, 2);

	guest_publish(&fx->gr[0], head);
	expect_pop(fx, -EBADMSG, head);
	expect_ring_still_works(fx);
}

static void buffer_outside_table_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf outside[] = {
		{ GPA_END, 16, false },	       /* just past RAM */
		{ GPA_END - 8, 16, false },    /* straddles the end */
		{ FX_GPA - 16, 16, true },     /* just before RAM */
		{ 0, 16, false },	       /* below the table */
		{ UINT64_MAX - 7, 16, false }, /* wraps */
		{ FX_GPA, UINT32_MAX, true },  /* longer than RAM */
	};
	struct guest_buf b[2] = { { fx_buf(fx, 8, 0), 8, false } };
	uint16_t head;
	size_t i;

	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		b[1] = outside[i];
		head = guest_chain(&fx->gr[0], b, 2);
		guest_publish(&fx->gr[0], head);
		expect_pop(fx, -EBADMSG, head);
	}
	assert_int_equal(fx->vr[0].stats.bad_chains, i);
	expect_ring_still_works(fx);
}

static void zero_length_buffer_names_no_memory(void **state)
{
	struct ring_fx *fx = *state;
	struct guest_buf b[2] = {
		{ 0xdead00000000ull, 0, false },
		{ fx_buf(fx, 8, 0), 8, true },
	};
	uint16_t head = guest_chain(&fx->gr[0], b, 2);
	struct vp_vring_elem e;

	guest_publish(&fx->gr[0], head);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 1);
	assert_int_equal(e.nr_out, 0);
	assert_int_equal(e.nr_in, 1);
	vp_vring_elem_free(&e);
}

/* An indirect table of n entries in guest RAM; returns its GPA. */
static uint64_t indirect_table(struct ring_fx *fx, struct vring_desc **t,
			       unsigned int n)
{
	uint64_t gpa = guest_alloc(&fx->gm, 16ull * n, 16);

	*t = guest_ptr(&fx->gm, gpa);
	memset(*t, 0, 16ull * n);
	return gpa;
}

static void set_desc(struct vring_desc *d, uint64_t gpa, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	d->addr = htole64(gpa);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

static void publish_indirect(struct ring_fx *fx, uint64_t table, uint32_t len,
			     uint16_t extra_flags)
{
	guest_desc_set(&fx->gr[0], 0, table, len,
		       VRING_DESC_F_INDIRECT | extra_flags, 1);
	fx->gr[0].next_desc = 1;
	guest_publish(&fx->gr[0], 0);
}

static void indirect_table_is_followed(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 3);
	struct vp_vring_elem e;
	uint8_t buf[12];

	set_desc(&t[0], fx_buf(fx, 4, 'i'), 4, VRING_DESC_F_NEXT, 2);
	set_desc(&t[2], fx_buf(fx, 8, 'j'), 8, VRING_DESC_F_NEXT, 1);
	set_desc(&t[1], fx_buf(fx, 32, 0), 32, VRING_DESC_F_WRITE, 0);
	publish_indirect(fx, tg, 48, 0);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 1);
	assert_int_equal(e.head, 0);
	assert_int_equal(e.out_len, 12);
	assert_int_equal(e.in_len, 32);
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 0, buf, 12), 0);
	assert_memory_equal(buf, "iiiijjjjjjjj", 12);
	vp_vring_elem_free(&e);
}

static void direct_then_indirect_is_accepted(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 1);
	struct vp_vring_elem e;

	set_desc(&t[0], fx_buf(fx, 16, 0), 16, VRING_DESC_F_WRITE, 0);
	guest_desc_set(&fx->gr[0], 0, fx_buf(fx, 8, 0), 8, VRING_DESC_F_NEXT,
		       1);
	guest_desc_set(&fx->gr[0], 1, tg, 16, VRING_DESC_F_INDIRECT, 0);
	fx->gr[0].next_desc = 2;
	guest_publish(&fx->gr[0], 0);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 1);
	assert_int_equal(e.out_len, 8);
	assert_int_equal(e.in_len, 16);
	vp_vring_elem_free(&e);
}

static void indirect_with_bad_length_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 2);

	set_desc(&t[0], fx_buf(fx, 4, 0), 4, 0, 0);
	publish_indirect(fx, tg, 24, 0); /* not a multiple of 16 */
	expect_pop(fx, -EBADMSG, 0);
	publish_indirect(fx, tg, 0, 0);
	expect_pop(fx, -EBADMSG, 0);
	/* More entries than any chain may have. */
	publish_indirect(fx, FX_GPA, 16 * (VP_VRING_MAX_SEGS + 1), 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void nested_indirect_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t, *inner;
	uint64_t tg = indirect_table(fx, &t, 1);
	uint64_t ig = indirect_table(fx, &inner, 1);

	set_desc(&inner[0], fx_buf(fx, 4, 0), 4, 0, 0);
	set_desc(&t[0], ig, 16, VRING_DESC_F_INDIRECT, 0);
	publish_indirect(fx, tg, 16, 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void indirect_with_next_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 1);

	set_desc(&t[0], fx_buf(fx, 4, 0), 4, 0, 0);
	guest_desc_set(&fx->gr[0], 1, fx_buf(fx, 4, 0), 4, 0, 0);
	publish_indirect(fx, tg, 16, VRING_DESC_F_NEXT);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void indirect_table_outside_memory_is_refused(void **state)
{
	struct ring_fx *fx = *state;

	publish_indirect(fx, GPA_END - 16, 32, 0);
	expect_pop(fx, -EBADMSG, 0);
	publish_indirect(fx, UINT64_MAX - 15, 32, 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void indirect_loop_and_bad_next_are_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 2);
	uint64_t d = fx_buf(fx, 4, 0);

	set_desc(&t[0], d, 4, VRING_DESC_F_NEXT, 1);
	set_desc(&t[1], d, 4, VRING_DESC_F_NEXT, 0);
	publish_indirect(fx, tg, 32, 0);
	expect_pop(fx, -EBADMSG, 0);
	/* next beyond the table, though below the queue size */
	set_desc(&t[1], d, 4, VRING_DESC_F_NEXT, 5);
	publish_indirect(fx, tg, 32, 0);
	expect_pop(fx, -EBADMSG, 0);
	expect_ring_still_works(fx);
}

static void indirect_writable_before_readable_is_refused(void **state)
{
	struct ring_fx *fx = *state;
	struct vring_desc *t;
	uint64_t tg = indirect_table(fx, &t, 2);

	set_desc(&t[0], fx_buf(fx, 4, 0), 4,
		 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&t[1], fx_buf(fx, 4, 0), 4, 0, 0);
	publish_indirect(fx, tg, 32, 0);
	expect_pop(fx, -EBADMSG, 0);
}

/* Two buffers of 4 GiB - 1 and 16 bytes: 33 bits of total length. */
static void total_length_overflow_is_refused(void **state)
{
	struct ring_fx *fx = fx_create((4ull << 30) + FX_RAM, false);
	struct guest_buf b[2] = {
		{ FX_GPA + FX_RAM, UINT32_MAX, false },
		{ FX_GPA + FX_RAM, 16, false },
	};
	uint16_t head;

	(void)state;
	head = guest_chain(&fx->gr[0], b, 2);
	guest_publish(&fx->gr[0], head);
	expect_pop(fx, -EBADMSG, head);
	fx_destroy(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(valid_chain_pops_readable_then_writable),
		T(gather_and_scatter_stay_inside_their_part),
		T(chain_of_queue_size_is_accepted),
		T(looping_chain_is_refused),
		T(self_loop_is_refused),
		T(loop_of_empty_buffers_is_refused),
		T(next_index_out_of_range_is_refused),
		T(head_out_of_range_breaks_the_ring),
		T(avail_index_jump_breaks_the_ring),
		T(writable_before_readable_is_refused),
		T(buffer_outside_table_is_refused),
		T(zero_length_buffer_names_no_memory),
		T(indirect_table_is_followed),
		T(direct_then_indirect_is_accepted),
		T(indirect_with_bad_length_is_refused),
		T(nested_indirect_is_refused),
		T(indirect_with_next_is_refused),
		T(indirect_table_outside_memory_is_refused),
		T(indirect_loop_and_bad_next_are_refused),
		T(indirect_writable_before_readable_is_refused),
		cmocka_unit_test(total_length_overflow_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
