/* SPDX-License-Identifier: MIT */
/*
 * fake_mm.h - an in-test guest process memory behind struct vsvmg_mm_ops:
 *             a VA -> GPA table, a sequence counter and an mmu notifier.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * It behaves like Linux's HMM for the purpose of the core's protocol: one
 * lock (the "mmap lock") guards the table; a change that takes access away
 * (fm_remap, fm_unmap, fm_protect) takes that lock, bumps the sequence,
 * calls vsvmg_ctx_invalidate() WITH THE LOCK HELD (the notifier), and only
 * then changes the table.  range_fault reads the table under the lock;
 * read_begin/read_retry read the sequence without it.
 *
 * after_read, when set, runs inside range_fault after the table was read
 * and the lock dropped: the window in which a racing invalidation makes
 * what was read stale.  Tests use it to start such an invalidation.
 *
 * Include after <cmocka.h> and fake_host.h.
 */
#ifndef FAKE_MM_H
#define FAKE_MM_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vsvmg.h"

#define FM_MAX_PAGES 4096

struct fm_page {
	__u64 va;
	__u64 gpa;
	int writable;
	__u64 cow_gpa; /* copy-on-write: a write fault copies here */
};

struct fake_mm {
	pthread_mutex_t lock;
	__u64 seq; /* atomic */
	struct fm_page pages[FM_MAX_PAGES];
	unsigned int nr;
	struct vsvmg_ctx *ctx; /* notifier target, or NULL */
	void (*after_read)(struct fake_mm *mm, __u64 fault_va, void *arg);
	void *after_read_arg;
	/* Called under the lock after a notified change of page va. */
	void (*on_change)(struct fake_mm *mm, __u64 va, __u64 gpa, int writable,
			  void *arg);
	void *on_change_arg;
	int range_faults; /* calls, under lock */
	int notifier_errors;
	/* range_fault succeeds for a write to a read-only page (lax mm). */
	int lax_write;
	/* range_fault returns -EBUSY this many more times (HMM's retry). */
	int busy;
};

static inline struct fm_page *fm_find(struct fake_mm *mm, __u64 va)
{
	unsigned int i;

	for (i = 0; i < mm->nr; i++)
		if (mm->pages[i].va == va)
			return &mm->pages[i];
	return NULL;
}

/* The notifier step: bump, then invalidate, with the lock held. */
static inline void fm_notify_locked(struct fake_mm *mm, __u64 va, __u64 len)
{
	__atomic_add_fetch(&mm->seq, 1, __ATOMIC_SEQ_CST);
	if (mm->ctx && vsvmg_ctx_invalidate(mm->ctx, va, len))
		mm->notifier_errors++;
}

static inline int fm_range_fault(void *p, __u64 start, __u32 npages,
				 __u64 fault_va, int write, int populate,
				 __u64 *out)
{
	struct fake_mm *mm = p;
	struct fm_page *pg;
	__u32 i;

	(void)populate;
	pthread_mutex_lock(&mm->lock);
	mm->range_faults++;
	if (mm->busy > 0) {
		mm->busy--;
		pthread_mutex_unlock(&mm->lock);
		return -16; /* -EBUSY */
	}
	pg = fm_find(mm, fault_va & ~0xfffull);
	if (pg && write && pg->cow_gpa) {
		/* Break COW as Linux does: notifier first, lock held. */
		fm_notify_locked(mm, pg->va, 4096);
		pg->gpa = pg->cow_gpa;
		pg->cow_gpa = 0;
		pg->writable = 1;
		if (mm->on_change)
			mm->on_change(mm, pg->va, pg->gpa, 1,
				      mm->on_change_arg);
	}
	if (!pg || (write && !pg->writable && !mm->lax_write)) {
		pthread_mutex_unlock(&mm->lock);
		return -14; /* -EFAULT */
	}
	for (i = 0; i < npages; i++) {
		pg = fm_find(mm, start + (__u64)i * 4096);
		out[i] = pg ? pg->gpa | VSVMG_PFN_VALID |
					 (pg->writable ? VSVMG_PFN_WRITE : 0) :
			      0;
	}
	pthread_mutex_unlock(&mm->lock);
	if (mm->after_read)
		mm->after_read(mm, fault_va, mm->after_read_arg);
	return 0;
}

static inline __u64 fm_read_begin(void *p)
{
	struct fake_mm *mm = p;

	return __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST);
}

static inline int fm_read_retry(void *p, __u64 seq)
{
	struct fake_mm *mm = p;

	return __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST) != seq;
}

static const struct vsvmg_mm_ops fm_ops = {
	.range_fault = fm_range_fault,
	.read_begin = fm_read_begin,
	.read_retry = fm_read_retry,
};

static inline struct fake_mm *fm_create(void)
{
	struct fake_mm *mm = calloc(1, sizeof(*mm));

	pthread_mutex_init(&mm->lock, NULL);
	return mm;
}

static inline void fm_destroy(struct fake_mm *mm)
{
	pthread_mutex_destroy(&mm->lock);
	free(mm);
}

/* Add a mapping where there was none: no invalidation needed. */
static inline void fm_set(struct fake_mm *mm, __u64 va, __u64 gpa, int writable)
{
	struct fm_page *pg;

	pthread_mutex_lock(&mm->lock);
	pg = fm_find(mm, va);
	if (!pg && mm->nr < FM_MAX_PAGES)
		pg = &mm->pages[mm->nr++];
	pg->va = va;
	pg->gpa = gpa;
	pg->writable = writable;
	pg->cow_gpa = 0;
	pthread_mutex_unlock(&mm->lock);
}

/* Map npages pages from va to gpa, contiguous. */
static inline void fm_set_range(struct fake_mm *mm, __u64 va, __u64 gpa,
				unsigned int npages, int writable)
{
	unsigned int i;

	for (i = 0; i < npages; i++)
		fm_set(mm, va + i * 4096ull, gpa + i * 4096ull, writable);
}

/* Point one page at a new GPA (0: unmap it), as a migration would. */
static inline void fm_remap(struct fake_mm *mm, __u64 va, __u64 gpa)
{
	struct fm_page *pg;

	pthread_mutex_lock(&mm->lock);
	fm_notify_locked(mm, va, 4096);
	pg = fm_find(mm, va);
	if (gpa) {
		if (!pg && mm->nr < FM_MAX_PAGES) {
			pg = &mm->pages[mm->nr++];
			pg->writable = 1;
		}
		pg->va = va;
		pg->gpa = gpa;
		pg->cow_gpa = 0;
	} else if (pg) {
		*pg = mm->pages[--mm->nr];
	}
	if (mm->on_change)
		mm->on_change(mm, va, gpa, gpa ? 1 : 0, mm->on_change_arg);
	pthread_mutex_unlock(&mm->lock);
}

/* Share a page copy-on-write: read-only until a write fault copies it. */
static inline void fm_set_cow(struct fake_mm *mm, __u64 va, __u64 gpa,
			      __u64 copy_gpa)
{
	fm_set(mm, va, gpa, 0);
	pthread_mutex_lock(&mm->lock);
	fm_find(mm, va)->cow_gpa = copy_gpa;
	pthread_mutex_unlock(&mm->lock);
}

/* Take write access away from one page (mprotect PROT_READ). */
static inline void fm_protect(struct fake_mm *mm, __u64 va)
{
	struct fm_page *pg;

	pthread_mutex_lock(&mm->lock);
	fm_notify_locked(mm, va, 4096);
	pg = fm_find(mm, va);
	if (pg)
		pg->writable = 0;
	if (mm->on_change)
		mm->on_change(mm, va, pg ? pg->gpa : 0, 0, mm->on_change_arg);
	pthread_mutex_unlock(&mm->lock);
}

/* Copy of the page for va; 0 if unmapped. */
static inline int fm_lookup(struct fake_mm *mm, __u64 va, struct fm_page *out)
{
	struct fm_page *pg;

	pthread_mutex_lock(&mm->lock);
	pg = fm_find(mm, va);
	if (pg)
		*out = *pg;
	pthread_mutex_unlock(&mm->lock);
	return pg != NULL;
}

#endif /* FAKE_MM_H */
