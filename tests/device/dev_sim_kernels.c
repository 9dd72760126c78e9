// SPDX-License-Identifier: MIT
/*
 * dev_sim_kernels.c - every kernel of the simulated GPU computes what the
 * CPU computes on the same host memory, mapped into a VM at GPU VAs unlike
 * the host addresses, across page, slice and 2 MiB boundaries; bytes next
 * to the arrays stay untouched; bad arguments fail with the documented
 * status.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

#include <math.h>

#define RW  (VP_PROT_READ | VP_PROT_WRITE)
#define ALL VSVM_PROT_ALL

struct fixture {
	struct vp_device *dev;
	struct vp_dev_vm *vm;
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dev = test_device(4, 64);
	assert_int_equal(f->dev->ops->vm_create(f->dev, 48, NULL, NULL, &f->vm),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->dev->ops->vm_destroy(f->vm);
	f->dev->ops->destroy(f->dev);
	free(f);
	return 0;
}

/* Map a host buffer (page aligned, bytes rounded up) at va. */
static void map(struct fixture *f, uint64_t va, void *buf, uint64_t bytes,
		uint32_t prot)
{
	bytes = (bytes + PAGE - 1) / PAGE * PAGE;
	assert_int_equal(f->dev->ops->vm_map(f->vm, va, bytes, buf, prot), 0);
}

static void assert_ok(const struct vp_launch *l, uint64_t result)
{
	assert_int_equal(l->status, 0);
	assert_int_equal(l->result, result);
	assert_int_equal(l->faults, 0);
}

static void fill_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t count = 3 * 1024 * 4 + 123, bytes = (count + 4) * 4, i;
	uint32_t *buf = test_alloc(bytes, PAGE);
	struct vp_launch l;

	memset(buf, 0x55, bytes);
	map(f, TEST_VA, buf, bytes, RW);
	/* dst two elements into the buffer: the first two stay. */
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, TEST_VA + 8, count,
		0x1234567800000000ull | 0xcafef00d);
	assert_ok(&l, count);
	assert_true(l.elapsed_ns > 0);
	assert_int_equal(buf[0], 0x55555555);
	assert_int_equal(buf[1], 0x55555555);
	for (i = 0; i < count; i++)
		assert_int_equal(buf[2 + i], 0xcafef00d);
	assert_int_equal(buf[2 + count], 0x55555555);
	free(buf);
}

static void copy_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 5 * PAGE + 777, size = 7 * PAGE, i;
	uint8_t *src = test_alloc(size, PAGE), *dst = test_alloc(size, PAGE);
	struct vp_launch l;

	for (i = 0; i < size; i++)
		src[i] = (uint8_t)rng();
	memset(dst, 0xee, size);
	map(f, TEST_VA, src, size, VP_PROT_READ);
	map(f, TEST_VA2, dst, size, RW);
	/* Different page offsets: pieces end at either array's page end. */
	l = RUN(f->dev, f->vm, VSVM_KERNEL_COPY, TEST_VA2 + 3000, TEST_VA + 100,
		bytes);
	assert_ok(&l, bytes);
	assert_memory_equal(dst + 3000, src + 100, bytes);
	for (i = 0; i < 3000; i++)
		assert_int_equal(dst[i], 0xee);
	for (i = 3000 + bytes; i < size; i++)
		assert_int_equal(dst[i], 0xee);
	free(src);
	free(dst);
}

static void triad_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 10001, bytes = n * 8, i, bits;
	double *a = test_alloc(bytes + 8, PAGE);
	double *b = test_alloc(bytes, PAGE);
	double *c = test_alloc(bytes, PAGE);
	double scalar = -3.25;
	struct vp_launch l;

	for (i = 0; i < n; i++) {
		b[i] = (double)(int64_t)rng() / 7.0;
		c[i] = (double)(rng() % 100000) / 3.0;
	}
	a[n] = 42.0;
	memcpy(&bits, &scalar, sizeof(bits));
	map(f, TEST_VA, a, bytes + 8, RW);
	map(f, TEST_VA + (1ull << 30), b, bytes, VP_PROT_READ);
	map(f, TEST_VA + (2ull << 30), c, bytes, VP_PROT_READ);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_TRIAD, TEST_VA,
		TEST_VA + (1ull << 30), TEST_VA + (2ull << 30), n, bits);
	assert_ok(&l, n);
	for (i = 0; i < n; i++) {
		double want = b[i] + scalar * c[i];

		assert_memory_equal(&a[i], &want, sizeof(want));
	}
	assert_true(a[n] == 42.0);
	free(a);
	free(b);
	free(c);
}

static void gather_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 5003, m = 1000, i, sum = 0;
	uint64_t *src = test_alloc(m * 8, PAGE);
	uint32_t *idx = test_alloc(n * 4, PAGE);
	uint64_t *dst = test_alloc(n * 8, PAGE);
	struct vp_launch l;

	for (i = 0; i < m; i++)
		src[i] = rng();
	for (i = 0; i < n; i++)
		idx[i] = (uint32_t)rng();
	map(f, TEST_VA, src, m * 8, VP_PROT_READ);
	map(f, TEST_VA2, idx, n * 4, VP_PROT_READ);
	map(f, TEST_VA2 + (1ull << 30), dst, n * 8, RW);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_GATHER, TEST_VA2 + (1ull << 30),
		TEST_VA, TEST_VA2, n, m);
	for (i = 0; i < n; i++) {
		assert_int_equal(dst[i], src[idx[i] % m]);
		sum += src[idx[i] % m];
	}
	assert_ok(&l, sum);
	free(src);
	free(idx);
	free(dst);
}

static void histogram_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 20011, k = 37, i;
	uint32_t *data = test_alloc(n * 4, PAGE);
	uint64_t *bins = test_alloc(k * 8, PAGE);
	uint64_t want[37];
	struct vp_launch l;

	for (i = 0; i < k; i++)
		want[i] = bins[i] = 5;
	for (i = 0; i < n; i++) {
		data[i] = (uint32_t)rng();
		want[data[i] % k]++;
	}
	map(f, TEST_VA, data, n * 4, VP_PROT_READ);
	map(f, TEST_VA2, bins, k * 8, ALL);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_HISTOGRAM, TEST_VA2, TEST_VA, n, k);
	assert_ok(&l, n);
	assert_memory_equal(bins, want, sizeof(want));
	free(data);
	free(bins);
}

/* Nodes in a shuffled order over several pages; returns the head VA. */
static uint64_t build_list(uint64_t *mem, uint64_t nodes, uint64_t va,
			   uint64_t *sum, uint64_t steps)
{
	uint64_t *order = calloc(nodes, sizeof(*order)), i;

	assert_non_null(order);
	for (i = 0; i < nodes; i++)
		order[i] = i;
	for (i = nodes - 1; i > 0; i--) {
		uint64_t j = rng() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	*sum = 0;
	for (i = 0; i < nodes; i++) {
		uint64_t *node = &mem[order[i] * 2];

		node[0] = i + 1 < nodes ? va + order[i + 1] * 16 : 0;
		node[1] = rng();
		if (i < steps)
			*sum += node[1];
	}
	i = va + order[0] * 16;
	free(order);
	return i;
}

static void chase_matches_cpu(void **state)
{
	struct fixture *f = *state;
	uint64_t nodes = 5000, sum, head;
	uint64_t *mem = test_alloc(nodes * 16, PAGE);
	struct vp_launch l;

	map(f, TEST_VA, mem, nodes * 16, VP_PROT_READ);
	head = build_list(mem, nodes, TEST_VA, &sum, nodes);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, head, UINT64_MAX);
	assert_ok(&l, sum);
	/* max_steps stops it early. */
	head = build_list(mem, nodes, TEST_VA, &sum, 100);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, head, 100);
	assert_ok(&l, sum);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, 0, 100);
	assert_ok(&l, 0);
	free(mem);
}

/* Arrays mapped with 2 MiB leaves; the index space crosses one. */
static void kernels_run_on_2m_pages(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 2 * HUGE, n = bytes / 8, i, bits;
	double *a = test_alloc(bytes, HUGE), *b = test_alloc(bytes, HUGE);
	double scalar = 0.5;
	struct vp_vm_stats st;
	struct vp_launch l;

	for (i = 0; i < n; i++)
		b[i] = (double)i;
	map(f, TEST_VA, a, bytes, RW);
	map(f, TEST_VA + HUGE * 4, b, bytes, VP_PROT_READ);
	f->dev->ops->vm_stats(f->vm, &st);
	/* root, L3, L2: 2 MiB leaves only. */
	assert_int_equal(st.pt_bytes, 3 * PAGE);
	assert_int_equal(st.mapped_bytes, 2 * bytes);
	memcpy(&bits, &scalar, sizeof(bits));
	l = RUN(f->dev, f->vm, VSVM_KERNEL_TRIAD, TEST_VA, TEST_VA + HUGE * 4,
		TEST_VA + HUGE * 4, n, bits);
	assert_ok(&l, n);
	for (i = 0; i < n; i++)
		assert_true(a[i] == 1.5 * (double)i);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, TEST_VA + HUGE - 64, 64,
		0xabcdu);
	assert_ok(&l, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(((uint32_t *)a)[HUGE / 4 - 16 + i], 0xabcd);
	free(a);
	free(b);
}

static void assert_status(const struct vp_launch *l, int status)
{
	assert_int_equal(l->status, status);
	assert_int_equal(l->result, 0);
}

static void bad_arguments_fail_the_launch(void **state)
{
	struct fixture *f = *state;
	uint64_t lim = 1ull << 48;
	uint64_t *mem = test_alloc(PAGE, PAGE);
	struct test_launch t;
	struct vp_launch l;

	map(f, TEST_VA, mem, PAGE, ALL);
	l = RUN(f->dev, f->vm, 0, TEST_VA, 1);
	assert_status(&l, -VSVM_ERR_VALUE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_NR, TEST_VA, 1);
	assert_status(&l, -VSVM_ERR_VALUE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_GATHER, TEST_VA, TEST_VA, TEST_VA, 1,
		0);
	assert_status(&l, -VSVM_ERR_VALUE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_HISTOGRAM, TEST_VA, TEST_VA, 1, 0);
	assert_status(&l, -VSVM_ERR_VALUE);

	/* Sizes whose end would pass 2^va_bits, or wrap 2^64. */
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, TEST_VA, 1ull << 62, 0);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, lim - 8, 3, 0);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, UINT64_MAX - 3, 1, 0);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_COPY, TEST_VA, TEST_VA, UINT64_MAX);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_TRIAD, TEST_VA, TEST_VA, TEST_VA,
		1ull << 61, 0);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_GATHER, TEST_VA, TEST_VA, TEST_VA, 1,
		1ull << 61);
	assert_status(&l, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_HISTOGRAM, TEST_VA, TEST_VA, 1,
		(lim - TEST_VA) / 8 + 1);
	assert_status(&l, -VSVM_ERR_RANGE);

	/* Elements that could straddle a page. */
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, TEST_VA + 2, 1, 0);
	assert_status(&l, -VSVM_ERR_ALIGN);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_TRIAD, TEST_VA, TEST_VA + 4, TEST_VA,
		1, 0);
	assert_status(&l, -VSVM_ERR_ALIGN);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_GATHER, TEST_VA, TEST_VA,
		TEST_VA + 2, 1, 1);
	assert_status(&l, -VSVM_ERR_ALIGN);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_HISTOGRAM, TEST_VA + 4, TEST_VA, 1,
		1);
	assert_status(&l, -VSVM_ERR_ALIGN);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, TEST_VA + 8, 1);
	assert_status(&l, -VSVM_ERR_ALIGN);

	/* A bad next pointer: its address is reported. */
	mem[0] = TEST_VA + 16;
	mem[1] = 1;
	mem[2] = TEST_VA + 40;
	mem[3] = 2;
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, TEST_VA, 10);
	assert_status(&l, -VSVM_ERR_ALIGN);
	assert_int_equal(l.fault_va, TEST_VA + 40);
	/* Beyond the VA space: fails without asking anyone (no fault fn). */
	mem[2] = lim + 0x1230;
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, TEST_VA, 10);
	assert_status(&l, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, lim + 0x1000);
	assert_int_equal(l.faults, 0);

	/* Empty launches succeed whatever else they say. */
	l = RUN(f->dev, f->vm, VSVM_KERNEL_FILL, UINT64_MAX, 0, 0);
	assert_ok(&l, 0);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_GATHER, 1, 1, 1, 0, 0);
	assert_ok(&l, 0);
	l = RUN(f->dev, f->vm, VSVM_KERNEL_CHASE, TEST_VA, 0);
	assert_ok(&l, 0);
	/* Arguments past nr_args read as 0: count 0. */
	test_launch_init(&t, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, 1000, 7 }, 3);
	t.l.nr_args = 1;
	test_launch_start(f->dev, f->vm, &t);
	test_launch_wait(&t);
	assert_ok(&t.l, 0);
	test_launch_fini(&t);
	assert_int_equal(mem[4], 0);
	/* No done callback: refused at once. */
	t.l.done = NULL;
	assert_int_equal(f->dev->ops->launch(f->vm, &t.l), -EINVAL);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fill_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(copy_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(triad_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(gather_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(histogram_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(chase_matches_cpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kernels_run_on_2m_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_fail_the_launch,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
