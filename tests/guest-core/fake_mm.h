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
 * Migration (migrate_setup/finalize): a page may be device-private
 * (dev = device + 1, no GPA) or migrating (CPU access would wait).  setup
 * calls the notifier naming the owner, as Linux's MMU_NOTIFY_MIGRATE;
 * pages coming back get fresh GPAs from next_gpa; guest pages a finished
 * migration released are listed in freed[].  after_setup runs after
 * setup dropped the lock: where a racing invalidation is started.
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
	__u32 dev;     /* device-private on device dev - 1; 0: guest RAM */
	int migrating; /* between migrate_setup and migrate_finalize */
};

#define FM_MAX_FREED 4096

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
	/* Migration. */
	__u64 next_gpa; /* GPAs of pages coming back */
	__u64 freed[FM_MAX_FREED];
	unsigned int nr_freed;
	int setups;
	int owned_notifies; /* notifier calls naming an owner */
	void (*after_setup)(struct fake_mm *mm, void *arg);
	void *after_setup_arg;
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
static inline void fm_notify_owner_locked(struct fake_mm *mm, __u64 va,
					  __u64 len, const void *owner)
{
	__atomic_add_fetch(&mm->seq, 1, __ATOMIC_SEQ_CST);
	if (owner)
		mm->owned_notifies++;
	if (mm->ctx && vsvmg_ctx_invalidate_range(mm->ctx, va, len, owner))
		mm->notifier_errors++;
}

static inline void fm_notify_locked(struct fake_mm *mm, __u64 va, __u64 len)
{
	fm_notify_owner_locked(mm, va, len, NULL);
}

/* What range_fault reports for a page. */
static inline __u64 fm_pfn(const struct fm_page *pg)
{
	if (!pg || pg->migrating)
		return 0;
	if (pg->dev)
		return VSVMG_PFN_DEVICE |
		       ((__u64)(pg->dev - 1) << VSVMG_PFN_DEV_SHIFT) |
		       (pg->writable ? VSVMG_PFN_WRITE : 0);
	return pg->gpa | VSVMG_PFN_VALID | (pg->writable ? VSVMG_PFN_WRITE : 0);
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
	for (i = 0; i < npages; i++)
		out[i] = fm_pfn(fm_find(mm, start + (__u64)i * 4096));
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

static inline int fm_collect(struct fake_mm *mm, struct fm_page *pg, __u32 to,
			     __u64 *src, __u64 *dst)
{
	if (!pg || pg->migrating)
		return 0;
	if (to != VSVM_LOC_SYSTEM) {
		if (pg->cow_gpa || pg->dev == to + 1)
			return 0;
		*src = fm_pfn(pg) | VSVMG_PFN_MIGRATE;
		*dst = VSVMG_PFN_DEVICE | ((__u64)to << VSVMG_PFN_DEV_SHIFT) |
		       (pg->writable ? VSVMG_PFN_WRITE : 0);
		return 1;
	}
	if (!pg->dev)
		return 0;
	mm->next_gpa += 4096;
	*src = fm_pfn(pg) | VSVMG_PFN_MIGRATE;
	*dst = mm->next_gpa | VSVMG_PFN_VALID |
	       (pg->writable ? VSVMG_PFN_WRITE : 0);
	return 1;
}

static inline int fm_migrate_setup(void *p, __u64 start, __u32 npages,
				   __u32 to, const void *owner, __u64 *src,
				   __u64 *dst, __u64 *seq)
{
	struct fake_mm *mm = p;
	__u64 lo = 0, hi = 0;
	__u32 i, n = 0;

	pthread_mutex_lock(&mm->lock);
	mm->setups++;
	for (i = 0; i < npages; i++) {
		__u64 va = start + (__u64)i * 4096;

		src[i] = dst[i] = 0;
		if (!fm_collect(mm, fm_find(mm, va), to, &src[i], &dst[i]))
			continue;
		if (!n++)
			lo = va;
		hi = va + 4096;
	}
	if (n) {
		fm_notify_owner_locked(mm, lo, hi - lo, owner);
		for (i = 0; i < npages; i++)
			if (src[i])
				fm_find(mm, start + (__u64)i * 4096)->migrating =
					1;
	}
	*seq = __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&mm->lock);
	if (mm->after_setup)
		mm->after_setup(mm, mm->after_setup_arg);
	return (int)n;
}

static inline void fm_migrate_finalize(void *p, __u64 start, __u32 npages,
				       const __u64 *src, const __u64 *dst)
{
	struct fake_mm *mm = p;
	__u32 i;

	pthread_mutex_lock(&mm->lock);
	for (i = 0; i < npages; i++) {
		struct fm_page *pg = fm_find(mm, start + (__u64)i * 4096);
		int ok = (src[i] & VSVMG_PFN_MIGRATE) != 0;

		if (!src[i] || !pg || !pg->migrating)
			continue;
		pg->migrating = 0;
		if (!ok)
			continue; /* restored: nothing changed meanwhile */
		if (dst[i] & VSVMG_PFN_DEVICE) {
			if (!pg->dev && mm->nr_freed < FM_MAX_FREED)
				mm->freed[mm->nr_freed++] = pg->gpa;
			pg->dev = VSVMG_PFN_DEV(dst[i]) + 1;
			pg->gpa = 0;
		} else {
			pg->dev = 0;
			pg->gpa = dst[i] & ~(__u64)VSVMG_PFN_FLAGS;
		}
	}
	pthread_mutex_unlock(&mm->lock);
}

static const struct vsvmg_mm_ops fm_ops = {
	.range_fault = fm_range_fault,
	.read_begin = fm_read_begin,
	.read_retry = fm_read_retry,
	.migrate_setup = fm_migrate_setup,
	.migrate_finalize = fm_migrate_finalize,
};

static inline struct fake_mm *fm_create(void)
{
	struct fake_mm *mm = calloc(1, sizeof(*mm));

	pthread_mutex_init(&mm->lock, NULL);
	mm->next_gpa = 0x70000000ull;
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
