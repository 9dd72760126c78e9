// SPDX-License-Identifier: MIT
/*
 * pagetable_huge_split.c - 2 MiB leaves are used exactly where VA, host
 * address and length allow; a partial unmap or remap splits a 2 MiB leaf
 * into 512 4 KiB leaves that keep every other translation; a 2 MiB map
 * over a split table makes it one leaf again; a split that finds no memory
 * removes the whole 2 MiB leaf rather than leave the unmapped page mapped.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagetable.h"
#include "vsvm/vsvm_proto.h"

#define PAGE 4096ull
#define HUGE (2ull << 20)
#define RW   (VSVM_PROT_READ | VSVM_PROT_WRITE)
#define RO   VSVM_PROT_READ

struct counting_alloc {
	long live;
	long limit;
};

static void *ca_alloc(void *opaque)
{
	struct counting_alloc *ca = opaque;
	void *p;

	if (ca->live >= ca->limit)
		return NULL;
	p = aligned_alloc(PAGE, PAGE);
	assert_non_null(p);
	memset(p, 0, PAGE);
	ca->live++;
	return p;
}

static void ca_free(void *opaque, void *page)
{
	struct counting_alloc *ca = opaque;

	ca->live--;
	free(page);
}

static struct vp_pagetable *new_pt(struct counting_alloc *ca)
{
	struct vp_pagetable *pt;

	ca->live = 0;
	ca->limit = 1 << 20;
	pt = vp_pt_create(48, ca_alloc, ca_free, ca);
	assert_non_null(pt);
	return pt;
}

static void *fake_hva(uint64_t x)
{
	return (void *)(uintptr_t)x;
}

static void assert_maps(struct vp_pagetable *pt, uint64_t va, uint64_t hva,
			uint32_t prot, uint32_t shift)
{
	struct vp_pt_walk w;

	assert_true(vp_pt_lookup(pt, va, &w));
	assert_int_equal((uintptr_t)vp_pt_walk_hva(&w, va), hva);
	assert_int_equal(w.prot, prot);
	assert_int_equal(w.page_shift, shift);
}

static void assert_unmapped(struct vp_pagetable *pt, uint64_t va)
{
	struct vp_pt_walk w;

	assert_false(vp_pt_lookup(pt, va, &w));
}

#define VA  0x40000000ull     /* 1 GiB */
#define HVA 0x7f0000000000ull /* 2 MiB aligned */

static void aligned_map_uses_2m_leaves(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	uint64_t off;

	(void)state;
	assert_int_equal(vp_pt_map(pt, VA, 2 * HUGE, fake_hva(HVA), RW, NULL),
			 0);
	/* root, L3, L2: no level-1 table at all. */
	assert_int_equal(vp_pt_table_bytes(pt), 3 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), 2 * HUGE);
	for (off = 0; off < 2 * HUGE; off += 509 * PAGE + 123)
		assert_maps(pt, VA + off, HVA + off, RW, 21);
	assert_unmapped(pt, VA + 2 * HUGE);
	assert_int_equal(vp_pt_unmap(pt, VA, 2 * HUGE, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void misaligned_host_address_uses_4k_leaves(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);

	(void)state;
	assert_int_equal(
		vp_pt_map(pt, VA, HUGE, fake_hva(HVA + PAGE), RW, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	assert_maps(pt, VA, HVA + PAGE, RW, 12);
	assert_maps(pt, VA + HUGE - 1, HVA + PAGE + HUGE - 1, RW, 12);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

/* [2M - 8K, 6M + 12K): 4 KiB edges around two 2 MiB leaves. */
static void unaligned_range_mixes_leaf_sizes(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	uint64_t va = VA + HUGE - 2 * PAGE, len = 2 * HUGE + 5 * PAGE;
	uint64_t hva = HVA + HUGE - 2 * PAGE;

	(void)state;
	assert_int_equal(vp_pt_map(pt, va, len, fake_hva(hva), RO, NULL), 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), len);
	/* root, L3, L2, and one L1 at each edge */
	assert_int_equal(vp_pt_table_bytes(pt), 5 * PAGE);
	assert_maps(pt, va, hva, RO, 12);
	assert_maps(pt, va + PAGE, hva + PAGE, RO, 12);
	assert_maps(pt, VA + HUGE, HVA + HUGE, RO, 21);
	assert_maps(pt, VA + 2 * HUGE + 7, HVA + 2 * HUGE + 7, RO, 21);
	assert_maps(pt, VA + 3 * HUGE - 1, HVA + 3 * HUGE - 1, RO, 21);
	assert_maps(pt, VA + 3 * HUGE, HVA + 3 * HUGE, RO, 12);
	assert_maps(pt, va + len - PAGE, hva + len - PAGE, RO, 12);
	assert_unmapped(pt, va - PAGE);
	assert_unmapped(pt, va + len);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void partial_unmap_splits_a_2m_leaf(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	uint64_t hole = VA + 77 * PAGE;
	bool inval = false;
	uint64_t off;

	(void)state;
	assert_int_equal(vp_pt_map(pt, VA, HUGE, fake_hva(HVA), RW, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 3 * PAGE);
	assert_int_equal(vp_pt_unmap(pt, hole, PAGE, &inval), 0);
	assert_true(inval);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), HUGE - PAGE);
	assert_unmapped(pt, hole);
	assert_unmapped(pt, hole + PAGE - 1);
	for (off = 0; off < HUGE; off += PAGE) {
		if (VA + off == hole)
			continue;
		assert_maps(pt, VA + off + 5, HVA + off + 5, RW, 12);
	}
	/* Unmapping the rest frees the split table too. */
	assert_int_equal(vp_pt_unmap(pt, VA, 77 * PAGE, NULL), 0);
	assert_int_equal(vp_pt_unmap(pt, hole + PAGE, HUGE - 78 * PAGE, NULL),
			 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void partial_remap_splits_and_retargets_one_page(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	uint64_t page = VA + 300 * PAGE;
	bool inval = false;

	(void)state;
	assert_int_equal(vp_pt_map(pt, VA, HUGE, fake_hva(HVA), RW, NULL), 0);
	/* Same target, more permissions: split, but nothing to invalidate. */
	assert_int_equal(vp_pt_map(pt, page, PAGE, fake_hva(HVA + 300 * PAGE),
				   VSVM_PROT_ALL, &inval),
			 0);
	assert_false(inval);
	assert_maps(pt, page, HVA + 300 * PAGE, VSVM_PROT_ALL, 12);
	assert_maps(pt, page + PAGE, HVA + 301 * PAGE, RW, 12);
	/* Another target: invalidated. */
	assert_int_equal(
		vp_pt_map(pt, page, PAGE, fake_hva(0x5000), RO, &inval), 0);
	assert_true(inval);
	assert_maps(pt, page + 1, 0x5001, RO, 12);
	assert_maps(pt, page - PAGE, HVA + 299 * PAGE, RW, 12);
	assert_int_equal(vp_pt_mapped_bytes(pt), HUGE);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void huge_map_over_split_table_merges(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	bool inval = false;

	(void)state;
	assert_int_equal(
		vp_pt_map(pt, VA, HUGE, fake_hva(HVA + PAGE), RW, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	assert_int_equal(vp_pt_map(pt, VA, HUGE, fake_hva(HVA), RW, &inval), 0);
	assert_true(inval);
	assert_int_equal(vp_pt_table_bytes(pt), 3 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), HUGE);
	assert_maps(pt, VA + 12345, HVA + 12345, RW, 21);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void split_without_memory_drops_the_whole_leaf(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	bool inval = false;

	(void)state;
	assert_int_equal(vp_pt_map(pt, VA, 2 * HUGE, fake_hva(HVA), RW, NULL),
			 0);
	ca.limit = ca.live;
	assert_int_equal(vp_pt_unmap(pt, VA + PAGE, PAGE, &inval), 0);
	assert_true(inval);
	assert_int_equal(vp_pt_split_drops(pt), 1);
	/* More than asked is gone, never less; the other leaf stays. */
	assert_unmapped(pt, VA + PAGE);
	assert_unmapped(pt, VA);
	assert_maps(pt, VA + HUGE, HVA + HUGE, RW, 21);
	assert_int_equal(vp_pt_mapped_bytes(pt), HUGE);

	/* A remap that needs a split fails cleanly and unmaps its range. */
	assert_int_equal(vp_pt_map(pt, VA + HUGE + PAGE, PAGE, fake_hva(0x1000),
				   RW, &inval),
			 -ENOMEM);
	assert_unmapped(pt, VA + HUGE + PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void unmap_of_many_leaves_returns_to_zero(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(&ca);
	uint64_t i;

	(void)state;
	/* 64 MiB huge at 1 GiB, plus 4 KiB pages in four other GiBs. */
	assert_int_equal(vp_pt_map(pt, VA, 32 * HUGE, fake_hva(HVA), RW, NULL),
			 0);
	for (i = 2; i < 6; i++)
		assert_int_equal(vp_pt_map(pt, i << 30, 3 * PAGE, fake_hva(HVA),
					   RO, NULL),
				 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), 32 * HUGE + 12 * PAGE);
	assert_int_equal(vp_pt_table_bytes(pt), (2 + 1 + 4 * 2) * PAGE);
	assert_int_equal(vp_pt_unmap(pt, 0, 1ull << 40, NULL), 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aligned_map_uses_2m_leaves),
		cmocka_unit_test(misaligned_host_address_uses_4k_leaves),
		cmocka_unit_test(unaligned_range_mixes_leaf_sizes),
		cmocka_unit_test(partial_unmap_splits_a_2m_leaf),
		cmocka_unit_test(partial_remap_splits_and_retargets_one_page),
		cmocka_unit_test(huge_map_over_split_table_merges),
		cmocka_unit_test(split_without_memory_drops_the_whole_leaf),
		cmocka_unit_test(unmap_of_many_leaves_returns_to_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
