// SPDX-License-Identifier: MIT
/*
 * svm_fault_path.c - the SVM core against simulated devices: mapped data
 * is reached without the guest, unmapped data is forwarded as fault
 * events, answered with MAP + FAULT_REPLY and replayed; an unresolvable
 * fault fails the launch with its address; identical VAs in two contexts
 * reach different guest pages.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "svm_test.h"

static int setup(void **state)
{
	struct t_env *e = calloc(1, sizeof(*e));

	t_env_up(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	t_env_down(*state);
	free(*state);
	return 0;
}

static void mapped_data_needs_no_guest_round_trip(void **state)
{
	struct t_env *e = *state;
	uint64_t args[3] = { T_VA, 3 * 4096 / 4, 0xabcd1234 };
	struct vsvm_response rsp;
	struct t_sub *l;
	uint32_t *p = (uint32_t *)(e->ram + 0x100000);
	unsigned int i;

	t_ctx(e, 1);
	assert_int_equal(t_map(e, 1, T_VA, 0x100000, 3 * 4096, RW, 0),
			 VSVM_OK);
	l = t_launch(e, 1, VSVM_KERNEL_FILL, 0, args);
	t_wait(l);
	t_reply(l, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	assert_int_equal(rsp.u.launch.result, 3 * 1024);
	for (i = 0; i < 3 * 1024; i++)
		assert_int_equal(p[i], 0xabcd1234);
	t_sub_free(l);
	assert_int_equal(vp_svm_ctx_destroy(e->svm, 1),
			 VIRTIO_GPU_RESP_OK_NODATA);
}

/* Take one batch of events; the launch keeps waiting meanwhile. */
static void wait_events(struct t_env *e, uint32_t ctx,
			struct vsvm_response *rsp, struct t_sub **keep)
{
	struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
	struct t_sub *t = t_sub_new(ctx);

	req.u.wait.max_events = 256;
	t_add(t, &req);
	t_submit(e, t);
	t_wait(t);
	t_reply(t, 0, rsp);
	*keep = t;
}

static void unmapped_access_is_forwarded_and_replayed(void **state)
{
	struct t_env *e = *state;
	uint64_t args[3] = { T_VA + 0x5000, 1024, 77 };
	struct vsvm_response rsp, ev_rsp;
	struct vsvm_event_val ev;
	struct vsvm_resolution res;
	struct vsvm_request req;
	struct t_sub *l, *w, *t;
	uint32_t *p = (uint32_t *)(e->ram + 0x205000);
	unsigned int i;

	t_ctx(e, 2);
	l = t_launch(e, 2, VSVM_KERNEL_FILL, 1, args);
	wait_events(e, 2, &ev_rsp, &w);
	assert_int_equal(ev_rsp.status, VSVM_OK);
	assert_int_equal(ev_rsp.u.wait.nr_events, 1);
	vsvm_response_event(&ev_rsp, 0, &ev);
	assert_int_equal(ev.type, VSVM_EVENT_FAULT);
	assert_int_equal(ev.va, T_VA + 0x5000);
	assert_int_equal(ev.device, 1);
	assert_int_equal(ev.arg, VSVM_ACCESS_WRITE);
	assert_false(t_is_done(l));

	/* The guest answers: MAP, then FAULT_REPLY, in one submission. */
	t = t_sub_new(2);
	{
		struct vsvm_run run = { 0x205000, 4096 };

		memset(&req, 0, sizeof(req));
		req.op = VSVM_CMD_MAP;
		req.u.map.va = T_VA + 0x5000;
		req.u.map.len = 4096;
		req.u.map.prot = RW;
		req.u.map.nr_runs = 1;
		req.u.map.runs = &run;
		t_add(t, &req);
	}
	res = (struct vsvm_resolution){ ev.id, VSVM_OK };
	memset(&req, 0, sizeof(req));
	req.op = VSVM_CMD_FAULT_REPLY;
	req.u.fault_reply.nr = 1;
	req.u.fault_reply.res = &res;
	t_add(t, &req);
	t_submit(e, t);
	t_wait(t);
	t_reply(t, 1, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	assert_int_equal(rsp.u.fault_reply.resolved, 1);

	t_wait(l);
	t_reply(l, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	assert_true(rsp.u.launch.faults >= 1);
	for (i = 0; i < 1024; i++)
		assert_int_equal(p[i], 77);
	t_sub_free(t);
	t_sub_free(w);
	t_sub_free(l);
	vp_svm_ctx_destroy(e->svm, 2);
}

static void unresolvable_fault_fails_launch_with_address(void **state)
{
	struct t_env *e = *state;
	uint64_t args[3] = { T_VA + 0x9000, 16, 1 };
	struct vsvm_response rsp, ev_rsp;
	struct vsvm_event_val ev;
	struct vsvm_resolution res;
	struct vsvm_request req = { .op = VSVM_CMD_FAULT_REPLY };
	struct t_sub *l, *w;

	t_ctx(e, 3);
	l = t_launch(e, 3, VSVM_KERNEL_FILL, 0, args);
	wait_events(e, 3, &ev_rsp, &w);
	vsvm_response_event(&ev_rsp, 0, &ev);
	res = (struct vsvm_resolution){ ev.id, VSVM_ERR_FAULT };
	req.u.fault_reply.nr = 1;
	req.u.fault_reply.res = &res;
	assert_int_equal(t_one(e, 3, &req, NULL), VSVM_OK);
	t_wait(l);
	t_reply(l, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_FAULT);
	assert_int_equal(rsp.u.launch.fault_va, T_VA + 0x9000);
	t_sub_free(w);
	t_sub_free(l);
	vp_svm_ctx_destroy(e->svm, 3);
}

static void identical_va_in_two_contexts_never_interact(void **state)
{
	struct t_env *e = *state;
	uint64_t a1[3] = { T_VA, 1024, 0x11111111 };
	uint64_t a2[3] = { T_VA, 1024, 0x22222222 };
	uint32_t *p1 = (uint32_t *)(e->ram + 0x300000);
	uint32_t *p2 = (uint32_t *)(e->ram + 0x400000);
	struct t_sub *l1, *l2;
	struct vsvm_response rsp;
	unsigned int i;

	t_ctx(e, 4);
	t_ctx(e, 5);
	assert_int_equal(t_map(e, 4, T_VA, 0x300000, 4096, RW, 0), VSVM_OK);
	assert_int_equal(t_map(e, 5, T_VA, 0x400000, 4096, RW, 0), VSVM_OK);
	l1 = t_launch(e, 4, VSVM_KERNEL_FILL, 0, a1);
	l2 = t_launch(e, 5, VSVM_KERNEL_FILL, 0, a2);
	t_wait(l1);
	t_wait(l2);
	t_reply(l1, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	t_reply(l2, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	for (i = 0; i < 1024; i++) {
		assert_int_equal(p1[i], 0x11111111);
		assert_int_equal(p2[i], 0x22222222);
	}
	t_sub_free(l1);
	t_sub_free(l2);
	vp_svm_ctx_destroy(e->svm, 4);
	vp_svm_ctx_destroy(e->svm, 5);
}

static void destroy_cancels_parked_wait_and_faulting_launch(void **state)
{
	struct t_env *e = *state;
	uint64_t args[3] = { T_VA, 16, 1 };
	struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
	struct vsvm_response rsp;
	struct t_sub *l, *w, *ev;

	t_ctx(e, 6);
	l = t_launch(e, 6, VSVM_KERNEL_FILL, 0, args);
	wait_events(e, 6, &rsp, &ev);	/* the fault is delivered */
	w = t_sub_new(6);
	req.u.wait.max_events = 4;
	t_add(w, &req);
	t_submit(e, w);			/* parks: nothing pending */
	assert_false(t_is_done(w));
	memset(&req, 0, sizeof(req));
	req.op = VSVM_CMD_DESTROY;
	assert_int_equal(t_one(e, 6, &req, NULL), VSVM_OK);
	t_wait(w);
	t_reply(w, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_CANCELED);
	t_wait(l);
	t_reply(l, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_CANCELED);
	/* Back to uninitialised: INIT works again. */
	memset(&req, 0, sizeof(req));
	req.op = VSVM_CMD_INIT;
	req.u.init.major = VSVM_PROTO_MAJOR;
	assert_int_equal(t_one(e, 6, &req, NULL), VSVM_OK);
	t_sub_free(ev);
	t_sub_free(w);
	t_sub_free(l);
	vp_svm_ctx_destroy(e->svm, 6);
}

static void run_crossing_adjacent_regions_is_one_mapping(void **state)
{
	struct t_env *e = *state;
	const uint64_t gpa = T_RAM_SIZE / 2 - 2 * 4096;	/* 2 pages each side */
	uint64_t args[3] = { T_VA, 4 * 1024, 0x600d };
	uint32_t *p = (uint32_t *)(e->ram + gpa);
	struct vsvm_response rsp;
	struct t_sub *l;
	unsigned int i;

	t_ctx(e, 7);
	assert_int_equal(t_map(e, 7, T_VA, gpa, 4 * 4096, RW, 0), VSVM_OK);
	l = t_launch(e, 7, VSVM_KERNEL_FILL, 1, args);
	t_wait(l);
	t_reply(l, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	for (i = 0; i < 4 * 1024; i++)
		assert_int_equal(p[i], 0x600d);
	t_sub_free(l);
	/* Past the end of guest RAM is still refused. */
	assert_int_equal(t_map(e, 7, T_VA, T_RAM_SIZE - 4096, 2 * 4096, RW, 0),
			 VSVM_ERR_RANGE);
	vp_svm_ctx_destroy(e->svm, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mapped_data_needs_no_guest_round_trip),
		cmocka_unit_test(unmapped_access_is_forwarded_and_replayed),
		cmocka_unit_test(unresolvable_fault_fails_launch_with_address),
		cmocka_unit_test(identical_va_in_two_contexts_never_interact),
		cmocka_unit_test(destroy_cancels_parked_wait_and_faulting_launch),
		cmocka_unit_test(run_crossing_adjacent_regions_is_one_mapping),
	};

	return cmocka_run_group_tests_name("svm_fault_path", tests, setup,
					   teardown);
}
