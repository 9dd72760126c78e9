// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_access.c - the software device reads, writes and adds.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Device access
 *
 * VSVMH_IOCTL_ACCESS makes the software device act as a GPU would: it
 * translates every page through the VM's page table, and only the page
 * table, with the permission the operation needs.  A miss goes where a GPU
 * fault would go::
 *
 *   PTE present, permission ok      copy under vm->lock
 *   miss in a mirror (or native VM) vsvmh_mirror_fault(), replay
 *   miss in a devmem mapping        vsvmh_devmem_resolve(), replay
 *   miss with no mapping            fault record to userspace, sleep until
 *                                   FAULT_REPLY, replay
 *   mapping lacks the permission    -EFAULT
 *
 * Data moves through a one-page bounce buffer: user memory is touched only
 * with no vsvm lock held (a page fault on it may invalidate and so take
 * vm->lock), and the device page only under vm->lock (the notifier clears
 * the PTE before the page can go away).
 */

#include <linux/atomic.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

struct vsvmh_access_ctx {
	struct vsvmh_gpuvm *vm;
	u32 op;
	bool nowait;
	unsigned long timeout;
	void *bounce;
};

static u64 vsvmh_access_need(u32 op)
{
	switch (op) {
	case VSVMH_ACCESS_WRITE:
		return VSVMH_PTE_WRITE;
	case VSVMH_ACCESS_ATOMIC_ADD:
		return VSVMH_PTE_WRITE | VSVMH_PTE_ATOMIC;
	default:
		return VSVMH_PTE_VALID;
	}
}

static u32 vsvmh_access_prot(u32 op)
{
	switch (op) {
	case VSVMH_ACCESS_WRITE:
		return VSVMH_PROT_WRITE;
	case VSVMH_ACCESS_ATOMIC_ADD:
		return VSVMH_PROT_ATOMIC;
	default:
		return VSVMH_PROT_READ;
	}
}

/* Does the copy if the PTE allows it.  Under vm->lock. */
static int vsvmh_access_pte(struct vsvmh_access_ctx *ctx, u64 va, size_t n)
{
	struct vsvmh_gpuvm *vm = ctx->vm;
	u64 need = vsvmh_access_need(ctx->op);
	unsigned long pfn;
	void *kaddr;
	u64 entry;

	lockdep_assert_held(&vm->lock);
	entry = vsvmh_pt_lookup(&vm->pt, va, &pfn);
	if (!entry)
		return -ENOENT;
	if ((entry & need) != need)
		return -EACCES;

	kaddr = kmap_local_page(pfn_to_page(pfn));
	switch (ctx->op) {
	case VSVMH_ACCESS_READ:
		memcpy(ctx->bounce, kaddr + offset_in_page(va), n);
		break;
	case VSVMH_ACCESS_WRITE:
		memcpy(kaddr + offset_in_page(va), ctx->bounce, n);
		break;
	case VSVMH_ACCESS_ATOMIC_ADD:
		/* The host CPU may hit the same word: a real atomic. */
		*(s64 *)ctx->bounce = atomic64_fetch_add(*(s64 *)ctx->bounce,
				(atomic64_t *)(kaddr + offset_in_page(va)));
		break;
	}
	kunmap_local(kaddr);
	return 0;
}

/*
 * One page (or part of one): translate, resolve misses, replay.
 * Return: 0 or the errno that stops the access.
 */
static int vsvmh_access_page(struct vsvmh_access_ctx *ctx, u64 va, size_t n)
{
	struct vsvmh_gpuvm *vm = ctx->vm;
	bool write = ctx->op != VSVMH_ACCESS_READ;
	u64 page_va = va & PAGE_MASK;
	struct vsvmh_mapping *m;
	int ret;

	for (;;) {
		if (fatal_signal_pending(current))
			return -EINTR;
		mutex_lock(&vm->lock);
		if (vm->dead) {
			mutex_unlock(&vm->lock);
			return -ECANCELED;
		}
		ret = vsvmh_access_pte(ctx, va, n);
		if (!ret) {
			mutex_unlock(&vm->lock);
			return 0;
		}
		m = vsvmh_vm_find_locked(vm, va);
		if (!m) {
			mutex_unlock(&vm->lock);
			ret = vsvmh_fault_raise(vm, page_va, ctx->op,
						ctx->nowait, ctx->timeout);
			if (ret)
				return ret;
			continue;
		}
		if (!(m->prot & vsvmh_access_prot(ctx->op))) {
			mutex_unlock(&vm->lock);
			return -EFAULT;
		}
		kref_get(&m->ref);
		mutex_unlock(&vm->lock);

		if (m->kind == VSVMH_MAPPING_MIRROR)
			ret = vsvmh_mirror_fault(m, page_va, 1, write);
		else
			ret = vsvmh_devmem_resolve(m, page_va);
		vsvmh_mapping_put(m);
		if (ret)
			return ret;
	}
}

static int vsvmh_access_check(struct vsvmh_access *arg)
{
	if (arg->flags & ~VSVMH_ACCESS_NOWAIT)
		return -EINVAL;
	switch (arg->op) {
	case VSVMH_ACCESS_READ:
	case VSVMH_ACCESS_WRITE:
		if (!arg->len || arg->len > VSVMH_MAX_ACCESS)
			return -EINVAL;
		break;
	case VSVMH_ACCESS_ATOMIC_ADD:
		if (arg->len != sizeof(u64) || !IS_ALIGNED(arg->gpu_va, 8))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (arg->gpu_va + arg->len < arg->gpu_va)
		return -EINVAL;
	return 0;
}

static int vsvmh_access_run(struct vsvmh_access_ctx *ctx,
			    struct vsvmh_access *arg)
{
	void __user *ubuf = u64_to_user_ptr(arg->buf);
	u64 va = arg->gpu_va;

	while (arg->done < arg->len) {
		size_t n = min_t(u64, PAGE_SIZE - offset_in_page(va),
				 arg->len - arg->done);
		int ret;

		if (ctx->op != VSVMH_ACCESS_READ &&
		    copy_from_user(ctx->bounce, ubuf + arg->done, n))
			return -EFAULT;
		ret = vsvmh_access_page(ctx, va, n);
		if (ret) {
			arg->fault_va = va & PAGE_MASK;
			return ret;
		}
		if (ctx->op != VSVMH_ACCESS_WRITE &&
		    copy_to_user(ubuf + arg->done, ctx->bounce, n))
			return -EFAULT;
		arg->done += n;
		va += n;
		cond_resched();
	}
	return 0;
}

/**
 * vsvmh_ioctl_access - VSVMH_IOCTL_ACCESS
 * @file: the file
 * @uarg: struct vsvmh_access; @done and @fault_va are written back
 *	whatever the outcome
 *
 * Return: 0, -EINVAL, -EAGAIN, -EFAULT, -ETIMEDOUT, -EINTR, -ECANCELED,
 * -ENODEV, -ENOMEM.
 */
int vsvmh_ioctl_access(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_access arg;
	struct vsvmh_access_ctx ctx;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	ret = vsvmh_access_check(&arg);
	if (ret)
		return ret;
	arg.done = 0;
	arg.fault_va = 0;
	ctx.vm = vsvmh_vm_get(file, arg.vm_id);
	if (!ctx.vm)
		return -EINVAL;
	if (arg.gpu_va + arg.len > ctx.vm->va_end) {
		ret = -EINVAL;
		goto out_put_vm;
	}
	ctx.op = arg.op;
	ctx.nowait = arg.flags & VSVMH_ACCESS_NOWAIT;
	ctx.timeout = msecs_to_jiffies(arg.timeout_ms ? arg.timeout_ms :
				       VSVMH_DEFAULT_TIMEOUT_MS);
	ctx.bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!ctx.bounce) {
		ret = -ENOMEM;
		goto out_put_vm;
	}

	ret = vsvmh_access_run(&ctx, &arg);
	kfree(ctx.bounce);
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
out_put_vm:
	vsvmh_vm_put(ctx.vm);
	return ret;
}
