// SPDX-License-Identifier: MIT
/*
 * guest_mm_range_fault.c - the hmm_range_fault of the simulator: the page
 * at fault_va is faulted in (for write: made writable), populate read-
 * faults the range's other mapped pages, pages outside any VMA are 0,
 * output is GPA | VALID [| WRITE]; -EFAULT when fault_va is unmapped or
 * its VMA forbids the access, -EINVAL for malformed ranges; and the
 * read_begin/read_retry sequence moves across invalidations only.
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

#include "gsim_mm_test.h"

#define RW	  (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define RO	  GSIM_PROT_READ
#define VA	  0x50000000ull
#define PFN_VALID (1ull << 0) /* VSVMG_PFN_VALID */
#define PFN_WRITE (1ull << 1) /* VSVMG_PFN_WRITE */
#define PFN_FLAGS 0xfffull    /* VSVMG_PFN_FLAGS */

static void test_faults_only_the_fault_page(void **state)
{
	struct fixture *f = *state;
	__u64 out[8];
	unsigned int i;

	map(f->mm, VA, 8 * PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, 8, VA + 3 * PG + 17, 0, 0, out),
		0);
	for (i = 0; i < 8; i++) {
		if (i == 3)
			continue;
		assert_int_equal(out[i], 0);
	}
	assert_int_equal(out[3],
			 pte_gpa(f->mm, VA + 3 * PG) | PFN_VALID | PFN_WRITE);
	assert_int_equal(out[3] & PFN_FLAGS, PFN_VALID | PFN_WRITE);
	assert_int_equal(mm_stats(f->mm).resident_pages, 1);
	/* The page is zero-filled, like a CPU first touch. */
	assert_true(holds(f->mm, VA + 3 * PG, PG, 0));
}

static void test_populate_fills_mapped_pages_only(void **state)
{
	struct fixture *f = *state;
	__u64 out[12];
	unsigned int i;

	/* [VA, +4) RW, hole [+4, +6), [+6, +10) RO, hole [+10, +12). */
	map(f->mm, VA, 4 * PG, RW, GSIM_MAP_FIXED);
	map(f->mm, VA + 6 * PG, 4 * PG, RO, GSIM_MAP_FIXED);
	fill(f->mm, VA + PG, PG, 0x44);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 12, VA, 1, 1, out), 0);
	for (i = 0; i < 12; i++) {
		uint64_t va = VA + i * PG;

		if (i < 4) {
			assert_int_equal(out[i], pte_gpa(f->mm, va) |
							 PFN_VALID | PFN_WRITE);
		} else if (i >= 6 && i < 10) {
			/* Read-faulted: present, not writable. */
			assert_int_equal(out[i],
					 pte_gpa(f->mm, va) | PFN_VALID);
		} else {
			assert_int_equal(out[i], 0);
		}
	}
	assert_int_equal(mm_stats(f->mm).resident_pages, 8);
	assert_true(holds(f->mm, VA + PG, PG, 0x44));
	assert_true(holds(f->mm, VA + 6 * PG, 4 * PG, 0));
	/* Populating never notifies: it only grants access. */
	assert_int_equal(f->log.calls, 0);
}

static void test_efault_outside_vmas_or_forbidden(void **state)
{
	struct fixture *f = *state;
	uint64_t lim = gsim_mm_va_limit(f->mm);
	__u64 out[4];

	map(f->mm, VA, 2 * PG, RO, GSIM_MAP_FIXED);
	map(f->mm, VA + 3 * PG, PG, GSIM_PROT_NONE, GSIM_MAP_FIXED);
	/* In the hole, below and above, beyond the user half. */
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, 4, VA + 2 * PG, 0, 1, out),
		-EFAULT);
	assert_int_equal(gsim_mm_range_fault(f->mm, 0, 1, 0, 0, 0, out),
			 -EFAULT);
	assert_int_equal(gsim_mm_range_fault(f->mm, lim, 1, lim, 0, 0, out),
			 -EFAULT);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, lim - PG, 2, lim, 0, 0, out),
		-EFAULT);
	/* Write to read-only, any access to PROT_NONE. */
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 2, VA, 1, 0, out),
			 -EFAULT);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, 4, VA + 3 * PG, 0, 0, out),
		-EFAULT);
	assert_int_equal(mm_stats(f->mm).resident_pages, 0);
	/* Read of the read-only mapping is fine. */
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 4, VA, 0, 0, out), 0);
	assert_int_equal(out[0] & PFN_FLAGS, PFN_VALID);
	assert_int_equal(out[3], 0);
}

static void test_einval_for_malformed_ranges(void **state)
{
	struct fixture *f = *state;
	__u64 out[2];

	map(f->mm, VA, 2 * PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA + 8, 1, VA + 8, 0, 0, out),
		-EINVAL);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 0, VA, 0, 0, out),
			 -EINVAL);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 1, VA + PG, 0, 0, out),
			 -EINVAL);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA + PG, 1, VA, 0, 0, out),
			 -EINVAL);
	assert_int_equal(gsim_mm_range_fault(f->mm, UINT64_MAX - PG + 1, 2,
					     UINT64_MAX, 0, 0, out),
			 -EINVAL);
	assert_int_equal(mm_stats(f->mm).resident_pages, 0);
}

static void test_window_may_cross_the_user_limit_edge(void **state)
{
	struct fixture *f = *state;
	uint64_t lim = gsim_mm_va_limit(f->mm);
	__u64 out[2];

	map(f->mm, lim - PG, PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, lim - PG, 2, lim - PG, 1, 1, out),
		0);
	assert_int_equal(out[0] & PFN_FLAGS, PFN_VALID | PFN_WRITE);
	assert_int_equal(out[1], 0);
}

static void test_seq_moves_across_invalidations_only(void **state)
{
	struct fixture *f = *state;
	uint64_t seq = gsim_mm_read_begin(f->mm);
	__u64 out[4];

	map(f->mm, VA, 4 * PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, 4, VA, 1, 1, out), 0);
	fill(f->mm, VA, 4 * PG, 3);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, 4 * PG, RW), 0);
	assert_false(gsim_mm_read_retry(f->mm, seq));

	assert_int_equal(gsim_mm_munmap(f->mm, VA + PG, PG), 0);
	assert_true(gsim_mm_read_retry(f->mm, seq));
	/* The notifier saw the sequence already moved. */
	assert_int_equal(f->log.calls, 1);
	assert_true(f->log.seq[0] != seq);
	assert_int_equal(f->log.seq[0], gsim_mm_read_begin(f->mm));

	seq = gsim_mm_read_begin(f->mm);
	assert_false(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, PG, RO), 0);
	assert_true(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(mm_stats(f->mm).seq, gsim_mm_read_begin(f->mm));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_faults_only_the_fault_page),
		T(test_populate_fills_mapped_pages_only),
		T(test_efault_outside_vmas_or_forbidden),
		T(test_einval_for_malformed_ranges),
		T(test_window_may_cross_the_user_limit_edge),
		T(test_seq_moves_across_invalidations_only),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
