// SPDX-License-Identifier: MIT
/*
 * env.c - the forwarded path as the benchmark runs it: vsvm-proxy's
 *         server in this process, on its own threads, serving simulated
 *         VMs that connect over a UNIX socket.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * This is the same code `make demo` runs in two processes (vsvm-proxy and
 * vsvm-guest-sim): vp_server_start() with its accept and connection
 * threads, the guest simulator's vhost-user frontend, split rings in a
 * memfd of "guest RAM", and the guest shim core.  Keeping both in one
 * process costs nothing in realism (every request still crosses the
 * socket and the rings, and wakes the other side through eventfds) and
 * lets the benchmark wrap the devices with timed_dev.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "dev_sim.h"
#include "gpu_transport.h"
#include "policy.h"
#include "guest_ram.h"
#include "vhost_user.h"
#include "vsvmg.h"

#define SZ_2M (2ull << 20)

struct bench_host bench_host;

int bench_host_up_with(struct bench_host *h, uint32_t nr_devs,
		       const uint32_t *eus, uint64_t mem,
		       const struct vp_policy *policy)
{
	struct vp_server_config cfg = { 0 };
	uint32_t i;

	memset(h, 0, sizeof(*h));
	if (nr_devs > BENCH_MAX_DEVS)
		return -EINVAL;
	snprintf(h->dir, sizeof(h->dir), "/tmp/vsvm-bench.XXXXXX");
	if (!mkdtemp(h->dir))
		return -errno;
	snprintf(h->sock, sizeof(h->sock), "%s/proxy.sock", h->dir);
	for (i = 0; i < nr_devs; i++) {
		struct dev_sim_config dc = {
			.index = i,
			.exec_units = eus[i],
			.mem_size = mem,
		};

		h->sim[i] = dev_sim_create(&dc);
		if (!h->sim[i])
			goto err;
		h->dev[i] = bench_timed_dev_create(h->sim[i]);
		if (!h->dev[i])
			goto err;
		h->nr_devs++;
	}
	if (policy)
		h->policy = *policy;
	else
		h->policy = vp_policy_defaults;
	cfg.socket_path = h->sock;
	cfg.verbosity = VP_LOG_ERR;
	/* What vsvm-proxy's main.c configures, on the timed devices. */
	cfg.svm = (struct vp_svm_config){
		.devices = h->dev,
		.num_devices = h->nr_devs,
		.va_bits = 48,
		.max_contexts = 4096,
		.max_ranges = 1 << 16,
		.max_launches = 64,
		.max_fault_batch = VSVM_MAX_FAULT_BATCH,
		.max_submit_bytes = 256 << 10,
		.policy = &h->policy,
	};
	h->server = vp_server_start(&cfg);
	if (!h->server)
		goto err;
	return 0;
err:
	bench_host_down(h);
	return -ENODEV;
}

int bench_host_up(struct bench_host *h)
{
	static const uint32_t eus[BENCH_MAX_DEVS] = { 4, 64 };
	struct vp_policy policy = vp_policy_defaults;

	/*
	 * No automatic migration on the main host: families 1-3 and the
	 * workloads measure fault service and mirroring, and a policy move
	 * after migrate_threshold faults would mix MIGRATE_REQs into them.
	 * Migration is measured on its own (migrate.c), and
	 * oversubscription on a host of its own with the default policy.
	 */
	policy.migrate_threshold = 0;
	return bench_host_up_with(h, BENCH_MAX_DEVS, eus, 512ull << 20,
				  &policy);
}

void bench_host_down(struct bench_host *h)
{
	uint32_t i;

	if (h->server)
		vp_server_stop(h->server);
	for (i = 0; i < BENCH_MAX_DEVS; i++) {
		if (h->dev[i])
			h->dev[i]->ops->destroy(h->dev[i]);
		if (h->sim[i])
			h->sim[i]->ops->destroy(h->sim[i]);
	}
	unlink(h->sock);
	rmdir(h->dir);
	memset(h, 0, sizeof(*h));
}

int bench_vm_up_on(struct bench_host *h, struct bench_vm *vm,
		   uint64_t ram_bytes, uint32_t window, int populate)
{
	struct vsvmg_config cfg = { .fault_window = window,
				    .populate = (uint32_t)populate };
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->ram = gsim_ram_create(ram_bytes);
	if (!vm->ram)
		return -ENOMEM;
	ret = gsim_gpu_connect(vm->ram, h->sock, NULL, &vm->gpu);
	if (ret)
		goto err_ram;
	vm->dev = vsvmg_dev_create(&gsim_gpu_transport_ops, vm->gpu, &cfg);
	if (!vm->dev) {
		ret = -EPROTO;
		goto err_gpu;
	}
	return 0;

err_gpu:
	gsim_gpu_disconnect(vm->gpu);
err_ram:
	gsim_ram_destroy(vm->ram);
	vm->ram = NULL;
	return ret;
}

int bench_vm_up(struct bench_vm *vm, uint64_t ram_bytes, uint32_t window,
		int populate)
{
	return bench_vm_up_on(&bench_host, vm, ram_bytes, window, populate);
}

void bench_vm_down(struct bench_vm *vm)
{
	if (!vm->ram)
		return;
	vsvmg_dev_destroy(vm->dev);
	gsim_gpu_disconnect(vm->gpu);
	gsim_ram_destroy(vm->ram);
	memset(vm, 0, sizeof(*vm));
}

void *bench_host_alloc(uint64_t bytes, uint64_t skew)
{
	uint64_t len = bytes + skew + SZ_2M;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
	a += skew;
	/* Give back the slack, so munmap of exactly [a, a + bytes) is all. */
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (p + len > a + bytes)
		munmap(a + bytes, (size_t)(p + len - (a + bytes)));
	memset(a, 0, bytes);	/* resident: no host page fault in a kernel */
	return a;
}

void bench_host_free(void *p, uint64_t bytes, uint64_t skew)
{
	(void)skew;
	if (p)
		munmap(p, bytes);
}
