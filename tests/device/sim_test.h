/* SPDX-License-Identifier: MIT */
/*
 * sim_test.h - helpers shared by the simulated-device tests.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * A synchronous launch wrapper (start, wait for done(), check that done()
 * ran exactly once), aligned host buffers, and a "pager": a fault function
 * that maps pages on demand from a table of VA ranges, under a mutex that
 * plays the SVM core's context lock (vm_map() is called holding it, as
 * context.c does), so the tests exercise the lock order of device.h.
 */
#ifndef VSVM_SIM_TEST_H
#define VSVM_SIM_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_sim.h"
#include "device.h"

#define PAGE	 4096ull
#define HUGE	 (2ull << 20)
#define TEST_VA	 0x10000000000ull /* 1 TiB: far from any host pointer */
#define TEST_VA2 0x20000000000ull

struct test_launch {
	struct vp_launch l;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done_calls; /* guarded by lock */
};

static inline void test_launch_done(struct vp_launch *l)
{
	struct test_launch *t = l->priv;

	pthread_mutex_lock(&t->lock);
	t->done_calls++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static inline void test_launch_init(struct test_launch *t, uint32_t kernel,
				    const uint64_t *args, uint32_t nr)
{
	memset(t, 0, sizeof(*t));
	t->l.kernel = kernel;
	t->l.nr_args = nr;
	memcpy(t->l.args, args, nr * sizeof(args[0]));
	t->l.done = test_launch_done;
	t->l.priv = t;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
}

static inline void test_launch_start(struct vp_device *dev,
				     struct vp_dev_vm *vm,
				     struct test_launch *t)
{
	assert_int_equal(dev->ops->launch(vm, &t->l), 0);
}

static inline bool test_launch_is_done(struct test_launch *t)
{
	bool done;

	pthread_mutex_lock(&t->lock);
	done = t->done_calls > 0;
	pthread_mutex_unlock(&t->lock);
	return done;
}

/* Wait for done(); it must have run exactly once. */
static inline void test_launch_wait(struct test_launch *t)
{
	pthread_mutex_lock(&t->lock);
	while (!t->done_calls)
		pthread_cond_wait(&t->cond, &t->lock);
	assert_int_equal(t->done_calls, 1);
	pthread_mutex_unlock(&t->lock);
}

static inline void test_launch_fini(struct test_launch *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

/* Run a kernel to its end; return the launch as the device left it. */
static inline struct vp_launch test_run(struct vp_device *dev,
					struct vp_dev_vm *vm, uint32_t kernel,
					const uint64_t *args, uint32_t nr)
{
	struct test_launch t;
	struct vp_launch out;

	test_launch_init(&t, kernel, args, nr);
	test_launch_start(dev, vm, &t);
	test_launch_wait(&t);
	out = t.l;
	test_launch_fini(&t);
	return out;
}

#define RUN(dev, vm, kernel, ...)                                    \
	test_run(dev, vm, kernel, (const uint64_t[]){ __VA_ARGS__ }, \
		 sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))

static inline void *test_alloc(size_t bytes, size_t align)
{
	void *p = aligned_alloc(align, (bytes + align - 1) / align * align);

	assert_non_null(p);
	memset(p, 0, bytes);
	return p;
}

static inline uint64_t test_hva(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static inline void test_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- The pager: a fault function that maps from a table. ---------- */

#define PAGER_MAX_RANGES 8

struct pager_range {
	uint64_t va;
	uint64_t len;
	uint8_t *hva;
	uint32_t prot;
};

struct pager {
	pthread_mutex_t lock; /* the "context lock" */
	struct vp_device *dev;
	struct vp_dev_vm *vm;
	struct pager_range ranges[PAGER_MAX_RANGES]; /* by lock */
	uint32_t nr;				     /* by lock */
	uint64_t calls;				     /* by lock */
	uint64_t last_va;			     /* by lock */
	enum vp_access last_access;		     /* by lock */
	int fail;	   /* returned when no range fits */
	int map_len_pages; /* pages mapped per fault (>= 1) */
	long delay_us;	   /* sleep in each fault, unlocked */
};

static inline bool pager_allows(uint32_t prot, enum vp_access access)
{
	switch (access) {
	case VP_ACCESS_READ:
		return prot & VP_PROT_READ;
	case VP_ACCESS_WRITE:
		return prot & VP_PROT_WRITE;
	case VP_ACCESS_ATOMIC:
		return prot & VP_PROT_ATOMIC;
	}
	return false;
}

static inline int pager_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
			      enum vp_access access)
{
	struct pager *pg = owner;
	uint32_t i;
	int ret;

	assert_true(vm == pg->vm);
	assert_int_equal(va % PAGE, 0);
	if (pg->delay_us)
		test_sleep_us(pg->delay_us);
	pthread_mutex_lock(&pg->lock);
	ret = pg->fail;
	pg->calls++;
	pg->last_va = va;
	pg->last_access = access;
	for (i = 0; i < pg->nr; i++) {
		struct pager_range *r = &pg->ranges[i];
		uint64_t len = PAGE * (uint64_t)pg->map_len_pages;

		if (va < r->va || va - r->va >= r->len)
			continue;
		if (!pager_allows(r->prot, access))
			break;
		if (len > r->len - (va - r->va))
			len = r->len - (va - r->va);
		ret = pg->dev->ops->vm_map(vm, va, len, r->hva + (va - r->va),
					   r->prot);
		break;
	}
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

static inline void pager_init(struct pager *pg, struct vp_device *dev)
{
	memset(pg, 0, sizeof(*pg));
	pthread_mutex_init(&pg->lock, NULL);
	pg->dev = dev;
	pg->fail = -VSVM_ERR_FAULT;
	pg->map_len_pages = 1;
}

/* Create a VM whose faults the pager answers. */
static inline struct vp_dev_vm *pager_vm(struct pager *pg, uint32_t va_bits)
{
	assert_int_equal(pg->dev->ops->vm_create(pg->dev, va_bits, pg,
						 pager_fault, &pg->vm),
			 0);
	return pg->vm;
}

static inline void pager_add(struct pager *pg, uint64_t va, uint64_t len,
			     void *hva, uint32_t prot)
{
	pthread_mutex_lock(&pg->lock);
	assert_true(pg->nr < PAGER_MAX_RANGES);
	/* Whole pages, as the guest maps them. */
	len = (len + PAGE - 1) / PAGE * PAGE;
	pg->ranges[pg->nr++] = (struct pager_range){ va, len, hva, prot };
	pthread_mutex_unlock(&pg->lock);
}

static inline uint64_t pager_calls(struct pager *pg)
{
	uint64_t n;

	pthread_mutex_lock(&pg->lock);
	n = pg->calls;
	pthread_mutex_unlock(&pg->lock);
	return n;
}

static inline void pager_fini(struct pager *pg)
{
	if (pg->vm)
		pg->dev->ops->vm_destroy(pg->vm);
	pthread_mutex_destroy(&pg->lock);
}

static inline struct vp_device *test_device(uint32_t exec_units,
					    uint32_t tlb_entries)
{
	struct dev_sim_config cfg = {
		.exec_units = exec_units,
		.tlb_entries = tlb_entries,
		.mem_size = 64ull << 20,
	};
	struct vp_device *dev = dev_sim_create(&cfg);

	assert_non_null(dev);
	return dev;
}

#endif /* VSVM_SIM_TEST_H */
