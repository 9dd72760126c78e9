// SPDX-License-Identifier: MIT
/*
 * guest_mm.c - a simulated guest process's address space.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The model, page-table format and locking rules are in guest_mm.h.  This
 * file keeps:
 *
 *  - the VMAs: a sorted array of disjoint [start, end) ranges, split and
 *    merged as Linux does (adjacent ranges with equal protection merge);
 *  - the page table in guest RAM, reached only through frame_ptr(), the
 *    one place that turns a table's GPA into a pointer;
 *  - one range walker, walk_table(), under every operation that touches
 *    many entries (invalidation spans, zap, protect, fork);
 *  - fault_page_locked(), the guest kernel's page-fault handler, shared by
 *    CPU accesses and range_fault.
 *
 * DOC: Invalidation
 *
 * Every change that takes access away goes through notify_locked(): bump
 * the sequence, then call the notifier, then change the entries, then free
 * frames, all under the mm lock.  What triggers it:
 *
 *   munmap, MAP_FIXED over a mapping, exit   present entries in the range
 *   mprotect to read-only                    writable entries in the range
 *   mprotect to PROT_NONE                    present entries in the range
 *   fork                                     writable entries, everywhere
 *   write fault that copies a COW frame      that one page
 *
 * Each operation makes at most one call, for the span from its first to
 * its last affected page, and none when no page is affected: the device
 * can only hold what range_fault reported, which is present entries, so a
 * range without them needs no round trip to the host.  Gaining access
 * (mprotect up, a first touch, a COW frame reused because it is no longer
 * shared) needs no invalidation.  A span may cover pages that needed none
 * (a read-only page between two writable ones at fork): the device only
 * refaults them.  Calling the notifier more than needed is safe; less is
 * never.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsvmg.h"
#include "guest_mm.h"

#define PT_ENTRIES 512u
#define PT_SHIFT   9u
#define PAGE_SHIFT 12u
#define PAGE_SIZE  GSIM_PAGE_SIZE
#define PAGE_MASK  (PAGE_SIZE - 1)

struct gsim_vma {
	uint64_t start;
	uint64_t end;
	unsigned int prot;
};

struct gsim_mm {
	struct gsim_ram *ram;
	/* Fixed at creation; read without the lock. */
	unsigned int levels;
	uint64_t limit;

	/* Guards everything below except seq (DOC: Locking in guest_mm.h). */
	pthread_mutex_t lock;
	uint64_t root;	       /* GPA of the top-level table */
	struct gsim_vma *vmas; /* sorted by start, disjoint */
	unsigned int nr_vmas;
	unsigned int cap_vmas;
	gsim_mm_notifier_fn notifier;
	void *notifier_arg;
	gsim_mm_devmem_fault_fn devmem_fault;
	void *devmem_arg;
	struct gsim_mm_stats stats;
	/* Broadcast (under lock) whenever migration entries are resolved. */
	pthread_cond_t migrated;

	/* Written under lock, before the notifier; read locklessly. */
	uint64_t seq;
};

/*
 * The mm whose notifier this thread is running, if any.  Lets the
 * read-only helpers skip the lock the thread already holds, and turns a
 * notifier that calls back into a locking function into an abort with a
 * message rather than a silent self-deadlock.
 */
static __thread const struct gsim_mm *notifying_mm;

static void mm_lock(struct gsim_mm *mm)
{
	if (notifying_mm) {
		fprintf(stderr, "guest_mm: the notifier called back into an "
				"mm; see DOC: Locking in guest_mm.h\n");
		abort();
	}
	pthread_mutex_lock(&mm->lock);
}

static void mm_unlock(struct gsim_mm *mm)
{
	pthread_mutex_unlock(&mm->lock);
}

/* For read-only helpers: returns whether the lock was taken. */
static bool mm_lock_inspect(struct gsim_mm *mm)
{
	if (notifying_mm == mm)
		return false;
	mm_lock(mm);
	return true;
}

/* ---- frames in guest RAM ---------------------------------------------- */

/*
 * The one place a frame's GPA becomes a pointer.  Every GPA passed here
 * came from the allocator through this mm's own entries, never from the
 * device or the guest, so a miss is a simulator bug.
 */
static uint64_t *frame_ptr(const struct gsim_mm *mm, uint64_t gpa)
{
	uint64_t *t = gsim_ram_ptr(mm->ram, gpa, PAGE_SIZE);

	if (!t)
		abort();
	return t;
}

static unsigned int pt_index(uint64_t va, unsigned int level)
{
	return (va >> (PAGE_SHIFT + PT_SHIFT * level)) & (PT_ENTRIES - 1);
}

/* Bytes of VA one entry at this level covers (level 0: the leaf). */
static uint64_t level_span(unsigned int level)
{
	return PAGE_SIZE << (PT_SHIFT * level);
}

/* Any leaf worth visiting: a frame, a device page, a migration. */
static bool pte_has_page(uint64_t e)
{
	return e & (GSIM_PTE_PRESENT | GSIM_PTE_PROTNONE | GSIM_PTE_DEVICE |
		    GSIM_PTE_MIGRATION);
}

/* Device-private or migrating: the CPU cannot use the entry as it is. */
static bool pte_special(uint64_t e)
{
	return e & (GSIM_PTE_DEVICE | GSIM_PTE_MIGRATION);
}

static bool pte_holds_frame(uint64_t e)
{
	return (e & (GSIM_PTE_PRESENT | GSIM_PTE_PROTNONE |
		     GSIM_PTE_MIGRATION)) &&
	       !(e & GSIM_PTE_DEVICE);
}

static uint64_t device_pte(uint32_t device, uint64_t write)
{
	return GSIM_PTE_DEVICE | ((uint64_t)device << GSIM_PTE_DEV_SHIFT) |
	       (write & GSIM_PTE_WRITE);
}

/* Leaf bits of a fresh, unshared frame in a VMA of this protection. */
static uint64_t prot_pte_bits(unsigned int prot)
{
	if (prot == GSIM_PROT_NONE)
		return GSIM_PTE_PROTNONE;
	if (prot & GSIM_PROT_WRITE)
		return GSIM_PTE_PRESENT | GSIM_PTE_WRITE;
	return GSIM_PTE_PRESENT;
}

/*
 * The leaf entry for va, allocating missing tables when alloc is set.
 * Returns NULL if a table is missing (or cannot be allocated).  The
 * pointer stays valid while the mm lock is held: only zap frees tables.
 */
static uint64_t *pte_lookup(struct gsim_mm *mm, uint64_t va, bool alloc)
{
	uint64_t table = mm->root;
	unsigned int level;

	for (level = mm->levels - 1; level > 0; level--) {
		uint64_t *e = &frame_ptr(mm, table)[pt_index(va, level)];

		if (!(*e & GSIM_PTE_PRESENT)) {
			uint64_t gpa;

			if (!alloc)
				return NULL;
			gpa = gsim_ram_alloc_page(mm->ram);
			if (!gpa)
				return NULL;
			mm->stats.pt_frames++;
			*e = gpa | GSIM_PTE_PRESENT | GSIM_PTE_WRITE;
		}
		table = *e & GSIM_PTE_ADDR;
	}
	return &frame_ptr(mm, table)[pt_index(va, 0)];
}

static bool table_empty(const uint64_t *t)
{
	unsigned int i;

	for (i = 0; i < PT_ENTRIES; i++)
		if (t[i])
			return false;
	return true;
}

/* ---- the range walker ------------------------------------------------- */

struct pt_walk {
	struct gsim_mm *mm;
	/* Called for every leaf holding a frame; may rewrite or clear it. */
	void (*leaf)(struct pt_walk *w, uint64_t va, uint64_t *pte);
	bool free_empty; /* free tables the walk leaves empty */
	/* Per-walk state of the leaf callbacks. */
	uint64_t want;	       /* span: entry bits that count */
	uint64_t lo, hi;       /* span: [lo, hi), hi == 0 if none */
	unsigned int prot;     /* protect: the new protection */
	struct gsim_mm *child; /* fork */
	int err;	       /* fork */
};

/* Walk [start, end) inside the table at base, which covers 512 entries. */
static void walk_table(struct pt_walk *w, uint64_t table, unsigned int level,
		       uint64_t base, uint64_t start, uint64_t end)
{
	uint64_t *t = frame_ptr(w->mm, table);
	uint64_t span = level_span(level);
	unsigned int i = (unsigned int)((start - base) / span);
	uint64_t va = base + (uint64_t)i * span;

	for (; i < PT_ENTRIES && va < end; i++, va += span) {
		uint64_t child, e = t[i];

		if (level == 0) {
			if (pte_has_page(e))
				w->leaf(w, va, &t[i]);
			continue;
		}
		if (!(e & GSIM_PTE_PRESENT))
			continue;
		child = e & GSIM_PTE_ADDR;
		walk_table(w, child, level - 1, va, start > va ? start : va,
			   end < va + span ? end : va + span);
		if (w->free_empty && table_empty(frame_ptr(w->mm, child))) {
			t[i] = 0;
			gsim_ram_put_page(w->mm->ram, child);
			w->mm->stats.pt_frames--;
		}
	}
}

static void walk_range(struct pt_walk *w, uint64_t start, uint64_t end)
{
	if (start < end)
		walk_table(w, w->mm->root, w->mm->levels - 1, 0, start, end);
}

static void span_leaf(struct pt_walk *w, uint64_t va, uint64_t *pte)
{
	uint64_t e = *pte;

	/* A device may map device-private and migrating pages too. */
	if ((w->want & GSIM_PTE_PRESENT) && pte_special(e))
		e |= GSIM_PTE_PRESENT;
	if (!(e & w->want))
		return;
	if (!w->hi)
		w->lo = va;
	w->hi = va + PAGE_SIZE;
}

static void zap_leaf(struct pt_walk *w, uint64_t va, uint64_t *pte)
{
	uint64_t e = *pte;

	(void)va;
	*pte = 0;
	if (pte_holds_frame(e)) {
		gsim_ram_put_page(w->mm->ram, e & GSIM_PTE_ADDR);
		w->mm->stats.resident_pages--;
	} else {
		/* Device memory: the host freed it on the UNMAP. */
		w->mm->stats.device_pages--;
	}
	if (e & GSIM_PTE_MIGRATION)
		pthread_cond_broadcast(&w->mm->migrated);
}

static void protect_leaf(struct pt_walk *w, uint64_t va, uint64_t *pte)
{
	uint64_t e = *pte & (GSIM_PTE_ADDR | GSIM_PTE_COW);

	(void)va;
	if (pte_special(*pte))
		return; /* settle_locked() left none; keep it intact anyway */
	e |= prot_pte_bits(w->prot);
	if (e & GSIM_PTE_COW)
		e &= ~GSIM_PTE_WRITE; /* stays shared until a write fault */
	*pte = e;
}

/*
 * Share the frame with the child, copy-on-write in both.  Every private
 * frame is marked COW, read-only ones too: an mprotect to writable later
 * must still copy a frame the other process can see.
 */
static void fork_leaf(struct pt_walk *w, uint64_t va, uint64_t *pte)
{
	uint64_t *cpte, e = (*pte & ~GSIM_PTE_WRITE) | GSIM_PTE_COW;

	if (w->err)
		return;
	if (pte_special(*pte)) {
		w->err = -EBUSY; /* settle_locked() left none */
		return;
	}
	cpte = pte_lookup(w->child, va, true);
	if (!cpte) {
		w->err = -ENOMEM;
		return;
	}
	gsim_ram_get_page(w->mm->ram, e & GSIM_PTE_ADDR);
	*cpte = e;
	w->child->stats.resident_pages++;
	*pte = e;
}

/* ---- invalidation ----------------------------------------------------- */

/*
 * The mmu-notifier call: the sequence first, then the device, then (in
 * the caller) the entry changes and frees.  The mm lock is held
 * throughout, so a range_fault cannot read entries between the bump and
 * the change, and read_begin never needs to wait.
 */
static void notify_locked(struct gsim_mm *mm, uint64_t va, uint64_t len,
			  const void *owner)
{
	/*
	 * Sequentially consistent, like the loads in read_begin/read_retry:
	 * the bump is ordered before the notifier takes the shim's context
	 * lock, so a read_retry under that lock afterwards sees it.
	 */
	__atomic_add_fetch(&mm->seq, 1, __ATOMIC_SEQ_CST);
	if (!mm->notifier)
		return;
	mm->stats.notifier_calls++;
	notifying_mm = mm;
	if (mm->notifier(mm->notifier_arg, va, len, owner))
		mm->stats.notifier_errors++;
	notifying_mm = NULL;
}

/* Invalidate the span of entries in [start, end) that have a want bit. */
static void invalidate_locked(struct gsim_mm *mm, uint64_t start, uint64_t end,
			      uint64_t want)
{
	struct pt_walk w = { .mm = mm, .leaf = span_leaf, .want = want };

	walk_range(&w, start, end);
	if (w.hi)
		notify_locked(mm, w.lo, w.hi - w.lo, NULL);
}

/*
 * Make [start, end) free of device-private and migration entries, for an
 * operation that cannot keep them (DOC: Device-private entries in
 * guest_mm.h).  Called and returns with the lock held, but drops it to
 * wait for a migration in flight or to call the devmem fault callback.
 * Return: 0 when the range has none (the lock never dropped), -EAGAIN
 * when the lock was dropped (look again), or the callback's -errno
 * (-EIO without a callback).
 */
static int settle_locked(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	struct pt_walk w = { .mm = mm, .leaf = span_leaf,
			     .want = GSIM_PTE_MIGRATION };
	gsim_mm_devmem_fault_fn fn = mm->devmem_fault;
	void *arg = mm->devmem_arg;
	int ret;

	walk_range(&w, start, end);
	if (w.hi) {
		pthread_cond_wait(&mm->migrated, &mm->lock);
		return -EAGAIN;
	}
	w = (struct pt_walk){ .mm = mm, .leaf = span_leaf,
			      .want = GSIM_PTE_DEVICE };
	walk_range(&w, start, end);
	if (!w.hi)
		return 0;
	if (!fn)
		return -EIO;
	mm->stats.devmem_faults++;
	mm_unlock(mm);
	ret = fn(arg, w.lo, w.hi - w.lo);
	mm_lock(mm);
	return ret ? ret : -EAGAIN;
}

/* settle_locked() until done; 0 or its -errno. */
static int settle_range_locked(struct gsim_mm *mm, uint64_t start,
			       uint64_t end)
{
	int ret;

	while ((ret = settle_locked(mm, start, end)) == -EAGAIN)
		;
	return ret;
}

/* Drop every frame in [start, end) and free tables left empty. */
static void zap_locked(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	struct pt_walk w = { .mm = mm, .leaf = zap_leaf, .free_empty = true };

	walk_range(&w, start, end);
}

/* ---- VMAs ------------------------------------------------------------- */

/* Index of the first VMA that ends above va (nr_vmas if none). */
static unsigned int vma_index(const struct gsim_mm *mm, uint64_t va)
{
	unsigned int lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid].end <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct gsim_vma *vma_find(struct gsim_mm *mm, uint64_t va)
{
	unsigned int i = vma_index(mm, va);

	if (i < mm->nr_vmas && mm->vmas[i].start <= va)
		return &mm->vmas[i];
	return NULL;
}

static bool vma_allows(const struct gsim_vma *vma, bool write)
{
	if (write)
		return vma->prot & GSIM_PROT_WRITE;
	return vma->prot != GSIM_PROT_NONE;
}

/*
 * Make room for extra more VMAs before anything changes, so that the
 * split/insert steps after it cannot fail half way.
 */
static int vma_reserve(struct gsim_mm *mm, unsigned int extra)
{
	struct gsim_vma *v;
	unsigned int cap;

	if (mm->nr_vmas + extra <= mm->cap_vmas)
		return 0;
	if (mm->nr_vmas + extra > GSIM_MM_MAX_VMAS)
		return -ENOMEM;
	cap = mm->cap_vmas ? mm->cap_vmas * 2 : 16;
	if (cap < mm->nr_vmas + extra)
		cap = mm->nr_vmas + extra;
	v = realloc(mm->vmas, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->vmas = v;
	mm->cap_vmas = cap;
	return 0;
}

static void vma_insert_at(struct gsim_mm *mm, unsigned int i,
			  const struct gsim_vma *vma)
{
	memmove(&mm->vmas[i + 1], &mm->vmas[i],
		(mm->nr_vmas - i) * sizeof(*vma));
	mm->vmas[i] = *vma;
	mm->nr_vmas++;
}

static void vma_remove(struct gsim_mm *mm, unsigned int i, unsigned int n)
{
	memmove(&mm->vmas[i], &mm->vmas[i + n],
		(mm->nr_vmas - i - n) * sizeof(*mm->vmas));
	mm->nr_vmas -= n;
}

/* Split the VMA containing addr so that one starts at addr (needs room). */
static void vma_split(struct gsim_mm *mm, uint64_t addr)
{
	unsigned int i = vma_index(mm, addr);
	struct gsim_vma tail;

	if (i == mm->nr_vmas || mm->vmas[i].start >= addr)
		return;
	tail = mm->vmas[i];
	tail.start = addr;
	mm->vmas[i].end = addr;
	vma_insert_at(mm, i + 1, &tail);
}

/* Merge neighbours with equal protection around [start, end). */
static void vma_merge(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start);

	if (i > 0)
		i--;
	while (i + 1 < mm->nr_vmas && mm->vmas[i].start <= end) {
		struct gsim_vma *a = &mm->vmas[i], *b = a + 1;

		if (a->end == b->start && a->prot == b->prot) {
			a->end = b->end;
			vma_remove(mm, i + 1, 1);
		} else {
			i++;
		}
	}
}

/* Whether [start, end) is covered by VMAs without a hole. */
static bool vma_covers(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start);
	uint64_t at = start;

	for (; i < mm->nr_vmas && at < end; i++) {
		if (mm->vmas[i].start > at)
			return false;
		at = mm->vmas[i].end;
	}
	return at >= end;
}

static bool range_free(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start);

	return i == mm->nr_vmas || mm->vmas[i].start >= end;
}

/* Highest free [va, va + len) below the top of the user half. */
static int find_gap(struct gsim_mm *mm, uint64_t len, uint64_t *va)
{
	uint64_t hi = mm->limit;
	unsigned int i;

	for (i = mm->nr_vmas; i-- > 0;) {
		const struct gsim_vma *v = &mm->vmas[i];

		if (v->end < hi && hi - v->end >= len) {
			*va = hi - len;
			return 0;
		}
		if (v->start < hi)
			hi = v->start;
	}
	if (hi >= GSIM_MM_MIN_ADDR && hi - GSIM_MM_MIN_ADDR >= len) {
		*va = hi - len;
		return 0;
	}
	return -ENOMEM;
}

/* ---- operations under the lock --------------------------------------- */

/* Whether [va, va + len) is a valid, page-aligned user range. */
static bool user_range_ok(const struct gsim_mm *mm, uint64_t va, uint64_t len)
{
	return !(va & PAGE_MASK) && len && va >= GSIM_MM_MIN_ADDR &&
	       va < mm->limit && len <= mm->limit - va;
}

static uint64_t page_round_up(uint64_t len)
{
	return (len + PAGE_MASK) & ~PAGE_MASK;
}

/*
 * Invalidate, zap and forget [start, end).  Needs room for 2 more VMAs:
 * both splits happen before the middle is removed.
 */
static void unmap_locked(struct gsim_mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i, j;

	invalidate_locked(mm, start, end, GSIM_PTE_PRESENT);
	zap_locked(mm, start, end);
	vma_split(mm, start);
	vma_split(mm, end);
	i = vma_index(mm, start);
	for (j = i; j < mm->nr_vmas && mm->vmas[j].end <= end; j++)
		;
	vma_remove(mm, i, j - i);
}

/*
 * The guest kernel's fault handler for one page of vma, which must allow
 * the access.  A first touch allocates a zeroed frame of its own (not a
 * shared zero page), so a later write needs no invalidation.  A write to
 * a COW entry reuses the frame if nobody else holds it, else copies it.
 */
static int fault_page_locked(struct gsim_mm *mm, const struct gsim_vma *vma,
			     uint64_t va, bool write)
{
	uint64_t *pte = pte_lookup(mm, va, true);
	uint64_t e, old, new;

	if (!pte)
		return -ENOMEM;
	e = *pte;
	if (!pte_has_page(e)) {
		new = gsim_ram_alloc_page(mm->ram);
		if (!new)
			return -ENOMEM;
		*pte = new | prot_pte_bits(vma->prot);
		mm->stats.resident_pages++;
		mm->stats.page_faults++;
		return 0;
	}
	if (!write || (e & GSIM_PTE_WRITE))
		return 0;

	/*
	 * The count cannot rise under us: only a fork of an mm mapping the
	 * frame adds references, and any other such mm already holds one.
	 */
	old = e & GSIM_PTE_ADDR;
	if (gsim_ram_page_refs(mm->ram, old) == 1) {
		*pte = (e & ~GSIM_PTE_COW) | GSIM_PTE_WRITE;
		mm->stats.cow_reuses++;
		return 0;
	}
	new = gsim_ram_alloc_page(mm->ram);
	if (!new)
		return -ENOMEM;
	memcpy(frame_ptr(mm, new), frame_ptr(mm, old), PAGE_SIZE);
	/* The device may read the old frame: take it away first. */
	notify_locked(mm, va, PAGE_SIZE, NULL);
	*pte = new | GSIM_PTE_PRESENT | GSIM_PTE_WRITE;
	gsim_ram_put_page(mm->ram, old);
	mm->stats.cow_breaks++;
	return 0;
}

/*
 * Fault in the page at va for the access; return its frame's GPA.  The
 * CPU (cpu set) brings a device-private page back first and waits for a
 * migration in flight, both with the lock dropped for a while.  The shim
 * (cpu clear) waits for a migration too, but gets -EREMOTE for a
 * device-private page, which stays where it is.
 */
static int access_page_locked(struct gsim_mm *mm, uint64_t va, bool write,
			      uint64_t *gpa, bool cpu)
{
	uint64_t page = va & ~PAGE_MASK;
	const struct gsim_vma *vma;
	uint64_t *pte;
	int ret;

	for (;;) {
		pte = pte_lookup(mm, page, false);
		if (!pte || !pte_special(*pte))
			break;
		if (!cpu && !(*pte & GSIM_PTE_MIGRATION))
			break;
		ret = settle_locked(mm, page, page + PAGE_SIZE);
		if (ret && ret != -EAGAIN)
			return -EFAULT;
	}
	vma = vma_find(mm, va);
	if (!vma || !vma_allows(vma, write))
		return -EFAULT;
	if (pte && (*pte & GSIM_PTE_DEVICE)) {
		if (write && !(*pte & GSIM_PTE_WRITE))
			return -EFAULT;
		return -EREMOTE;
	}
	ret = fault_page_locked(mm, vma, va & ~PAGE_MASK, write);
	if (ret)
		return ret;
	pte = pte_lookup(mm, va, false);
	*gpa = *pte & GSIM_PTE_ADDR;
	return 0;
}

/*
 * A CPU store of aligned 64-bit words is single-copy atomic, as on x86: a
 * device reading concurrently sees each word old or new, never torn.
 */
static void copy_words(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (((uintptr_t)dst | (uintptr_t)src | n) & 7) {
		memcpy(dst, src, n);
		return;
	}
	for (; n; n -= 8, dst += 8, src += 8) {
		uint64_t v;

		memcpy(&v, src, 8);
		__atomic_store_n((uint64_t *)dst, v, __ATOMIC_RELAXED);
	}
}

/* CPU copy to or from [va, va + len), one page at a time. */
static int access_locked(struct gsim_mm *mm, uint64_t va, void *buf, size_t len,
			 bool write)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t off = va & PAGE_MASK, gpa;
		size_t chunk = PAGE_SIZE - off;
		uint8_t *ram;
		int ret;

		if (chunk > len)
			chunk = len;
		ret = access_page_locked(mm, va, write, &gpa, true);
		if (ret)
			return ret;
		ram = (uint8_t *)frame_ptr(mm, gpa) + off;
		if (write)
			copy_words(ram, p, chunk);
		else
			memcpy(p, ram, chunk);
		p += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}

/* ---- the API ---------------------------------------------------------- */

/**
 * gsim_mm_create - a new, empty address space
 * @ram: guest RAM the page table and pages come from
 * @va_bits: 48 (4-level page table) or 57 (5-level)
 *
 * Allocates the root table frame.  The user half is [0, 2^(va_bits - 1)).
 *
 * Return: the mm, or NULL (bad va_bits, out of memory or guest RAM).
 */
struct gsim_mm *gsim_mm_create(struct gsim_ram *ram, unsigned int va_bits)
{
	struct gsim_mm *mm;

	if (!ram || (va_bits != 48 && va_bits != 57))
		return NULL;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->ram = ram;
	mm->levels = va_bits == 48 ? 4 : 5;
	mm->limit = 1ull << (va_bits - 1);
	mm->root = gsim_ram_alloc_page(ram);
	if (!mm->root) {
		free(mm);
		return NULL;
	}
	mm->stats.pt_frames = 1;
	pthread_mutex_init(&mm->lock, NULL);
	pthread_cond_init(&mm->migrated, NULL);
	return mm;
}

/**
 * gsim_mm_destroy - process exit
 * @mm: the address space, or NULL
 *
 * Invalidates everything still mapped (one notifier call over the span of
 * present pages), then drops every frame and frees every table, so guest
 * RAM holds nothing of this mm afterwards.  Nothing may use @mm
 * concurrently or afterwards.
 */
void gsim_mm_destroy(struct gsim_mm *mm)
{
	if (!mm)
		return;
	mm_lock(mm);
	invalidate_locked(mm, 0, mm->limit, GSIM_PTE_PRESENT);
	zap_locked(mm, 0, mm->limit);
	gsim_ram_put_page(mm->ram, mm->root);
	mm_unlock(mm);
	pthread_cond_destroy(&mm->migrated);
	pthread_mutex_destroy(&mm->lock);
	free(mm->vmas);
	free(mm);
}

/**
 * gsim_mm_fork - a copy-on-write child
 * @mm: the parent
 *
 * Like Linux's dup_mmap: the parent's notifier is called for the span of
 * its writable pages, then every frame is shared with the child (one more
 * reference) and write-protected with the COW bit in both.  The child has
 * the same VMAs, its own page-table frames and no notifier.  Device-private
 * pages are brought back to guest RAM first (DOC: Device-private entries
 * in guest_mm.h); if that fails the fork fails.
 *
 * Return: the child, or NULL when memory or guest RAM ran out (the parent
 * is then intact, though some of its pages may be COW-marked).
 */
struct gsim_mm *gsim_mm_fork(struct gsim_mm *mm)
{
	struct pt_walk w = { .mm = mm, .leaf = fork_leaf };
	struct gsim_mm *child;

	child = gsim_mm_create(mm->ram, mm->levels == 4 ? 48 : 57);
	if (!child)
		return NULL;
	mm_lock(mm);
	if (settle_range_locked(mm, 0, mm->limit) ||
	    vma_reserve(child, mm->nr_vmas)) {
		mm_unlock(mm);
		gsim_mm_destroy(child);
		return NULL;
	}
	if (mm->nr_vmas)
		memcpy(child->vmas, mm->vmas, mm->nr_vmas * sizeof(*mm->vmas));
	child->nr_vmas = mm->nr_vmas;

	invalidate_locked(mm, 0, mm->limit, GSIM_PTE_WRITE);
	/* The child is invisible to others until we return: no child lock. */
	w.child = child;
	walk_range(&w, 0, mm->limit);
	mm_unlock(mm);
	if (w.err) {
		gsim_mm_destroy(child);
		return NULL;
	}
	return child;
}

/**
 * gsim_mm_set_notifier - register the invalidation callback
 * @mm: the address space
 * @fn: called before access is taken away (DOC: Locking), NULL for none
 * @arg: passed to @fn, typically the process's struct vsvmg_ctx
 *
 * One notifier per mm, replacing any previous one.  Clear it before the
 * object behind @arg goes away.
 */
void gsim_mm_set_notifier(struct gsim_mm *mm, gsim_mm_notifier_fn fn, void *arg)
{
	mm_lock(mm);
	mm->notifier = fn;
	mm->notifier_arg = arg;
	mm_unlock(mm);
}

/**
 * gsim_mm_set_devmem_fault - register the devmem fault callback
 * @mm: the address space
 * @fn: brings device-private pages back (migrate_to_ram), NULL for none
 * @arg: passed to @fn, typically the process's struct vsvmg_ctx
 *
 * Without one, a CPU access to a device-private page fails with -EFAULT
 * and mprotect and fork of a range holding one fail.
 */
void gsim_mm_set_devmem_fault(struct gsim_mm *mm, gsim_mm_devmem_fault_fn fn,
			      void *arg)
{
	mm_lock(mm);
	mm->devmem_fault = fn;
	mm->devmem_arg = arg;
	mm_unlock(mm);
}

/**
 * gsim_mm_va_limit - end of the user half, 2^(va_bits - 1)
 * @mm: the address space
 */
uint64_t gsim_mm_va_limit(const struct gsim_mm *mm)
{
	return mm->limit;
}

/**
 * gsim_mm_mmap - map anonymous private memory
 * @mm: the address space
 * @addr: where (GSIM_MAP_FIXED), a hint, or 0
 * @len: bytes, rounded up to pages
 * @prot: GSIM_PROT_* (NONE, READ, WRITE or READ | WRITE)
 * @flags: 0 or GSIM_MAP_FIXED
 * @va: the mapping's address
 *
 * No page is allocated: each is zero-filled on first touch.  With
 * GSIM_MAP_FIXED the range is placed exactly at @addr and replaces what
 * was there (invalidated and freed first, as munmap would); otherwise a
 * free hint is honoured and the highest free gap is taken else.
 *
 * Return: 0, -EINVAL for bad arguments, -ENOMEM when no room is left.
 */
int gsim_mm_mmap(struct gsim_mm *mm, uint64_t addr, uint64_t len,
		 unsigned int prot, unsigned int flags, uint64_t *va)
{
	struct gsim_vma vma = { .prot = prot };
	int ret;

	if ((prot & ~(GSIM_PROT_READ | GSIM_PROT_WRITE)) ||
	    (flags & ~GSIM_MAP_FIXED) || !len || len > mm->limit)
		return -EINVAL;
	len = page_round_up(len);
	if (flags & GSIM_MAP_FIXED) {
		if (!user_range_ok(mm, addr, len))
			return -EINVAL;
	}

	mm_lock(mm);
	/* Room for the implied munmap's splits, then the new VMA. */
	ret = vma_reserve(mm, 2);
	if (ret)
		goto unlock;
	addr &= ~PAGE_MASK;
	if (flags & GSIM_MAP_FIXED) {
		unmap_locked(mm, addr, addr + len);
	} else if (!user_range_ok(mm, addr, len) ||
		   !range_free(mm, addr, addr + len)) {
		ret = find_gap(mm, len, &addr);
		if (ret)
			goto unlock;
	}
	vma.start = addr;
	vma.end = addr + len;
	vma_insert_at(mm, vma_index(mm, addr), &vma);
	vma_merge(mm, vma.start, vma.end);
	*va = addr;
unlock:
	mm_unlock(mm);
	return ret;
}

/**
 * gsim_mm_munmap - unmap [va, va + len)
 * @mm: the address space
 * @va: page aligned
 * @len: bytes, rounded up to pages
 *
 * Holes in the range are fine; VMAs crossing its ends are split.  The
 * notifier is called for the span of present pages before any entry is
 * cleared and any frame is freed.
 *
 * Return: 0, -EINVAL for a bad range, -ENOMEM if a split finds no room.
 */
int gsim_mm_munmap(struct gsim_mm *mm, uint64_t va, uint64_t len)
{
	int ret;

	if (len > mm->limit)
		return -EINVAL;
	len = page_round_up(len);
	if (!user_range_ok(mm, va, len))
		return -EINVAL;
	mm_lock(mm);
	ret = vma_reserve(mm, 2);
	if (!ret)
		unmap_locked(mm, va, va + len);
	mm_unlock(mm);
	return ret;
}

/**
 * gsim_mm_mprotect - change the protection of [va, va + len)
 * @mm: the address space
 * @va: page aligned
 * @len: bytes, rounded up to pages
 * @prot: GSIM_PROT_*
 *
 * Taking write access away invalidates the span of writable pages first;
 * taking all access away (GSIM_PROT_NONE) invalidates the span of present
 * pages.  Granting access invalidates nothing; COW-shared frames stay
 * read-only until a write fault.  VMAs are split and merged.
 *
 * Return: 0, -EINVAL for bad arguments, -ENOMEM if part of the range is
 * not mapped (nothing changes then) or a split finds no room.
 */
int gsim_mm_mprotect(struct gsim_mm *mm, uint64_t va, uint64_t len,
		     unsigned int prot)
{
	struct pt_walk w = { .mm = mm, .leaf = protect_leaf, .prot = prot };
	uint64_t end;
	unsigned int i;
	int ret;

	if ((prot & ~(GSIM_PROT_READ | GSIM_PROT_WRITE)) || len > mm->limit)
		return -EINVAL;
	len = page_round_up(len);
	if (!user_range_ok(mm, va, len))
		return -EINVAL;
	end = va + len;

	mm_lock(mm);
	ret = vma_reserve(mm, 2);
	if (ret)
		goto unlock;
	if (!vma_covers(mm, va, end)) {
		ret = -ENOMEM;
		goto unlock;
	}
	/* Device memory cannot be write-protected in place: bring it back. */
	ret = settle_range_locked(mm, va, end);
	if (ret)
		goto unlock;
	/* The lock may have been dropped: the VMAs may have changed. */
	if (!vma_covers(mm, va, end) || vma_reserve(mm, 2)) {
		ret = -ENOMEM;
		goto unlock;
	}
	if (prot == GSIM_PROT_NONE)
		invalidate_locked(mm, va, end, GSIM_PTE_PRESENT);
	else if (!(prot & GSIM_PROT_WRITE))
		invalidate_locked(mm, va, end, GSIM_PTE_WRITE);
	walk_range(&w, va, end);

	vma_split(mm, va);
	vma_split(mm, end);
	for (i = vma_index(mm, va); i < mm->nr_vmas && mm->vmas[i].end <= end;
	     i++)
		mm->vmas[i].prot = prot;
	vma_merge(mm, va, end);
unlock:
	mm_unlock(mm);
	return ret;
}

/* Whether [va, va + len) lies in the user half without wrapping. */
static bool access_range_ok(const struct gsim_mm *mm, uint64_t va, size_t len)
{
	return va < mm->limit && len <= mm->limit - va;
}

/**
 * gsim_mm_read - read process memory as the guest CPU would
 * @mm: the address space
 * @va: any address
 * @buf: destination
 * @len: bytes
 *
 * Faults pages in (a never-touched page becomes a zeroed frame).
 *
 * Return: 0, -EFAULT if a page is unmapped or PROT_NONE (bytes before it
 * were copied), -ENOMEM when guest RAM ran out.
 */
int gsim_mm_read(struct gsim_mm *mm, uint64_t va, void *buf, size_t len)
{
	int ret;

	if (!access_range_ok(mm, va, len))
		return -EFAULT;
	mm_lock(mm);
	ret = access_locked(mm, va, buf, len, false);
	mm_unlock(mm);
	return ret;
}

/**
 * gsim_mm_write - write process memory as the guest CPU would
 * @mm: the address space
 * @va: any address
 * @buf: source
 * @len: bytes
 *
 * Faults pages in for write, breaking copy-on-write (the notifier is
 * called for a copied page before its entry changes).
 *
 * Return: 0, -EFAULT if a page is unmapped or not writable (bytes before
 * it were written), -ENOMEM when guest RAM ran out.
 */
int gsim_mm_write(struct gsim_mm *mm, uint64_t va, const void *buf, size_t len)
{
	int ret;

	if (!access_range_ok(mm, va, len))
		return -EFAULT;
	mm_lock(mm);
	ret = access_locked(mm, va, (void *)buf, len, true);
	mm_unlock(mm);
	return ret;
}

/**
 * gsim_mm_ptr - a host pointer to process memory, for bulk init
 * @mm: the address space
 * @va: start
 * @len: bytes; [va, va + len) must lie within one page
 * @write: fault the page in for write (COW broken) rather than read
 *
 * The pointer reaches the frame mapped at @va NOW.  It is valid only until
 * the next call that changes this page's mapping: munmap, mprotect, fork
 * (after a fork the frame is shared, so writing through an old pointer
 * would leak into the child), a COW break of the page, exit, or a
 * migration to device memory, which the shim's event thread may start at
 * any moment when the host asks (MIGRATE_REQ).  So with device memory in
 * play, use gsim_mm_write()/gsim_mm_read(), which hold the mm lock for
 * the copy, for anything but single-threaded set-up.  Writing
 * through a pointer obtained with @write == 0 is a bug.
 *
 * Return: the pointer, or NULL if the access faults or the range crosses a
 * page boundary.
 */
void *gsim_mm_ptr(struct gsim_mm *mm, uint64_t va, size_t len, int write)
{
	uint64_t gpa;
	void *p = NULL;

	if (!len || !access_range_ok(mm, va, len) ||
	    len > PAGE_SIZE - (va & PAGE_MASK))
		return NULL;
	mm_lock(mm);
	if (!access_page_locked(mm, va, write, &gpa, true))
		p = (uint8_t *)frame_ptr(mm, gpa) + (va & PAGE_MASK);
	mm_unlock(mm);
	return p;
}

/* What range_fault reports for one leaf entry. */
static __u64 pfn_of(uint64_t e)
{
	if ((e & GSIM_PTE_DEVICE) && !(e & GSIM_PTE_MIGRATION))
		return VSVMG_PFN_DEVICE |
		       ((__u64)GSIM_PTE_DEV(e) << VSVMG_PFN_DEV_SHIFT) |
		       (e & GSIM_PTE_WRITE ? VSVMG_PFN_WRITE : 0);
	if (!(e & GSIM_PTE_PRESENT))
		return 0;
	return (e & GSIM_PTE_ADDR) | VSVMG_PFN_VALID |
	       (e & GSIM_PTE_WRITE ? VSVMG_PFN_WRITE : 0);
}

/**
 * gsim_mm_range_fault - the hmm_range_fault of this mm
 * @mm: the address space
 * @start: first page, page aligned
 * @npages: pages in the range, at least 1
 * @fault_va: an address inside the range that must be faulted in
 * @write: fault @fault_va for write (COW broken)
 * @populate: read-fault the range's other mapped pages too
 * @out: npages entries: GPA | VSVMG_PFN_VALID [| VSVMG_PFN_WRITE] of
 *	 each present page, 0 for a page that is not (outside any VMA,
 *	 PROT_NONE, or not touched and not populated)
 *
 * VSVMG_PFN_WRITE is set only for frames the process may write without a
 * fault, never for COW-shared ones.  A write fault that copies a COW frame
 * calls the notifier (for that page) from here.
 *
 * Return: 0; -EFAULT if @fault_va is in no VMA or its VMA forbids the
 * access; -EINVAL for a malformed range or a @fault_va outside it;
 * -ENOMEM when guest RAM ran out for @fault_va.  @out is filled only on 0.
 */
int gsim_mm_range_fault(struct gsim_mm *mm, uint64_t start, uint32_t npages,
			uint64_t fault_va, int write, int populate, __u64 *out)
{
	uint64_t gpa, va;
	uint32_t i;
	int ret;

	if ((start & PAGE_MASK) || !npages ||
	    npages > (UINT64_MAX - start) / PAGE_SIZE + 1 || fault_va < start ||
	    (fault_va - start) / PAGE_SIZE >= npages)
		return -EINVAL;

	mm_lock(mm);
	ret = access_page_locked(mm, fault_va, write, &gpa, false);
	if (ret == -EREMOTE)
		ret = 0; /* device-private: the device has it */
	if (ret)
		goto unlock;
	for (i = 0, va = start; i < npages; i++, va += PAGE_SIZE) {
		const struct gsim_vma *vma =
			va < mm->limit ? vma_find(mm, va) : NULL;
		uint64_t *pte;

		out[i] = 0;
		if (!vma || vma->prot == GSIM_PROT_NONE)
			continue;
		/* Best effort: a page guest RAM cannot hold stays absent. */
		if (populate)
			fault_page_locked(mm, vma, va, false);
		pte = pte_lookup(mm, va, false);
		if (pte)
			out[i] = pfn_of(*pte);
	}
unlock:
	mm_unlock(mm);
	return ret;
}

/**
 * gsim_mm_read_begin - mmu_interval_read_begin over the whole process
 * @mm: the address space
 *
 * Lockless.  An invalidation in progress holds the mm lock, so a
 * range_fault after this returns the entries as they are once it is done.
 *
 * Return: the sequence to pass to gsim_mm_read_retry().
 */
uint64_t gsim_mm_read_begin(struct gsim_mm *mm)
{
	return __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST);
}

/**
 * gsim_mm_read_retry - whether an invalidation began since read_begin
 * @mm: the address space
 * @seq: what gsim_mm_read_begin() returned
 *
 * Lockless, so it may be called under the lock the notifier takes.
 *
 * Return: non-zero if what was read since @seq may be stale.
 */
int gsim_mm_read_retry(struct gsim_mm *mm, uint64_t seq)
{
	return __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST) != seq;
}

/**
 * gsim_mm_pte - the leaf page-table entry for va (tests, diagnostics)
 * @mm: the address space
 * @va: any address
 *
 * May be called from the notifier, to see the entry before it changes.
 *
 * Return: the raw entry (GSIM_PTE_*), 0 if none.
 */
uint64_t gsim_mm_pte(struct gsim_mm *mm, uint64_t va)
{
	bool locked;
	uint64_t *pte, e = 0;

	if (va >= mm->limit)
		return 0;
	locked = mm_lock_inspect(mm);
	pte = pte_lookup(mm, va, false);
	if (pte)
		e = *pte;
	if (locked)
		mm_unlock(mm);
	return e;
}

/**
 * gsim_mm_vmas - list the mappings
 * @mm: the address space
 * @out: filled with up to @max VMAs in address order
 * @max: capacity of @out
 *
 * May be called from the notifier.
 *
 * Return: how many VMAs there are (may exceed @max).
 */
unsigned int gsim_mm_vmas(struct gsim_mm *mm, struct gsim_mm_vma *out,
			  unsigned int max)
{
	bool locked = mm_lock_inspect(mm);
	unsigned int i, n = mm->nr_vmas;

	for (i = 0; i < n && i < max; i++) {
		out[i].start = mm->vmas[i].start;
		out[i].end = mm->vmas[i].end;
		out[i].prot = mm->vmas[i].prot;
	}
	if (locked)
		mm_unlock(mm);
	return n;
}

/**
 * gsim_mm_stats - a snapshot of the counters
 * @mm: the address space
 * @out: the counters
 *
 * May be called from the notifier.
 */
void gsim_mm_stats(struct gsim_mm *mm, struct gsim_mm_stats *out)
{
	bool locked = mm_lock_inspect(mm);

	*out = mm->stats;
	out->vmas = mm->nr_vmas;
	out->seq = __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST);
	if (locked)
		mm_unlock(mm);
}

/* ---- migrate_vma ------------------------------------------------------ */

/*
 * What page va can contribute to a migration to @to, as the core's
 * src/dst descriptions; 0 if it stays.  For SYSTEM a destination frame is
 * allocated (*alloc_failed is set when guest RAM ran out).
 */
static int collect_page(struct gsim_mm *mm, uint64_t va, uint32_t to,
			__u64 *src, __u64 *dst, bool *alloc_failed)
{
	const struct gsim_vma *vma = vma_find(mm, va);
	uint64_t *pte, e, frame;

	if (!vma || vma->prot == GSIM_PROT_NONE)
		return 0;
	pte = pte_lookup(mm, va, false);
	if (!pte)
		return 0;
	e = *pte;
	if (e & GSIM_PTE_MIGRATION)
		return 0; /* someone else's migration */
	if (to != VSVM_LOC_SYSTEM) {
		if ((e & GSIM_PTE_PRESENT) && !(e & GSIM_PTE_COW)) {
			*src = (e & GSIM_PTE_ADDR) | VSVMG_PFN_VALID |
			       (e & GSIM_PTE_WRITE ? VSVMG_PFN_WRITE : 0);
		} else if ((e & GSIM_PTE_DEVICE) && GSIM_PTE_DEV(e) != to) {
			*src = pfn_of(e);
		} else {
			return 0;
		}
		*dst = VSVMG_PFN_DEVICE |
		       ((__u64)to << VSVMG_PFN_DEV_SHIFT) |
		       (*src & VSVMG_PFN_WRITE);
		*src |= VSVMG_PFN_MIGRATE;
		return 1;
	}
	if (!(e & GSIM_PTE_DEVICE))
		return 0;
	frame = gsim_ram_alloc_page(mm->ram);
	if (!frame) {
		*alloc_failed = true;
		return 0;
	}
	*src = pfn_of(e) | VSVMG_PFN_MIGRATE;
	*dst = frame | VSVMG_PFN_VALID | (*src & VSVMG_PFN_WRITE);
	return 1;
}

/* The migration entry a collected page gets. */
static uint64_t migration_pte(__u64 src, __u64 dst)
{
	uint64_t w = src & VSVMG_PFN_WRITE ? GSIM_PTE_WRITE : 0;

	if (!(src & VSVMG_PFN_DEVICE)) /* leaving guest RAM */
		return GSIM_PTE_MIGRATION | (src & GSIM_PTE_ADDR) | w;
	if (dst & VSVMG_PFN_VALID) /* coming back into a new frame */
		return GSIM_PTE_MIGRATION | (dst & GSIM_PTE_ADDR) | w;
	return GSIM_PTE_MIGRATION | device_pte(VSVMG_PFN_DEV(src), w);
}

/*
 * migrate_vma_setup of this mm (struct vsvmg_mm_ops.migrate_setup): see
 * vsvmg.h for the contract.  One notifier call, naming @owner, covers the
 * span of collected pages; the entries change after it.
 */
static int mm_migrate_setup(void *p, __u64 start, __u32 npages, __u32 to,
			    const void *owner, __u64 *src, __u64 *dst,
			    __u64 *seq)
{
	struct gsim_mm *mm = p;
	bool alloc_failed = false;
	uint64_t lo = 0, hi = 0, va;
	__u32 i, n = 0;

	if ((start & PAGE_MASK) || !npages || npages > VSVMG_MIGRATE_PAGES ||
	    start >= mm->limit ||
	    (uint64_t)npages > (mm->limit - start) / PAGE_SIZE)
		return -EINVAL;
	mm_lock(mm);
	for (i = 0, va = start; i < npages; i++, va += PAGE_SIZE) {
		src[i] = dst[i] = 0;
		if (alloc_failed ||
		    !collect_page(mm, va, to, &src[i], &dst[i], &alloc_failed))
			continue;
		if (!n++)
			lo = va;
		hi = va + PAGE_SIZE;
	}
	if (n) {
		notify_locked(mm, lo, hi - lo, owner);
		for (i = 0, va = start; i < npages; i++, va += PAGE_SIZE) {
			if (!src[i])
				continue;
			*pte_lookup(mm, va, false) = migration_pte(src[i],
								   dst[i]);
			if (dst[i] & VSVMG_PFN_VALID) {
				mm->stats.device_pages--;
				mm->stats.resident_pages++;
			}
		}
	}
	*seq = __atomic_load_n(&mm->seq, __ATOMIC_SEQ_CST);
	mm_unlock(mm);
	/* Nothing can come back without a frame: say so, or a CPU spins. */
	if (!n && alloc_failed)
		return -ENOMEM;
	return (int)n;
}

/* migrate_vma_pages + finalize (struct vsvmg_mm_ops.migrate_finalize). */
static void mm_migrate_finalize(void *p, __u64 start, __u32 npages,
				const __u64 *src, const __u64 *dst)
{
	struct gsim_mm *mm = p;
	uint64_t va;
	__u32 i;

	mm_lock(mm);
	for (i = 0, va = start; i < npages; i++, va += PAGE_SIZE) {
		__u64 s = src[i], d = dst[i];
		bool ok = s & VSVMG_PFN_MIGRATE;
		uint64_t w = s & VSVMG_PFN_WRITE ? GSIM_PTE_WRITE : 0;
		uint64_t *pte;

		if (!s)
			continue;
		pte = pte_lookup(mm, va, false);
		/* Gone (munmap): the zap released what the entry held. */
		if (!pte || *pte != migration_pte(s & ~VSVMG_PFN_MIGRATE, d))
			continue;
		if (!(s & VSVMG_PFN_DEVICE)) {
			if (ok) {
				*pte = device_pte(VSVMG_PFN_DEV(d), w);
				gsim_ram_put_page(mm->ram, s & GSIM_PTE_ADDR);
				mm->stats.resident_pages--;
				mm->stats.device_pages++;
				mm->stats.migrated_out++;
			} else {
				*pte = (s & GSIM_PTE_ADDR) | GSIM_PTE_PRESENT |
				       w;
			}
		} else if (d & VSVMG_PFN_VALID) {
			if (ok) {
				*pte = (d & GSIM_PTE_ADDR) | GSIM_PTE_PRESENT |
				       w;
				mm->stats.migrated_in++;
			} else {
				*pte = device_pte(VSVMG_PFN_DEV(s), w);
				gsim_ram_put_page(mm->ram, d & GSIM_PTE_ADDR);
				mm->stats.resident_pages--;
				mm->stats.device_pages++;
			}
		} else {
			*pte = device_pte(VSVMG_PFN_DEV(ok ? d : s), w);
		}
	}
	pthread_cond_broadcast(&mm->migrated);
	mm_unlock(mm);
}

/* ---- the shim core's seam -------------------------------------------- */

static int ops_range_fault(void *mm, __u64 start, __u32 npages, __u64 fault_va,
			   int write, int populate, __u64 *out)
{
	return gsim_mm_range_fault(mm, start, npages, fault_va, write, populate,
				   out);
}

static __u64 ops_read_begin(void *mm)
{
	return gsim_mm_read_begin(mm);
}

static int ops_read_retry(void *mm, __u64 seq)
{
	return gsim_mm_read_retry(mm, seq);
}

const struct vsvmg_mm_ops gsim_mm_ops = {
	.range_fault = ops_range_fault,
	.read_begin = ops_read_begin,
	.read_retry = ops_read_retry,
	.migrate_setup = mm_migrate_setup,
	.migrate_finalize = mm_migrate_finalize,
};
