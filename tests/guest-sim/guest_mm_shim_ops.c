// SPDX-License-Identifier: MIT
/*
 * guest_mm_shim_ops.c - gsim_mm_ops is the guest shim core's view of a
 * process (struct vsvmg_mm_ops): its range_fault, read_begin and
 * read_retry reach the mm, and range_fault speaks the VSVMG_PFN_* format
 * the core decodes (GPA in the bits above VSVMG_PFN_FLAGS).
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

#include "vsvmg.h"
#include "gsim_mm_test.h"

#define VA 0x70000000ull

static void test_ops_reach_the_mm(void **state)
{
	struct fixture *f = *state;
	const struct vsvmg_mm_ops *ops = &gsim_mm_ops;
	__u64 out[4], seq;

	assert_non_null(ops->range_fault);
	assert_non_null(ops->read_begin);
	assert_non_null(ops->read_retry);
	map(f->mm, VA, 2 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE,
	    GSIM_MAP_FIXED);
	fill(f->mm, VA, PG, 0x99);

	seq = ops->read_begin(f->mm);
	assert_int_equal(ops->range_fault(f->mm, VA, 4, VA, 1, 0, out), 0);
	assert_false(ops->read_retry(f->mm, seq));
	assert_int_equal(out[0] & VSVMG_PFN_FLAGS,
			 VSVMG_PFN_VALID | VSVMG_PFN_WRITE);
	assert_int_equal(out[0] & ~VSVMG_PFN_FLAGS, pte_gpa(f->mm, VA));
	assert_int_equal(out[1], 0); /* untouched, not populated */
	assert_int_equal(out[2], 0); /* outside any VMA */
	assert_true(holds(f->mm, VA, PG, 0x99));

	assert_int_equal(ops->range_fault(f->mm, VA, 4, VA + 2 * PG, 0, 1, out),
			 -EFAULT);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, PG), 0);
	assert_true(ops->read_retry(f->mm, seq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_ops_reach_the_mm, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
