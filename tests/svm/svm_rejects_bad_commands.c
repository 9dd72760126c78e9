// SPDX-License-Identifier: MIT
/*
 * svm_rejects_bad_commands.c - what a host does with bad input: a
 * malformed stream applies nothing, a failing command cancels the rest,
 * GPAs outside the memory table, stale MAPs, non-increasing UNMAP
 * sequence numbers, commands before INIT and short reply space are all
 * refused with the documented status, and attributes split and merge.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "svm_test.h"

static int setup(void **state)
{
	struct t_env *e = calloc(1, sizeof(*e));

	t_env_up(e);
	t_ctx(e, 1);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct t_env *e = *state;

	vp_svm_ctx_destroy(e->svm, 1);
	t_env_down(e);
	free(e);
	return 0;
}

static void add_map(struct t_sub *t, uint64_t va, uint64_t gpa, uint64_t len)
{
	struct vsvm_run run = { gpa, len };
	struct vsvm_request req = { .op = VSVM_CMD_MAP };

	req.u.map.va = va;
	req.u.map.len = len;
	req.u.map.prot = RW;
	req.u.map.nr_runs = 1;
	req.u.map.runs = &run;
	t_add(t, &req);
}

/* GET_ATTR of one type: value and flags. */
static uint64_t get_attr(struct t_env *e, uint64_t va, uint64_t len,
			 uint32_t type, uint32_t *flags)
{
	struct vsvm_attr_val a = { type, 0, 0 };
	struct vsvm_request req = { .op = VSVM_CMD_GET_ATTR };
	struct vsvm_response rsp;
	struct t_sub *t = t_sub_new(1);

	req.u.attr.va = va;
	req.u.attr.len = len;
	req.u.attr.nr_attrs = 1;
	req.u.attr.attrs = &a;
	t_add(t, &req);
	t_submit(e, t);
	t_wait(t);
	t_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	vsvm_response_attr(&rsp, 0, &a);
	t_sub_free(t);
	*flags = a.flags;
	return a.value;
}

/* Whether a device access to va faults (by running a 1-element fill). */
static bool device_faults(struct t_env *e, uint64_t va)
{
	struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
	uint64_t args[3] = { va, 1, 5 };
	struct vsvm_response rsp;
	struct t_sub *l, *w;
	bool faulted;

	l = t_launch(e, 1, VSVM_KERNEL_FILL, 0, args);
	w = t_sub_new(1);
	req.u.wait.max_events = 4;
	req.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
	t_add(w, &req);
	/* Either the launch ends, or its fault shows up. */
	for (;;) {
		if (t_is_done(l)) {
			faulted = false;
			break;
		}
		w->done = 0;
		w->s.cmds_len = 0;
		t_add(w, &req);
		t_submit(e, w);
		t_wait(w);
		t_reply(w, 0, &rsp);
		if (rsp.u.wait.nr_events) {
			struct vsvm_event_val ev;
			struct vsvm_resolution res;
			struct vsvm_request fr = { .op = VSVM_CMD_FAULT_REPLY };

			vsvm_response_event(&rsp, 0, &ev);
			res = (struct vsvm_resolution){ ev.id, VSVM_ERR_FAULT };
			fr.u.fault_reply.nr = 1;
			fr.u.fault_reply.res = &res;
			assert_int_equal(t_one(e, 1, &fr, NULL), VSVM_OK);
			faulted = true;
			break;
		}
		usleep(1000);
	}
	t_wait(l);
	t_sub_free(l);
	t_sub_free(w);
	return faulted;
}

static void malformed_stream_applies_nothing(void **state)
{
	struct t_env *e = *state;
	struct vsvm_response rsp;
	struct t_sub *t = t_sub_new(1);

	add_map(t, T_VA, 0x100000, 4096);
	add_map(t, T_VA + 0x1000, 0x101000, 4096);
	/* Corrupt the second MAP: header flags must be zero. */
	t->cmds[56 + 2] = 1;	/* MAP with one run: 56 bytes */
	t_submit(e, t);
	t_wait(t);
	assert_int_equal(t->s.resp_type, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	t_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_CANCELED);
	t_reply(t, 1, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_RESERVED);
	assert_int_equal(t->s.reply_len, 16);
	t_sub_free(t);
	/* The valid first MAP was not applied either. */
	assert_true(device_faults(e, T_VA));
}

static void failing_command_cancels_the_rest(void **state)
{
	struct t_env *e = *state;
	struct vsvm_response rsp;
	struct t_sub *t = t_sub_new(1);

	add_map(t, T_VA + 0x10000, 0x110000, 4096);
	add_map(t, T_VA + 0x11000, T_RAM_SIZE, 4096);	/* not guest RAM */
	add_map(t, T_VA + 0x12000, 0x112000, 4096);
	t_submit(e, t);
	t_wait(t);
	assert_int_equal(t->s.resp_type, VIRTIO_GPU_RESP_OK_NODATA);
	t_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	t_reply(t, 1, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_RANGE);
	t_reply(t, 2, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_CANCELED);
	t_sub_free(t);
	assert_false(device_faults(e, T_VA + 0x10000));
	assert_true(device_faults(e, T_VA + 0x12000));
}

static void stale_map_is_refused_only_if_overlapping(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(t_unmap(e, 1, T_VA + 0x20000, 0x2000, 5), VSVM_OK);
	/* Read before UNMAP 5, overlapping it: refused. */
	assert_int_equal(t_map(e, 1, T_VA + 0x21000, 0x121000, 4096, RW, 4),
			 VSVM_ERR_STALE);
	assert_true(device_faults(e, T_VA + 0x21000));
	/* Read before UNMAP 5, elsewhere: fine. */
	assert_int_equal(t_map(e, 1, T_VA + 0x30000, 0x130000, 4096, RW, 4),
			 VSVM_OK);
	/* Read after it: fine. */
	assert_int_equal(t_map(e, 1, T_VA + 0x21000, 0x121000, 4096, RW, 5),
			 VSVM_OK);
}

static void unmap_sequence_must_increase(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(t_unmap(e, 1, T_VA, 4096, 10), VSVM_OK);
	assert_int_equal(t_unmap(e, 1, T_VA, 4096, 10), VSVM_ERR_SEQ);
	assert_int_equal(t_unmap(e, 1, T_VA, 4096, 9), VSVM_ERR_SEQ);
	assert_int_equal(t_unmap(e, 1, T_VA, 4096, 11), VSVM_OK);
}

static void va_beyond_context_bits_is_out_of_range(void **state)
{
	struct t_env *e = *state;

	/* The context has 48 bits; the codec allows up to 57. */
	assert_int_equal(t_map(e, 1, 1ull << 48, 0x100000, 4096, RW, 0),
			 VSVM_ERR_RANGE);
}

static void commands_before_init_are_refused(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(vp_svm_ctx_create(e->svm, 9, 0),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(t_map(e, 9, T_VA, 0x100000, 4096, RW, 0),
			 VSVM_ERR_STATE);
	assert_int_equal(vp_svm_ctx_destroy(e->svm, 9),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vp_svm_ctx_destroy(e->svm, 9),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	/* Another context type than svm is not served. */
	assert_int_equal(vp_svm_ctx_create(e->svm, 10, 4),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
}

static void short_reply_space_applies_nothing(void **state)
{
	struct t_env *e = *state;
	struct t_sub *t = t_sub_new(1);

	add_map(t, T_VA + 0x40000, 0x140000, 4096);
	add_map(t, T_VA + 0x41000, 0x141000, 4096);
	t->s.reply_cap = 12;	/* room for one 8-byte reply, not two */
	t_submit(e, t);
	t_wait(t);
	assert_int_equal(t->s.resp_type, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(t->s.reply_len, 8);
	t_sub_free(t);
	assert_true(device_faults(e, T_VA + 0x40000));
}

/* A stream too long to copy, or over the host's limit (protocol 5.2). */
static void oversized_streams_are_refused_at_command_zero(void **state)
{
	struct t_env *e = *state;
	struct vsvm_response rsp;
	struct t_sub *t = t_sub_new(1);

	add_map(t, T_VA + 0x50000, 0x150000, 4096);
	t->s.stream_len = VSVM_MAX_SUBMIT_BYTES + 8;
	t->s.cmds_len = 8;	/* what the transport copies of it */
	t_submit(e, t);
	t_wait(t);
	assert_int_equal(t->s.resp_type, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	t_reply(t, 0, &rsp);
	assert_int_equal(rsp.op, VSVM_CMD_MAP);
	assert_int_equal(rsp.status, VSVM_ERR_LENGTH);
	t_sub_free(t);

	t = t_sub_new(1);
	add_map(t, T_VA + 0x50000, 0x150000, 4096);
	t->s.stream_len = e->cfg.max_submit_bytes + 8;
	t_submit(e, t);
	t_wait(t);
	t_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_LIMIT);
	t_sub_free(t);
	assert_true(device_faults(e, T_VA + 0x50000));
}

static void attributes_split_merge_and_report_mixed(void **state)
{
	struct t_env *e = *state;
	struct vsvm_attr_val a = { VSVM_ATTR_PREFERRED_LOC, 0, 1 };
	struct vsvm_request req = { .op = VSVM_CMD_SET_ATTR };
	uint32_t flags;
	uint64_t v;

	req.u.attr.va = T_VA + 0x100000;
	req.u.attr.len = 0x4000;
	req.u.attr.nr_attrs = 1;
	req.u.attr.attrs = &a;
	assert_int_equal(t_one(e, 1, &req, NULL), VSVM_OK);
	v = get_attr(e, T_VA + 0x100000, 0x4000, VSVM_ATTR_PREFERRED_LOC,
		     &flags);
	assert_int_equal(v, 1);
	assert_int_equal(flags, 0);
	/* Wider than the set range: mixed, value at va. */
	v = get_attr(e, T_VA + 0xff000, 0x6000, VSVM_ATTR_PREFERRED_LOC,
		     &flags);
	assert_int_equal(v, VSVM_LOC_UNSET);
	assert_int_equal(flags, VSVM_ATTR_F_MIXED);
	/* Other attributes are untouched by it. */
	v = get_attr(e, T_VA + 0x100000, 0x4000, VSVM_ATTR_GRANULARITY,
		     &flags);
	assert_int_equal(v, 21);
	assert_int_equal(flags, 0);
	/* Clearing the middle splits, clearing all merges back. */
	a.value = VSVM_LOC_UNSET;
	req.u.attr.va = T_VA + 0x101000;
	req.u.attr.len = 0x1000;
	assert_int_equal(t_one(e, 1, &req, NULL), VSVM_OK);
	v = get_attr(e, T_VA + 0x100000, 0x4000, VSVM_ATTR_PREFERRED_LOC,
		     &flags);
	assert_int_equal(flags, VSVM_ATTR_F_MIXED);
	req.u.attr.va = T_VA + 0x100000;
	req.u.attr.len = 0x4000;
	assert_int_equal(t_one(e, 1, &req, NULL), VSVM_OK);
	v = get_attr(e, T_VA, 0x200000, VSVM_ATTR_PREFERRED_LOC, &flags);
	assert_int_equal(v, VSVM_LOC_UNSET);
	assert_int_equal(flags, 0);
	/* A device this host does not have. */
	a.value = 5;
	assert_int_equal(t_one(e, 1, &req, NULL), VSVM_ERR_NODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(malformed_stream_applies_nothing),
		cmocka_unit_test(failing_command_cancels_the_rest),
		cmocka_unit_test(stale_map_is_refused_only_if_overlapping),
		cmocka_unit_test(unmap_sequence_must_increase),
		cmocka_unit_test(va_beyond_context_bits_is_out_of_range),
		cmocka_unit_test(commands_before_init_are_refused),
		cmocka_unit_test(short_reply_space_applies_nothing),
		cmocka_unit_test(oversized_streams_are_refused_at_command_zero),
		cmocka_unit_test(attributes_split_merge_and_report_mixed),
	};

	return cmocka_run_group_tests_name("svm_rejects_bad_commands", tests,
					   setup, teardown);
}
