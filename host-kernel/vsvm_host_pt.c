// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_pt.c - the software device's page table.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Device page table
 *
 * Each VM has a radix page table like a GPU's: tables of 512 64-bit
 * entries, one page each, 4 levels for a 48-bit VA space and 5 for 57
 * bits.  Level 0 entries map 4 KiB pages; a level-1 entry may map a 2 MiB
 * block (VSVMH_PTE_HUGE) when the host maps the block with one PMD.  A
 * leaf holds the pfn of the system page the device reads and writes (for
 * device memory, the page that stands for it) and the permissions; a
 * table entry holds the kernel address of the next table::
 *
 *   root (level 3) -> level 2 -> level 1 -+-> level 0: 512 x 4 KiB leaves
 *                                         +-> 2 MiB leaf
 *
 * Every function here runs under the owning VM's lock and never sleeps;
 * tables come from a struct vsvmh_pt_cache filled before the lock was
 * taken.  Clearing frees tables that become empty, so @tables (and the
 * pt_bytes that VM_STATS reports) follows what is mapped.
 */

#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/string.h>

#include "vsvm_host_internal.h"

static unsigned int vsvmh_pt_shift(unsigned int level)
{
	return PAGE_SHIFT + VSVMH_PT_BITS * level;
}

static unsigned int vsvmh_pt_index(u64 va, unsigned int level)
{
	return (va >> vsvmh_pt_shift(level)) & (VSVMH_PT_ENTRIES - 1);
}

static u64 *vsvmh_pt_table(u64 entry)
{
	return (u64 *)(uintptr_t)(entry & VSVMH_PTE_ADDR_MASK);
}

static u64 vsvmh_pt_leaf_size(u64 entry)
{
	return (entry & VSVMH_PTE_HUGE) ? VSVMH_HUGE_SIZE : PAGE_SIZE;
}

static void vsvmh_pt_account(struct vsvmh_pt *pt, u64 entry, bool map)
{
	u64 size = vsvmh_pt_leaf_size(entry);

	if (map) {
		pt->mapped_bytes += size;
		if (entry & VSVMH_PTE_HUGE)
			pt->huge_mapped_bytes += size;
	} else {
		pt->mapped_bytes -= size;
		if (entry & VSVMH_PTE_HUGE)
			pt->huge_mapped_bytes -= size;
	}
}

/**
 * vsvmh_pt_init - allocate an empty page table
 * @pt: the table
 * @va_bits: VA width it must cover, 47..57
 *
 * Return: 0 or -ENOMEM.
 */
int vsvmh_pt_init(struct vsvmh_pt *pt, unsigned int va_bits)
{
	memset(pt, 0, sizeof(*pt));
	pt->levels = DIV_ROUND_UP(va_bits - PAGE_SHIFT, VSVMH_PT_BITS);
	pt->root = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!pt->root)
		return -ENOMEM;
	pt->tables = 1;
	return 0;
}

/* Frees @table of @level and everything below it, leaves unaccounted. */
static void vsvmh_pt_free_table(struct vsvmh_pt *pt, u64 *table,
				unsigned int level)
{
	unsigned int i;

	for (i = 0; i < VSVMH_PT_ENTRIES; i++) {
		u64 e = table[i];

		if (e & VSVMH_PTE_TABLE)
			vsvmh_pt_free_table(pt, vsvmh_pt_table(e), level - 1);
		else if (e & VSVMH_PTE_VALID)
			vsvmh_pt_account(pt, e, false);
	}
	free_page((unsigned long)table);
	pt->tables--;
}

/**
 * vsvmh_pt_destroy - free the whole table
 * @pt: the table; empty and without root afterwards
 *
 * Later lookups find nothing and later clears do nothing, so a notifier
 * that runs after a VM's teardown is harmless.
 */
void vsvmh_pt_destroy(struct vsvmh_pt *pt)
{
	if (!pt->root)
		return;
	vsvmh_pt_free_table(pt, pt->root, pt->levels - 1);
	pt->root = NULL;
}

/**
 * vsvmh_pt_lookup - translate one VA
 * @pt: the table
 * @va: the address
 * @pfn: out: pfn of the 4 KiB page that holds @va
 *
 * Return: the leaf entry, or 0 when nothing maps @va.
 */
u64 vsvmh_pt_lookup(const struct vsvmh_pt *pt, u64 va, unsigned long *pfn)
{
	u64 *table = pt->root;
	unsigned int level;

	if (!table)
		return 0;
	for (level = pt->levels - 1;; level--) {
		u64 e = table[vsvmh_pt_index(va, level)];

		if (e & VSVMH_PTE_TABLE) {
			table = vsvmh_pt_table(e);
			continue;
		}
		if (!(e & VSVMH_PTE_VALID))
			return 0;
		*pfn = (e >> PAGE_SHIFT) +
		       ((va >> PAGE_SHIFT) &
			((1UL << (VSVMH_PT_BITS * level)) - 1));
		return e;
	}
}

/**
 * vsvmh_pt_cache_fill - allocate tables for later use under the VM lock
 * @cache: the cache; keeps what it already holds
 * @nr: tables it must hold, at most VSVMH_PT_CACHE_MAX
 *
 * Return: 0 or -ENOMEM.
 */
int vsvmh_pt_cache_fill(struct vsvmh_pt_cache *cache, unsigned int nr)
{
	nr = min_t(unsigned int, nr, VSVMH_PT_CACHE_MAX);
	while (cache->nr < nr) {
		u64 *table = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);

		if (!table)
			return -ENOMEM;
		cache->tables[cache->nr++] = table;
	}
	return 0;
}

/**
 * vsvmh_pt_cache_drain - free what the cache still holds
 * @cache: the cache
 */
void vsvmh_pt_cache_drain(struct vsvmh_pt_cache *cache)
{
	while (cache->nr)
		free_page((unsigned long)cache->tables[--cache->nr]);
}

/**
 * vsvmh_pt_set - install one leaf
 * @pt: the table
 * @va: address of the page (4 KiB aligned) or block (2 MiB aligned)
 * @huge: install a 2 MiB leaf at level 1
 * @entry: the leaf: VSVMH_PTE_VALID, permissions, pfn << PAGE_SHIFT
 * @cache: tables to use for missing levels
 *
 * Replaces what mapped the address: a 4 KiB leaf inside a 2 MiB leaf drops
 * the 2 MiB leaf, a 2 MiB leaf frees the level-0 table below it.
 *
 * Return: 0, or -ENOMEM when @cache ran dry (nothing was changed then
 * beyond tables that were linked in), or -EINVAL once destroyed.
 */
int vsvmh_pt_set(struct vsvmh_pt *pt, u64 va, bool huge, u64 entry,
		 struct vsvmh_pt_cache *cache)
{
	unsigned int leaf_level = huge ? 1 : 0;
	u64 *table = pt->root;
	unsigned int level;
	u64 *slot;

	if (!table)
		return -EINVAL;
	for (level = pt->levels - 1; level > leaf_level; level--) {
		slot = &table[vsvmh_pt_index(va, level)];
		if (!(*slot & VSVMH_PTE_TABLE)) {
			if (!cache->nr)
				return -ENOMEM;
			if (*slot & VSVMH_PTE_VALID) {
				vsvmh_pt_account(pt, *slot, false);
				*slot = 0;
			}
			*slot = (u64)(uintptr_t)cache->tables[--cache->nr] |
				VSVMH_PTE_TABLE;
			pt->tables++;
		}
		table = vsvmh_pt_table(*slot);
	}
	slot = &table[vsvmh_pt_index(va, leaf_level)];
	if (*slot & VSVMH_PTE_TABLE)
		vsvmh_pt_free_table(pt, vsvmh_pt_table(*slot), leaf_level - 1);
	else if (*slot & VSVMH_PTE_VALID)
		vsvmh_pt_account(pt, *slot, false);
	if (huge)
		entry |= VSVMH_PTE_HUGE;
	*slot = entry;
	vsvmh_pt_account(pt, entry, true);
	return 0;
}

/* Clears [start, end) inside @table, which maps from @base at @level. */
static u64 vsvmh_pt_clear_table(struct vsvmh_pt *pt, u64 *table,
				unsigned int level, u64 base, u64 start,
				u64 end)
{
	unsigned int shift = vsvmh_pt_shift(level);
	u64 span = 1ULL << shift;
	unsigned int first, last, i;
	u64 cleared = 0;

	if (start >= base + (span << VSVMH_PT_BITS))
		return 0;	/* beyond what the table maps */
	first = start > base ? (start - base) >> shift : 0;
	last = min_t(u64, (end - 1 - base) >> shift, VSVMH_PT_ENTRIES - 1);
	for (i = first; i <= last; i++) {
		u64 e = table[i];
		u64 va = base + i * span;

		if (!e)
			continue;
		if (!(e & VSVMH_PTE_TABLE)) {
			/* A partly covered 2 MiB leaf goes whole. */
			cleared += vsvmh_pt_leaf_size(e);
			vsvmh_pt_account(pt, e, false);
			table[i] = 0;
			continue;
		}
		if (start <= va && va + span <= end) {
			u64 before = pt->mapped_bytes;

			vsvmh_pt_free_table(pt, vsvmh_pt_table(e), level - 1);
			cleared += before - pt->mapped_bytes;
			table[i] = 0;
			continue;
		}
		cleared += vsvmh_pt_clear_table(pt, vsvmh_pt_table(e),
						level - 1, va, start, end);
		if (!memchr_inv(vsvmh_pt_table(e), 0, PAGE_SIZE)) {
			free_page((unsigned long)vsvmh_pt_table(e));
			pt->tables--;
			table[i] = 0;
		}
	}
	return cleared;
}

/**
 * vsvmh_pt_clear - remove every leaf in a range
 * @pt: the table
 * @start: first address, page aligned
 * @end: end, page aligned, > @start
 *
 * A 2 MiB leaf that the range covers only partly is removed whole; the
 * device refaults what it still needs.
 *
 * Return: bytes unmapped (0: nothing was mapped there).
 */
u64 vsvmh_pt_clear(struct vsvmh_pt *pt, u64 start, u64 end)
{
	if (!pt->root || start >= end)
		return 0;
	return vsvmh_pt_clear_table(pt, pt->root, pt->levels - 1, 0, start,
				    end);
}
