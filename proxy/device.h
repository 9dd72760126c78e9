/* SPDX-License-Identifier: MIT */
/*
 * device.h - the device backend seam of vsvm-proxy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A device backend is one GPU as the proxy sees it.  The SVM core
 * (context.c) owns the policy and the guest's view; a backend owns what a
 * GPU owns: its page tables, its TLBs, its memory, its execution units.
 * The built-in backend is the simulated GPU (dev_sim.c); vsvm_host.ko will
 * be a second one behind the same ops table.
 *
 * One struct vp_dev_vm is one GPU VA space on one device: the SVM core
 * creates one per (context, device).  Its page table starts empty.  When a
 * device access misses, the backend calls the VM's fault function and
 * replays the access if that returns 0.
 *
 * Locking and ordering rules every backend must keep:
 *
 *  - vm_map() and vm_unmap() are called with the owner's lock held; the
 *    fault function takes that lock.  So a backend calls the fault function
 *    holding none of its own locks that vm_map()/vm_unmap() need, and an
 *    execution unit waiting in the fault function must not delay a
 *    vm_unmap() of the same VM.
 *  - vm_unmap() returns only when no access can reach the old pages any
 *    more: PTEs cleared, every TLB entry for the range dropped, and every
 *    access that translated through an old entry finished.  This is the
 *    invalidation guarantee of docs/protocol.md, and the core acknowledges
 *    UNMAP to the guest right after it.
 *  - An access never touches memory that the VM's page table does not map
 *    for that access (read, write or atomic).
 */
#ifndef VP_DEVICE_H
#define VP_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsvm/vsvm_proto.h"

struct vp_device;
struct vp_dev_vm;

/* Access kinds, equal to the wire's VSVM_ACCESS_*. */
enum vp_access {
	VP_ACCESS_READ = VSVM_ACCESS_READ,
	VP_ACCESS_WRITE = VSVM_ACCESS_WRITE,
	VP_ACCESS_ATOMIC = VSVM_ACCESS_ATOMIC,
};

/*
 * Called by a device execution unit on a miss, from its own thread, with
 * none of the backend's locks held.  May block (the guest is asked).
 * Return: 0 to replay the access, or a negated enum vsvm_status to fail
 * the launch (-VSVM_ERR_FAULT, -VSVM_ERR_CANCELED).
 */
typedef int (*vp_fault_fn)(void *owner, struct vp_dev_vm *vm, uint64_t va,
			   enum vp_access access);

/* One kernel launch; the caller owns it until done() is called. */
struct vp_launch {
	uint32_t kernel;			/* enum vsvm_kernel */
	uint32_t nr_args;
	uint64_t args[VSVM_MAX_KERNEL_ARGS];
	/* Filled by the backend before done(). */
	int status;				/* 0 or negated vsvm_status */
	uint64_t result;
	uint64_t fault_va;			/* for -VSVM_ERR_FAULT */
	uint64_t faults;			/* misses that called fault() */
	uint64_t elapsed_ns;
	/* Called exactly once, from a backend thread, when it ended. */
	void (*done)(struct vp_launch *l);
	void *priv;				/* the caller's */
};

struct vp_device_info {
	uint64_t mem_size;			/* device memory, bytes */
	uint64_t mem_used;			/* in use, bytes */
	uint32_t exec_units;
	uint32_t index;
	const char *name;
};

struct vp_vm_stats {
	uint64_t pt_bytes;			/* page-table memory */
	uint64_t mapped_bytes;			/* bytes with a PTE */
	uint64_t faults;			/* calls to fault() */
	uint64_t tlb_flushes;
};

/* PTE permissions; equal to the wire's VSVM_PROT_*. */
#define VP_PROT_READ VSVM_PROT_READ
#define VP_PROT_WRITE VSVM_PROT_WRITE
#define VP_PROT_ATOMIC VSVM_PROT_ATOMIC

struct vp_device_ops {
	void (*info)(struct vp_device *dev, struct vp_device_info *out);
	/* A new, empty GPU VA space of va_bits (47..57). */
	int (*vm_create)(struct vp_device *dev, uint32_t va_bits, void *owner,
			 vp_fault_fn fault, struct vp_dev_vm **out);
	/* No launch of this VM may be running (vm_cancel and wait first). */
	void (*vm_destroy)(struct vp_dev_vm *vm);
	/*
	 * Map [va, va + len) to host memory at hva (contiguous, page aligned),
	 * replacing what was there.  The backend uses 2 MiB entries where va,
	 * hva and len allow.  Return: 0, -ENOMEM or -EINVAL.
	 */
	int (*vm_map)(struct vp_dev_vm *vm, uint64_t va, uint64_t len,
		      void *hva, uint32_t prot);
	/* Remove [va, va + len); see the rule above on when it returns. */
	void (*vm_unmap)(struct vp_dev_vm *vm, uint64_t va, uint64_t len);
	/* Start a kernel; l->done() runs later.  Return: 0 or -errno. */
	int (*launch)(struct vp_dev_vm *vm, struct vp_launch *l);
	/* Make running launches of vm end soon with -VSVM_ERR_CANCELED. */
	void (*vm_cancel)(struct vp_dev_vm *vm);
	void (*vm_stats)(struct vp_dev_vm *vm, struct vp_vm_stats *out);
	/* Stop the execution units and free the device. */
	void (*destroy)(struct vp_device *dev);

	/*
	 * Optional: device memory for data, and the copy engine.  A backend
	 * that leaves mem_alloc, mem_free or copy NULL has no memory of its
	 * own for data: the SVM core then offers neither
	 * VSVM_F_DEVICE_MEMORY nor VSVM_F_PEER_MIGRATION and never calls
	 * them.  Page tables and data share the device's memory
	 * (vp_device_info.mem_size, mem_used).
	 *
	 * mem_alloc() returns bytes (a multiple of 4 KiB) of zero-filled
	 * device memory aligned to align (a power of two, at least 4 KiB;
	 * 2 MiB lets vm_map() use 2 MiB entries), as a host address that
	 * vm_map() of this device accepts.  NULL: it does not fit.
	 * mem_free() gives back [p, p + bytes): any 4 KiB-aligned part of
	 * earlier allocations (the core frees migrated data page by page
	 * as the guest unmaps it).  No PTE of any device may still point
	 * there.
	 * copy() is the copy engine: copy bytes from src to dst, each guest
	 * RAM (host memory) or device memory of this device or, where
	 * peer_access() allows, of a peer, directly; it returns when the
	 * data is in place.  The core blocks every device's access to both
	 * ranges first (vm_unmap()).  Return: 0 or -errno.
	 */
	void *(*mem_alloc)(struct vp_device *dev, uint64_t bytes,
			   uint64_t align);
	void (*mem_free)(struct vp_device *dev, void *p, uint64_t bytes);
	int (*copy)(struct vp_device *dev, void *dst, const void *src,
		    uint64_t bytes);
	/*
	 * Optional: can dev map peer's memory with vm_map() and reach it
	 * with its copy engine?  NULL: no peer access (then the core offers
	 * no VSVM_F_PEER_MIGRATION).  Always true for dev == peer.
	 */
	bool (*peer_access)(struct vp_device *dev, struct vp_device *peer);
	/*
	 * Optional: the VSVM_PROT_* vm's page table holds for va now (0: no
	 * translation).  The core uses it to tell a fault that another
	 * execution unit already resolved from a new one, so that placement
	 * decisions count each device's faults once.  NULL: every fault
	 * counts.
	 */
	uint32_t (*vm_lookup)(struct vp_dev_vm *vm, uint64_t va);
};

struct vp_device {
	const struct vp_device_ops *ops;
	uint32_t index;
};

#endif /* VP_DEVICE_H */
