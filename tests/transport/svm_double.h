/* SPDX-License-Identifier: MIT */
/*
 * svm_double.h - a test double of the SVM core (proxy/svm.h) for the
 *                transport tests.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The transport tests link the transport alone; this stands in for
 * svm.c.  It keeps the contract of svm.h (complete() exactly once, every
 * parked submission completed before vp_svm_destroy() returns) and
 * records what it was asked, so tests can check what crossed the seam.
 *
 * Its "command stream" is a toy: the first byte says what to do.
 *   'E' echo: reply = the stream, RESP_OK_NODATA, completed at once
 *   'P' park: held until dbl_complete_parked(tag), tag = second byte
 *   'X' fail: RESP_ERR_INVALID_PARAMETER, empty reply
 *   'L' lie:  claims a reply one byte longer than reply_cap
 */
#ifndef SVM_DOUBLE_H
#define SVM_DOUBLE_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_gpu.h>

#include "svm.h"

#define DBL_MAX_PARKED 256
#define DBL_MAX_SVMS   16

struct vp_svm {
	const struct vp_memtable *mt;
	uint32_t ctxs[64];
	uint32_t nr_ctxs;
};

static struct {
	pthread_mutex_t lock;
	int created;
	int destroyed;
	int memtable_changed;
	int submits;
	uint32_t last_ctx_id;
	uint32_t last_context_init;
	uint32_t last_cmds_len;
	uint32_t last_stream_len;
	uint32_t last_reply_cap;
	struct vp_submit *parked[DBL_MAX_PARKED];
	struct vp_svm *parked_svm[DBL_MAX_PARKED];
	int nr_parked;
} dbl = { .lock = PTHREAD_MUTEX_INITIALIZER };

static inline int dbl_read(const int *counter)
{
	int v;

	pthread_mutex_lock(&dbl.lock);
	v = *counter;
	pthread_mutex_unlock(&dbl.lock);
	return v;
}

static inline uint32_t dbl_read_u32(const uint32_t *field)
{
	uint32_t v;

	pthread_mutex_lock(&dbl.lock);
	v = *field;
	pthread_mutex_unlock(&dbl.lock);
	return v;
}

struct vp_svm *vp_svm_create(const struct vp_svm_config *cfg,
			     const struct vp_memtable *mt)
{
	struct vp_svm *svm = calloc(1, sizeof(*svm));

	(void)cfg;
	if (!svm)
		return NULL;
	svm->mt = mt;
	pthread_mutex_lock(&dbl.lock);
	dbl.created++;
	pthread_mutex_unlock(&dbl.lock);
	return svm;
}

static inline void dbl_echo(struct vp_submit *s)
{
	s->reply_len = s->cmds_len < s->reply_cap ? s->cmds_len : s->reply_cap;
	memcpy(s->reply, s->cmds, s->reply_len);
	s->resp_type = VIRTIO_GPU_RESP_OK_NODATA;
}

/* The double runs no context: nothing to count. */
void vp_svm_get_stats(struct vp_svm *svm, struct vp_ctx_stats *out)
{
	(void)svm;
	memset(out, 0, sizeof(*out));
}

void vp_svm_destroy(struct vp_svm *svm)
{
	struct vp_submit *mine[DBL_MAX_PARKED];
	int i, n = 0;

	pthread_mutex_lock(&dbl.lock);
	for (i = 0; i < dbl.nr_parked;) {
		if (dbl.parked_svm[i] != svm) {
			i++;
			continue;
		}
		mine[n++] = dbl.parked[i];
		dbl.parked[i] = dbl.parked[--dbl.nr_parked];
		dbl.parked_svm[i] = dbl.parked_svm[dbl.nr_parked];
	}
	dbl.destroyed++;
	pthread_mutex_unlock(&dbl.lock);
	/* svm.h: every parked submission completes before we return. */
	for (i = 0; i < n; i++) {
		mine[i]->resp_type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		mine[i]->reply_len = 0;
		mine[i]->complete(mine[i]);
	}
	free(svm);
}

int vp_svm_capset(struct vp_svm *svm, void *buf, uint32_t cap)
{
	uint8_t *p = buf;
	uint32_t i;

	(void)svm;
	if (cap < 64)
		return -EINVAL;
	for (i = 0; i < 64; i++)
		p[i] = (uint8_t)(0xc0 + i);
	return 64;
}

uint32_t vp_svm_ctx_create(struct vp_svm *svm, uint32_t ctx_id,
			   uint32_t context_init)
{
	pthread_mutex_lock(&dbl.lock);
	dbl.last_ctx_id = ctx_id;
	dbl.last_context_init = context_init;
	pthread_mutex_unlock(&dbl.lock);
	if (ctx_id == 0 || svm->nr_ctxs == 64)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	svm->ctxs[svm->nr_ctxs++] = ctx_id;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vp_svm_ctx_destroy(struct vp_svm *svm, uint32_t ctx_id)
{
	uint32_t i;

	for (i = 0; i < svm->nr_ctxs; i++) {
		if (svm->ctxs[i] == ctx_id) {
			svm->ctxs[i] = svm->ctxs[--svm->nr_ctxs];
			return VIRTIO_GPU_RESP_OK_NODATA;
		}
	}
	return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
}

void vp_svm_submit(struct vp_svm *svm, struct vp_submit *s)
{
	uint8_t op = s->cmds_len ? s->cmds[0] : 'E';

	pthread_mutex_lock(&dbl.lock);
	dbl.submits++;
	dbl.last_ctx_id = s->ctx_id;
	dbl.last_cmds_len = s->cmds_len;
	dbl.last_stream_len = s->stream_len;
	dbl.last_reply_cap = s->reply_cap;
	if (op == 'P' && dbl.nr_parked < DBL_MAX_PARKED) {
		dbl.parked[dbl.nr_parked] = s;
		dbl.parked_svm[dbl.nr_parked++] = svm;
		pthread_mutex_unlock(&dbl.lock);
		return;
	}
	pthread_mutex_unlock(&dbl.lock);
	if (op == 'X') {
		s->resp_type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		s->reply_len = 0;
	} else if (op == 'L') {
		s->resp_type = VIRTIO_GPU_RESP_OK_NODATA;
		s->reply_len = s->reply_cap + 1;
	} else {
		dbl_echo(s);
	}
	s->complete(s);
}

void vp_svm_memtable_changed(struct vp_svm *svm)
{
	(void)svm;
	pthread_mutex_lock(&dbl.lock);
	dbl.memtable_changed++;
	pthread_mutex_unlock(&dbl.lock);
}

/* Complete the parked submission whose second byte is tag; 0 if found. */
static inline int dbl_complete_parked(uint8_t tag)
{
	struct vp_submit *s = NULL;
	int i;

	pthread_mutex_lock(&dbl.lock);
	for (i = 0; i < dbl.nr_parked; i++) {
		if (dbl.parked[i]->cmds_len > 1 &&
		    dbl.parked[i]->cmds[1] == tag) {
			s = dbl.parked[i];
			dbl.parked[i] = dbl.parked[--dbl.nr_parked];
			dbl.parked_svm[i] = dbl.parked_svm[dbl.nr_parked];
			break;
		}
	}
	pthread_mutex_unlock(&dbl.lock);
	if (!s)
		return -1;
	dbl_echo(s);
	s->complete(s);
	return 0;
}

static void *dbl_complete_thread(void *arg)
{
	dbl_complete_parked((uint8_t)(uintptr_t)arg);
	return NULL;
}

/* Complete a parked submission from a thread of its own, like a device. */
static inline void dbl_complete_parked_async(uint8_t tag)
{
	pthread_t t;

	pthread_create(&t, NULL, dbl_complete_thread, (void *)(uintptr_t)tag);
	pthread_join(t, NULL);
}

static inline int dbl_nr_parked(void)
{
	return dbl_read(&dbl.nr_parked);
}

#endif /* SVM_DOUBLE_H */
