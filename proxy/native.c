// SPDX-License-Identifier: MIT
/*
 * native.c - host-native SVM contexts (see native.h).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The fault path is the whole point of this file, so it is kept to what a
 * bare-metal SVM driver must do and nothing more: one lock, one registry
 * lookup, one permission check, one vm_map() of the window around the
 * address, GPU VA == host VA.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "native.h"
#include "range_map.h"

#define NATIVE_PAGE	  4096ull
#define NATIVE_WINDOW	  (2ull << 20)
#define NATIVE_WINDOW_MAX (1ull << 30)

struct vp_native {
	struct vp_native_config cfg;
	pthread_mutex_t lock;
	struct vp_dev_vm *vms[VSVM_MAX_DEVICES];
	/* Registered allocations; base: host address (== VA), word[0]: prot. */
	struct vp_range_map regions;
	struct vp_native_stats stats;
};

/* The prot bit an access needs. */
static uint32_t native_need(enum vp_access access)
{
	switch (access) {
	case VP_ACCESS_READ:
		return VSVM_PROT_READ;
	case VP_ACCESS_WRITE:
		return VSVM_PROT_WRITE;
	default:
		return VSVM_PROT_ATOMIC;
	}
}

/*
 * vm_map() of [start, end) at hva == va.  For small_pages, each aligned
 * 2 MiB is mapped as its first page and the rest: neither call covers a
 * whole aligned 2 MiB, so the backend uses 4 KiB leaves throughout.
 */
static int native_map(const struct vp_native *nc,
		      const struct vp_device_ops *ops, struct vp_dev_vm *vm,
		      uint64_t start, uint64_t end, uint32_t prot)
{
	uint64_t next;
	int ret;

	if (!nc->cfg.small_pages)
		return ops->vm_map(vm, start, end - start,
				   (void *)(uintptr_t)start, prot);
	for (; start < end; start = next) {
		next = (start | (NATIVE_WINDOW - 1)) + 1;
		if (next > end)
			next = end;
		if (!(start & (NATIVE_WINDOW - 1)) && next - start > NATIVE_PAGE) {
			ret = ops->vm_map(vm, start, NATIVE_PAGE,
					  (void *)(uintptr_t)start, prot);
			if (ret)
				return ret;
			start += NATIVE_PAGE;
		}
		ret = ops->vm_map(vm, start, next - start,
				  (void *)(uintptr_t)start, prot);
		if (ret)
			return ret;
	}
	return 0;
}

static int native_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
			enum vp_access access)
{
	struct vp_native *nc = owner;
	const struct vp_device_ops *ops = NULL;
	const struct vp_range *r;
	uint64_t start, end;
	uint32_t prot, i;
	int ret = -VSVM_ERR_FAULT;

	pthread_mutex_lock(&nc->lock);
	nc->stats.faults++;
	for (i = 0; i < nc->cfg.num_devices; i++)
		if (nc->vms[i] == vm)
			ops = nc->cfg.devices[i]->ops;
	r = vp_range_map_find(&nc->regions, va);
	if (!ops || !r)
		goto out_fail;
	prot = (uint32_t)r->val.word[0];
	if (!(prot & native_need(access)))
		goto out_fail;
	start = va & ~(nc->cfg.fault_window - 1);
	end = start + nc->cfg.fault_window;
	if (start < r->start)
		start = r->start;
	if (end > r->end)
		end = r->end;
	nc->stats.maps++;
	/* GPU VA == host VA: the registry's base is the address itself. */
	if (!native_map(nc, ops, vm, start, end, prot)) {
		pthread_mutex_unlock(&nc->lock);
		return 0;
	}
	ret = -VSVM_ERR_NOMEM;
out_fail:
	nc->stats.faults_failed++;
	pthread_mutex_unlock(&nc->lock);
	return ret;
}

struct vp_native *vp_native_create(const struct vp_native_config *cfg)
{
	struct vp_native *nc;
	uint32_t i;
	int ret;

	if (!cfg->num_devices || cfg->num_devices > VSVM_MAX_DEVICES ||
	    (cfg->fault_window &&
	     (cfg->fault_window & (cfg->fault_window - 1) ||
	      cfg->fault_window < NATIVE_PAGE ||
	      cfg->fault_window > NATIVE_WINDOW_MAX))) {
		errno = EINVAL;
		return NULL;
	}
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return NULL;
	nc->cfg = *cfg;
	if (!nc->cfg.fault_window)
		nc->cfg.fault_window = NATIVE_WINDOW;
	pthread_mutex_init(&nc->lock, NULL);
	vp_range_map_init(&nc->regions, true, 0);
	for (i = 0; i < cfg->num_devices; i++) {
		struct vp_device *dev = cfg->devices[i];

		ret = dev->ops->vm_create(dev, cfg->va_bits, nc, native_fault,
					  &nc->vms[i]);
		if (ret) {
			errno = -ret;
			goto err_destroy_vms;
		}
	}
	return nc;

err_destroy_vms:
	while (i--)
		cfg->devices[i]->ops->vm_destroy(nc->vms[i]);
	pthread_mutex_destroy(&nc->lock);
	free(nc);
	return NULL;
}

void vp_native_destroy(struct vp_native *nc)
{
	uint32_t i;

	if (!nc)
		return;
	for (i = 0; i < nc->cfg.num_devices; i++)
		nc->cfg.devices[i]->ops->vm_destroy(nc->vms[i]);
	vp_range_map_clear(&nc->regions);
	pthread_mutex_destroy(&nc->lock);
	free(nc);
}

static bool native_range_ok(const struct vp_native *nc, uint64_t va,
			    uint64_t len)
{
	return len && !(va & (NATIVE_PAGE - 1)) && !(len & (NATIVE_PAGE - 1)) &&
	       va + len > va && va + len <= 1ull << nc->cfg.va_bits;
}

int vp_native_register(struct vp_native *nc, void *addr, uint64_t len,
		       uint32_t prot)
{
	uint64_t va = (uint64_t)(uintptr_t)addr;
	struct vp_range_val val = { .base = va, .word = { prot, 0 } };
	int ret;

	if (!native_range_ok(nc, va, len) || !prot || prot & ~VSVM_PROT_ALL)
		return -EINVAL;
	pthread_mutex_lock(&nc->lock);
	ret = vp_range_map_set(&nc->regions, va, va + len, &val);
	pthread_mutex_unlock(&nc->lock);
	return ret;
}

void vp_native_unregister(struct vp_native *nc, void *addr, uint64_t len)
{
	uint64_t va = (uint64_t)(uintptr_t)addr, ws, we;
	uint32_t i;

	if (!native_range_ok(nc, va, len))
		return;
	pthread_mutex_lock(&nc->lock);
	/*
	 * Splitting a straddling allocation needs memory; without it, drop
	 * the allocations it touches whole (removing more is always safe: a
	 * later access faults and finds nothing, as after munmap).
	 */
	if (vp_range_map_remove(&nc->regions, va, va + len) < 0) {
		vp_range_map_remove_whole(&nc->regions, va, va + len, &ws, &we);
		if (we > ws) {
			uint64_t end = we > va + len ? we : va + len;

			va = ws < va ? ws : va;
			len = end - va;
		}
	}
	for (i = 0; i < nc->cfg.num_devices; i++) {
		nc->cfg.devices[i]->ops->vm_unmap(nc->vms[i], va, len);
		nc->stats.unmaps++;
	}
	pthread_mutex_unlock(&nc->lock);
}

int vp_native_populate(struct vp_native *nc, uint32_t device, void *addr,
		       uint64_t len)
{
	uint64_t va = (uint64_t)(uintptr_t)addr;
	const struct vp_range *r;
	int ret = -EINVAL;

	if (device >= nc->cfg.num_devices || !native_range_ok(nc, va, len))
		return -EINVAL;
	pthread_mutex_lock(&nc->lock);
	r = vp_range_map_find(&nc->regions, va);
	if (r && va + len <= r->end) {
		nc->stats.maps++;
		ret = native_map(nc, nc->cfg.devices[device]->ops,
				 nc->vms[device], va, va + len,
				 (uint32_t)r->val.word[0]);
	}
	pthread_mutex_unlock(&nc->lock);
	return ret;
}

struct native_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void native_launch_done(struct vp_launch *l)
{
	struct native_wait *w = l->priv;

	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int vp_launch_sync(struct vp_device *dev, struct vp_dev_vm *vm,
		   struct vp_launch *l)
{
	struct native_wait w = { .lock = PTHREAD_MUTEX_INITIALIZER,
				 .cond = PTHREAD_COND_INITIALIZER };
	int ret;

	l->done = native_launch_done;
	l->priv = &w;
	ret = dev->ops->launch(vm, l);
	if (ret)
		return ret;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return 0;
}

int vp_native_launch(struct vp_native *nc, uint32_t device,
		     struct vp_launch *l)
{
	if (device >= nc->cfg.num_devices)
		return -EINVAL;
	return vp_launch_sync(nc->cfg.devices[device], nc->vms[device], l);
}

void vp_native_stats(struct vp_native *nc, struct vp_native_stats *out)
{
	pthread_mutex_lock(&nc->lock);
	*out = nc->stats;
	pthread_mutex_unlock(&nc->lock);
}

struct vp_dev_vm *vp_native_vm(struct vp_native *nc, uint32_t device)
{
	return device < nc->cfg.num_devices ? nc->vms[device] : NULL;
}
