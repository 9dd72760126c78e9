/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * vsvm_host.h - userspace API of vsvm_host.ko, the vsvm host kernel core.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each software GPU the module provides appears as /dev/vsvm_host<N>.  An
 * open file of a device is bound to the mm of the process that opened it:
 * every host virtual address in this API is an address of that mm, and an
 * ioctl that names host addresses from another mm fails with -EINVAL.
 *
 * One open file holds any number of GPU VMs (VA spaces with their own page
 * table), named by a vm_id.  A VM is one of two kinds:
 *
 *  - a proxy VM: empty until the caller mirrors host ranges into it at
 *    arbitrary GPU VAs (VSVMH_IOCTL_MIRROR) or maps device memory into it
 *    (VSVMH_IOCTL_DEVMEM_MAP).  A device access to a GPU VA with neither is
 *    a GPU fault queued to userspace (VSVMH_IOCTL_FAULT_FD), replayed when
 *    userspace answers it;
 *  - a native VM (VSVMH_VM_NATIVE): classic host SVM, GPU VA == host VA of
 *    the file's mm; the module resolves every miss itself with HMM.
 *
 * Every ioctl argument is a fixed-layout struct of __u32/__u64 fields with
 * explicit padding, identical for 32- and 64-bit callers; pointers travel
 * as __u64.  Reserved fields and unknown flag bits must be zero on input
 * (else -EINVAL) and are zero on output.  The argument size is part of the
 * ioctl number, so a struct grows by defining a new number.
 *
 * Errors common to all ioctls: -EFAULT (the argument cannot be read or
 * written), -EINVAL (a malformed argument: reserved bits, unaligned or
 * overflowing ranges, an unknown vm_id or handle), -ENOMEM.  Each ioctl
 * lists the others it returns.  docs/uapi.md is the reference.
 */
#ifndef _UAPI_LINUX_VSVM_HOST_H
#define _UAPI_LINUX_VSVM_HOST_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this interface, reported by VSVMH_IOCTL_GET_CAPS. */
#define VSVMH_UAPI_VERSION	1

/* Not (yet) registered in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define VSVMH_IOCTL_MAGIC	0xBA

/*
 * struct vsvmh_caps.flags
 *
 * VSVMH_CAP_DEVICE_PRIVATE: device memory is backed by device-private
 * pages, so VSVMH_IOCTL_MIGRATE can move anonymous host memory into it.
 * Without it (a kernel without CONFIG_DEVICE_PRIVATE) device memory still
 * exists for VSVMH_IOCTL_DEVMEM_* and MIGRATE fails with -EOPNOTSUPP.
 */
#define VSVMH_CAP_DEVICE_PRIVATE	(1u << 0)

/**
 * struct vsvmh_caps - what the module and this device offer
 * @version: VSVMH_UAPI_VERSION of the module
 * @num_devices: devices the module provides (/dev/vsvm_host0..N-1)
 * @index: this device's N
 * @flags: VSVMH_CAP_* bits
 * @mem_size: device memory of this device, in bytes
 * @mem_used: device memory in use now, in bytes (all files)
 * @max_vms: VMs one open file may hold
 * @max_faults: fault records queued per open file before accessors wait
 */
struct vsvmh_caps {
	__u32 version;
	__u32 num_devices;
	__u32 index;
	__u32 flags;
	__u64 mem_size;
	__u64 mem_used;
	__u32 max_vms;
	__u32 max_faults;
};

/* Page-table permissions (struct vsvmh_mirror.prot, vsvmh_devmem_map.prot). */
#define VSVMH_PROT_READ		(1u << 0)
#define VSVMH_PROT_WRITE	(1u << 1)	/* requires READ */
#define VSVMH_PROT_ATOMIC	(1u << 2)	/* requires WRITE */

/* struct vsvmh_vm_create.flags */
#define VSVMH_VM_NATIVE		(1u << 0)	/* GPU VA == host VA */

/**
 * struct vsvmh_vm_create - VSVMH_IOCTL_VM_CREATE
 * @flags: VSVMH_VM_* bits
 * @va_bits: GPU VA width, 47..57; 0 means 48.  A native VM covers the
 *	host's user address space whatever this says (it must be 0 or 48/57
 *	matching the host).
 * @vm_id: out: the new VM's id, unique in the file, never 0
 * @reserved: zero
 *
 * Also returns -ENOSPC when the file already holds max_vms VMs.
 */
struct vsvmh_vm_create {
	__u32 flags;
	__u32 va_bits;
	__u32 vm_id;
	__u32 reserved;
};

/**
 * struct vsvmh_vm - VSVMH_IOCTL_VM_DESTROY
 * @vm_id: the VM
 * @reserved: zero
 *
 * Destroying a VM fails its pending accesses with -ECANCELED, removes its
 * mirrors and device-memory mappings and frees its page table.
 */
struct vsvmh_vm {
	__u32 vm_id;
	__u32 reserved;
};

/* struct vsvmh_mirror.flags */
#define VSVMH_MIRROR_POPULATE	(1u << 0)	/* fault the range in now */

/**
 * struct vsvmh_mirror - VSVMH_IOCTL_MIRROR (proxy VMs only)
 * @vm_id: the VM
 * @prot: VSVMH_PROT_* the device may use; READ at least.  A host page the
 *	file's mm maps read-only is mirrored read-only whatever prot says.
 * @gpu_va: start in the VM, page aligned
 * @host_va: start in the file's mm, page aligned
 * @len: bytes, page aligned, > 0
 * @flags: VSVMH_MIRROR_* bits
 *
 * From now on [gpu_va, gpu_va + len) shows [host_va, host_va + len) of the
 * file's mm: a device miss there is resolved by hmm_range_fault() on the
 * host range (never queued to userspace), and a host invalidation of those
 * pages (munmap, mprotect, madvise(DONTNEED), hole punch, migration, swap,
 * KSM, fork's COW) clears the PTEs in every VM that mirrors them.  Replaces
 * whatever the VM had in the GPU range, as mmap(MAP_FIXED) does.  Host
 * pages need not be mapped yet; an access to a host address the mm does not
 * map fails that access with -EFAULT.  The same host range may be mirrored
 * into many VMs at different GPU VAs.
 *
 * Also returns -ERANGE (the GPU range is beyond va_bits), -EPERM (a
 * native VM), -EFAULT (POPULATE and a host page could not be faulted),
 * -ENOSPC (the VM's mirror limit).
 */
struct vsvmh_mirror {
	__u32 vm_id;
	__u32 prot;
	__u64 gpu_va;
	__u64 host_va;
	__u64 len;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct vsvmh_range - VSVMH_IOCTL_UNMAP
 * @vm_id: the VM
 * @reserved: zero
 * @gpu_va: start, page aligned
 * @len: bytes, page aligned, > 0
 *
 * Removes mirrors and device-memory mappings in the range (splitting those
 * that straddle it) and clears their PTEs.  Returns when no device access
 * can reach the old pages any more.  Never fails for the mirror limit:
 * where a split would pass it, the straddling mappings go whole.  Also
 * -EPERM on a native VM.
 */
struct vsvmh_range {
	__u32 vm_id;
	__u32 reserved;
	__u64 gpu_va;
	__u64 len;
};

/* struct vsvmh_access.op */
#define VSVMH_ACCESS_READ	1	/* copy from the VM to buf */
#define VSVMH_ACCESS_WRITE	2	/* copy buf into the VM */
#define VSVMH_ACCESS_ATOMIC_ADD	3	/* 8 bytes: *va += *buf, old -> *buf */

/* struct vsvmh_access.flags */
#define VSVMH_ACCESS_NOWAIT	(1u << 0)	/* don't wait for userspace */

/**
 * struct vsvmh_access - VSVMH_IOCTL_ACCESS: the software device acts
 * @vm_id: the VM
 * @op: VSVMH_ACCESS_*
 * @gpu_va: first byte; ATOMIC_ADD: 8-byte aligned
 * @len: bytes, 1..16 MiB; ATOMIC_ADD: 8
 * @buf: user pointer to len bytes of the caller
 * @flags: VSVMH_ACCESS_* bits
 * @timeout_ms: how long to wait for userspace to answer a fault; 0: 10 s
 * @done: out: bytes completed before the access stopped
 * @fault_va: out: the page that stopped it, when it failed
 *
 * The device translates through the VM's page table only, page by page,
 * with the permission the op needs (READ; WRITE; ATOMIC).  A miss in a
 * mirror or a native VM is resolved in the kernel.  Any other miss is a
 * GPU fault: a record goes to the file's fault queue and, unless NOWAIT,
 * the access sleeps until userspace answers it with FAULT_REPLY and then
 * replays the page.  Returns 0 when all len bytes were done, else:
 * -EAGAIN (NOWAIT and the fault was queued), -EFAULT (userspace failed
 * the fault, the host page could not be faulted, or the access needs a
 * permission the PTE lacks after the replay), -ETIMEDOUT, -EINTR (a
 * signal), -ECANCELED (the VM was destroyed), -ENODEV (no fault fd is
 * open for a fault that needs one).
 */
struct vsvmh_access {
	__u32 vm_id;
	__u32 op;
	__u64 gpu_va;
	__u64 len;
	__u64 buf;
	__u32 flags;
	__u32 timeout_ms;
	__u64 done;
	__u64 fault_va;
};

/* struct vsvmh_fault.access */
#define VSVMH_FAULT_READ	1
#define VSVMH_FAULT_WRITE	2
#define VSVMH_FAULT_ATOMIC	3

/**
 * struct vsvmh_fault - one record read from the fault fd
 * @vm_id: the VM that faulted
 * @id: names the fault in FAULT_REPLY; unique among the file's pending
 *	faults
 * @gpu_va: the page, page aligned
 * @access: VSVMH_FAULT_*
 * @flags: zero
 *
 * Concurrent accesses to one page give one record.
 */
struct vsvmh_fault {
	__u32 vm_id;
	__u32 id;
	__u64 gpu_va;
	__u32 access;
	__u32 flags;
};

/**
 * struct vsvmh_fault_fd - VSVMH_IOCTL_FAULT_FD
 * @fd: out: a new file descriptor (O_CLOEXEC) to poll() and read()
 *	struct vsvmh_fault records from; read() returns whole records only
 *	(-EINVAL for a buffer smaller than one) and blocks unless O_NONBLOCK
 *	is set on the fd.
 * @flags: zero
 *
 * One fault fd per open file (-EBUSY for a second).  Closing it fails
 * every pending fault with -ENODEV.
 */
struct vsvmh_fault_fd {
	__s32 fd;
	__u32 flags;
};

/**
 * struct vsvmh_fault_resolution - the answer to one fault
 * @id: from struct vsvmh_fault
 * @status: 0: resolved (mirrored or mapped), replay; a negative errno: fail
 *	the access with -EFAULT
 */
struct vsvmh_fault_resolution {
	__u32 id;
	__s32 status;
};

/**
 * struct vsvmh_fault_reply - VSVMH_IOCTL_FAULT_REPLY
 * @nr: entries at @res, 1..4096
 * @resolved: out: entries that named a pending fault (the rest are ignored:
 *	that fault is already gone)
 * @res: user pointer to struct vsvmh_fault_resolution[nr]
 */
struct vsvmh_fault_reply {
	__u32 nr;
	__u32 resolved;
	__u64 res;
};

/* struct vsvmh_migrate.dir */
#define VSVMH_MIGRATE_TO_DEVICE	1
#define VSVMH_MIGRATE_TO_SYSTEM	2

/**
 * struct vsvmh_migrate - VSVMH_IOCTL_MIGRATE: host-native migration
 * @host_va: start in the file's mm, page aligned
 * @len: bytes, page aligned, > 0
 * @dir: VSVMH_MIGRATE_*
 * @flags: zero
 * @pages: out: pages moved
 *
 * Moves anonymous private memory of the file's mm into this device's
 * device-private memory with migrate_vma (or back to system memory).  A
 * CPU touch of a migrated page brings it back by itself.  Pages that
 * cannot move (file-backed, pinned, shmem) stay and are not counted.
 * Also -EOPNOTSUPP (no VSVMH_CAP_DEVICE_PRIVATE), -ENOSPC (device memory
 * full: what fitted moved).
 */
struct vsvmh_migrate {
	__u64 host_va;
	__u64 len;
	__u32 dir;
	__u32 flags;
	__u64 pages;
};

/**
 * struct vsvmh_devmem - VSVMH_IOCTL_DEVMEM_ALLOC and VSVMH_IOCTL_DEVMEM_FREE
 * @size: ALLOC: bytes, page aligned, > 0
 * @handle: ALLOC out / FREE in: names the allocation in this file
 * @flags: zero
 *
 * Device memory of this device owned by the open file, for the proxy's
 * guest-driven migration.  ALLOC also returns -ENOSPC (the device's memory
 * is used up).  FREE removes every VM mapping of the allocation first.
 */
struct vsvmh_devmem {
	__u64 size;
	__u32 handle;
	__u32 flags;
};

/* struct vsvmh_copy.dir */
#define VSVMH_COPY_TO_DEVMEM	1	/* host_va -> handle@offset */
#define VSVMH_COPY_FROM_DEVMEM	2	/* handle@offset -> host_va */
#define VSVMH_COPY_PEER		3	/* peer_fd's peer_handle -> handle */

/**
 * struct vsvmh_copy - VSVMH_IOCTL_COPY: the device's copy engine
 * @dir: VSVMH_COPY_*
 * @peer_fd: COPY_PEER: an open vsvm_host file of another (or the same)
 *	device, of the same mm; else -1
 * @handle: this file's allocation
 * @peer_handle: COPY_PEER: the peer file's allocation; else 0
 * @offset: into @handle, page aligned
 * @peer_offset: into @peer_handle, page aligned
 * @host_va: TO/FROM_DEVMEM: page-aligned host address of the file's mm
 *	(faulted in as needed, e.g. the proxy's mapping of guest RAM)
 * @len: bytes, page aligned, > 0, inside the allocations
 *
 * Device to device copies go directly between device memories.  Also
 * -EBADF (peer_fd is not a vsvm_host file of the same mm).
 */
struct vsvmh_copy {
	__u32 dir;
	__s32 peer_fd;
	__u32 handle;
	__u32 peer_handle;
	__u64 offset;
	__u64 peer_offset;
	__u64 host_va;
	__u64 len;
};

/**
 * struct vsvmh_devmem_map - VSVMH_IOCTL_DEVMEM_MAP (proxy VMs only)
 * @vm_id: the VM
 * @handle: the allocation
 * @gpu_va: start in the VM, page aligned
 * @offset: into the allocation, page aligned
 * @len: bytes, page aligned, > 0, inside the allocation
 * @prot: VSVMH_PROT_*
 * @reserved: zero
 *
 * Points [gpu_va, gpu_va + len) at device memory, replacing what the VM
 * had there (mirror or device memory), like MIRROR.  Also -ERANGE, -EPERM.
 */
struct vsvmh_devmem_map {
	__u32 vm_id;
	__u32 handle;
	__u64 gpu_va;
	__u64 offset;
	__u64 len;
	__u32 prot;
	__u32 reserved;
};

/**
 * struct vsvmh_vm_stats - VSVMH_IOCTL_VM_STATS
 * @vm_id: the VM
 * @reserved: zero
 * @pt_bytes: out: page-table memory of the VM
 * @mapped_bytes: out: bytes with a valid PTE
 * @huge_mapped_bytes: out: of those, mapped by 2 MiB entries
 * @faults_kernel: out: misses the module resolved (mirror, native VM)
 * @faults_user: out: fault records queued to userspace
 * @invalidations: out: host invalidations that cleared PTEs of this VM
 * @mirrors: out: mirror and device-memory ranges in the VM
 * @reserved2: zero
 */
struct vsvmh_vm_stats {
	__u32 vm_id;
	__u32 reserved;
	__u64 pt_bytes;
	__u64 mapped_bytes;
	__u64 huge_mapped_bytes;
	__u64 faults_kernel;
	__u64 faults_user;
	__u64 invalidations;
	__u32 mirrors;
	__u32 reserved2;
};

#define VSVMH_IOCTL_GET_CAPS	 _IOR(VSVMH_IOCTL_MAGIC, 0x00, struct vsvmh_caps)
#define VSVMH_IOCTL_VM_CREATE	 _IOWR(VSVMH_IOCTL_MAGIC, 0x01, struct vsvmh_vm_create)
#define VSVMH_IOCTL_VM_DESTROY	 _IOW(VSVMH_IOCTL_MAGIC, 0x02, struct vsvmh_vm)
#define VSVMH_IOCTL_MIRROR	 _IOW(VSVMH_IOCTL_MAGIC, 0x03, struct vsvmh_mirror)
#define VSVMH_IOCTL_UNMAP	 _IOW(VSVMH_IOCTL_MAGIC, 0x04, struct vsvmh_range)
#define VSVMH_IOCTL_ACCESS	 _IOWR(VSVMH_IOCTL_MAGIC, 0x05, struct vsvmh_access)
#define VSVMH_IOCTL_FAULT_FD	 _IOWR(VSVMH_IOCTL_MAGIC, 0x06, struct vsvmh_fault_fd)
#define VSVMH_IOCTL_FAULT_REPLY	 _IOWR(VSVMH_IOCTL_MAGIC, 0x07, struct vsvmh_fault_reply)
#define VSVMH_IOCTL_MIGRATE	 _IOWR(VSVMH_IOCTL_MAGIC, 0x08, struct vsvmh_migrate)
#define VSVMH_IOCTL_DEVMEM_ALLOC _IOWR(VSVMH_IOCTL_MAGIC, 0x09, struct vsvmh_devmem)
#define VSVMH_IOCTL_DEVMEM_FREE	 _IOW(VSVMH_IOCTL_MAGIC, 0x0a, struct vsvmh_devmem)
#define VSVMH_IOCTL_COPY	 _IOW(VSVMH_IOCTL_MAGIC, 0x0b, struct vsvmh_copy)
#define VSVMH_IOCTL_DEVMEM_MAP	 _IOW(VSVMH_IOCTL_MAGIC, 0x0c, struct vsvmh_devmem_map)
#define VSVMH_IOCTL_VM_STATS	 _IOWR(VSVMH_IOCTL_MAGIC, 0x0d, struct vsvmh_vm_stats)

#endif /* _UAPI_LINUX_VSVM_HOST_H */
