/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vsvm_host_internal.h - objects of vsvm_host.ko and the locks that guard them.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Locking
 *
 * Objects, outermost first::
 *
 *   vsvmh_device            one per /dev/vsvm_host<N>, lives as long as the module
 *    +- vsvmh_file          one per open(); bound to the opener's mm
 *        +- vms             xarray vm_id -> vsvmh_vm
 *        |   +- mappings    interval tree of GPU ranges -> vsvmh_mapping
 *        |   |              (a mirror of host VA with its own interval
 *        |   |              notifier, or a device-memory allocation)
 *        |   +- pt          the device page table (4 KiB and 2 MiB leaves)
 *        +- devmem          xarray handle -> vsvmh_devmem_alloc
 *        +- faults          the fault queue read through the fault fd
 *
 * Lock order (a lock may be taken while holding the ones above it)::
 *
 *   vsvmh_file.lock          VM and devmem tables: insertion, removal, counts
 *     vsvmh_vm.update_lock   serialises changes of the mapping tree
 *                            (MIRROR, UNMAP, DEVMEM_MAP, DEVMEM_FREE, destroy);
 *                            held across interval-notifier insert/remove and
 *                            allocations, never by the notifier
 *       mmap_lock            of the file's mm (hmm_range_fault, migrate_vma)
 *         vsvmh_vm.lock      the page table, the tree's links, @dead; taken
 *                            by the interval notifier (trylock when it may
 *                            not block), so nothing under it may sleep on
 *                            memory reclaim: page-table pages are allocated
 *                            before it is taken (struct vsvmh_pt_cache) and
 *                            user memory is only touched outside it
 *   vsvmh_fault_queue.lock   the fault records; taken with no other vsvm lock
 *   vsvmh_dpmem.lock         free list of device-private pages (spinlock, leaf)
 *
 * The HMM pattern (vsvm_host_mirror.c): mmu_interval_read_begin(), take
 * mmap_lock, hmm_range_fault(), drop it, retry on -EBUSY, take vm->lock,
 * mmu_interval_read_retry() (retry if it says so), write the PTEs, drop
 * vm->lock.  The notifier takes vm->lock, calls mmu_interval_set_seq() and
 * clears the PTEs of the range, so a PTE is never written from a stale
 * hmm_range_fault() result, and the device (ACCESS, which reads PTEs under
 * vm->lock) never reaches a page after the invalidation returned.
 *
 * Lifetimes: a vsvmh_file is reference counted (the open file and the fault
 * fd each hold one).  A vsvmh_vm is reference counted by its table entry and
 * by every ioctl working on it; teardown (VM_DESTROY, release) marks it dead,
 * empties it and cancels its faults while ioctls may still hold references.
 * A vsvmh_mapping is held by the tree and by a resolver in flight; its
 * notifier is removed (with no vsvm lock held, since removal waits for
 * running invalidations) before the last reference goes.
 */
#ifndef _VSVM_HOST_INTERNAL_H
#define _VSVM_HOST_INTERNAL_H

#include <linux/fs.h>
#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include <linux/vsvm_host.h>

/*
 * Limits on what one caller can make the module hold.  Each bounds kernel
 * memory a process controls; docs/uapi.md lists them.
 */
#define VSVMH_MAX_DEVICES	8
#define VSVMH_MAX_VMS		1024		/* VMs per open file */
#define VSVMH_MAX_MAPPINGS	16384		/* mirrors + devmem maps per VM */
#define VSVMH_MAX_FAULTS	4096		/* pending fault records per file */
#define VSVMH_MAX_DEVMEM	4096		/* devmem allocations per file */
#define VSVMH_MAX_ACCESS	(16u << 20)	/* bytes per ACCESS */
#define VSVMH_MAX_REPLY		4096		/* resolutions per FAULT_REPLY */
#define VSVMH_DEFAULT_TIMEOUT_MS 10000		/* ACCESS timeout_ms == 0 */

#define VSVMH_PROT_ALL	(VSVMH_PROT_READ | VSVMH_PROT_WRITE | VSVMH_PROT_ATOMIC)

struct vsvmh_dpmem;

/**
 * struct vsvmh_device - one software GPU, /dev/vsvm_host<index>
 * @index: N of the node
 * @dev: the class device
 * @mem_size: bytes of device memory
 * @mem_used: bytes charged now (devmem allocations and device-private pages)
 * @dpmem: device-private memory, NULL where the kernel has none
 *
 * Written at module init and exit only; @mem_used is atomic.
 */
struct vsvmh_device {
	unsigned int index;
	struct device *dev;
	u64 mem_size;
	atomic64_t mem_used;
	struct vsvmh_dpmem *dpmem;
};

/**
 * struct vsvmh_fault_queue - GPU faults waiting for userspace
 * @lock: guards everything below; taken with no other vsvm lock held
 * @pending: every record not yet answered, oldest first
 * @unread: the records read() has not returned yet, oldest first
 * @ids: id -> record for FAULT_REPLY
 * @next_id: cursor for id allocation
 * @nr_pending: length of @pending, at most VSVMH_MAX_FAULTS
 * @fd_open: a fault fd exists
 * @closed: the device file was released; read() returns end of file
 * @readers: read() and poll() of the fault fd wait here
 * @waiters: accessors wait here for an answer or for room
 */
struct vsvmh_fault_queue {
	struct mutex lock;	/* leaf among vsvm locks; guards all below */
	struct list_head pending;
	struct list_head unread;
	struct xarray ids;
	u32 next_id;
	unsigned int nr_pending;
	bool fd_open;
	bool closed;
	wait_queue_head_t readers;
	wait_queue_head_t waiters;
};

/**
 * struct vsvmh_file - one open file of a device
 * @ref: held by the open file and by its fault fd
 * @device: the device
 * @mm: the opener's mm (mmgrab()); every host VA of the file is in it
 * @lock: guards insertion into and removal from @vms and @devmem, and the
 *	counts; lookups use the xarrays' own locks
 * @vms: vm_id -> struct vsvmh_gpuvm
 * @nr_vms: VMs in @vms
 * @devmem: handle -> struct vsvmh_devmem_alloc
 * @nr_devmem: allocations in @devmem
 * @faults: the fault queue
 */
struct vsvmh_file {
	struct kref ref;
	struct vsvmh_device *device;
	struct mm_struct *mm;
	struct mutex lock;	/* outermost; table insert/erase and counts */
	struct xarray vms;
	unsigned int nr_vms;
	struct xarray devmem;
	unsigned int nr_devmem;
	struct vsvmh_fault_queue faults;
};

/* Page-table entries: a leaf maps a page; a TABLE entry points at a table. */
#define VSVMH_PTE_VALID		BIT_ULL(0)	/* leaf, device may read */
#define VSVMH_PTE_TABLE		BIT_ULL(1)	/* next-level table */
#define VSVMH_PTE_WRITE		BIT_ULL(2)
#define VSVMH_PTE_ATOMIC	BIT_ULL(3)
#define VSVMH_PTE_DEVMEM	BIT_ULL(4)	/* page is device memory */
#define VSVMH_PTE_HUGE		BIT_ULL(5)	/* 2 MiB leaf */
#define VSVMH_PTE_ADDR_MASK	(~(u64)(PAGE_SIZE - 1))

#define VSVMH_PT_BITS		9		/* 512 entries per table */
#define VSVMH_PT_ENTRIES	(1u << VSVMH_PT_BITS)
#define VSVMH_HUGE_SIZE		(1ULL << (PAGE_SHIFT + VSVMH_PT_BITS))
#define VSVMH_PT_CACHE_MAX	10

/**
 * struct vsvmh_pt - a VM's device page table
 * @root: top table, NULL once destroyed
 * @levels: 4 or 5; level 0 holds 4 KiB leaves, level 1 may hold 2 MiB leaves
 * @tables: tables allocated, root included
 * @mapped_bytes: bytes with a valid leaf
 * @huge_mapped_bytes: of those, bytes under 2 MiB leaves
 *
 * All fields are guarded by the owning VM's lock.
 */
struct vsvmh_pt {
	u64 *root;
	unsigned int levels;
	u64 tables;
	u64 mapped_bytes;
	u64 huge_mapped_bytes;
};

/**
 * struct vsvmh_pt_cache - tables allocated before vm->lock is taken
 * @nr: tables in @tables
 * @tables: zeroed pages
 */
struct vsvmh_pt_cache {
	unsigned int nr;
	u64 *tables[VSVMH_PT_CACHE_MAX];
};

/**
 * struct vsvmh_gpuvm - one GPU VA space
 * @ref: the VM table's reference plus one per ioctl using the VM
 * @file: the owner
 * @id: vm_id
 * @native: GPU VA == host VA of @file's mm
 * @va_end: first GPU VA beyond the VM
 * @update_lock: serialises tree changes and teardown (see DOC: Locking)
 * @lock: guards @pt, the links of @mappings, @nr_mappings and @dead
 * @mappings: GPU ranges -> struct vsvmh_mapping
 * @nr_mappings: ranges in @mappings
 * @dead: torn down; everything that finds it set gives up (-ECANCELED)
 * @pt: the device page table
 * @faults_kernel: misses resolved in the kernel
 * @faults_user: fault records queued to userspace
 * @invalidations: host invalidations that cleared PTEs
 */
struct vsvmh_gpuvm {
	struct kref ref;
	struct vsvmh_file *file;
	u32 id;
	bool native;
	u64 va_end;
	struct mutex update_lock;	/* tree changes; above mmap_lock */
	struct mutex lock;		/* page table; below mmap_lock */
	struct rb_root_cached mappings;
	unsigned int nr_mappings;
	bool dead;
	struct vsvmh_pt pt;
	atomic64_t faults_kernel;
	atomic64_t faults_user;
	atomic64_t invalidations;
};

enum vsvmh_mapping_kind {
	VSVMH_MAPPING_MIRROR = 1,
	VSVMH_MAPPING_DEVMEM,
};

/**
 * struct vsvmh_devmem_alloc - device memory owned by a file
 * @ref: the file's handle table, every mapping of it, every copy in flight
 * @device: whose memory it is
 * @handle: name in the file
 * @npages: size in pages
 * @pages: the memory (system pages standing for device memory)
 */
struct vsvmh_devmem_alloc {
	struct kref ref;
	struct vsvmh_device *device;
	u32 handle;
	unsigned long npages;
	struct page **pages;
};

/**
 * struct vsvmh_mapping - one GPU range of a VM
 * @node: GPU range [start, last] in vm->mappings; never changes (a split
 *	makes new mappings)
 * @ref: the tree's reference plus resolvers in flight
 * @vm: the VM (valid while the mapping is, the VM outlives its mappings)
 * @kind: VSVMH_MAPPING_*
 * @prot: VSVMH_PROT_* the device may use
 * @linked: in @vm's tree; guarded by vm->lock
 * @gone_node: on a local list between unlinking and the final put
 * @notifier: MIRROR: the interval notifier on the host range
 * @notifier_live: MIRROR: @notifier is inserted
 * @host_start: MIRROR: host VA that @node.start shows
 * @alloc: DEVMEM: the allocation (a reference)
 * @offset: DEVMEM: byte offset in @alloc that @node.start shows
 */
struct vsvmh_mapping {
	struct interval_tree_node node;
	struct kref ref;
	struct vsvmh_gpuvm *vm;
	enum vsvmh_mapping_kind kind;
	u32 prot;
	bool linked;
	struct list_head gone_node;
	struct mmu_interval_notifier notifier;
	bool notifier_live;
	unsigned long host_start;
	struct vsvmh_devmem_alloc *alloc;
	u64 offset;
};

static inline u64 vsvmh_mapping_end(const struct vsvmh_mapping *m)
{
	return (u64)m->node.last + 1;
}

/* vsvm_host_main.c */
extern const struct file_operations vsvmh_fops;
void vsvmh_file_put(struct vsvmh_file *file);
struct vsvmh_file *vsvmh_file_get_fd(int fd, struct vsvmh_file *self);
struct vsvmh_device *vsvmh_device_at(unsigned int i);

/* vsvm_host_pt.c */
int vsvmh_pt_init(struct vsvmh_pt *pt, unsigned int va_bits);
void vsvmh_pt_destroy(struct vsvmh_pt *pt);
u64 vsvmh_pt_lookup(const struct vsvmh_pt *pt, u64 va, unsigned long *pfn);
int vsvmh_pt_cache_fill(struct vsvmh_pt_cache *cache, unsigned int nr);
void vsvmh_pt_cache_drain(struct vsvmh_pt_cache *cache);
int vsvmh_pt_set(struct vsvmh_pt *pt, u64 va, bool huge, u64 entry,
		 struct vsvmh_pt_cache *cache);
u64 vsvmh_pt_clear(struct vsvmh_pt *pt, u64 start, u64 end);

/* vsvm_host_vm.c */
int vsvmh_ioctl_vm_create(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_vm_destroy(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_unmap(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_vm_stats(struct vsvmh_file *file, void __user *uarg);
struct vsvmh_gpuvm *vsvmh_vm_get(struct vsvmh_file *file, u32 vm_id);
void vsvmh_vm_put(struct vsvmh_gpuvm *vm);
void vsvmh_vm_teardown(struct vsvmh_gpuvm *vm);
int vsvmh_vm_check_range(struct vsvmh_gpuvm *vm, u64 gpu_va, u64 len);
int vsvmh_vm_replace(struct vsvmh_gpuvm *vm, u64 start, u64 end,
		     struct vsvmh_mapping *new);
void vsvmh_vm_remove_alloc(struct vsvmh_gpuvm *vm,
			   struct vsvmh_devmem_alloc *alloc);
struct vsvmh_mapping *vsvmh_vm_find_locked(struct vsvmh_gpuvm *vm, u64 va);
struct vsvmh_mapping *vsvmh_mapping_alloc(struct vsvmh_gpuvm *vm, u64 start,
					  u64 end, u32 prot);
void vsvmh_mapping_put(struct vsvmh_mapping *m);

/* vsvm_host_mirror.c */
int vsvmh_ioctl_mirror(struct vsvmh_file *file, void __user *uarg);
int vsvmh_mirror_start(struct vsvmh_mapping *m, unsigned long host_start);
int vsvmh_native_init(struct vsvmh_gpuvm *vm);
int vsvmh_mirror_fault(struct vsvmh_mapping *m, u64 gpu_va,
		       unsigned long npages, bool write);

/* vsvm_host_access.c */
int vsvmh_ioctl_access(struct vsvmh_file *file, void __user *uarg);

/* vsvm_host_fault.c */
void vsvmh_fault_queue_init(struct vsvmh_fault_queue *fq);
void vsvmh_fault_queue_close(struct vsvmh_fault_queue *fq);
int vsvmh_fault_raise(struct vsvmh_gpuvm *vm, u64 page_va, u32 access,
		      bool nowait, unsigned long timeout);
void vsvmh_fault_cancel_vm(struct vsvmh_gpuvm *vm);
int vsvmh_ioctl_fault_fd(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_fault_reply(struct vsvmh_file *file, void __user *uarg);

/* vsvm_host_devmem.c */
int vsvmh_ioctl_devmem_alloc(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_devmem_free(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_devmem_map(struct vsvmh_file *file, void __user *uarg);
int vsvmh_ioctl_copy(struct vsvmh_file *file, void __user *uarg);
void vsvmh_devmem_release_all(struct vsvmh_file *file);
void vsvmh_devmem_put(struct vsvmh_devmem_alloc *alloc);
bool vsvmh_mem_charge(struct vsvmh_device *device, u64 bytes);
void vsvmh_mem_uncharge(struct vsvmh_device *device, u64 bytes);
int vsvmh_devmem_resolve(struct vsvmh_mapping *m, u64 gpu_va);

/* vsvm_host_migrate.c */
int vsvmh_dpmem_init(struct vsvmh_device *device);
void vsvmh_dpmem_fini(struct vsvmh_device *device);
int vsvmh_ioctl_migrate(struct vsvmh_file *file, void __user *uarg);
struct page *vsvmh_dpmem_backing(struct vsvmh_device *device,
				 struct page *page);

#endif /* _VSVM_HOST_INTERNAL_H */
