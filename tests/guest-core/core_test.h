/* SPDX-License-Identifier: MIT */
/*
 * core_test.h - shared fixture of the guest-shim core tests: a fake host,
 *               a fake process memory, a device and one context.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * A test configures fx->h->caps, fx->cfg and the fake mm, then calls
 * fx_start() (dev + ctx, notifier attached).  Teardown detaches the
 * notifier, destroys the context (which must stop its event thread),
 * the device and the fakes; the sanitizers catch what leaks.
 *
 * Include after <cmocka.h>.
 */
#ifndef CORE_TEST_H
#define CORE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_host.h"
#include "fake_mm.h"

#define PG	 4096ull
#define WAIT_MS	 5000u
#define GPA_BASE 0x10000000ull

struct core_fx {
	struct fake_host *h;
	struct fake_mm *mm;
	struct vsvmg_dev *dev;
	struct vsvmg_ctx *ctx;
	__u32 id;
	struct vsvmg_config cfg;
	/*
	 * Joins what a test started (threads, heap state): run at teardown
	 * after the host is released, so a test that failed half-way still
	 * leaves nothing running.
	 */
	void (*cleanup)(struct core_fx *fx);
	void *cleanup_arg;
};

static inline int fx_setup(void **state)
{
	struct core_fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->h = fh_create();
	fx->mm = fm_create();
	*state = fx;
	return 0;
}

/*
 * Create the device (unless the test did) and the context, and attach the
 * mm's notifier.
 */
static inline void fx_start(struct core_fx *fx)
{
	if (!fx->dev)
		fx->dev = vsvmg_dev_create(&fh_ops, fx->h, &fx->cfg);
	assert_non_null(fx->dev);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &fx->ctx),
			 0);
	fx->id = vsvmg_ctx_id(fx->ctx);
	assert_true(fh_wait_parked(fx->h, fx->id, WAIT_MS));
	fx->mm->ctx = fx->ctx;
}

static inline int fx_teardown(void **state)
{
	struct core_fx *fx = *state;

	/* A failed test may have left the host stalled or hostile. */
	fh_set_hold_unmap(fx->h, 0);
	fh_set_hold_all(fx->h, 0);
	fh_set_mangle(fx->h, NULL, NULL);
	fh_set_map_status(fx->h, NULL, NULL);
	fh_set_fail_op(fx->h, 0, 0);
	fx->mm->after_read = NULL;
	if (fx->cleanup)
		fx->cleanup(fx);
	fx->mm->on_change = NULL;
	fx->mm->ctx = NULL;
	if (fx->ctx)
		vsvmg_ctx_destroy(fx->ctx);
	if (fx->dev)
		vsvmg_dev_destroy(fx->dev);
	fh_destroy(fx->h);
	fm_destroy(fx->mm);
	free(fx);
	return 0;
}

/* Snapshot of the context's counters. */
static inline struct vsvmg_ctx_stats fx_stats(struct core_fx *fx)
{
	struct vsvmg_ctx_stats st;

	vsvmg_ctx_stats(fx->ctx, &st);
	return st;
}

/*
 * Wait until the context counted n answered faults: the host records an
 * answer before the core has seen its completion and counted it.
 */
static inline struct vsvmg_ctx_stats fx_wait_faults(struct core_fx *fx, __u64 n)
{
	__u64 deadline = fh_now_ms() + WAIT_MS;
	struct vsvmg_ctx_stats st = fx_stats(fx);

	while (st.faults < n && fh_now_ms() < deadline) {
		usleep(1000);
		st = fx_stats(fx);
	}
	return st;
}

/* Inject one fault and wait for its answer; the status. */
static inline int fx_fault(struct core_fx *fx, __u32 id, __u64 va, __u32 access)
{
	fh_inject_fault(fx->h, fx->id, id, va, access);
	return fh_wait_answer(fx->h, fx->id, id, WAIT_MS);
}

/*
 * Coherency as the device sees it: every PTE the host holds must match
 * the process's page table (same GPA; writable only if the page is).
 * Return NULL, or what is wrong.
 */
static inline const char *fx_incoherent(struct core_fx *fx)
{
	static char why[160];
	struct fh_pte *ptes = calloc(FH_MAX_PTES, sizeof(*ptes));
	const char *ret = NULL;
	struct fh_ctx *c;
	__u32 i, n = 0;

	/* Copy first: the mm lock nests outside the host's (notifier). */
	pthread_mutex_lock(&fx->h->lock);
	c = fh_ctx_get(fx->h, fx->id);
	if (c) {
		n = c->nr_ptes;
		memcpy(ptes, c->ptes, n * sizeof(*ptes));
	}
	pthread_mutex_unlock(&fx->h->lock);
	for (i = 0; i < n && !ret; i++) {
		struct fh_pte *p = &ptes[i];
		struct fm_page pg;

		if (!fm_lookup(fx->mm, p->va, &pg)) {
			snprintf(why, sizeof(why),
				 "device maps 0x%llx, the process does not",
				 (unsigned long long)p->va);
			ret = why;
		} else if (p->dev || pg.dev) {
			if (p->dev != pg.dev) {
				snprintf(why, sizeof(why),
					 "device has 0x%llx on %u, process on %u",
					 (unsigned long long)p->va, p->dev,
					 pg.dev);
				ret = why;
			}
		} else if (pg.gpa != p->gpa) {
			snprintf(
				why, sizeof(why),
				"device maps 0x%llx to 0x%llx, process to 0x%llx",
				(unsigned long long)p->va,
				(unsigned long long)p->gpa,
				(unsigned long long)pg.gpa);
			ret = why;
		} else if ((p->prot & VSVM_PROT_WRITE) && !pg.writable) {
			snprintf(why, sizeof(why),
				 "device may write 0x%llx, the process may not",
				 (unsigned long long)p->va);
			ret = why;
		}
	}
	free(ptes);
	return ret;
}

/* Applied log records of op for the fixture's context. */
static inline unsigned int fx_count_op(struct core_fx *fx, __u16 op)
{
	unsigned int n = 0;
	__u32 i;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < fx->h->nr_log; i++)
		n += fx->h->log[i].op == op && fx->h->log[i].ctx_id == fx->id;
	pthread_mutex_unlock(&fx->h->lock);
	return n;
}

/* The n-th (from 0) applied record of op for the fixture's context. */
static inline int fx_nth_op(struct core_fx *fx, __u16 op, unsigned int n,
			    struct fh_rec *out)
{
	__u32 i;
	int found = 0;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < fx->h->nr_log; i++) {
		struct fh_rec *r = &fx->h->log[i];

		if (r->op != op || r->ctx_id != fx->id)
			continue;
		if (n-- == 0) {
			*out = *r;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&fx->h->lock);
	return found;
}

static inline void fx_sleep_ms(unsigned int ms)
{
	usleep(ms * 1000);
}

#endif /* CORE_TEST_H */
