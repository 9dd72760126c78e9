// SPDX-License-Identifier: MIT
/*
 * guest_mm_munmap_notifies.c - munmap, MAP_FIXED over a mapping and exit
 * call the notifier once, for the span of present pages, BEFORE any entry
 * changes or frame is freed (checked from inside the notifier), with the
 * sequence already bumped; afterwards every frame and emptied page-table
 * frame is back in guest RAM.  Untouched ranges cost no notifier call.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsim_mm_test.h"

#define RW (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define VA 0x10000000ull

struct expect {
	struct gsim_ram *ram;
	uint64_t gpa[16]; /* frames mapped at VA + i * PG, 0 if none */
	uint8_t byte;
	uint64_t seq_before;
	unsigned int checked;
};

/* Inside the notifier: the frames are still mapped, counted and intact. */
static const char *check_still_mapped(struct notify_log *log, uint64_t va,
				      uint64_t len)
{
	struct expect *x = log->priv;
	uint64_t p;

	if (log->seq[log->calls - 1] <= x->seq_before)
		return "sequence not bumped before the notifier";
	for (p = va; p < va + len; p += PG) {
		uint64_t i = (p - VA) / PG, pte = gsim_mm_pte(log->mm, p);
		const uint8_t *data;

		if (i >= 16)
			return "notified outside the expected pages";
		if (!x->gpa[i])
			continue;
		if (!(pte & GSIM_PTE_PRESENT) ||
		    (pte & GSIM_PTE_ADDR) != x->gpa[i])
			return "entry changed before the notifier";
		if (gsim_ram_page_refs(x->ram, x->gpa[i]) < 1)
			return "frame freed before the notifier";
		data = gsim_ram_ptr(x->ram, x->gpa[i], PG);
		if (data[0] != x->byte || data[PG - 1] != x->byte)
			return "frame contents gone before the notifier";
		x->checked++;
	}
	return NULL;
}

static void arm(struct fixture *f, struct expect *x, uint8_t byte,
		unsigned int npages)
{
	unsigned int i;

	memset(x, 0, sizeof(*x));
	x->ram = f->ram;
	x->byte = byte;
	for (i = 0; i < npages; i++)
		x->gpa[i] = pte_gpa(f->mm, VA + i * PG);
	x->seq_before = gsim_mm_read_begin(f->mm);
	f->log.check = check_still_mapped;
	f->log.priv = x;
}

static void test_munmap_notifies_before_free(void **state)
{
	struct fixture *f = *state;
	uint64_t used = gsim_ram_pages_used(f->ram);
	struct expect x;
	unsigned int i;

	map(f->mm, VA, 4 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 4 * PG, 0x3c);
	assert_int_equal(gsim_ram_pages_used(f->ram), used + 4 + 3);
	arm(f, &x, 0x3c, 4);

	assert_int_equal(gsim_mm_munmap(f->mm, VA, 4 * PG), 0);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA);
	assert_int_equal(f->log.len[0], 4 * PG);
	assert_int_equal(x.checked, 4);
	assert_null(f->log.error);

	/* Frames and the emptied tables are freed, frames poisoned. */
	assert_int_equal(gsim_ram_pages_used(f->ram), used);
	for (i = 0; i < 4; i++) {
		const uint8_t *data = gsim_ram_ptr(f->ram, x.gpa[i], PG);

		assert_int_equal(gsim_ram_page_refs(f->ram, x.gpa[i]), 0);
		assert_int_equal(data[0], GSIM_POISON);
		assert_int_equal(gsim_mm_pte(f->mm, VA + i * PG), 0);
	}
	assert_int_equal(mm_stats(f->mm).resident_pages, 0);
	assert_int_equal(mm_stats(f->mm).pt_frames, 1);
	assert_int_equal(mm_stats(f->mm).notifier_calls, 1);
	assert_int_equal(mm_stats(f->mm).vmas, 0);
	assert_int_equal(gsim_mm_read(f->mm, VA, &i, 1), -EFAULT);
}

static void test_span_covers_present_pages_only(void **state)
{
	struct fixture *f = *state;
	struct expect x;

	map(f->mm, VA, 16 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA + 3 * PG, PG, 9);
	fill(f->mm, VA + 9 * PG, PG, 9);
	arm(f, &x, 9, 16);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, 16 * PG), 0);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + 3 * PG);
	assert_int_equal(f->log.len[0], 7 * PG);
	assert_int_equal(x.checked, 2);
	assert_null(f->log.error);
}

static void test_untouched_range_needs_no_notifier(void **state)
{
	struct fixture *f = *state;
	uint64_t seq = gsim_mm_read_begin(f->mm);

	map(f->mm, VA, 64 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, PG, 1);
	assert_int_equal(gsim_mm_munmap(f->mm, VA + PG, 63 * PG), 0);
	assert_int_equal(f->log.calls, 0);
	assert_false(gsim_mm_read_retry(f->mm, seq));
	/* Unmapping a hole is fine and silent too. */
	assert_int_equal(gsim_mm_munmap(f->mm, 0x40000000, PG), 0);
	assert_int_equal(f->log.calls, 0);
	assert_true(holds(f->mm, VA, PG, 1));
}

static void test_munmap_rejects_bad_ranges(void **state)
{
	struct fixture *f = *state;
	uint64_t lim = gsim_mm_va_limit(f->mm);

	assert_int_equal(gsim_mm_munmap(f->mm, VA + 1, PG), -EINVAL);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, 0), -EINVAL);
	assert_int_equal(gsim_mm_munmap(f->mm, lim - PG, 2 * PG), -EINVAL);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, UINT64_MAX), -EINVAL);
	assert_int_equal(gsim_mm_munmap(f->mm, lim, PG), -EINVAL);
	/* A length rounds up to whole pages. */
	map(f->mm, VA, 2 * PG, RW, GSIM_MAP_FIXED);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, 1), 0);
	assert_int_equal(gsim_mm_read(f->mm, VA + PG - 1, &lim, 1), -EFAULT);
	assert_int_equal(gsim_mm_read(f->mm, VA + PG, &lim, 1), 0);
}

static void test_map_fixed_over_mapping_notifies(void **state)
{
	struct fixture *f = *state;
	uint64_t used = gsim_ram_pages_used(f->ram);
	struct expect x;

	map(f->mm, VA, 4 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, 4 * PG, 0x11);
	arm(f, &x, 0x11, 4);
	map(f->mm, VA + PG, 2 * PG, GSIM_PROT_READ, GSIM_MAP_FIXED);
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + PG);
	assert_int_equal(f->log.len[0], 2 * PG);
	assert_int_equal(x.checked, 2);
	/* The replaced pages are fresh and zero; the others kept data. */
	assert_true(holds(f->mm, VA + PG, 2 * PG, 0));
	assert_true(holds(f->mm, VA, PG, 0x11));
	assert_true(holds(f->mm, VA + 3 * PG, PG, 0x11));
	assert_int_equal(mm_stats(f->mm).vmas, 3);
	assert_null(f->log.error);
	f->log.check = NULL;
	assert_int_equal(gsim_mm_munmap(f->mm, VA, 4 * PG), 0);
	assert_int_equal(gsim_ram_pages_used(f->ram), used);
}

static void test_exit_notifies_everything_mapped(void **state)
{
	struct fixture *f = *state;
	struct expect x;

	map(f->mm, VA, 8 * PG, RW, GSIM_MAP_FIXED);
	map(f->mm, 0x7f0000000000ull, 2 * PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA + PG, 6 * PG, 0x42);
	arm(f, &x, 0x42, 8);
	gsim_mm_destroy(f->mm);
	f->mm = NULL;
	/* Only the first mapping holds pages: one call over its span. */
	assert_int_equal(f->log.calls, 1);
	assert_int_equal(f->log.va[0], VA + PG);
	assert_int_equal(f->log.len[0], 6 * PG);
	assert_int_equal(x.checked, 6);
	assert_null(f->log.error);
	/* fixture_teardown checks guest RAM is back at its baseline. */
}

static void test_no_notifier_still_bumps_seq(void **state)
{
	struct fixture *f = *state;
	uint64_t seq;

	gsim_mm_set_notifier(f->mm, NULL, NULL);
	map(f->mm, VA, PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, PG, 5);
	seq = gsim_mm_read_begin(f->mm);
	assert_int_equal(gsim_mm_munmap(f->mm, VA, PG), 0);
	assert_true(gsim_mm_read_retry(f->mm, seq));
	assert_int_equal(mm_stats(f->mm).notifier_calls, 0);
}

static int reenter(void *arg, uint64_t va, uint64_t len, const void *owner)
{
	(void)owner;
	return gsim_mm_munmap(arg, va, len);
}

static void test_notifier_reentry_aborts(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	map(f->mm, VA, PG, RW, GSIM_MAP_FIXED);
	fill(f->mm, VA, PG, 5);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Silence the expected message. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		gsim_mm_set_notifier(f->mm, reenter, f->mm);
		gsim_mm_munmap(f->mm, VA, PG);
		_exit(0); /* a deadlock would hang instead */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_munmap_notifies_before_free),
		T(test_span_covers_present_pages_only),
		T(test_untouched_range_needs_no_notifier),
		T(test_munmap_rejects_bad_ranges),
		T(test_map_fixed_over_mapping_notifies),
		T(test_exit_notifies_everything_mapped),
		T(test_no_notifier_still_bumps_seq),
		T(test_notifier_reentry_aborts),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
