// SPDX-License-Identifier: MIT
/*
 * dev_kernel_fault.c - fault dispatch of the vsvm_host.ko backend: fault
 *                      records in, one worker each, answers out in batches.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Fault dispatch
 *
 * The module queues every miss it cannot resolve to the file's fault fd;
 * the reader (dev_kernel.c) reads them in batches and pushes them here.
 * Answering one may take as long as a guest takes (the SVM core's fault
 * function forwards the fault and sleeps until the guest's FAULT_REPLY, up
 * to 30 s), so records are not answered in turn by one thread: a pool of
 * workers takes them, each record to one worker, and a slow guest holds
 * only the worker on its own record.
 *
 *   reader: read(fault fd) --push--> [ ring ] --> worker: resolve(rec)
 *                                                 worker: resolve(rec)
 *                                                 worker: resolve(rec)
 *                                                      |  answers
 *                                     reply() <-- [ batch ] (one flusher)
 *
 * Why the pool never makes a record wait behind another: a record stays
 * pending in the module while an EU is blocked on it (the EU never gives
 * up a record, dev_kernel.c DOC: Faults), the module gives concurrent
 * misses of one page one record, and each EU blocks on at most one
 * access.  So records pending at once <= EUs, and with nr_workers > EUs a
 * worker is free whenever a record arrives.
 *
 * Answers are batched without waiting: a worker that has an answer adds
 * it to the batch and, if no other worker is in reply(), becomes the
 * flusher and sends batches until none is left.  Answers that arrive
 * while a reply() is under way ride in the next one.  Every record pushed
 * is resolved and answered exactly once, also across dk_faultq_stop().
 *
 * DOC: Locking
 *
 * q->lock guards the ring, the batch and the counters; it is a leaf and
 * is never held while resolve() or reply() runs, so resolve() may take the
 * SVM core's context lock and call the backend's vm_map().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev_kernel_priv.h"

#define DK_RING_INITIAL 64

static uint32_t ring_len(const struct dk_faultq *q)
{
	return q->tail - q->head;
}

/* Double the ring, keeping order.  q->lock held. */
static int ring_grow(struct dk_faultq *q)
{
	uint32_t size = q->ring_size * 2, n = ring_len(q), i;
	struct vsvmh_fault *ring;

	if (size < q->ring_size)
		return -ENOMEM;
	ring = calloc(size, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ring[i] = q->ring[(q->head + i) & (q->ring_size - 1)];
	free(q->ring);
	q->ring = ring;
	q->ring_size = size;
	q->head = 0;
	q->tail = n;
	return 0;
}

int dk_faultq_push(struct dk_faultq *q, const struct vsvmh_fault *recs,
		   uint32_t nr)
{
	uint32_t i;

	pthread_mutex_lock(&q->lock);
	while (q->ring_size - ring_len(q) < nr) {
		if (ring_grow(q)) {
			pthread_mutex_unlock(&q->lock);
			return -ENOMEM;
		}
	}
	for (i = 0; i < nr; i++)
		q->ring[q->tail++ & (q->ring_size - 1)] = recs[i];
	if (nr == 1)
		pthread_cond_signal(&q->work);
	else if (nr)
		pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/*
 * Send the batch until it is empty.  q->lock held, q->flushing set by the
 * caller; the lock drops around each reply().
 */
static void flush_batches(struct dk_faultq *q)
{
	struct vsvmh_fault_resolution out[DK_REPLY_BATCH];
	uint32_t n;
	int err;

	while (q->batch_len) {
		n = q->batch_len;
		memcpy(out, q->batch, n * sizeof(out[0]));
		q->batch_len = 0;
		pthread_cond_broadcast(&q->room);
		pthread_mutex_unlock(&q->lock);
		err = q->ops->reply(q->opaque, out, n);
		pthread_mutex_lock(&q->lock);
		q->replies++;
		if (err)
			q->reply_errors++;
		if (n > q->max_reply)
			q->max_reply = n;
	}
}

/* Hand one answer over; flush unless a flusher is at work.  Lock held. */
static void add_answer(struct dk_faultq *q, uint32_t id, int status)
{
	while (q->batch_len == DK_REPLY_BATCH)
		pthread_cond_wait(&q->room, &q->lock);
	q->batch[q->batch_len++] = (struct vsvmh_fault_resolution){
		.id = id,
		.status = status,
	};
	if (q->flushing)
		return; /* the flusher loops until the batch is empty */
	q->flushing = true;
	flush_batches(q);
	q->flushing = false;
}

static void *worker_main(void *arg)
{
	struct dk_faultq *q = arg;
	struct vsvmh_fault rec;
	int status;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!ring_len(q) && !q->stopping) {
			q->idle++;
			pthread_cond_wait(&q->work, &q->lock);
			q->idle--;
		}
		/* Stopping drains the ring first: every record is answered. */
		if (!ring_len(q))
			break;
		rec = q->ring[q->head++ & (q->ring_size - 1)];
		if (++q->busy > q->max_busy)
			q->max_busy = q->busy;
		pthread_mutex_unlock(&q->lock);

		status = q->ops->resolve(q->opaque, &rec);

		pthread_mutex_lock(&q->lock);
		q->busy--;
		q->resolved++;
		if (status)
			q->failed++;
		add_answer(q, rec.id, status > 0 ? -EFAULT : status);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void stop_workers(struct dk_faultq *q, uint32_t started)
{
	uint32_t i;

	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < started; i++)
		pthread_join(q->workers[i], NULL);
}

static void faultq_free(struct dk_faultq *q)
{
	pthread_cond_destroy(&q->room);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	free(q->workers);
	free(q->ring);
	q->workers = NULL;
	q->ring = NULL;
}

int dk_faultq_start(struct dk_faultq *q, const struct dk_faultq_ops *ops,
		    void *opaque, uint32_t nr_workers)
{
	uint32_t i;
	int err;

	if (!nr_workers || !ops || !ops->resolve || !ops->reply)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->ops = ops;
	q->opaque = opaque;
	q->ring_size = DK_RING_INITIAL;
	q->ring = calloc(q->ring_size, sizeof(*q->ring));
	q->workers = calloc(nr_workers, sizeof(*q->workers));
	if (!q->ring || !q->workers) {
		free(q->ring);
		free(q->workers);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->room, NULL);
	for (i = 0; i < nr_workers; i++) {
		err = pthread_create(&q->workers[i], NULL, worker_main, q);
		if (err) {
			stop_workers(q, i);
			faultq_free(q);
			return -err;
		}
		pthread_setname_np(q->workers[i], "vsvmh-fault");
	}
	q->nr_workers = nr_workers;
	return 0;
}

void dk_faultq_stop(struct dk_faultq *q)
{
	if (!q->workers)
		return;
	stop_workers(q, q->nr_workers);
	faultq_free(q);
}
