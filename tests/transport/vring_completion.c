// SPDX-License-Identifier: MIT
/*
 * vring_completion.c - used elements go back in any order, the guest is
 * signalled exactly as VIRTIO_RING_F_EVENT_IDX (or NO_INTERRUPT) asks,
 * indices wrap at 16 bits, and a ring laid out anew or a memory table
 * replaced never lets an old element write through a stale mapping.
 *
 * Copyright (C) 2026 The vsvm authors
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

static int setup(void **state)
{
	*state = fx_create(FX_RAM, false);
	return 0;
}

static int setup_event_idx(void **state)
{
	*state = fx_create(FX_RAM, true);
	return 0;
}

static int teardown(void **state)
{
	fx_destroy(*state);
	return 0;
}

/* Post one chain: 8 readable bytes, 8 writable; return its head. */
static uint16_t post(struct ring_fx *fx)
{
	struct guest_buf b[2] = {
		{ fx_buf(fx, 8, 'q'), 8, false },
		{ fx_buf(fx, 8, 0), 8, true },
	};
	uint16_t head = guest_chain(&fx->gr[0], b, 2);

	guest_publish(&fx->gr[0], head);
	return head;
}

static void pop_ok(struct ring_fx *fx, struct vp_vring_elem *e)
{
	assert_int_equal(vp_vring_pop(&fx->vr[0], e), 1);
}

static void out_of_order_completion_reports_each_id(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e[3];
	uint16_t h[3];
	uint32_t id, len;
	int i;

	for (i = 0; i < 3; i++)
		h[i] = post(fx);
	for (i = 0; i < 3; i++)
		pop_ok(fx, &e[i]);
	/* The first one is parked; the newer ones finish first. */
	assert_int_equal(vp_vring_push(&fx->vr[0], e[2].head, 3), 0);
	assert_int_equal(vp_vring_push(&fx->vr[0], e[1].head, 2), 0);
	assert_int_equal(guest_used_idx(&fx->gr[0]), 2);
	assert_int_equal(vp_vring_push(&fx->vr[0], e[0].head, 1), 0);
	assert_true(guest_get_used(&fx->gr[0], &id, &len));
	assert_int_equal(id, h[2]);
	assert_int_equal(len, 3);
	assert_true(guest_get_used(&fx->gr[0], &id, &len));
	assert_int_equal(id, h[1]);
	assert_true(guest_get_used(&fx->gr[0], &id, &len));
	assert_int_equal(id, h[0]);
	assert_int_equal(len, 1);
	assert_false(guest_get_used(&fx->gr[0], &id, &len));
	for (i = 0; i < 3; i++)
		vp_vring_elem_free(&e[i]);
}

static void push_refuses_head_out_of_range(void **state)
{
	struct ring_fx *fx = *state;

	assert_int_equal(vp_vring_push(&fx->vr[0], FX_NUM, 0), -EINVAL);
	assert_int_equal(guest_used_idx(&fx->gr[0]), 0);
}

static void without_event_idx_every_batch_signals(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	post(fx);
	pop_ok(fx, &e);
	vp_vring_push(&fx->vr[0], e.head, 0);
	vp_vring_notify(&fx->vr[0]);
	assert_int_equal(fx_count(fx->call_fd[0]), 1);
	/* Nothing new used: no call. */
	vp_vring_notify(&fx->vr[0]);
	assert_int_equal(fx_count(fx->call_fd[0]), 0);
	vp_vring_elem_free(&e);
}

static void no_interrupt_flag_suppresses_the_call(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	fx->gr[0].avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	post(fx);
	pop_ok(fx, &e);
	vp_vring_push(&fx->vr[0], e.head, 0);
	vp_vring_notify(&fx->vr[0]);
	assert_int_equal(fx_count(fx->call_fd[0]), 0);
	assert_int_equal(guest_used_idx(&fx->gr[0]), 1);
	vp_vring_elem_free(&e);
}

/* Complete n posted chains, then notify once. */
static void complete_n(struct ring_fx *fx, int n)
{
	struct vp_vring_elem e;
	int i;

	for (i = 0; i < n; i++) {
		post(fx);
		pop_ok(fx, &e);
		vp_vring_push(&fx->vr[0], e.head, 0);
		vp_vring_elem_free(&e);
	}
	vp_vring_notify(&fx->vr[0]);
}

static void event_idx_signals_when_used_event_is_crossed(void **state)
{
	struct ring_fx *fx = *state;

	/* The first batch after start always calls. */
	complete_n(fx, 1);
	assert_int_equal(fx_count(fx->call_fd[0]), 1);
	/* The driver wants a call once used idx passes 4 (entry 5 used). */
	guest_set_used_event(&fx->gr[0], 4);
	complete_n(fx, 2); /* used idx 3 */
	assert_int_equal(fx_count(fx->call_fd[0]), 0);
	complete_n(fx, 1); /* 4: not yet past 4 */
	assert_int_equal(fx_count(fx->call_fd[0]), 0);
	complete_n(fx, 1); /* 5: crosses */
	assert_int_equal(fx_count(fx->call_fd[0]), 1);
	complete_n(fx, 1); /* 6: event still 4, already crossed */
	assert_int_equal(fx_count(fx->call_fd[0]), 0);
}

static void event_idx_ignores_no_interrupt_flag(void **state)
{
	struct ring_fx *fx = *state;

	fx->gr[0].avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	guest_set_used_event(&fx->gr[0], 0);
	complete_n(fx, 1);
	assert_int_equal(fx_count(fx->call_fd[0]), 1);
}

static void event_idx_publishes_avail_event_when_empty(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	post(fx);
	post(fx);
	pop_ok(fx, &e);
	vp_vring_elem_free(&e);
	pop_ok(fx, &e);
	vp_vring_elem_free(&e);
	/* Still draining: no need to tell the guest yet. */
	assert_int_equal(guest_avail_event(&fx->gr[0]), 0);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 0);
	/* Empty: kick me when entry 2 arrives. */
	assert_int_equal(guest_avail_event(&fx->gr[0]), 2);
}

static void indices_wrap_at_sixteen_bits(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;
	uint32_t id, len;
	int i;

	/* Resume a ring whose indices are about to wrap. */
	fx->vr[0].started = false;
	assert_int_equal(vp_vring_set_base(&fx->vr[0], 65534), 0);
	fx->gr[0].avail_idx = 65534;
	fx->gr[0].used->idx = htole16(65534);
	fx->gr[0].used_seen = 65534;
	assert_int_equal(vp_vring_set_addr(&fx->vr[0], fx->vr[0].desc_uva,
					   fx->vr[0].avail_uva,
					   fx->vr[0].used_uva),
			 0);
	fx->vr[0].started = true;
	for (i = 0; i < 4; i++) {
		post(fx);
		pop_ok(fx, &e);
		assert_int_equal(vp_vring_push(&fx->vr[0], e.head, (uint32_t)i),
				 0);
		vp_vring_elem_free(&e);
	}
	assert_int_equal(guest_used_idx(&fx->gr[0]), 2);
	for (i = 0; i < 4; i++) {
		assert_true(guest_get_used(&fx->gr[0], &id, &len));
		assert_int_equal(len, i);
	}
	assert_int_equal(vp_vring_stop(&fx->vr[0]), 2);
}

static void stopped_ring_neither_pops_nor_pushes(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;

	post(fx);
	assert_int_equal(vp_vring_stop(&fx->vr[0]), 0);
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 0);
	assert_int_equal(vp_vring_push(&fx->vr[0], 0, 0), -EAGAIN);
	fx->vr[0].started = true;
	fx->vr[0].enabled = false;
	assert_int_equal(vp_vring_pop(&fx->vr[0], &e), 0);
	fx->vr[0].enabled = true;
	pop_ok(fx, &e);
	vp_vring_elem_free(&e);
}

static void epoch_changes_only_when_ring_is_laid_out_anew(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring *vr = &fx->vr[0];
	uint32_t epoch = vr->epoch;

	vp_vring_stop(vr);
	/* QEMU's resume: same size, base and addresses. */
	assert_int_equal(vp_vring_set_num(vr, FX_NUM), 0);
	assert_int_equal(vp_vring_set_base(vr, 0), 0);
	assert_int_equal(vp_vring_set_addr(vr, vr->desc_uva, vr->avail_uva,
					   vr->used_uva),
			 0);
	assert_int_equal(vr->epoch, epoch);
	assert_int_equal(vp_vring_set_base(vr, 5), 0);
	assert_int_not_equal(vr->epoch, epoch);
	epoch = vr->epoch;
	assert_int_equal(vp_vring_set_num(vr, FX_NUM / 2), 0);
	assert_int_not_equal(vr->epoch, epoch);
}

static void ring_configuration_is_validated(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring *vr = &fx->vr[0];

	/* Running rings keep their size and base. */
	assert_int_equal(vp_vring_set_num(vr, 4), -EBUSY);
	assert_int_equal(vp_vring_set_base(vr, 1), -EBUSY);
	vp_vring_stop(vr);
	assert_int_equal(vp_vring_set_num(vr, 0), -EINVAL);
	assert_int_equal(vp_vring_set_num(vr, 6), -EINVAL);
	assert_int_equal(vp_vring_set_num(vr, VP_VRING_MAX_NUM * 2), -EINVAL);
	assert_int_equal(vp_vring_set_base(vr, 65536), -EINVAL);
	/* Misaligned or outside the table. */
	assert_int_equal(vp_vring_set_addr(vr, vr->desc_uva + 8, vr->avail_uva,
					   vr->used_uva),
			 -EFAULT);
	assert_int_equal(vp_vring_set_addr(vr, vr->desc_uva, 1, vr->used_uva),
			 -EFAULT);
	assert_null(vr->desc);
	assert_false(vp_vring_ready(vr));
}

static void new_memory_table_is_used_by_parked_elements(void **state)
{
	struct ring_fx *fx = *state;
	struct vp_vring_elem e;
	uint8_t buf[8];
	uint64_t gpa = FX_GPA + 4096, size = 4096, off = 0, uva = 0x10000;
	int fd = dup(fx->gm.fd);

	post(fx);
	pop_ok(fx, &e);
	/* The region holding the buffers is gone: nothing may be written. */
	vp_memtable_clear(&fx->mt);
	assert_int_equal(
		vp_memtable_build(&fx->mt, 1, &gpa, &size, &uva, &off, &fd), 0);
	assert_int_equal(vp_vring_scatter(&fx->vr[0], &e, 0, "zzzzzzzz", 8),
			 -EFAULT);
	assert_int_equal(vp_vring_gather(&fx->vr[0], &e, 0, buf, 8), -EFAULT);
	assert_int_equal(vp_vring_map(&fx->vr[0]), -EFAULT);
	assert_int_equal(vp_vring_push(&fx->vr[0], e.head, 0), -EAGAIN);
	vp_vring_elem_free(&e);
}

int main(void)
{
#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TE(f) cmocka_unit_test_setup_teardown(f, setup_event_idx, teardown)
	const struct CMUnitTest tests[] = {
		T(out_of_order_completion_reports_each_id),
		T(push_refuses_head_out_of_range),
		T(without_event_idx_every_batch_signals),
		T(no_interrupt_flag_suppresses_the_call),
		TE(event_idx_signals_when_used_event_is_crossed),
		TE(event_idx_ignores_no_interrupt_flag),
		TE(event_idx_publishes_avail_event_when_empty),
		T(indices_wrap_at_sixteen_bits),
		T(stopped_ring_neither_pops_nor_pushes),
		T(epoch_changes_only_when_ring_is_laid_out_anew),
		T(ring_configuration_is_validated),
		T(new_memory_table_is_used_by_parked_elements),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
