// SPDX-License-Identifier: MIT
/*
 * dev_sim_unmap_drains_accesses.c - once vm_unmap() returns, no device
 * access reaches the old page: kernels run in a loop over a VA range
 * while the test unmaps pages under them, retargets them to other host
 * memory (the fault function maps the new target), and poisons the page
 * it just unmapped.  A write after the unmap would change the poison; a
 * read after the unmap would copy poison out.  Under ThreadSanitizer
 * either one is also a data race with the test's memset.  And a VM's
 * vm_unmap() never waits for an EU that sits in the fault function.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each page i of the range is backed by buf[cur[i]] (two host buffers).
 * A flip of page i, under the "context lock" like the SVM core's
 * invalidation: unmap the page, switch cur[i]; then, outside the lock,
 * poison the page just retired.  The page that comes back into use was
 * checked to be still poisoned (write test) or refilled with live data
 * (read test) before the flip, while nothing maps it.
 */
#include "sim_test.h"

#include <stdatomic.h>

#define RW	    (VP_PROT_READ | VP_PROT_WRITE)
#define PAGES	    64u
#define WORDS	    (PAGES * PAGE / 4)
#define POISON_BYTE 0xa5
#define POISON_WORD 0xa5a5a5a5u
#define LIVE_WORD   0x11111111u
#define ROUNDS	    3000u

struct flipper {
	struct vp_device *dev;
	struct vp_dev_vm *vm;
	pthread_mutex_t lock; /* the "context lock" */
	uint8_t *buf[2];
	uint8_t cur[PAGES]; /* guarded by lock */
	uint32_t *dst;	    /* read test: COPY destination */
	bool read_test;
	atomic_bool stop;
	/* Written by the launcher thread, read after it is joined. */
	uint64_t launches;
	uint64_t bad_status;
	uint64_t poison_seen;
	uint64_t faults;
	/* Written by the main thread. */
	uint64_t poison_broken; /* retired pages found written */
};

static int flip_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		      enum vp_access access)
{
	struct flipper *fl = owner;
	uint64_t i = (va - TEST_VA) / PAGE;
	int ret = -VSVM_ERR_FAULT;

	(void)access;
	pthread_mutex_lock(&fl->lock);
	if (va >= TEST_VA && i < PAGES)
		ret = fl->dev->ops->vm_map(vm, va, PAGE,
					   fl->buf[fl->cur[i]] + i * PAGE, RW);
	pthread_mutex_unlock(&fl->lock);
	return ret;
}

/* No cmocka asserts off the main thread: count, and check after join. */
static void run_one(struct flipper *fl, struct vp_launch *l)
{
	struct test_launch t;

	test_launch_init(&t, l->kernel, l->args, l->nr_args);
	if (fl->dev->ops->launch(fl->vm, &t.l)) {
		fl->bad_status++;
		test_launch_fini(&t);
		return;
	}
	pthread_mutex_lock(&t.lock);
	while (!t.done_calls)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
	if (t.l.status || t.done_calls != 1)
		fl->bad_status++;
	fl->faults += t.l.faults;
	test_launch_fini(&t);
}

static void *launcher(void *arg)
{
	struct flipper *fl = arg;
	struct vp_launch l = { 0 };
	uint32_t value = 1, w;

	while (!atomic_load(&fl->stop)) {
		if (fl->read_test) {
			l.kernel = VSVM_KERNEL_COPY;
			l.nr_args = 3;
			l.args[0] = TEST_VA2;
			l.args[1] = TEST_VA;
			l.args[2] = PAGES * PAGE;
		} else {
			l.kernel = VSVM_KERNEL_FILL;
			l.nr_args = 3;
			l.args[0] = TEST_VA;
			l.args[1] = WORDS;
			/* Never the poison, never the live pattern. */
			l.args[2] = 0x40000000u + (value++ & 0xffff);
		}
		run_one(fl, &l);
		fl->launches++;
		if (!fl->read_test)
			continue;
		for (w = 0; w < WORDS; w++)
			if (fl->dst[w] == POISON_WORD)
				fl->poison_seen++;
	}
	return NULL;
}

static bool page_is(const uint8_t *p, uint8_t byte)
{
	uint64_t i;

	for (i = 0; i < PAGE; i++)
		if (p[i] != byte)
			return false;
	return true;
}

static void fill_words(uint8_t *p, uint32_t word, uint64_t bytes)
{
	uint64_t i;

	for (i = 0; i < bytes / 4; i++)
		((uint32_t *)p)[i] = word;
}

static void flipper_init(struct flipper *fl, bool read_test)
{
	memset(fl, 0, sizeof(*fl));
	fl->dev = test_device(4, 64);
	pthread_mutex_init(&fl->lock, NULL);
	fl->read_test = read_test;
	fl->buf[0] = test_alloc(PAGES * PAGE, PAGE);
	fl->buf[1] = test_alloc(PAGES * PAGE, PAGE);
	fill_words(fl->buf[0], LIVE_WORD, PAGES * PAGE);
	memset(fl->buf[1], POISON_BYTE, PAGES * PAGE);
	assert_int_equal(
		fl->dev->ops->vm_create(fl->dev, 48, fl, flip_fault, &fl->vm),
		0);
	assert_int_equal(fl->dev->ops->vm_map(fl->vm, TEST_VA, PAGES * PAGE,
					      fl->buf[0], RW),
			 0);
	if (read_test) {
		fl->dst = test_alloc(PAGES * PAGE, PAGE);
		assert_int_equal(fl->dev->ops->vm_map(fl->vm, TEST_VA2,
						      PAGES * PAGE, fl->dst,
						      RW),
				 0);
	}
}

static void flipper_fini(struct flipper *fl)
{
	fl->dev->ops->vm_destroy(fl->vm);
	fl->dev->ops->destroy(fl->dev);
	free(fl->buf[0]);
	free(fl->buf[1]);
	free(fl->dst);
	pthread_mutex_destroy(&fl->lock);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Flip pages under the running kernels, stop the launcher, then check
 * every retired page.  Nothing asserts before the launcher is joined.
 */
static void flip_pages(struct flipper *fl, pthread_t thr)
{
	struct vp_vm_stats st;
	uint32_t round, i;

	for (round = 0; round < ROUNDS; round++) {
		uint32_t pg = (uint32_t)(rng() % PAGES);
		uint8_t *old, *next;

		pthread_mutex_lock(&fl->lock);
		old = fl->buf[fl->cur[pg]] + pg * PAGE;
		next = fl->buf[!fl->cur[pg]] + pg * PAGE;
		/* Retired since it was last poisoned: nothing may have
		 * written it (reads leave no trace: see the read test). */
		if (!page_is(next, POISON_BYTE))
			fl->poison_broken++;
		if (fl->read_test)
			fill_words(next, LIVE_WORD, PAGE);
		fl->dev->ops->vm_unmap(fl->vm, TEST_VA + pg * PAGE, PAGE);
		fl->cur[pg] = !fl->cur[pg];
		pthread_mutex_unlock(&fl->lock);

		/* vm_unmap() returned: the device is done with old. */
		memset(old, POISON_BYTE, PAGE);
		if (rng() % 4 == 0)
			test_sleep_us((long)(rng() % 200));
	}
	atomic_store(&fl->stop, true);
	pthread_join(thr, NULL);

	assert_int_equal(fl->poison_broken, 0);
	for (i = 0; i < PAGES; i++)
		assert_true(
			page_is(fl->buf[!fl->cur[i]] + i * PAGE, POISON_BYTE));
	/* One shootdown per unmap that found the page mapped. */
	fl->dev->ops->vm_stats(fl->vm, &st);
	assert_true(st.tlb_flushes > 0 && st.tlb_flushes <= ROUNDS);
}

static void writes_never_reach_an_unmapped_page(void **state)
{
	struct flipper fl;
	pthread_t thr;

	(void)state;
	flipper_init(&fl, false);
	assert_int_equal(pthread_create(&thr, NULL, launcher, &fl), 0);
	flip_pages(&fl, thr);
	assert_int_equal(fl.bad_status, 0);
	assert_true(fl.launches > 0);
	print_message("%llu fills, %llu faults, %u unmaps\n",
		      (unsigned long long)fl.launches,
		      (unsigned long long)fl.faults, ROUNDS);
	flipper_fini(&fl);
}

static void reads_never_see_an_unmapped_page(void **state)
{
	struct flipper fl;
	pthread_t thr;

	(void)state;
	flipper_init(&fl, true);
	assert_int_equal(pthread_create(&thr, NULL, launcher, &fl), 0);
	flip_pages(&fl, thr);
	assert_int_equal(fl.bad_status, 0);
	assert_int_equal(fl.poison_seen, 0);
	assert_true(fl.launches > 0);
	print_message("%llu copies, %llu faults, %u unmaps\n",
		      (unsigned long long)fl.launches,
		      (unsigned long long)fl.faults, ROUNDS);
	flipper_fini(&fl);
}

/* ---- An EU parked in the fault function does not delay vm_unmap. -- */

struct parked {
	struct vp_device *dev;
	struct vp_dev_vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool in_fault; /* guarded by lock */
	bool release;  /* guarded by lock */
	uint32_t *buf;
};

static int parked_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
			enum vp_access access)
{
	struct parked *p = owner;

	(void)access;
	pthread_mutex_lock(&p->lock);
	p->in_fault = true;
	pthread_cond_broadcast(&p->cond);
	while (!p->release)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return p->dev->ops->vm_map(vm, va, PAGE, p->buf, RW);
}

static void unmap_does_not_wait_for_a_faulting_eu(void **state)
{
	struct parked p = { 0 };
	struct test_launch t;
	struct vp_vm_stats st;

	(void)state;
	p.dev = test_device(2, 64);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.buf = test_alloc(2 * PAGE, PAGE);
	assert_int_equal(
		p.dev->ops->vm_create(p.dev, 48, &p, parked_fault, &p.vm), 0);
	assert_int_equal(
		p.dev->ops->vm_map(p.vm, TEST_VA2, PAGE, p.buf + PAGE / 4, RW),
		0);
	test_launch_init(&t, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, 4, 8 }, 3);
	test_launch_start(p.dev, p.vm, &t);

	pthread_mutex_lock(&p.lock);
	while (!p.in_fault)
		pthread_cond_wait(&p.cond, &p.lock);
	pthread_mutex_unlock(&p.lock);
	/* The EU is parked in the fault function: these must not block. */
	p.dev->ops->vm_unmap(p.vm, TEST_VA2, PAGE);
	assert_int_equal(p.dev->ops->vm_map(p.vm, TEST_VA2, PAGE, p.buf, RW),
			 0);
	p.dev->ops->vm_stats(p.vm, &st);
	assert_int_equal(st.tlb_flushes, 1);
	assert_false(test_launch_is_done(&t));

	pthread_mutex_lock(&p.lock);
	p.release = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, 0);
	assert_int_equal(t.l.faults, 1);
	assert_int_equal(p.buf[3], 8);
	test_launch_fini(&t);

	p.dev->ops->vm_destroy(p.vm);
	p.dev->ops->destroy(p.dev);
	free(p.buf);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_never_reach_an_unmapped_page),
		cmocka_unit_test(reads_never_see_an_unmapped_page),
		cmocka_unit_test(unmap_does_not_wait_for_a_faulting_eu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
