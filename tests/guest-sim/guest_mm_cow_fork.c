// SPDX-License-Identifier: MIT
/*
 * guest_mm_cow_fork.c - fork shares every frame copy-on-write: the child
 * sees the parent's data; the parent's notifier is called for its writable
 * pages while they are still writable, before they are write-protected;
 * writes on either side stay private (a shared frame is copied, with the
 * notifier called first; an unshared one is reused in place, silently);
 * reference counts follow; range_fault never reports a COW-shared frame
 * writable; everything is freed once both processes exit.
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

#define RW	  (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define RO	  GSIM_PROT_READ
#define VA	  0x40000000ull
#define N	  4u
#define PFN_VALID (1ull << 0) /* VSVMG_PFN_VALID */
#define PFN_WRITE (1ull << 1) /* VSVMG_PFN_WRITE */

static const char *check_still_writable(struct notify_log *log, uint64_t va,
					uint64_t len)
{
	uint64_t p;

	for (p = va; p < va + len; p += PG)
		if (!(gsim_mm_pte(log->mm, p) & GSIM_PTE_WRITE))
			return "write-protected before the notifier";
	return NULL;
}

struct cow_expect {
	uint64_t old_gpa;
	struct gsim_ram *ram;
};

/* Inside a COW-break notifier: the entry still maps the shared frame. */
static const char *check_still_shared(struct notify_log *log, uint64_t va,
				      uint64_t len)
{
	struct cow_expect *x = log->priv;
	uint64_t pte = gsim_mm_pte(log->mm, va);

	if (len != PG)
		return "a COW break invalidates one page";
	if ((pte & GSIM_PTE_ADDR) != x->old_gpa || !(pte & GSIM_PTE_COW))
		return "entry replaced before the notifier";
	if (gsim_ram_page_refs(x->ram, x->old_gpa) < 2)
		return "shared frame released before the notifier";
	return NULL;
}

static struct gsim_mm *fork_filled(struct fixture *f)
{
	struct gsim_mm *child;
	unsigned int i;

	map(f->mm, VA, N * PG, RW, GSIM_MAP_FIXED);
	for (i = 0; i < N; i++)
		fill(f->mm, VA + i * PG, PG, (uint8_t)(0x10 + i));
	f->log.check = check_still_writable;
	child = gsim_mm_fork(f->mm);
	assert_non_null(child);
	f->log.check = NULL;
	assert_null(f->log.error);
	return child;
}

static void test_child_sees_parent_data(void **state)
{
	struct fixture *f = *state;
	uint64_t used = gsim_ram_pages_used(f->ram);
	struct gsim_mm *child;
	struct gsim_mm_vma v[2];
	unsigned int i;

	child = fork_filled(f);
	used = gsim_ram_pages_used(f->ram) - used;
	/* N data frames and 3 tables in the parent; only 4 tables more. */
	assert_int_equal(used, N + 3 + 4);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA);
	assert_int_equal(f->log.len[0], N * PG);

	for (i = 0; i < N; i++) {
		uint64_t va = VA + i * PG;
		uint64_t pp = gsim_mm_pte(f->mm, va),
			 cp = gsim_mm_pte(child, va);

		assert_true(holds(child, va, PG, (uint8_t)(0x10 + i)));
		assert_int_equal(pp, cp);
		assert_true(pp & GSIM_PTE_COW);
		assert_false(pp & GSIM_PTE_WRITE);
		assert_int_equal(gsim_ram_page_refs(f->ram, pp & GSIM_PTE_ADDR),
				 2);
	}
	assert_int_equal(gsim_mm_vmas(child, v, 2), 1);
	assert_int_equal(v[0].start, VA);
	assert_int_equal(v[0].prot, RW);
	assert_int_equal(mm_stats(child).resident_pages, N);
	assert_int_equal(mm_stats(child).notifier_calls, 0);
	gsim_mm_destroy(child);
	for (i = 0; i < N; i++)
		assert_int_equal(
			gsim_ram_page_refs(f->ram, pte_gpa(f->mm, VA + i * PG)),
			1);
}

static void test_writes_are_private_after_cow(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child = fork_filled(f);
	struct cow_expect x = { .old_gpa = pte_gpa(f->mm, VA), .ram = f->ram };
	struct gsim_mm_stats st;

	/* Parent writes a shared frame: notify, copy, remap. */
	f->log.calls = 0;
	f->log.check = check_still_shared;
	f->log.priv = &x;
	fill(f->mm, VA, PG, 0xaa);
	f->log.check = NULL;
	assert_null(f->log.error);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA);
	assert_int_not_equal(pte_gpa(f->mm, VA), x.old_gpa);
	assert_true(gsim_mm_pte(f->mm, VA) & GSIM_PTE_WRITE);
	assert_false(gsim_mm_pte(f->mm, VA) & GSIM_PTE_COW);
	assert_int_equal(gsim_ram_page_refs(f->ram, x.old_gpa), 1);
	assert_true(holds(child, VA, PG, 0x10));
	st = mm_stats(f->mm);
	assert_int_equal(st.cow_breaks, 1);
	assert_int_equal(st.cow_reuses, 0);

	/* The child is now alone on the old frame: reused, not copied. */
	fill(child, VA, PG, 0xcc);
	assert_int_equal(pte_gpa(child, VA), x.old_gpa);
	assert_int_equal(mm_stats(child).cow_reuses, 1);
	assert_int_equal(mm_stats(child).cow_breaks, 0);
	assert_true(holds(f->mm, VA, PG, 0xaa));

	/* The child writes a still-shared frame: its own copy. */
	fill(child, VA + PG, PG, 0xdd);
	assert_int_equal(mm_stats(child).cow_breaks, 1);
	assert_true(holds(f->mm, VA + PG, PG, 0x11));
	assert_true(holds(child, VA + PG, PG, 0xdd));
	assert_int_equal(f->log.calls, 1); /* not the parent's business */

	gsim_mm_destroy(child);
	/* The parent keeps what it had; nothing of the child remains. */
	assert_true(holds(f->mm, VA, PG, 0xaa));
	assert_true(holds(f->mm, VA + 3 * PG, PG, 0x13));
}

static void test_range_fault_never_reports_shared_writable(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child = fork_filled(f);
	uint64_t seq, old = pte_gpa(f->mm, VA + 2 * PG);
	__u64 out[N];
	unsigned int i;

	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA, 0, 0, out), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(out[i] & (PFN_VALID | PFN_WRITE), PFN_VALID);

	/* A device write fault breaks COW for that page only. */
	seq = gsim_mm_read_begin(f->mm);
	f->log.calls = 0;
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, N, VA + 2 * PG, 1, 0, out), 0);
	assert_true(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + 2 * PG);
	assert_int_equal(out[2] & (PFN_VALID | PFN_WRITE),
			 PFN_VALID | PFN_WRITE);
	assert_int_not_equal(out[2] & GSIM_PTE_ADDR, old);
	assert_int_equal(out[1] & PFN_WRITE, 0);
	assert_int_equal(out[3] & PFN_WRITE, 0);
	assert_true(holds(f->mm, VA + 2 * PG, PG, 0x12));

	/* The retry finds it writable: no second invalidation. */
	seq = gsim_mm_read_begin(f->mm);
	assert_int_equal(
		gsim_mm_range_fault(f->mm, VA, N, VA + 2 * PG, 1, 0, out), 0);
	assert_false(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(f->log.calls, 1);
	gsim_mm_destroy(child);
}

static void test_unshared_after_child_exit_is_reused(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child = fork_filled(f);
	uint64_t gpa = pte_gpa(f->mm, VA), seq;

	gsim_mm_destroy(child);
	assert_int_equal(gsim_ram_page_refs(f->ram, gpa), 1);
	f->log.calls = 0;
	seq = gsim_mm_read_begin(f->mm);
	fill(f->mm, VA, PG, 0xee);
	/* Upgrading access needs no invalidation. */
	assert_int_equal(f->log.calls, 0);
	assert_false(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(pte_gpa(f->mm, VA), gpa);
	assert_int_equal(mm_stats(f->mm).cow_reuses, 1);
}

static void test_readonly_mapping_stays_cow_after_mprotect(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child;
	uint64_t gpa;

	map(f->mm, VA, PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, PG, 0x31);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, PG, RO), 0);
	f->log.calls = 0;
	child = gsim_mm_fork(f->mm);
	assert_non_null(child);
	/* Nothing writable: the fork needed no invalidation. */
	assert_int_equal(f->log.calls, 0);
	gpa = pte_gpa(child, VA);
	assert_true(gsim_mm_pte(child, VA) & GSIM_PTE_COW);

	/* Made writable again, the shared frame must still be copied. */
	assert_int_equal(gsim_mm_mprotect(child, VA, PG, RW), 0);
	assert_false(gsim_mm_pte(child, VA) & GSIM_PTE_WRITE);
	fill(child, VA, PG, 0x32);
	assert_int_not_equal(pte_gpa(child, VA), gpa);
	assert_true(holds(f->mm, VA, PG, 0x31));
	gsim_mm_destroy(child);
}

static void test_fork_of_fork_counts_three(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child = fork_filled(f), *grandchild;
	uint64_t gpa = pte_gpa(f->mm, VA);

	grandchild = gsim_mm_fork(child);
	assert_non_null(grandchild);
	assert_int_equal(gsim_ram_page_refs(f->ram, gpa), 3);
	assert_true(holds(grandchild, VA + 3 * PG, PG, 0x13));
	fill(child, VA, PG, 1);
	assert_int_equal(gsim_ram_page_refs(f->ram, gpa), 2);
	/* Parent exits first; the others keep their data. */
	gsim_mm_destroy(f->mm);
	f->mm = NULL;
	assert_int_equal(gsim_ram_page_refs(f->ram, gpa), 1);
	assert_true(holds(grandchild, VA, PG, 0x10));
	assert_true(holds(child, VA, PG, 1));
	gsim_mm_destroy(child);
	gsim_mm_destroy(grandchild);
	/* fixture_teardown: guest RAM back at its baseline. */
}

static void test_fork_of_untouched_mapping(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm *child;

	map(f->mm, VA, N * PG, RW, GSIM_MAP_FIXED);
	child = gsim_mm_fork(f->mm);
	assert_non_null(child);
	assert_int_equal(f->log.calls, 0);
	assert_int_equal(mm_stats(child).pt_frames, 1);
	/* Each side faults its own zero page. */
	fill(child, VA, PG, 9);
	assert_true(holds(f->mm, VA, PG, 0));
	assert_int_not_equal(pte_gpa(f->mm, VA), pte_gpa(child, VA));
	gsim_mm_destroy(child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_child_sees_parent_data),
		T(test_writes_are_private_after_cow),
		T(test_range_fault_never_reports_shared_writable),
		T(test_unshared_after_child_exit_is_reused),
		T(test_readonly_mapping_stays_cow_after_mprotect),
		T(test_fork_of_fork_counts_three),
		T(test_fork_of_untouched_mapping),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
