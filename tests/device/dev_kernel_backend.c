// SPDX-License-Identifier: MIT
/*
 * dev_kernel_backend.c - the vsvm_host.ko backend over a userspace model
 * of the module (dk_fake_module.h): every kernel gives the CPU's result
 * through ACCESS and faults; each miss is one fault of its launch, answered
 * through the fault fd and FAULT_REPLY; the fault function's failure
 * status reaches the launch; one slow guest does not hold up another VM's
 * faults; a cancel ends a launch that waits for faults; vm_unmap makes the
 * next access fault again; a write to a read-only mirror faults as WRITE
 * (the module fails it at once; the EU asks the owner itself) and replays
 * once the owner maps it writable, and fails the launch if it never does.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "dk_fake_module.h"
#include "sim_test.h"

#define RW  (VP_PROT_READ | VP_PROT_WRITE)
#define ALL VSVM_PROT_ALL

struct fixture {
	struct fake_module m;
	struct dev_kernel_sys sys;
	struct vp_device *dev;
	struct pager pg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_init(&f->m, &f->sys);
	f->dev = fake_device(&f->sys, 4);
	assert_true(dev_kernel_is_kernel(f->dev));
	pager_init(&f->pg, f->dev);
	pager_vm(&f->pg, 48);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->dev->ops->vm_destroy(f->pg.vm);
	f->dev->ops->destroy(f->dev);
	fake_fini(&f->m);
	free(f);
	return 0;
}

static void demand_faults_are_counted_and_replayed(void **state)
{
	struct fixture *f = *state;
	uint64_t pages = 10, count = pages * PAGE / 4, i;
	uint32_t *buf = test_alloc(pages * PAGE, PAGE);
	struct dev_kernel_stats ks;
	struct vp_vm_stats st;
	struct vp_launch l;

	pager_add(&f->pg, TEST_VA, pages * PAGE, buf, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, count, 9);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, count);
	/*
	 * Each page is a miss at least once.  Two EUs can miss one page in
	 * the same instant, and one of them can see its record answered and
	 * gone before it queues: so "at least once", not "exactly once"
	 * (seen: 11 for 10 pages, once in a make test run).
	 */
	assert_in_range(l.faults, pages, 2 * pages);
	assert_in_range(pager_calls(&f->pg), pages, 2 * pages);
	assert_int_equal(f->pg.last_access, VP_ACCESS_WRITE);
	for (i = 0; i < count; i++)
		assert_int_equal(buf[i], 9);
	f->dev->ops->vm_stats(f->pg.vm, &st);
	assert_int_equal(st.faults, pager_calls(&f->pg));
	assert_int_equal(st.mapped_bytes, pages * PAGE);
	dev_kernel_get_stats(f->dev, &ks);
	assert_in_range(ks.faults, pages, 2 * pages);
	assert_true(ks.replies >= 1 && ks.replies <= ks.faults);
	/* Mapped now: no fault at all. */
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, count, 10);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 0);
	assert_int_equal(buf[count - 1], 10);
	free(buf);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void every_kernel_gives_the_cpu_result(void **state)
{
	struct fixture *f = *state;
	const uint64_t n = 5000, m = 3000, k = 37;
	const uint64_t A = TEST_VA, B = A + 0x100000, C = B + 0x100000;
	const uint64_t D = C + 0x100000, E = D + 0x100000;
	double *a = test_alloc(n * 8, PAGE), *b = test_alloc(n * 8, PAGE);
	double *c = test_alloc(n * 8, PAGE), scalar = 1.5;
	uint64_t *src = test_alloc(m * 8, PAGE), *dst = test_alloc(n * 8, PAGE);
	uint32_t *idx = test_alloc(n * 4, PAGE),
		 *data = test_alloc(n * 4, PAGE);
	uint64_t *bins = test_alloc(k * 8, PAGE);
	uint64_t want_bins[37] = { 0 }, seed = 42, sum = 0, sbits, i;
	struct vp_launch l;

	pager_add(&f->pg, A, n * 8, a, RW);
	pager_add(&f->pg, B, n * 8, b, RW);
	pager_add(&f->pg, C, n * 8, c, RW);
	pager_add(&f->pg, D, m * 8, src, RW);
	pager_add(&f->pg, D + 0x80000, n * 8, dst, RW);
	pager_add(&f->pg, E, n * 4, idx, RW);
	pager_add(&f->pg, E + 0x80000, n * 4, data, RW);
	pager_add(&f->pg, E + 0x100000, k * 8, bins, ALL);

	for (i = 0; i < n; i++) {
		b[i] = (double)rnd(&seed) / 7.0;
		c[i] = (double)(i % 97) - 3.25;
		idx[i] = (uint32_t)rnd(&seed);
		data[i] = (uint32_t)rnd(&seed);
		want_bins[data[i] % k]++;
	}
	for (i = 0; i < m; i++)
		src[i] = rnd(&seed);

	memcpy(&sbits, &scalar, 8);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_TRIAD, A, B, C, n, sbits);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, n);
	for (i = 0; i < n; i++) {
		volatile double want = b[i] + scalar * c[i];

		assert_true(a[i] == want);
	}

	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_COPY, C, B, n * 8);
	assert_int_equal(l.status, 0);
	assert_memory_equal(b, c, n * 8);

	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_GATHER, D + 0x80000, D, E, n, m);
	assert_int_equal(l.status, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(dst[i], src[idx[i] % m]);
		sum += dst[i];
	}
	assert_int_equal(l.result, sum);

	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_HISTOGRAM, E + 0x100000,
		E + 0x80000, n, k);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, n);
	assert_memory_equal(bins, want_bins, k * 8);

	/* Launch-time checks, docs/protocol.md 9.1. */
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, A + 2, 10, 0);
	assert_int_equal(l.status, -VSVM_ERR_ALIGN);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, (1ull << 48) - 8, 10, 0);
	assert_int_equal(l.status, -VSVM_ERR_RANGE);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_GATHER, A, B, C, 10, 0);
	assert_int_equal(l.status, -VSVM_ERR_VALUE);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, A, 0, 0);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, 0);
	l = RUN(f->dev, f->pg.vm, 99, 0);
	assert_int_equal(l.status, -VSVM_ERR_VALUE);

	free(a);
	free(b);
	free(c);
	free(src);
	free(dst);
	free(idx);
	free(data);
	free(bins);
}

static void chase_follows_the_guest_pointers(void **state)
{
	struct fixture *f = *state;
	const uint64_t nodes = 2000;
	uint64_t *list = test_alloc(nodes * 16, PAGE), seed = 7, sum = 0, i;
	uint32_t *perm = calloc(nodes, 4);
	struct vp_launch l;

	/* A list in random order across pages, as the guest CPU builds it. */
	for (i = 0; i < nodes; i++)
		perm[i] = (uint32_t)i;
	for (i = nodes - 1; i > 0; i--) {
		uint64_t j = rnd(&seed) % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < nodes; i++) {
		uint64_t *node = &list[perm[i] * 2];

		node[0] = i + 1 < nodes ? TEST_VA2 + perm[i + 1] * 16ull : 0;
		node[1] = rnd(&seed) >> 8;
		sum += node[1];
	}
	pager_add(&f->pg, TEST_VA2, nodes * 16, list, VP_PROT_READ);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_CHASE, TEST_VA2 + perm[0] * 16ull,
		nodes + 1);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.result, sum);
	/* A misaligned next pointer ends the chase with ALIGN at it. */
	list[perm[5] * 2] = TEST_VA2 + 8;
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_CHASE, TEST_VA2 + perm[0] * 16ull,
		nodes + 1);
	assert_int_equal(l.status, -VSVM_ERR_ALIGN);
	assert_int_equal(l.fault_va, TEST_VA2 + 8);

	free(list);
	free(perm);
}

static void a_failed_fault_fails_the_launch_with_its_status(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(4 * PAGE, PAGE);
	struct vp_launch l;

	/* Only the first two pages are the guest's. */
	pager_add(&f->pg, TEST_VA, 2 * PAGE, buf, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, PAGE, 1);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA + 2 * PAGE);
	assert_int_equal(l.result, 0);

	f->pg.fail = -VSVM_ERR_NOMEM;
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA2, 16, 1);
	assert_int_equal(l.status, -VSVM_ERR_NOMEM);
	assert_int_equal(l.fault_va, TEST_VA2);
	free(buf);
}

/* A second VM on the same device whose guest answers at once. */
struct quick {
	struct pager pg;
	struct test_launch t;
};

static void a_slow_guest_holds_up_no_other_vm(void **state)
{
	struct fixture *f = *state;
	uint32_t *slow = test_alloc(PAGE, PAGE), *fast = test_alloc(PAGE, PAGE);
	struct test_launch ts;
	struct quick q;
	uint64_t t0;
	struct timespec now;

	pager_init(&q.pg, f->dev);
	pager_vm(&q.pg, 48);
	pager_add(&q.pg, TEST_VA, PAGE, fast, RW);
	pager_add(&f->pg, TEST_VA, PAGE, slow, RW);
	f->pg.delay_us = 3000000;

	test_launch_init(&ts, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, 1024, 5 }, 3);
	test_launch_start(f->dev, f->pg.vm, &ts);
	test_sleep_us(100000); /* the slow fault is in its worker now */
	clock_gettime(CLOCK_MONOTONIC, &now);
	t0 = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
	test_launch_init(&q.t, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, 1024, 6 }, 3);
	test_launch_start(f->dev, q.pg.vm, &q.t);
	test_launch_wait(&q.t);
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Answered while the slow guest still sleeps. */
	assert_false(test_launch_is_done(&ts));
	assert_true((uint64_t)now.tv_sec * 1000000 +
			    (uint64_t)now.tv_nsec / 1000 - t0 <
		    2500000);
	assert_int_equal(q.t.l.status, 0);
	assert_int_equal(fast[1023], 6);
	test_launch_wait(&ts);
	assert_int_equal(ts.l.status, 0);
	assert_int_equal(slow[1023], 5);
	test_launch_fini(&ts);
	test_launch_fini(&q.t);
	f->dev->ops->vm_destroy(q.pg.vm);
	free(slow);
	free(fast);
}

static void cancel_ends_a_launch_that_waits_for_faults(void **state)
{
	struct fixture *f = *state;
	uint64_t pages = 64;
	uint32_t *buf = test_alloc(pages * PAGE, PAGE);
	struct test_launch t;

	pager_add(&f->pg, TEST_VA, pages * PAGE, buf, RW);
	f->pg.delay_us = 50000;
	test_launch_init(&t, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, pages * PAGE / 4, 3 }, 3);
	test_launch_start(f->dev, f->pg.vm, &t);
	test_sleep_us(60000);
	f->dev->ops->vm_cancel(f->pg.vm);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, -VSVM_ERR_CANCELED);
	assert_true(pager_calls(&f->pg) < pages);
	test_launch_fini(&t);
	free(buf);
}

static void unmapped_pages_fault_again(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(8 * PAGE, PAGE);
	struct vp_launch l;

	pager_add(&f->pg, TEST_VA, 8 * PAGE, buf, RW);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 8 * PAGE / 4, 1);
	assert_int_equal(l.faults, 8);
	/* Unaligned ranges widen to whole pages: three pages go. */
	f->dev->ops->vm_unmap(f->pg.vm, TEST_VA + 100, 2 * PAGE);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 8 * PAGE / 4, 2);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 3);
	assert_int_equal(buf[8 * PAGE / 4 - 1], 2);
	free(buf);
}

/*
 * The owner answers a WRITE fault on a read-only page by mapping it
 * writable (copy-on-write broken), as the SVM core does after the guest.
 */
static int cow_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		     enum vp_access access)
{
	struct pager *pg = owner;

	pthread_mutex_lock(&pg->lock);
	pg->calls++;
	pg->last_access = access;
	pg->dev->ops->vm_map(vm, va, PAGE, pg->ranges[0].hva + (va - TEST_VA),
			     access == VP_ACCESS_READ ? VP_PROT_READ : RW);
	pthread_mutex_unlock(&pg->lock);
	return 0;
}

static void a_write_to_a_read_only_page_faults_as_write(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(PAGE, PAGE);
	struct pager pg;
	struct vp_dev_vm *vm;
	struct vp_launch l;

	pager_init(&pg, f->dev);
	assert_int_equal(
		f->dev->ops->vm_create(f->dev, 48, &pg, cow_fault, &vm), 0);
	pg.vm = vm;
	pager_add(&pg, TEST_VA, PAGE, buf, RW);
	assert_int_equal(
		f->dev->ops->vm_map(vm, TEST_VA, PAGE, buf, VP_PROT_READ), 0);
	l = RUN(f->dev, vm, VSVM_KERNEL_FILL, TEST_VA, 1024, 7);
	assert_int_equal(l.status, 0);
	assert_int_equal(l.faults, 1);
	assert_int_equal(pg.last_access, VP_ACCESS_WRITE);
	assert_int_equal(buf[0], 7);
	f->dev->ops->vm_destroy(vm);
	free(buf);
}

/*
 * An owner that answers a permission miss without ever granting it: the
 * EU asks DK_PERM_TRIES (16) times, then fails the launch, not forever.
 */
static void a_permission_never_granted_fails_the_launch(void **state)
{
	struct fixture *f = *state;
	uint32_t *buf = test_alloc(PAGE, PAGE);
	struct vp_launch l;

	pager_add(&f->pg, TEST_VA, PAGE, buf, VP_PROT_READ);
	f->pg.fail = 0;
	assert_int_equal(
		f->dev->ops->vm_map(f->pg.vm, TEST_VA, PAGE, buf, VP_PROT_READ),
		0);
	l = RUN(f->dev, f->pg.vm, VSVM_KERNEL_FILL, TEST_VA, 1024, 7);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA);
	assert_int_equal(l.faults, 16);
	assert_int_equal(buf[0], 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			demand_faults_are_counted_and_replayed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			every_kernel_gives_the_cpu_result, setup, teardown),
		cmocka_unit_test_setup_teardown(
			chase_follows_the_guest_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_failed_fault_fails_the_launch_with_its_status, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_slow_guest_holds_up_no_other_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(
			cancel_ends_a_launch_that_waits_for_faults, setup,
			teardown),
		cmocka_unit_test_setup_teardown(unmapped_pages_fault_again,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_write_to_a_read_only_page_faults_as_write, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_permission_never_granted_fails_the_launch, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
