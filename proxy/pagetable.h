/* SPDX-License-Identifier: MIT */
/*
 * pagetable.h - a multi-level radix GPU page table.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * One struct vp_pagetable translates one GPU VA space: GPU VA -> host
 * pointer + permissions, at 4 KiB or 2 MiB granularity.  The layout is the
 * one x86-64 and most GPUs use: 9 bits of VA per level over 4 KiB pages,
 * 4 levels for va_bits <= 48 and 5 levels for up to 57.  Table pages come
 * from the caller's allocator so that a device can place them in its own
 * memory, as a real GPU keeps its page tables in VRAM.
 *
 * An empty table holds no page at all; table pages are allocated when a
 * mapping needs them and freed as soon as they hold no entry.
 *
 * Locking: none inside.  The owner serialises vp_pt_map()/vp_pt_unmap()
 * against each other and against vp_pt_lookup(); lookups may run
 * concurrently with each other (they only read).
 */
#ifndef VP_PAGETABLE_H
#define VP_PAGETABLE_H

#include <stdbool.h>
#include <stdint.h>

#define VP_PT_PAGE_SHIFT  12
#define VP_PT_PAGE_SIZE	  (1ull << VP_PT_PAGE_SHIFT)
#define VP_PT_HUGE_SHIFT  21
#define VP_PT_HUGE_SIZE	  (1ull << VP_PT_HUGE_SHIFT)

/* The VA widths a table can translate (the protocol's 47..57). */
#define VP_PT_VA_BITS_MIN 47
#define VP_PT_VA_BITS_MAX 57

struct vp_pagetable;

/*
 * Table page allocator.  alloc returns one 4 KiB aligned, zero-filled page,
 * or NULL when out of memory; free takes back a page alloc returned.  Both
 * are called with the owner's serialisation held (from map/unmap/destroy),
 * never from lookup.
 */
typedef void *(*vp_pt_alloc_fn)(void *opaque);
typedef void (*vp_pt_free_fn)(void *opaque, void *page);

/* What vp_pt_lookup() found. */
struct vp_pt_walk {
	uint8_t *page;	     /* host address of the leaf page's first byte */
	uint32_t prot;	     /* VSVM_PROT_* */
	uint32_t page_shift; /* 12 or 21 */
};

/* Host address of @va's byte, given the walk of @va. */
static inline void *vp_pt_walk_hva(const struct vp_pt_walk *w, uint64_t va)
{
	return w->page + (va & ((1ull << w->page_shift) - 1));
}

/**
 * vp_pt_create - a new, empty page table
 * @va_bits: VA width, VP_PT_VA_BITS_MIN..VP_PT_VA_BITS_MAX
 * @alloc: table page allocator, or NULL for the host heap
 * @free_fn: its counterpart (NULL exactly when @alloc is)
 * @opaque: passed to @alloc and @free
 *
 * Return: the table (it holds no table page yet), or NULL with errno set
 * (EINVAL for a bad argument, ENOMEM).
 */
struct vp_pagetable *vp_pt_create(uint32_t va_bits, vp_pt_alloc_fn alloc,
				  vp_pt_free_fn free_fn, void *opaque);

/* Free every table page, then the table. */
void vp_pt_destroy(struct vp_pagetable *pt);

/**
 * vp_pt_map - map [va, va + len) to host memory at hva
 * @pt: the table
 * @va: GPU VA, 4 KiB aligned
 * @len: bytes, 4 KiB aligned, > 0, va + len <= 2^va_bits
 * @hva: host address, 4 KiB aligned; the range is contiguous host memory
 * @prot: non-zero set of VSVM_PROT_*
 * @invalidated: if not NULL, set true when a translation that existed
 *	before was removed, retargeted or lost a permission, i.e. when
 *	cached translations (TLBs) of the range must be dropped.  Adding
 *	permissions to an existing translation does not set it.
 *
 * Whatever was mapped in the range is replaced.  2 MiB leaves are used for
 * every 2 MiB of the range where va and hva are both 2 MiB aligned; a 2 MiB
 * leaf that the range covers only in part is split into 512 4 KiB leaves
 * first.
 *
 * Return: 0; -EINVAL for a bad range or prot (nothing changed); -ENOMEM if
 * a table page could not be allocated, in which case the whole range is
 * left unmapped (possibly a little more: see vp_pt_unmap()) and
 * *@invalidated is set if anything was mapped there before.
 */
int vp_pt_map(struct vp_pagetable *pt, uint64_t va, uint64_t len, void *hva,
	      uint32_t prot, bool *invalidated);

/**
 * vp_pt_unmap - remove every translation in [va, va + len)
 * @pt: the table
 * @va: GPU VA, 4 KiB aligned
 * @len: bytes, 4 KiB aligned, > 0, va + len <= 2^va_bits
 * @invalidated: if not NULL, set true when a translation was removed
 *
 * Table pages left empty are freed.  Unmapping part of a 2 MiB leaf splits
 * it, which needs a table page; if none can be had, the whole 2 MiB leaf
 * is removed instead.  Removing more than asked is always safe for SVM (a
 * later access faults and is mapped again); removing less never happens.
 *
 * Return: 0, or -EINVAL for a bad range (nothing changed).
 */
int vp_pt_unmap(struct vp_pagetable *pt, uint64_t va, uint64_t len,
		bool *invalidated);

/**
 * vp_pt_lookup - translate one GPU VA
 * @pt: the table
 * @va: any GPU VA (one at or beyond 2^va_bits is never present)
 * @out: the leaf, filled when present
 *
 * Return: true if @va is mapped.
 */
bool vp_pt_lookup(const struct vp_pagetable *pt, uint64_t va,
		  struct vp_pt_walk *out);

/* Bytes of table pages in use (a multiple of 4 KiB; 0 when empty). */
uint64_t vp_pt_table_bytes(const struct vp_pagetable *pt);

/* Bytes of GPU VA with a translation. */
uint64_t vp_pt_mapped_bytes(const struct vp_pagetable *pt);

/* Levels of the radix tree: 4 or 5. */
uint32_t vp_pt_levels(const struct vp_pagetable *pt);

/* 2 MiB leaves removed whole because a split found no memory. */
uint64_t vp_pt_split_drops(const struct vp_pagetable *pt);

#endif /* VP_PAGETABLE_H */
