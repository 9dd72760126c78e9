// SPDX-License-Identifier: MIT
/*
 * core_map_refused_reanswered.c - every fault is answered even when the
 * host refuses a MAP (which cancels the FAULT_REPLY behind it) or the
 * page table keeps changing under the walk:
 *  - a STALE refusal: the window is read again and answered in the next
 *    round, with a fresh MAP;
 *  - a hard refusal (ERR_LIMIT): answered VSVM_ERR_FAULT, so the launch
 *    learns why instead of faulting forever;
 *  - refusals every round: the last round answers with a bare
 *    FAULT_REPLY (VSVM_OK, no MAP): the device faults again later;
 *  - a read that races every time (or HMM's -EBUSY): given up after a
 *    bounded number of reads and answered VSVM_OK without a MAP, never
 *    with an error.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x58000000ull

struct refuse {
	int status;
	int times; /* refusals left; < 0: forever */
	int refused;
};

static int refuse_map(struct fake_host *h, const struct vsvm_request *req,
		      void *arg)
{
	struct refuse *r = arg;

	(void)h;
	(void)req;
	if (!r->times)
		return -1;
	if (r->times > 0)
		r->times--;
	r->refused++;
	return r->status;
}

/* Answers to id that matched an outstanding fault. */
static unsigned int resolved(struct core_fx *fx, __u32 id)
{
	unsigned int n = 0;
	struct fh_ctx *c;
	__u32 i;

	pthread_mutex_lock(&fx->h->lock);
	c = fh_ctx_get(fx->h, fx->id);
	for (i = 0; c && i < c->nr_answers; i++)
		n += c->answers[i].id == id && c->answers[i].resolved;
	pthread_mutex_unlock(&fx->h->lock);
	return n;
}

static void test_stale_refusal_reanswered(void **state)
{
	struct core_fx *fx = *state;
	struct refuse r = { .status = VSVM_ERR_STALE, .times = 1 };
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fx_start(fx);
	fh_set_map_status(fx->h, refuse_map, &r);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(r.refused, 1);
	assert_int_equal(resolved(fx, 1), 1);
	assert_int_equal(fh_answer_count(fx->h, fx->id, 1), 1);
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 2);
	assert_true(fx_wait_faults(fx, 1).map_stale >= 1);
}

static void test_hard_refusal_fails_fault(void **state)
{
	struct core_fx *fx = *state;
	struct refuse r = { .status = VSVM_ERR_LIMIT, .times = -1 };

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fx_start(fx);
	fh_set_map_status(fx->h, refuse_map, &r);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_ERR_FAULT);
	assert_int_equal(r.refused, 1);
	assert_int_equal(resolved(fx, 1), 1);
	assert_int_equal(fx_wait_faults(fx, 1).faults_failed, 1);
}

/* Two windows in one batch; only one's MAP is refused. */
static void test_refusal_in_a_batch(void **state)
{
	struct core_fx *fx = *state;
	struct refuse r = { .status = VSVM_ERR_STALE, .times = 1 };
	struct vsvm_event_val ev[2];

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fm_set_range(fx->mm, VA + 0x100000, GPA_BASE + 0x100000, 4, 1);
	fx_start(fx);
	fh_set_map_status(fx->h, refuse_map, &r);
	ev[0] = fh_fault(1, VA, VSVM_ACCESS_READ);
	ev[1] = fh_fault(2, VA + 0x100000, VSVM_ACCESS_WRITE);
	fh_inject(fx->h, fx->id, ev, 2);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 1, WAIT_MS), VSVM_OK);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 2, WAIT_MS), VSVM_OK);
	assert_int_equal(resolved(fx, 1), 1);
	assert_int_equal(resolved(fx, 2), 1);
	assert_null(fx_incoherent(fx));
}

static void test_refused_every_round(void **state)
{
	struct core_fx *fx = *state;
	struct refuse r = { .status = VSVM_ERR_STALE, .times = -1 };
	struct fh_rec fr, map;
	unsigned int i;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fx_start(fx);
	fh_set_map_status(fx->h, refuse_map, &r);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(resolved(fx, 1), 1);
	/*
	 * Three rounds with a MAP, each refused (its FAULT_REPLY canceled,
	 * so never applied), then the bare answer in a submission of its own.
	 */
	assert_int_equal(r.refused, 3);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 3);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_FAULT_REPLY), 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_FAULT_REPLY, 0, &fr));
	assert_int_equal(fr.status, VSVM_OK);
	for (i = 0; i < 3; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_MAP, i, &map));
		assert_int_equal(map.status, VSVM_ERR_STALE);
		assert_true(map.sub_no < fr.sub_no);
	}
	assert_int_equal(fx_wait_faults(fx, 1).map_stale, 3);
}

/* Every read is overtaken by an invalidation elsewhere. */
static void always_racing(struct fake_mm *mm, __u64 fault_va, void *arg)
{
	(void)fault_va;
	(void)arg;
	__atomic_add_fetch(&mm->seq, 1, __ATOMIC_SEQ_CST);
}

static void test_racing_reads_given_up(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fx->mm->after_read = always_racing;
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 0);
	st = fx_wait_faults(fx, 1);
	assert_int_equal(st.map_stale, 16);
	assert_int_equal(fx->mm->range_faults, 16);
	assert_int_equal(st.faults_failed, 0);
}

/* HMM's -EBUSY is a race too: read again, never an error. */
static void test_busy_walk_retried(void **state)
{
	struct core_fx *fx = *state;
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 4, 1);
	fx->mm->busy = 2;
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(fx->mm->range_faults, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stale_refusal_reanswered,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hard_refusal_fails_fault,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusal_in_a_batch,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused_every_round,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_racing_reads_given_up,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_busy_walk_retried,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
