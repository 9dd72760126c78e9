// SPDX-License-Identifier: MIT
/*
 * core_launch_concurrent.c - vsvmg_ctx_launch() parks until the kernel
 * ends; several may run at once from different threads while the event
 * thread answers faults; the kernel's outcome (ERR_FAULT with fault_va,
 * ERR_NODEV) is a result, returned as 0 with res->status set, and only a
 * failed submission is a -errno.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA	 0x10000000ull
#define LAUNCHES 6

struct launcher {
	struct core_fx *fx;
	pthread_t t;
	__u64 arg;
	int ret;
	int joined;
	struct vsvmg_launch_result res;
};

static void *launch_thread(void *p)
{
	struct launcher *l = p;
	__u64 args[3] = { l->arg, 64, 5 };

	l->ret = vsvmg_ctx_launch(l->fx->ctx, VSVM_KERNEL_FILL, 1, args, 3,
				  &l->res);
	return NULL;
}

static void launchers_cleanup(struct core_fx *fx)
{
	struct launcher *l = fx->cleanup_arg;
	unsigned int i;

	/* A failed test may leave launches parked: end them first. */
	fh_finish_launches(fx->h, fx->id, VSVM_ERR_CANCELED);
	for (i = 0; i < LAUNCHES; i++)
		if (!l[i].joined)
			pthread_join(l[i].t, NULL);
	free(l);
}

static void test_concurrent_launches_with_faults(void **state)
{
	struct core_fx *fx = *state;
	struct launcher *l = calloc(LAUNCHES, sizeof(*l));
	__u64 deadline;
	unsigned int i;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx->h->launch_park = 1;
	fx_start(fx);
	for (i = 0; i < LAUNCHES; i++) {
		l[i] = (struct launcher){ .fx = fx, .arg = VA + i * PG };
		pthread_create(&l[i].t, NULL, launch_thread, &l[i]);
	}
	fx->cleanup = launchers_cleanup;
	fx->cleanup_arg = l;
	deadline = fh_now_ms() + WAIT_MS;
	while (fh_parked_launches(fx->h, fx->id) < LAUNCHES &&
	       fh_now_ms() < deadline)
		fx_sleep_ms(1);
	assert_int_equal(fh_parked_launches(fx->h, fx->id), LAUNCHES);

	/* Kernels running: their faults are answered meanwhile. */
	assert_int_equal(fx_fault(fx, 1, VA + 3 * PG, VSVM_ACCESS_WRITE),
			 VSVM_OK);
	assert_int_equal(fh_finish_launches(fx->h, fx->id, VSVM_OK), LAUNCHES);
	for (i = 0; i < LAUNCHES; i++) {
		pthread_join(l[i].t, NULL);
		l[i].joined = 1;
		assert_int_equal(l[i].ret, 0);
		assert_int_equal(l[i].res.status, VSVM_OK);
		assert_int_equal(l[i].res.result, (VA + i * PG) * 2);
		assert_int_equal(l[i].res.elapsed_ns, 42);
	}
	fx->cleanup = NULL;
	free(l);
	assert_int_equal(fx_stats(fx).launches, LAUNCHES);
}

static void test_fault_status_is_a_result(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_launch_result res;
	__u64 args[3] = { VA, 64, 5 };

	fx->h->launch_status = VSVM_ERR_FAULT;
	fx->h->launch_fault_va = VA + 5 * PG;
	fx_start(fx);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 3, &res),
		0);
	assert_int_equal(res.status, VSVM_ERR_FAULT);
	assert_int_equal(res.fault_va, VA + 5 * PG);
	assert_int_equal(res.result, 0);
	assert_int_equal(res.faults, 3);

	/* A device the context does not have: the host's answer, too. */
	fx->h->launch_status = VSVM_OK;
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 1, args, 3, &res),
		0);
	assert_int_equal(res.status, VSVM_OK);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 5, args, 3, &res),
		0);
	assert_int_equal(res.status, VSVM_ERR_NODEV);
	assert_int_equal(fx_stats(fx).launches, 3);
}

static void test_bad_arguments(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_launch_result res;
	__u64 args[9] = { VA, 64, 5 };

	fx_start(fx);
	/* FILL takes 3 arguments. */
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 2, &res),
		-EINVAL);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 9, &res),
		-EINVAL);
	assert_int_equal(vsvmg_ctx_launch(fx->ctx, 0, 0, args, 3, &res),
			 -EINVAL);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 64, args, 3, &res),
		-EINVAL);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, NULL, 3, &res),
		-EINVAL);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_LAUNCH), 0);
}

static void lost_ctx(struct fake_host *h, struct fh_item *it, __u8 *reply,
		     __u32 *len, __u32 *resp_type, void *arg)
{
	(void)h;
	(void)reply;
	(void)arg;
	if (it->cmds[0] == VSVM_CMD_LAUNCH) {
		*resp_type = FH_RESP_ERR_INVALID_CONTEXT_ID;
		*len = 0;
	}
}

/* A host that no longer knows the context: -ENODEV, not a result. */
static void test_context_lost(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_launch_result res = { .status = 77 };
	__u64 args[3] = { VA, 64, 5 };

	fx_start(fx);
	fh_set_mangle(fx->h, lost_ctx, NULL);
	assert_int_equal(
		vsvmg_ctx_launch(fx->ctx, VSVM_KERNEL_FILL, 0, args, 3, &res),
		-ENODEV);
	assert_int_equal(res.status, 77);
	assert_int_equal(fx_stats(fx).launches, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_concurrent_launches_with_faults, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_fault_status_is_a_result,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_context_lost, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
