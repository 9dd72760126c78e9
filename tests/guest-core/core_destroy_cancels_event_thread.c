// SPDX-License-Identifier: MIT
/*
 * core_destroy_cancels_event_thread.c - vsvmg_ctx_destroy() sends DESTROY,
 * whose ERR_CANCELED completion of the parked EVENT_WAIT ends the event
 * thread; the thread is joined and the virtio-gpu context destroyed,
 * whether the thread was parked, answering faults, in the middle of a
 * page-table walk, or the host could not take the DESTROY at all.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x30000000ull

struct destroyer {
	struct core_fx *fx;
	pthread_t t;
	int started;
	int done; /* atomic */
};

static void *destroy_thread(void *p)
{
	struct destroyer *d = p;

	vsvmg_ctx_destroy(d->fx->ctx);
	__atomic_store_n(&d->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void destroyer_cleanup(struct core_fx *fx)
{
	struct destroyer *d = fx->cleanup_arg;

	if (d->started)
		pthread_join(d->t, NULL);
	/* The context is gone either way; teardown must not destroy it. */
	fx->ctx = NULL;
	free(d);
}

static struct destroyer *destroy_async(struct core_fx *fx)
{
	struct destroyer *d = calloc(1, sizeof(*d));

	d->fx = fx;
	fx->mm->ctx = NULL; /* the notifier goes first */
	fx->cleanup = destroyer_cleanup;
	fx->cleanup_arg = d;
	pthread_create(&d->t, NULL, destroy_thread, d);
	d->started = 1;
	return d;
}

static int wait_done(struct destroyer *d)
{
	__u64 deadline = fh_now_ms() + WAIT_MS;

	while (!__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) &&
	       fh_now_ms() < deadline)
		fx_sleep_ms(1);
	return __atomic_load_n(&d->done, __ATOMIC_SEQ_CST);
}

/* Commands applied after the (first) DESTROY of the fixture's context. */
static unsigned int ops_after_destroy(struct core_fx *fx, __u16 op)
{
	unsigned int n = 0;
	int after = 0;
	__u32 i;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < fx->h->nr_log; i++) {
		const struct fh_rec *r = &fx->h->log[i];

		if (r->ctx_id != fx->id)
			continue;
		if (r->op == VSVM_CMD_DESTROY)
			after = 1;
		else if (after && r->op == op)
			n++;
	}
	pthread_mutex_unlock(&fx->h->lock);
	return n;
}

static int host_has_ctx(struct core_fx *fx)
{
	int has;

	pthread_mutex_lock(&fx->h->lock);
	has = fh_ctx_get(fx->h, fx->id) != NULL;
	pthread_mutex_unlock(&fx->h->lock);
	return has;
}

static void test_destroy_parked(void **state)
{
	struct core_fx *fx = *state;

	fx_start(fx);
	fx->mm->ctx = NULL;
	vsvmg_ctx_destroy(fx->ctx);
	fx->ctx = NULL;
	assert_int_equal(fx_count_op(fx, VSVM_CMD_DESTROY), 1);
	/* The thread did not wait again after its wait was canceled. */
	assert_int_equal(ops_after_destroy(fx, VSVM_CMD_EVENT_WAIT), 0);
	assert_false(host_has_ctx(fx));
}

/* Destroy while the thread's answer to a fault is held by the host. */
static void test_destroy_while_answering(void **state)
{
	struct core_fx *fx = *state;
	struct destroyer *d;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx_start(fx);
	fh_set_hold_all(fx->h, 1);
	fh_inject_fault(fx->h, fx->id, 1, VA, VSVM_ACCESS_READ);
	assert_true(fh_wait_maps_queued(fx->h, 1, WAIT_MS));
	d = destroy_async(fx);
	fx_sleep_ms(50);
	assert_false(__atomic_load_n(&d->done, __ATOMIC_SEQ_CST));
	fh_set_hold_all(fx->h, 0);
	assert_true(wait_done(d));
	assert_false(host_has_ctx(fx));
	assert_int_equal(ops_after_destroy(fx, VSVM_CMD_EVENT_WAIT), 0);
}

struct walk_gate {
	int entered; /* atomic */
	int go;	     /* atomic */
};

static void gate_after_read(struct fake_mm *mm, __u64 fault_va, void *arg)
{
	struct walk_gate *g = arg;

	(void)mm;
	(void)fault_va;
	__atomic_store_n(&g->entered, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&g->go, __ATOMIC_SEQ_CST))
		usleep(1000);
}

/*
 * Destroy while the thread is inside range_fault: DESTROY is applied, the
 * walk ends, and the fault path sees dying under the lock and queues
 * nothing for the dead context.
 */
static void test_destroy_during_walk(void **state)
{
	struct core_fx *fx = *state;
	struct walk_gate g = { 0 };
	struct destroyer *d;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx->mm->after_read = gate_after_read;
	fx->mm->after_read_arg = &g;
	fx_start(fx);
	fh_inject_fault(fx->h, fx->id, 1, VA, VSVM_ACCESS_READ);
	while (!__atomic_load_n(&g.entered, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	d = destroy_async(fx);
	while (fx_count_op(fx, VSVM_CMD_DESTROY) == 0)
		fx_sleep_ms(1);
	__atomic_store_n(&g.go, 1, __ATOMIC_SEQ_CST);
	assert_true(wait_done(d));
	assert_int_equal(fx->h->queued_maps, 0);
	assert_int_equal(ops_after_destroy(fx, VSVM_CMD_FAULT_REPLY), 0);
	assert_false(host_has_ctx(fx));
}

/*
 * The host cannot take the DESTROY (submit fails): CTX_DESTROY, which
 * completes parked submissions too, goes first, so the join returns.
 */
static void test_destroy_when_submit_fails(void **state)
{
	struct core_fx *fx = *state;
	struct destroyer *d;

	fx_start(fx);
	fh_set_fail_op(fx->h, VSVM_CMD_DESTROY, -EIO);
	d = destroy_async(fx);
	assert_true(wait_done(d));
	assert_int_equal(fx_count_op(fx, VSVM_CMD_DESTROY), 0);
	assert_false(host_has_ctx(fx));
}

/* A context whose event thread already stopped is destroyed all the same. */
static void busy_wait(struct fake_host *h, struct fh_item *it, __u8 *reply,
		      __u32 *len, __u32 *resp_type, void *arg)
{
	(void)h;
	(void)it;
	(void)resp_type;
	(void)arg;
	if (reply[0] == VSVM_CMD_EVENT_WAIT) {
		reply[2] = VSVM_ERR_BUSY;
		reply[4] = 8;
		*len = 8;
	}
}

static void test_destroy_after_thread_stopped(void **state)
{
	struct core_fx *fx = *state;

	fx_start(fx);
	fh_set_mangle(fx->h, busy_wait, NULL);
	/* Complete the parked wait: the mangled reply stops the thread. */
	fh_inject_fault(fx->h, fx->id, 1, VA, VSVM_ACCESS_READ);
	fx_sleep_ms(50);
	fx->mm->ctx = NULL;
	vsvmg_ctx_destroy(fx->ctx);
	fx->ctx = NULL;
	assert_false(host_has_ctx(fx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_destroy_parked, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_while_answering,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_during_walk,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_when_submit_fails,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_destroy_after_thread_stopped, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
