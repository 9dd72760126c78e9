// SPDX-License-Identifier: MIT
/*
 * core_malformed_reply_is_eproto.c - the host is not trusted: a reply
 * stream that breaks the protocol (wrong op, wrong or lying lengths,
 * missing or extra replies, statuses out of order, contradictions of what
 * INIT agreed, more events than asked for) is reported as -EPROTO and
 * logged, never read past its end, and leaves the context destroyable.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x20000000ull

enum mangle_kind {
	WRONG_OP,  /* reply 0's op changed */
	TOO_LONG,  /* reply_len beyond the space given */
	TRUNCATE,  /* reply_len cut to 16 */
	EMPTY,	   /* OK_NODATA with no reply */
	REJECT_OK, /* INVALID_PARAMETER but the reply says OK */
	POKE,	   /* reply[off] = val */
	NO_EVENTS, /* a well-formed EVENT_WAIT reply with 0 events */
};

struct mangle_spec {
	__u16 op; /* mangle streams whose first command is this */
	int kind;
	__u32 off;
	__u8 val;
	int hits;
};

static void mangle(struct fake_host *h, struct fh_item *it, __u8 *reply,
		   __u32 *len, __u32 *resp_type, void *arg)
{
	struct mangle_spec *m = arg;
	struct vsvm_request req;

	(void)h;
	if (vsvm_decode_request(it->cmds, it->len, &req) < 0 || req.op != m->op)
		return;
	m->hits++;
	switch (m->kind) {
	case WRONG_OP:
		reply[0] = reply[0] == VSVM_CMD_INIT ? VSVM_CMD_QUERY :
						       VSVM_CMD_INIT;
		break;
	case TOO_LONG:
		*len = it->cap + 8;
		break;
	case TRUNCATE:
		*len = 16;
		break;
	case EMPTY:
		*len = 0;
		break;
	case REJECT_OK:
		*resp_type = FH_RESP_ERR_INVALID_PARAMETER;
		break;
	case POKE:
		reply[m->off] = m->val;
		break;
	case NO_EVENTS:
		reply[4] = sizeof(struct vsvm_reply_event_wait);
		reply[8] = 0;
		*len = sizeof(struct vsvm_reply_event_wait);
		break;
	}
}

static void query_mangled(struct core_fx *fx, int kind, __u32 off, __u8 val)
{
	struct mangle_spec m = {
		.op = VSVM_CMD_QUERY, .kind = kind, .off = off, .val = val
	};
	struct vsvm_device_val devs[4];
	__u32 n = 0;

	fh_set_mangle(fx->h, mangle, &m);
	assert_int_equal(vsvmg_ctx_query(fx->ctx, devs, 4, &n), -EPROTO);
	fh_set_mangle(fx->h, NULL, NULL);
	assert_int_equal(m.hits, 1);
	/* The context still works. */
	assert_int_equal(vsvmg_ctx_query(fx->ctx, devs, 4, &n), 0);
	assert_int_equal(n, 2);
}

static void test_query_replies(void **state)
{
	struct core_fx *fx = *state;

	fx_start(fx);
	query_mangled(fx, WRONG_OP, 0, 0);
	query_mangled(fx, TOO_LONG, 0, 0);
	query_mangled(fx, TRUNCATE, 0, 0);
	query_mangled(fx, EMPTY, 0, 0);
	query_mangled(fx, REJECT_OK, 0, 0);
	/* num_devices 1 where INIT said 2: lengths no longer add up. */
	query_mangled(fx, POKE, 20, 1);
	/* va_bits 52 where INIT agreed 48. */
	query_mangled(fx, POKE, 16, 52);
	/* A reserved field of a device record. */
	query_mangled(fx, POKE, 32 + 20, 1);
	/* Status out of the enumeration. */
	query_mangled(fx, POKE, 2, 99);
}

static void test_launch_and_attr_replies(void **state)
{
	struct core_fx *fx = *state;
	struct mangle_spec m = {
		.op = VSVM_CMD_LAUNCH, .kind = POKE, .off = 4, .val = 48
	};
	struct vsvm_attr_val a[2] = {
		{ .type = VSVM_ATTR_READ_MOSTLY },
		{ .type = VSVM_ATTR_GRANULARITY },
	};
	struct vsvmg_launch_result res;
	__u64 args[3] = { VA, 16, 7 };

	fx_start(fx);
	/* LAUNCH reply claiming 48 bytes: longer than what was written. */
	fh_set_mangle(fx->h, mangle, &m);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 3, &res),
		-EPROTO);
	/* GET_ATTR answering another type than asked (GRANULARITY: 4). */
	m = (struct mangle_spec){ .op = VSVM_CMD_GET_ATTR,
				  .kind = POKE,
				  .off = 16,
				  .val = VSVM_ATTR_GRANULARITY };
	assert_int_equal(vsvmg_ctx_get_attr(fx->ctx, VA, PG, a, 2), -EPROTO);
	/* SET_ATTR with no reply at all. */
	m = (struct mangle_spec){ .op = VSVM_CMD_SET_ATTR, .kind = EMPTY };
	a[0].value = 1;
	a[1].value = 12;
	assert_int_equal(vsvmg_ctx_set_attr(fx->ctx, VA, PG, a, 2), -EPROTO);
	/* UNMAP acknowledged by a reply to something else. */
	m = (struct mangle_spec){ .op = VSVM_CMD_UNMAP, .kind = WRONG_OP };
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, VA, PG), -EPROTO);
	fh_set_mangle(fx->h, NULL, NULL);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 3, &res),
		0);
	assert_int_equal(res.status, VSVM_OK);
}

/* INIT reply disagreeing with the capset: create fails cleanly. */
static void test_init_reply(void **state)
{
	struct core_fx *fx = *state;
	struct mangle_spec m = {
		.op = VSVM_CMD_INIT, .kind = POKE, .off = 16, .val = 50
	};
	struct vsvmg_ctx *ctx = NULL;

	fx->dev = vsvmg_dev_create(&fh_ops, fx->h, NULL);
	assert_non_null(fx->dev);
	fh_set_mangle(fx->h, mangle, &m);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -EPROTO);
	m.kind = TRUNCATE;
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -EPROTO);
	fh_set_mangle(fx->h, NULL, NULL);
	/* Nothing left behind: the id is free again, the host has no ctx. */
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &fx->ctx),
			 0);
	fx->id = vsvmg_ctx_id(fx->ctx);
	assert_int_equal(fx->id, 1);
}

/*
 * A malformed answer to the fault path's submission ends that batch (it
 * is logged); the thread serves the next batch.
 */
static void test_fault_submission_reply(void **state)
{
	struct core_fx *fx = *state;
	struct mangle_spec m = { .op = VSVM_CMD_MAP, .kind = EMPTY };

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx_start(fx);
	fh_set_mangle(fx->h, mangle, &m);
	fh_inject_fault(fx->h, fx->id, 1, VA, VSVM_ACCESS_READ);
	assert_true(fh_wait_answer(fx->h, fx->id, 1, WAIT_MS) >= 0);
	while (!m.hits)
		fx_sleep_ms(1);
	fh_set_mangle(fx->h, NULL, NULL);
	assert_int_equal(fx_fault(fx, 2, VA + PG, VSVM_ACCESS_READ), VSVM_OK);
}

/*
 * EVENT_WAIT replies that break the rules stop the event thread (logged);
 * the context can still be destroyed.
 */
static void wait_mangled(struct core_fx *fx, int kind, __u32 off, __u8 val)
{
	struct mangle_spec m = {
		.op = VSVM_CMD_EVENT_WAIT, .kind = kind, .off = off, .val = val
	};

	fx_start(fx);
	fh_set_mangle(fx->h, mangle, &m);
	fh_inject_fault(fx->h, fx->id, 1, VA, VSVM_ACCESS_READ);
	while (!m.hits)
		fx_sleep_ms(1);
	fx_sleep_ms(20);
	fh_set_mangle(fx->h, NULL, NULL);
	/* The thread did not answer what it could not trust. */
	assert_int_equal(fh_answer_count(fx->h, fx->id, 1), 0);
}

/* A blocking wait may not complete empty (only a NONBLOCK one may). */
static void test_wait_zero_events(void **state)
{
	wait_mangled(*state, NO_EVENTS, 0, 0);
}

static void test_wait_bad_event(void **state)
{
	/* The event's access field 9: not an access. */
	wait_mangled(*state, POKE, 16 + 28, 9);
}

static void test_wait_wrong_op(void **state)
{
	wait_mangled(*state, WRONG_OP, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query_replies, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_launch_and_attr_replies,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_reply, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_fault_submission_reply,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_wait_zero_events, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_wait_bad_event, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_wait_wrong_op, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
