// SPDX-License-Identifier: MIT
/*
 * dev_kernel_fault_dispatch.c - the vsvm_host.ko backend's fault
 * dispatcher (dev_kernel_fault.c) alone: a record whose resolution blocks
 * (a slow guest) holds up no other record; every record pushed is answered
 * exactly once, with the status its resolution gave, also when the
 * dispatcher stops with records still queued; answers that pile up while
 * a FAULT_REPLY is under way leave together in the next one.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_kernel_priv.h"

#define MAX_IDS 1024

struct harness {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t blocked_id; /* resolve() of this id waits for release */
	bool release;
	long resolve_us;	   /* every resolve() sleeps this long */
	long reply_us;		   /* every reply() sleeps this long */
	uint32_t answers[MAX_IDS]; /* times each id was answered */
	int status[MAX_IDS];
	uint32_t nr_answers;
	uint32_t replies;
};

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int h_resolve(void *opaque, const struct vsvmh_fault *rec)
{
	struct harness *h = opaque;

	if (h->resolve_us)
		sleep_us(h->resolve_us);
	pthread_mutex_lock(&h->lock);
	while (rec->id == h->blocked_id && !h->release)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	/* Odd ids fail, as a guest that cannot map them. */
	return rec->id % 2 ? -EFAULT : 0;
}

static int h_reply(void *opaque, const struct vsvmh_fault_resolution *res,
		   uint32_t nr)
{
	struct harness *h = opaque;
	uint32_t i;

	if (h->reply_us)
		sleep_us(h->reply_us);
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < nr; i++) {
		assert_true(res[i].id < MAX_IDS);
		h->answers[res[i].id]++;
		h->status[res[i].id] = res[i].status;
		h->nr_answers++;
	}
	h->replies++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static const struct dk_faultq_ops h_ops = {
	.resolve = h_resolve,
	.reply = h_reply,
};

static struct harness *h_new(void)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	return h;
}

static void push_ids(struct dk_faultq *q, uint32_t first, uint32_t nr)
{
	struct vsvmh_fault recs[64];
	uint32_t i, n;

	while (nr) {
		n = nr > 64 ? 64 : nr;
		for (i = 0; i < n; i++)
			recs[i] = (struct vsvmh_fault){
				.vm_id = 1,
				.id = first + i,
				.gpu_va = (first + i) * 4096ull,
				.access = VSVMH_FAULT_READ,
			};
		assert_int_equal(dk_faultq_push(q, recs, n), 0);
		first += n;
		nr -= n;
	}
}

/* Wait until n answers arrived; false after 5 s. */
static bool wait_answers(struct harness *h, uint32_t n)
{
	struct timespec dl;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&h->lock);
	while (h->nr_answers < n && ok)
		ok = pthread_cond_timedwait(&h->cond, &h->lock, &dl) !=
		     ETIMEDOUT;
	ok = h->nr_answers >= n;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static void a_blocked_record_holds_up_no_other(void **state)
{
	struct harness *h = h_new();
	struct dk_faultq q;
	uint32_t i;

	(void)state;
	h->blocked_id = 1;
	assert_int_equal(dk_faultq_start(&q, &h_ops, h, 3), 0);
	push_ids(&q, 1, 1);
	push_ids(&q, 2, 40);
	/* Everything but record 1 is answered while 1 still waits. */
	assert_true(wait_answers(h, 40));
	pthread_mutex_lock(&h->lock);
	assert_int_equal(h->answers[1], 0);
	for (i = 2; i < 42; i++) {
		assert_int_equal(h->answers[i], 1);
		assert_int_equal(h->status[i], i % 2 ? -EFAULT : 0);
	}
	h->release = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	assert_true(wait_answers(h, 41));
	assert_int_equal(h->answers[1], 1);
	assert_int_equal(h->status[1], -EFAULT);
	pthread_mutex_lock(&q.lock);
	assert_true(q.max_busy >= 2);
	pthread_mutex_unlock(&q.lock);
	dk_faultq_stop(&q);
	free(h);
}

static void stop_answers_every_queued_record_once(void **state)
{
	struct harness *h = h_new();
	struct dk_faultq q;
	uint32_t i;

	(void)state;
	h->resolve_us = 200;
	assert_int_equal(dk_faultq_start(&q, &h_ops, h, 2), 0);
	/* More than the ring's first size: it grows, order kept. */
	push_ids(&q, 1, 500);
	dk_faultq_stop(&q);
	assert_int_equal(h->nr_answers, 500);
	for (i = 1; i <= 500; i++)
		assert_int_equal(h->answers[i], 1);
	free(h);
}

static void answers_batch_behind_a_slow_reply(void **state)
{
	struct harness *h = h_new();
	struct dk_faultq q;
	uint64_t max_reply;

	(void)state;
	h->reply_us = 20000;
	assert_int_equal(dk_faultq_start(&q, &h_ops, h, 8), 0);
	push_ids(&q, 1, 300);
	assert_true(wait_answers(h, 300));
	pthread_mutex_lock(&q.lock);
	max_reply = q.max_reply;
	pthread_mutex_unlock(&q.lock);
	/* 300 answers in far fewer replies: they waited for the flusher. */
	assert_true(max_reply > 8);
	assert_true(h->replies < 100);
	assert_true(max_reply <= DK_REPLY_BATCH);
	dk_faultq_stop(&q);
	free(h);
}

static void start_refuses_nonsense(void **state)
{
	struct harness *h = h_new();
	struct dk_faultq q;

	(void)state;
	assert_int_equal(dk_faultq_start(&q, &h_ops, h, 0), -EINVAL);
	assert_int_equal(dk_faultq_start(&q, NULL, h, 2), -EINVAL);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_blocked_record_holds_up_no_other),
		cmocka_unit_test(stop_answers_every_queued_record_once),
		cmocka_unit_test(answers_batch_behind_a_slow_reply),
		cmocka_unit_test(start_refuses_nonsense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
