// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_migrate.c - device-private memory and host-native migration.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Device-private memory and migration
 *
 * Where the kernel has CONFIG_DEVICE_PRIVATE, each device registers
 * mem_mb of device-private struct pages (memremap_pages() over a free
 * physical range from request_free_mem_region(), rounded up to a memory
 * section) and VSVMH_CAP_DEVICE_PRIVATE is set.  A device page in use
 * stands for device memory; as the software device has no memory of its
 * own, a system page allocated with it holds its data (page->zone_device_data
 * points at it; on the free list zone_device_data links the free pages)::
 *
 *   host PTE -> swap entry -> device-private page -> zone_device_data
 *                                                    = backing system page
 *
 * MIGRATE to the device runs migrate_vma_setup() over the file's mm,
 * allocates a device page per migrating page, copies and finishes with
 * migrate_vma_pages()/migrate_vma_finalize().  A CPU touch of the page
 * calls ->migrate_to_ram(), which moves it back the same way; so do
 * MIGRATE to system and a fault of another device (hmm_range_fault()
 * faults pages whose owner is not the caller).  Every migration
 * invalidates the range first, so the interval notifiers clear the GPU
 * PTEs of all VMs that mirror the pages before the data moves.
 *
 * At module exit every device page still in use is evicted to system
 * memory (migrate_device_range()), then the pages are unmapped
 * (memunmap_pages()) and the range released.
 *
 * Without CONFIG_DEVICE_PRIVATE nothing here is registered and MIGRATE
 * fails with -EOPNOTSUPP; the devmem allocations do not depend on it.
 */

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

/* Pages per migrate_vma_setup() call. */
#define VSVMH_MIGRATE_CHUNK	64

static int vsvmh_migrate_check(const struct vsvmh_migrate *arg)
{
	if (arg->flags || (arg->dir != VSVMH_MIGRATE_TO_DEVICE &&
			   arg->dir != VSVMH_MIGRATE_TO_SYSTEM))
		return -EINVAL;
	if (!arg->len || !PAGE_ALIGNED(arg->host_va) ||
	    !PAGE_ALIGNED(arg->len) || arg->host_va + arg->len < arg->host_va ||
	    arg->host_va + arg->len > TASK_SIZE)
		return -EINVAL;
	return 0;
}

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)

/**
 * struct vsvmh_dpmem - a device's device-private memory
 * @pagemap: the ZONE_DEVICE pages
 * @res: the physical range they occupy
 * @device: the owner, also @pagemap.owner
 * @lock: guards @free and @nr_used
 * @free: free pages, linked through zone_device_data
 * @nr_used: pages handed out and not yet freed
 * @nr_pages: usable pages (mem_mb worth; the range may be larger)
 */
struct vsvmh_dpmem {
	struct dev_pagemap pagemap;
	struct resource *res;
	struct vsvmh_device *device;
	spinlock_t lock;	/* leaf; page_free may run in any context */
	struct page *free;
	unsigned long nr_used;
	unsigned long nr_pages;
};

static struct vsvmh_dpmem *vsvmh_page_dpmem(struct page *page)
{
	return container_of(page->pgmap, struct vsvmh_dpmem, pagemap);
}

/* A device page, locked with one reference, with its backing page. */
static struct page *vsvmh_dpmem_alloc_page(struct vsvmh_dpmem *dp)
{
	struct page *page, *backing;

	backing = alloc_page(GFP_HIGHUSER | __GFP_NOWARN);
	if (!backing)
		return NULL;
	if (!vsvmh_mem_charge(dp->device, PAGE_SIZE))
		goto err_free_backing;
	spin_lock(&dp->lock);
	page = dp->free;
	if (page) {
		dp->free = page->zone_device_data;
		dp->nr_used++;
	}
	spin_unlock(&dp->lock);
	if (!page)
		goto err_uncharge;
	page->zone_device_data = backing;
	zone_device_page_init(page);
	return page;

err_uncharge:
	vsvmh_mem_uncharge(dp->device, PAGE_SIZE);
err_free_backing:
	__free_page(backing);
	return NULL;
}

/* dev_pagemap_ops.page_free: the last reference to a device page went. */
static void vsvmh_dpmem_page_free(struct page *page)
{
	struct vsvmh_dpmem *dp = vsvmh_page_dpmem(page);
	struct page *backing = page->zone_device_data;

	if (backing)
		__free_page(backing);
	spin_lock(&dp->lock);
	page->zone_device_data = dp->free;
	dp->free = page;
	dp->nr_used--;
	spin_unlock(&dp->lock);
	vsvmh_mem_uncharge(dp->device, PAGE_SIZE);
}

/*
 * Fills args->dst with locked system pages holding the data of the device
 * pages args->src selected.  Return: 0 or -ENOMEM (some pages stay).
 */
static int vsvmh_migrate_fill_system(unsigned long *src, unsigned long *dst,
				     unsigned long npages,
				     struct vm_area_struct *vma,
				     unsigned long addr)
{
	unsigned long i;
	int ret = 0;

	for (i = 0; i < npages; i++, addr += PAGE_SIZE) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		if (!dpage) {
			ret = -ENOMEM;
			continue;
		}
		lock_page(dpage);
		copy_highpage(dpage, spage->zone_device_data);
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	return ret;
}

/* dev_pagemap_ops.migrate_to_ram: a CPU touched a device page. */
static vm_fault_t vsvmh_dpmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct vsvmh_dpmem *dp = vsvmh_page_dpmem(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PAGE_MASK,
		.end = (vmf->address & PAGE_MASK) + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = dp->device,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	int ret;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	ret = vsvmh_migrate_fill_system(&src, &dst, 1, args.vma, args.start);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return ret ? VM_FAULT_OOM : 0;
}

static const struct dev_pagemap_ops vsvmh_dpmem_ops = {
	.page_free = vsvmh_dpmem_page_free,
	.migrate_to_ram = vsvmh_dpmem_migrate_to_ram,
};

/**
 * vsvmh_dpmem_backing - the system page behind one of a device's pages
 * @device: the device
 * @page: a device-private page
 *
 * Context: the page is mapped and its mapping cannot change (an interval
 * notifier's read side, under the VM lock).
 *
 * Return: the backing page, or NULL when @page is not @device's.
 */
struct page *vsvmh_dpmem_backing(struct vsvmh_device *device,
				 struct page *page)
{
	if (!is_device_private_page(page) || page->pgmap->owner != device)
		return NULL;
	return page->zone_device_data;
}

/**
 * vsvmh_dpmem_init - register a device's device-private memory
 * @device: the device
 *
 * Return: 0 or a negative errno; the caller carries on without it.
 */
int vsvmh_dpmem_init(struct vsvmh_device *device)
{
	u64 section = PAGES_PER_SECTION << PAGE_SHIFT;
	struct vsvmh_dpmem *dp;
	unsigned long pfn, i;
	void *addr;
	int ret;

	dp = kzalloc(sizeof(*dp), GFP_KERNEL);
	if (!dp)
		return -ENOMEM;
	dp->device = device;
	spin_lock_init(&dp->lock);
	dp->nr_pages = device->mem_size >> PAGE_SHIFT;

	dp->res = request_free_mem_region(&iomem_resource,
					  ALIGN(device->mem_size, section),
					  "vsvm_host");
	if (IS_ERR(dp->res)) {
		ret = PTR_ERR(dp->res);
		goto err_free;
	}
	dp->pagemap.type = MEMORY_DEVICE_PRIVATE;
	dp->pagemap.range.start = dp->res->start;
	dp->pagemap.range.end = dp->res->end;
	dp->pagemap.nr_range = 1;
	dp->pagemap.ops = &vsvmh_dpmem_ops;
	dp->pagemap.owner = device;
	addr = memremap_pages(&dp->pagemap, numa_node_id());
	if (IS_ERR(addr)) {
		ret = PTR_ERR(addr);
		goto err_release;
	}

	pfn = dp->res->start >> PAGE_SHIFT;
	for (i = dp->nr_pages; i--;) {
		struct page *page = pfn_to_page(pfn + i);

		page->zone_device_data = dp->free;
		dp->free = page;
	}
	device->dpmem = dp;
	return 0;

err_release:
	release_mem_region(dp->res->start, resource_size(dp->res));
err_free:
	kfree(dp);
	return ret;
}

/* Moves every device page still in use back to system memory. */
static void vsvmh_dpmem_evict(struct vsvmh_dpmem *dp)
{
	unsigned long src[VSVMH_MIGRATE_CHUNK], dst[VSVMH_MIGRATE_CHUNK];
	unsigned long start = dp->res->start >> PAGE_SHIFT;
	unsigned long used, i, n;
	unsigned int tries;

	for (tries = 0; tries < 100; tries++) {
		spin_lock(&dp->lock);
		used = dp->nr_used;
		spin_unlock(&dp->lock);
		if (!used)
			return;
		for (i = 0; i < dp->nr_pages; i += n) {
			n = min_t(unsigned long, VSVMH_MIGRATE_CHUNK,
				  dp->nr_pages - i);
			memset(dst, 0, sizeof(dst));
			migrate_device_range(src, start + i, n);
			vsvmh_migrate_fill_system(src, dst, n, NULL, 0);
			migrate_device_pages(src, dst, n);
			migrate_device_finalize(src, dst, n);
			cond_resched();
		}
		/* Pages that were locked by someone else: try again. */
		msleep(20);
	}
	pr_warn("vsvm_host: %lu device pages still in use at exit\n", used);
}

/**
 * vsvmh_dpmem_fini - evict and unregister a device's device-private memory
 * @device: the device; no file of it is open
 */
void vsvmh_dpmem_fini(struct vsvmh_device *device)
{
	struct vsvmh_dpmem *dp = device->dpmem;

	if (!dp)
		return;
	vsvmh_dpmem_evict(dp);
	memunmap_pages(&dp->pagemap);
	release_mem_region(dp->res->start, resource_size(dp->res));
	kfree(dp);
	device->dpmem = NULL;
}

/* Fills dst with device pages for the system pages src selected. */
static int vsvmh_migrate_fill_device(struct vsvmh_dpmem *dp,
				     struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = vsvmh_dpmem_alloc_page(dp);
		if (!dpage)
			return -ENOSPC;
		if (spage)
			copy_highpage(dpage->zone_device_data, spage);
		else
			clear_highpage(dpage->zone_device_data);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	return 0;
}

/* One chunk inside one VMA.  Adds the pages moved to *moved. */
static int vsvmh_migrate_chunk(struct vsvmh_dpmem *dp,
			       struct vm_area_struct *vma, unsigned long start,
			       unsigned long end, u32 dir, unsigned long *src,
			       unsigned long *dst, u64 *moved)
{
	struct migrate_vma args = {
		.vma = vma,
		.start = start,
		.end = end,
		.src = src,
		.dst = dst,
		.pgmap_owner = dp->device,
	};
	unsigned long i;
	int ret;

	memset(src, 0, VSVMH_MIGRATE_CHUNK * sizeof(*src));
	memset(dst, 0, VSVMH_MIGRATE_CHUNK * sizeof(*dst));
	args.flags = dir == VSVMH_MIGRATE_TO_DEVICE ?
		     MIGRATE_VMA_SELECT_SYSTEM :
		     MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
	/* VMAs migrate_vma cannot handle (hugetlb, special) just stay. */
	if (migrate_vma_setup(&args))
		return 0;
	if (dir == VSVMH_MIGRATE_TO_DEVICE)
		ret = vsvmh_migrate_fill_device(dp, &args);
	else
		ret = vsvmh_migrate_fill_system(args.src, args.dst,
						args.npages, vma, start);
	migrate_vma_pages(&args);
	for (i = 0; i < args.npages; i++)
		if ((args.src[i] & MIGRATE_PFN_MIGRATE) && args.dst[i])
			(*moved)++;
	migrate_vma_finalize(&args);
	return ret;
}

/*
 * Pages in another device's memory come back to system memory first, so
 * that MIGRATE to this device finds them (migrate_vma selects either
 * system pages or one owner's device pages, not both).
 */
static void vsvmh_migrate_from_peers(struct vsvmh_dpmem *dp,
				     struct vm_area_struct *vma,
				     unsigned long start, unsigned long end,
				     unsigned long *src, unsigned long *dst)
{
	struct vsvmh_device *peer;
	unsigned int i;
	u64 moved = 0;

	for (i = 0; (peer = vsvmh_device_at(i)); i++) {
		if (peer == dp->device || !peer->dpmem)
			continue;
		vsvmh_migrate_chunk(peer->dpmem, vma, start, end,
				    VSVMH_MIGRATE_TO_SYSTEM, src, dst, &moved);
	}
}

static int vsvmh_migrate_range(struct vsvmh_dpmem *dp, struct mm_struct *mm,
			       struct vsvmh_migrate *arg)
{
	unsigned long addr = arg->host_va, end = arg->host_va + arg->len;
	unsigned long *src, *dst;
	int ret = 0;

	src = kcalloc(2 * VSVMH_MIGRATE_CHUNK, sizeof(*src), GFP_KERNEL);
	if (!src)
		return -ENOMEM;
	dst = src + VSVMH_MIGRATE_CHUNK;

	mmap_read_lock(mm);
	while (addr < end && !ret) {
		struct vm_area_struct *vma = find_vma(mm, addr);
		unsigned long next;

		if (!vma || vma->vm_start >= end)
			break;
		addr = max(addr, vma->vm_start);
		next = min3(end, vma->vm_end,
			    addr + VSVMH_MIGRATE_CHUNK * PAGE_SIZE);
		if (arg->dir == VSVMH_MIGRATE_TO_DEVICE)
			vsvmh_migrate_from_peers(dp, vma, addr, next, src, dst);
		ret = vsvmh_migrate_chunk(dp, vma, addr, next, arg->dir, src,
					  dst, &arg->pages);
		addr = next;
		if (fatal_signal_pending(current))
			ret = -EINTR;
	}
	mmap_read_unlock(mm);
	kfree(src);
	return ret;
}

/**
 * vsvmh_ioctl_migrate - VSVMH_IOCTL_MIGRATE
 * @file: the file
 * @uarg: struct vsvmh_migrate; @pages is written back also on -ENOSPC
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP, -ENOSPC, -ENOMEM, -EINTR, -EFAULT.
 */
int vsvmh_ioctl_migrate(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_dpmem *dp = file->device->dpmem;
	struct vsvmh_migrate arg;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	ret = vsvmh_migrate_check(&arg);
	if (ret)
		return ret;
	if (!dp)
		return -EOPNOTSUPP;
	if (!mmget_not_zero(file->mm))
		return -EINVAL;
	arg.pages = 0;
	ret = vsvmh_migrate_range(dp, file->mm, &arg);
	mmput(file->mm);
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return ret;
}

#else /* !CONFIG_DEVICE_PRIVATE */

int vsvmh_dpmem_init(struct vsvmh_device *device)
{
	return -EOPNOTSUPP;
}

void vsvmh_dpmem_fini(struct vsvmh_device *device)
{
}

struct page *vsvmh_dpmem_backing(struct vsvmh_device *device,
				 struct page *page)
{
	return NULL;
}

int vsvmh_ioctl_migrate(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_migrate arg;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	ret = vsvmh_migrate_check(&arg);
	return ret ? ret : -EOPNOTSUPP;
}

#endif /* CONFIG_DEVICE_PRIVATE */
