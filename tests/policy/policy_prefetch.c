// SPDX-License-Identifier: MIT
/*
 * policy_prefetch.c - PREFETCH (docs/protocol.md 7.7): synchronous moves
 * what the device can move alone and maps the target devices, counting
 * the bytes at the location; ASYNC replies with a token, asks the guest
 * for the rest with MIGRATE_REQs aligned to GRANULARITY and clipped to
 * mapped ranges, and ends with one PREFETCH_DONE: OK, CANCELED when the
 * guest declined, NOSPC when device memory ran out; every state check;
 * DESTROY drops outstanding prefetches silently.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "policy_test.h"

static int setup(void **state)
{
	struct p_env *e = malloc(sizeof(*e));

	p_env_up(e, 16ull << 20, NULL);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	p_env_down(*state);
	free(*state);
	return 0;
}

static void sync_prefetch_moves_device_data_and_maps(void **state)
{
	struct p_env *e = *state;
	struct vsvm_response rsp;
	struct vsvm_event_val ev[8];
	struct p_guest g;
	struct p_run r;

	p_ctx(e, 1);
	p_guest_map(e, &g, 1, P_VA, 2 * P_2M, 1);
	/* In guest RAM: mapped on the target, but not at the location. */
	assert_int_equal(p_prefetch(e, 1, P_VA, 2 * P_2M, 1, 0, &rsp), VSVM_OK);
	assert_int_equal(rsp.u.prefetch.token, 0);
	assert_int_equal(rsp.u.prefetch.bytes, 0);
	assert_int_equal(p_pte_where(e, 1, 1, P_VA, NULL), 1);
	/* It never asks the guest (7.7: a sync PREFETCH cannot wait). */
	assert_int_equal(p_events(e, 1, ev, 8), 0);
	/* On device 0: the proxy moves it to device 1 by itself. */
	assert_int_equal(p_guest_to_dev(e, &g, 0, g.pages, 0, 0), VSVM_OK);
	assert_int_equal(p_prefetch(e, 1, P_VA, 2 * P_2M, 1, 0, &rsp), VSVM_OK);
	assert_int_equal(rsp.u.prefetch.bytes, 2 * P_2M);
	memset(g.dev, 1, g.pages);
	assert_int_equal(p_pte_where(e, 1, 1, P_VA + P_2M, NULL), 2 + 1);
	r = p_fill(e, 1, 1, P_VA, 2 * P_2M / 4, 3);
	assert_int_equal(r.faults, 0);
	/* SYSTEM: targets are the ACCESSED_BY devices. */
	assert_int_equal(p_set_attr(e, 1, P_VA, 2 * P_2M, VSVM_ATTR_ACCESSED_BY,
				    1ull << 2),
			 VSVM_OK);
	assert_int_equal(p_prefetch(e, 1, P_VA, 2 * P_2M, VSVM_LOC_SYSTEM, 0,
				    &rsp),
			 VSVM_OK);
	assert_int_equal(rsp.u.prefetch.bytes, 0);	/* still on device 1 */
	p_guest_back(e, &g);
	assert_int_equal(p_prefetch(e, 1, P_VA, 2 * P_2M, VSVM_LOC_SYSTEM, 0,
				    &rsp),
			 VSVM_OK);
	assert_int_equal(rsp.u.prefetch.bytes, 2 * P_2M);
	assert_int_equal(p_guest_u32(e, &g, 2 * P_2M - 4), 3);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 1);
}

static void async_prefetch_asks_the_guest_and_completes(void **state)
{
	struct p_env *e = *state;
	struct vsvm_response rsp;
	struct vsvm_event_val ev[16];
	struct p_guest g;
	uint32_t n, i;

	p_ctx(e, 2);
	/* 3 MiB from 1 MiB: granules [0, 2M) and [2M, 4M), clipped. */
	p_guest_map(e, &g, 2, P_VA + P_2M / 2, 3 * P_2M / 2, 2);
	assert_int_equal(p_prefetch(e, 2, P_VA + P_2M / 2, 3 * P_2M / 2, 0,
				    VSVM_PREFETCH_F_ASYNC, &rsp),
			 VSVM_OK);
	assert_int_not_equal(rsp.u.prefetch.token, 0);
	assert_int_equal(rsp.u.prefetch.bytes, 0);
	n = p_events(e, 2, ev, 16);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].type, VSVM_EVENT_MIGRATE_REQ);
	assert_int_equal(ev[0].va, P_VA + P_2M / 2);
	assert_int_equal(ev[0].len, P_2M / 2);
	assert_int_equal(ev[1].va, P_VA + P_2M);
	assert_int_equal(ev[1].len, P_2M);
	assert_int_equal(ev[1].device, 0);
	/* The first answer does not complete it. */
	p_guest_answer(e, &g, &ev[0], true);
	assert_int_equal(p_events(e, 2, ev + 2, 14), 0);
	p_guest_answer(e, &g, &ev[1], true);
	n = p_events(e, 2, ev, 16);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, VSVM_EVENT_PREFETCH_DONE);
	assert_int_equal(ev[0].id, rsp.u.prefetch.token);
	assert_int_equal(ev[0].device, 0);
	assert_int_equal(ev[0].arg, VSVM_OK);
	for (i = 0; i < g.pages; i++)
		assert_int_equal(g.dev[i], 0);
	/* Declined: CANCELED. */
	assert_int_equal(p_prefetch(e, 2, P_VA + P_2M / 2, 3 * P_2M / 2,
				    VSVM_LOC_SYSTEM, VSVM_PREFETCH_F_ASYNC,
				    &rsp),
			 VSVM_OK);
	p_guest_drive(e, &g, false);
	assert_int_equal(g.done_token, rsp.u.prefetch.token);
	assert_int_equal(g.done_status, VSVM_ERR_CANCELED);
	assert_int_equal(g.reqs_to_sys, 2);
	p_guest_check(e, &g, 2);
	assert_int_equal(p_stats(e, 2).prefetches_async, 2);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 2);
}

static void async_prefetch_beyond_device_memory_is_nospc(void **state)
{
	struct p_env *e = *state;
	struct vsvm_response rsp;
	struct p_guest g;

	p_ctx(e, 3);
	/* 24 MiB into a 16 MiB device. */
	p_guest_map(e, &g, 3, P_VA, 12 * P_2M, 3);
	assert_int_equal(p_prefetch(e, 3, P_VA, 12 * P_2M, 2,
				    VSVM_PREFETCH_F_ASYNC, &rsp),
			 VSVM_OK);
	p_guest_drive(e, &g, true);
	assert_int_equal(g.reqs_to_dev, 12);
	assert_true(g.nospc >= 1);
	assert_int_equal(g.done_events, 1);
	assert_int_equal(g.done_status, VSVM_ERR_NOSPC);
	p_guest_check(e, &g, 3);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 3);
}

static void prefetch_state_checks(void **state)
{
	struct p_env *e = *state;
	struct vsvm_request req = { .op = VSVM_CMD_DESTROY };
	struct vsvm_event_val ev[64];
	struct vsvm_response rsp;
	struct p_guest g;
	uint32_t i;

	assert_int_equal(vp_svm_ctx_create(e->svm, 4, VSVM_CAPSET_ID),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(p_prefetch(e, 4, P_VA, P_PG, 0, 0, NULL),
			 VSVM_ERR_STATE);
	vp_svm_ctx_destroy(e->svm, 4);
	p_ctx(e, 4);
	assert_int_equal(p_prefetch(e, 4, 1ull << 48, P_PG, 0, 0, NULL),
			 VSVM_ERR_RANGE);
	assert_int_equal(p_prefetch(e, 4, P_VA, P_PG, P_NDEV, 0, NULL),
			 VSVM_ERR_NODEV);
	/* Unmapped parts are skipped: 0 bytes, an immediate OK. */
	assert_int_equal(p_prefetch(e, 4, P_VA, P_2M, 0, VSVM_PREFETCH_F_ASYNC,
				    &rsp),
			 VSVM_OK);
	assert_int_equal(p_events(e, 4, ev, 64), 1);
	assert_int_equal(ev[0].arg, VSVM_OK);
	/* The bound on outstanding ASYNC prefetches: LIMIT. */
	p_guest_map(e, &g, 4, P_VA, P_2M, 4);
	for (i = 0; i < vp_policy_defaults.max_async_prefetches; i++)
		assert_int_equal(p_prefetch(e, 4, P_VA, P_2M, i % 2,
					    VSVM_PREFETCH_F_ASYNC, NULL),
				 VSVM_OK);
	assert_int_equal(p_prefetch(e, 4, P_VA, P_2M, 0,
				    VSVM_PREFETCH_F_ASYNC, NULL),
			 VSVM_ERR_LIMIT);
	/* DESTROY drops them: no PREFETCH_DONE ever. */
	assert_int_equal(p_one(e, 4, &req, NULL), VSVM_OK);
	req.op = VSVM_CMD_INIT;
	req.u.init.major = VSVM_PROTO_MAJOR;
	assert_int_equal(p_one(e, 4, &req, NULL), VSVM_OK);
	assert_int_equal(p_events(e, 4, ev, 64), 0);
	assert_int_equal(p_prefetch(e, 4, P_VA, P_2M, 0,
				    VSVM_PREFETCH_F_ASYNC, NULL),
			 VSVM_OK);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 4);
}

static void granularity_shapes_migrate_requests(void **state)
{
	struct p_env *e = *state;
	struct vsvm_event_val ev[16];
	struct vsvm_response rsp;
	struct p_guest g;
	uint32_t n, i;

	p_ctx(e, 5);
	p_guest_map(e, &g, 5, P_VA, P_2M, 5);
	/* 64 KiB granules: 256 KiB from +32 KiB asks 5 aligned pieces. */
	assert_int_equal(p_set_attr(e, 5, P_VA, P_2M, VSVM_ATTR_GRANULARITY,
				    16),
			 VSVM_OK);
	assert_int_equal(p_prefetch(e, 5, P_VA + 0x8000, 0x40000, 1,
				    VSVM_PREFETCH_F_ASYNC, &rsp),
			 VSVM_OK);
	n = p_events(e, 5, ev, 16);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++) {
		assert_int_equal(ev[i].type, VSVM_EVENT_MIGRATE_REQ);
		assert_int_equal(ev[i].va, P_VA + i * 0x10000);
		assert_int_equal(ev[i].len, 0x10000);
		p_guest_answer(e, &g, &ev[i], true);
	}
	assert_int_equal(p_events(e, 5, ev, 16), 1);
	assert_int_equal(ev[0].type, VSVM_EVENT_PREFETCH_DONE);
	assert_int_equal(ev[0].arg, VSVM_OK);
	p_guest_check(e, &g, 5);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 5);
}

/*
 * A sync PREFETCH over the whole VA space costs what is mapped, not what
 * the guest named: the device-to-device pass skips guest RAM whole (it
 * used to step every 2 MiB of len under ctx->lock, 2^27 steps here).
 */
static void huge_prefetch_costs_what_is_mapped(void **state)
{
	struct p_env *e = *state;
	struct vsvm_response rsp;
	struct timespec t0, t1;
	struct p_guest g;

	p_ctx(e, 6);
	p_guest_map(e, &g, 6, P_VA, 2 * P_2M, 6);
	assert_int_equal(p_guest_to_dev(e, &g, 0, g.pages, 0, 0), VSVM_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(p_prefetch(e, 6, 0, 1ull << 48, 1, 0, &rsp),
			 VSVM_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rsp.u.prefetch.bytes, 2 * P_2M);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	p_guest_free(&g);
	vp_svm_ctx_destroy(e->svm, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sync_prefetch_moves_device_data_and_maps),
		cmocka_unit_test(async_prefetch_asks_the_guest_and_completes),
		cmocka_unit_test(async_prefetch_beyond_device_memory_is_nospc),
		cmocka_unit_test(prefetch_state_checks),
		cmocka_unit_test(granularity_shapes_migrate_requests),
		cmocka_unit_test(huge_prefetch_costs_what_is_mapped),
	};

	return cmocka_run_group_tests_name("policy_prefetch", tests, setup,
					   teardown);
}
