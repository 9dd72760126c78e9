// SPDX-License-Identifier: MIT
/*
 * core_attr_query_roundtrip.c - SET_ATTR/GET_ATTR and QUERY are thin
 * synchronous wrappers: values round-trip through the host, QUERY copies
 * at most cap devices and reports how many there are, arguments the codec
 * refuses are -EINVAL before anything is sent, and a status the host
 * fails a command with maps to its -errno.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x68000000ull

static void test_set_then_get(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_attr_val set[3] = {
		{ .type = VSVM_ATTR_PREFERRED_LOC, .value = 1 },
		{ .type = VSVM_ATTR_READ_MOSTLY, .value = 1 },
		{ .type = VSVM_ATTR_ACCESSED_BY, .value = 3 },
	};
	struct vsvm_attr_val get[2] = {
		{ .type = VSVM_ATTR_ACCESSED_BY, .value = 99 },
		{ .type = VSVM_ATTR_PREFERRED_LOC },
	};

	fx_start(fx);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, 16 * PG, set, 3), 0);
	/* GET sends types only: the 99 must not reach the host. */
	assert_int_equal(vsvmg_ctx_get_attr(fx->ctx, VA, 16 * PG, get, 2), 0);
	assert_int_equal(get[0].type, VSVM_ATTR_ACCESSED_BY);
	assert_int_equal(get[0].value, 3);
	assert_int_equal(get[1].value, 1);
	assert_int_equal(get[1].flags, 0);
}

static void test_query(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_device_val devs[4] = { 0 };
	__u32 n = 0;

	fx->h->caps.num_devices = 3;
	fx_start(fx);
	assert_int_equal(vsvmg_ctx_query(fx->ctx, devs, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(devs[2].exec_units, 6);
	assert_int_equal(devs[1].mem_used, 4096);
	memset(devs, 0, sizeof(devs));
	assert_int_equal(vsvmg_ctx_query(fx->ctx, devs, 1, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(devs[0].exec_units, 4);
	assert_int_equal(devs[1].exec_units, 0);
	assert_int_equal(vsvmg_ctx_query(fx->ctx, NULL, 0, &n), 0);
	assert_int_equal(vsvmg_ctx_query(fx->ctx, NULL, 1, &n), -EINVAL);
}

static void test_bad_arguments(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_attr_val a[9] = {
		{ .type = VSVM_ATTR_READ_MOSTLY, .value = 1 },
		{ .type = VSVM_ATTR_READ_MOSTLY, .value = 0 },
	};

	fx_start(fx);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, a, 0), -EINVAL);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, a, 9), -EINVAL);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, NULL, 1), -EINVAL);
	/* Twice the same type; an unaligned range; a value out of range. */
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, a, 2), -EINVAL);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA + 1, PG, a, 1),
			 -EINVAL);
	a[0].value = 2;
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, a, 1), -EINVAL);
	a[0].type = 0;
	assert_int_equal(vsvmg_ctx_get_attr(fx->ctx, VA, PG, a, 1), -EINVAL);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_SET_ATTR), 0);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_GET_ATTR), 0);
}

struct fail {
	__u8 op;
	__u8 status;
};

static void fail_cmd(struct fake_host *h, struct fh_item *it, __u8 *reply,
		     __u32 *len, __u32 *resp_type, void *arg)
{
	struct fail *f = arg;

	(void)h;
	(void)resp_type;
	if (it->cmds[0] != f->op)
		return;
	reply[2] = f->status;
	reply[4] = 8;
	*len = 8;
}

static void test_host_status_to_errno(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_attr_val a = { .type = VSVM_ATTR_READ_MOSTLY, .value = 1 };
	struct fail f = { VSVM_CMD_SET_ATTR, VSVM_ERR_RANGE };
	struct vsvm_device_val d;
	__u32 n;

	fx_start(fx);
	fh_set_mangle(fx->h, fail_cmd, &f);
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, &a, 1), -EINVAL);
	f.status = VSVM_ERR_NOMEM;
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, &a, 1), -ENOMEM);
	f = (struct fail){ VSVM_CMD_GET_ATTR, VSVM_ERR_LIMIT };
	assert_int_equal(vsvmg_ctx_get_attr(fx->ctx, VA, PG, &a, 1), -ENOSPC);
	f = (struct fail){ VSVM_CMD_QUERY, VSVM_ERR_DEVICE_LOST };
	assert_int_equal(vsvmg_ctx_query(fx->ctx, &d, 1, &n), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_then_get, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_query, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_host_status_to_errno,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
