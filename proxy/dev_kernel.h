/* SPDX-License-Identifier: MIT */
/*
 * dev_kernel.h - the vsvm_host.ko device backend of vsvm-proxy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * dev_kernel_create() makes a struct vp_device (device.h) over one
 * software GPU of the host kernel module, /dev/vsvm_host<N>
 * (host-kernel/include/uapi/linux/vsvm_host.h).  The module owns what a
 * GPU owns: the page tables of every VM, the mirroring of the proxy's
 * guest-RAM mapping into them with HMM, and the queue of faults it cannot
 * resolve.  The proxy owns what the module leaves to userspace: the
 * execution units (threads that run the built-in kernels and touch VM
 * memory only through VSVMH_IOCTL_ACCESS) and the answers to faults.
 *
 *   SVM core            dev_kernel                       vsvm_host.ko
 *   vm_create  ------>  VM_CREATE (proxy VM)  ---------> page table
 *   vm_map     ------>  MIRROR gpu_va = va, host_va = hva (guest RAM)
 *   vm_unmap   ------>  UNMAP: returns when no access reaches old pages
 *   launch     ------>  EU threads: ACCESS READ/WRITE/ATOMIC_ADD ---->
 *                                                       miss: record
 *   fault fn  <------  fault workers  <---- reader <---- fault fd
 *             ------>  FAULT_REPLY  ----------------->  access replays
 *
 * One open file per device per proxy: every VM of every context on that
 * device lives in it, and its single fault fd carries every VM's misses.
 *
 * What the module does not offer (vsvm_host.h lacks it or the kernel is
 * built without CONFIG_DEVICE_PRIVATE) this backend does not fake: it has
 * no device-memory ops, so migration stays refused by the core.
 */
#ifndef VP_DEV_KERNEL_H
#define VP_DEV_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"

/* The device node of device N, printf format. */
#define DEV_KERNEL_PATH_FMT	      "/dev/vsvm_host%u"
#define DEV_KERNEL_DEFAULT_EXEC_UNITS 4
#define DEV_KERNEL_MAX_EXEC_UNITS     64

/*
 * The system calls the backend makes on the device file.  Tests replace
 * them with a model of the module; NULL members (or a NULL table) are the
 * real calls.  The fault fd returned by VSVMH_IOCTL_FAULT_FD must be a real
 * descriptor that poll() understands (a pipe will do in a model).
 */
struct dev_kernel_sys {
	int (*open)(void *opaque, const char *path, int flags);
	int (*ioctl)(void *opaque, int fd, unsigned long request, void *arg);
	ssize_t (*read)(void *opaque, int fd, void *buf, size_t len);
	int (*close)(void *opaque, int fd);
	void *opaque;
};

/* A zero field takes its default. */
struct dev_kernel_config {
	uint32_t index;	     /* N of /dev/vsvm_host<N>, and vp_device.index */
	uint32_t exec_units; /* EU threads, 1..DEV_KERNEL_MAX_EXEC_UNITS */
	const char *path;    /* device node; NULL: DEV_KERNEL_PATH_FMT */
	const struct dev_kernel_sys *sys; /* NULL: the real system calls */
	int verbosity;			  /* VP_LOG_* (vhost_user.h) */
};

/* Device-wide counters, for tests and benchmarks. */
struct dev_kernel_stats {
	uint64_t launches;	/* launch() calls accepted */
	uint64_t accesses;	/* ACCESS ioctls made by EUs */
	uint64_t faults;	/* records read from the fault fd */
	uint64_t fault_batches; /* read()s that returned records */
	uint64_t replies;	/* FAULT_REPLY ioctls */
	uint64_t max_reply;	/* most resolutions in one FAULT_REPLY */
};

/**
 * dev_kernel_create - open a vsvm_host device and start its EUs
 * @cfg: configuration, or NULL for every default (device 0)
 *
 * Opens the device node, checks the module's interface version, opens the
 * fault fd, and starts the fault reader, the fault workers and the EUs.
 * Errors are printed on stderr with the node's name and what to do.
 *
 * Return: the device (free it with dev->ops->destroy), or NULL with errno
 * set: ENOENT (the node does not exist: the module is not loaded, or
 * provides fewer devices), EACCES, EPROTO (another uapi version), EINVAL,
 * ENOMEM, or what open() or an ioctl() said.
 */
struct vp_device *dev_kernel_create(const struct dev_kernel_config *cfg);

/* True if @dev was made by dev_kernel_create(). */
bool dev_kernel_is_kernel(const struct vp_device *dev);

/* Read the device-wide counters; @dev must be a kernel device. */
void dev_kernel_get_stats(struct vp_device *dev, struct dev_kernel_stats *out);

/**
 * dev_kernel_module_devices - how many devices the loaded module provides
 * @path: any of its device nodes
 *
 * For error messages: asks GET_CAPS of @path.  Return: num_devices, or 0
 * when @path cannot be opened or asked.
 */
uint32_t dev_kernel_module_devices(const char *path);

#endif /* VP_DEV_KERNEL_H */
