// SPDX-License-Identifier: MIT
/*
 * dev_sim_fault_replay.c - a device access that misses calls the VM's
 * fault function; when it maps the page and returns 0 the access is
 * replayed and the kernel's result is right; when it cannot, the launch
 * fails with its status and the faulting page; an access needs the
 * permission of its kind (a write to a read-only page faults, a histogram
 * needs ATOMIC), and a failure stops the launch's other EUs.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

#define RW  (VP_PROT_READ | VP_PROT_WRITE)
#define ALL VSVM_PROT_ALL

struct fixture {
	struct vp_device *dev;
	struct pager pg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dev = test_device(4, 64);
	pager_init(&f->pg, f->dev);
	pager_vm(&f->pg, 48);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pager_fini(&f->pg);
	f->dev->ops->destroy(f->dev);
	free(f);
	return 0;
}

static void demand_paging_replays_accesses(void **state)
{
	struct fixture *f = *state;
	uint64_t pages = 10, count = pages * PAGE / 4, i;
	uint32_t *buf = test_alloc(pages * PAGE, PAGE);
	struct vp_vm_stats st;
	struct vp_launch l;

	pager_add(&f->pg, TEST_VA, pages * PAGE, buf, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, count, 9);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, count);
	/* Each page is touched by one EU only: one fault each. */
	assert_int_equal(l.faults, pages);
	assert_int_equal(pager_calls(&f->pg), pages);
	assert_int_equal(f->pg.last_access, VP_ACCESS_WRITE);
	for (i = 0; i < count; i++)
		assert_int_equal(buf[i], 9);
	f->dev->ops->vm_stats(f->pg.vm, &st);
	assert_int_equal(st.faults, pages);
	assert_int_equal(st.mapped_bytes, pages * PAGE);
	/* Mapped now: no more faults, and faults are not TLB flushes. */
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, count, 10);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 0);
	f->dev->ops->vm_stats(f->pg.vm, &st);
	assert_int_equal(st.tlb_flushes, 0);
	free(buf);
}

static void replay_gives_every_kernel_its_result(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 3000, m = 700, i, sum = 0;
	uint64_t *src = test_alloc(m * 8, PAGE);
	uint32_t *idx = test_alloc(n * 4, PAGE);
	uint64_t *dst = test_alloc(n * 8, PAGE);
	uint64_t *list = test_alloc(64 * PAGE, PAGE);
	struct vp_launch l;

	for (i = 0; i < m; i++)
		src[i] = i * 0x9e3779b97f4a7c15ull;
	for (i = 0; i < n; i++)
		idx[i] = (uint32_t)(i * 7919);
	pager_add(&f->pg, TEST_VA, m * 8, src, VP_PROT_READ);
	pager_add(&f->pg, TEST_VA2, n * 4, idx, VP_PROT_READ);
	pager_add(&f->pg, TEST_VA2 + (1ull << 30), n * 8, dst, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_GATHER, TEST_VA2 + (1ull << 30),
		TEST_VA, TEST_VA2, n, m);
	for (i = 0; i < n; i++) {
		assert_int_equal(dst[i], src[idx[i] % m]);
		sum += dst[i];
	}
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, sum);
	assert_true(l.faults >= 2 + 3);

	/* A chase that jumps between pages backwards, page by page. */
	for (i = 0, sum = 0; i < 64; i++) {
		uint64_t *node = &list[(63 - i) * PAGE / 8];

		node[0] = i < 63 ? TEST_VA + (1ull << 32) + (62 - i) * PAGE : 0;
		node[1] = i + 1;
		sum += i + 1;
	}
	pager_add(&f->pg, TEST_VA + (1ull << 32), 64 * PAGE, list,
		  VP_PROT_READ);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_CHASE,
		TEST_VA + (1ull << 32) + 63 * PAGE, 1000);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, sum);
	assert_int_equal(l.faults, 64);
	free(src);
	free(idx);
	free(dst);
	free(list);
}

static void unresolvable_fault_fails_with_its_address(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(8 * PAGE, PAGE);
	struct vp_dev_vm *bare;
	struct vp_launch l;

	/* Pages 5..7 are nobody's. */
	pager_add(&f->pg, TEST_VA, 5 * PAGE, buf, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 8 * PAGE / 4, 1);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA + 5 * PAGE);
	assert_int_equal(l.result, 0);
	assert_int_equal(buf[5 * PAGE / 4], 0);

	/* The fault function's own status is the launch's. */
	pthread_mutex_lock(&f->pg.lock);
	f->pg.fail = -VSVM_ERR_CANCELED;
	pthread_mutex_unlock(&f->pg.lock);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA + 6 * PAGE, 4, 1);
	assert_int_equal(l.status, -VSVM_ERR_CANCELED);
	assert_int_equal(l.fault_va, TEST_VA + 6 * PAGE);

	/* A VM with no fault function fails at the first miss. */
	assert_int_equal(f->dev->ops->vm_create(f->dev, 48, NULL, NULL, &bare),
			 0);
	l = RUN(f->dev, bare, VSVM_KERNEL_FILL, TEST_VA + 12, 4, 1);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA);
	assert_int_equal(l.faults, 0);
	f->dev->ops->vm_destroy(bare);
	free(buf);
}

static void write_to_read_only_page_faults(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(2 * PAGE, PAGE);
	uint32_t *dst = test_alloc(PAGE, PAGE);
	struct vp_launch l;

	buf[0] = 77;
	pager_add(&f->pg, TEST_VA, 2 * PAGE, buf, VP_PROT_READ);
	assert_int_equal(f->dev->ops->vm_map(f->pg.vm, TEST_VA, 2 * PAGE, buf,
					     VP_PROT_READ),
			 0);
	assert_int_equal(f->dev->ops->vm_map(f->pg.vm, TEST_VA2, PAGE, dst, RW),
			 0);
	/* A read works without a fault... */
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_COPY, TEST_VA2, TEST_VA, 16);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 0);
	assert_int_equal(dst[0], 77);
	/* ...a write faults, as a write, and the page stays as it was. */
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 1, 5);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA);
	assert_int_equal(l.faults, 1);
	assert_int_equal(f->pg.last_access, VP_ACCESS_WRITE);
	assert_int_equal(buf[0], 77);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_COPY, TEST_VA + PAGE, TEST_VA2,
		16);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA + PAGE);
	assert_int_equal(buf[PAGE / 4], 0);

	/* When the owner upgrades the page, the replayed write succeeds. */
	pthread_mutex_lock(&f->pg.lock);
	f->pg.ranges[0].prot = RW;
	pthread_mutex_unlock(&f->pg.lock);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 2 * PAGE / 4, 5);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 2);
	assert_int_equal(buf[0], 5);
	assert_int_equal(buf[2 * PAGE / 4 - 1], 5);
	free(buf);
	free(dst);
}

static void histogram_needs_atomic_permission(void **state)
{
	struct fixture *f = *state;
	uint32_t *data = test_alloc(PAGE, PAGE);
	uint64_t *bins = test_alloc(PAGE, PAGE);
	struct vp_launch l;
	int i;

	for (i = 0; i < 100; i++)
		data[i] = (uint32_t)i;
	pager_add(&f->pg, TEST_VA, PAGE, data, VP_PROT_READ);
	pager_add(&f->pg, TEST_VA2, PAGE, bins, RW);
	assert_int_equal(
		f->dev->ops->vm_map(f->pg.vm, TEST_VA2, PAGE, bins, RW), 0);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_HISTOGRAM, TEST_VA2, TEST_VA, 100,
		10);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA2);
	assert_int_equal(f->pg.last_access, VP_ACCESS_ATOMIC);
	for (i = 0; i < 10; i++)
		assert_int_equal(bins[i], 0);

	pthread_mutex_lock(&f->pg.lock);
	f->pg.ranges[1].prot = ALL;
	pthread_mutex_unlock(&f->pg.lock);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_HISTOGRAM, TEST_VA2, TEST_VA, 100,
		10);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, 100);
	for (i = 0; i < 10; i++)
		assert_int_equal(bins[i], 10);
	free(data);
	free(bins);
}

/*
 * Slice 0 fails at once; the other slices fault on every page, slowly.
 * Had they not stopped at their next chunk, they would fault 3 * 255
 * times more.
 */
static void failure_stops_the_other_execution_units(void **state)
{
	struct fixture *f = *state;
	uint64_t pages = 1024;
	uint32_t *buf = test_alloc(pages * PAGE, PAGE);
	struct vp_launch l;

	pager_add(&f->pg, TEST_VA + 256 * PAGE, (pages - 256) * PAGE,
		  (uint8_t *)buf + 256 * PAGE, RW);
	f->pg.delay_us = 2000;
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, pages * PAGE / 4,
		3);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA);
	assert_true(l.faults < 40);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(demand_paging_replays_accesses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			replay_gives_every_kernel_its_result, setup, teardown),
		cmocka_unit_test_setup_teardown(
			unresolvable_fault_fails_with_its_address, setup,
			teardown),
		cmocka_unit_test_setup_teardown(write_to_read_only_page_faults,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			histogram_needs_atomic_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(
			failure_stops_the_other_execution_units, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
