// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_devmem.c - device memory: allocations, mappings, copy engine.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Device memory
 *
 * Each device has mem_mb of memory, a budget that two users share:
 *
 *  - allocations (VSVMH_IOCTL_DEVMEM_ALLOC) that a file owns by handle, for
 *    the proxy's guest-driven migration: COPY moves data between them and
 *    the file's host memory or another device's allocation, DEVMEM_MAP
 *    points GPU ranges of a VM at them.  These work on every kernel: the
 *    software device's memory is system pages, allocated when the handle
 *    is;
 *  - device-private pages that MIGRATE moves anonymous host memory into
 *    (vsvm_host_migrate.c), only where the kernel has
 *    CONFIG_DEVICE_PRIVATE.
 *
 * An allocation is reference counted: its handle, every mapping of it and
 * every copy in flight hold one, so DEVMEM_FREE (which first unmaps it from
 * every VM of the file) never frees memory a device access or a copy still
 * uses.  The handle table is guarded by vsvmh_file.lock; the pages are
 * immutable once allocated.
 */

#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

/**
 * vsvmh_mem_charge - take bytes from a device's memory budget
 * @device: the device
 * @bytes: how much
 *
 * Return: true when they fit.
 */
bool vsvmh_mem_charge(struct vsvmh_device *device, u64 bytes)
{
	s64 used = atomic64_add_return(bytes, &device->mem_used);

	if (used > device->mem_size) {
		atomic64_sub(bytes, &device->mem_used);
		return false;
	}
	return true;
}

/**
 * vsvmh_mem_uncharge - give bytes back to the budget
 * @device: the device
 * @bytes: how much
 */
void vsvmh_mem_uncharge(struct vsvmh_device *device, u64 bytes)
{
	atomic64_sub(bytes, &device->mem_used);
}

static void vsvmh_devmem_release(struct kref *ref)
{
	struct vsvmh_devmem_alloc *alloc =
		container_of(ref, struct vsvmh_devmem_alloc, ref);
	unsigned long i;

	for (i = 0; i < alloc->npages; i++)
		if (alloc->pages[i])
			__free_page(alloc->pages[i]);
	kvfree(alloc->pages);
	vsvmh_mem_uncharge(alloc->device, (u64)alloc->npages << PAGE_SHIFT);
	kfree(alloc);
}

/**
 * vsvmh_devmem_put - drop a reference to an allocation
 * @alloc: the allocation
 */
void vsvmh_devmem_put(struct vsvmh_devmem_alloc *alloc)
{
	kref_put(&alloc->ref, vsvmh_devmem_release);
}

static struct vsvmh_devmem_alloc *vsvmh_devmem_get(struct vsvmh_file *file,
						   u32 handle)
{
	struct vsvmh_devmem_alloc *alloc;

	xa_lock(&file->devmem);
	alloc = xa_load(&file->devmem, handle);
	if (alloc)
		kref_get(&alloc->ref);
	xa_unlock(&file->devmem);
	return alloc;
}

/* [offset, offset + len) inside @alloc, page aligned and non-empty? */
static bool vsvmh_devmem_range_ok(struct vsvmh_devmem_alloc *alloc,
				  u64 offset, u64 len)
{
	u64 size = (u64)alloc->npages << PAGE_SHIFT;

	return len && PAGE_ALIGNED(offset) && PAGE_ALIGNED(len) &&
	       offset < size && len <= size - offset;
}

/**
 * vsvmh_ioctl_devmem_alloc - VSVMH_IOCTL_DEVMEM_ALLOC
 * @file: the file
 * @uarg: struct vsvmh_devmem
 *
 * Return: 0, -EINVAL, -ENOSPC (device memory or the handle limit used up),
 * -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_devmem_alloc(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_device *device = file->device;
	struct vsvmh_devmem_alloc *alloc;
	struct vsvmh_devmem arg;
	unsigned long i;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || !arg.size || !PAGE_ALIGNED(arg.size))
		return -EINVAL;
	if (arg.size > device->mem_size)
		return -ENOSPC;
	if (!vsvmh_mem_charge(device, arg.size))
		return -ENOSPC;

	ret = -ENOMEM;
	alloc = kzalloc(sizeof(*alloc), GFP_KERNEL_ACCOUNT);
	if (!alloc)
		goto err_uncharge;
	kref_init(&alloc->ref);
	alloc->device = device;
	alloc->npages = arg.size >> PAGE_SHIFT;
	alloc->pages = kvcalloc(alloc->npages, sizeof(*alloc->pages),
				GFP_KERNEL_ACCOUNT);
	if (!alloc->pages)
		goto err_free_alloc;
	for (i = 0; i < alloc->npages; i++) {
		alloc->pages[i] = alloc_page(GFP_HIGHUSER | __GFP_ZERO |
					     __GFP_ACCOUNT | __GFP_NOWARN);
		if (!alloc->pages[i])
			goto err_put;
		cond_resched();
	}

	mutex_lock(&file->lock);
	if (file->nr_devmem >= VSVMH_MAX_DEVMEM) {
		ret = -ENOSPC;
	} else {
		ret = xa_alloc(&file->devmem, &alloc->handle, alloc,
			       xa_limit_31b, GFP_KERNEL_ACCOUNT);
		if (ret == -EBUSY)
			ret = -ENOSPC;
	}
	if (!ret)
		file->nr_devmem++;
	mutex_unlock(&file->lock);
	if (ret)
		goto err_put;

	arg.handle = alloc->handle;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;	/* the allocation goes with the file */
	return 0;

err_put:
	/* The release frees the pages allocated so far and uncharges. */
	vsvmh_devmem_put(alloc);
	return ret;
err_free_alloc:
	kfree(alloc);
err_uncharge:
	vsvmh_mem_uncharge(device, arg.size);
	return ret;
}

/* Unmaps @alloc from every VM of the file and drops the handle's ref. */
static void vsvmh_devmem_unmap_all(struct vsvmh_file *file,
				   struct vsvmh_devmem_alloc *alloc)
{
	struct vsvmh_gpuvm *vm;
	unsigned long id;

	lockdep_assert_held(&file->lock);
	xa_for_each(&file->vms, id, vm)
		vsvmh_vm_remove_alloc(vm, alloc);
	vsvmh_devmem_put(alloc);
}

/**
 * vsvmh_ioctl_devmem_free - VSVMH_IOCTL_DEVMEM_FREE
 * @file: the file
 * @uarg: struct vsvmh_devmem (@size is ignored)
 *
 * Return: 0, -EINVAL (no such handle), -EFAULT.
 */
int vsvmh_ioctl_devmem_free(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_devmem_alloc *alloc;
	struct vsvmh_devmem arg;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || !arg.handle)
		return -EINVAL;

	mutex_lock(&file->lock);
	alloc = xa_erase(&file->devmem, arg.handle);
	if (alloc) {
		file->nr_devmem--;
		vsvmh_devmem_unmap_all(file, alloc);
	}
	mutex_unlock(&file->lock);
	return alloc ? 0 : -EINVAL;
}

/**
 * vsvmh_devmem_release_all - free every allocation of a closing file
 * @file: the file; its VMs are gone already
 */
void vsvmh_devmem_release_all(struct vsvmh_file *file)
{
	struct vsvmh_devmem_alloc *alloc;
	unsigned long handle;

	mutex_lock(&file->lock);
	xa_for_each(&file->devmem, handle, alloc) {
		xa_erase(&file->devmem, handle);
		file->nr_devmem--;
		vsvmh_devmem_unmap_all(file, alloc);
	}
	mutex_unlock(&file->lock);
}

/**
 * vsvmh_devmem_resolve - write the PTE for a device miss in a devmem mapping
 * @m: the mapping; the caller holds a reference
 * @gpu_va: the page
 *
 * Return: 0 (the caller replays) or -ENOMEM.
 */
int vsvmh_devmem_resolve(struct vsvmh_mapping *m, u64 gpu_va)
{
	struct vsvmh_gpuvm *vm = m->vm;
	struct vsvmh_pt_cache cache = { 0 };
	unsigned long index;
	u64 entry;
	int ret;

	ret = vsvmh_pt_cache_fill(&cache, vm->pt.levels - 1);
	if (ret)
		goto out_drain;
	index = (m->offset + (gpu_va - m->node.start)) >> PAGE_SHIFT;
	entry = VSVMH_PTE_VALID | VSVMH_PTE_DEVMEM |
		((u64)page_to_pfn(m->alloc->pages[index]) << PAGE_SHIFT);
	if (m->prot & VSVMH_PROT_WRITE)
		entry |= VSVMH_PTE_WRITE;
	if (m->prot & VSVMH_PROT_ATOMIC)
		entry |= VSVMH_PTE_ATOMIC;

	mutex_lock(&vm->lock);
	if (m->linked && !vm->dead)
		ret = vsvmh_pt_set(&vm->pt, gpu_va, false, entry, &cache);
	mutex_unlock(&vm->lock);
	if (!ret)
		atomic64_inc(&vm->faults_kernel);
out_drain:
	vsvmh_pt_cache_drain(&cache);
	return ret;
}

/**
 * vsvmh_ioctl_devmem_map - VSVMH_IOCTL_DEVMEM_MAP
 * @file: the file
 * @uarg: struct vsvmh_devmem_map
 *
 * Return: 0, -EINVAL, -ERANGE, -EPERM, -ENOSPC, -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_devmem_map(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_devmem_alloc *alloc;
	struct vsvmh_devmem_map arg;
	struct vsvmh_mapping *m;
	struct vsvmh_gpuvm *vm;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved || (arg.prot & ~VSVMH_PROT_ALL) ||
	    !(arg.prot & VSVMH_PROT_READ) ||
	    ((arg.prot & VSVMH_PROT_ATOMIC) && !(arg.prot & VSVMH_PROT_WRITE)))
		return -EINVAL;
	vm = vsvmh_vm_get(file, arg.vm_id);
	if (!vm)
		return -EINVAL;
	ret = vsvmh_vm_check_range(vm, arg.gpu_va, arg.len);
	if (ret)
		goto out_put_vm;
	alloc = vsvmh_devmem_get(file, arg.handle);
	if (!alloc) {
		ret = -EINVAL;
		goto out_put_vm;
	}
	if (!vsvmh_devmem_range_ok(alloc, arg.offset, arg.len)) {
		vsvmh_devmem_put(alloc);
		ret = -EINVAL;
		goto out_put_vm;
	}

	m = vsvmh_mapping_alloc(vm, arg.gpu_va, arg.gpu_va + arg.len, arg.prot);
	if (!m) {
		vsvmh_devmem_put(alloc);
		ret = -ENOMEM;
		goto out_put_vm;
	}
	m->kind = VSVMH_MAPPING_DEVMEM;
	m->alloc = alloc;	/* the mapping owns this reference now */
	m->offset = arg.offset;
	/*
	 * A FREE of the handle between the lookup and here would leave this
	 * mapping pointing at an allocation no handle names; take file->lock
	 * so that FREE's unmap-all sees the mapping or the lookup fails.
	 */
	mutex_lock(&file->lock);
	if (xa_load(&file->devmem, arg.handle) != alloc)
		ret = -EINVAL;
	else
		ret = vsvmh_vm_replace(vm, arg.gpu_va, arg.gpu_va + arg.len, m);
	mutex_unlock(&file->lock);
	if (ret)
		vsvmh_mapping_put(m);
out_put_vm:
	vsvmh_vm_put(vm);
	return ret;
}

/* Copies one device page to another; a page onto itself is a no-op. */
static void vsvmh_copy_page(struct page *dst, struct page *src)
{
	if (dst != src)
		copy_highpage(dst, src);
}

static int vsvmh_copy_host(struct vsvmh_devmem_alloc *alloc,
			   const struct vsvmh_copy *arg)
{
	void __user *uaddr = u64_to_user_ptr(arg->host_va);
	unsigned long first = arg->offset >> PAGE_SHIFT;
	unsigned long i, n = arg->len >> PAGE_SHIFT;
	unsigned long left;
	void *kaddr;

	for (i = 0; i < n; i++) {
		kaddr = kmap_local_page(alloc->pages[first + i]);
		if (arg->dir == VSVMH_COPY_TO_DEVMEM)
			left = copy_from_user(kaddr, uaddr, PAGE_SIZE);
		else
			left = copy_to_user(uaddr, kaddr, PAGE_SIZE);
		kunmap_local(kaddr);
		if (left)
			return -EFAULT;
		uaddr += PAGE_SIZE;
		cond_resched();
	}
	return 0;
}

static void vsvmh_copy_peer(struct vsvmh_devmem_alloc *dst, u64 dst_off,
			    struct vsvmh_devmem_alloc *src, u64 src_off,
			    u64 len)
{
	unsigned long d = dst_off >> PAGE_SHIFT, s = src_off >> PAGE_SHIFT;
	unsigned long i, n = len >> PAGE_SHIFT;

	/* Within one allocation, copy away from the overlap. */
	if (dst == src && d > s) {
		for (i = n; i--;) {
			vsvmh_copy_page(dst->pages[d + i], src->pages[s + i]);
			cond_resched();
		}
		return;
	}
	for (i = 0; i < n; i++) {
		vsvmh_copy_page(dst->pages[d + i], src->pages[s + i]);
		cond_resched();
	}
}

static int vsvmh_copy_check(const struct vsvmh_copy *arg)
{
	if (!arg->len || !PAGE_ALIGNED(arg->len) ||
	    !PAGE_ALIGNED(arg->offset))
		return -EINVAL;
	switch (arg->dir) {
	case VSVMH_COPY_TO_DEVMEM:
	case VSVMH_COPY_FROM_DEVMEM:
		if (arg->peer_fd != -1 || arg->peer_handle ||
		    arg->peer_offset)
			return -EINVAL;
		if (!PAGE_ALIGNED(arg->host_va) ||
		    arg->host_va + arg->len < arg->host_va ||
		    arg->host_va + arg->len > TASK_SIZE)
			return -EINVAL;
		return 0;
	case VSVMH_COPY_PEER:
		if (arg->host_va || !PAGE_ALIGNED(arg->peer_offset))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/**
 * vsvmh_ioctl_copy - VSVMH_IOCTL_COPY
 * @file: the file
 * @uarg: struct vsvmh_copy
 *
 * Return: 0, -EINVAL, -EBADF, -EFAULT.
 */
int vsvmh_ioctl_copy(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_devmem_alloc *alloc, *peer_alloc;
	struct vsvmh_file *peer;
	struct vsvmh_copy arg;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	ret = vsvmh_copy_check(&arg);
	if (ret)
		return ret;
	alloc = vsvmh_devmem_get(file, arg.handle);
	if (!alloc)
		return -EINVAL;
	if (!vsvmh_devmem_range_ok(alloc, arg.offset, arg.len)) {
		ret = -EINVAL;
		goto out_put;
	}
	if (arg.dir != VSVMH_COPY_PEER) {
		ret = vsvmh_copy_host(alloc, &arg);
		goto out_put;
	}

	peer = vsvmh_file_get_fd(arg.peer_fd, file);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out_put;
	}
	peer_alloc = vsvmh_devmem_get(peer, arg.peer_handle);
	if (!peer_alloc) {
		ret = -EINVAL;
	} else {
		if (vsvmh_devmem_range_ok(peer_alloc, arg.peer_offset,
					  arg.len))
			vsvmh_copy_peer(alloc, arg.offset, peer_alloc,
					arg.peer_offset, arg.len);
		else
			ret = -EINVAL;
		vsvmh_devmem_put(peer_alloc);
	}
	vsvmh_file_put(peer);
out_put:
	vsvmh_devmem_put(alloc);
	return ret;
}
