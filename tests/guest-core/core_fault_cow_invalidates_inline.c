// SPDX-License-Identifier: MIT
/*
 * core_fault_cow_invalidates_inline.c - range_fault may itself invalidate
 * (a write fault that breaks copy-on-write calls the mmu notifier, on the
 * event thread, with the mm lock held): the fault path holds no lock of
 * its own across range_fault, so this neither deadlocks nor lets the
 * pre-COW page through; the write is mapped to the copy.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA   0x48000000ull
#define COPY 0x7700000ull

static void test_cow_break_during_fault(void **state)
{
	struct core_fx *fx = *state;
	struct fh_pte pte;
	struct fh_rec un;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fm_set_cow(fx->mm, VA + 2 * PG, GPA_BASE + 2 * PG, COPY);
	fx_start(fx);

	/* A read leaves it shared: mapped read-only to the original. */
	assert_int_equal(fx_fault(fx, 1, VA + 2 * PG, VSVM_ACCESS_READ),
			 VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA + 2 * PG, &pte));
	assert_int_equal(pte.gpa, GPA_BASE + 2 * PG);
	assert_int_equal(pte.prot, VSVM_PROT_READ);

	/* A write copies: the notifier drops the page from inside the walk. */
	assert_int_equal(fx_fault(fx, 2, VA + 2 * PG, VSVM_ACCESS_WRITE),
			 VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_UNMAP, 0, &un));
	assert_int_equal(un.va, VA + 2 * PG);
	assert_true(fh_pte(fx->h, fx->id, VA + 2 * PG, &pte));
	assert_int_equal(pte.gpa, COPY);
	assert_int_equal(pte.prot, VSVM_PROT_ALL);
	/* The read that began before the COW was not trusted. */
	assert_true(fx_wait_faults(fx, 2).map_stale >= 1);
	assert_null(fx_incoherent(fx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cow_break_during_fault,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
