/* SPDX-License-Identifier: MIT */
/*
 * dev_kernel_priv.h - internals shared by the dev_kernel*.c files.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Files
 *
 *   dev_kernel.c          device, VMs, launches, EUs, the ACCESS helper,
 *                         the fault reader (read its DOC first)
 *   dev_kernel_fault.c    fault dispatch: records -> worker threads ->
 *                         batched FAULT_REPLY (no ioctl of its own, so
 *                         tests drive it alone)
 *   dev_kernel_kernels.c  argument checks and bodies of the kernels
 *
 * Nothing here is used outside this backend.
 */
#ifndef VP_DEV_KERNEL_PRIV_H
#define VP_DEV_KERNEL_PRIV_H

#include <linux/vsvm_host.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev_kernel.h"
#include "device.h"

#define DK_PAGE_SIZE 4096ull
#define DK_PAGE_OFF  (DK_PAGE_SIZE - 1)

/* ---- Fault dispatch (dev_kernel_fault.c) ---------------------------- */

/*
 * What the dispatcher calls.  resolve() answers one record and may block
 * for as long as the guest takes; reply() hands a batch of answers to the
 * module.  Both run on worker threads, resolve() with no dispatcher lock
 * held, reply() under none either but by one worker at a time.
 */
struct dk_faultq_ops {
	/* Return: 0 (replay) or a negative errno for the module. */
	int (*resolve)(void *opaque, const struct vsvmh_fault *rec);
	/* Return: 0 or -errno; the batch is not retried. */
	int (*reply)(void *opaque, const struct vsvmh_fault_resolution *res,
		     uint32_t nr);
};

/* Answers one FAULT_REPLY carries at most (the uapi allows 4096). */
#define DK_REPLY_BATCH 256

/*
 * struct dk_faultq - records in, answers out, no record behind another.
 *
 * Locking: lock guards everything below it; no lock is held while
 * resolve() or reply() runs.  It is a leaf: nothing else is taken under it.
 */
struct dk_faultq {
	const struct dk_faultq_ops *ops;
	void *opaque;
	uint32_t nr_workers;
	pthread_t *workers;
	pthread_mutex_t lock;
	pthread_cond_t work;	  /* a record queued, or stopping */
	pthread_cond_t room;	  /* the answer batch has room again */
	struct vsvmh_fault *ring; /* records not yet taken by a worker */
	uint32_t ring_size;	  /* a power of two; grows when full */
	uint32_t head, tail;	  /* free-running indices */
	uint32_t idle;		  /* workers waiting for a record */
	bool stopping;
	/* Answers waiting for a FAULT_REPLY, and whether one is under way. */
	struct vsvmh_fault_resolution batch[DK_REPLY_BATCH];
	uint32_t batch_len;
	bool flushing;
	/* Counters, under lock. */
	uint64_t resolved;
	uint64_t failed;       /* resolve() said no */
	uint64_t replies;      /* reply() calls */
	uint64_t reply_errors; /* reply() calls that failed */
	uint64_t max_reply;    /* most answers in one reply() */
	uint32_t busy;	       /* workers inside resolve() now */
	uint32_t max_busy;     /* most at once, ever */
};

int dk_faultq_start(struct dk_faultq *q, const struct dk_faultq_ops *ops,
		    void *opaque, uint32_t nr_workers);
/* Queue records for the workers.  Return: 0 or -ENOMEM (none queued). */
int dk_faultq_push(struct dk_faultq *q, const struct vsvmh_fault *recs,
		   uint32_t nr);
/* Answer every queued record, send every answer, join the workers. */
void dk_faultq_stop(struct dk_faultq *q);

/* ---- Device, VMs, launches (dev_kernel.c) --------------------------- */

struct dk_device;

/* One GPU VA space: struct vp_dev_vm of device.h is this. */
struct dk_vm {
	struct dk_device *dev;
	void *owner;
	vp_fault_fn fault;
	uint32_t va_bits;
	uint32_t id;	    /* the module's vm_id */
	struct dk_vm *next; /* dev->vms list; guarded by dev->vms_lock */
	/* Guarded by dev->vms_lock: see DOC: VM lifetime in dev_kernel.c. */
	uint32_t calls; /* fault workers inside fault() for this VM */
	bool dead;
	_Atomic uint64_t faults;       /* calls of fault() */
	_Atomic uint64_t unmaps;       /* UNMAP ioctls */
	_Atomic uint64_t cancel_epoch; /* bumped by vm_cancel */
	pthread_mutex_t launch_lock;
	pthread_cond_t launch_idle;
	uint32_t nr_launches; /* guarded by launch_lock */
};

struct dk_launch;

/* A contiguous slice of a launch's index space, run by one EU. */
struct dk_work {
	struct dk_work *next; /* device queue; guarded by its lock */
	struct dk_launch *launch;
	uint64_t begin;
	uint64_t end;
};

/* How a kernel's index space is cut; filled by its check function. */
struct dk_plan {
	uint64_t elems;	      /* index space: elements, bytes or steps */
	uint64_t granule;     /* slices are multiples of this */
	bool one_eu;	      /* must run as one slice (pointer chase) */
	bool result_is_count; /* result = elems, not the sum of acc */
};

/* Where an EU is inside its slice. */
struct dk_cursor {
	uint64_t pos; /* next element */
	uint64_t end;
	uint64_t ptr;	   /* CHASE: next node's VA */
	uint64_t acc;	   /* partial result of this slice */
	uint64_t fault_va; /* on failure: the page (or CHASE pointer) */
};

/* Pages read whole for random-access kernels; valid for one chunk. */
#define DK_PCACHE_SLOTS 128

struct dk_pcache {
	uint64_t vpn[DK_PCACHE_SLOTS]; /* UINT64_MAX: empty */
	uint8_t *page[DK_PCACHE_SLOTS];
};

/* One execution unit: a thread and its staging buffers. */
struct dk_eu {
	struct dk_device *dev;
	uint32_t index;
	pthread_t thread;
	uint8_t *buf[3]; /* DK_CHUNK_BYTES each: a chunk of up to 3 arrays */
	uint64_t *keys;	 /* HISTOGRAM: a chunk's bin numbers */
	struct dk_pcache pc;
	struct dk_launch *cur; /* the launch whose slice runs; EU's own */
};

struct dk_kernel {
	const char *name;
	/* Validate arguments; return 0 or a negated vsvm_status. */
	int (*check)(const struct dk_vm *vm, const uint64_t *arg,
		     struct dk_plan *plan);
	/*
	 * Run one chunk from cur->pos.  Return 0 after progress, or a
	 * negated vsvm_status with cur->fault_va set.  Faults are resolved
	 * inside (dk_access), so a chunk only fails for good.
	 */
	int (*chunk)(struct dk_eu *eu, const struct dk_vm *vm,
		     const uint64_t *arg, struct dk_cursor *cur);
};

struct dk_launch {
	struct vp_launch *l;
	struct dk_vm *vm;
	const struct dk_kernel *kernel;
	uint64_t arg[VSVM_MAX_KERNEL_ARGS];
	uint64_t cancel_epoch; /* vm->cancel_epoch at launch */
	uint64_t start_ns;
	bool result_is_count;
	uint64_t count;
	_Atomic int status; /* first failure wins */
	uint64_t fault_va;  /* written by the status winner only */
	_Atomic uint64_t result;
	_Atomic uint64_t faults;
	_Atomic uint32_t remaining; /* slices not finished */
	uint32_t nr_work;
	struct dk_work work[];
};

/* A failed fault answer, kept so the EU can report the guest's status. */
struct dk_failure {
	uint64_t seq;
	uint64_t va;
	uint32_t vm_id;
	int status; /* negated vsvm_status */
};

#define DK_FAILURES 64

struct dk_device {
	struct vp_device base;
	char name[24];
	char path[64];
	struct dev_kernel_sys sys;
	int verbosity;
	int fd;
	int fault_fd;
	int stop_fd; /* eventfd: wakes the fault reader to stop */
	struct vsvmh_caps caps;
	uint32_t nr_eus;
	uint32_t eus_started;
	struct dk_eu *eus;
	/* VMs by vm_id, for the fault workers.  Leaf lock. */
	pthread_mutex_t vms_lock;
	pthread_cond_t calls_idle; /* a dead VM's calls dropped to 0 */
	struct dk_vm *vms;
	uint32_t nr_vms;
	/* Recent failed answers (ring), under vms_lock. */
	struct dk_failure failures[DK_FAILURES];
	uint64_t failure_seq;
	/* Fault path. */
	struct dk_faultq faultq;
	pthread_t reader;
	bool reader_started;
	/* The work queue every EU takes slices from. */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct dk_work *queue_head;  /* guarded by queue_lock */
	struct dk_work **queue_tail; /* guarded by queue_lock */
	bool stopping;		     /* guarded by queue_lock */
	_Atomic bool dying;	     /* destroy: end every launch */
	/* Counters. */
	_Atomic uint64_t launches;
	_Atomic uint64_t accesses;
	_Atomic uint64_t faults_read;
	_Atomic uint64_t fault_batches;
	_Atomic uint32_t error_lines; /* rate limit of repeated errors */
};

/*
 * dk_access - one device access of an EU, faults resolved inside
 * @eu: the execution unit
 * @vm: the VM
 * @op: VSVMH_ACCESS_READ, _WRITE or _ATOMIC_ADD
 * @va: first byte
 * @buf: the EU's buffer (ATOMIC_ADD: the addend in, the old value out)
 * @len: bytes (ATOMIC_ADD: 8)
 * @fault_va: set to the page that failed, on failure
 *
 * Return: 0 when all @len bytes were done, else a negated vsvm_status:
 * VSVM_ERR_FAULT (the guest could not resolve a fault, or the host page
 * is gone), VSVM_ERR_CANCELED (vm_cancel, device going), or what the
 * guest's fault function said.
 */
int dk_access(struct dk_eu *eu, const struct dk_vm *vm, uint32_t op,
	      uint64_t va, void *buf, uint64_t len, uint64_t *fault_va);

/*
 * dk_read_cached - read @len bytes at @va (not crossing a page) through
 * the EU's page cache, which is emptied at every chunk's start.
 */
int dk_read_cached(struct dk_eu *eu, const struct dk_vm *vm, uint64_t va,
		   void *out, uint64_t len, uint64_t *fault_va);

/* dev_kernel_kernels.c */
/* Bytes of each array an EU moves per chunk of a streaming kernel. */
#define DK_CHUNK_BYTES (64u << 10)
const struct dk_kernel *dk_kernel_get(uint32_t kernel);

#endif /* VP_DEV_KERNEL_PRIV_H */
