// SPDX-License-Identifier: MIT
/*
 * pagetable.c - a multi-level radix GPU page table.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Layout
 *
 * Levels are numbered from the leaves: a level-1 table holds 4 KiB leaves,
 * a level-2 table holds 2 MiB leaves or pointers to level-1 tables, and so
 * on up to the root (level 4, or 5 when va_bits > 48).  Every table is one
 * 4 KiB page of 512 u64 entries, indexed by 9 bits of the VA; the root uses
 * only the entries below 2^va_bits.
 *
 *   va_bits 48:  | 47..39 | 38..30 | 29..21 | 20..12 | 11..0 |
 *                  root L4   L3       L2 (2M)  L1 (4K)  offset
 *
 * DOC: Entry format
 *
 *   63                          12 11                 2   1   0
 *  +------------------------------+--------------------+---+---+
 *  | host address of the page     | 0       | prot(3)  | 1 | 1 |  leaf
 *  | host address of child table  | present entries    | 0 | 1 |  table
 *  +------------------------------+--------------------+---+---+
 *                                                        L   P
 *
 * A leaf above level 1 is a huge (2 MiB) page; there are no leaves above
 * level 2.  A table entry keeps, in bits 2..11, the number of present
 * entries of the child table it points to, so that an unmap knows in O(1)
 * when a child became empty and frees it.  The invariant: every table page
 * that is reachable holds at least one present entry, and pt->root is NULL
 * exactly when the table maps nothing.  So an empty context costs no table
 * page, and pt_bytes returns to 0 when everything is unmapped.
 *
 * The walk (vp_pt_lookup) is the hot path of every simulated access after
 * a TLB miss: one load and two tests per level, no division, no call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagetable.h"

#include "vsvm/vsvm_proto.h"

#define PTE_PRESENT	(1ull << 0)
#define PTE_LEAF	(1ull << 1)
#define PTE_PROT_SHIFT	2
#define PTE_COUNT_SHIFT 2
#define PTE_COUNT_MASK	0x3ffull
#define PTE_ADDR_MASK	(~(VP_PT_PAGE_SIZE - 1))

#define PT_BITS		9
#define PT_ENTRIES	(1u << PT_BITS)

struct vp_pagetable {
	uint64_t *root;	     /* NULL exactly when nothing is mapped */
	uint32_t root_count; /* present entries in root */
	uint32_t levels;     /* 4 or 5 */
	uint32_t va_bits;
	uint32_t root_shift; /* VA shift of the root's index */
	uint64_t table_pages;
	uint64_t mapped_bytes;
	uint64_t split_drops;
	vp_pt_alloc_fn alloc;
	vp_pt_free_fn free;
	void *opaque;
};

/* One map or unmap in progress. */
struct pt_op {
	struct vp_pagetable *pt;
	uint64_t hva_minus_va; /* hva of va is va + this (mod 2^64) */
	uint64_t leaf_bits;    /* PRESENT | LEAF | prot */
	bool invalidated;
	int err;
};

static inline uint32_t pt_shift(uint32_t level)
{
	return VP_PT_PAGE_SHIFT + PT_BITS * (level - 1);
}

static inline uint32_t pt_index(uint64_t va, uint32_t shift)
{
	return (uint32_t)(va >> shift) & (PT_ENTRIES - 1);
}

static inline uint64_t *pt_child(uint64_t e)
{
	return (uint64_t *)(uintptr_t)(e & PTE_ADDR_MASK);
}

static inline uint32_t pt_count(uint64_t e)
{
	return (uint32_t)((e >> PTE_COUNT_SHIFT) & PTE_COUNT_MASK);
}

/* Add @delta present entries to the count a table entry keeps. */
static inline void pt_count_add(uint64_t *e, int delta)
{
	*e += (uint64_t)(int64_t)delta << PTE_COUNT_SHIFT;
}

/* The end of the entry-sized block holding va, or end if that is sooner. */
static inline uint64_t pt_next(uint64_t va, uint64_t end, uint64_t size)
{
	uint64_t next = (va & ~(size - 1)) + size;

	return next < end ? next : end;
}

static void *pt_heap_alloc(void *opaque)
{
	void *p;

	(void)opaque;
	p = aligned_alloc(VP_PT_PAGE_SIZE, VP_PT_PAGE_SIZE);
	if (p)
		memset(p, 0, VP_PT_PAGE_SIZE);
	return p;
}

static void pt_heap_free(void *opaque, void *page)
{
	(void)opaque;
	free(page);
}

static uint64_t *pt_alloc_table(struct vp_pagetable *pt)
{
	uint64_t *t = pt->alloc(pt->opaque);

	if (t)
		pt->table_pages++;
	return t;
}

static void pt_free_table(struct vp_pagetable *pt, uint64_t *t)
{
	pt->free(pt->opaque, t);
	pt->table_pages--;
}

struct vp_pagetable *vp_pt_create(uint32_t va_bits, vp_pt_alloc_fn alloc,
				  vp_pt_free_fn free_fn, void *opaque)
{
	struct vp_pagetable *pt;

	if (va_bits < VP_PT_VA_BITS_MIN || va_bits > VP_PT_VA_BITS_MAX ||
	    !alloc != !free_fn) {
		errno = EINVAL;
		return NULL;
	}
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return NULL;
	pt->va_bits = va_bits;
	pt->levels = va_bits <= 48 ? 4 : 5;
	pt->root_shift = pt_shift(pt->levels);
	pt->alloc = alloc ? alloc : pt_heap_alloc;
	pt->free = alloc ? free_fn : pt_heap_free;
	pt->opaque = opaque;
	return pt;
}

/*
 * Free the table at @level and everything below it; account the bytes its
 * leaves mapped.  The caller clears the entry that pointed to it.
 */
static void pt_free_subtree(struct vp_pagetable *pt, uint64_t *table,
			    uint32_t level)
{
	uint64_t size = 1ull << pt_shift(level);
	uint32_t i;

	for (i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = table[i];

		if (!(e & PTE_PRESENT))
			continue;
		if (e & PTE_LEAF)
			pt->mapped_bytes -= size;
		else
			pt_free_subtree(pt, pt_child(e), level - 1);
	}
	pt_free_table(pt, table);
}

void vp_pt_destroy(struct vp_pagetable *pt)
{
	if (!pt)
		return;
	if (pt->root)
		pt_free_subtree(pt, pt->root, pt->levels);
	free(pt);
}

/*
 * Replace the 2 MiB leaf *e by a table of 512 4 KiB leaves with the same
 * targets and permissions.  No translation changes, so this alone needs no
 * TLB invalidation.  Return: false if no table page could be allocated.
 */
static bool pt_split(struct vp_pagetable *pt, uint64_t *e)
{
	uint64_t leaf = *e & ~PTE_ADDR_MASK;
	uint64_t base = *e & PTE_ADDR_MASK;
	uint64_t *t = pt_alloc_table(pt);
	uint32_t i;

	if (!t)
		return false;
	for (i = 0; i < PT_ENTRIES; i++)
		t[i] = (base + ((uint64_t)i << VP_PT_PAGE_SHIFT)) | leaf;
	*e = (uint64_t)(uintptr_t)t | (uint64_t)PT_ENTRIES << PTE_COUNT_SHIFT |
	     PTE_PRESENT;
	return true;
}

/*
 * Write leaf @pte at *e of @level.  Return the change in present entries.
 * A translation is invalidated unless the new leaf has the old target and
 * at least the old permissions: a TLB entry with fewer permissions only
 * causes a re-walk, never an access the table does not allow.
 */
static int pt_set_leaf(struct pt_op *op, uint64_t *e, uint32_t level,
		       uint64_t pte)
{
	struct vp_pagetable *pt = op->pt;
	uint64_t size = 1ull << pt_shift(level);
	uint64_t old = *e;
	int delta = 0;

	if (!(old & PTE_PRESENT)) {
		delta = 1;
	} else if (!(old & PTE_LEAF)) {
		pt_free_subtree(pt, pt_child(old), level - 1);
		op->invalidated = true;
	} else {
		pt->mapped_bytes -= size;
		if ((old & PTE_ADDR_MASK) != (pte & PTE_ADDR_MASK) ||
		    (old & ~pte & ~PTE_ADDR_MASK))
			op->invalidated = true;
	}
	*e = pte;
	pt->mapped_bytes += size;
	return delta;
}

/*
 * Make *e (a level >= 2 entry) point to a child table, allocating one or
 * splitting a huge leaf.  *delta counts a new present entry.
 */
static uint64_t *pt_get_child(struct pt_op *op, uint64_t *e, int *delta)
{
	uint64_t *child;

	if (!(*e & PTE_PRESENT)) {
		child = pt_alloc_table(op->pt);
		if (!child)
			return NULL;
		*e = (uint64_t)(uintptr_t)child | PTE_PRESENT;
		(*delta)++;
		return child;
	}
	if ((*e & PTE_LEAF) && !pt_split(op->pt, e))
		return NULL;
	return pt_child(*e);
}

/*
 * Map [va, end) inside @table of @level.  Return the change in the number
 * of present entries of @table.  On failure op->err is set and the range
 * is partially mapped; the caller unmaps it.
 */
static int pt_map_table(struct pt_op *op, uint64_t *table, uint32_t level,
			uint64_t va, uint64_t end)
{
	uint32_t shift = pt_shift(level);
	uint64_t size = 1ull << shift;
	int delta = 0;

	while (va < end) {
		uint64_t next = pt_next(va, end, size);
		uint64_t *e = &table[pt_index(va, shift)];
		uint64_t hva = va + op->hva_minus_va;
		uint64_t *child;
		int cd = 0;

		/* next - va == size: the range covers the whole entry. */
		if (level == 1 ||
		    (level == 2 && next - va == size && !(hva & (size - 1)))) {
			delta += pt_set_leaf(op, e, level, hva | op->leaf_bits);
			va = next;
			continue;
		}
		child = pt_get_child(op, e, &cd);
		if (!child) {
			op->err = -ENOMEM;
			break;
		}
		delta += cd;
		cd = pt_map_table(op, child, level - 1, va, next);
		pt_count_add(e, cd);
		if (!pt_count(*e)) {
			/* Only after a failure below: keep the invariant. */
			pt_free_table(op->pt, child);
			*e = 0;
			delta--;
		}
		if (op->err)
			break;
		va = next;
	}
	return delta;
}

/* Remove the translations of [va, end) inside @table of @level. */
static int pt_unmap_table(struct pt_op *op, uint64_t *table, uint32_t level,
			  uint64_t va, uint64_t end)
{
	struct vp_pagetable *pt = op->pt;
	uint32_t shift = pt_shift(level);
	uint64_t size = 1ull << shift;
	int delta = 0;

	for (; va < end; va = pt_next(va, end, size)) {
		uint64_t next = pt_next(va, end, size);
		uint64_t *e = &table[pt_index(va, shift)];
		int cd;

		if (!(*e & PTE_PRESENT))
			continue;
		if (next - va == size ||
		    ((*e & PTE_LEAF) && !pt_split(pt, e))) {
			/* Covered whole, or a huge leaf we could not split. */
			if (next - va != size)
				pt->split_drops++;
			if (*e & PTE_LEAF)
				pt->mapped_bytes -= size;
			else
				pt_free_subtree(pt, pt_child(*e), level - 1);
			*e = 0;
			delta--;
			op->invalidated = true;
			continue;
		}
		cd = pt_unmap_table(op, pt_child(*e), level - 1, va, next);
		pt_count_add(e, cd);
		if (!pt_count(*e)) {
			pt_free_table(pt, pt_child(*e));
			*e = 0;
			delta--;
		}
	}
	return delta;
}

/* Overflow-proof: [va, va + len) is non-empty, page aligned, in range. */
static bool pt_range_ok(const struct vp_pagetable *pt, uint64_t va,
			uint64_t len)
{
	uint64_t limit = 1ull << pt->va_bits;

	return len && !((va | len) & (VP_PT_PAGE_SIZE - 1)) && va < limit &&
	       len <= limit - va;
}

static void pt_unmap_range(struct pt_op *op, uint64_t va, uint64_t len)
{
	struct vp_pagetable *pt = op->pt;

	if (!pt->root)
		return;
	pt->root_count +=
		pt_unmap_table(op, pt->root, pt->levels, va, va + len);
	if (!pt->root_count) {
		pt_free_table(pt, pt->root);
		pt->root = NULL;
	}
}

int vp_pt_map(struct vp_pagetable *pt, uint64_t va, uint64_t len, void *hva,
	      uint32_t prot, bool *invalidated)
{
	struct pt_op op = { .pt = pt };
	uint64_t h = (uint64_t)(uintptr_t)hva;

	if (!pt_range_ok(pt, va, len) || (h & (VP_PT_PAGE_SIZE - 1)) || !h ||
	    !prot || (prot & ~VSVM_PROT_ALL))
		return -EINVAL;
	op.hva_minus_va = h - va;
	op.leaf_bits =
		(uint64_t)prot << PTE_PROT_SHIFT | PTE_LEAF | PTE_PRESENT;
	if (!pt->root) {
		pt->root = pt_alloc_table(pt);
		if (!pt->root)
			return -ENOMEM;
	}
	pt->root_count += pt_map_table(&op, pt->root, pt->levels, va, va + len);
	if (!pt->root_count) {
		pt_free_table(pt, pt->root);
		pt->root = NULL;
	}
	if (op.err)
		pt_unmap_range(&op, va, len);
	if (invalidated)
		*invalidated = op.invalidated;
	return op.err;
}

int vp_pt_unmap(struct vp_pagetable *pt, uint64_t va, uint64_t len,
		bool *invalidated)
{
	struct pt_op op = { .pt = pt };

	if (!pt_range_ok(pt, va, len))
		return -EINVAL;
	pt_unmap_range(&op, va, len);
	if (invalidated)
		*invalidated = op.invalidated;
	return 0;
}

bool vp_pt_lookup(const struct vp_pagetable *pt, uint64_t va,
		  struct vp_pt_walk *out)
{
	const uint64_t *table = pt->root;
	uint32_t shift = pt->root_shift;

	if ((va >> pt->va_bits) || !table)
		return false;
	for (;;) {
		uint64_t e = table[pt_index(va, shift)];

		if (!(e & PTE_PRESENT))
			return false;
		if (e & PTE_LEAF) {
			out->page = (uint8_t *)(uintptr_t)(e & PTE_ADDR_MASK);
			out->prot =
				(uint32_t)(e >> PTE_PROT_SHIFT) & VSVM_PROT_ALL;
			out->page_shift = shift;
			return true;
		}
		table = pt_child(e);
		shift -= PT_BITS;
	}
}

uint64_t vp_pt_table_bytes(const struct vp_pagetable *pt)
{
	return pt->table_pages * VP_PT_PAGE_SIZE;
}

uint64_t vp_pt_mapped_bytes(const struct vp_pagetable *pt)
{
	return pt->mapped_bytes;
}

uint32_t vp_pt_levels(const struct vp_pagetable *pt)
{
	return pt->levels;
}

uint64_t vp_pt_split_drops(const struct vp_pagetable *pt)
{
	return pt->split_drops;
}
