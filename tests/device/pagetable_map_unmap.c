// SPDX-License-Identifier: MIT
/*
 * pagetable_map_unmap.c - the radix page table maps, looks up and unmaps
 * 4 KiB pages, allocates table pages lazily and frees every one of them
 * again, handles 47-, 48- and 57-bit VA spaces and refuses bad ranges.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Table pages come from a counting allocator that can be told to fail, so
 * the tests see exactly how many pages the table holds at any moment.  A
 * randomised case checks the table against a flat reference model.
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
#define RW   (VSVM_PROT_READ | VSVM_PROT_WRITE)
#define ALL  VSVM_PROT_ALL

struct counting_alloc {
	long live;  /* pages handed out and not freed */
	long limit; /* fail allocations beyond this many live pages */
	long allocs;
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
	ca->allocs++;
	return p;
}

static void ca_free(void *opaque, void *page)
{
	struct counting_alloc *ca = opaque;

	/* A table is freed only when empty or in a subtree teardown. */
	ca->live--;
	free(page);
}

static struct vp_pagetable *new_pt(uint32_t va_bits, struct counting_alloc *ca)
{
	struct vp_pagetable *pt;

	memset(ca, 0, sizeof(*ca));
	ca->limit = 1 << 20;
	pt = vp_pt_create(va_bits, ca_alloc, ca_free, ca);
	assert_non_null(pt);
	return pt;
}

/* A fake host address: lookups never dereference it. */
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

static void empty_table_holds_no_page(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);

	(void)state;
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	assert_int_equal(ca.allocs, 0);
	assert_int_equal(vp_pt_levels(pt), 4);
	assert_unmapped(pt, 0);
	assert_unmapped(pt, 0x7ffffffff000ull);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void map_lookup_4k_pages(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	uint64_t va = 0x123456789000ull, hva = 0x7f0000001000ull;
	bool inval = true;
	int i;

	(void)state;
	assert_int_equal(vp_pt_map(pt, va, 3 * PAGE, fake_hva(hva),
				   VSVM_PROT_READ, &inval),
			 0);
	assert_false(inval);
	/* One page per level on the way down. */
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), 3 * PAGE);
	for (i = 0; i < 3; i++) {
		assert_maps(pt, va + i * PAGE, hva + i * PAGE, VSVM_PROT_READ,
			    12);
		/* The byte's address, not just its page. */
		assert_maps(pt, va + i * PAGE + 0xabc, hva + i * PAGE + 0xabc,
			    VSVM_PROT_READ, 12);
	}
	assert_unmapped(pt, va - PAGE);
	assert_unmapped(pt, va + 3 * PAGE);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void unmap_frees_every_table_page(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	/* Straddles a level-1 and a level-2 boundary (1 GiB). */
	uint64_t va = (1ull << 30) - 4 * PAGE;
	bool inval = false;

	(void)state;
	assert_int_equal(vp_pt_map(pt, va, 8 * PAGE, fake_hva(0x5000000000ull),
				   RW, NULL),
			 0);
	/* root, L3, two L2s, two L1s */
	assert_int_equal(vp_pt_table_bytes(pt), 6 * PAGE);
	assert_int_equal(ca.live, 6);

	/* Unmapping a part frees the L2 and L1 it emptied. */
	assert_int_equal(vp_pt_unmap(pt, va, 4 * PAGE, &inval), 0);
	assert_true(inval);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), 4 * PAGE);
	assert_unmapped(pt, va);
	assert_maps(pt, va + 4 * PAGE, 0x5000000000ull + 4 * PAGE, RW, 12);

	/* Unmapping nothing mapped reports no invalidation. */
	assert_int_equal(vp_pt_unmap(pt, va, 4 * PAGE, &inval), 0);
	assert_false(inval);

	/* A wide unmap over the rest empties the table completely. */
	assert_int_equal(vp_pt_unmap(pt, 0, 1ull << 47, &inval), 0);
	assert_true(inval);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	assert_int_equal(ca.live, 0);
	assert_unmapped(pt, va + 4 * PAGE);
	vp_pt_destroy(pt);
}

static void remap_replaces_and_reports_invalidation(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	uint64_t va = 0x40000000ull;
	bool inval;

	(void)state;
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x1000), RW, &inval),
			 0);
	assert_false(inval);
	/* Same target, same permissions: nothing for a TLB to drop. */
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x1000), RW, &inval),
			 0);
	assert_false(inval);
	/* More permissions: a TLB entry with fewer only walks again. */
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x1000), ALL, &inval),
			 0);
	assert_false(inval);
	assert_maps(pt, va, 0x1000, ALL, 12);
	/* Fewer permissions: must be invalidated. */
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x1000),
				   VSVM_PROT_READ, &inval),
			 0);
	assert_true(inval);
	assert_maps(pt, va, 0x1000, VSVM_PROT_READ, 12);
	/* New target: must be invalidated. */
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x2000),
				   VSVM_PROT_READ, &inval),
			 0);
	assert_true(inval);
	assert_maps(pt, va, 0x2000, VSVM_PROT_READ, 12);
	assert_int_equal(vp_pt_mapped_bytes(pt), PAGE);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void va_57_bits_uses_five_levels(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(57, &ca);
	uint64_t top = (1ull << 57) - PAGE;
	uint64_t mid = 1ull << 52;

	(void)state;
	assert_int_equal(vp_pt_levels(pt), 5);
	assert_int_equal(vp_pt_map(pt, top, PAGE, fake_hva(0xa000), RW, NULL),
			 0);
	assert_int_equal(vp_pt_map(pt, mid, PAGE, fake_hva(0xb000), RW, NULL),
			 0);
	assert_int_equal(
		vp_pt_map(pt, 5 * PAGE, PAGE, fake_hva(0xc000), RW, NULL), 0);
	assert_maps(pt, top + 7, 0xa007, RW, 12);
	assert_maps(pt, mid, 0xb000, RW, 12);
	assert_maps(pt, 5 * PAGE, 0xc000, RW, 12);
	/* Bits 47 and 48 matter: these must not alias the pages above. */
	assert_unmapped(pt, top & ((1ull << 48) - 1));
	assert_unmapped(pt, mid & ((1ull << 48) - 1));
	/* Shared root, then 4 pages per mapping. */
	assert_int_equal(vp_pt_table_bytes(pt), (1 + 3 * 4) * PAGE);
	assert_int_equal(
		vp_pt_map(pt, top, 2 * PAGE, fake_hva(0xa000), RW, NULL),
		-EINVAL);
	assert_unmapped(pt, 1ull << 57);
	assert_int_equal(vp_pt_unmap(pt, 0, 1ull << 57, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

static void va_47_and_48_bits_use_four_levels(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt47 = new_pt(47, &ca);
	struct counting_alloc ca48;
	struct vp_pagetable *pt48 = new_pt(48, &ca48);

	(void)state;
	assert_int_equal(vp_pt_levels(pt47), 4);
	assert_int_equal(vp_pt_map(pt47, (1ull << 47) - PAGE, PAGE,
				   fake_hva(0x1000), RW, NULL),
			 0);
	assert_int_equal(
		vp_pt_map(pt47, 1ull << 47, PAGE, fake_hva(0x1000), RW, NULL),
		-EINVAL);
	assert_unmapped(pt47, 1ull << 47);
	assert_unmapped(pt47, (1ull << 48) - PAGE);
	assert_int_equal(vp_pt_map(pt48, (1ull << 48) - PAGE, PAGE,
				   fake_hva(0x1000), RW, NULL),
			 0);
	assert_maps(pt48, (1ull << 48) - PAGE, 0x1000, RW, 12);
	assert_int_equal(
		vp_pt_map(pt48, 1ull << 48, PAGE, fake_hva(0x1000), RW, NULL),
		-EINVAL);
	vp_pt_destroy(pt47);
	vp_pt_destroy(pt48);
	assert_int_equal(ca.live, 0);
	assert_int_equal(ca48.live, 0);
}

static void bad_ranges_are_refused(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	uint64_t lim = 1ull << 48;
	void *h = fake_hva(0x10000);

	(void)state;
	assert_null(vp_pt_create(46, NULL, NULL, NULL));
	assert_null(vp_pt_create(58, NULL, NULL, NULL));
	assert_null(vp_pt_create(48, ca_alloc, NULL, &ca));

	assert_int_equal(vp_pt_map(pt, 0x1000, 0, h, RW, NULL), -EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x1001, PAGE, h, RW, NULL), -EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x1000, PAGE + 1, h, RW, NULL), -EINVAL);
	assert_int_equal(
		vp_pt_map(pt, 0x1000, PAGE, fake_hva(0x10001), RW, NULL),
		-EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x1000, PAGE, NULL, RW, NULL), -EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x1000, PAGE, h, 0, NULL), -EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x1000, PAGE, h, 8, NULL), -EINVAL);
	/* Beyond, at and across the top; wrapping lengths. */
	assert_int_equal(vp_pt_map(pt, lim, PAGE, h, RW, NULL), -EINVAL);
	assert_int_equal(vp_pt_map(pt, lim - PAGE, 2 * PAGE, h, RW, NULL),
			 -EINVAL);
	assert_int_equal(
		vp_pt_map(pt, 0x1000, UINT64_MAX - PAGE + 1, h, RW, NULL),
		-EINVAL);
	assert_int_equal(
		vp_pt_map(pt, UINT64_MAX - PAGE + 1, PAGE, h, RW, NULL),
		-EINVAL);
	assert_int_equal(vp_pt_map(pt, 0x2000, lim - 0x1000, h, RW, NULL),
			 -EINVAL);
	assert_int_equal(vp_pt_unmap(pt, lim - PAGE, 2 * PAGE, NULL), -EINVAL);
	assert_int_equal(vp_pt_unmap(pt, 0, 0, NULL), -EINVAL);
	assert_int_equal(vp_pt_unmap(pt, 0x800, PAGE, NULL), -EINVAL);
	assert_int_equal(vp_pt_unmap(pt, PAGE, UINT64_MAX - PAGE + 1, NULL),
			 -EINVAL);
	/* Nothing was allocated by any of them. */
	assert_int_equal(ca.allocs, 0);
	assert_unmapped(pt, UINT64_MAX);
	vp_pt_destroy(pt);
}

static void alloc_failure_leaves_range_unmapped(void **state)
{
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	uint64_t va = (1ull << 30) - 2 * PAGE;
	bool inval;

	(void)state;
	/* Old mapping in the range, so the failure must also remove it. */
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x9000), RW, NULL),
			 0);
	assert_int_equal(ca.live, 4);
	/* The second half needs an L2 and an L1 more: allow one. */
	ca.limit = 5;
	assert_int_equal(
		vp_pt_map(pt, va, 4 * PAGE, fake_hva(0x1000), RW, &inval),
		-ENOMEM);
	assert_true(inval);
	assert_unmapped(pt, va);
	assert_unmapped(pt, va + PAGE);
	assert_unmapped(pt, va + 2 * PAGE);
	assert_int_equal(vp_pt_mapped_bytes(pt), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	assert_int_equal(ca.live, 0);

	/* An empty table that cannot get its root. */
	ca.limit = 0;
	assert_int_equal(vp_pt_map(pt, va, PAGE, fake_hva(0x1000), RW, NULL),
			 -ENOMEM);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	ca.limit = 100;
	assert_int_equal(
		vp_pt_map(pt, va, 4 * PAGE, fake_hva(0x1000), RW, NULL), 0);
	assert_maps(pt, va + 3 * PAGE, 0x4000, RW, 12);
	vp_pt_destroy(pt);
	assert_int_equal(ca.live, 0);
}

/*
 * Random maps and unmaps over a small window (4 MiB-aligned, so 2 MiB
 * leaves and splits happen), compared page by page with a flat model.
 */
#define MODEL_PAGES 2048u /* 8 MiB window */

struct model_page {
	uint64_t hva; /* 0: unmapped */
	uint32_t prot;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void random_ops_match_a_flat_model(void **state)
{
	static struct model_page model[MODEL_PAGES];
	struct counting_alloc ca;
	struct vp_pagetable *pt = new_pt(48, &ca);
	uint64_t base = 0x7f0000000000ull;
	uint32_t op, i;

	(void)state;
	memset(model, 0, sizeof(model));
	for (op = 0; op < 4000; op++) {
		/* Favour 2 MiB-aligned, 2 MiB-long ranges now and then. */
		bool huge = rng() % 4 == 0;
		uint32_t first = huge ? (uint32_t)(rng() % 4) * 512 :
					(uint32_t)(rng() % MODEL_PAGES);
		uint32_t max = MODEL_PAGES - first;
		uint32_t n = huge ? 512 * (1 + (uint32_t)(rng() % 2)) :
				    1 + (uint32_t)(rng() % 600);
		uint64_t mapped = 0;

		if (n > max)
			n = max;
		if (rng() % 3) {
			/* hva congruent to va mod 2 MiB half of the time. */
			uint64_t hva = ((rng() % 64) + 1) << 21;
			uint32_t prot = 1 + (uint32_t)(rng() % 7);

			if (rng() % 2)
				hva += (1 + rng() % 511) * PAGE;
			assert_int_equal(vp_pt_map(pt, base + first * PAGE,
						   n * PAGE, fake_hva(hva),
						   prot, NULL),
					 0);
			for (i = 0; i < n; i++)
				model[first + i] =
					(struct model_page){ hva + i * PAGE,
							     prot };
		} else {
			assert_int_equal(vp_pt_unmap(pt, base + first * PAGE,
						     n * PAGE, NULL),
					 0);
			for (i = 0; i < n; i++)
				model[first + i].hva = 0;
		}
		for (i = 0; i < MODEL_PAGES; i++) {
			struct vp_pt_walk w;
			uint64_t va = base + i * PAGE;
			bool present = vp_pt_lookup(pt, va, &w);

			assert_int_equal(present, model[i].hva != 0);
			if (!present)
				continue;
			mapped += PAGE;
			assert_int_equal((uintptr_t)vp_pt_walk_hva(&w, va),
					 model[i].hva);
			assert_int_equal(w.prot, model[i].prot);
		}
		assert_int_equal(vp_pt_mapped_bytes(pt), mapped);
		assert_int_equal(vp_pt_table_bytes(pt), ca.live * PAGE);
	}
	assert_int_equal(vp_pt_split_drops(pt), 0);
	assert_int_equal(vp_pt_unmap(pt, base, MODEL_PAGES * PAGE, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 0);
	assert_int_equal(ca.live, 0);
	vp_pt_destroy(pt);
}

static void default_allocator_works(void **state)
{
	struct vp_pagetable *pt = vp_pt_create(48, NULL, NULL, NULL);

	(void)state;
	assert_non_null(pt);
	assert_int_equal(
		vp_pt_map(pt, 0, 16 * PAGE, fake_hva(0x1000), RW, NULL), 0);
	assert_int_equal(vp_pt_table_bytes(pt), 4 * PAGE);
	/* Destroy with mappings in place frees every table (ASan checks). */
	vp_pt_destroy(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_table_holds_no_page),
		cmocka_unit_test(map_lookup_4k_pages),
		cmocka_unit_test(unmap_frees_every_table_page),
		cmocka_unit_test(remap_replaces_and_reports_invalidation),
		cmocka_unit_test(va_57_bits_uses_five_levels),
		cmocka_unit_test(va_47_and_48_bits_use_four_levels),
		cmocka_unit_test(bad_ranges_are_refused),
		cmocka_unit_test(alloc_failure_leaves_range_unmapped),
		cmocka_unit_test(random_ops_match_a_flat_model),
		cmocka_unit_test(default_allocator_works),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
