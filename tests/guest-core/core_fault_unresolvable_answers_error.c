// SPDX-License-Identifier: MIT
/*
 * core_fault_unresolvable_answers_error.c - a fault the process's page
 * table cannot satisfy (no mapping; a write or atomic access to a page the
 * process may only read) is answered VSVM_ERR_FAULT, so the launch fails
 * with a reason; faults it can satisfy in the same batch are still
 * answered VSVM_OK in the same FAULT_REPLY.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x50000000ull

static void test_unmapped_va(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;

	fx_start(fx);
	assert_int_equal(fx_fault(fx, 3, VA, VSVM_ACCESS_READ), VSVM_ERR_FAULT);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 0);
	st = fx_wait_faults(fx, 1);
	assert_int_equal(st.faults_failed, 1);
	assert_int_equal(st.maps, 0);
}

static void test_write_to_read_only(void **state)
{
	struct core_fx *fx = *state;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 0);
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA + PG, VSVM_ACCESS_WRITE),
			 VSVM_ERR_FAULT);
	assert_int_equal(fx_fault(fx, 2, VA + 2 * PG, VSVM_ACCESS_ATOMIC),
			 VSVM_ERR_FAULT);
	assert_int_equal(fx_wait_faults(fx, 2).faults_failed, 2);
	assert_null(fx_incoherent(fx));
}

static void test_read_of_read_only_maps_read(void **state)
{
	struct core_fx *fx = *state;
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 0);
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA + 3 * PG, &pte));
	assert_int_equal(pte.prot, VSVM_PROT_READ);
	assert_int_equal(pte.gpa, GPA_BASE + 3 * PG);
}

/* An mm that says yes to a write but hands back a read-only page. */
static void test_lax_mm_write_still_refused(void **state)
{
	struct core_fx *fx = *state;
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 1, 0);
	fx->mm->lax_write = 1;
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_WRITE),
			 VSVM_ERR_FAULT);
	/* What it did read is mirrored with the access it allows. */
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(pte.prot, VSVM_PROT_READ);
}

static void test_mixed_batch(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev[3];
	struct fh_rec fr;

	fm_set_range(fx->mm, VA, GPA_BASE, 1, 1);
	fx_start(fx);
	ev[0] = fh_fault(21, VA, VSVM_ACCESS_WRITE);
	ev[1] = fh_fault(22, VA + 0x200000, VSVM_ACCESS_READ);
	ev[2] = fh_fault(23, VA + PG, VSVM_ACCESS_READ);
	fh_inject(fx->h, fx->id, ev, 3);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 21, WAIT_MS), VSVM_OK);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 22, WAIT_MS),
			 VSVM_ERR_FAULT);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 23, WAIT_MS),
			 VSVM_ERR_FAULT);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_FAULT_REPLY), 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_FAULT_REPLY, 0, &fr));
	assert_int_equal(fr.nr, 3);
	assert_int_equal(fx_wait_faults(fx, 3).faults_failed, 2);
}

/*
 * Faults the host names for an absent device or beyond va_bits are
 * answered VSVM_ERR_FAULT without a walk; one without an id is dropped.
 */
static void test_fault_outside_context(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev[3];
	int walks;

	fm_set_range(fx->mm, VA, GPA_BASE, 1, 1);
	fx_start(fx);
	ev[0] = fh_fault(31, VA, VSVM_ACCESS_READ);
	ev[0].device = 7; /* the host reports 2 devices */
	ev[1] = fh_fault(32, 1ull << 50, VSVM_ACCESS_READ);
	ev[2] = fh_fault(0, VA, VSVM_ACCESS_READ);
	fh_inject(fx->h, fx->id, ev, 3);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 31, WAIT_MS),
			 VSVM_ERR_FAULT);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 32, WAIT_MS),
			 VSVM_ERR_FAULT);
	assert_int_equal(fh_answer_count(fx->h, fx->id, 0), 0);
	walks = fx->mm->range_faults;
	assert_int_equal(walks, 0);
	/* The thread goes on serving. */
	assert_int_equal(fx_fault(fx, 33, VA, VSVM_ACCESS_READ), VSVM_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unmapped_va, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_to_read_only,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_read_of_read_only_maps_read, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_lax_mm_write_still_refused,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mixed_batch, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_fault_outside_context,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
