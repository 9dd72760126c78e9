/* SPDX-License-Identifier: MIT */
/*
 * vsvmg_os_types.h - the guest simulator's OS-layer types for the portable
 *                    guest-shim core (see guest-shim/core/vsvmg_os.h).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The kernel module provides the same three structs over struct mutex,
 * struct completion and kthreads; here they wrap pthreads.  The core never
 * looks inside them.
 */
#ifndef VSVMG_OS_TYPES_H
#define VSVMG_OS_TYPES_H

#include <pthread.h>

/* An error-checking mutex: relocking or a foreign unlock aborts. */
struct vsvmg_mutex {
	pthread_mutex_t lock;
};

/* One-shot event; done is guarded by lock and never goes back to 0. */
struct vsvmg_completion {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

struct vsvmg_thread {
	pthread_t tid;
	void (*fn)(void *arg);
	void *arg;
	int started; /* tid is valid and not joined yet */
};

#endif /* VSVMG_OS_TYPES_H */
