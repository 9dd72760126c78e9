// SPDX-License-Identifier: MIT
/*
 * os_user.c - the guest-shim core's OS layer for userspace: pthreads,
 *             calloc and stderr.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The portable core (guest-shim/core) asks for exactly what the kernel
 * gives a driver: sleeping mutexes, one-shot completions, threads and
 * printk.  This file maps them onto pthreads so that the same core runs in
 * the guest simulator.  Misuse that the kernel would catch with lockdep
 * (relocking a mutex, unlocking one not held, joining twice) aborts here
 * with a message, so the tests see it instead of a silent hang.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "vsvmg_os.h"

/* A broken OS primitive is a bug in the caller; stop at once. */
static void os_fail(const char *what, int err)
{
	vsvmg_log("%s failed: %s", what, strerror(err));
	abort();
}

void *vsvmg_os_zalloc(unsigned long size)
{
	return calloc(1, size);
}

void vsvmg_os_free(void *p)
{
	free(p);
}

void vsvmg_os_memcpy(void *dst, const void *src, unsigned long n)
{
	memcpy(dst, src, n);
}

void vsvmg_mutex_init(struct vsvmg_mutex *m)
{
	pthread_mutexattr_t attr;
	int err;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	err = pthread_mutex_init(&m->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err)
		os_fail("mutex init", err);
}

void vsvmg_mutex_destroy(struct vsvmg_mutex *m)
{
	int err = pthread_mutex_destroy(&m->lock);

	if (err)
		os_fail("mutex destroy (still locked?)", err);
}

void vsvmg_mutex_lock(struct vsvmg_mutex *m)
{
	int err = pthread_mutex_lock(&m->lock);

	if (err)
		os_fail("mutex lock", err);
}

void vsvmg_mutex_unlock(struct vsvmg_mutex *m)
{
	int err = pthread_mutex_unlock(&m->lock);

	if (err)
		os_fail("mutex unlock", err);
}

void vsvmg_completion_init(struct vsvmg_completion *c)
{
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->done = 0;
}

void vsvmg_completion_destroy(struct vsvmg_completion *c)
{
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

void vsvmg_complete(struct vsvmg_completion *c)
{
	pthread_mutex_lock(&c->lock);
	c->done = 1;
	/*
	 * Broadcast under the lock: the waiter may destroy the completion as
	 * soon as it sees done, so nothing may touch c after the unlock.
	 */
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void vsvmg_wait(struct vsvmg_completion *c)
{
	pthread_mutex_lock(&c->lock);
	while (!c->done)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static void *thread_trampoline(void *p)
{
	struct vsvmg_thread *t = p;

	t->fn(t->arg);
	return NULL;
}

int vsvmg_thread_start(struct vsvmg_thread *t, void (*fn)(void *arg), void *arg,
		       const char *name)
{
	char comm[16]; /* the kernel's TASK_COMM_LEN */
	int err;

	t->fn = fn;
	t->arg = arg;
	t->started = 0;
	err = pthread_create(&t->tid, NULL, thread_trampoline, t);
	if (err) {
		vsvmg_log("cannot start thread %s: %s", name ? name : "?",
			  strerror(err));
		return -err;
	}
	t->started = 1;
	if (name) {
		snprintf(comm, sizeof(comm), "%s", name);
		pthread_setname_np(t->tid, comm);
	}
	return 0;
}

void vsvmg_thread_join(struct vsvmg_thread *t)
{
	int err;

	if (!t->started)
		os_fail("thread join (not started or joined twice)", EINVAL);
	err = pthread_join(t->tid, NULL);
	if (err)
		os_fail("thread join", err);
	t->started = 0;
}

void vsvmg_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Callers write printk style, with or without the newline. */
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	/* One fprintf per line, so lines of concurrent threads do not mix. */
	fprintf(stderr, "vsvm-guest: %s\n", buf);
}

void vsvmg_os_relax(void)
{
	usleep(1000);
}
