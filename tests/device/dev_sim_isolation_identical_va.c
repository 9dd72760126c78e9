// SPDX-License-Identifier: MIT
/*
 * dev_sim_isolation_identical_va.c - two VMs on one device map identical
 * GPU VAs to different host memory and run launches at the same time,
 * with demand faults and remaps churning their TLB generations: neither
 * ever reads or writes the other's memory.  And many launches in flight on
 * one VM all complete, each with its own result and one done().
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

#define RW    (VP_PROT_READ | VP_PROT_WRITE)
#define PAGES 32u
#define WORDS (PAGES * PAGE / 4)
#define ITERS 150u

struct tenant {
	struct pager pg;
	uint32_t *buf;	 /* at TEST_VA in this tenant's VM */
	uint64_t *sum;	 /* at TEST_VA2: GATHER output */
	uint32_t *idx;	 /* at TEST_VA2 + 1 GiB: u32 0..n-1 */
	uint32_t tag;	 /* this tenant's fill values: tag << 16 | i */
	uint64_t errors; /* counted off the main thread */
};

/* Launch and wait without cmocka asserts (runs on tenant threads). */
static struct vp_launch tenant_run(struct tenant *tn, uint32_t kernel,
				   const uint64_t *args, uint32_t nr)
{
	struct test_launch t;
	struct vp_launch out;

	test_launch_init(&t, kernel, args, nr);
	if (tn->pg.dev->ops->launch(tn->pg.vm, &t.l)) {
		tn->errors++;
		test_launch_fini(&t);
		memset(&out, 0, sizeof(out));
		out.status = -1;
		return out;
	}
	pthread_mutex_lock(&t.lock);
	while (!t.done_calls)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
	out = t.l;
	test_launch_fini(&t);
	return out;
}

static void *tenant_main(void *arg)
{
	struct tenant *tn = arg;
	const struct vp_device_ops *ops = tn->pg.dev->ops;
	uint32_t it;

	for (it = 0; it < ITERS; it++) {
		uint32_t value = tn->tag << 16 | it;
		struct vp_launch l;
		uint64_t want;

		l = tenant_run(tn, VSVM_KERNEL_FILL,
			       (const uint64_t[]){ TEST_VA, WORDS, value }, 3);
		if (l.status)
			tn->errors++;
		/* Read it back as u64 pairs: each is value | value << 32. */
		l = tenant_run(tn, VSVM_KERNEL_GATHER,
			       (const uint64_t[]){ TEST_VA2, TEST_VA,
						   TEST_VA2 + (1ull << 30),
						   WORDS / 2, WORDS / 2 },
			       5);
		want = ((uint64_t)value << 32 | value) * (WORDS / 2);
		if (l.status || l.result != want)
			tn->errors++;
		/* Churn: drop a few pages; they fault back in. */
		pthread_mutex_lock(&tn->pg.lock);
		ops->vm_unmap(tn->pg.vm, TEST_VA + (it % PAGES) * PAGE,
			      (1 + it % 3) * PAGE);
		pthread_mutex_unlock(&tn->pg.lock);
	}
	return NULL;
}

static void tenant_init(struct tenant *tn, struct vp_device *dev, uint32_t tag)
{
	uint32_t i;

	memset(tn, 0, sizeof(*tn));
	tn->tag = tag;
	pager_init(&tn->pg, dev);
	pager_vm(&tn->pg, 48);
	tn->buf = test_alloc(PAGES * PAGE, PAGE);
	tn->sum = test_alloc(WORDS / 2 * 8, PAGE);
	tn->idx = test_alloc(WORDS / 2 * 4, PAGE);
	for (i = 0; i < WORDS / 2; i++)
		tn->idx[i] = i;
	pager_add(&tn->pg, TEST_VA, PAGES * PAGE, tn->buf, RW);
	pager_add(&tn->pg, TEST_VA2, WORDS / 2 * 8, tn->sum, RW);
	pager_add(&tn->pg, TEST_VA2 + (1ull << 30), WORDS / 2 * 4, tn->idx,
		  VP_PROT_READ);
	tn->pg.map_len_pages = 4;
}

static void tenant_fini(struct tenant *tn)
{
	pager_fini(&tn->pg);
	free(tn->buf);
	free(tn->sum);
	free(tn->idx);
}

static void identical_vas_in_two_vms_never_interact(void **state)
{
	struct vp_device *dev = test_device(4, 16);
	struct tenant tn[2];
	pthread_t thr[2];
	uint32_t i, t;

	(void)state;
	tenant_init(&tn[0], dev, 0x1111);
	tenant_init(&tn[1], dev, 0x2222);
	for (t = 0; t < 2; t++)
		assert_int_equal(
			pthread_create(&thr[t], NULL, tenant_main, &tn[t]), 0);
	for (t = 0; t < 2; t++)
		pthread_join(thr[t], NULL);
	for (t = 0; t < 2; t++) {
		assert_int_equal(tn[t].errors, 0);
		for (i = 0; i < WORDS; i++)
			assert_int_equal(tn[t].buf[i] >> 16, tn[t].tag);
		assert_true(pager_calls(&tn[t].pg) > ITERS);
	}
	tenant_fini(&tn[0]);
	tenant_fini(&tn[1]);
	dev->ops->destroy(dev);
}

#define IN_FLIGHT 64u

static void many_launches_in_flight_all_complete(void **state)
{
	struct vp_device *dev = test_device(4, 64);
	uint32_t per = 3 * 1024 + 17, i, j;
	uint32_t *buf = test_alloc((size_t)IN_FLIGHT * per * 4, PAGE);
	static struct test_launch t[IN_FLIGHT];
	struct dev_sim_stats st;
	struct vp_dev_vm *vm;

	(void)state;
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(
		dev->ops->vm_map(vm, TEST_VA,
				 ((uint64_t)IN_FLIGHT * per * 4 + PAGE - 1) /
					 PAGE * PAGE,
				 buf, RW),
		0);
	for (i = 0; i < IN_FLIGHT; i++) {
		test_launch_init(
			&t[i], VSVM_KERNEL_FILL,
			(const uint64_t[]){ TEST_VA + (uint64_t)i * per * 4,
					    per, i + 1 },
			3);
		test_launch_start(dev, vm, &t[i]);
	}
	for (i = 0; i < IN_FLIGHT; i++) {
		test_launch_wait(&t[i]);
		assert_int_equal(t[i].l.status, 0);
		assert_int_equal(t[i].l.result, per);
	}
	/* Give a stray second done() the time to show up. */
	test_sleep_us(10000);
	for (i = 0; i < IN_FLIGHT; i++) {
		test_launch_wait(&t[i]);
		test_launch_fini(&t[i]);
	}
	for (i = 0; i < IN_FLIGHT; i++)
		for (j = 0; j < per; j++)
			assert_int_equal(buf[i * per + j], i + 1);
	dev_sim_get_stats(dev, &st);
	assert_int_equal(st.launches, IN_FLIGHT);
	dev->ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identical_vas_in_two_vms_never_interact),
		cmocka_unit_test(many_launches_in_flight_all_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
