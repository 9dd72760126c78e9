// SPDX-License-Identifier: MIT
/*
 * dev_sim.c - the built-in simulated GPU: device, VMs, launches, EUs.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A simulated device has a memory pool (dev_sim_mem.c), exec_units
 * execution-unit (EU) threads, each with its own TLBs (dev_sim_mmu.c), and
 * one work queue.  A VM (struct sim_vm; device.h's struct vp_dev_vm) is a
 * GPU VA space: a radix page table (pagetable.c) whose table pages live in
 * the pool, an access lock, a TLB generation and a fault function.
 *
 * A launch cuts the kernel's index space into contiguous slices, at most
 * one per EU (a pointer chase is one slice), and queues them; any idle EU
 * takes the next slice of any launch, so launches of many VMs run side by
 * side.  An EU runs its slice chunk by chunk (dev_sim_kernels.c, DOC:
 * Chunks and replay).  The EU that finishes a launch's last slice fills in
 * the struct vp_launch and calls done(), exactly once.
 *
 *   launch() --> [ work queue ] --> EU 0: chunk, chunk, fault, chunk ...
 *                 slice slice       EU 1: chunk, chunk, chunk ... done()
 *
 * DOC: Coherency
 *
 * The promise of device.h: when vm_unmap() returns, no device access can
 * reach the old pages any more, and no access ever touches memory the page
 * table does not map for that access kind.  The protocol that keeps it:
 *
 *  1. Each VM has an access lock, a writer-preferring rwlock
 *     (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP).
 *  2. An EU holds it for read for the whole of a chunk: first it compares
 *     its TLB's generation with the VM's tlb_gen and flushes its TLB if
 *     they differ, then it does every translation and every load, store and
 *     atomic of the chunk.  It releases it between chunks and before it
 *     calls the fault function.  No pointer obtained by a translation
 *     outlives the chunk.
 *  3. vm_map() and vm_unmap() hold it for write while they change the page
 *     table.  If a translation was removed, retargeted or lost a
 *     permission, they give the VM a new tlb_gen, a value drawn from a
 *     device-wide counter, so no EU's TLB is of that generation yet.
 *
 * Why vm_unmap() keeps the promise: a chunk and the unmap's write section
 * exclude each other, so every chunk ran either wholly before it (and so
 * ended before vm_unmap() returned) or wholly after it.  A chunk after it
 * reads the new tlb_gen, which no TLB holds, so its EU flushes before it
 * translates anything, and every translation it makes comes from a walk of
 * the page table as the unmap left it.  By induction over the changes,
 * this invariant holds at every translation: each entry in the EU's TLB is
 * a present leaf of the current page table, with at least the entry's
 * permissions.  (Changes that only add translations or permissions keep
 * tlb_gen: the TLB caches no misses, and a hit also needs the permission,
 * so a stale entry with fewer permissions only walks again.)
 *
 * The rwlock's release and acquire also order memory: the device's last
 * access to an unmapped page happens before vm_unmap() returns, and so
 * before whatever the guest does with the page after the acknowledgement.
 * Writer preference bounds how long vm_unmap() waits: new chunks wait
 * behind a waiting writer, so it waits for the chunks in flight only, each
 * at most SIM_CHUNK_ELEMS elements or SIM_CHUNK_BYTES per array.
 *
 * Because the generation is unique on the device and not just in the VM,
 * an EU that moves from a slice of one VM to a slice of another flushes
 * too: TLB entries are never shared between VA spaces.
 *
 * DOC: Faults
 *
 * A translation that finds no leaf, or a leaf without the permission the
 * access needs, ends the chunk with the cursor on the element.  The EU
 * releases the access lock, counts the fault, and calls the VM's fault
 * function with the page-aligned VA and the access kind.  0: the EU runs
 * the chunk again from that element.  Negative: the launch fails with that
 * status and fault_va is that page-aligned VA; the other EUs of the launch
 * stop at their next chunk.  A VA at or beyond 2^va_bits can never be
 * mapped and fails the launch (VSVM_ERR_FAULT) without a call, and so does
 * any miss in a VM created without a fault function.
 *
 * Every EU faults on its own: two EUs (of one launch or of two) may ask
 * for the same page at the same time, and the owner must expect that.  A
 * fault function that returns 0 without mapping the page for that access
 * makes the EU fault again, until the launch is canceled.
 *
 * DOC: Launch lifetime
 *
 * launch() validates the arguments (a failure still ends through done(),
 * from an EU, like any launch), copies them, counts the launch in the VM,
 * and queues its slices.  The EU that ends the last slice fills in the
 * struct vp_launch, frees the launch, takes it off the VM's count, and
 * calls done() last: from then on the VM may be destroyed, even by done()
 * itself.  vm_destroy() waits for the count to drop to zero (canceling
 * what still runs, should the owner have broken device.h's rule), and
 * destroy() requires every VM destroyed first: their page tables live in
 * the device's memory pool.
 *
 * DOC: Locking
 *
 * Lock order: the owner's context lock -> vm->access -> mem.lock.
 * vm_map()/vm_unmap() are called with the owner's lock held and take
 * vm->access, which may allocate or free table pages (mem.lock).  The fault
 * function takes the owner's lock, so an EU calls it holding no lock at
 * all.  queue_lock and vm->launch_lock are leaves, never held while taking
 * another lock, and never held by an EU while it runs a chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_sim_priv.h"

/*
 * A slice is at least this many granules (pages), so tiny launches stay
 * on one EU instead of paying for the queue four times.
 */
#define SIM_MIN_SLICE_GRANULES 4

/* sim_launch_stopped(): the launch already failed elsewhere. */
#define SIM_STOP	       2

static const struct vp_device_ops sim_ops;

static inline struct sim_device *to_sim_dev(struct vp_device *d)
{
	return (struct sim_device *)d;
}

static inline struct sim_vm *to_sim_vm(struct vp_dev_vm *vm)
{
	return (struct sim_vm *)vm;
}

static inline struct vp_dev_vm *to_dev_vm(struct sim_vm *vm)
{
	return (struct vp_dev_vm *)vm;
}

static uint64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static enum vp_access sim_access(uint32_t need)
{
	switch (need) {
	case VSVM_PROT_WRITE:
		return VP_ACCESS_WRITE;
	case VSVM_PROT_ATOMIC:
		return VP_ACCESS_ATOMIC;
	default:
		return VP_ACCESS_READ;
	}
}

/* ---- VMs ---------------------------------------------------------- */

static void *sim_pt_alloc(void *opaque)
{
	struct sim_device *dev = opaque;

	return sim_mem_alloc(&dev->mem, SIM_PAGE_SIZE, SIM_PAGE_SIZE);
}

static void sim_pt_free(void *opaque, void *page)
{
	struct sim_device *dev = opaque;

	sim_mem_free(&dev->mem, page, SIM_PAGE_SIZE);
}

static uint64_t sim_new_gen(struct sim_device *dev)
{
	return atomic_fetch_add_explicit(&dev->gen_source, 1,
					 memory_order_relaxed) +
	       1;
}

/* A translation went away: make every EU flush.  access held for write. */
static void sim_vm_invalidate(struct sim_vm *vm)
{
	vm->tlb_gen = sim_new_gen(vm->dev);
	vm->invalidations++;
}

static int sim_vm_init_locks(struct sim_vm *vm)
{
	pthread_rwlockattr_t attr;
	int err;

	err = pthread_rwlockattr_init(&attr);
	if (err)
		return -err;
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&vm->access, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (err)
		return -err;
	err = pthread_mutex_init(&vm->launch_lock, NULL);
	if (err)
		goto err_destroy_access;
	err = pthread_cond_init(&vm->launch_idle, NULL);
	if (err)
		goto err_destroy_launch_lock;
	return 0;

err_destroy_launch_lock:
	pthread_mutex_destroy(&vm->launch_lock);
err_destroy_access:
	pthread_rwlock_destroy(&vm->access);
	return -err;
}

static int sim_vm_create(struct vp_device *d, uint32_t va_bits, void *owner,
			 vp_fault_fn fault, struct vp_dev_vm **out)
{
	struct sim_device *dev = to_sim_dev(d);
	struct sim_vm *vm;
	int err;

	if (!out || va_bits < VSVM_VA_BITS_MIN || va_bits > VSVM_VA_BITS_MAX)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->dev = dev;
	vm->owner = owner;
	vm->fault = fault;
	vm->va_bits = va_bits;
	vm->pt = vp_pt_create(va_bits, sim_pt_alloc, sim_pt_free, dev);
	if (!vm->pt) {
		err = -ENOMEM;
		goto err_free_vm;
	}
	err = sim_vm_init_locks(vm);
	if (err)
		goto err_destroy_pt;
	vm->tlb_gen = sim_new_gen(dev);
	atomic_fetch_add(&dev->nr_vms, 1);
	*out = to_dev_vm(vm);
	return 0;

err_destroy_pt:
	vp_pt_destroy(vm->pt);
err_free_vm:
	free(vm);
	return err;
}

static void sim_vm_cancel(struct vp_dev_vm *vmh)
{
	atomic_fetch_add(&to_sim_vm(vmh)->cancel_epoch, 1);
}

static void sim_vm_destroy(struct vp_dev_vm *vmh)
{
	struct sim_vm *vm = to_sim_vm(vmh);
	struct sim_device *dev;

	if (!vm)
		return;
	dev = vm->dev;
	/*
	 * device.h forbids running launches here; should the owner break
	 * that rule, end them rather than free memory under them.  This
	 * waits until each has left the VM; its done() may still be about
	 * to run (sim_launch_end), which is why done() may destroy the VM.
	 */
	pthread_mutex_lock(&vm->launch_lock);
	if (vm->nr_launches) {
		atomic_fetch_add(&vm->cancel_epoch, 1);
		while (vm->nr_launches)
			pthread_cond_wait(&vm->launch_idle, &vm->launch_lock);
	}
	pthread_mutex_unlock(&vm->launch_lock);

	vp_pt_destroy(vm->pt);
	pthread_cond_destroy(&vm->launch_idle);
	pthread_mutex_destroy(&vm->launch_lock);
	pthread_rwlock_destroy(&vm->access);
	free(vm);
	atomic_fetch_sub(&dev->nr_vms, 1);
}

static int sim_vm_map(struct vp_dev_vm *vmh, uint64_t va, uint64_t len,
		      void *hva, uint32_t prot)
{
	struct sim_vm *vm = to_sim_vm(vmh);
	bool invalidated = false;
	int err;

	pthread_rwlock_wrlock(&vm->access);
	err = vp_pt_map(vm->pt, va, len, hva, prot, &invalidated);
	if (invalidated)
		sim_vm_invalidate(vm);
	pthread_rwlock_unlock(&vm->access);
	return err;
}

/*
 * An invalidation cannot fail, so a range the page table would refuse is
 * widened to whole pages and clipped to the VA space: unmapping more than
 * asked is safe, less never is.
 */
static void sim_vm_unmap(struct vp_dev_vm *vmh, uint64_t va, uint64_t len)
{
	struct sim_vm *vm = to_sim_vm(vmh);
	uint64_t limit = 1ull << vm->va_bits;
	uint64_t start = va & ~SIM_PAGE_OFF;
	uint64_t end = len > UINT64_MAX - va ? UINT64_MAX : va + len;
	bool invalidated = false;

	if (!len)
		return;
	end = end > limit ? limit : (end + SIM_PAGE_OFF) & ~SIM_PAGE_OFF;
	if (start >= end)
		return;
	pthread_rwlock_wrlock(&vm->access);
	vp_pt_unmap(vm->pt, start, end - start, &invalidated);
	if (invalidated)
		sim_vm_invalidate(vm);
	pthread_rwlock_unlock(&vm->access);
}

static void sim_vm_stats(struct vp_dev_vm *vmh, struct vp_vm_stats *out)
{
	struct sim_vm *vm = to_sim_vm(vmh);

	pthread_rwlock_rdlock(&vm->access);
	out->pt_bytes = vp_pt_table_bytes(vm->pt);
	out->mapped_bytes = vp_pt_mapped_bytes(vm->pt);
	out->tlb_flushes = vm->invalidations;
	pthread_rwlock_unlock(&vm->access);
	out->faults = atomic_load_explicit(&vm->faults, memory_order_relaxed);
}

/* ---- Launches ----------------------------------------------------- */

/* Cut plan->elems into at most nr_eus slices; return their number. */
static uint32_t sim_slices(const struct sim_device *dev,
			   const struct sim_plan *plan, uint64_t *slice_len)
{
	uint64_t granules, nr, per;

	if (plan->one_eu) {
		*slice_len = plan->elems;
		return 1;
	}
	/* elems < 2^57 (it fits the VA space), so nothing overflows. */
	granules = (plan->elems + plan->granule - 1) / plan->granule;
	nr = (granules + SIM_MIN_SLICE_GRANULES - 1) / SIM_MIN_SLICE_GRANULES;
	if (nr > dev->nr_eus)
		nr = dev->nr_eus;
	per = (granules + nr - 1) / nr * plan->granule;
	*slice_len = per;
	return (uint32_t)((plan->elems + per - 1) / per);
}

static void sim_queue_push(struct sim_device *dev, struct sim_launch *sl)
{
	uint32_t i;

	pthread_mutex_lock(&dev->queue_lock);
	for (i = 0; i < sl->nr_work; i++) {
		sl->work[i].next = NULL;
		*dev->queue_tail = &sl->work[i];
		dev->queue_tail = &sl->work[i].next;
	}
	if (sl->nr_work == 1)
		pthread_cond_signal(&dev->queue_cond);
	else
		pthread_cond_broadcast(&dev->queue_cond);
	pthread_mutex_unlock(&dev->queue_lock);
}

static int sim_launch(struct vp_dev_vm *vmh, struct vp_launch *l)
{
	struct sim_vm *vm = to_sim_vm(vmh);
	struct sim_device *dev = vm->dev;
	uint64_t arg[VSVM_MAX_KERNEL_ARGS] = { 0 };
	struct sim_plan plan = { 0 };
	const struct sim_kernel *k;
	uint64_t slice_len = 0;
	struct sim_launch *sl;
	uint32_t nr = 1, nr_args, i;
	int status;

	if (!l || !l->done)
		return -EINVAL;
	/* Arguments past nr_args are 0 (docs/protocol.md). */
	nr_args = l->nr_args;
	if (nr_args > VSVM_MAX_KERNEL_ARGS)
		nr_args = VSVM_MAX_KERNEL_ARGS;
	memcpy(arg, l->args, nr_args * sizeof(arg[0]));
	k = sim_kernel_get(l->kernel);
	status = k ? k->check(vm, arg, &plan) : -VSVM_ERR_VALUE;
	if (!status && plan.elems)
		nr = sim_slices(dev, &plan, &slice_len);

	sl = calloc(1, sizeof(*sl) + nr * sizeof(sl->work[0]));
	if (!sl)
		return -ENOMEM;
	sl->l = l;
	sl->vm = vm;
	sl->kernel = k;
	memcpy(sl->arg, arg, sizeof(arg));
	sl->cancel_epoch = atomic_load(&vm->cancel_epoch);
	sl->start_ns = sim_now_ns();
	sl->result_is_count = plan.result_is_count;
	sl->count = plan.elems;
	atomic_init(&sl->status, status);
	atomic_init(&sl->remaining, nr);
	sl->nr_work = nr;
	/* A failed check or an empty launch is one empty slice. */
	for (i = 0; i < nr; i++) {
		sl->work[i].launch = sl;
		if (status || !plan.elems)
			continue;
		sl->work[i].begin = i * slice_len;
		sl->work[i].end = plan.elems - sl->work[i].begin > slice_len ?
					  sl->work[i].begin + slice_len :
					  plan.elems;
	}
	pthread_mutex_lock(&vm->launch_lock);
	vm->nr_launches++;
	pthread_mutex_unlock(&vm->launch_lock);
	atomic_fetch_add_explicit(&dev->launches, 1, memory_order_relaxed);
	sim_queue_push(dev, sl);
	return 0;
}

/* The EU that ends the last slice reports the launch; runs once. */
static void sim_launch_end(struct sim_launch *sl)
{
	struct vp_launch *l = sl->l;
	struct sim_vm *vm = sl->vm;
	int status = atomic_load_explicit(&sl->status, memory_order_relaxed);

	l->status = status;
	if (status)
		l->result = 0;
	else if (sl->result_is_count)
		l->result = sl->count;
	else
		l->result =
			atomic_load_explicit(&sl->result, memory_order_relaxed);
	l->fault_va = status ? sl->fault_va : 0;
	l->faults = atomic_load_explicit(&sl->faults, memory_order_relaxed);
	l->elapsed_ns = sim_now_ns() - sl->start_ns;
	free(sl);

	pthread_mutex_lock(&vm->launch_lock);
	if (!--vm->nr_launches)
		pthread_cond_broadcast(&vm->launch_idle);
	pthread_mutex_unlock(&vm->launch_lock);
	/* From here vm may be destroyed, and l is the caller's again. */
	l->done(l);
}

static void sim_work_done(struct sim_work *w, uint64_t acc)
{
	struct sim_launch *sl = w->launch;

	if (acc)
		atomic_fetch_add_explicit(&sl->result, acc,
					  memory_order_relaxed);
	/* acq_rel: the last EU sees every slice's result and fault_va. */
	if (atomic_fetch_sub_explicit(&sl->remaining, 1,
				      memory_order_acq_rel) == 1)
		sim_launch_end(sl);
}

/* The first failure of a launch sets its status and fault_va. */
static void sim_launch_fail(struct sim_launch *sl, int status, uint64_t va)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&sl->status, &expected, status))
		sl->fault_va = va;
}

/* Checked before each chunk: canceled, device going, or failed elsewhere. */
static int sim_launch_stopped(const struct sim_launch *sl)
{
	const struct sim_vm *vm = sl->vm;

	if (atomic_load_explicit(&sl->status, memory_order_relaxed))
		return SIM_STOP;
	if (atomic_load_explicit(&vm->cancel_epoch, memory_order_relaxed) !=
		    sl->cancel_epoch ||
	    atomic_load_explicit(&vm->dev->dying, memory_order_relaxed))
		return -VSVM_ERR_CANCELED;
	return 0;
}

/*
 * A miss: ask the VM's owner.  Called with no lock held (DOC: Faults).
 * Return 0 to replay, or the negated status that fails the launch, with
 * cur->fault_va made the page-aligned VA reported.
 */
static int sim_eu_fault(struct sim_eu *eu, struct sim_launch *sl,
			struct sim_cursor *cur)
{
	struct sim_vm *vm = sl->vm;
	int ret;

	cur->fault_va &= ~SIM_PAGE_OFF;
	if ((cur->fault_va >> vm->va_bits) || !vm->fault)
		return -VSVM_ERR_FAULT;
	atomic_fetch_add_explicit(&sl->faults, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&vm->faults, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&eu->dev->faults, 1, memory_order_relaxed);
	ret = vm->fault(vm->owner, to_dev_vm(vm), cur->fault_va,
			sim_access(cur->fault_need));
	return ret > 0 ? -VSVM_ERR_FAULT : ret;
}

/* Run one slice to its end, a failure, or a stop. */
static void sim_eu_run(struct sim_eu *eu, struct sim_work *w)
{
	struct sim_launch *sl = w->launch;
	struct sim_vm *vm = sl->vm;
	struct sim_cursor cur = {
		.pos = w->begin,
		.end = w->end,
		.ptr = sl->arg[0],
	};
	int ret = 0;

	while (cur.pos < cur.end) {
		ret = sim_launch_stopped(sl);
		if (ret)
			break;
		pthread_rwlock_rdlock(&vm->access);
		if (eu->tlb_gen != vm->tlb_gen)
			sim_tlb_flush(eu, vm->tlb_gen);
		ret = sl->kernel->chunk(eu, vm, sl->arg, &cur);
		pthread_rwlock_unlock(&vm->access);
		sim_count(&eu->chunks, 1);
		if (ret == SIM_MISS)
			ret = sim_eu_fault(eu, sl, &cur);
		if (ret)
			break;
	}
	if (ret < 0)
		sim_launch_fail(sl, ret, cur.fault_va);
	sim_work_done(w, cur.acc);
}

static void *sim_eu_main(void *arg)
{
	struct sim_eu *eu = arg;
	struct sim_device *dev = eu->dev;
	struct sim_work *w;

	for (;;) {
		pthread_mutex_lock(&dev->queue_lock);
		while (!dev->queue_head && !dev->stopping)
			pthread_cond_wait(&dev->queue_cond, &dev->queue_lock);
		w = dev->queue_head;
		if (w) {
			dev->queue_head = w->next;
			if (!dev->queue_head)
				dev->queue_tail = &dev->queue_head;
		}
		pthread_mutex_unlock(&dev->queue_lock);
		/* Stopping drains the queue first: every done() is called. */
		if (!w)
			return NULL;
		sim_eu_run(eu, w);
	}
}

/* ---- Device ------------------------------------------------------- */

static void sim_info(struct vp_device *d, struct vp_device_info *out)
{
	struct sim_device *dev = to_sim_dev(d);

	out->mem_size = dev->mem.size;
	out->mem_used = sim_mem_used(&dev->mem);
	out->exec_units = dev->nr_eus;
	out->index = dev->base.index;
	out->name = dev->name;
}

/* Ask the EUs to end once the queue is empty, and wait for them. */
static void sim_stop_eus(struct sim_device *dev, uint32_t started)
{
	uint32_t i;

	pthread_mutex_lock(&dev->queue_lock);
	dev->stopping = true;
	pthread_cond_broadcast(&dev->queue_cond);
	pthread_mutex_unlock(&dev->queue_lock);
	for (i = 0; i < started; i++)
		pthread_join(dev->eus[i].thread, NULL);
}

static void sim_free_eus(struct sim_device *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_eus; i++) {
		free(dev->eus[i].tlb);
		free(dev->eus[i].tlb_huge);
	}
	free(dev->eus);
}

static void sim_destroy(struct vp_device *d)
{
	struct sim_device *dev = to_sim_dev(d);

	if (!dev)
		return;
	/* Launches still queued or running end with VSVM_ERR_CANCELED. */
	atomic_store(&dev->dying, true);
	sim_stop_eus(dev, dev->nr_eus);
	if (atomic_load(&dev->nr_vms)) {
		/* Their page tables live in the pool we are about to unmap. */
		fprintf(stderr, "dev_sim: %s destroyed with %u VMs alive\n",
			dev->name, atomic_load(&dev->nr_vms));
		abort();
	}
	sim_free_eus(dev);
	pthread_cond_destroy(&dev->queue_cond);
	pthread_mutex_destroy(&dev->queue_lock);
	sim_mem_fini(&dev->mem);
	free(dev);
}

static int sim_init_eus(struct sim_device *dev)
{
	uint32_t huge = dev->tlb_entries / SIM_TLB_HUGE_RATIO;
	size_t bytes = dev->nr_eus * sizeof(struct sim_eu);
	uint32_t i;

	if (huge < SIM_TLB_HUGE_MIN)
		huge = SIM_TLB_HUGE_MIN;
	dev->eus = aligned_alloc(64, bytes);
	if (!dev->eus)
		return -ENOMEM;
	memset(dev->eus, 0, bytes);
	for (i = 0; i < dev->nr_eus; i++) {
		struct sim_eu *eu = &dev->eus[i];

		eu->dev = dev;
		eu->tlb_mask = dev->tlb_entries - 1;
		eu->tlb_huge_mask = huge - 1;
		eu->tlb = calloc(dev->tlb_entries, sizeof(*eu->tlb));
		eu->tlb_huge = calloc(huge, sizeof(*eu->tlb_huge));
		if (!eu->tlb || !eu->tlb_huge) {
			sim_free_eus(dev);
			return -ENOMEM;
		}
		/* Generation 0 is no VM's: the first chunk flushes. */
		sim_tlb_flush(eu, 0);
		atomic_store(&eu->tlb_flushes, 0);
	}
	return 0;
}

static int sim_start_eus(struct sim_device *dev)
{
	uint32_t i;
	int err;

	for (i = 0; i < dev->nr_eus; i++) {
		char name[32];

		err = pthread_create(&dev->eus[i].thread, NULL, sim_eu_main,
				     &dev->eus[i]);
		if (err) {
			sim_stop_eus(dev, i);
			return -err;
		}
		snprintf(name, sizeof(name), "%s-eu%u", dev->name, i);
		name[15] = '\0'; /* the kernel's limit for a thread name */
		pthread_setname_np(dev->eus[i].thread, name);
	}
	return 0;
}

static int sim_check_config(struct dev_sim_config *c)
{
	if (!c->exec_units)
		c->exec_units = DEV_SIM_DEFAULT_EXEC_UNITS;
	if (!c->tlb_entries)
		c->tlb_entries = DEV_SIM_DEFAULT_TLB_ENTRIES;
	if (!c->mem_size)
		c->mem_size = DEV_SIM_DEFAULT_MEM_SIZE;
	if (c->exec_units > DEV_SIM_MAX_EXEC_UNITS ||
	    c->tlb_entries > DEV_SIM_MAX_TLB_ENTRIES ||
	    (c->tlb_entries & (c->tlb_entries - 1)) ||
	    c->mem_size < SIM_PAGE_SIZE || c->mem_size > DEV_SIM_MAX_MEM_SIZE ||
	    c->reserved)
		return -EINVAL;
	return 0;
}

struct vp_device *dev_sim_create(const struct dev_sim_config *cfg)
{
	struct dev_sim_config c = { 0 };
	struct sim_device *dev;
	int err;

	if (cfg)
		c = *cfg;
	err = sim_check_config(&c);
	if (err)
		goto err_out;
	dev = calloc(1, sizeof(*dev));
	err = -ENOMEM;
	if (!dev)
		goto err_out;
	dev->base.ops = &sim_ops;
	dev->base.index = c.index;
	snprintf(dev->name, sizeof(dev->name), "sim%u", c.index);
	dev->nr_eus = c.exec_units;
	dev->tlb_entries = c.tlb_entries;
	dev->queue_tail = &dev->queue_head;
	err = sim_mem_init(&dev->mem, c.mem_size);
	if (err)
		goto err_free_dev;
	err = -pthread_mutex_init(&dev->queue_lock, NULL);
	if (err)
		goto err_fini_mem;
	err = -pthread_cond_init(&dev->queue_cond, NULL);
	if (err)
		goto err_destroy_queue_lock;
	err = sim_init_eus(dev);
	if (err)
		goto err_destroy_queue_cond;
	err = sim_start_eus(dev);
	if (err)
		goto err_free_eus;
	return &dev->base;

err_free_eus:
	sim_free_eus(dev);
err_destroy_queue_cond:
	pthread_cond_destroy(&dev->queue_cond);
err_destroy_queue_lock:
	pthread_mutex_destroy(&dev->queue_lock);
err_fini_mem:
	sim_mem_fini(&dev->mem);
err_free_dev:
	free(dev);
err_out:
	errno = -err;
	return NULL;
}

bool dev_sim_is_sim(const struct vp_device *dev)
{
	return dev && dev->ops == &sim_ops;
}

void *dev_sim_mem_alloc(struct vp_device *d, uint64_t bytes, uint64_t align)
{
	if (!dev_sim_is_sim(d))
		return NULL;
	if (align < SIM_PAGE_SIZE)
		align = SIM_PAGE_SIZE;
	return sim_mem_alloc(&to_sim_dev(d)->mem, bytes, align);
}

void dev_sim_mem_free(struct vp_device *d, void *p, uint64_t bytes)
{
	if (dev_sim_is_sim(d))
		sim_mem_free(&to_sim_dev(d)->mem, p, bytes);
}

bool dev_sim_mem_contains(struct vp_device *d, const void *p, uint64_t bytes)
{
	struct sim_mem *m;
	uint64_t off;

	if (!dev_sim_is_sim(d))
		return false;
	m = &to_sim_dev(d)->mem;
	off = (uint64_t)((uintptr_t)p - (uintptr_t)m->base);
	return off < m->size && bytes <= m->size - off;
}

void dev_sim_get_stats(struct vp_device *d, struct dev_sim_stats *out)
{
	struct sim_device *dev = to_sim_dev(d);
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->launches =
		atomic_load_explicit(&dev->launches, memory_order_relaxed);
	out->faults = atomic_load_explicit(&dev->faults, memory_order_relaxed);
	out->copies = atomic_load_explicit(&dev->copies, memory_order_relaxed);
	out->copy_bytes =
		atomic_load_explicit(&dev->copy_bytes, memory_order_relaxed);
	for (i = 0; i < dev->nr_eus; i++) {
		struct sim_eu *eu = &dev->eus[i];

		out->chunks +=
			atomic_load_explicit(&eu->chunks, memory_order_relaxed);
		out->tlb_misses += atomic_load_explicit(&eu->tlb_misses,
							memory_order_relaxed);
		out->tlb_flushes += atomic_load_explicit(&eu->tlb_flushes,
							 memory_order_relaxed);
	}
}

int dev_sim_vm_translate(struct vp_dev_vm *vmh, uint64_t va, void **hva,
			 uint32_t *prot)
{
	struct sim_vm *vm = to_sim_vm(vmh);
	struct vp_pt_walk w;
	bool present;

	pthread_rwlock_rdlock(&vm->access);
	present = vp_pt_lookup(vm->pt, va, &w);
	pthread_rwlock_unlock(&vm->access);
	if (!present)
		return 0;
	*hva = vp_pt_walk_hva(&w, va);
	*prot = w.prot;
	return (int)w.page_shift;
}

/* ---- Device memory and copy engine -------------------------------- */

static void *sim_mem_alloc_op(struct vp_device *d, uint64_t bytes,
			      uint64_t align)
{
	if (align < SIM_PAGE_SIZE)
		align = SIM_PAGE_SIZE;
	return sim_mem_alloc(&to_sim_dev(d)->mem, bytes, align);
}

static void sim_mem_free_op(struct vp_device *d, void *p, uint64_t bytes)
{
	sim_mem_free(&to_sim_dev(d)->mem, p, bytes);
}

/*
 * The copy engine.  Every simulated device lives in this process, so a
 * peer's memory is host memory it can reach directly: a device-to-device
 * copy never bounces through guest RAM.  The caller has blocked device
 * access to both ranges, so a plain copy is the whole job; the counters
 * say what the engine moved.
 */
static int sim_copy(struct vp_device *d, void *dst, const void *src,
		    uint64_t bytes)
{
	struct sim_device *dev = to_sim_dev(d);

	memmove(dst, src, bytes);
	atomic_fetch_add_explicit(&dev->copies, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&dev->copy_bytes, bytes,
				  memory_order_relaxed);
	return 0;
}

static bool sim_peer_access(struct vp_device *d, struct vp_device *peer)
{
	return d == peer || dev_sim_is_sim(peer);
}

static uint32_t sim_vm_lookup(struct vp_dev_vm *vmh, uint64_t va)
{
	uint32_t prot = 0;
	void *hva;

	return dev_sim_vm_translate(vmh, va, &hva, &prot) ? prot : 0;
}

static const struct vp_device_ops sim_ops = {
	.info = sim_info,
	.vm_create = sim_vm_create,
	.vm_destroy = sim_vm_destroy,
	.vm_map = sim_vm_map,
	.vm_unmap = sim_vm_unmap,
	.launch = sim_launch,
	.vm_cancel = sim_vm_cancel,
	.vm_stats = sim_vm_stats,
	.destroy = sim_destroy,
	.mem_alloc = sim_mem_alloc_op,
	.mem_free = sim_mem_free_op,
	.copy = sim_copy,
	.peer_access = sim_peer_access,
	.vm_lookup = sim_vm_lookup,
};
