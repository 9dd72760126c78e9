// SPDX-License-Identifier: MIT
/*
 * guest_mm_identical_va.c - two processes map the same VA (MAP_FIXED) and
 * hold different data there, in different frames; neither sees the
 * other's writes, and range_fault reports each process its own frames.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "gsim_mm_test.h"

#define VA     0x7f0000000000ull
#define NPAGES 8u

static void test_same_va_different_data(void **state)
{
	struct fixture *f = *state;
	const unsigned int rw = GSIM_PROT_READ | GSIM_PROT_WRITE;
	struct gsim_mm *other = gsim_mm_create(f->ram, 48);
	__u64 pa[NPAGES], pb[NPAGES];
	unsigned int i, j;

	assert_non_null(other);
	assert_int_equal(map(f->mm, VA, NPAGES * PG, rw, GSIM_MAP_FIXED), VA);
	assert_int_equal(map(other, VA, NPAGES * PG, rw, GSIM_MAP_FIXED), VA);
	fill(f->mm, VA, NPAGES * PG, 0xaa);
	fill(other, VA, NPAGES * PG, 0xbb);
	assert_true(holds(f->mm, VA, NPAGES * PG, 0xaa));
	assert_true(holds(other, VA, NPAGES * PG, 0xbb));

	assert_int_equal(gsim_mm_range_fault(f->mm, VA, NPAGES, VA, 0, 0, pa),
			 0);
	assert_int_equal(gsim_mm_range_fault(other, VA, NPAGES, VA, 0, 0, pb),
			 0);
	for (i = 0; i < NPAGES; i++)
		for (j = 0; j < NPAGES; j++)
			assert_int_not_equal(pa[i] & GSIM_PTE_ADDR,
					     pb[j] & GSIM_PTE_ADDR);

	/* Unmapping in one leaves the other's data alone. */
	assert_int_equal(gsim_mm_munmap(f->mm, VA, NPAGES * PG), 0);
	assert_true(holds(other, VA, NPAGES * PG, 0xbb));
	gsim_mm_destroy(other);
}

static void test_same_va_non_fixed(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *other = gsim_mm_create(f->ram, 48);
	uint64_t a, b;

	assert_non_null(other);
	/* Same history, same placement, as two fresh processes would get. */
	a = map(f->mm, 0, 4 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);
	b = map(other, 0, 4 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);
	assert_int_equal(a, b);
	fill(f->mm, a, 4 * PG, 1);
	assert_true(holds(other, b, 4 * PG, 0));
	assert_int_not_equal(pte_gpa(f->mm, a), pte_gpa(other, b));
	gsim_mm_destroy(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_va_different_data,
						fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_same_va_non_fixed,
						fixture_setup,
						fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
