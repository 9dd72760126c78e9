// SPDX-License-Identifier: MIT
/*
 * guest_mm_vma_split.c - munmap and mprotect of part of a mapping split
 * its VMA (head, tail, middle), keep the data of the parts that remain,
 * free only the pages unmapped, and merge neighbours of equal protection
 * back; mprotect over a hole changes nothing.
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

#define RW (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define RO GSIM_PROT_READ
#define VA 0x20000000ull

static void expect_vma(const struct gsim_mm_vma *v, uint64_t start,
		       uint64_t end, unsigned int prot)
{
	assert_int_equal(v->start, start);
	assert_int_equal(v->end, end);
	assert_int_equal(v->prot, prot);
}

static void test_munmap_middle_splits_in_two(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_vma v[4];

	map(f->mm, VA, 10 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 10 * PG, 0x5e);
	assert_int_equal(gsim_mm_munmap(f->mm, VA + 3 * PG, 4 * PG), 0);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 2);
	expect_vma(&v[0], VA, VA + 3 * PG, RW);
	expect_vma(&v[1], VA + 7 * PG, VA + 10 * PG, RW);
	assert_int_equal(mm_stats(f->mm).resident_pages, 6);
	assert_true(holds(f->mm, VA, 3 * PG, 0x5e));
	assert_true(holds(f->mm, VA + 7 * PG, 3 * PG, 0x5e));
	assert_int_equal(gsim_mm_read(f->mm, VA + 3 * PG, v, 1), -EFAULT);
	assert_int_equal(gsim_mm_read(f->mm, VA + 7 * PG - 1, v, 1), -EFAULT);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + 3 * PG);
	assert_int_equal(f->log.len[0], 4 * PG);
}

static void test_munmap_head_and_tail(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_vma v[4];

	map(f->mm, VA, 10 * PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, 2 * PG), 0);
	assert_int_equal(gsim_mm_munmap(f->mm, VA + 8 * PG, 2 * PG), 0);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 1);
	expect_vma(&v[0], VA + 2 * PG, VA + 8 * PG, RW);
	/* One munmap across two mappings and the hole between them. */
	map(f->mm, VA + 9 * PG, 4 * PG, RO, GSIM_MAP_FIXED);
	assert_int_equal(gsim_mm_munmap(f->mm, VA + 6 * PG, 5 * PG), 0);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 2);
	expect_vma(&v[0], VA + 2 * PG, VA + 6 * PG, RW);
	expect_vma(&v[1], VA + 11 * PG, VA + 13 * PG, RO);
}

static void test_mprotect_middle_splits_in_three_and_merges(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_vma v[4];

	map(f->mm, VA, 10 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 10 * PG, 0x21);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA + 4 * PG, 2 * PG, RO), 0);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 3);
	expect_vma(&v[0], VA, VA + 4 * PG, RW);
	expect_vma(&v[1], VA + 4 * PG, VA + 6 * PG, RO);
	expect_vma(&v[2], VA + 6 * PG, VA + 10 * PG, RW);
	assert_false(gsim_mm_pte(f->mm, VA + 4 * PG) & GSIM_PTE_WRITE);
	assert_true(gsim_mm_pte(f->mm, VA + 3 * PG) & GSIM_PTE_WRITE);
	assert_true(gsim_mm_pte(f->mm, VA + 6 * PG) & GSIM_PTE_WRITE);
	assert_true(holds(f->mm, VA, 10 * PG, 0x21));

	/* Back to read-write: one VMA again, data unchanged. */
	assert_int_equal(gsim_mm_mprotect(f->mm, VA + 4 * PG, 2 * PG, RW), 0);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 1);
	expect_vma(&v[0], VA, VA + 10 * PG, RW);
	assert_true(gsim_mm_pte(f->mm, VA + 4 * PG) & GSIM_PTE_WRITE);
	assert_true(holds(f->mm, VA, 10 * PG, 0x21));
	assert_int_equal(mm_stats(f->mm).resident_pages, 10);
}

static void test_adjacent_mmaps_merge(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_vma v[4];

	map(f->mm, VA, 2 * PG, RW, GSIM_MAP_FIXED);
	map(f->mm, VA + 2 * PG, 2 * PG, RW, GSIM_MAP_FIXED);
	map(f->mm, VA + 4 * PG, 2 * PG, RO, GSIM_MAP_FIXED);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 2);
	expect_vma(&v[0], VA, VA + 4 * PG, RW);
	expect_vma(&v[1], VA + 4 * PG, VA + 6 * PG, RO);
}

static void test_mprotect_over_hole_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_vma v[4];

	map(f->mm, VA, 2 * PG, RW, GSIM_MAP_FIXED);
	map(f->mm, VA + 3 * PG, 2 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 2 * PG, 1);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, 5 * PG, RO), -ENOMEM);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 2);
	expect_vma(&v[0], VA, VA + 2 * PG, RW);
	assert_true(gsim_mm_pte(f->mm, VA) & GSIM_PTE_WRITE);
	assert_int_equal(f->log.calls, 0);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA + 1, PG, RO), -EINVAL);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, PG, 8), -EINVAL);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, 0, RO), -EINVAL);
}

static void test_split_tables_freed_only_when_empty(void **state)
{
	struct fixture *f = *state;
	/* Two pages in one leaf table, 2 MiB apart in two. */
	uint64_t a = VA, b = VA + PG, c = VA + (2ull << 20);

	map(f->mm, VA, 4ull << 20, RW, GSIM_MAP_FIXED);
	fill(f->mm, a, PG, 1);
	fill(f->mm, b, PG, 2);
	fill(f->mm, c, PG, 3);
	assert_int_equal(mm_stats(f->mm).pt_frames, 1 + 2 + 2);
	assert_int_equal(gsim_mm_munmap(f->mm, a, PG), 0);
	assert_int_equal(mm_stats(f->mm).pt_frames, 5);
	assert_int_equal(gsim_mm_munmap(f->mm, b, PG), 0);
	assert_int_equal(mm_stats(f->mm).pt_frames, 4);
	assert_true(holds(f->mm, c, PG, 3));
	assert_int_equal(gsim_mm_munmap(f->mm, c, PG), 0);
	assert_int_equal(mm_stats(f->mm).pt_frames, 1);
	assert_int_equal(mm_stats(f->mm).resident_pages, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_munmap_middle_splits_in_two),
		T(test_munmap_head_and_tail),
		T(test_mprotect_middle_splits_in_three_and_merges),
		T(test_adjacent_mmaps_merge),
		T(test_mprotect_over_hole_changes_nothing),
		T(test_split_tables_freed_only_when_empty),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
