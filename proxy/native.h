/* SPDX-License-Identifier: MIT */
/*
 * native.h - host-native SVM: a simulated device serving a host process
 *            directly, the baseline of every virtualization figure.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A struct vp_native is what an SVM driver on bare metal gives one host
 * process: a GPU VA space on each device in which GPU VA == the process's
 * own virtual address, filled lazily.  When a device access misses, the
 * fault function looks the address up in the process's registry of
 * allocations (vp_native_register(): the memory it handed to the GPU, the
 * role the CPU page table plays for HMM) and maps the page, or a window
 * around it, straight to the same host address.  There is no guest, no
 * ring and no second thread in the path: the cost left is the device's own
 * fault, the lookup and vm_map().  The benchmark (bench/) divides the
 * forwarded path's figures by these.
 *
 * It uses nothing but the device ops table (device.h) and the range map,
 * so it runs on any backend the proxy runs on.
 *
 * DOC: Locking
 *
 * nc->lock guards the registry and is held across vm_map() and vm_unmap(),
 * as device.h asks of an owner: the fault function takes it, so "found in
 * the registry, PTE installed" is atomic against vp_native_unregister(),
 * which removes the range and clears the PTEs under the same lock.
 */
#ifndef VP_NATIVE_H
#define VP_NATIVE_H

#include <stdint.h>

#include "device.h"

struct vp_native;

struct vp_native_config {
	struct vp_device **devices;
	uint32_t num_devices;	/* 1..VSVM_MAX_DEVICES */
	uint32_t va_bits;	/* 47..57; host user VAs need 48 */
	/*
	 * Bytes mapped around a faulting address, within its allocation:
	 * a power of two, 4 KiB..1 GiB; 0 takes 2 MiB, the window the proxy
	 * itself installs on a minor fault.
	 */
	uint64_t fault_window;
	/*
	 * Map with 4 KiB leaves only, as a host without transparent huge
	 * pages would (and as the proxy must map guest RAM today).  Since
	 * GPU VA == host VA, a backend would otherwise use a 2 MiB leaf for
	 * every aligned 2 MiB of a mapping.
	 */
	int small_pages;
};

struct vp_native_stats {
	uint64_t faults;	/* fault function calls */
	uint64_t faults_failed;	/* address not registered, or prot */
	uint64_t maps;		/* vm_map() calls */
	uint64_t unmaps;	/* vm_unmap() calls */
};

/* Return: the context, or NULL with errno set (EINVAL, ENOMEM, ...). */
struct vp_native *vp_native_create(const struct vp_native_config *cfg);
/* No launch may be running. */
void vp_native_destroy(struct vp_native *nc);

/**
 * vp_native_register - hand host memory to the GPU
 * @nc: the context
 * @addr: start, page aligned; memory the caller has mapped (mmap) and
 *	keeps mapped until vp_native_unregister()
 * @len: bytes, page aligned, > 0
 * @prot: VSVM_PROT_* the device may use
 *
 * Nothing is mapped yet; device accesses fault it in.
 * Return: 0, -EINVAL or -ENOMEM.
 */
int vp_native_register(struct vp_native *nc, void *addr, uint64_t len,
		       uint32_t prot);

/*
 * Take [addr, addr + len) away from the GPU: the munmap/mmu-notifier path.
 * Returns once no device can reach it (vm_unmap() on every device).
 */
void vp_native_unregister(struct vp_native *nc, void *addr, uint64_t len);

/*
 * Map the registered [addr, addr + len) on @device now, in one vm_map()
 * (prefetch).  Return: 0, -EINVAL (not registered whole), -ENOMEM.
 */
int vp_native_populate(struct vp_native *nc, uint32_t device, void *addr,
		       uint64_t len);

/**
 * vp_native_launch - run one kernel and wait for it
 * @nc: the context
 * @device: index into the config's devices
 * @l: kernel, nr_args and args filled by the caller; status, result,
 *	faults and elapsed_ns are filled on return (done and priv are
 *	overwritten)
 *
 * Return: 0 (see l->status for the kernel's outcome), or -errno if the
 * launch could not start.
 */
int vp_native_launch(struct vp_native *nc, uint32_t device,
		     struct vp_launch *l);

void vp_native_stats(struct vp_native *nc, struct vp_native_stats *out);

/*
 * Start @l on @vm of @dev and sleep until its done() ran (shared with
 * partition.c).  Return: 0, or -errno from launch().
 */
int vp_launch_sync(struct vp_device *dev, struct vp_dev_vm *vm,
		   struct vp_launch *l);
/* The GPU VA space on @device (for vm_stats()). */
struct vp_dev_vm *vp_native_vm(struct vp_native *nc, uint32_t device);

#endif /* VP_NATIVE_H */
