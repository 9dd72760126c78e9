// SPDX-License-Identifier: MIT
/*
 * timed_dev.c - a device that times every fault on its way through.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Fault service latency is measured where the device sees it: from the
 * moment an execution unit calls the VM's fault function to the moment it
 * returns "replay".  The proxy core and native.c are unmodified; this
 * wrapper sits between them and the simulated GPU, passing every op
 * through and interposing on the fault function only.  Both paths go
 * through the same wrapper, so its cost (two clock reads) is in both the
 * numerator and the denominator.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bench.h"

struct timed_dev {
	struct vp_device base;
	/*
	 * A copy of timed_ops with the optional memory ops left NULL where
	 * the inner device has none, so the SVM core offers exactly the
	 * features the wrapped device has.
	 */
	struct vp_device_ops ops;
	struct vp_device *inner;
	double *_Atomic buf;
	_Atomic size_t cap;
	_Atomic size_t count;
};

struct timed_vm {
	struct timed_dev *td;
	struct vp_dev_vm *inner;
	void *owner;
	vp_fault_fn fault;
};

static const struct vp_device_ops timed_ops;

static struct timed_dev *to_td(struct vp_device *d)
{
	return (struct timed_dev *)d;
}

static struct timed_vm *to_tvm(struct vp_dev_vm *vm)
{
	return (struct timed_vm *)vm;
}

static int timed_fault(void *owner, struct vp_dev_vm *inner, uint64_t va,
		       enum vp_access access)
{
	struct timed_vm *tvm = owner;
	struct timed_dev *td = tvm->td;
	uint64_t t0 = bench_now_ns();
	int ret;
	size_t i;
	double *buf;

	(void)inner;
	ret = tvm->fault(tvm->owner, (struct vp_dev_vm *)tvm, va, access);
	buf = atomic_load(&td->buf);
	i = atomic_fetch_add(&td->count, 1);
	if (buf && i < atomic_load(&td->cap))
		buf[i] = (double)(bench_now_ns() - t0);
	return ret;
}

static void timed_info(struct vp_device *dev, struct vp_device_info *out)
{
	struct vp_device *in = to_td(dev)->inner;

	in->ops->info(in, out);
}

static int timed_vm_create(struct vp_device *dev, uint32_t va_bits,
			   void *owner, vp_fault_fn fault,
			   struct vp_dev_vm **out)
{
	struct timed_dev *td = to_td(dev);
	struct timed_vm *tvm = calloc(1, sizeof(*tvm));
	int ret;

	if (!tvm)
		return -ENOMEM;
	tvm->td = td;
	tvm->owner = owner;
	tvm->fault = fault;
	ret = td->inner->ops->vm_create(td->inner, va_bits, tvm, timed_fault,
					&tvm->inner);
	if (ret) {
		free(tvm);
		return ret;
	}
	*out = (struct vp_dev_vm *)tvm;
	return 0;
}

static void timed_vm_destroy(struct vp_dev_vm *vm)
{
	struct timed_vm *tvm = to_tvm(vm);

	tvm->td->inner->ops->vm_destroy(tvm->inner);
	free(tvm);
}

static int timed_vm_map(struct vp_dev_vm *vm, uint64_t va, uint64_t len,
			void *hva, uint32_t prot)
{
	struct timed_vm *tvm = to_tvm(vm);

	return tvm->td->inner->ops->vm_map(tvm->inner, va, len, hva, prot);
}

static void timed_vm_unmap(struct vp_dev_vm *vm, uint64_t va, uint64_t len)
{
	struct timed_vm *tvm = to_tvm(vm);

	tvm->td->inner->ops->vm_unmap(tvm->inner, va, len);
}

static int timed_launch(struct vp_dev_vm *vm, struct vp_launch *l)
{
	struct timed_vm *tvm = to_tvm(vm);

	return tvm->td->inner->ops->launch(tvm->inner, l);
}

static void timed_vm_cancel(struct vp_dev_vm *vm)
{
	struct timed_vm *tvm = to_tvm(vm);

	tvm->td->inner->ops->vm_cancel(tvm->inner);
}

static void timed_vm_stats(struct vp_dev_vm *vm, struct vp_vm_stats *out)
{
	struct timed_vm *tvm = to_tvm(vm);

	tvm->td->inner->ops->vm_stats(tvm->inner, out);
}

static void *timed_mem_alloc(struct vp_device *dev, uint64_t bytes,
			     uint64_t align)
{
	struct vp_device *in = to_td(dev)->inner;

	return in->ops->mem_alloc(in, bytes, align);
}

static void timed_mem_free(struct vp_device *dev, void *p, uint64_t bytes)
{
	struct vp_device *in = to_td(dev)->inner;

	in->ops->mem_free(in, p, bytes);
}

static int timed_copy(struct vp_device *dev, void *dst, const void *src,
		      uint64_t bytes)
{
	struct vp_device *in = to_td(dev)->inner;

	return in->ops->copy(in, dst, src, bytes);
}

/* The inner device judges peers by their inner devices. */
static bool timed_peer_access(struct vp_device *dev, struct vp_device *peer)
{
	struct vp_device *in = to_td(dev)->inner;

	if (peer->ops->vm_create == timed_vm_create)
		peer = to_td(peer)->inner;
	return in->ops->peer_access(in, peer);
}

/* The inner device is the caller's: destroy frees the wrapper only. */
static void timed_destroy(struct vp_device *dev)
{
	free(to_td(dev));
}

static const struct vp_device_ops timed_ops = {
	.info = timed_info,
	.vm_create = timed_vm_create,
	.vm_destroy = timed_vm_destroy,
	.vm_map = timed_vm_map,
	.vm_unmap = timed_vm_unmap,
	.launch = timed_launch,
	.vm_cancel = timed_vm_cancel,
	.vm_stats = timed_vm_stats,
	.destroy = timed_destroy,
	.mem_alloc = timed_mem_alloc,
	.mem_free = timed_mem_free,
	.copy = timed_copy,
	.peer_access = timed_peer_access,
};

struct vp_device *bench_timed_dev_create(struct vp_device *inner)
{
	struct timed_dev *td = calloc(1, sizeof(*td));

	if (!td)
		return NULL;
	td->ops = timed_ops;
	if (!inner->ops->mem_alloc || !inner->ops->mem_free ||
	    !inner->ops->copy) {
		td->ops.mem_alloc = NULL;
		td->ops.mem_free = NULL;
		td->ops.copy = NULL;
	}
	if (!inner->ops->peer_access)
		td->ops.peer_access = NULL;
	td->base.ops = &td->ops;
	td->base.index = inner->index;
	td->inner = inner;
	return &td->base;
}

size_t bench_timed_dev_record(struct vp_device *dev, double *buf, size_t cap)
{
	struct timed_dev *td = to_td(dev);
	size_t seen;

	/* Stop first, so no fault writes past a buffer being swapped. */
	atomic_store(&td->buf, NULL);
	atomic_store(&td->cap, cap);
	seen = atomic_exchange(&td->count, 0);
	atomic_store(&td->buf, buf);
	return seen;
}
