// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_mirror.c - host VA ranges mirrored into VMs with HMM.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Mirrors
 *
 * A mirror shows host VA range [host_start, host_start + len) of the file's
 * mm at GPU range [start, start + len) of one VM.  The same host range may
 * be mirrored into many VMs, at different GPU VAs: that is how one proxy
 * mm, holding all of a guest's RAM, backs the separate GPU VA spaces of
 * many guest processes.  A native VM is a single mirror of the whole user
 * address space at GPU VA == host VA.
 *
 * Each mirror has its own interval notifier on its host range.  A host
 * invalidation (munmap, mprotect, madvise, hole punch, migration, swap,
 * KSM, fork's COW) calls the notifier of every mirror that covers the
 * pages, so the PTEs go in every VM that mirrors them.
 *
 * A device miss in a mirror is resolved here, in the HMM way::
 *
 *   again:
 *     seq = mmu_interval_read_begin(notifier)
 *     mmap_read_lock; hmm_range_fault(); mmap_read_unlock
 *     -EBUSY: goto again
 *     mutex_lock(vm->lock)
 *     mmu_interval_read_retry(notifier, seq): unlock, goto again
 *     write the PTEs (2 MiB where the host maps a whole PMD)
 *     mutex_unlock(vm->lock)
 *
 * The notifier takes vm->lock, calls mmu_interval_set_seq() and clears the
 * PTEs, so the PTEs written above cannot outlive the pages they point at.
 * Pages that sit in this device's device-private memory are found by
 * hmm_range_fault() as they are (dev_private_owner); the PTE then points at
 * the memory behind the device page.  Another device's pages are brought
 * back to system memory by the fault.
 */

#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

/* Pages faulted per hmm_range_fault() call when populating. */
#define VSVMH_MIRROR_CHUNK	VSVMH_PT_ENTRIES

static bool vsvmh_mirror_invalidate(struct mmu_interval_notifier *mni,
				    const struct mmu_notifier_range *range,
				    unsigned long cur_seq)
{
	struct vsvmh_mapping *m =
		container_of(mni, struct vsvmh_mapping, notifier);
	u64 size = vsvmh_mapping_end(m) - m->node.start;
	struct vsvmh_gpuvm *vm = m->vm;
	unsigned long start, end;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&vm->lock);
	else if (!mutex_trylock(&vm->lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	/*
	 * An unlinked mirror's range was cleared when it was unlinked and its
	 * remnants watch the rest with notifiers of their own.
	 */
	start = max(range->start, m->host_start);
	end = min_t(u64, range->end, m->host_start + size);
	if (m->linked && start < end) {
		u64 gpu = m->node.start + (start - m->host_start);

		if (vsvmh_pt_clear(&vm->pt, gpu, gpu + (end - start)))
			atomic64_inc(&vm->invalidations);
	}
	mutex_unlock(&vm->lock);
	return true;
}

static const struct mmu_interval_notifier_ops vsvmh_mirror_ops = {
	.invalidate = vsvmh_mirror_invalidate,
};

/**
 * vsvmh_mirror_start - make @m a mirror of host VA @host_start
 * @m: a new mapping, not linked; its GPU range gives the length
 * @host_start: host VA that the first GPU page shows
 *
 * Inserts the interval notifier.  Context: the file's mm is current->mm or
 * at least alive; no vm->lock held (insertion may take mmap_lock).
 *
 * Return: 0 or a negative errno.
 */
int vsvmh_mirror_start(struct vsvmh_mapping *m, unsigned long host_start)
{
	int ret;

	m->kind = VSVMH_MAPPING_MIRROR;
	m->host_start = host_start;
	ret = mmu_interval_notifier_insert(&m->notifier, m->vm->file->mm,
					   host_start,
					   vsvmh_mapping_end(m) - m->node.start,
					   &vsvmh_mirror_ops);
	if (ret)
		return ret;
	m->notifier_live = true;
	return 0;
}

/**
 * vsvmh_native_init - give a new native VM its mirror of the whole mm
 * @vm: the VM, not yet visible to userspace
 *
 * Return: 0 or a negative errno.
 */
int vsvmh_native_init(struct vsvmh_gpuvm *vm)
{
	struct vsvmh_mapping *m;
	int ret;

	m = vsvmh_mapping_alloc(vm, 0, vm->va_end, VSVMH_PROT_ALL);
	if (!m)
		return -ENOMEM;
	ret = vsvmh_mirror_start(m, 0);
	if (!ret)
		ret = vsvmh_vm_replace(vm, 0, vm->va_end, m);
	if (ret)
		vsvmh_mapping_put(m);
	return ret;
}

/* Whether the 2 MiB block around @gpu can take one leaf for @pfn. */
static bool vsvmh_mirror_huge_ok(struct vsvmh_mapping *m, u64 gpu,
				 unsigned long hmm_pfn, unsigned long pfn)
{
	u64 block = gpu & ~(VSVMH_HUGE_SIZE - 1);
	u64 host = m->host_start + (gpu - m->node.start);

	if (hmm_pfn_to_map_order(hmm_pfn) < VSVMH_PT_BITS)
		return false;
	if (block < m->node.start ||
	    block + VSVMH_HUGE_SIZE > vsvmh_mapping_end(m))
		return false;
	if ((host ^ gpu) & (VSVMH_HUGE_SIZE - 1))
		return false;
	return (pfn & (VSVMH_PT_ENTRIES - 1)) ==
	       ((gpu >> PAGE_SHIFT) & (VSVMH_PT_ENTRIES - 1));
}

/* Writes PTEs for pfns[] from hmm_range_fault().  Under vm->lock. */
static int vsvmh_mirror_install(struct vsvmh_mapping *m, u64 gpu_va,
				const unsigned long *pfns,
				unsigned long npages,
				struct vsvmh_pt_cache *cache)
{
	struct vsvmh_gpuvm *vm = m->vm;
	unsigned long i = 0;
	int ret;

	lockdep_assert_held(&vm->lock);
	while (i < npages) {
		u64 gpu = gpu_va + ((u64)i << PAGE_SHIFT);
		u64 entry = VSVMH_PTE_VALID;
		struct page *page;
		unsigned long pfn;

		if (!(pfns[i] & HMM_PFN_VALID) || (pfns[i] & HMM_PFN_ERROR)) {
			i++;
			continue;
		}
		page = hmm_pfn_to_page(pfns[i]);
		if ((pfns[i] & HMM_PFN_WRITE) && (m->prot & VSVMH_PROT_WRITE)) {
			entry |= VSVMH_PTE_WRITE;
			if (m->prot & VSVMH_PROT_ATOMIC)
				entry |= VSVMH_PTE_ATOMIC;
		}
		if (is_device_private_page(page)) {
			page = vsvmh_dpmem_backing(vm->file->device, page);
			if (!page)
				return -EFAULT;
			entry |= VSVMH_PTE_DEVMEM;
		}
		pfn = page_to_pfn(page);
		if (!(entry & VSVMH_PTE_DEVMEM) &&
		    vsvmh_mirror_huge_ok(m, gpu, pfns[i], pfn)) {
			unsigned long first = (gpu >> PAGE_SHIFT) &
					      (VSVMH_PT_ENTRIES - 1);

			entry |= (u64)(pfn - first) << PAGE_SHIFT;
			ret = vsvmh_pt_set(&vm->pt, gpu & ~(VSVMH_HUGE_SIZE - 1),
					   true, entry, cache);
			i += VSVMH_PT_ENTRIES - first;
		} else {
			entry |= (u64)pfn << PAGE_SHIFT;
			ret = vsvmh_pt_set(&vm->pt, gpu, false, entry, cache);
			i++;
		}
		if (ret)
			return ret;
	}
	return 0;
}

static bool vsvmh_mirror_all_writable(const unsigned long *pfns,
				      unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		if (!(pfns[i] & HMM_PFN_WRITE))
			return false;
	return true;
}

/* Tables one install of up to VSVMH_MIRROR_CHUNK pages can need. */
static unsigned int vsvmh_mirror_tables(struct vsvmh_gpuvm *vm)
{
	/* Such a run spans at most two 2 MiB blocks: two tables a level. */
	return 2 * (vm->pt.levels - 1);
}

static int vsvmh_mirror_fault_chunk(struct vsvmh_mapping *m, u64 gpu_va,
				    unsigned long npages, bool write,
				    unsigned long *pfns)
{
	struct vsvmh_gpuvm *vm = m->vm;
	struct mm_struct *mm = vm->file->mm;
	unsigned long host = m->host_start + (gpu_va - m->node.start);
	struct hmm_range range = {
		.notifier = &m->notifier,
		.start = host,
		.end = host + (npages << PAGE_SHIFT),
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = vm->file->device,
	};
	unsigned long timeout;
	struct vsvmh_pt_cache cache = { 0 };
	int ret;

	if (!mmget_not_zero(mm))
		return -EFAULT;
	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		ret = vsvmh_pt_cache_fill(&cache, vsvmh_mirror_tables(vm));
		if (ret)
			break;

		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			break;
		/*
		 * hmm_range_fault() hands back this device's pages as they are,
		 * even read-only ones (fork made them COW) when asked for write.
		 * Fault them back to system memory instead, which breaks the
		 * COW; else the device would replay the write forever.
		 */
		if (write && range.dev_private_owner &&
		    !vsvmh_mirror_all_writable(pfns, npages)) {
			range.dev_private_owner = NULL;
			continue;
		}

		mutex_lock(&vm->lock);
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			mutex_unlock(&vm->lock);
			continue;
		}
		/*
		 * An unlinked mirror installs nothing: the replay finds what
		 * replaced it.
		 */
		if (m->linked && !vm->dead)
			ret = vsvmh_mirror_install(m, gpu_va, pfns, npages,
						   &cache);
		mutex_unlock(&vm->lock);
		break;
	}
	mmput(mm);
	vsvmh_pt_cache_drain(&cache);
	if (ret == -EPERM || ret == -EBUSY)
		ret = -EFAULT;
	return ret;
}

/**
 * vsvmh_mirror_fault - resolve device misses in a mirror with HMM
 * @m: the mirror; the caller holds a reference
 * @gpu_va: first GPU page, inside @m
 * @npages: pages, inside @m
 * @write: the device needs write access
 *
 * Context: may sleep; takes mmap_lock and vm->lock; none of them held.
 *
 * Return: 0 (the PTEs are in, unless an invalidation or an unmap came
 * after; the caller replays), -EFAULT (the host page cannot be faulted,
 * with the access asked for), -EINTR, -ENOMEM.
 */
int vsvmh_mirror_fault(struct vsvmh_mapping *m, u64 gpu_va,
		       unsigned long npages, bool write)
{
	unsigned long one, *pfns = &one;
	int ret = 0;

	if (npages > 1) {
		pfns = kvmalloc_array(min_t(unsigned long, npages,
					    VSVMH_MIRROR_CHUNK),
				      sizeof(*pfns), GFP_KERNEL);
		if (!pfns)
			return -ENOMEM;
	}
	while (npages && !ret) {
		/* Chunks end at 2 MiB GPU boundaries, so blocks stay whole. */
		unsigned long n = VSVMH_MIRROR_CHUNK -
			((gpu_va >> PAGE_SHIFT) & (VSVMH_MIRROR_CHUNK - 1));

		n = min(n, npages);
		ret = vsvmh_mirror_fault_chunk(m, gpu_va, n, write, pfns);
		gpu_va += (u64)n << PAGE_SHIFT;
		npages -= n;
		cond_resched();
	}
	if (pfns != &one)
		kvfree(pfns);
	if (!ret)
		atomic64_inc(&m->vm->faults_kernel);
	return ret;
}

static int vsvmh_mirror_check(const struct vsvmh_mirror *arg)
{
	u32 prot = arg->prot;

	if (arg->reserved || (arg->flags & ~VSVMH_MIRROR_POPULATE))
		return -EINVAL;
	if ((prot & ~VSVMH_PROT_ALL) || !(prot & VSVMH_PROT_READ) ||
	    ((prot & VSVMH_PROT_ATOMIC) && !(prot & VSVMH_PROT_WRITE)))
		return -EINVAL;
	if (!PAGE_ALIGNED(arg->host_va) || !arg->len ||
	    !PAGE_ALIGNED(arg->len) || arg->host_va + arg->len < arg->host_va ||
	    arg->host_va + arg->len > TASK_SIZE)
		return -EINVAL;
	return 0;
}

/**
 * vsvmh_ioctl_mirror - VSVMH_IOCTL_MIRROR
 * @file: the file
 * @uarg: struct vsvmh_mirror
 *
 * Return: 0, -EINVAL, -ERANGE, -EPERM, -ENOSPC, -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_mirror(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_mirror arg;
	struct vsvmh_mapping *m;
	struct vsvmh_gpuvm *vm;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	ret = vsvmh_mirror_check(&arg);
	if (ret)
		return ret;
	vm = vsvmh_vm_get(file, arg.vm_id);
	if (!vm)
		return -EINVAL;
	ret = vsvmh_vm_check_range(vm, arg.gpu_va, arg.len);
	if (ret)
		goto out_put_vm;

	m = vsvmh_mapping_alloc(vm, arg.gpu_va, arg.gpu_va + arg.len, arg.prot);
	if (!m) {
		ret = -ENOMEM;
		goto out_put_vm;
	}
	ret = vsvmh_mirror_start(m, arg.host_va);
	if (ret)
		goto out_put_mapping;
	/* The tree takes over the reference; keep one for populating. */
	kref_get(&m->ref);
	ret = vsvmh_vm_replace(vm, arg.gpu_va, arg.gpu_va + arg.len, m);
	if (ret) {
		vsvmh_mapping_put(m);
		goto out_put_mapping;
	}
	if (arg.flags & VSVMH_MIRROR_POPULATE)
		ret = vsvmh_mirror_fault(m, arg.gpu_va, arg.len >> PAGE_SHIFT,
					 false);
out_put_mapping:
	vsvmh_mapping_put(m);
out_put_vm:
	vsvmh_vm_put(vm);
	return ret;
}
