/* SPDX-License-Identifier: MIT */
/*
 * e2e_test.h - fixture of the end-to-end memory-hints tests: the real
 *              vsvm-proxy code (vhost-user server, SVM core, simulated
 *              GPUs) in this process, and the guest simulator (guest RAM,
 *              vhost-user frontend, guest shim core, one guest process)
 *              talking to it over a Unix socket, as a VM would.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * A test calls e2e_start() with the device count and memory it needs,
 * then works through the guest process (e->p: its mm and its context).
 * Tests that need device memory skip, saying why, when the host does not
 * offer VSVM_F_DEVICE_MEMORY.  Teardown ends the process and checks that
 * guest RAM is back at its baseline (nothing leaked, no frame left
 * referenced by a device-private or migration entry).
 *
 * Include after <cmocka.h>.
 */
#ifndef E2E_TEST_H
#define E2E_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_sim.h"
#include "vhost_user.h"

#include "gpu_transport.h"
#include "guest_proc.h"
#include "guest_ram.h"

#define PG	    4096ull
#define E2E_VA	    0x7f0000000000ull
#define E2E_MAX_DEV 4

struct e2e {
	char dir[64];
	char sock[96];
	uint32_t ndev;
	struct vp_device *devs[E2E_MAX_DEV];
	struct vp_server *srv;
	struct gsim_ram *ram;
	uint64_t baseline;
	struct gsim_gpu *gpu;
	struct vsvmg_dev *dev;
	struct gsim_proc *p;
};

static inline int e2e_setup(void **state)
{
	struct e2e *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	*state = e;
	return 0;
}

/* Bring up ndev GPUs of dev_mem bytes each, the server, a VM, a process. */
static inline void e2e_start(struct e2e *e, uint32_t ndev, uint64_t dev_mem)
{
	struct vsvmg_config gcfg = { .fault_window = 64 << 10, .populate = 1 };
	struct vp_server_config cfg;
	uint32_t i;

	assert_true(ndev <= E2E_MAX_DEV);
	snprintf(e->dir, sizeof(e->dir), "/tmp/vsvm-e2e.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	e->ndev = ndev;
	for (i = 0; i < ndev; i++) {
		struct dev_sim_config dc = { .index = i,
					     .exec_units = 2,
					     .mem_size = dev_mem };

		e->devs[i] = dev_sim_create(&dc);
		assert_non_null(e->devs[i]);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = e->sock;
	cfg.verbosity = -1;
	cfg.svm.devices = e->devs;
	cfg.svm.num_devices = ndev;
	cfg.svm.va_bits = 48;
	cfg.svm.max_contexts = 16;
	cfg.svm.max_ranges = 1 << 16;
	cfg.svm.max_launches = 16;
	cfg.svm.max_fault_batch = VSVM_MAX_FAULT_BATCH;
	cfg.svm.max_submit_bytes = 256 << 10;
	e->srv = vp_server_start(&cfg);
	assert_non_null(e->srv);

	e->ram = gsim_ram_create(256ull << 20);
	assert_non_null(e->ram);
	e->baseline = gsim_ram_pages_used(e->ram);
	assert_int_equal(gsim_gpu_connect(e->ram, e->sock, NULL, &e->gpu), 0);
	e->dev = vsvmg_dev_create(&gsim_gpu_transport_ops, e->gpu, &gcfg);
	assert_non_null(e->dev);
	assert_int_equal(gsim_proc_create(e->dev, e->ram, 100, &e->p), 0);
}

static inline int e2e_has_devmem(struct e2e *e)
{
	return vsvmg_ctx_features(e->p->ctx) & VSVM_F_DEVICE_MEMORY;
}

/* Skip (with the reason) when the proxy offers no device memory. */
#define E2E_NEED_DEVMEM(e)                                                \
	do {                                                              \
		if (!e2e_has_devmem(e)) {                                 \
			print_message(                                    \
				"SKIP: the proxy does not offer "         \
				"VSVM_F_DEVICE_MEMORY (no migration)\n"); \
			skip();                                           \
		}                                                         \
	} while (0)

static inline int e2e_teardown(void **state)
{
	struct e2e *e = *state;
	uint64_t used = 0;
	uint32_t i;

	if (e->p)
		gsim_proc_exit(e->p);
	if (e->dev)
		vsvmg_dev_destroy(e->dev);
	if (e->gpu)
		gsim_gpu_disconnect(e->gpu);
	if (e->ram)
		used = gsim_ram_pages_used(e->ram) - e->baseline;
	if (e->srv)
		vp_server_stop(e->srv);
	for (i = 0; i < e->ndev; i++)
		if (e->devs[i])
			e->devs[i]->ops->destroy(e->devs[i]);
	if (e->ram) {
		assert_int_equal(gsim_ram_poison_scan(e->ram), 0);
		gsim_ram_destroy(e->ram);
	}
	if (e->dir[0])
		rmdir(e->dir);
	free(e);
	assert_int_equal(used, 0);
	return 0;
}

/* Map [va, va + len) read-write in the process. */
static inline void e2e_map(struct e2e *e, uint64_t va, uint64_t len)
{
	assert_int_equal(gsim_proc_mmap_fixed(e->p, va, len), 0);
}

/* Fill [va, va + len) with u32 words pattern(i) = seed ^ (i * 2654435761). */
static inline uint32_t e2e_word(uint32_t seed, uint64_t i)
{
	return seed ^ (uint32_t)(i * 2654435761u);
}

static inline void e2e_fill(struct e2e *e, uint64_t va, uint64_t len,
			    uint32_t seed)
{
	uint32_t *buf = malloc(len);
	uint64_t i;

	assert_non_null(buf);
	for (i = 0; i < len / 4; i++)
		buf[i] = e2e_word(seed, i);
	assert_int_equal(gsim_mm_write(e->p->mm, va, buf, len), 0);
	free(buf);
}

/* Whether the CPU reads the pattern back (bringing device pages home). */
static inline int e2e_holds(struct e2e *e, uint64_t va, uint64_t len,
			    uint32_t seed)
{
	uint32_t *buf = malloc(len);
	uint64_t i;
	int ok = 1;

	assert_non_null(buf);
	assert_int_equal(gsim_mm_read(e->p->mm, va, buf, len), 0);
	for (i = 0; i < len / 4 && ok; i++)
		if (buf[i] != e2e_word(seed, i)) {
			print_message("word %" PRIu64 " is 0x%x, want 0x%x\n",
				      i, buf[i], e2e_word(seed, i));
			ok = 0;
		}
	free(buf);
	return ok;
}

/* Whether every u32 of [va, va + len) reads value. */
static inline int e2e_holds_value(struct e2e *e, uint64_t va, uint64_t len,
				  uint32_t value)
{
	uint32_t *buf = malloc(len);
	uint64_t i;
	int ok = 1;

	assert_non_null(buf);
	assert_int_equal(gsim_mm_read(e->p->mm, va, buf, len), 0);
	for (i = 0; i < len / 4 && ok; i++)
		ok = buf[i] == value;
	free(buf);
	return ok;
}

/* Run a kernel that must succeed; its launch faults. */
static inline uint64_t e2e_launch(struct e2e *e, uint32_t kernel,
				  uint32_t device, const uint64_t *args)
{
	struct vsvmg_launch_result lr;

	assert_int_equal(vsvmg_ctx_launch(e->p->ctx, kernel, device,
					  (const __u64 *)args,
					  vsvm_kernel_nr_args(kernel), &lr),
			 0);
	if (lr.status != VSVM_OK)
		print_message("launch on device %u: %s at 0x%" PRIx64 "\n",
			      device, vsvm_status_name(lr.status),
			      (uint64_t)lr.fault_va);
	assert_int_equal(lr.status, VSVM_OK);
	return lr.faults;
}

/* FILL [va, va + len) with value on device. */
static inline uint64_t e2e_fill_on(struct e2e *e, uint32_t device, uint64_t va,
				   uint64_t len, uint32_t value)
{
	uint64_t args[3] = { va, len / 4, value };

	return e2e_launch(e, VSVM_KERNEL_FILL, device, args);
}

/* COPY len bytes from src to dst on device. */
static inline uint64_t e2e_copy_on(struct e2e *e, uint32_t device, uint64_t dst,
				   uint64_t src, uint64_t len)
{
	uint64_t args[3] = { dst, src, len };

	return e2e_launch(e, VSVM_KERNEL_COPY, device, args);
}

/* Device memory the context holds on device d (QUERY). */
static inline uint64_t e2e_mem_used(struct e2e *e, uint32_t d)
{
	struct vsvm_device_val dv[VSVM_MAX_DEVICES];
	uint32_t n = 0;

	assert_int_equal(vsvmg_ctx_query(e->p->ctx, dv, VSVM_MAX_DEVICES, &n),
			 0);
	assert_true(d < n);
	return dv[d].mem_used;
}

static inline struct vsvmg_ctx_stats e2e_stats(struct e2e *e)
{
	struct vsvmg_ctx_stats st;

	vsvmg_ctx_stats(e->p->ctx, &st);
	return st;
}

static inline void e2e_set_attr(struct e2e *e, uint64_t va, uint64_t len,
				uint32_t type, uint64_t value)
{
	struct vsvm_attr_val a = { .type = type, .value = value };

	assert_int_equal(vsvmg_ctx_set_attr(e->p->ctx, va, len, &a, 1), 0);
}

/* The guest page table's entry for va: device-private on which device? */
static inline int e2e_guest_device(struct e2e *e, uint64_t va)
{
	uint64_t pte = gsim_mm_pte(e->p->mm, va);

	if (!(pte & GSIM_PTE_DEVICE) || (pte & GSIM_PTE_MIGRATION))
		return -1;
	return (int)GSIM_PTE_DEV(pte);
}

#endif /* E2E_TEST_H */
