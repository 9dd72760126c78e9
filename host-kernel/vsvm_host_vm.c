// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_vm.c - GPU VMs and the ranges mapped into them.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: VMs and mappings
 *
 * A VM is a GPU VA space: an interval tree of mappings and a page table.
 * A mapping is a GPU range that shows either a host VA range of the file's
 * mm (a mirror, resolved with HMM on a device miss) or device memory (a
 * devmem allocation).  A native VM holds one mirror covering the whole user
 * address space at GPU VA == host VA.
 *
 * Mappings never change shape.  MIRROR, DEVMEM_MAP and UNMAP replace what
 * the VM had in a range, as mmap(MAP_FIXED) and munmap() do, in three
 * steps under vm->update_lock::
 *
 *   old:      [======== A ========]
 *   replace:          [ new ]
 *   step 1:   [ A1 ]           [A2]   remnants allocated, their notifiers
 *                                     inserted (no vm->lock: may sleep)
 *   step 2:   [ A1 ][ new ][A2]       under vm->lock: unlink A, link the
 *                                     remnants and new, clear the PTEs of
 *                                     the replaced range
 *   step 3:   A's notifier removed, A put (no vm->lock: removal waits for
 *             running invalidations, which take vm->lock)
 *
 * Between steps 1 and 3 both A and its remnants have notifiers, so every
 * host invalidation of the remnants' pages is seen by one of them; after
 * step 2, A's notifier no longer touches the page table (A is unlinked).
 */

#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

/* Remnants of the mappings a replace splits, built in step 1. */
struct vsvmh_replace {
	struct vsvmh_mapping *remnant[2];
	unsigned int nr_remnant;
	u64 clear_start, clear_end;	/* PTEs to clear */
};

static void vsvmh_vm_release(struct kref *ref)
{
	struct vsvmh_gpuvm *vm = container_of(ref, struct vsvmh_gpuvm, ref);

	/* Teardown emptied the tree and freed the page table. */
	mutex_destroy(&vm->lock);
	mutex_destroy(&vm->update_lock);
	kfree(vm);
}

/**
 * vsvmh_vm_put - drop a reference to a VM
 * @vm: the VM
 */
void vsvmh_vm_put(struct vsvmh_gpuvm *vm)
{
	kref_put(&vm->ref, vsvmh_vm_release);
}

/**
 * vsvmh_vm_get - look a VM up by id
 * @file: the file
 * @vm_id: the id
 *
 * Return: the VM with a reference the caller puts, or NULL.
 */
struct vsvmh_gpuvm *vsvmh_vm_get(struct vsvmh_file *file, u32 vm_id)
{
	struct vsvmh_gpuvm *vm;

	xa_lock(&file->vms);
	vm = xa_load(&file->vms, vm_id);
	if (vm)
		kref_get(&vm->ref);
	xa_unlock(&file->vms);
	return vm;
}

/**
 * vsvmh_mapping_alloc - a new mapping, not yet in any tree
 * @vm: its VM
 * @start: first GPU VA
 * @end: end GPU VA (exclusive)
 * @prot: VSVMH_PROT_*
 *
 * Return: the mapping with one reference, or NULL.
 */
struct vsvmh_mapping *vsvmh_mapping_alloc(struct vsvmh_gpuvm *vm, u64 start,
					  u64 end, u32 prot)
{
	struct vsvmh_mapping *m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);

	if (!m)
		return NULL;
	kref_init(&m->ref);
	m->vm = vm;
	m->prot = prot;
	m->node.start = start;
	m->node.last = end - 1;
	return m;
}

static void vsvmh_mapping_release(struct kref *ref)
{
	struct vsvmh_mapping *m = container_of(ref, struct vsvmh_mapping, ref);

	if (m->notifier_live)
		mmu_interval_notifier_remove(&m->notifier);
	if (m->alloc)
		vsvmh_devmem_put(m->alloc);
	kfree(m);
}

/**
 * vsvmh_mapping_put - drop a reference; the last one removes the notifier
 * @m: the mapping
 *
 * Context: may sleep; no vsvm lock but vm->update_lock may be held.
 */
void vsvmh_mapping_put(struct vsvmh_mapping *m)
{
	kref_put(&m->ref, vsvmh_mapping_release);
}

/**
 * vsvmh_vm_find_locked - the mapping that covers a GPU VA
 * @vm: the VM, its lock or update_lock held
 * @va: the address
 *
 * Return: the mapping (no reference taken), or NULL.
 */
struct vsvmh_mapping *vsvmh_vm_find_locked(struct vsvmh_gpuvm *vm, u64 va)
{
	struct interval_tree_node *node;

	node = interval_tree_iter_first(&vm->mappings, va, va);
	return node ? container_of(node, struct vsvmh_mapping, node) : NULL;
}

/**
 * vsvmh_vm_check_range - validate a GPU range of a proxy VM
 * @vm: the VM
 * @gpu_va: start
 * @len: bytes
 *
 * Return: 0, -EINVAL (unaligned, empty or wrapping), -ERANGE (beyond the
 * VM's VA space) or -EPERM (a native VM has no GPU ranges of its own).
 */
int vsvmh_vm_check_range(struct vsvmh_gpuvm *vm, u64 gpu_va, u64 len)
{
	if (!len || !PAGE_ALIGNED(gpu_va) || !PAGE_ALIGNED(len) ||
	    gpu_va + len < gpu_va)
		return -EINVAL;
	if (vm->native)
		return -EPERM;
	if (gpu_va >= vm->va_end || len > vm->va_end - gpu_va)
		return -ERANGE;
	return 0;
}

/* A remnant of @old covering [start, end) of it, with its own notifier. */
static struct vsvmh_mapping *vsvmh_mapping_split(struct vsvmh_mapping *old,
						 u64 start, u64 end)
{
	struct vsvmh_mapping *m;
	u64 delta = start - old->node.start;
	int ret;

	m = vsvmh_mapping_alloc(old->vm, start, end, old->prot);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->kind = old->kind;
	if (old->kind == VSVMH_MAPPING_DEVMEM) {
		kref_get(&old->alloc->ref);
		m->alloc = old->alloc;
		m->offset = old->offset + delta;
		return m;
	}
	ret = vsvmh_mirror_start(m, old->host_start + delta);
	if (ret) {
		vsvmh_mapping_put(m);
		return ERR_PTR(ret);
	}
	return m;
}

static void vsvmh_replace_undo(struct vsvmh_replace *rp)
{
	while (rp->nr_remnant)
		vsvmh_mapping_put(rp->remnant[--rp->nr_remnant]);
}

/*
 * Step 1: count what [start, end) overlaps and build the remnants of the
 * first and the last overlapped mapping, the only ones that can straddle.
 */
static int vsvmh_replace_prepare(struct vsvmh_gpuvm *vm, u64 start, u64 end,
				 struct vsvmh_replace *rp, bool adding)
{
	struct vsvmh_mapping *first = NULL, *last = NULL, *r;
	struct interval_tree_node *node;
	unsigned int nr = 0, grow;

	lockdep_assert_held(&vm->update_lock);
	rp->nr_remnant = 0;
	rp->clear_start = start;
	rp->clear_end = end;
	for (node = interval_tree_iter_first(&vm->mappings, start, end - 1);
	     node; node = interval_tree_iter_next(node, start, end - 1)) {
		last = container_of(node, struct vsvmh_mapping, node);
		if (!first)
			first = last;
		nr++;
	}
	if (!nr)
		return vm->nr_mappings + adding > VSVMH_MAX_MAPPINGS ?
		       -ENOSPC : 0;
	grow = (first->node.start < start) + (vsvmh_mapping_end(last) > end);
	if (vm->nr_mappings - nr + grow + adding > VSVMH_MAX_MAPPINGS) {
		if (adding)
			return -ENOSPC;
		/*
		 * An unmap is an invalidation and must not fail: rather than
		 * split past the limit, drop the straddling mappings whole.
		 * Removing more than asked is safe; the owner sees faults.
		 */
		rp->clear_start = first->node.start;
		rp->clear_end = vsvmh_mapping_end(last);
		return 0;
	}

	if (first->node.start < start) {
		r = vsvmh_mapping_split(first, first->node.start, start);
		if (IS_ERR(r))
			goto err_undo;
		rp->remnant[rp->nr_remnant++] = r;
	}
	if (vsvmh_mapping_end(last) > end) {
		r = vsvmh_mapping_split(last, end, vsvmh_mapping_end(last));
		if (IS_ERR(r))
			goto err_undo;
		rp->remnant[rp->nr_remnant++] = r;
	}
	return 0;

err_undo:
	vsvmh_replace_undo(rp);
	return PTR_ERR(r);
}

static void vsvmh_vm_link(struct vsvmh_gpuvm *vm, struct vsvmh_mapping *m)
{
	lockdep_assert_held(&vm->lock);
	interval_tree_insert(&m->node, &vm->mappings);
	m->linked = true;
	vm->nr_mappings++;
}

/* Moves @m from the tree to @gone; the caller puts it after vm->lock. */
static void vsvmh_vm_unlink(struct vsvmh_gpuvm *vm, struct vsvmh_mapping *m,
			    struct list_head *gone)
{
	lockdep_assert_held(&vm->lock);
	interval_tree_remove(&m->node, &vm->mappings);
	m->linked = false;
	vm->nr_mappings--;
	list_add_tail(&m->gone_node, gone);
}

static void vsvmh_mapping_put_list(struct list_head *gone)
{
	struct vsvmh_mapping *m, *tmp;

	list_for_each_entry_safe(m, tmp, gone, gone_node) {
		list_del(&m->gone_node);
		vsvmh_mapping_put(m);
	}
}

/**
 * vsvmh_vm_replace - make a GPU range show @new (or nothing)
 * @vm: the VM; the caller holds a reference
 * @start: first GPU VA, page aligned
 * @end: end GPU VA, page aligned, > @start
 * @new: the mapping for exactly [start, end) (its notifier, if any,
 *	already inserted), or NULL to unmap; consumed on success
 *
 * Return: 0 when no device access can reach what the range showed before;
 * -ENOSPC (the VM's mapping limit; never for an unmap, which removes the
 * straddling mappings whole instead of splitting past the limit), -ENOMEM,
 * -EINVAL (the VM was destroyed).  On error the VM is unchanged.
 */
int vsvmh_vm_replace(struct vsvmh_gpuvm *vm, u64 start, u64 end,
		     struct vsvmh_mapping *new)
{
	struct interval_tree_node *node, *next;
	struct vsvmh_replace rp;
	LIST_HEAD(gone);
	unsigned int i;
	int ret;

	mutex_lock(&vm->update_lock);
	if (vm->dead) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ret = vsvmh_replace_prepare(vm, start, end, &rp, new);
	if (ret)
		goto out_unlock;

	mutex_lock(&vm->lock);
	for (node = interval_tree_iter_first(&vm->mappings, start, end - 1);
	     node; node = next) {
		next = interval_tree_iter_next(node, start, end - 1);
		vsvmh_vm_unlink(vm, container_of(node, struct vsvmh_mapping,
						 node), &gone);
	}
	for (i = 0; i < rp.nr_remnant; i++)
		vsvmh_vm_link(vm, rp.remnant[i]);
	if (new)
		vsvmh_vm_link(vm, new);
	vsvmh_pt_clear(&vm->pt, rp.clear_start, rp.clear_end);
	mutex_unlock(&vm->lock);

	vsvmh_mapping_put_list(&gone);
out_unlock:
	mutex_unlock(&vm->update_lock);
	return ret;
}

/**
 * vsvmh_vm_remove_alloc - unmap every range of @vm that shows @alloc
 * @vm: the VM
 * @alloc: the devmem allocation being freed
 */
void vsvmh_vm_remove_alloc(struct vsvmh_gpuvm *vm,
			   struct vsvmh_devmem_alloc *alloc)
{
	struct interval_tree_node *node, *next;
	struct vsvmh_mapping *m;
	LIST_HEAD(gone);

	mutex_lock(&vm->update_lock);
	mutex_lock(&vm->lock);
	for (node = interval_tree_iter_first(&vm->mappings, 0, ULONG_MAX);
	     node; node = next) {
		next = interval_tree_iter_next(node, 0, ULONG_MAX);
		m = container_of(node, struct vsvmh_mapping, node);
		if (m->alloc != alloc)
			continue;
		vsvmh_vm_unlink(vm, m, &gone);
		vsvmh_pt_clear(&vm->pt, m->node.start, vsvmh_mapping_end(m));
	}
	mutex_unlock(&vm->lock);
	vsvmh_mapping_put_list(&gone);
	mutex_unlock(&vm->update_lock);
}

/**
 * vsvmh_vm_teardown - empty a VM that has left the file's table
 * @vm: the VM; the caller holds the table's former reference
 *
 * Marks the VM dead so accessors give up with -ECANCELED, frees its page
 * table, cancels its pending faults and removes every mapping.  Ioctls
 * still holding references see @dead and fail.
 */
void vsvmh_vm_teardown(struct vsvmh_gpuvm *vm)
{
	struct interval_tree_node *node;
	LIST_HEAD(gone);

	mutex_lock(&vm->update_lock);
	mutex_lock(&vm->lock);
	vm->dead = true;
	while ((node = interval_tree_iter_first(&vm->mappings, 0,
						ULONG_MAX)))
		vsvmh_vm_unlink(vm, container_of(node, struct vsvmh_mapping,
						 node), &gone);
	vsvmh_pt_destroy(&vm->pt);
	mutex_unlock(&vm->lock);

	vsvmh_fault_cancel_vm(vm);
	vsvmh_mapping_put_list(&gone);
	mutex_unlock(&vm->update_lock);
}

static unsigned int vsvmh_host_va_bits(void)
{
	return TASK_SIZE_MAX > (1UL << 47) ? 57 : 48;
}

/**
 * vsvmh_ioctl_vm_create - VSVMH_IOCTL_VM_CREATE
 * @file: the file
 * @uarg: struct vsvmh_vm_create
 *
 * Return: 0, -EINVAL, -ENOSPC (max_vms), -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_vm_create(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_vm_create arg;
	struct vsvmh_gpuvm *vm;
	unsigned int va_bits;
	u32 id;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~VSVMH_VM_NATIVE) || arg.reserved || arg.vm_id)
		return -EINVAL;
	va_bits = arg.va_bits ? arg.va_bits : 48;
	if (arg.flags & VSVMH_VM_NATIVE) {
		if (arg.va_bits && arg.va_bits != vsvmh_host_va_bits())
			return -EINVAL;
		va_bits = vsvmh_host_va_bits();
	} else if (va_bits < 47 || va_bits > 57) {
		return -EINVAL;
	}

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return -ENOMEM;
	kref_init(&vm->ref);
	vm->file = file;
	vm->native = arg.flags & VSVMH_VM_NATIVE;
	vm->va_end = vm->native ? TASK_SIZE : 1ULL << va_bits;
	mutex_init(&vm->update_lock);
	mutex_init(&vm->lock);
	vm->mappings = RB_ROOT_CACHED;
	ret = vsvmh_pt_init(&vm->pt, va_bits);
	if (ret)
		goto err_free_vm;
	if (vm->native) {
		ret = vsvmh_native_init(vm);
		if (ret)
			goto err_teardown;
	}

	mutex_lock(&file->lock);
	if (file->nr_vms >= VSVMH_MAX_VMS) {
		ret = -ENOSPC;
	} else {
		ret = xa_alloc(&file->vms, &id, vm, xa_limit_31b,
			       GFP_KERNEL_ACCOUNT);
		if (ret == -EBUSY)
			ret = -ENOSPC;
	}
	if (!ret) {
		vm->id = id;
		file->nr_vms++;
	}
	mutex_unlock(&file->lock);
	if (ret)
		goto err_teardown;

	/*
	 * The VM is visible from here on: should this copy fail, userspace
	 * cannot learn the id, but the VM goes with the file.
	 */
	arg.vm_id = id;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;

err_teardown:
	vsvmh_vm_teardown(vm);
	vsvmh_vm_put(vm);
	return ret;
err_free_vm:
	mutex_destroy(&vm->lock);
	mutex_destroy(&vm->update_lock);
	kfree(vm);
	return ret;
}

/**
 * vsvmh_ioctl_vm_destroy - VSVMH_IOCTL_VM_DESTROY
 * @file: the file
 * @uarg: struct vsvmh_gpuvm
 *
 * Return: 0, -EINVAL (no such VM), -EFAULT.
 */
int vsvmh_ioctl_vm_destroy(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_vm arg;
	struct vsvmh_gpuvm *vm;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved || !arg.vm_id)
		return -EINVAL;

	mutex_lock(&file->lock);
	vm = xa_erase(&file->vms, arg.vm_id);
	if (vm)
		file->nr_vms--;
	mutex_unlock(&file->lock);
	if (!vm)
		return -EINVAL;
	vsvmh_vm_teardown(vm);
	vsvmh_vm_put(vm);
	return 0;
}

/**
 * vsvmh_ioctl_unmap - VSVMH_IOCTL_UNMAP
 * @file: the file
 * @uarg: struct vsvmh_range
 *
 * Return: 0 once no device access reaches the range; -EINVAL (also for
 * a range beyond the VM), -EPERM (native VM), -ENOSPC (splitting would pass the mapping limit),
 * -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_unmap(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_range arg;
	struct vsvmh_gpuvm *vm;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved)
		return -EINVAL;
	vm = vsvmh_vm_get(file, arg.vm_id);
	if (!vm)
		return -EINVAL;
	ret = vsvmh_vm_check_range(vm, arg.gpu_va, arg.len);
	/* The uapi names no -ERANGE for UNMAP: beyond the VM is malformed. */
	if (ret == -ERANGE)
		ret = -EINVAL;
	if (!ret)
		ret = vsvmh_vm_replace(vm, arg.gpu_va, arg.gpu_va + arg.len,
				       NULL);
	vsvmh_vm_put(vm);
	return ret;
}

/**
 * vsvmh_ioctl_vm_stats - VSVMH_IOCTL_VM_STATS
 * @file: the file
 * @uarg: struct vsvmh_vm_stats
 *
 * Return: 0, -EINVAL, -EFAULT.
 */
int vsvmh_ioctl_vm_stats(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_vm_stats arg;
	struct vsvmh_gpuvm *vm;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved || arg.reserved2)
		return -EINVAL;
	vm = vsvmh_vm_get(file, arg.vm_id);
	if (!vm)
		return -EINVAL;

	memset(&arg, 0, sizeof(arg));
	arg.vm_id = vm->id;
	mutex_lock(&vm->lock);
	arg.pt_bytes = vm->pt.tables * PAGE_SIZE;
	arg.mapped_bytes = vm->pt.mapped_bytes;
	arg.huge_mapped_bytes = vm->pt.huge_mapped_bytes;
	arg.mirrors = vm->native ? 0 : vm->nr_mappings;
	mutex_unlock(&vm->lock);
	arg.faults_kernel = atomic64_read(&vm->faults_kernel);
	arg.faults_user = atomic64_read(&vm->faults_user);
	arg.invalidations = atomic64_read(&vm->invalidations);
	vsvmh_vm_put(vm);

	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}
