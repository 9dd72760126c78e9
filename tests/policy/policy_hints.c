// SPDX-License-Identifier: MIT
/*
 * policy_hints.c - the attributes of docs/protocol.md 7.6 with effect:
 * each attribute splits and merges and GET_ATTR returns exactly what is in
 * force; attribute changes never change what a VA maps to; ACCESSED_BY
 * devices never fault; PREFERRED_LOC places data on device faults
 * (MIGRATE_REQ into and out of guest RAM, device-to-device moves done by
 * the proxy); a dominating device draws the data without a hint;
 * READ_MOSTLY makes replicas of device data only, a write collapses them
 * and no device ever reads stale data; conflicting hints resolve as
 * docs/memory-hints.md says.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "policy_test.h"

static int setup(void **state)
{
	struct p_env *e = malloc(sizeof(*e));

	p_env_up(e, 32ull << 20, NULL);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	p_env_down(*state);
	free(*state);
	return 0;
}

static const struct {
	uint32_t type;
	uint64_t value;
	uint64_t dflt;
} attr_cases[] = {
	{ VSVM_ATTR_PREFERRED_LOC, 2, VSVM_LOC_UNSET },
	{ VSVM_ATTR_PREFERRED_LOC, VSVM_LOC_SYSTEM, VSVM_LOC_UNSET },
	{ VSVM_ATTR_ACCESSED_BY, 0x5, 0 },
	{ VSVM_ATTR_READ_MOSTLY, 1, 0 },
	{ VSVM_ATTR_GRANULARITY, 16, 21 },
	{ VSVM_ATTR_DEVICE_ACCESS, VSVM_DEVICE_ACCESS_RO,
	  VSVM_DEVICE_ACCESS_RW },
};

static void each_attribute_splits_merges_and_reads_back(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, 16 * P_PG);
	const uint64_t a = P_VA, mid = P_VA + 4 * P_PG;
	unsigned int i;
	int mixed;

	p_ctx(e, 1);
	assert_int_equal(p_map(e, 1, a, gpa, 16 * P_PG, RW), VSVM_OK);
	for (i = 0; i < sizeof(attr_cases) / sizeof(attr_cases[0]); i++) {
		uint32_t t = attr_cases[i].type;
		uint64_t v = attr_cases[i].value, d = attr_cases[i].dflt;

		/* Untouched: the default everywhere, not mixed. */
		assert_int_equal(p_get_attr(e, 1, a, 16 * P_PG, t, &mixed), d);
		assert_false(mixed);
		/* Set the middle: three intervals. */
		assert_int_equal(p_set_attr(e, 1, mid, 4 * P_PG, t, v),
				 VSVM_OK);
		assert_int_equal(p_get_attr(e, 1, mid, 4 * P_PG, t, &mixed), v);
		assert_false(mixed);
		assert_int_equal(p_get_attr(e, 1, mid + P_PG, P_PG, t, &mixed),
				 v);
		assert_int_equal(p_get_attr(e, 1, a, 16 * P_PG, t, &mixed), d);
		assert_true(mixed);
		assert_int_equal(p_get_attr(e, 1, mid - P_PG, 2 * P_PG, t,
					    &mixed),
				 d);
		assert_true(mixed);
		/* Extend it left: neighbours merge into one interval. */
		assert_int_equal(p_set_attr(e, 1, a, 4 * P_PG, t, v), VSVM_OK);
		assert_int_equal(p_get_attr(e, 1, a, 8 * P_PG, t, &mixed), v);
		assert_false(mixed);
		/* Back to the default: the whole range is uniform again. */
		assert_int_equal(p_set_attr(e, 1, a, 8 * P_PG, t, d), VSVM_OK);
		assert_int_equal(p_get_attr(e, 1, a, 16 * P_PG, t, &mixed), d);
		assert_false(mixed);
	}
	/* Attributes exist without a mapping, and survive UNMAP and MAP. */
	assert_int_equal(p_set_attr(e, 1, a + P_2M, P_PG,
				    VSVM_ATTR_GRANULARITY, 12),
			 VSVM_OK);
	assert_int_equal(p_unmap(e, 1, a, 16 * P_PG, 1), VSVM_OK);
	assert_int_equal(p_get_attr(e, 1, a + P_2M, P_PG,
				    VSVM_ATTR_GRANULARITY, NULL),
			 12);
	vp_svm_ctx_destroy(e->svm, 1);
}

static void attribute_changes_never_change_mappings(void **state)
{
	struct p_env *e = *state;
	struct p_guest g;
	unsigned int i;

	/* Placement is not under test here: keep the data where put. */
	e->policy.migrate_threshold = 0;
	p_ctx(e, 2);
	p_guest_map(e, &g, 2, P_VA, P_2M, 3);
	assert_int_equal(p_fill(e, 2, 0, P_VA, 16, 1).status, VSVM_OK);
	assert_int_equal(p_guest_to_dev(e, &g, 8, 8, 1, 0), VSVM_OK);
	for (i = 0; i < sizeof(attr_cases) / sizeof(attr_cases[0]); i++) {
		struct vp_ctx_stats before = p_stats(e, 2), after;
		struct vsvm_event_val ev[8];

		/* SYSTEM preferred asks the guest; nothing moves by itself. */
		assert_int_equal(p_set_attr(e, 2, P_VA, P_2M,
					    attr_cases[i].type,
					    attr_cases[i].value),
				 VSVM_OK);
		after = p_stats(e, 2);
		assert_int_equal(after.bytes_to[0] + after.bytes_to[1] +
					 after.bytes_to[2] +
					 after.bytes_to[VSVM_MAX_DEVICES],
				 before.bytes_to[0] + before.bytes_to[1] +
					 before.bytes_to[2] +
					 before.bytes_to[VSVM_MAX_DEVICES]);
		p_events(e, 2, ev, 8);
		assert_int_equal(p_set_attr(e, 2, P_VA, P_2M,
					    attr_cases[i].type,
					    attr_cases[i].dflt),
				 VSVM_OK);
		/* Still the same backing: guest page 0, device 1 for 8..15. */
		assert_int_equal(p_fill(e, 2, 0, P_VA, 1, 0xabc0 + i).status,
				 VSVM_OK);
		assert_int_equal(p_guest_u32(e, &g, 0), 0xabc0 + i);
		assert_int_equal(p_pte_where(e, 2, 0, P_VA, NULL), 1);
		assert_int_equal(p_fill(e, 2, 0, P_VA + 8 * P_PG, 1, 7).status,
				 VSVM_OK);
		assert_int_equal(p_pte_where(e, 2, 0, P_VA + 8 * P_PG, NULL),
				 2 + 1);
	}
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 2);
	e->policy.migrate_threshold = vp_policy_defaults.migrate_threshold;
}

static void accessed_by_devices_never_fault(void **state)
{
	struct p_env *e = *state;
	const uint64_t len = 4 * P_2M;
	struct p_guest a, b;
	struct p_run r;

	p_ctx(e, 3);
	/* The hint first, then the mapping: MAP installs dev 1's PTEs. */
	assert_int_equal(p_set_attr(e, 3, P_VA, len, VSVM_ATTR_ACCESSED_BY,
				    1ull << 1),
			 VSVM_OK);
	p_guest_map(e, &a, 3, P_VA, len, 1);
	p_guest_map(e, &b, 3, P_VA + len, len, 2);
	r = p_fill(e, 3, 1, P_VA, len / 4, 5);
	assert_int_equal(r.status, VSVM_OK);
	assert_int_equal(r.faults, 0);
	/* Without the hint the same kernel faults (minor, per 2 MiB). */
	r = p_fill(e, 3, 1, P_VA + len, len / 4, 5);
	assert_int_equal(r.status, VSVM_OK);
	assert_true(r.faults >= 4);
	/* Data moves to device 0: device 1 keeps PTEs, to device 0. */
	assert_int_equal(p_guest_to_dev(e, &a, 0, len / P_PG, 0, 0), VSVM_OK);
	assert_int_equal(p_pte_where(e, 3, 1, P_VA, NULL), 2 + 0);
	r = p_fill(e, 3, 1, P_VA, len / 4, 6);
	assert_int_equal(r.status, VSVM_OK);
	assert_int_equal(r.faults, 0);
	/* Setting the hint on mapped memory maps it at once too. */
	assert_int_equal(p_set_attr(e, 3, P_VA + len, len,
				    VSVM_ATTR_ACCESSED_BY, 1ull << 2),
			 VSVM_OK);
	r = p_fill(e, 3, 2, P_VA + len, len / 4, 7);
	assert_int_equal(r.faults, 0);
	assert_int_equal(p_stats(e, 3).dev_faults[2], 0);
	p_guest_back(e, &a);
	assert_int_equal(p_guest_u32(e, &a, len - 4), 6);
	p_guest_free(&a);
	p_guest_free(&b);
	vp_svm_ctx_destroy(e->svm, 3);
}

static void preferred_location_places_data_on_faults(void **state)
{
	struct p_env *e = *state;
	struct vsvm_event_val ev[16];
	struct p_guest g;
	uint32_t n;

	p_ctx(e, 4);
	p_guest_map(e, &g, 4, P_VA, 2 * P_2M, 4);
	assert_int_equal(p_set_attr(e, 4, P_VA, 2 * P_2M,
				    VSVM_ATTR_PREFERRED_LOC, 1),
			 VSVM_OK);
	/* No event by SET_ATTR itself. */
	assert_int_equal(p_events(e, 4, ev, 16), 0);
	/* A fault by device 0 asks for the granule to go to device 1. */
	assert_int_equal(p_fill(e, 4, 0, P_VA + P_PG, 1, 9).status, VSVM_OK);
	n = p_events(e, 4, ev, 16);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, VSVM_EVENT_MIGRATE_REQ);
	assert_int_equal(ev[0].va, P_VA);
	assert_int_equal(ev[0].len, P_2M);	/* the granule */
	assert_int_equal(ev[0].device, 1);
	p_guest_answer(e, &g, &ev[0], true);
	assert_int_equal(g.dev[0], 1);
	assert_int_equal(p_stats(e, 4).migrate_reqs_answered, 1);
	/* Data on device 2 with device 1 preferred: the proxy moves it. */
	assert_int_equal(p_guest_to_dev(e, &g, 512, 512, 2, 0), VSVM_OK);
	assert_int_equal(p_fill(e, 4, 0, P_VA + P_2M, 1, 10).status, VSVM_OK);
	assert_int_equal(p_stats(e, 4).policy_moves, 1);
	assert_int_equal(p_pte_where(e, 4, 0, P_VA + P_2M, NULL), 2 + 1);
	g.dev[512 + 0] = 1;
	memset(g.dev + 512, 1, 512);
	assert_int_equal(p_events(e, 4, ev, 16), 0);
	/* SYSTEM preferred: device data is asked back at once. */
	assert_int_equal(p_set_attr(e, 4, P_VA, 2 * P_2M,
				    VSVM_ATTR_PREFERRED_LOC, VSVM_LOC_SYSTEM),
			 VSVM_OK);
	n = p_events(e, 4, ev, 16);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].device, VSVM_LOC_SYSTEM);
	assert_int_equal(ev[1].device, VSVM_LOC_SYSTEM);
	p_guest_answer(e, &g, &ev[0], true);
	p_guest_answer(e, &g, &ev[1], true);
	assert_int_equal(p_ctx_mem(e, 4, 1) < P_2M, 1);
	/* And a device fault never asks for a device then. */
	assert_int_equal(p_fill(e, 4, 2, P_VA, 1, 11).status, VSVM_OK);
	assert_int_equal(p_events(e, 4, ev, 16), 0);
	p_guest_back(e, &g);
	assert_int_equal(p_guest_u32(e, &g, P_PG), 9);
	assert_int_equal(p_guest_u32(e, &g, P_2M), 10);
	assert_int_equal(p_guest_u32(e, &g, 0), 11);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 4);
}

static void dominating_device_draws_unhinted_data(void **state)
{
	struct p_env *e = *state;
	struct vsvm_event_val ev[16];
	uint64_t gpa = p_gpa_alloc(e, P_2M), i;
	uint32_t n;

	p_ctx(e, 5);
	/*
	 * Page by page, with a hole in guest RAM between them (contiguous
	 * ones would merge): every page is its own range and faults alone.
	 */
	for (i = 0; i < 8; i++)
		assert_int_equal(p_map(e, 5, P_VA + i * P_PG,
				       gpa + 2 * i * P_PG,
				       P_PG, RW),
				 VSVM_OK);
	/* Faults by device 2 on 3 pages: below the threshold (4). */
	assert_int_equal(p_fill(e, 5, 2, P_VA, 1, 1).status, VSVM_OK);
	assert_int_equal(p_fill(e, 5, 2, P_VA + P_PG, 1, 1).status, VSVM_OK);
	assert_int_equal(p_fill(e, 5, 2, P_VA + 2 * P_PG, 1, 1).status,
			 VSVM_OK);
	/* Another device's faults weigh against it. */
	assert_int_equal(p_fill(e, 5, 1, P_VA + 7 * P_PG, 1, 1).status,
			 VSVM_OK);
	assert_int_equal(p_events(e, 5, ev, 16), 0);
	/* The 4th: device 2 dominates the granule. */
	assert_int_equal(p_fill(e, 5, 2, P_VA + 3 * P_PG, 1, 1).status,
			 VSVM_OK);
	n = p_events(e, 5, ev, 16);
	assert_true(n >= 1);
	assert_int_equal(ev[0].type, VSVM_EVENT_MIGRATE_REQ);
	assert_int_equal(ev[0].device, 2);
	/* Clipped to a mapped range, inside the granule. */
	assert_true(ev[0].va >= P_VA && ev[0].va + ev[0].len <= P_VA + P_2M);
	vp_svm_ctx_destroy(e->svm, 5);
}

/* GATHER: dst[i] = src[idx[i] % m]; result = sum of what it read. */
static struct p_sub *p_gather(struct p_env *e, uint32_t ctx, uint32_t dev,
			      uint64_t dst, uint64_t src, uint64_t idx,
			      uint64_t n)
{
	uint64_t a[5] = { dst, src, idx, n, n };

	return p_launch(e, ctx, VSVM_KERNEL_GATHER, dev, a);
}

static uint64_t expect_sum(uint32_t v, uint64_t n)
{
	return n * ((uint64_t)v | (uint64_t)v << 32);
}

static void read_mostly_replicas_collapse_and_never_go_stale(void **state)
{
	struct p_env *e = *state;
	const uint64_t n = P_2M / 8;	/* u64 elements of the range */
	uint64_t idx_gpa = p_gpa_alloc(e, n * 4), dst_gpa;
	const uint64_t idx_va = P_VA + 16 * P_2M, dst_va = P_VA + 32 * P_2M;
	struct vp_ctx_stats st;
	struct p_guest g;
	uint32_t prot, k;
	uint64_t i;

	p_ctx(e, 6);
	p_guest_map(e, &g, 6, P_VA, P_2M, 6);
	for (i = 0; i < n; i++)
		((uint32_t *)(e->ram + idx_gpa))[i] = (uint32_t)i;
	assert_int_equal(p_map(e, 6, idx_va, idx_gpa, n * 4, VSVM_PROT_READ),
			 VSVM_OK);
	dst_gpa = p_gpa_alloc(e, 3 * n * 8);
	assert_int_equal(p_map(e, 6, dst_va, dst_gpa, 3 * n * 8, RW), VSVM_OK);
	assert_int_equal(p_set_attr(e, 6, P_VA, P_2M, VSVM_ATTR_READ_MOSTLY, 1),
			 VSVM_OK);
	/* 7.6: no replica of data whose master is guest RAM. */
	assert_int_equal(p_fill(e, 6, 0, P_VA, n * 2, 1).status, VSVM_OK);
	assert_int_equal(p_finish(p_gather(e, 6, 1, dst_va, P_VA, idx_va, n))
				 .result,
			 expect_sum(1, n));
	assert_int_equal(p_stats(e, 6).replicas_created, 0);
	assert_int_equal(p_pte_where(e, 6, 1, P_VA, NULL), 1);
	/* Master on device 0: readers 1 and 2 get read-only replicas. */
	assert_int_equal(p_guest_to_dev(e, &g, 0, g.pages, 0, 0), VSVM_OK);
	assert_int_equal(p_finish(p_gather(e, 6, 1, dst_va, P_VA, idx_va, n))
				 .result,
			 expect_sum(1, n));
	assert_int_equal(p_finish(p_gather(e, 6, 2, dst_va + n * 8, P_VA,
					   idx_va, n))
				 .result,
			 expect_sum(1, n));
	st = p_stats(e, 6);
	assert_true(st.replicas_created >= 2);
	assert_int_equal(p_pte_where(e, 6, 1, P_VA, &prot), 2 + 1);
	assert_int_equal(prot, VSVM_PROT_READ);
	assert_int_equal(p_pte_where(e, 6, 2, P_VA, &prot), 2 + 2);
	assert_true(p_ctx_mem(e, 6, 1) >= P_2M);
	/* A write (even by the master's device) collapses them first. */
	assert_int_equal(p_fill(e, 6, 0, P_VA, n * 2, 2).status, VSVM_OK);
	st = p_stats(e, 6);
	assert_true(st.replica_collapses >= 2);
	assert_int_equal(p_pte_where(e, 6, 1, P_VA, NULL), 0);
	assert_true(p_ctx_mem(e, 6, 2) < P_2M);
	assert_int_equal(p_finish(p_gather(e, 6, 1, dst_va, P_VA, idx_va, n))
				 .result,
			 expect_sum(2, n));
	/*
	 * Readers on devices 1 and 2 run while device 0 writes value k:
	 * every read started after the write ended sees k, whatever
	 * replicas were made or collapsed meanwhile.
	 */
	for (k = 3; k < 40; k++) {
		struct p_sub *w, *r1, *r2;
		struct p_run wr;

		r1 = p_gather(e, 6, 1, dst_va, P_VA, idx_va, n);
		w = p_launch(e, 6, VSVM_KERNEL_FILL, 0,
			     (uint64_t[3]){ P_VA, n * 2, k });
		r2 = p_gather(e, 6, 2, dst_va + n * 8, P_VA, idx_va, n);
		wr = p_finish(w);
		assert_int_equal(wr.status, VSVM_OK);
		assert_int_equal(p_finish(r1).status, VSVM_OK);
		assert_int_equal(p_finish(r2).status, VSVM_OK);
		assert_int_equal(p_finish(p_gather(e, 6, 1, dst_va, P_VA,
						   idx_va, n))
					 .result,
				 expect_sum(k, n));
		assert_int_equal(p_finish(p_gather(e, 6, 2, dst_va + n * 8,
						   P_VA, idx_va, n))
					 .result,
				 expect_sum(k, n));
	}
	st = p_stats(e, 6);
	assert_true(st.replicas_created > 2);
	p_guest_back(e, &g);
	assert_int_equal(p_guest_u32(e, &g, P_2M - 4), 39);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 6);
}

static void conflicting_hints_resolve_as_documented(void **state)
{
	struct p_env *e = *state;
	struct p_guest g;
	uint32_t prot;

	p_ctx(e, 7);
	assert_int_equal(p_set_attr(e, 7, P_VA, P_2M, VSVM_ATTR_ACCESSED_BY,
				    0x7),
			 VSVM_OK);
	/* DEVICE_ACCESS NONE beats ACCESSED_BY: no PTE at all. */
	assert_int_equal(p_set_attr(e, 7, P_VA, P_PG, VSVM_ATTR_DEVICE_ACCESS,
				    VSVM_DEVICE_ACCESS_NONE),
			 VSVM_OK);
	/* RO caps ACCESSED_BY's PTEs to read. */
	assert_int_equal(p_set_attr(e, 7, P_VA + P_PG, P_PG,
				    VSVM_ATTR_DEVICE_ACCESS,
				    VSVM_DEVICE_ACCESS_RO),
			 VSVM_OK);
	p_guest_map(e, &g, 7, P_VA, P_2M, 8);
	assert_int_equal(p_pte_where(e, 7, 2, P_VA, NULL), 0);
	assert_int_equal(p_pte_where(e, 7, 2, P_VA + P_PG, &prot), 1);
	assert_int_equal(prot, VSVM_PROT_READ);
	assert_int_equal(p_pte_where(e, 7, 2, P_VA + 2 * P_PG, &prot), 1);
	assert_int_equal(prot, RW);
	/* PREFERRED_LOC and ACCESSED_BY: placed on 1, mapped on all. */
	assert_int_equal(p_set_attr(e, 7, P_VA, P_2M, VSVM_ATTR_PREFERRED_LOC,
				    1),
			 VSVM_OK);
	assert_int_equal(p_guest_to_dev(e, &g, 0, g.pages, 1, 0), VSVM_OK);
	assert_int_equal(p_pte_where(e, 7, 0, P_VA + 2 * P_PG, NULL), 2 + 1);
	assert_int_equal(p_pte_where(e, 7, 2, P_VA + 2 * P_PG, NULL), 2 + 1);
	assert_int_equal(p_pte_where(e, 7, 2, P_VA, NULL), 0);
	/* READ_MOSTLY with a preferred device elsewhere than the reader:
	 * the reader still gets a replica only if the master is where
	 * PREFERRED_LOC wants it (here: yes, device 1). */
	assert_int_equal(p_set_attr(e, 7, P_VA, P_2M, VSVM_ATTR_ACCESSED_BY, 0),
			 VSVM_OK);
	assert_int_equal(p_set_attr(e, 7, P_VA, P_2M, VSVM_ATTR_READ_MOSTLY, 1),
			 VSVM_OK);
	{
		uint64_t a[3] = { P_VA + 4 * P_2M, P_VA + 0x80000, 4096 };

		assert_int_equal(p_map(e, 7, P_VA + 4 * P_2M,
				       p_gpa_alloc(e, P_PG), P_PG, RW),
				 VSVM_OK);
		assert_int_equal(p_run(e, 7, VSVM_KERNEL_COPY, 0, a).status,
				 VSVM_OK);
	}
	assert_true(p_stats(e, 7).replicas_created >= 1);
	p_guest_check(e, &g, 8);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_attribute_splits_merges_and_reads_back),
		cmocka_unit_test(attribute_changes_never_change_mappings),
		cmocka_unit_test(accessed_by_devices_never_fault),
		cmocka_unit_test(preferred_location_places_data_on_faults),
		cmocka_unit_test(dominating_device_draws_unhinted_data),
		cmocka_unit_test(read_mostly_replicas_collapse_and_never_go_stale),
		cmocka_unit_test(conflicting_hints_resolve_as_documented),
	};

	return cmocka_run_group_tests_name("policy_hints", tests, setup,
					   teardown);
}
