// SPDX-License-Identifier: MIT
/*
 * memtable_bounds.c - the guest memory table translates only ranges that
 * lie wholly inside one region: not in gaps, not across regions, not with
 * sums that wrap; it refuses bad tables and closes every fd it is given.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtable.h"
#include "svm_double.h"

#define MIB (1ull << 20)

static int make_memfd(uint64_t size)
{
	int fd = memfd_create("memtable-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Two regions: GPA [1M, 2M) and [4M, 5M), a gap between; UVAs elsewhere. */
struct two {
	struct vp_memtable mt;
	int fd;
};

static int setup_two(void **state)
{
	static struct two t;
	uint64_t gpa[2] = { 1 * MIB, 4 * MIB };
	uint64_t size[2] = { MIB, MIB };
	uint64_t uva[2] = { 0x7f0000000000ull, 0x7f0000100000ull };
	uint64_t off[2] = { 0, MIB };
	int fds[2];

	t.fd = make_memfd(2 * MIB);
	fds[0] = dup(t.fd);
	fds[1] = dup(t.fd);
	assert_int_equal(vp_memtable_build(&t.mt, 2, gpa, size, uva, off, fds),
			 0);
	assert_false(fd_is_open(fds[0]));
	assert_false(fd_is_open(fds[1]));
	*state = &t;
	return 0;
}

static int teardown_two(void **state)
{
	struct two *t = *state;

	vp_memtable_clear(&t->mt);
	close(t->fd);
	return 0;
}

static void lookup_inside_one_region_succeeds(void **state)
{
	struct two *t = *state;
	uint8_t *base = vp_memtable_gpa(&t->mt, 1 * MIB, 1);

	assert_non_null(base);
	assert_ptr_equal(vp_memtable_gpa(&t->mt, 1 * MIB, MIB), base);
	assert_ptr_equal(vp_memtable_gpa(&t->mt, 2 * MIB - 1, 1),
			 base + MIB - 1);
	assert_ptr_equal(vp_memtable_gpa(&t->mt, 1 * MIB + 100, 0), base + 100);
}

static void lookup_past_region_end_fails(void **state)
{
	struct two *t = *state;

	assert_null(vp_memtable_gpa(&t->mt, 1 * MIB, MIB + 1));
	assert_null(vp_memtable_gpa(&t->mt, 2 * MIB - 1, 2));
	assert_null(vp_memtable_gpa(&t->mt, 2 * MIB, 1));
	assert_null(vp_memtable_gpa(&t->mt, 2 * MIB, 0));
	assert_null(vp_memtable_gpa(&t->mt, 1 * MIB - 1, 1));
}

static void lookup_in_gap_fails(void **state)
{
	struct two *t = *state;

	assert_null(vp_memtable_gpa(&t->mt, 3 * MIB, 1));
	assert_null(vp_memtable_gpa(&t->mt, 2 * MIB, 2 * MIB));
	/* Spanning both regions and the gap is never one region. */
	assert_null(vp_memtable_gpa(&t->mt, 2 * MIB - 8, 2 * MIB + 16));
	assert_null(vp_memtable_gpa(&t->mt, 0, 1));
}

static void lookup_with_wrapping_sum_fails(void **state)
{
	struct two *t = *state;

	assert_null(vp_memtable_gpa(&t->mt, 1 * MIB, UINT64_MAX));
	assert_null(vp_memtable_gpa(&t->mt, 1 * MIB + 16, UINT64_MAX - 8));
	assert_null(vp_memtable_gpa(&t->mt, UINT64_MAX, 2));
	assert_null(vp_memtable_gpa(&t->mt, UINT64_MAX - 4, UINT64_MAX));
	assert_null(vp_memtable_uva(&t->mt, 0x7f0000000000ull, UINT64_MAX));
}

static void mmap_offset_selects_file_bytes(void **state)
{
	struct two *t = *state;
	uint8_t *second = vp_memtable_gpa(&t->mt, 4 * MIB, 1);
	uint8_t byte = 0x5a;

	/* Region 1 starts at file offset 1 MiB. */
	assert_int_equal(pwrite(t->fd, &byte, 1, (off_t)(MIB + 7)), 1);
	assert_non_null(second);
	assert_int_equal(second[7], 0x5a);
}

static void uva_and_gpa_are_separate_spaces(void **state)
{
	struct two *t = *state;

	assert_ptr_equal(vp_memtable_uva(&t->mt, 0x7f0000100000ull + 64, 8),
			 vp_memtable_gpa(&t->mt, 4 * MIB + 64, 8));
	assert_null(vp_memtable_uva(&t->mt, 1 * MIB, 1));
	assert_null(vp_memtable_gpa(&t->mt, 0x7f0000000000ull, 1));
	assert_null(vp_memtable_uva(&t->mt, 0x7f0000200000ull, 1));
}

static void build_refuses_overlapping_regions(void **state)
{
	uint64_t gpa[2] = { 0, MIB - 4096 };
	uint64_t size[2] = { MIB, MIB };
	uint64_t uva[2] = { 0x1000000, 0x2000000 };
	uint64_t off[2] = { 0, 0 };
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[2] = { dup(fd), dup(fd) };

	(void)state;
	assert_int_equal(vp_memtable_build(&mt, 2, gpa, size, uva, off, fds),
			 -EINVAL);
	assert_int_equal(mt.nr, 0);
	assert_false(fd_is_open(fds[0]));
	assert_false(fd_is_open(fds[1]));
	close(fd);
}

static void build_refuses_wrapping_or_empty_regions(void **state)
{
	uint64_t gpa[1], size[1], uva[1] = { 0x1000000 }, off[1] = { 0 };
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[1];

	(void)state;
	gpa[0] = UINT64_MAX - 4095;
	size[0] = 8192;
	fds[0] = dup(fd);
	assert_int_equal(vp_memtable_build(&mt, 1, gpa, size, uva, off, fds),
			 -EINVAL);
	assert_false(fd_is_open(fds[0]));

	gpa[0] = 0;
	size[0] = 0;
	fds[0] = dup(fd);
	assert_int_equal(vp_memtable_build(&mt, 1, gpa, size, uva, off, fds),
			 -EINVAL);

	size[0] = 4096;
	off[0] = UINT64_MAX - 100;
	fds[0] = dup(fd);
	assert_int_equal(vp_memtable_build(&mt, 1, gpa, size, uva, off, fds),
			 -EINVAL);
	close(fd);
}

static void build_refuses_file_shorter_than_region(void **state)
{
	uint64_t gpa[1] = { 0 }, size[1] = { 2 * MIB };
	uint64_t uva[1] = { 0x1000000 }, off[1] = { 0 };
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[1] = { dup(fd) };

	(void)state;
	/* Touching the second MiB would raise SIGBUS in the proxy. */
	assert_int_equal(vp_memtable_build(&mt, 1, gpa, size, uva, off, fds),
			 -EINVAL);
	assert_false(fd_is_open(fds[0]));
	close(fd);
}

static void build_refuses_too_many_regions(void **state)
{
	enum { N = VP_MEMTABLE_MAX_REGIONS + 1 };
	uint64_t gpa[N], size[N], uva[N], off[N];
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[N], i;

	(void)state;
	for (i = 0; i < N; i++) {
		gpa[i] = (uint64_t)i * MIB;
		size[i] = 4096;
		uva[i] = 0x10000000ull + (uint64_t)i * MIB;
		off[i] = 0;
		fds[i] = dup(fd);
	}
	assert_int_equal(vp_memtable_build(&mt, N, gpa, size, uva, off, fds),
			 -EINVAL);
	for (i = 0; i < N; i++)
		assert_false(fd_is_open(fds[i]));
	close(fd);
}

static void build_refuses_bad_fd_and_closes_the_rest(void **state)
{
	uint64_t gpa[2] = { 0, MIB }, size[2] = { 4096, 4096 };
	uint64_t uva[2] = { 0x1000000, 0x2000000 }, off[2] = { 0, 0 };
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[2] = { dup(fd), -1 };

	(void)state;
	assert_int_equal(vp_memtable_build(&mt, 2, gpa, size, uva, off, fds),
			 -EINVAL);
	assert_false(fd_is_open(fds[0]));
	close(fd);
}

static void clear_empties_the_table(void **state)
{
	uint64_t gpa[1] = { 0 }, size[1] = { MIB };
	uint64_t uva[1] = { 0x1000000 }, off[1] = { 0 };
	struct vp_memtable mt;
	int fd = make_memfd(MIB), fds[1] = { dup(fd) };

	(void)state;
	assert_int_equal(vp_memtable_build(&mt, 1, gpa, size, uva, off, fds),
			 0);
	assert_non_null(vp_memtable_gpa(&mt, 0, 1));
	vp_memtable_clear(&mt);
	assert_int_equal(mt.nr, 0);
	assert_null(vp_memtable_gpa(&mt, 0, 1));
	assert_null(vp_memtable_uva(&mt, 0x1000000, 1));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			lookup_inside_one_region_succeeds, setup_two,
			teardown_two),
		cmocka_unit_test_setup_teardown(lookup_past_region_end_fails,
						setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(lookup_in_gap_fails, setup_two,
						teardown_two),
		cmocka_unit_test_setup_teardown(lookup_with_wrapping_sum_fails,
						setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(mmap_offset_selects_file_bytes,
						setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(uva_and_gpa_are_separate_spaces,
						setup_two, teardown_two),
		cmocka_unit_test(build_refuses_overlapping_regions),
		cmocka_unit_test(build_refuses_wrapping_or_empty_regions),
		cmocka_unit_test(build_refuses_file_shorter_than_region),
		cmocka_unit_test(build_refuses_too_many_regions),
		cmocka_unit_test(build_refuses_bad_fd_and_closes_the_rest),
		cmocka_unit_test(clear_empties_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
