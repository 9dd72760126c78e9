/* SPDX-License-Identifier: MIT */
/*
 * dk_fake_module.h - a userspace model of vsvm_host.ko for the
 *                    dev_kernel tests: the uapi of
 *                    host-kernel/include/uapi/linux/vsvm_host.h as plain
 *                    function calls (struct dev_kernel_sys).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * What it models: proxy VMs; MIRROR as a per-page table (host pages are
 * the test's own memory, so no HMM); UNMAP that waits for accesses in
 * flight (one rwlock: accesses copy under it for read, MIRROR and UNMAP
 * change the table under it for write); ACCESS page by page with the
 * permission of its op (a page mapped without it fails with -EFAULT at
 * once, as vsvm_host.ko does); a miss queues one record per (VM, page) to a pipe
 * (the fault fd), NOWAIT returns -EAGAIN, otherwise the caller sleeps
 * until FAULT_REPLY and replays once: a replay that still misses fails
 * with -EFAULT, as the uapi reads.  Not modelled: native VMs, device
 * memory, migration, several open files.
 */
#ifndef VSVM_DK_FAKE_MODULE_H
#define VSVM_DK_FAKE_MODULE_H

#include <errno.h>
#include <linux/vsvm_host.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev_kernel.h"

#define FAKE_FD	     1000
#define FAKE_BUCKETS 4096
#define FAKE_MAX_VMS 64

struct fake_page {
	struct fake_page *next;
	uint32_t vm;
	uint64_t vpn;
	uint8_t *hva;
	uint32_t prot;
};

struct fake_rec {
	struct fake_rec *next;
	uint32_t id, vm;
	uint64_t vpn;
	bool answered;
	int status;
	int waiters;
};

struct fake_module {
	pthread_rwlock_t pt; /* the page table; accesses hold it for read */
	struct fake_page *bucket[FAKE_BUCKETS];
	pthread_mutex_t lock; /* records, VMs, counters */
	pthread_cond_t answered;
	bool live[FAKE_MAX_VMS];
	struct fake_rec *recs;
	uint32_t next_rec;
	int pipe[2];
	bool fault_fd_open;
	uint64_t mirrors, unmaps, records, replies, accesses;
};

static inline uint32_t fake_hash(uint32_t vm, uint64_t vpn)
{
	return (uint32_t)((vpn * 0x9e3779b97f4a7c15ull + vm) >> 52) %
	       FAKE_BUCKETS;
}

static inline struct fake_page **fake_find(struct fake_module *m, uint32_t vm,
					   uint64_t vpn)
{
	struct fake_page **p = &m->bucket[fake_hash(vm, vpn)];

	for (; *p; p = &(*p)->next)
		if ((*p)->vm == vm && (*p)->vpn == vpn)
			return p;
	return p;
}

/* Remove vm's pages in [first, last] (all of them with last = ~0); pt held. */
static inline void fake_drop(struct fake_module *m, uint32_t vm, uint64_t first,
			     uint64_t last)
{
	uint32_t b;

	for (b = 0; b < FAKE_BUCKETS; b++) {
		struct fake_page **p = &m->bucket[b], *dead;

		while (*p) {
			if ((*p)->vm == vm && (*p)->vpn >= first &&
			    (*p)->vpn <= last) {
				dead = *p;
				*p = dead->next;
				free(dead);
			} else {
				p = &(*p)->next;
			}
		}
	}
}

static inline int fake_fail(int err)
{
	errno = err;
	return -1;
}

static inline int fake_mirror(struct fake_module *m, struct vsvmh_mirror *a)
{
	uint64_t i, pages = a->len / 4096;

	if (!a->len || ((a->gpu_va | a->host_va | a->len) & 4095) ||
	    !(a->prot & VSVMH_PROT_READ) || a->vm_id >= FAKE_MAX_VMS ||
	    !m->live[a->vm_id])
		return fake_fail(EINVAL);
	pthread_rwlock_wrlock(&m->pt);
	for (i = 0; i < pages; i++) {
		uint64_t vpn = a->gpu_va / 4096 + i;
		struct fake_page **p = fake_find(m, a->vm_id, vpn);

		if (!*p) {
			*p = calloc(1, sizeof(**p));
			(*p)->vm = a->vm_id;
			(*p)->vpn = vpn;
		}
		(*p)->hva = (uint8_t *)(uintptr_t)(a->host_va + i * 4096);
		(*p)->prot = a->prot;
	}
	pthread_rwlock_unlock(&m->pt);
	__atomic_fetch_add(&m->mirrors, 1, __ATOMIC_RELAXED);
	return 0;
}

static inline int fake_unmap(struct fake_module *m, struct vsvmh_range *a)
{
	if (!a->len || ((a->gpu_va | a->len) & 4095) ||
	    a->vm_id >= FAKE_MAX_VMS || !m->live[a->vm_id])
		return fake_fail(EINVAL);
	/* The write lock waits for every access in flight: the guarantee. */
	pthread_rwlock_wrlock(&m->pt);
	fake_drop(m, a->vm_id, a->gpu_va / 4096,
		  (a->gpu_va + a->len) / 4096 - 1);
	pthread_rwlock_unlock(&m->pt);
	__atomic_fetch_add(&m->unmaps, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * One page of an access; pt held for read.  Return: 1 if done, 0 on a
 * miss, -1 if the page is mapped without the permission (vsvm_host.ko
 * fails that access with -EFAULT at once and queues no record).
 */
static inline int fake_touch(struct fake_module *m, struct vsvmh_access *a,
			     uint64_t va, uint64_t n, uint8_t *buf)
{
	static const uint32_t need[] = { 0, VSVMH_PROT_READ, VSVMH_PROT_WRITE,
					 VSVMH_PROT_ATOMIC };
	struct fake_page *p = *fake_find(m, a->vm_id, va / 4096);
	uint8_t *h;

	if (!p)
		return 0;
	if (!(p->prot & need[a->op]))
		return -1;
	h = p->hva + (va & 4095);
	if (a->op == VSVMH_ACCESS_READ)
		memcpy(buf, h, n);
	else if (a->op == VSVMH_ACCESS_WRITE)
		memcpy(h, buf, n);
	else
		*(uint64_t *)buf = __atomic_fetch_add(
			(uint64_t *)h, *(uint64_t *)buf, __ATOMIC_RELAXED);
	return 1;
}

/* Find or queue the record for (vm, page); m->lock held. */
static inline struct fake_rec *fake_record(struct fake_module *m, uint32_t vm,
					   uint64_t vpn, uint32_t op)
{
	struct vsvmh_fault f = { .vm_id = vm,
				 .gpu_va = vpn * 4096,
				 .access = op };
	struct fake_rec *r;

	for (r = m->recs; r; r = r->next)
		if (!r->answered && r->vm == vm && r->vpn == vpn)
			return r;
	r = calloc(1, sizeof(*r));
	r->id = ++m->next_rec;
	r->vm = vm;
	r->vpn = vpn;
	r->next = m->recs;
	m->recs = r;
	m->records++;
	f.id = r->id;
	if (write(m->pipe[1], &f, sizeof(f)) != sizeof(f))
		abort();
	return r;
}

static inline void fake_unlink_rec(struct fake_module *m, struct fake_rec *dead)
{
	struct fake_rec **p;

	for (p = &m->recs; *p; p = &(*p)->next)
		if (*p == dead) {
			*p = dead->next;
			free(dead);
			return;
		}
}

static inline int fake_access(struct fake_module *m, struct vsvmh_access *a)
{
	uint8_t *buf = (uint8_t *)(uintptr_t)a->buf;
	bool replayed = false;
	struct timespec dl;
	struct fake_rec *r;
	int status;

	if (a->op < 1 || a->op > 3 || !a->len || a->len > (16u << 20) ||
	    (a->op == VSVMH_ACCESS_ATOMIC_ADD &&
	     (a->len != 8 || a->gpu_va & 7)) ||
	    a->vm_id >= FAKE_MAX_VMS || !m->live[a->vm_id])
		return fake_fail(EINVAL);
	__atomic_fetch_add(&m->accesses, 1, __ATOMIC_RELAXED);
	a->done = 0;
	while (a->done < a->len) {
		uint64_t va = a->gpu_va + a->done;
		uint64_t n = 4096 - (va & 4095);
		int ok;

		if (n > a->len - a->done)
			n = a->len - a->done;
		pthread_rwlock_rdlock(&m->pt);
		ok = fake_touch(m, a, va, n, buf + a->done);
		pthread_rwlock_unlock(&m->pt);
		a->fault_va = va & ~4095ull;
		if (ok > 0) {
			a->done += n;
			replayed = false;
			continue;
		}
		if (ok < 0 || replayed)
			return fake_fail(EFAULT);
		pthread_mutex_lock(&m->lock);
		if (!m->fault_fd_open) {
			pthread_mutex_unlock(&m->lock);
			return fake_fail(ENODEV);
		}
		r = fake_record(m, a->vm_id, va / 4096, a->op);
		if (a->flags & VSVMH_ACCESS_NOWAIT) {
			pthread_mutex_unlock(&m->lock);
			return fake_fail(EAGAIN);
		}
		r->waiters++;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += a->timeout_ms ? a->timeout_ms / 1000 : 10;
		while (!r->answered)
			if (pthread_cond_timedwait(&m->answered, &m->lock,
						   &dl) == ETIMEDOUT)
				break;
		status = r->answered ? r->status : -ETIMEDOUT;
		if (!--r->waiters && r->answered)
			fake_unlink_rec(m, r);
		pthread_mutex_unlock(&m->lock);
		if (status == -ETIMEDOUT)
			return fake_fail(ETIMEDOUT);
		if (status == -ECANCELED && !m->live[a->vm_id])
			return fake_fail(ECANCELED);
		if (status)
			return fake_fail(EFAULT);
		replayed = true;
	}
	return 0;
}

static inline int fake_reply(struct fake_module *m, struct vsvmh_fault_reply *a)
{
	const struct vsvmh_fault_resolution *res =
		(const void *)(uintptr_t)a->res;
	struct fake_rec *r;
	uint32_t i;

	if (!a->nr || a->nr > 4096)
		return fake_fail(EINVAL);
	pthread_mutex_lock(&m->lock);
	a->resolved = 0;
	for (i = 0; i < a->nr; i++) {
		for (r = m->recs; r; r = r->next)
			if (r->id == res[i].id && !r->answered)
				break;
		if (!r)
			continue;
		r->answered = true;
		r->status = res[i].status;
		a->resolved++;
		if (!r->waiters)
			fake_unlink_rec(m, r);
	}
	m->replies++;
	pthread_cond_broadcast(&m->answered);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static inline int fake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct fake_module *m = opaque;
	uint32_t i;

	if (fd != FAKE_FD)
		return fake_fail(EBADF);
	switch (req) {
	case VSVMH_IOCTL_GET_CAPS: {
		struct vsvmh_caps *c = arg;

		memset(c, 0, sizeof(*c));
		c->version = VSVMH_UAPI_VERSION;
		c->num_devices = 1;
		c->mem_size = 64 << 20;
		c->max_vms = FAKE_MAX_VMS - 1;
		c->max_faults = 256;
		return 0;
	}
	case VSVMH_IOCTL_VM_CREATE: {
		struct vsvmh_vm_create *c = arg;

		pthread_mutex_lock(&m->lock);
		for (i = 1; i < FAKE_MAX_VMS && m->live[i]; i++)
			;
		if (i < FAKE_MAX_VMS)
			m->live[i] = true;
		pthread_mutex_unlock(&m->lock);
		if (i == FAKE_MAX_VMS)
			return fake_fail(ENOSPC);
		c->vm_id = i;
		return 0;
	}
	case VSVMH_IOCTL_VM_DESTROY: {
		struct vsvmh_vm *v = arg;

		if (v->vm_id >= FAKE_MAX_VMS || !m->live[v->vm_id])
			return fake_fail(EINVAL);
		pthread_rwlock_wrlock(&m->pt);
		fake_drop(m, v->vm_id, 0, UINT64_MAX);
		pthread_rwlock_unlock(&m->pt);
		pthread_mutex_lock(&m->lock);
		m->live[v->vm_id] = false;
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	case VSVMH_IOCTL_MIRROR:
		return fake_mirror(m, arg);
	case VSVMH_IOCTL_UNMAP:
		return fake_unmap(m, arg);
	case VSVMH_IOCTL_ACCESS:
		return fake_access(m, arg);
	case VSVMH_IOCTL_FAULT_FD: {
		struct vsvmh_fault_fd *f = arg;

		pthread_mutex_lock(&m->lock);
		if (m->fault_fd_open) {
			pthread_mutex_unlock(&m->lock);
			return fake_fail(EBUSY);
		}
		if (pipe(m->pipe))
			abort();
		m->fault_fd_open = true;
		pthread_mutex_unlock(&m->lock);
		f->fd = m->pipe[0];
		return 0;
	}
	case VSVMH_IOCTL_FAULT_REPLY:
		return fake_reply(m, arg);
	case VSVMH_IOCTL_VM_STATS: {
		struct vsvmh_vm_stats *s = arg;
		uint32_t b;

		s->mapped_bytes = 0;
		pthread_rwlock_rdlock(&m->pt);
		for (b = 0; b < FAKE_BUCKETS; b++) {
			struct fake_page *p;

			for (p = m->bucket[b]; p; p = p->next)
				if (p->vm == s->vm_id)
					s->mapped_bytes += 4096;
		}
		pthread_rwlock_unlock(&m->pt);
		s->pt_bytes = 4096;
		s->invalidations = 0;
		return 0;
	}
	default:
		return fake_fail(ENOTTY);
	}
}

static inline int fake_open(void *opaque, const char *path, int flags)
{
	(void)opaque;
	(void)flags;
	if (strcmp(path, "fake"))
		return fake_fail(ENOENT);
	return FAKE_FD;
}

static inline ssize_t fake_read(void *opaque, int fd, void *buf, size_t len)
{
	(void)opaque;
	return read(fd, buf, len);
}

static inline int fake_close(void *opaque, int fd)
{
	struct fake_module *m = opaque;

	if (fd == FAKE_FD)
		return 0;
	pthread_mutex_lock(&m->lock);
	if (fd == m->pipe[0]) {
		close(m->pipe[1]);
		m->fault_fd_open = false;
	}
	pthread_mutex_unlock(&m->lock);
	return close(fd);
}

static inline void fake_init(struct fake_module *m, struct dev_kernel_sys *sys)
{
	memset(m, 0, sizeof(*m));
	pthread_rwlock_init(&m->pt, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->answered, NULL);
	*sys = (struct dev_kernel_sys){ fake_open, fake_ioctl, fake_read,
					fake_close, m };
}

static inline void fake_fini(struct fake_module *m)
{
	uint32_t b;

	for (b = 0; b < FAKE_BUCKETS; b++)
		while (m->bucket[b]) {
			struct fake_page *p = m->bucket[b];

			m->bucket[b] = p->next;
			free(p);
		}
	while (m->recs)
		fake_unlink_rec(m, m->recs);
}

/* A backend over the model, with n EUs. */
static inline struct vp_device *fake_device(struct dev_kernel_sys *sys,
					    uint32_t exec_units)
{
	struct dev_kernel_config c = {
		.exec_units = exec_units,
		.path = "fake",
		.sys = sys,
	};
	struct vp_device *dev = dev_kernel_create(&c);

	if (!dev)
		abort();
	return dev;
}

#endif /* VSVM_DK_FAKE_MODULE_H */
