// SPDX-License-Identifier: MIT
/*
 * guest_mm_lazy_zero_fill.c - mmap allocates nothing; each page is a fresh
 * zeroed frame on first touch (CPU read, CPU write, range_fault); the
 * page-table levels match va_bits; mmap validates its arguments and
 * places non-fixed mappings in free space.
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

static void test_mmap_allocates_nothing(void **state)
{
	struct fixture *f = *state;
	uint64_t used = gsim_ram_pages_used(f->ram);
	uint64_t va =
		map(f->mm, 0, 256 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);

	assert_int_equal(va % PG, 0);
	assert_int_equal(gsim_ram_pages_used(f->ram), used);
	assert_int_equal(mm_stats(f->mm).resident_pages, 0);
	assert_int_equal(gsim_mm_pte(f->mm, va), 0);
}

static void test_first_read_is_zero_and_allocates(void **state)
{
	struct fixture *f = *state;
	uint64_t used = gsim_ram_pages_used(f->ram);
	uint64_t va =
		map(f->mm, 0, 4 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);
	struct gsim_mm_stats st;
	uint64_t pte;

	assert_true(holds(f->mm, va + PG, PG, 0));
	st = mm_stats(f->mm);
	assert_int_equal(st.resident_pages, 1);
	assert_int_equal(st.page_faults, 1);
	/* One data frame plus the three tables below the root. */
	assert_int_equal(st.pt_frames, 4);
	assert_int_equal(gsim_ram_pages_used(f->ram), used + 4);

	pte = gsim_mm_pte(f->mm, va + PG);
	assert_true(pte & GSIM_PTE_PRESENT);
	/* A private frame of a writable mapping: writable at once. */
	assert_true(pte & GSIM_PTE_WRITE);
	assert_false(pte & GSIM_PTE_COW);
	assert_int_equal(gsim_ram_page_refs(f->ram, pte & GSIM_PTE_ADDR), 1);
	assert_int_equal(gsim_mm_pte(f->mm, va), 0);
	assert_int_equal(gsim_mm_pte(f->mm, va + 2 * PG), 0);
	/* Allocation alone never notifies. */
	assert_int_equal(f->log.calls, 0);
}

static void test_write_read_back_across_pages(void **state)
{
	struct fixture *f = *state;
	uint64_t va =
		map(f->mm, 0, 3 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);
	char in[6000], out[6000];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7);
	assert_int_equal(gsim_mm_write(f->mm, va + 100, in, sizeof(in)), 0);
	assert_int_equal(gsim_mm_read(f->mm, va + 100, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(mm_stats(f->mm).resident_pages, 2);
	/* Bytes around the write are still zero. */
	assert_true(holds(f->mm, va, 100, 0));
	assert_true(holds(f->mm, va + 100 + sizeof(in),
			  2 * PG - 100 - sizeof(in), 0));
}

static void test_ptr_reaches_the_frame(void **state)
{
	struct fixture *f = *state;
	uint64_t va =
		map(f->mm, 0, 2 * PG, GSIM_PROT_READ | GSIM_PROT_WRITE, 0);
	uint32_t *p = gsim_mm_ptr(f->mm, va + 8, 16, 1);
	uint32_t v = 0;

	assert_non_null(p);
	*p = 0xdeadbeef;
	assert_int_equal(gsim_mm_read(f->mm, va + 8, &v, sizeof(v)), 0);
	assert_int_equal(v, 0xdeadbeef);
	/* Within one page only. */
	assert_null(gsim_mm_ptr(f->mm, va + PG - 4, 8, 0));
	assert_null(gsim_mm_ptr(f->mm, va, 0, 0));
	assert_null(gsim_mm_ptr(f->mm, va + 2 * PG, 4, 0));
}

static void test_five_level_table(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *mm = gsim_mm_create(f->ram, 57);
	uint64_t va, top;

	assert_non_null(mm);
	assert_int_equal(gsim_mm_va_limit(mm), 1ull << 56);
	/* Above the 4-level limit: only a 5-level table reaches it. */
	top = (1ull << 55) + 0x1000000;
	va = map(mm, top, PG, GSIM_PROT_READ | GSIM_PROT_WRITE, GSIM_MAP_FIXED);
	assert_int_equal(va, top);
	fill(mm, va, PG, 0x77);
	assert_true(holds(mm, va, PG, 0x77));
	assert_int_equal(mm_stats(mm).pt_frames, 5);
	gsim_mm_destroy(mm);

	assert_null(gsim_mm_create(f->ram, 39));
	assert_null(gsim_mm_create(f->ram, 47));
	assert_int_equal(gsim_mm_va_limit(f->mm), 1ull << 47);
}

static void test_mmap_rejects_bad_arguments(void **state)
{
	struct fixture *f = *state;
	uint64_t va, lim = gsim_mm_va_limit(f->mm);
	const unsigned int rw = GSIM_PROT_READ | GSIM_PROT_WRITE;

	assert_int_equal(gsim_mm_mmap(f->mm, 0, 0, rw, 0, &va), -EINVAL);
	assert_int_equal(gsim_mm_mmap(f->mm, 0, PG, 4, 0, &va), -EINVAL);
	assert_int_equal(gsim_mm_mmap(f->mm, 0, PG, rw, 2, &va), -EINVAL);
	assert_int_equal(
		gsim_mm_mmap(f->mm, 0x100001, PG, rw, GSIM_MAP_FIXED, &va),
		-EINVAL);
	/* NULL stays unmapped, and the user half ends at the limit. */
	assert_int_equal(gsim_mm_mmap(f->mm, 0, PG, rw, GSIM_MAP_FIXED, &va),
			 -EINVAL);
	assert_int_equal(
		gsim_mm_mmap(f->mm, lim - PG, 2 * PG, rw, GSIM_MAP_FIXED, &va),
		-EINVAL);
	assert_int_equal(gsim_mm_mmap(f->mm, 0, UINT64_MAX, rw, 0, &va),
			 -EINVAL);
	assert_int_equal(
		gsim_mm_mmap(f->mm, lim - PG, PG, rw, GSIM_MAP_FIXED, &va), 0);
	assert_int_equal(va, lim - PG);
	assert_int_equal(mm_stats(f->mm).vmas, 1);
}

static void test_mmap_places_in_free_space(void **state)
{
	struct fixture *f = *state;
	const unsigned int rw = GSIM_PROT_READ | GSIM_PROT_WRITE;
	uint64_t a, b, c, hint = 0x40000000;
	struct gsim_mm_vma v[4];

	a = map(f->mm, 0, 3 * PG, rw, 0);
	b = map(f->mm, 0, 5000, GSIM_PROT_READ, 0); /* rounds to 2 pages */
	assert_true(b + 2 * PG <= a || a + 3 * PG <= b);
	/* A free hint is honoured; a taken one is not. */
	c = map(f->mm, hint, PG, rw, 0);
	assert_int_equal(c, hint);
	c = map(f->mm, hint, PG, rw, 0);
	assert_int_not_equal(c, hint);
	assert_int_equal(gsim_mm_vmas(f->mm, v, 4), 4);
	assert_int_equal(v[0].start, hint);
	assert_int_equal(v[0].end - v[0].start, PG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_mmap_allocates_nothing),
		T(test_first_read_is_zero_and_allocates),
		T(test_write_read_back_across_pages),
		T(test_ptr_reaches_the_frame),
		T(test_five_level_table),
		T(test_mmap_rejects_bad_arguments),
		T(test_mmap_places_in_free_space),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
