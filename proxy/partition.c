// SPDX-License-Identifier: MIT
/*
 * partition.c - one partitioned GPU VA space per VM (see partition.h).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The registry is keyed by GPU VA (slice base + process address), so the
 * fault path is the same single lookup as native.c; only the translation
 * from the process's address to the GPU's differs, and it is the caller
 * who must apply it to every pointer it gives the device.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "native.h"
#include "partition.h"
#include "range_map.h"

#define PART_PAGE	4096ull
#define PART_WINDOW	(2ull << 20)
/* Slot bitmap bound: slices of 2 MiB in a 57-bit space would be 2^36. */
#define PART_MAX_SLOTS	(1u << 20)

struct vp_partition {
	struct vp_partition_config cfg;
	pthread_mutex_t lock;
	struct vp_dev_vm *vm;
	uint32_t nr_slots;
	uint8_t *used;		/* one byte per slot */
	/* base: host address; word[0]: prot. */
	struct vp_range_map regions;
	struct vp_partition_stats stats;
};

static uint32_t part_need(enum vp_access access)
{
	if (access == VP_ACCESS_READ)
		return VSVM_PROT_READ;
	return access == VP_ACCESS_WRITE ? VSVM_PROT_WRITE : VSVM_PROT_ATOMIC;
}

static int part_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		      enum vp_access access)
{
	struct vp_partition *p = owner;
	const struct vp_range *r;
	uint64_t start, end, hva;
	uint32_t prot;

	pthread_mutex_lock(&p->lock);
	p->stats.faults++;
	r = vp_range_map_find(&p->regions, va);
	if (!r || !((uint32_t)r->val.word[0] & part_need(access)))
		goto out_fail;
	prot = (uint32_t)r->val.word[0];
	start = va & ~(p->cfg.fault_window - 1);
	end = start + p->cfg.fault_window;
	if (start < r->start)
		start = r->start;
	if (end > r->end)
		end = r->end;
	hva = vp_range_base_at(&p->regions, r, start);
	if (!p->cfg.device->ops->vm_map(vm, start, end - start,
					(void *)(uintptr_t)hva, prot)) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
out_fail:
	p->stats.faults_failed++;
	pthread_mutex_unlock(&p->lock);
	return -VSVM_ERR_FAULT;
}

struct vp_partition *vp_partition_create(const struct vp_partition_config *cfg)
{
	struct vp_partition *p;
	uint64_t slots;
	int ret;

	if (cfg->va_bits < VSVM_VA_BITS_MIN || cfg->va_bits > VSVM_VA_BITS_MAX ||
	    cfg->slice < PART_WINDOW || cfg->slice & (cfg->slice - 1) ||
	    cfg->slice > 1ull << cfg->va_bits ||
	    (cfg->fault_window && cfg->fault_window & (cfg->fault_window - 1))) {
		errno = EINVAL;
		return NULL;
	}
	slots = (1ull << cfg->va_bits) / cfg->slice;
	if (slots > PART_MAX_SLOTS)
		slots = PART_MAX_SLOTS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->used = calloc(slots, 1);
	if (!p->used)
		goto err_free;
	p->cfg = *cfg;
	if (!p->cfg.fault_window)
		p->cfg.fault_window = PART_WINDOW;
	p->nr_slots = (uint32_t)slots;
	p->stats.slots = p->nr_slots;
	pthread_mutex_init(&p->lock, NULL);
	vp_range_map_init(&p->regions, true, 0);
	ret = cfg->device->ops->vm_create(cfg->device, cfg->va_bits, p,
					  part_fault, &p->vm);
	if (ret) {
		errno = -ret;
		goto err_lock;
	}
	return p;

err_lock:
	pthread_mutex_destroy(&p->lock);
	free(p->used);
err_free:
	free(p);
	return NULL;
}

void vp_partition_destroy(struct vp_partition *p)
{
	if (!p)
		return;
	p->cfg.device->ops->vm_destroy(p->vm);
	vp_range_map_clear(&p->regions);
	pthread_mutex_destroy(&p->lock);
	free(p->used);
	free(p);
}

int vp_partition_attach(struct vp_partition *p, uint32_t *slot)
{
	uint32_t i;
	int ret = -ENOSPC;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nr_slots; i++) {
		if (!p->used[i]) {
			p->used[i] = 1;
			p->stats.attached++;
			*slot = i;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void vp_partition_detach(struct vp_partition *p, uint32_t slot)
{
	uint64_t base, ws, we;

	if (slot >= p->nr_slots)
		return;
	base = vp_partition_gpu_va(p, slot, 0);
	pthread_mutex_lock(&p->lock);
	if (p->used[slot]) {
		vp_range_map_remove_whole(&p->regions, base,
					  base + p->cfg.slice, &ws, &we);
		p->cfg.device->ops->vm_unmap(p->vm, base, p->cfg.slice);
		p->used[slot] = 0;
		p->stats.attached--;
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t vp_partition_gpu_va(const struct vp_partition *p, uint32_t slot,
			     uint64_t addr)
{
	return (uint64_t)slot * p->cfg.slice + addr;
}

int vp_partition_register(struct vp_partition *p, uint32_t slot,
			  uint64_t addr, uint64_t len, void *hva,
			  uint32_t prot)
{
	struct vp_range_val val = { .base = (uint64_t)(uintptr_t)hva,
				    .word = { prot, 0 } };
	uint64_t va;
	int ret = -EINVAL;

	if (!len || (addr | len) & (PART_PAGE - 1) || !prot ||
	    prot & ~VSVM_PROT_ALL || (uintptr_t)hva & (PART_PAGE - 1) ||
	    slot >= p->nr_slots)
		return -EINVAL;
	/* The slice is the process's whole GPU address space. */
	if (addr >= p->cfg.slice || len > p->cfg.slice - addr)
		return -ERANGE;
	va = vp_partition_gpu_va(p, slot, addr);
	pthread_mutex_lock(&p->lock);
	if (p->used[slot])
		ret = vp_range_map_set(&p->regions, va, va + len, &val);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int vp_partition_populate(struct vp_partition *p, uint32_t slot,
			  uint64_t addr, uint64_t len)
{
	const struct vp_range *r;
	uint64_t va;
	int ret = -EINVAL;

	if (slot >= p->nr_slots || addr >= p->cfg.slice ||
	    len > p->cfg.slice - addr)
		return -EINVAL;
	va = vp_partition_gpu_va(p, slot, addr);
	pthread_mutex_lock(&p->lock);
	r = vp_range_map_find(&p->regions, va);
	if (r && va + len <= r->end)
		ret = p->cfg.device->ops->vm_map(
			p->vm, va, len,
			(void *)(uintptr_t)vp_range_base_at(&p->regions, r, va),
			(uint32_t)r->val.word[0]);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int vp_partition_launch(struct vp_partition *p, struct vp_launch *l)
{
	return vp_launch_sync(p->cfg.device, p->vm, l);
}

void vp_partition_stats(struct vp_partition *p,
			struct vp_partition_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	pthread_mutex_unlock(&p->lock);
}

struct vp_dev_vm *vp_partition_vm(struct vp_partition *p)
{
	return p->vm;
}
