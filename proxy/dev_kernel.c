// SPDX-License-Identifier: MIT
/*
 * dev_kernel.c - the vsvm_host.ko backend: device, VMs, launches, EUs,
 *                device accesses and the fault reader.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * One struct dk_device is one open file of /dev/vsvm_host<N>.  A VM
 * (struct dk_vm; device.h's struct vp_dev_vm) is a proxy VM of that file,
 * named by the module's vm_id.  vm_map() mirrors the proxy's mapping of
 * guest RAM at the guest process's VAs (VSVMH_IOCTL_MIRROR, gpu_va = va,
 * host_va = hva); guest RAM is a shared memfd, which hmm_range_fault()
 * handles like any shmem.  vm_unmap() is VSVMH_IOCTL_UNMAP.
 *
 * The module has no execution units of its own, so this backend provides
 * them: exec_units threads and one work queue, as in dev_sim.c.  A launch
 * is cut into slices (a pointer chase is one), any idle EU takes the next
 * slice of any launch, and runs it chunk by chunk (dev_kernel_kernels.c).
 * An EU touches VM memory only through VSVMH_IOCTL_ACCESS, a chunk of up
 * to DK_CHUNK_BYTES per array at a time: what the module's page table does
 * not allow, the EU cannot reach.
 *
 * DOC: Coherency
 *
 * device.h's promise, that no access reaches a page after vm_unmap()
 * returned, is the module's: UNMAP returns only when no device access can
 * reach the old pages, and an ACCESS translates page by page through the
 * VM's page table at the time it touches each page.  What the EUs keep in
 * their own buffers are values already loaded (a chunk's input, the pages
 * of the read cache), never translations; a chunk's stores go through
 * ACCESS again.  So the backend adds no TLB of its own that an UNMAP would
 * have to shoot down, and vm_unmap() is the ioctl and nothing more.  The
 * read cache lives for one chunk, so a chunk may compute with a value it
 * loaded just before an UNMAP, as a GPU may with a load in flight.
 *
 * DOC: Faults
 *
 * An EU's access first runs with VSVMH_ACCESS_NOWAIT.  -EAGAIN says the
 * module queued a fault record (or one was pending for that page): the EU
 * counts the fault for its launch and repeats the access for that page
 * alone without NOWAIT, sleeping in the module until the answer, then
 * replaying.  The answer comes from the fault path:
 *
 *   fault fd --read, batched--> reader --> dk_faultq (dev_kernel_fault.c)
 *     --> worker: VM by vm_id, the VM's fault function (may wait for the
 *         guest; installs PTEs with vm_map() = MIRROR) --> FAULT_REPLY
 *
 * The EU never abandons a record: once it saw -EAGAIN it waits for the
 * answer however long it takes (timeouts only log, up to DK_WAIT_TRIES),
 * so every record has a blocked EU behind it.  The dispatcher relies on
 * that for its worker count, and VM teardown relies on it (DOC: VM
 * lifetime).  A failed answer reaches the EU as -EFAULT; the worker notes
 * the fault function's own status in dev->failures first, so the launch
 * ends with what the guest said (VSVM_ERR_FAULT, _CANCELED, _NOMEM).  An
 * -EFAULT with no failure noted means the replay still lacked the
 * permission (the guest answered but mapped too little): the EU faults
 * again, as dev_sim does, until the launch is canceled.
 *
 * A permission miss (a write to a page mirrored read-only: copy-on-write
 * after a guest fork, or a window the core mapped after a read fault) is
 * no fault record in vsvm_host.ko: the NOWAIT access fails with -EFAULT
 * at once.  On a GPU it is a replayable fault like any other, so the EU
 * asks the VM's fault function itself, from its own thread with no lock
 * held, exactly as a dev_sim EU does, and replays.  A page that keeps
 * failing after DK_PERM_TRIES answers is one the module cannot fault on
 * the host: the launch fails with VSVM_ERR_FAULT and a log line.
 *
 * DOC: VM lifetime
 *
 * device.h has vm_destroy() called with no launch running, and the SVM
 * core calls it holding the context lock, the lock the fault function
 * takes.  A worker calls the fault function only for a record some EU is
 * blocked on, so with no launch running no worker can be inside it, and
 * vm_destroy() may wait for vm->calls to drop to 0 without a deadlock:
 * it waits only for workers that are past the call (returning a reply).
 * The wait, the removal from dev->vms and the dead flag are under
 * dev->vms_lock, so no worker starts a call on a VM being destroyed;
 * records that name a VM no longer there are answered -ECANCELED.
 *
 * DOC: Locking
 *
 * Lock order: the owner's context lock -> dev->vms_lock, and
 * -> vm->launch_lock, -> dev->queue_lock.  All three are leaves.  No lock
 * of this file is held across an ioctl that can wait for a fault answer
 * (ACCESS), nor while a worker calls the fault function; vm_map() and
 * vm_unmap() hold none at all while they call MIRROR and UNMAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "dev_kernel_priv.h"
#include "vhost_user.h"

/* A slice is at least this many granules, as in dev_sim.c. */
#define DK_MIN_SLICE_GRANULES 4
/*
 * How long an EU sleeps in one blocking ACCESS for a fault answer.  The
 * SVM core fails a fault the guest leaves unanswered for 30 s, so a wait
 * that runs out means something is stuck: log it and wait again, and give
 * up after DK_WAIT_TRIES.
 */
#define DK_WAIT_MS	      60000
#define DK_WAIT_TRIES	      3
/*
 * Permission misses of one page answered in a row before the EU gives up
 * (the host page itself cannot be faulted: no answer will help).  The
 * owner maps on the first answer, so a few cover every race with UNMAP.
 */
#define DK_PERM_TRIES	      16
/* Records read from the fault fd in one read(). */
#define DK_READ_BATCH	      64
/* Error lines printed before the rest are only counted. */
#define DK_MAX_ERROR_LINES    64
/* UNMAP retries on transient errors (ENOMEM, EINTR) before giving up. */
#define DK_UNMAP_TRIES	      1000

static const struct vp_device_ops dk_ops;

static inline struct dk_device *to_dk_dev(struct vp_device *d)
{
	return (struct dk_device *)d;
}

static inline struct dk_vm *to_dk_vm(struct vp_dev_vm *vm)
{
	return (struct dk_vm *)vm;
}

static inline struct vp_dev_vm *to_dev_vm(struct dk_vm *vm)
{
	return (struct vp_dev_vm *)vm;
}

static uint64_t dk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- System calls and errors ------------------------------------- */

static int dk_ioctl(struct dk_device *dev, unsigned long req, void *arg)
{
	int ret;

	if (dev->sys.ioctl)
		ret = dev->sys.ioctl(dev->sys.opaque, dev->fd, req, arg);
	else
		ret = ioctl(dev->fd, req, arg);
	return ret < 0 ? -errno : 0;
}

static int dk_open(struct dk_device *dev, const char *path, int flags)
{
	if (dev->sys.open)
		return dev->sys.open(dev->sys.opaque, path, flags);
	return open(path, flags);
}

static ssize_t dk_read(struct dk_device *dev, int fd, void *buf, size_t len)
{
	if (dev->sys.read)
		return dev->sys.read(dev->sys.opaque, fd, buf, len);
	return read(fd, buf, len);
}

static void dk_close(struct dk_device *dev, int fd)
{
	if (fd < 0)
		return;
	if (dev->sys.close)
		dev->sys.close(dev->sys.opaque, fd);
	else
		close(fd);
}

/*
 * One line per error on stderr, naming the device and the ioctl.  Errors
 * an EU or a worker meets may repeat at device speed, so after
 * DK_MAX_ERROR_LINES lines the rest are dropped (the first say why).
 */
static void __attribute__((format(printf, 2, 3)))
dk_err(struct dk_device *dev, const char *fmt, ...)
{
	uint32_t n = atomic_fetch_add(&dev->error_lines, 1);
	va_list ap;

	if (dev->verbosity < VP_LOG_ERR || n > DK_MAX_ERROR_LINES)
		return;
	if (n == DK_MAX_ERROR_LINES) {
		fprintf(stderr, "vsvm-proxy: %s: further errors not shown\n",
			dev->name);
		return;
	}
	va_start(ap, fmt);
	fprintf(stderr, "vsvm-proxy: %s: ", dev->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* What an errno from the module means for the SVM core's status. */
static int dk_status_of(int err)
{
	switch (err) {
	case -ENOMEM:
		return -VSVM_ERR_NOMEM;
	case -ENOSPC:
		return -VSVM_ERR_LIMIT;
	case -ECANCELED:
	case -ENODEV:
		return -VSVM_ERR_CANCELED;
	case -EFAULT:
		return -VSVM_ERR_FAULT;
	case -ERANGE:
		return -VSVM_ERR_RANGE;
	default:
		return -VSVM_ERR_UNSPEC;
	}
}

/* And the errno a fault answer carries for a status of the core. */
static int dk_errno_of(int status)
{
	switch (status) {
	case -VSVM_ERR_CANCELED:
		return -ECANCELED;
	case -VSVM_ERR_NOMEM:
		return -ENOMEM;
	default:
		return -EFAULT;
	}
}

/* ---- VMs ---------------------------------------------------------- */

static struct dk_vm *dk_vm_find(struct dk_device *dev, uint32_t id)
{
	struct dk_vm *vm;

	for (vm = dev->vms; vm; vm = vm->next)
		if (vm->id == id)
			return vm;
	return NULL;
}

static void dk_vm_unlink(struct dk_device *dev, struct dk_vm *dead)
{
	struct dk_vm **p;

	for (p = &dev->vms; *p; p = &(*p)->next) {
		if (*p == dead) {
			*p = dead->next;
			dev->nr_vms--;
			return;
		}
	}
}

static int dk_vm_create(struct vp_device *d, uint32_t va_bits, void *owner,
			vp_fault_fn fault, struct vp_dev_vm **out)
{
	struct dk_device *dev = to_dk_dev(d);
	struct vsvmh_vm_create arg = { .va_bits = va_bits };
	struct dk_vm *vm;
	int err;

	if (!out || va_bits < VSVM_VA_BITS_MIN || va_bits > VSVM_VA_BITS_MAX)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	err = dk_ioctl(dev, VSVMH_IOCTL_VM_CREATE, &arg);
	if (err) {
		dk_err(dev, "VM_CREATE va_bits %u: %s%s", va_bits,
		       strerror(-err),
		       err == -ENOSPC ? " (the module's max_vms per file)" :
					"");
		free(vm);
		return err;
	}
	vm->dev = dev;
	vm->owner = owner;
	vm->fault = fault;
	vm->va_bits = va_bits;
	vm->id = arg.vm_id;
	pthread_mutex_init(&vm->launch_lock, NULL);
	pthread_cond_init(&vm->launch_idle, NULL);
	pthread_mutex_lock(&dev->vms_lock);
	vm->next = dev->vms;
	dev->vms = vm;
	dev->nr_vms++;
	pthread_mutex_unlock(&dev->vms_lock);
	*out = to_dev_vm(vm);
	return 0;
}

static void dk_vm_cancel(struct vp_dev_vm *vmh)
{
	atomic_fetch_add(&to_dk_vm(vmh)->cancel_epoch, 1);
}

/* VM_DESTROY of the module, for vm_destroy and a device going away. */
static void dk_vm_release(struct dk_device *dev, struct dk_vm *vm)
{
	struct vsvmh_vm arg = { .vm_id = vm->id };
	int err = dk_ioctl(dev, VSVMH_IOCTL_VM_DESTROY, &arg);

	if (err)
		dk_err(dev, "VM_DESTROY vm %u: %s", vm->id, strerror(-err));
	pthread_cond_destroy(&vm->launch_idle);
	pthread_mutex_destroy(&vm->launch_lock);
	free(vm);
}

static void dk_vm_destroy(struct vp_dev_vm *vmh)
{
	struct dk_vm *vm = to_dk_vm(vmh);
	struct dk_device *dev;

	if (!vm)
		return;
	dev = vm->dev;
	/* As in dev_sim.c: should launches still run, end them first. */
	pthread_mutex_lock(&vm->launch_lock);
	if (vm->nr_launches) {
		atomic_fetch_add(&vm->cancel_epoch, 1);
		while (vm->nr_launches)
			pthread_cond_wait(&vm->launch_idle, &vm->launch_lock);
	}
	pthread_mutex_unlock(&vm->launch_lock);

	/* DOC: VM lifetime: only workers past their call can be counted. */
	pthread_mutex_lock(&dev->vms_lock);
	vm->dead = true;
	dk_vm_unlink(dev, vm);
	while (vm->calls)
		pthread_cond_wait(&dev->calls_idle, &dev->vms_lock);
	pthread_mutex_unlock(&dev->vms_lock);
	dk_vm_release(dev, vm);
}

/* The module's permission bits: WRITE needs READ, ATOMIC needs WRITE. */
static uint32_t dk_prot(uint32_t prot)
{
	uint32_t p = 0;

	if (prot & VP_PROT_READ) {
		p |= VSVMH_PROT_READ;
		if (prot & VP_PROT_WRITE) {
			p |= VSVMH_PROT_WRITE;
			if (prot & VP_PROT_ATOMIC)
				p |= VSVMH_PROT_ATOMIC;
		}
	}
	return p;
}

static void dk_vm_unmap(struct vp_dev_vm *vmh, uint64_t va, uint64_t len);

static int dk_vm_map(struct vp_dev_vm *vmh, uint64_t va, uint64_t len,
		     void *hva, uint32_t prot)
{
	struct dk_vm *vm = to_dk_vm(vmh);
	struct dk_device *dev = vm->dev;
	struct vsvmh_mirror arg = {
		.vm_id = vm->id,
		.prot = dk_prot(prot),
		.gpu_va = va,
		.host_va = (uint64_t)(uintptr_t)hva,
		.len = len,
	};
	int err;

	if (!len || ((va | len | arg.host_va) & DK_PAGE_OFF) || va + len < va ||
	    va + len > (1ull << vm->va_bits))
		return -EINVAL;
	/* No access at all (a DEVICE_ACCESS limit): nothing may stay. */
	if (!arg.prot) {
		dk_vm_unmap(vmh, va, len);
		return 0;
	}
	do
		err = dk_ioctl(dev, VSVMH_IOCTL_MIRROR, &arg);
	while (err == -EINTR);
	if (!err)
		return 0;
	dk_err(dev,
	       "MIRROR vm %u gpu [0x%" PRIx64 ", +0x%" PRIx64
	       ") host 0x%" PRIx64 " prot %#x: %s",
	       vm->id, va, len, (uint64_t)arg.host_va, arg.prot,
	       strerror(-err));
	return err == -ENOMEM || err == -ENOSPC ? -ENOMEM : -EINVAL;
}

/*
 * An invalidation cannot fail (device.h): the range is widened to whole
 * pages and clipped to the VA space as in dev_sim.c, and transient errors
 * are retried.  Anything else is a broken module or a bug here, and the
 * line says the guarantee is at stake.
 */
static void dk_vm_unmap(struct vp_dev_vm *vmh, uint64_t va, uint64_t len)
{
	struct dk_vm *vm = to_dk_vm(vmh);
	struct dk_device *dev = vm->dev;
	uint64_t limit = 1ull << vm->va_bits;
	uint64_t start = va & ~DK_PAGE_OFF;
	uint64_t end = len > UINT64_MAX - va ? UINT64_MAX : va + len;
	struct vsvmh_range arg = { .vm_id = vm->id };
	int err, tries = 0;

	if (!len)
		return;
	end = end > limit ? limit : (end + DK_PAGE_OFF) & ~DK_PAGE_OFF;
	if (start >= end)
		return;
	arg.gpu_va = start;
	arg.len = end - start;
	for (;;) {
		err = dk_ioctl(dev, VSVMH_IOCTL_UNMAP, &arg);
		if (!err || ++tries >= DK_UNMAP_TRIES)
			break;
		if (err != -EINTR && err != -ENOMEM && err != -EAGAIN)
			break;
		if (err != -EINTR)
			usleep(1000);
	}
	atomic_fetch_add_explicit(&vm->unmaps, 1, memory_order_relaxed);
	if (err)
		dk_err(dev,
		       "UNMAP vm %u [0x%" PRIx64 ", +0x%" PRIx64 "): %s: the "
		       "device may still reach those pages (module bug?)",
		       vm->id, (uint64_t)arg.gpu_va, (uint64_t)arg.len,
		       strerror(-err));
}

static void dk_vm_stats(struct vp_dev_vm *vmh, struct vp_vm_stats *out)
{
	struct dk_vm *vm = to_dk_vm(vmh);
	struct vsvmh_vm_stats st = { .vm_id = vm->id };
	int err = dk_ioctl(vm->dev, VSVMH_IOCTL_VM_STATS, &st);

	memset(out, 0, sizeof(*out));
	if (err)
		dk_err(vm->dev, "VM_STATS vm %u: %s", vm->id, strerror(-err));
	else {
		out->pt_bytes = st.pt_bytes;
		out->mapped_bytes = st.mapped_bytes;
		out->tlb_flushes = st.invalidations;
	}
	out->tlb_flushes +=
		atomic_load_explicit(&vm->unmaps, memory_order_relaxed);
	out->faults = atomic_load_explicit(&vm->faults, memory_order_relaxed);
}

/* ---- Device accesses (the EU side of DOC: Faults) ------------------ */

/* Canceled or the device going: the access stops. */
static bool dk_canceled(const struct dk_eu *eu, const struct dk_vm *vm)
{
	const struct dk_launch *kl = eu->cur;

	return atomic_load_explicit(&vm->cancel_epoch, memory_order_relaxed) !=
		       kl->cancel_epoch ||
	       atomic_load_explicit(&vm->dev->dying, memory_order_relaxed);
}

/* The fault function's status for a failed answer after seq, or 0. */
static int dk_failure_of(struct dk_device *dev, uint32_t vm_id, uint64_t va,
			 uint64_t seq)
{
	int status = 0;
	uint32_t i;

	pthread_mutex_lock(&dev->vms_lock);
	for (i = 0; i < DK_FAILURES; i++) {
		const struct dk_failure *f = &dev->failures[i];

		if (f->seq > seq && f->vm_id == vm_id && f->va == va) {
			status = f->status;
			break;
		}
	}
	pthread_mutex_unlock(&dev->vms_lock);
	return status;
}

static uint64_t dk_failure_seq(struct dk_device *dev)
{
	uint64_t seq;

	pthread_mutex_lock(&dev->vms_lock);
	seq = dev->failure_seq;
	pthread_mutex_unlock(&dev->vms_lock);
	return seq;
}

static const char *dk_op_name(uint32_t op)
{
	switch (op) {
	case VSVMH_ACCESS_READ:
		return "READ";
	case VSVMH_ACCESS_WRITE:
		return "WRITE";
	default:
		return "ATOMIC_ADD";
	}
}

/*
 * Wait in the module for the answer to the fault on the page at va, and
 * replay it: the access is cut to that page.  Return 0 (done), 1 (the
 * answer was OK but the replay failed: fault again), or a negated status.
 */
static int dk_wait_page(struct dk_eu *eu, const struct dk_vm *vm,
			struct vsvmh_access *a, uint64_t page, uint64_t seq)
{
	struct dk_device *dev = vm->dev;
	int err, status, tries = 0;

	a->flags = 0;
	a->timeout_ms = DK_WAIT_MS;
	for (;;) {
		a->done = 0;
		err = dk_ioctl(dev, VSVMH_IOCTL_ACCESS, a);
		atomic_fetch_add_explicit(&dev->accesses, 1,
					  memory_order_relaxed);
		if (!err)
			return 0;
		/* A partial replay is impossible on one page; be safe. */
		if (a->done) {
			a->gpu_va += a->done;
			a->buf += a->done;
			a->len -= a->done;
		}
		switch (err) {
		case -EINTR:
			continue;
		case -ETIMEDOUT:
			dk_err(dev,
			       "fault at vm %u 0x%" PRIx64 " unanswered "
			       "for %d s",
			       vm->id, page, DK_WAIT_MS / 1000);
			if (++tries < DK_WAIT_TRIES)
				continue;
			return -VSVM_ERR_FAULT;
		case -EFAULT:
			status = dk_failure_of(dev, vm->id, page, seq);
			if (status)
				return status;
			return dk_canceled(eu, vm) ? -VSVM_ERR_CANCELED : 1;
		case -ECANCELED:
			return -VSVM_ERR_CANCELED;
		default:
			dk_err(dev,
			       "ACCESS %s vm %u 0x%" PRIx64 " (waiting): %s",
			       dk_op_name(a->op), vm->id, page, strerror(-err));
			return dk_status_of(err);
		}
	}
}

/*
 * A permission miss (DOC: Faults): ask the VM's owner from this EU's own
 * thread, as a dev_sim EU does.  No lock of the backend is held here.
 * Return: 0 to replay, or the negated status that fails the launch.
 */
static int dk_fault_direct(struct dk_eu *eu, const struct dk_vm *cvm,
			   uint32_t op, uint64_t page)
{
	struct dk_vm *vm = (struct dk_vm *)cvm;
	enum vp_access kind = op == VSVMH_ACCESS_READ  ? VP_ACCESS_READ :
			      op == VSVMH_ACCESS_WRITE ? VP_ACCESS_WRITE :
							 VP_ACCESS_ATOMIC;
	int ret;

	if ((page >> vm->va_bits) || !vm->fault)
		return -VSVM_ERR_FAULT;
	atomic_fetch_add_explicit(&eu->cur->faults, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&vm->faults, 1, memory_order_relaxed);
	ret = vm->fault(vm->owner, to_dev_vm(vm), page, kind);
	return ret > 0 ? -VSVM_ERR_FAULT : ret;
}

int dk_access(struct dk_eu *eu, const struct dk_vm *vm, uint32_t op,
	      uint64_t va, void *buf, uint64_t len, uint64_t *fault_va)
{
	struct dk_device *dev = vm->dev;
	uint64_t off = 0, page, seq, perm_page = UINT64_MAX;
	uint32_t perm_tries = 0;
	struct vsvmh_access a;
	int err, ret;

	while (off < len) {
		if (dk_canceled(eu, vm)) {
			*fault_va = 0;
			return -VSVM_ERR_CANCELED;
		}
		seq = dk_failure_seq(dev);
		a = (struct vsvmh_access){
			.vm_id = vm->id,
			.op = op,
			.gpu_va = va + off,
			.len = len - off,
			.buf = (uint64_t)(uintptr_t)buf + off,
			.flags = VSVMH_ACCESS_NOWAIT,
		};
		err = dk_ioctl(dev, VSVMH_IOCTL_ACCESS, &a);
		atomic_fetch_add_explicit(&dev->accesses, 1,
					  memory_order_relaxed);
		if (!err)
			return 0;
		if (a.done <= len - off)
			off += a.done;
		page = (va + off) & ~DK_PAGE_OFF;
		*fault_va = page;
		switch (err) {
		case -EAGAIN:
			atomic_fetch_add_explicit(&eu->cur->faults, 1,
						  memory_order_relaxed);
			a.gpu_va = va + off;
			a.buf = (uint64_t)(uintptr_t)buf + off;
			a.len = page + DK_PAGE_SIZE - (va + off);
			if (a.len > len - off)
				a.len = len - off;
			ret = dk_wait_page(eu, vm, &a, page, seq);
			if (ret < 0)
				return ret;
			if (!ret)
				off = a.gpu_va + a.len - va;
			continue;
		case -EINTR:
			continue;
		case -EFAULT:
			/*
			 * No record: the PTE lacks the permission (a page the
			 * owner mapped read-only, copy-on-write), or the host
			 * page cannot be faulted.  Asking the owner fixes the
			 * first; a page that keeps failing is the second.
			 */
			if (page != perm_page)
				perm_tries = 0;
			perm_page = page;
			if (++perm_tries > DK_PERM_TRIES) {
				dk_err(dev,
				       "ACCESS %s vm %u 0x%" PRIx64
				       ": -EFAULT after %u answered faults",
				       dk_op_name(op), vm->id, page,
				       DK_PERM_TRIES);
				return -VSVM_ERR_FAULT;
			}
			ret = dk_fault_direct(eu, vm, op, page);
			if (ret)
				return ret;
			continue;
		case -ECANCELED:
			return -VSVM_ERR_CANCELED;
		default:
			dk_err(dev,
			       "ACCESS %s vm %u [0x%" PRIx64 ", +0x%" PRIx64
			       "): %s",
			       dk_op_name(op), vm->id, va + off, len - off,
			       strerror(-err));
			return dk_status_of(err);
		}
	}
	return 0;
}

int dk_read_cached(struct dk_eu *eu, const struct dk_vm *vm, uint64_t va,
		   void *out, uint64_t len, uint64_t *fault_va)
{
	uint64_t vpn = va / DK_PAGE_SIZE;
	uint32_t slot = (uint32_t)(vpn % DK_PCACHE_SLOTS);
	struct dk_pcache *pc = &eu->pc;
	int ret;

	if (pc->vpn[slot] != vpn) {
		pc->vpn[slot] = UINT64_MAX;
		ret = dk_access(eu, vm, VSVMH_ACCESS_READ, vpn * DK_PAGE_SIZE,
				pc->page[slot], DK_PAGE_SIZE, fault_va);
		if (ret)
			return ret;
		pc->vpn[slot] = vpn;
	}
	memcpy(out, pc->page[slot] + (va & DK_PAGE_OFF), len);
	return 0;
}

/* ---- Launches ----------------------------------------------------- */

/* Cut plan->elems into at most nr_eus slices; return their number. */
static uint32_t dk_slices(const struct dk_device *dev,
			  const struct dk_plan *plan, uint64_t *slice_len)
{
	uint64_t granules, nr, per;

	if (plan->one_eu) {
		*slice_len = plan->elems;
		return 1;
	}
	granules = (plan->elems + plan->granule - 1) / plan->granule;
	nr = (granules + DK_MIN_SLICE_GRANULES - 1) / DK_MIN_SLICE_GRANULES;
	if (nr > dev->nr_eus)
		nr = dev->nr_eus;
	per = (granules + nr - 1) / nr * plan->granule;
	*slice_len = per;
	return (uint32_t)((plan->elems + per - 1) / per);
}

static void dk_queue_push(struct dk_device *dev, struct dk_launch *kl)
{
	uint32_t i;

	pthread_mutex_lock(&dev->queue_lock);
	for (i = 0; i < kl->nr_work; i++) {
		kl->work[i].next = NULL;
		*dev->queue_tail = &kl->work[i];
		dev->queue_tail = &kl->work[i].next;
	}
	pthread_cond_broadcast(&dev->queue_cond);
	pthread_mutex_unlock(&dev->queue_lock);
}

static int dk_launch(struct vp_dev_vm *vmh, struct vp_launch *l)
{
	struct dk_vm *vm = to_dk_vm(vmh);
	struct dk_device *dev = vm->dev;
	uint64_t arg[VSVM_MAX_KERNEL_ARGS] = { 0 };
	struct dk_plan plan = { 0 };
	const struct dk_kernel *k;
	uint64_t slice_len = 0;
	struct dk_launch *kl;
	uint32_t nr = 1, nr_args, i;
	int status;

	if (!l || !l->done)
		return -EINVAL;
	nr_args = l->nr_args;
	if (nr_args > VSVM_MAX_KERNEL_ARGS)
		nr_args = VSVM_MAX_KERNEL_ARGS;
	memcpy(arg, l->args, nr_args * sizeof(arg[0]));
	k = dk_kernel_get(l->kernel);
	status = k ? k->check(vm, arg, &plan) : -VSVM_ERR_VALUE;
	if (!status && plan.elems)
		nr = dk_slices(dev, &plan, &slice_len);

	kl = calloc(1, sizeof(*kl) + nr * sizeof(kl->work[0]));
	if (!kl)
		return -ENOMEM;
	kl->l = l;
	kl->vm = vm;
	kl->kernel = k;
	memcpy(kl->arg, arg, sizeof(arg));
	kl->cancel_epoch = atomic_load(&vm->cancel_epoch);
	kl->start_ns = dk_now_ns();
	kl->result_is_count = plan.result_is_count;
	kl->count = plan.elems;
	atomic_init(&kl->status, status);
	atomic_init(&kl->remaining, nr);
	kl->nr_work = nr;
	/* A failed check or an empty launch is one empty slice. */
	for (i = 0; i < nr; i++) {
		kl->work[i].launch = kl;
		if (status || !plan.elems)
			continue;
		kl->work[i].begin = i * slice_len;
		kl->work[i].end = plan.elems - kl->work[i].begin > slice_len ?
					  kl->work[i].begin + slice_len :
					  plan.elems;
	}
	pthread_mutex_lock(&vm->launch_lock);
	vm->nr_launches++;
	pthread_mutex_unlock(&vm->launch_lock);
	atomic_fetch_add_explicit(&dev->launches, 1, memory_order_relaxed);
	dk_queue_push(dev, kl);
	return 0;
}

/* The EU that ends the last slice reports the launch; runs once. */
static void dk_launch_end(struct dk_launch *kl)
{
	struct vp_launch *l = kl->l;
	struct dk_vm *vm = kl->vm;
	int status = atomic_load_explicit(&kl->status, memory_order_relaxed);

	l->status = status;
	if (status)
		l->result = 0;
	else if (kl->result_is_count)
		l->result = kl->count;
	else
		l->result =
			atomic_load_explicit(&kl->result, memory_order_relaxed);
	l->fault_va = status ? kl->fault_va : 0;
	l->faults = atomic_load_explicit(&kl->faults, memory_order_relaxed);
	l->elapsed_ns = dk_now_ns() - kl->start_ns;
	free(kl);

	pthread_mutex_lock(&vm->launch_lock);
	if (!--vm->nr_launches)
		pthread_cond_broadcast(&vm->launch_idle);
	pthread_mutex_unlock(&vm->launch_lock);
	/* From here vm may be destroyed, and l is the caller's again. */
	l->done(l);
}

static void dk_launch_fail(struct dk_launch *kl, int status, uint64_t va)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&kl->status, &expected, status))
		kl->fault_va = va;
}

static void dk_eu_run(struct dk_eu *eu, struct dk_work *w)
{
	struct dk_launch *kl = w->launch;
	struct dk_vm *vm = kl->vm;
	struct dk_cursor cur = {
		.pos = w->begin,
		.end = w->end,
		.ptr = kl->arg[0],
	};
	uint32_t i;
	int ret = 0;

	eu->cur = kl;
	while (cur.pos < cur.end) {
		if (atomic_load_explicit(&kl->status, memory_order_relaxed))
			break;
		if (dk_canceled(eu, vm)) {
			ret = -VSVM_ERR_CANCELED;
			break;
		}
		/* DOC: Coherency: loaded pages live for one chunk. */
		for (i = 0; i < DK_PCACHE_SLOTS; i++)
			eu->pc.vpn[i] = UINT64_MAX;
		ret = kl->kernel->chunk(eu, vm, kl->arg, &cur);
		if (ret)
			break;
	}
	eu->cur = NULL;
	if (ret < 0)
		dk_launch_fail(kl, ret, cur.fault_va);
	if (cur.acc)
		atomic_fetch_add_explicit(&kl->result, cur.acc,
					  memory_order_relaxed);
	/* acq_rel: the last EU sees every slice's result and fault_va. */
	if (atomic_fetch_sub_explicit(&kl->remaining, 1,
				      memory_order_acq_rel) == 1)
		dk_launch_end(kl);
}

static void *dk_eu_main(void *arg)
{
	struct dk_eu *eu = arg;
	struct dk_device *dev = eu->dev;
	struct dk_work *w;

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
		dk_eu_run(eu, w);
	}
}

/* ---- Fault path (DOC: Faults) ------------------------------------- */

static enum vp_access dk_access_kind(uint32_t access)
{
	switch (access) {
	case VSVMH_FAULT_WRITE:
		return VP_ACCESS_WRITE;
	case VSVMH_FAULT_ATOMIC:
		return VP_ACCESS_ATOMIC;
	default:
		return VP_ACCESS_READ;
	}
}

/* dk_faultq_ops.resolve: a worker answers one record. */
static int dk_resolve(void *opaque, const struct vsvmh_fault *rec)
{
	struct dk_device *dev = opaque;
	uint64_t va = rec->gpu_va & ~DK_PAGE_OFF;
	struct dk_vm *vm;
	int ret;

	pthread_mutex_lock(&dev->vms_lock);
	vm = dk_vm_find(dev, rec->vm_id);
	if (vm && vm->dead)
		vm = NULL;
	if (vm)
		vm->calls++;
	pthread_mutex_unlock(&dev->vms_lock);
	if (!vm)
		return -ECANCELED;

	if ((va >> vm->va_bits) || !vm->fault ||
	    rec->access < VSVMH_FAULT_READ || rec->access > VSVMH_FAULT_ATOMIC)
		ret = -VSVM_ERR_FAULT;
	else {
		atomic_fetch_add_explicit(&vm->faults, 1, memory_order_relaxed);
		ret = vm->fault(vm->owner, to_dev_vm(vm), va,
				dk_access_kind(rec->access));
		if (ret > 0)
			ret = -VSVM_ERR_FAULT;
	}

	pthread_mutex_lock(&dev->vms_lock);
	if (ret) {
		struct dk_failure *f =
			&dev->failures[dev->failure_seq % DK_FAILURES];

		f->seq = ++dev->failure_seq;
		f->vm_id = vm->id;
		f->va = va;
		f->status = ret;
	}
	if (!--vm->calls && vm->dead)
		pthread_cond_broadcast(&dev->calls_idle);
	pthread_mutex_unlock(&dev->vms_lock);
	return ret ? dk_errno_of(ret) : 0;
}

/* dk_faultq_ops.reply: one FAULT_REPLY for a batch of answers. */
static int dk_reply(void *opaque, const struct vsvmh_fault_resolution *res,
		    uint32_t nr)
{
	struct dk_device *dev = opaque;
	struct vsvmh_fault_reply arg = {
		.nr = nr,
		.res = (uint64_t)(uintptr_t)res,
	};
	int err;

	do
		err = dk_ioctl(dev, VSVMH_IOCTL_FAULT_REPLY, &arg);
	while (err == -EINTR);
	if (err)
		dk_err(dev,
		       "FAULT_REPLY of %u answers: %s: the accesses "
		       "behind them wait until they time out",
		       nr, strerror(-err));
	return err;
}

static const struct dk_faultq_ops dk_faultq_ops = {
	.resolve = dk_resolve,
	.reply = dk_reply,
};

/* Records that cannot be queued (no memory) are failed at once. */
static void dk_refuse(struct dk_device *dev, const struct vsvmh_fault *recs,
		      uint32_t nr)
{
	struct vsvmh_fault_resolution res[DK_READ_BATCH];
	uint32_t i;

	for (i = 0; i < nr; i++)
		res[i] = (struct vsvmh_fault_resolution){ recs[i].id, -ENOMEM };
	dk_reply(dev, res, nr);
}

static void *dk_reader_main(void *arg)
{
	struct dk_device *dev = arg;
	struct vsvmh_fault recs[DK_READ_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = dev->fault_fd, .events = POLLIN },
		{ .fd = dev->stop_fd, .events = POLLIN },
	};
	ssize_t n;
	uint32_t nr;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			dk_err(dev, "poll of the fault fd: %s",
			       strerror(errno));
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLNVAL)) {
			dk_err(dev,
			       "the fault fd failed: faults go unanswered");
			return NULL;
		}
		n = dk_read(dev, dev->fault_fd, recs, sizeof(recs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			dk_err(dev, "read of the fault fd: %s",
			       strerror(errno));
			return NULL;
		}
		/* End of file: the module closed the queue; poll() would spin. */
		if (!n) {
			dk_err(dev, "the fault fd was closed: faults go "
				    "unanswered");
			return NULL;
		}
		if (n % sizeof(recs[0]))
			dk_err(dev,
			       "fault fd returned %zd bytes, not whole "
			       "records (module bug)",
			       n);
		nr = (uint32_t)(n / sizeof(recs[0]));
		if (!nr)
			continue;
		atomic_fetch_add_explicit(&dev->faults_read, nr,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&dev->fault_batches, 1,
					  memory_order_relaxed);
		if (dk_faultq_push(&dev->faultq, recs, nr))
			dk_refuse(dev, recs, nr);
	}
}

/* ---- Device ------------------------------------------------------- */

static void dk_info(struct vp_device *d, struct vp_device_info *out)
{
	struct dk_device *dev = to_dk_dev(d);
	struct vsvmh_caps caps;

	/* mem_used changes: ask each time, fall back to what open saw. */
	if (dk_ioctl(dev, VSVMH_IOCTL_GET_CAPS, &caps))
		caps = dev->caps;
	out->mem_size = caps.mem_size;
	out->mem_used = caps.mem_used;
	out->exec_units = dev->nr_eus;
	out->index = dev->base.index;
	out->name = dev->name;
}

static void dk_stop_eus(struct dk_device *dev, uint32_t started)
{
	uint32_t i;

	pthread_mutex_lock(&dev->queue_lock);
	dev->stopping = true;
	pthread_cond_broadcast(&dev->queue_cond);
	pthread_mutex_unlock(&dev->queue_lock);
	for (i = 0; i < started; i++)
		pthread_join(dev->eus[i].thread, NULL);
}

static void dk_free_eus(struct dk_device *dev)
{
	uint32_t i, j;

	if (!dev->eus)
		return;
	for (i = 0; i < dev->nr_eus; i++) {
		struct dk_eu *eu = &dev->eus[i];

		for (j = 0; j < 3; j++)
			free(eu->buf[j]);
		free(eu->keys);
		for (j = 0; j < DK_PCACHE_SLOTS; j++)
			free(eu->pc.page[j]);
	}
	free(dev->eus);
	dev->eus = NULL;
}

static int dk_init_eus(struct dk_device *dev)
{
	uint32_t i, j;

	dev->eus = calloc(dev->nr_eus, sizeof(*dev->eus));
	if (!dev->eus)
		return -ENOMEM;
	for (i = 0; i < dev->nr_eus; i++) {
		struct dk_eu *eu = &dev->eus[i];

		eu->dev = dev;
		eu->index = i;
		for (j = 0; j < 3; j++)
			if (!(eu->buf[j] = aligned_alloc(64, DK_CHUNK_BYTES)))
				return -ENOMEM;
		eu->keys = calloc(DK_CHUNK_BYTES / 4, sizeof(*eu->keys));
		if (!eu->keys)
			return -ENOMEM;
		for (j = 0; j < DK_PCACHE_SLOTS; j++) {
			eu->pc.vpn[j] = UINT64_MAX;
			eu->pc.page[j] = aligned_alloc(64, DK_PAGE_SIZE);
			if (!eu->pc.page[j])
				return -ENOMEM;
		}
	}
	return 0;
}

static int dk_start_eus(struct dk_device *dev)
{
	uint32_t i;
	int err;

	for (i = 0; i < dev->nr_eus; i++) {
		char name[32];

		err = pthread_create(&dev->eus[i].thread, NULL, dk_eu_main,
				     &dev->eus[i]);
		if (err)
			return -err;
		dev->eus_started = i + 1;
		snprintf(name, sizeof(name), "vsvmh%u-eu%u", dev->base.index,
			 i);
		name[15] = '\0'; /* the kernel's limit for a thread name */
		pthread_setname_np(dev->eus[i].thread, name);
	}
	return 0;
}

static void dk_stop_reader(struct dk_device *dev)
{
	uint64_t one = 1;

	if (!dev->reader_started)
		return;
	if (write(dev->stop_fd, &one, sizeof(one)) != sizeof(one))
		dk_err(dev, "cannot wake the fault reader: %s",
		       strerror(errno));
	pthread_join(dev->reader, NULL);
	dev->reader_started = false;
}

static void dk_close_files(struct dk_device *dev)
{
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	dk_close(dev, dev->fault_fd);
	dk_close(dev, dev->fd);
}

static void dk_destroy(struct vp_device *d)
{
	struct dk_device *dev = to_dk_dev(d);
	struct dk_vm *vm;

	if (!dev)
		return;
	/* Launches still queued or running end with VSVM_ERR_CANCELED. */
	atomic_store(&dev->dying, true);
	dk_stop_eus(dev, dev->eus_started);
	dk_stop_reader(dev);
	dk_faultq_stop(&dev->faultq);
	/* device.h wants every VM destroyed first; closing frees them too. */
	while ((vm = dev->vms)) {
		dk_err(dev, "destroyed with vm %u alive", vm->id);
		dev->vms = vm->next;
		dk_vm_release(dev, vm);
	}
	dk_free_eus(dev);
	dk_close_files(dev);
	pthread_cond_destroy(&dev->queue_cond);
	pthread_mutex_destroy(&dev->queue_lock);
	pthread_cond_destroy(&dev->calls_idle);
	pthread_mutex_destroy(&dev->vms_lock);
	free(dev);
}

/* Open the node and check that it speaks our uapi.  Prints why not. */
static int dk_open_device(struct dk_device *dev)
{
	int err;

	dev->fd = dk_open(dev, dev->path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		err = -errno;
		if (err == -ENOENT && dev->base.index == 0)
			dk_err(dev, "vsvm_host.ko not loaded: %s: %s",
			       dev->path, strerror(-err));
		else if (err == -ENOENT)
			dk_err(dev,
			       "%s: %s (vsvm_host.ko provides %u "
			       "device(s): use --devices %u, or load it with "
			       "more)",
			       dev->path, strerror(-err),
			       dev_kernel_module_devices("/dev/vsvm_host0"),
			       dev_kernel_module_devices("/dev/vsvm_host0"));
		else if (err == -EACCES || err == -EPERM)
			dk_err(dev,
			       "%s: %s (the proxy needs read and write "
			       "access to the node)",
			       dev->path, strerror(-err));
		else
			dk_err(dev, "%s: %s", dev->path, strerror(-err));
		return err;
	}
	err = dk_ioctl(dev, VSVMH_IOCTL_GET_CAPS, &dev->caps);
	if (err) {
		dk_err(dev, "GET_CAPS on %s: %s (is it a vsvm_host device?)",
		       dev->path, strerror(-err));
		return err;
	}
	if (dev->caps.version != VSVMH_UAPI_VERSION) {
		dk_err(dev,
		       "%s speaks vsvm_host uapi version %u; this proxy "
		       "speaks %u",
		       dev->path, dev->caps.version, VSVMH_UAPI_VERSION);
		return -EPROTO;
	}
	return 0;
}

static int dk_open_fault_fd(struct dk_device *dev)
{
	struct vsvmh_fault_fd arg = { .fd = -1 };
	int err, flags;

	err = dk_ioctl(dev, VSVMH_IOCTL_FAULT_FD, &arg);
	if (err) {
		dk_err(dev, "FAULT_FD: %s%s", strerror(-err),
		       err == -EBUSY ? " (another fault fd is open)" : "");
		return err;
	}
	dev->fault_fd = arg.fd;
	/* poll() says when; read() must then never block the reader. */
	flags = fcntl(dev->fault_fd, F_GETFL);
	if (flags < 0 || fcntl(dev->fault_fd, F_SETFL, flags | O_NONBLOCK)) {
		err = -errno;
		dk_err(dev, "fault fd: O_NONBLOCK: %s", strerror(-err));
		return err;
	}
	dev->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (dev->stop_fd < 0)
		return -errno;
	return 0;
}

static int dk_start(struct dk_device *dev)
{
	int err;

	err = dk_open_device(dev);
	if (err)
		return err;
	err = dk_open_fault_fd(dev);
	if (err)
		return err;
	/* DOC: Fault dispatch: more workers than EUs. */
	err = dk_faultq_start(&dev->faultq, &dk_faultq_ops, dev,
			      dev->nr_eus + 1);
	if (err)
		return err;
	err = -pthread_create(&dev->reader, NULL, dk_reader_main, dev);
	if (err)
		return err;
	dev->reader_started = true;
	pthread_setname_np(dev->reader, "vsvmh-faultfd");
	err = dk_init_eus(dev);
	if (err)
		return err;
	return dk_start_eus(dev);
}

struct vp_device *dev_kernel_create(const struct dev_kernel_config *cfg)
{
	struct dev_kernel_config c = { 0 };
	struct dk_device *dev;
	int err;

	if (cfg)
		c = *cfg;
	if (!c.exec_units)
		c.exec_units = DEV_KERNEL_DEFAULT_EXEC_UNITS;
	if (c.exec_units > DEV_KERNEL_MAX_EXEC_UNITS) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		errno = ENOMEM;
		return NULL;
	}
	dev->base.ops = &dk_ops;
	dev->base.index = c.index;
	dev->nr_eus = c.exec_units;
	dev->verbosity = c.verbosity;
	if (c.sys)
		dev->sys = *c.sys;
	dev->fd = dev->fault_fd = dev->stop_fd = -1;
	snprintf(dev->name, sizeof(dev->name), "vsvm_host%u", c.index);
	if (c.path)
		snprintf(dev->path, sizeof(dev->path), "%s", c.path);
	else
		snprintf(dev->path, sizeof(dev->path), DEV_KERNEL_PATH_FMT,
			 c.index);
	dev->queue_tail = &dev->queue_head;
	pthread_mutex_init(&dev->queue_lock, NULL);
	pthread_cond_init(&dev->queue_cond, NULL);
	pthread_mutex_init(&dev->vms_lock, NULL);
	pthread_cond_init(&dev->calls_idle, NULL);

	err = dk_start(dev);
	if (err) {
		/* Nothing can be queued yet: stopping joins idle threads. */
		dk_destroy(&dev->base);
		errno = -err;
		return NULL;
	}
	return &dev->base;
}

bool dev_kernel_is_kernel(const struct vp_device *dev)
{
	return dev && dev->ops == &dk_ops;
}

void dev_kernel_get_stats(struct vp_device *d, struct dev_kernel_stats *out)
{
	struct dk_device *dev = to_dk_dev(d);

	memset(out, 0, sizeof(*out));
	out->launches = atomic_load(&dev->launches);
	out->accesses = atomic_load(&dev->accesses);
	out->faults = atomic_load(&dev->faults_read);
	out->fault_batches = atomic_load(&dev->fault_batches);
	pthread_mutex_lock(&dev->faultq.lock);
	out->replies = dev->faultq.replies;
	out->max_reply = dev->faultq.max_reply;
	pthread_mutex_unlock(&dev->faultq.lock);
}

uint32_t dev_kernel_module_devices(const char *path)
{
	struct vsvmh_caps caps;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint32_t n = 0;

	if (fd < 0)
		return 0;
	if (!ioctl(fd, VSVMH_IOCTL_GET_CAPS, &caps))
		n = caps.num_devices;
	close(fd);
	return n;
}

static const struct vp_device_ops dk_ops = {
	.info = dk_info,
	.vm_create = dk_vm_create,
	.vm_destroy = dk_vm_destroy,
	.vm_map = dk_vm_map,
	.vm_unmap = dk_vm_unmap,
	.launch = dk_launch,
	.vm_cancel = dk_vm_cancel,
	.vm_stats = dk_vm_stats,
	.destroy = dk_destroy,
};
