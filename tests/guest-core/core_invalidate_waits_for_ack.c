// SPDX-License-Identifier: MIT
/*
 * core_invalidate_waits_for_ack.c - vsvmg_ctx_invalidate() sends one UNMAP
 * per call, page aligned outward and clipped to va_bits, with a sequence
 * number that increases in queue order even when many threads invalidate
 * at once, and returns only after the host acknowledged it.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x60000000ull

struct inval_arg {
	struct core_fx *fx;
	__u64 va;
	__u64 len;
	int ret;
	int returned; /* atomic */
	pthread_t t;
};

static void inval_cleanup(struct core_fx *fx)
{
	struct inval_arg *a = fx->cleanup_arg;

	pthread_join(a->t, NULL);
	free(a);
}

static void *inval_thread(void *p)
{
	struct inval_arg *a = p;

	a->ret = vsvmg_ctx_invalidate(a->fx->ctx, a->va, a->len);
	__atomic_store_n(&a->returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_blocks_until_acknowledged(void **state)
{
	struct core_fx *fx = *state;
	struct inval_arg *a = calloc(1, sizeof(*a));
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 1, 1);
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));

	fh_set_hold_unmap(fx->h, 1);
	*a = (struct inval_arg){ .fx = fx, .va = VA, .len = PG };
	pthread_create(&a->t, NULL, inval_thread, a);
	fx->cleanup = inval_cleanup;
	fx->cleanup_arg = a;
	assert_true(fh_wait_unmaps_queued(fx->h, 1, WAIT_MS));
	assert_true(fh_wait_holding(fx->h, WAIT_MS));
	fx_sleep_ms(100);
	/* Queued, not acknowledged: the invalidation must still wait. */
	assert_false(__atomic_load_n(&a->returned, __ATOMIC_SEQ_CST));
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));

	fh_set_hold_unmap(fx->h, 0);
	while (!__atomic_load_n(&a->returned, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	assert_int_equal(a->ret, 0);
	/* Returned, so the device no longer maps the page. */
	assert_false(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(fx_stats(fx).invalidations, 1);
}

/*
 * Failing to queue the UNMAP for lack of memory must not let the caller
 * free the page: the call keeps trying until the host acknowledged
 * (docs/coherency.md 4.1; before the fix it returned -ENOMEM at once).
 */
static void test_transient_queue_failure_still_waits(void **state)
{
	struct core_fx *fx = *state;
	struct inval_arg *a = calloc(1, sizeof(*a));
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 1, 1);
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));

	fh_set_fail_op(fx->h, VSVM_CMD_UNMAP, -12);	/* -ENOMEM */
	*a = (struct inval_arg){ .fx = fx, .va = VA, .len = PG };
	pthread_create(&a->t, NULL, inval_thread, a);
	fx->cleanup = inval_cleanup;
	fx->cleanup_arg = a;
	fx_sleep_ms(100);
	assert_false(__atomic_load_n(&a->returned, __ATOMIC_SEQ_CST));
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));

	fh_set_fail_op(fx->h, 0, 0);
	while (!__atomic_load_n(&a->returned, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	assert_int_equal(a->ret, 0);
	assert_false(fh_pte(fx->h, fx->id, VA, &pte));
}

static void expect_unmap(struct core_fx *fx, unsigned int n, __u64 va,
			 __u64 len, __u64 seq)
{
	struct fh_rec r;

	assert_true(fx_nth_op(fx, VSVM_CMD_UNMAP, n, &r));
	assert_int_equal(r.status, VSVM_OK);
	assert_int_equal(r.va, va);
	assert_int_equal(r.len, len);
	assert_int_equal(r.seq, seq);
}

static void test_range_aligned_and_clipped(void **state)
{
	struct core_fx *fx = *state;
	__u64 top = 1ull << 48;

	fx_start(fx);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, 0x1234, 0x10), 0);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, 0x1fff, 2), 0);
	/* Nothing to send: empty, beyond va_bits, wrapping past it. */
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, VA, 0), 0);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, top, PG), 0);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, ~0ull - 10, 100), 0);
	/* Straddling the top: clipped. */
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, top - PG, 3 * PG), 0);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, top - PG, ~0ull), 0);

	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 4);
	expect_unmap(fx, 0, 0x1000, PG, 1);
	expect_unmap(fx, 1, 0x1000, 2 * PG, 2);
	expect_unmap(fx, 2, top - PG, PG, 3);
	expect_unmap(fx, 3, top - PG, PG, 4);
	assert_int_equal(fx_stats(fx).invalidations, 4);
}

#define THREADS	   8
#define PER_THREAD 50

struct storm_arg {
	struct core_fx *fx;
	unsigned int n;
	int errors;
};

static void *storm_thread(void *p)
{
	struct storm_arg *a = p;
	unsigned int i;

	for (i = 0; i < PER_THREAD; i++)
		if (vsvmg_ctx_invalidate(a->fx->ctx,
					 VA + (a->n * PER_THREAD + i) * PG,
					 (i % 3 + 1) * PG))
			a->errors++;
	return NULL;
}

/* Many threads at once, with faults being answered meanwhile. */
static void test_concurrent_seqs_in_queue_order(void **state)
{
	struct core_fx *fx = *state;
	struct storm_arg a[THREADS];
	pthread_t t[THREADS];
	__u64 last = 0;
	unsigned int i;
	struct fh_rec r;

	fm_set_range(fx->mm, VA, GPA_BASE, 64, 1);
	fx_start(fx);
	for (i = 0; i < THREADS; i++) {
		a[i] = (struct storm_arg){ .fx = fx, .n = i };
		pthread_create(&t[i], NULL, storm_thread, &a[i]);
	}
	for (i = 0; i < 20; i++)
		fh_inject_fault(fx->h, fx->id, 100 + i, VA + (i % 64) * PG,
				VSVM_ACCESS_READ);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].errors, 0);
	}
	for (i = 0; i < 20; i++)
		assert_int_equal(
			fh_wait_answer(fx->h, fx->id, 100 + i, WAIT_MS),
			VSVM_OK);

	/* Applied in queue order, and the host saw seqs strictly rise. */
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), THREADS * PER_THREAD);
	for (i = 0; i < THREADS * PER_THREAD; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_UNMAP, i, &r));
		assert_int_equal(r.status, VSVM_OK);
		assert_true(r.seq > last);
		last = r.seq;
	}
	assert_int_equal(last, THREADS * PER_THREAD);
	assert_int_equal(fx_stats(fx).invalidations, THREADS * PER_THREAD);
	assert_null(fx_incoherent(fx));
}

/* The host answers the UNMAP with an error: -EIO, not a silent success. */
static void fail_unmap(struct fake_host *h, struct fh_item *it, __u8 *reply,
		       __u32 *len, __u32 *resp_type, void *arg)
{
	(void)h;
	(void)resp_type;
	(void)arg;
	(void)it;
	if (*len == 8 && reply[0] == VSVM_CMD_UNMAP)
		reply[2] = VSVM_ERR_DEVICE_LOST;
}

static void test_host_error_is_eio(void **state)
{
	struct core_fx *fx = *state;

	fx_start(fx);
	fh_set_mangle(fx->h, fail_unmap, NULL);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, VA, PG), -EIO);
	fh_set_mangle(fx->h, NULL, NULL);
	assert_int_equal(fx_stats(fx).invalidations, 0);
	/* The number was consumed; the next one is still larger. */
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, VA, PG), 0);
	expect_unmap(fx, 1, VA, PG, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blocks_until_acknowledged,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_range_aligned_and_clipped,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_concurrent_seqs_in_queue_order, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_host_error_is_eio,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_transient_queue_failure_still_waits, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
