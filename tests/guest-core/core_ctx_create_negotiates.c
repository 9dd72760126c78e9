// SPDX-License-Identifier: MIT
/*
 * core_ctx_create_negotiates.c - vsvmg_ctx_create() picks the lowest free
 * ctx id, creates the virtio-gpu context with context_init = the svm
 * capset id, sends INIT (major 1, our minor, va_bits 0) and adopts what
 * the reply agreed; a failure at any step is returned and unwinds
 * everything (host context destroyed, id free again).
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

static void test_ids_and_init(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx *c[4];
	struct fh_ctx *hc;
	unsigned int i;
	struct fh_rec r;

	fx->dev = vsvmg_dev_create(&fh_ops, fx->h, NULL);
	assert_non_null(fx->dev);
	for (i = 0; i < 3; i++) {
		assert_int_equal(
			vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &c[i]), 0);
		assert_int_equal(vsvmg_ctx_id(c[i]), i + 1);
	}
	pthread_mutex_lock(&fx->h->lock);
	hc = fh_ctx_get(fx->h, 2);
	assert_non_null(hc);
	assert_int_equal(hc->context_init, VSVM_CAPSET_ID);
	assert_true(hc->svm);
	pthread_mutex_unlock(&fx->h->lock);

	fx->id = 2;
	assert_true(fx_nth_op(fx, VSVM_CMD_INIT, 0, &r));
	assert_int_equal(r.status, VSVM_OK);

	/* The lowest free id is reused. */
	vsvmg_ctx_destroy(c[1]);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &c[1]), 0);
	assert_int_equal(vsvmg_ctx_id(c[1]), 2);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &c[3]), 0);
	assert_int_equal(vsvmg_ctx_id(c[3]), 4);
	for (i = 0; i < 4; i++)
		vsvmg_ctx_destroy(c[i]);
}

struct init_status {
	__u16 status;
};

/* Fail INIT with a status (the 8-byte error reply). */
static void fail_init(struct fake_host *h, struct fh_item *it, __u8 *reply,
		      __u32 *len, __u32 *resp_type, void *arg)
{
	struct init_status *s = arg;

	(void)h;
	(void)resp_type;
	if (it->cmds[0] != VSVM_CMD_INIT)
		return;
	reply[2] = (__u8)s->status;
	reply[4] = 8;
	*len = 8;
}

static int host_ctx_count(struct core_fx *fx)
{
	int i, n = 0;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < FH_MAX_CTX; i++)
		n += fx->h->ctx[i].used;
	pthread_mutex_unlock(&fx->h->lock);
	return n;
}

static void test_init_failures_unwind(void **state)
{
	struct core_fx *fx = *state;
	struct init_status st = { VSVM_ERR_LIMIT };
	struct vsvmg_ctx *ctx = NULL;

	fx->dev = vsvmg_dev_create(&fh_ops, fx->h, NULL);
	assert_non_null(fx->dev);
	fh_set_mangle(fx->h, fail_init, &st);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -ENOSPC);
	st.status = VSVM_ERR_VERSION;
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -EPROTO);
	st.status = VSVM_ERR_NOMEM;
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -ENOMEM);
	fh_set_mangle(fx->h, NULL, NULL);
	assert_null(ctx);
	assert_int_equal(host_ctx_count(fx), 0);

	/* CTX_CREATE refused by the transport. */
	fx->h->ctx_create_err = -ENOMEM;
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -ENOMEM);
	fx->h->ctx_create_err = 0;

	/* INIT cannot even be queued. */
	fh_set_fail_op(fx->h, VSVM_CMD_INIT, -EIO);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, &ctx),
			 -EIO);
	fh_set_fail_op(fx->h, 0, 0);
	assert_int_equal(host_ctx_count(fx), 0);

	/* All unwound: the next context gets id 1. */
	fx_start(fx);
	assert_int_equal(fx->id, 1);
}

static void test_bad_arguments(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_mm_ops ops = fm_ops;
	struct vsvmg_ctx *ctx = NULL;

	fx->dev = vsvmg_dev_create(&fh_ops, fx->h, NULL);
	assert_non_null(fx->dev);
	assert_int_equal(vsvmg_ctx_create(fx->dev, NULL, fx->mm, &ctx),
			 -EINVAL);
	assert_int_equal(vsvmg_ctx_create(fx->dev, &fm_ops, fx->mm, NULL),
			 -EINVAL);
	ops.read_retry = NULL;
	assert_int_equal(vsvmg_ctx_create(fx->dev, &ops, fx->mm, &ctx),
			 -EINVAL);
	assert_int_equal(host_ctx_count(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_and_init, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_failures_unwind,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
