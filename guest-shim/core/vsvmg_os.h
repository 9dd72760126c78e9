/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vsvmg_os.h - the thin OS layer under the guest shim's portable core.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The core calls only these.  Each OS provides "vsvmg_os_types.h" (found on
 * its include path) defining the three structs, and implements the
 * functions: the kernel module with struct mutex, struct completion and
 * kthreads; the guest simulator with pthreads (guest-shim/sim/os_user.c).
 */
#ifndef VSVMG_OS_H
#define VSVMG_OS_H

#include "vsvmg_os_types.h"	/* struct vsvmg_mutex, _completion, _thread */

void *vsvmg_os_zalloc(unsigned long size);	/* may sleep; NULL if none */
void vsvmg_os_free(void *p);
void vsvmg_os_memcpy(void *dst, const void *src, unsigned long n);

void vsvmg_mutex_init(struct vsvmg_mutex *m);
void vsvmg_mutex_destroy(struct vsvmg_mutex *m);
void vsvmg_mutex_lock(struct vsvmg_mutex *m);
void vsvmg_mutex_unlock(struct vsvmg_mutex *m);

/* One-shot event: complete() once, wait() returns after it. */
void vsvmg_completion_init(struct vsvmg_completion *c);
void vsvmg_completion_destroy(struct vsvmg_completion *c);
void vsvmg_complete(struct vsvmg_completion *c);
void vsvmg_wait(struct vsvmg_completion *c);

/* Run fn(arg) in a new thread; join waits for it to return. */
int vsvmg_thread_start(struct vsvmg_thread *t, void (*fn)(void *arg),
		       void *arg, const char *name);
void vsvmg_thread_join(struct vsvmg_thread *t);

/* Back off briefly before retrying (msleep(1) / usleep(1000)). */
void vsvmg_os_relax(void);

/* Diagnostics (printk / stderr). */
void vsvmg_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VSVMG_OS_H */
