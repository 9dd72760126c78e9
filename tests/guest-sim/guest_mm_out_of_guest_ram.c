// SPDX-License-Identifier: MIT
/*
 * guest_mm_out_of_guest_ram.c - when guest RAM runs out, faults fail
 * cleanly with -ENOMEM (CPU access and range_fault), a fork fails without
 * hurting the parent or leaking the child's frames, and freeing memory
 * makes everything work again.
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

#include "guest_mm.h"
#include "guest_ram.h"

#define PG     GSIM_PAGE_SIZE
#define RW     (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define VA     0x10000000ull
#define NPAGES 1024u /* more than a 4 MiB guest RAM has */

/* Write one tag per page until guest RAM is full; return pages written. */
static unsigned int fill_until_full(struct gsim_mm *mm)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < NPAGES; i++) {
		ret = gsim_mm_write(mm, VA + i * PG, &i, sizeof(i));
		if (ret)
			break;
	}
	assert_int_equal(ret, -ENOMEM);
	return i;
}

static void test_exhaustion_is_a_clean_error(void **state)
{
	struct gsim_ram *ram = gsim_ram_create(4ull << 20);
	struct gsim_mm *mm, *child;
	uint64_t base, va, used;
	unsigned int n, i, v;
	__u64 out[1];

	(void)state;
	assert_non_null(ram);
	base = gsim_ram_pages_used(ram);
	mm = gsim_mm_create(ram, 48);
	assert_non_null(mm);
	assert_int_equal(
		gsim_mm_mmap(mm, VA, NPAGES * PG, RW, GSIM_MAP_FIXED, &va), 0);
	n = fill_until_full(mm);
	assert_true(n > 100);

	/* Every way of faulting a new page now fails the same way. */
	assert_int_equal(gsim_mm_read(mm, VA + (NPAGES - 1) * PG, &v, 1),
			 -ENOMEM);
	assert_int_equal(gsim_mm_range_fault(mm, VA + (NPAGES - 1) * PG, 1,
					     VA + (NPAGES - 1) * PG, 0, 0, out),
			 -ENOMEM);
	assert_null(gsim_mm_ptr(mm, VA + (NPAGES - 1) * PG, 4, 1));
	assert_null(gsim_mm_fork(mm));
	/* Pages already there still work. */
	for (i = 0; i < n; i += 97) {
		assert_int_equal(gsim_mm_read(mm, VA + i * PG, &v, sizeof(v)),
				 0);
		assert_int_equal(v, i);
	}

	/* Room for the child's tables but not all: fork fails cleanly. */
	assert_int_equal(gsim_mm_munmap(mm, VA, 4 * PG), 0);
	used = gsim_ram_pages_used(ram);
	assert_null(gsim_mm_fork(mm));
	assert_int_equal(gsim_ram_pages_used(ram), used);
	for (i = 4; i < n; i += 89) {
		assert_int_equal(gsim_mm_read(mm, VA + i * PG, &v, sizeof(v)),
				 0);
		assert_int_equal(v, i);
		/* Parent frames were COW-marked but are not shared. */
		assert_int_equal(gsim_mm_write(mm, VA + i * PG, &i, sizeof(i)),
				 0);
	}

	/* Freed memory is usable again, by faults and by fork. */
	assert_int_equal(
		gsim_mm_munmap(mm, VA + (n / 2) * PG, (NPAGES - n / 2) * PG),
		0);
	assert_int_equal(
		gsim_mm_write(mm, VA + (n / 2) * PG - PG, &n, sizeof(n)), 0);
	child = gsim_mm_fork(mm);
	assert_non_null(child);
	gsim_mm_destroy(child);
	gsim_mm_destroy(mm);
	assert_int_equal(gsim_ram_pages_used(ram), base);
	gsim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustion_is_a_clean_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
