// SPDX-License-Identifier: MIT
/*
 * policy_pressure.c - the policy under pressure: a working set of 150% of
 * device memory completes with verified results (the data that does not
 * fit is mapped remotely, least recently used granules are asked back to
 * guest RAM, no kernel fails), and a granule bouncing between guest RAM
 * and its preferred device is pinned once it moved thrash_migrations
 * times within the window, which bounds the migrations it costs.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "policy_test.h"

#define DEV_MEM (16ull << 20)

static void oversubscription_completes_with_verified_results(void **state)
{
	struct p_env *e = malloc(sizeof(*e));
	const uint64_t len = DEV_MEM * 3 / 2;	/* 24 MiB: 150% */
	struct vsvm_response rsp;
	struct vp_ctx_stats st;
	struct p_guest g;
	struct p_run r;
	uint64_t i;
	uint32_t k;

	(void)state;
	p_env_up(e, DEV_MEM, NULL);
	p_ctx(e, 1);
	p_guest_map(e, &g, 1, P_VA, len, 1);
	/* Everything to device 0: what fits goes, the rest says NOSPC. */
	assert_int_equal(p_prefetch(e, 1, P_VA, len, 0, VSVM_PREFETCH_F_ASYNC,
				    &rsp),
			 VSVM_OK);
	p_guest_drive(e, &g, true);
	assert_int_equal(g.done_events, 1);
	assert_int_equal(g.done_status, VSVM_ERR_NOSPC);
	assert_true(g.nospc >= 1);
	assert_true(p_ctx_mem(e, 1, 0) > DEV_MEM / 2);
	/* Kernels over the whole working set never fail. */
	for (k = 0; k < 3; k++) {
		r = p_fill(e, 1, 0, P_VA, len / 4, 0xc0de0000 + k);
		assert_int_equal(r.status, VSVM_OK);
		r = p_fill(e, 1, 1, P_VA + k * P_2M, P_2M / 4, 0xc0de0000 + k);
		assert_int_equal(r.status, VSVM_OK);
	}
	/*
	 * The guest moves another granule in: the device is full, so the
	 * least recently used granules are asked back to guest RAM; once
	 * the guest answered, the move fits.
	 */
	for (i = 0; i < g.pages && g.dev[i] != P_SYS; i++)
		;
	assert_true(i < g.pages);
	{
		uint16_t rc = p_guest_to_dev(e, &g, i, P_2M / P_PG, 0, 0);

		if (rc != VSVM_ERR_NOSPC)
			fail_msg("page %llu: %u, device 0 holds %llu, uses %llu",
				 (unsigned long long)i, rc,
				 (unsigned long long)p_ctx_mem(e, 1, 0),
				 (unsigned long long)p_dev_used(e, 0));
	}
	st = p_stats(e, 1);
	assert_true(st.evictions >= 1);
	p_guest_drive(e, &g, true);
	assert_true(g.reqs_to_sys >= 1);
	assert_int_equal(p_guest_to_dev(e, &g, i, P_2M / P_PG, 0, 0), VSVM_OK);
	r = p_fill(e, 1, 0, P_VA, len / 4, 0xfeed);
	assert_int_equal(r.status, VSVM_OK);
	/* Every byte where the PTEs said: all 0xfeed in guest RAM. */
	p_guest_back(e, &g);
	for (i = 0; i < len; i += 4)
		if (p_guest_u32(e, &g, i) != 0xfeed)
			fail_msg("u32 at +0x%llx is 0x%x",
				 (unsigned long long)i, p_guest_u32(e, &g, i));
	assert_int_equal(p_ctx_mem(e, 1, 0) < P_2M, 1);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 1);
	p_env_down(e);
	free(e);
}

/*
 * The guest CPU and device 0 (the preferred location) fight over one
 * granule: each round device 0 faults and the policy asks for the data,
 * the guest moves it, then the guest CPU touches it and it comes back.
 * Return: MIGRATE_REQs the policy sent in rounds rounds.
 */
static uint64_t bounce(struct p_env *e, uint32_t ctx, uint32_t rounds,
		       struct vp_ctx_stats *out)
{
	struct p_guest g;
	uint32_t k;

	p_ctx(e, ctx);
	p_guest_map(e, &g, ctx, P_VA, P_2M, 5);
	assert_int_equal(p_set_attr(e, ctx, P_VA, P_2M,
				    VSVM_ATTR_PREFERRED_LOC, 0),
			 VSVM_OK);
	for (k = 0; k < rounds; k++) {
		assert_int_equal(p_fill(e, ctx, 0, P_VA, 1, 100 + k).status,
				 VSVM_OK);
		p_guest_drive(e, &g, true);
		p_guest_back(e, &g);	/* the CPU touch */
		assert_int_equal(p_guest_u32(e, &g, 0), 100 + k);
	}
	*out = p_stats(e, ctx);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, ctx);
	return out->migrate_reqs_sent;
}

static void thrashing_granule_is_pinned(void **state)
{
	struct vp_policy pol = vp_policy_defaults;
	struct p_env *e = malloc(sizeof(*e));
	struct vp_ctx_stats st;
	uint64_t reqs;

	(void)state;
	pol.thrash_migrations = 4;
	pol.thrash_window_ms = 60000;
	pol.pin_ms = 60000;
	p_env_up(e, DEV_MEM, &pol);
	/* With detection: 4 moves (2 rounds) pin it; no more requests. */
	reqs = bounce(e, 1, 12, &st);
	assert_int_equal(st.thrash_pins, 1);
	assert_true(reqs <= 3);
	assert_true(st.migrations_to[0] + st.migrations_to[VSVM_MAX_DEVICES] <=
		    pol.thrash_migrations + 1);
	/* Control: a pin that lasts 0 ms: every round moves (the bound above
	 * comes from the detection, not from the scenario). */
	e->policy.pin_ms = 0;
	reqs = bounce(e, 2, 12, &st);
	assert_int_equal(reqs, 12);
	assert_int_equal(st.migrations_to[0], 12);
	p_env_down(e);
	free(e);
}

/*
 * No page-table reserve and a device whose memory is all data: a kernel
 * there still runs, because the proxy moves data to a peer to make room
 * for its page tables.
 */
static void full_device_still_runs_kernels(void **state)
{
	struct vp_policy pol = vp_policy_defaults;
	struct p_env *e = malloc(sizeof(*e));
	const uint64_t mem = 4ull << 20;
	struct p_guest g, h;
	struct p_run r;

	(void)state;
	pol.pt_reserve_kib = 0;
	p_env_up(e, mem, &pol);
	p_ctx(e, 1);
	p_guest_map(e, &g, 1, P_VA, mem, 1);
	assert_int_equal(p_guest_to_dev(e, &g, 0, g.pages, 0, 0), VSVM_OK);
	assert_int_equal(p_dev_used(e, 0), mem);
	p_guest_map(e, &h, 1, P_VA + 64 * P_2M, P_2M, 2);
	r = p_fill(e, 1, 0, P_VA + 64 * P_2M, P_2M / 4, 0x5eed);
	assert_int_equal(r.status, VSVM_OK);
	assert_true(p_stats(e, 1).policy_moves >= 1);
	assert_true(p_ctx_mem(e, 1, 1) >= P_2M);
	/* The moved data is intact, and the kernel wrote its range. */
	memset(g.dev, 0, g.pages);	/* the guest sees device memory */
	p_guest_check(e, &g, 1);
	assert_int_equal(p_guest_u32(e, &h, P_2M - 4), 0x5eed);
	p_guest_free(&g);
	p_guest_free(&h);
	vp_svm_ctx_destroy(e->svm, 1);
	p_env_down(e);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oversubscription_completes_with_verified_results),
		cmocka_unit_test(thrashing_granule_is_pinned),
		cmocka_unit_test(full_device_still_runs_kernels),
	};

	return cmocka_run_group_tests_name("policy_pressure", tests, NULL,
					   NULL);
}
