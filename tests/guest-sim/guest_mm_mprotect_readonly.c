// SPDX-License-Identifier: MIT
/*
 * guest_mm_mprotect_readonly.c - taking write access away calls the
 * notifier for the writable pages before their entries lose the write
 * bit; afterwards range_fault reports them without VSVMG_PFN_WRITE, a
 * write fault gets -EFAULT and a CPU write fails with -EFAULT while reads
 * work.  Granting access back needs no notifier.  PROT_NONE takes all
 * access away but keeps the data.
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
#define VA	  0x30000000ull
#define N	  4u

/* VSVMG_PFN_* as vsvmg.h defines them (range_fault's output format). */
#define PFN_VALID (1ull << 0)
#define PFN_WRITE (1ull << 1)

/* Inside the notifier: every page of the range is still writable. */
static const char *check_still_writable(struct notify_log *log, uint64_t va,
					uint64_t len)
{
	uint64_t p;

	for (p = va; p < va + len; p += PG)
		if (!(gsim_mm_pte(log->mm, p) & GSIM_PTE_WRITE))
			return "write bit cleared before the notifier";
	return NULL;
}

static void test_readonly_notifies_then_refuses_writes(void **state)
{
	struct fixture *f = *state;
	uint64_t seq;
	__u64 out[N];
	unsigned int i;
	char c = 'x';

	map(f->mm, VA, N * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, N * PG, 0x66);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA, 1, 0, out), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(out[i] & (PFN_VALID | PFN_WRITE),
				 PFN_VALID | PFN_WRITE);

	seq = gsim_mm_read_begin(f->mm);
	f->log.check = check_still_writable;
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, RO), 0);
	assert_null(f->log.error);
	f->log.check = NULL;
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA);
	assert_int_equal(f->log.len[0], N * PG);
	assert_true(gsim_mm_read_retry(f->mm, seq));

	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA, 0, 0, out), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(out[i] & (PFN_VALID | PFN_WRITE), PFN_VALID);
		assert_int_equal(out[i] & GSIM_PTE_ADDR,
				 pte_gpa(f->mm, VA + i * PG));
	}
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA + PG, 1, 0, out),
			 -EFAULT);
	assert_int_equal(gsim_mm_write(f->mm, VA + 5, &c, 1), -EFAULT);
	assert_null(gsim_mm_ptr(f->mm, VA, 1, 1));
	assert_true(holds(f->mm, VA, N * PG, 0x66));

	/* Read-only again: nothing is writable, so nothing to invalidate. */
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, RO), 0);
	assert_int_equal(f->log.calls, 1);
}

static void test_upgrade_needs_no_notifier(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, seq;
	__u64 out[N];

	map(f->mm, VA, N * PG, RO, GSIM_MAP_FIXED);
	assert_true(holds(f->mm, VA, N * PG, 0)); /* fault in, read-only */
	gpa = pte_gpa(f->mm, VA);
	assert_false(gsim_mm_pte(f->mm, VA) & GSIM_PTE_WRITE);
	seq = gsim_mm_read_begin(f->mm);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, RW), 0);
	assert_int_equal(f->log.calls, 0);
	assert_false(gsim_mm_read_retry(f->mm, seq));
	/* The private frames are made writable in place. */
	assert_true(gsim_mm_pte(f->mm, VA) & GSIM_PTE_WRITE);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA, 1, 0, out), 0);
	assert_int_equal(out[0], gpa | PFN_VALID | PFN_WRITE);
	fill(f->mm, VA, N * PG, 0x12);
	assert_int_equal(pte_gpa(f->mm, VA), gpa);
	assert_int_equal(f->log.calls, 0);
}

static void test_partial_readonly_notifies_only_writable_span(void **state)
{
	struct fixture *f = *state;

	map(f->mm, VA, 8 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA + 5 * PG, PG, 1);
	assert_true(holds(f->mm, VA + 2 * PG, PG, 0));
	/* Pages 0-3 are untouched or writable only at 2; 5 is outside. */
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, 4 * PG, RO), 0);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + 2 * PG);
	assert_int_equal(f->log.len[0], PG);
	assert_true(gsim_mm_pte(f->mm, VA + 5 * PG) & GSIM_PTE_WRITE);
}

static void test_prot_none_takes_all_access_keeps_data(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, pte;
	__u64 out[N + 1];
	char c;

	map(f->mm, VA, N * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 2 * PG, 0x7a);
	gpa = pte_gpa(f->mm, VA);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, GSIM_PROT_NONE),
			 0);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA);
	assert_int_equal(f->log.len[0], 2 * PG);

	pte = gsim_mm_pte(f->mm, VA);
	assert_false(pte & GSIM_PTE_PRESENT);
	assert_true(pte & GSIM_PTE_PROTNONE);
	assert_int_equal(pte & GSIM_PTE_ADDR, gpa);
	assert_int_equal(mm_stats(f->mm).resident_pages, 2);
	assert_int_equal(gsim_mm_read(f->mm, VA, &c, 1), -EFAULT);
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA, 0, 1, out),
			 -EFAULT);

	/* A neighbour's fault window that covers the range reports 0. */
	map(f->mm, VA + N * PG, PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, N + 1, VA + N * PG, 0, 1, out),
		0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
	assert_int_equal(mm_stats(f->mm).resident_pages, 3);

	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, RO), 0);
	assert_int_equal(f->log.calls, 1);
	assert_true(holds(f->mm, VA, 2 * PG, 0x7a));
	assert_int_equal(pte_gpa(f->mm, VA), gpa);
	/* munmap of PROT_NONE pages frees them, no notifier needed. */
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, N * PG, GSIM_PROT_NONE),
			 0);
	assert_int_equal(f->log.calls, 2);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, N * PG), 0);
	assert_int_equal(f->log.calls, 2);
	assert_int_equal(mm_stats(f->mm).resident_pages, 1); /* neighbour */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_readonly_notifies_then_refuses_writes),
		T(test_upgrade_needs_no_notifier),
		T(test_partial_readonly_notifies_only_writable_span),
		T(test_prot_none_takes_all_access_keeps_data),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
