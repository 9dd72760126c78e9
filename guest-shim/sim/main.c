// SPDX-License-Identifier: MIT
/*
 * main.c - vsvm-guest-sim: a simulated VM (guest RAM, a vhost-user
 *          frontend, guest processes, the guest shim core) that drives
 *          vsvm-proxy exactly as a VM would, and checks every result.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The demo: N processes, all using the SAME virtual addresses for
 * different data, each with its own SVM context, run every built-in kernel
 * on alternating devices at once; one process unmaps and remaps memory
 * while a kernel writes it; one forks and both sides write the shared
 * copy-on-write buffer from the GPU.  Exit status 0 only if every result
 * verified, no process saw another's data and no guest memory leaked.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_transport.h"
#include "guest_proc.h"
#include "workloads.h"

#define MAX_PROCS 64

struct options {
	const char *socket_path;
	uint32_t procs;
	uint32_t rounds;
	uint64_t ram_mib;
	uint64_t seed;
	int quiet;
};

struct proc_run {
	struct gsim_proc *p;
	uint32_t num_devices;
	uint32_t rounds;
	uint64_t seed;
	int quiet;
	uint32_t passed;
	uint32_t failed;
	uint64_t dev_mem_max[GSIM_WL_MAX_DEVICES];
	pthread_mutex_t *print_lock;
};

static void print_result(struct proc_run *r, uint32_t dev,
			 const struct gsim_wl_result *res)
{
	if (r->quiet && res->ok)
		return;
	pthread_mutex_lock(r->print_lock);
	printf("  process %-2u device %u  %-20s %s  faults %-5" PRIu64
	       " %8.2f ms%s%s\n",
	       r->p->pid, dev, res->name, res->ok ? "ok  " : "FAIL",
	       res->faults, (double)res->elapsed_ns / 1e6,
	       res->why[0] ? "  " : "", res->why);
	if (res->ok && res->note[0])
		printf("  process %-2u           %s\n", r->p->pid, res->note);
	fflush(stdout);
	pthread_mutex_unlock(r->print_lock);
}

static void *run_process(void *arg)
{
	struct proc_run *r = arg;
	uint32_t round, i;

	for (round = 0; round < r->rounds; round++) {
		for (i = 0; gsim_workloads[i].fn; i++) {
			struct gsim_wl_result res = { 0 };
			uint32_t dev = (r->p->pid + i + round) % r->num_devices;

			gsim_workloads[i].fn(r->p, dev,
					     r->seed * 131 + r->p->pid * 7 + i,
					     &res);
			print_result(r, dev, &res);
			for (uint32_t d = 0; d < GSIM_WL_MAX_DEVICES; d++)
				if (res.dev_mem[d] > r->dev_mem_max[d])
					r->dev_mem_max[d] = res.dev_mem[d];
			if (res.ok)
				r->passed++;
			else
				r->failed++;
		}
	}
	return NULL;
}

/*
 * fork() with a GPU: parent and child share the buffer copy-on-write; each
 * then writes it from the device, and each must see only its own writes.
 */
static int fork_cow_check(struct gsim_proc *parent, struct vsvmg_dev *dev,
			  uint32_t child_pid, uint32_t num_devices)
{
	const uint64_t va = GSIM_WL_BASE + (64ull << 20), n = 16 * 1024;
	uint32_t *buf = malloc(n * 4), pv = 0xaaaa0000, cv = 0xcccc0000;
	struct vsvmg_launch_result lr;
	struct gsim_proc *child = NULL;
	uint64_t args[3] = { va, n, 0 }, i;
	int ret = -1;

	if (!buf || gsim_proc_mmap_fixed(parent, va, n * 4))
		goto out;
	for (i = 0; i < n; i++)
		buf[i] = pv;
	if (gsim_mm_write(parent->mm, va, buf, n * 4))
		goto out_unmap;
	if (gsim_proc_fork(parent, dev, child_pid, &child))
		goto out_unmap;
	args[2] = cv;
	if (vsvmg_ctx_launch(child->ctx, VSVM_KERNEL_FILL, 0, (const __u64 *)args, 3,
			     &lr) ||
	    lr.status != VSVM_OK)
		goto out_child;
	gsim_mm_read(parent->mm, va, buf, n * 4);
	for (i = 0; i < n; i++)
		if (buf[i] != pv)
			goto out_child;	/* the child's write leaked */
	args[2] = pv + 1;
	if (vsvmg_ctx_launch(parent->ctx, VSVM_KERNEL_FILL,
			     num_devices > 1 ? 1 : 0, (const __u64 *)args, 3,
			     &lr) ||
	    lr.status != VSVM_OK)
		goto out_child;
	gsim_mm_read(child->mm, va, buf, n * 4);
	for (i = 0; i < n; i++)
		if (buf[i] != cv)
			goto out_child;
	gsim_mm_read(parent->mm, va, buf, n * 4);
	for (i = 0; i < n; i++)
		if (buf[i] != pv + 1)
			goto out_child;
	ret = 0;
out_child:
	gsim_proc_exit(child);
out_unmap:
	gsim_mm_munmap(parent->mm, va, n * 4);
out:
	free(buf);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vsvm-guest-sim --socket PATH [options]\n"
		"  -s, --socket PATH    vsvm-proxy's vhost-user socket\n"
		"  -p, --processes N    guest processes (default 4, max %d)\n"
		"  -r, --rounds N       times each runs every workload "
		"(default 1)\n"
		"  -m, --ram MIB        guest RAM (default 256)\n"
		"      --seed N         data seed (default 1)\n"
		"  -q, --quiet          print failures and the report only\n",
		MAX_PROCS);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "processes", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ram", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:p:r:m:qh", longopts, NULL)) !=
	       -1) {
		if (c == 's') {
			o->socket_path = optarg;
			continue;
		}
		if (c == 'q') {
			o->quiet = 1;
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?') {
			usage(stderr);
			return -1;
		}
		errno = 0;
		v = strtoull(optarg, &end, 0);
		if (errno || *end || end == optarg || v == 0) {
			fprintf(stderr, "vsvm-guest-sim: bad number '%s'\n",
				optarg);
			return -1;
		}
		if (c == 'p' && v <= MAX_PROCS)
			o->procs = (uint32_t)v;
		else if (c == 'r' && v <= 1000)
			o->rounds = (uint32_t)v;
		else if (c == 'm' && v >= 64 && v <= 65536 && v % 2 == 0)
			o->ram_mib = v;
		else if (c == 'S')
			o->seed = v;
		else {
			fprintf(stderr, "vsvm-guest-sim: '%s' out of range\n",
				optarg);
			return -1;
		}
	}
	if (!o->socket_path || optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static void report(struct proc_run *runs, uint32_t n)
{
	struct vsvm_device_val dv[VSVM_MAX_DEVICES];
	uint32_t i, d, nd = 0;

	printf("\n%-8s %8s %8s %8s %8s %8s %8s\n", "process", "mirrored",
	       "faults", "stale", "invalid", "kernels", "verified");
	for (i = 0; i < n; i++) {
		struct vsvmg_ctx_stats st;

		vsvmg_ctx_stats(runs[i].p->ctx, &st);
		printf("%-8u %8llu %8llu %8llu %8llu %8llu %5u/%-3u\n",
		       runs[i].p->pid, st.pages_mirrored, st.faults,
		       st.map_stale, st.invalidations, st.launches,
		       runs[i].passed, runs[i].passed + runs[i].failed);
	}
	printf("(mirrored: pages sent in MAP; faults: device faults the "
	       "guest answered;\n invalid: invalidations acknowledged by the "
	       "host)\n");
	printf("\n%-8s %8s %8s %8s %8s %8s %8s\n", "process", "to-dev",
	       "to-sys", "dev-dev", "reqs", "cpu-back", "prefetch");
	for (i = 0; i < n; i++) {
		struct vsvmg_ctx_stats st;
		struct gsim_mm_stats ms;

		vsvmg_ctx_stats(runs[i].p->ctx, &st);
		gsim_mm_stats(runs[i].p->mm, &ms);
		printf("%-8u %8llu %8llu %8llu %8llu %8llu %8llu\n",
		       runs[i].p->pid, st.migrated_to_device,
		       st.migrated_to_system, st.migrated_peer, st.migrate_reqs,
		       (unsigned long long)ms.devmem_faults, st.prefetches);
	}
	printf("(pages migrated by the guest's MIGRATEs: guest RAM to device, "
	       "back, device to\n device; reqs: the host's MIGRATE_REQs "
	       "served; cpu-back: guest CPU touches of\n device memory that "
	       "brought pages back; prefetch: PREFETCHes applied)\n");
	if (n && !(vsvmg_ctx_features(runs[0].p->ctx) & VSVM_F_DEVICE_MEMORY))
		printf("(the host offers no device memory: hints and prefetch "
		       "map, nothing migrates)\n");
	if (n && !vsvmg_ctx_query(runs[0].p->ctx, dv, VSVM_MAX_DEVICES, &nd)) {
		for (d = 0; d < nd && d < GSIM_WL_MAX_DEVICES; d++) {
			uint64_t peak = 0;

			for (i = 0; i < n; i++)
				peak += runs[i].dev_mem_max[d];
			printf("device %u: %llu MiB memory, %u execution units; "
			       "memory held (page tables, data), sum of each "
			       "process's peak: "
			       "%llu KiB (now %llu KiB for process %u)\n",
			       d, dv[d].mem_size >> 20, dv[d].exec_units,
			       (unsigned long long)(peak >> 10),
			       dv[d].mem_used >> 10, runs[0].p->pid);
		}
	}
}

int main(int argc, char **argv)
{
	struct options o = { .procs = 4, .rounds = 1, .ram_mib = 256,
			     .seed = 1 };
	struct proc_run runs[MAX_PROCS];
	pthread_t threads[MAX_PROCS];
	pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
	struct vsvmg_config cfg = { .fault_window = 64 << 10, .populate = 1 };
	const struct vsvm_caps *caps;
	struct gsim_gpu *gpu = NULL;
	struct vsvmg_dev *dev = NULL;
	struct gsim_ram *ram;
	uint32_t i, made = 0, passed = 0, failed = 0;
	uint64_t baseline;
	int ret, fork_ok = 0, leak_ok;

	if (parse_args(argc, argv, &o))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ram = gsim_ram_create(o.ram_mib << 20);
	if (!ram) {
		fprintf(stderr, "vsvm-guest-sim: cannot create guest RAM\n");
		return 1;
	}
	baseline = gsim_ram_pages_used(ram);
	ret = gsim_gpu_connect(ram, o.socket_path, NULL, &gpu);
	if (ret) {
		fprintf(stderr, "vsvm-guest-sim: connecting to %s: %s\n",
			o.socket_path, strerror(-ret));
		goto out_ram;
	}
	dev = vsvmg_dev_create(&gsim_gpu_transport_ops, gpu, &cfg);
	if (!dev) {
		fprintf(stderr, "vsvm-guest-sim: no svm capset on %s\n",
			o.socket_path);
		goto out_gpu;
	}
	caps = vsvmg_dev_caps(dev);
	printf("vsvm-guest-sim: connected to %s: protocol %u.%u, %u device(s), "
	       "%u VA bits\n",
	       o.socket_path, caps->major, caps->minor, caps->num_devices,
	       caps->va_bits);
	printf("%u processes, every one using VA 0x%llx for its own data\n",
	       o.procs, (unsigned long long)GSIM_WL_BASE);
	for (i = 0; i < o.procs; i++) {
		runs[i] = (struct proc_run){ .num_devices = caps->num_devices,
					     .rounds = o.rounds,
					     .seed = o.seed,
					     .quiet = o.quiet,
					     .print_lock = &print_lock };
		ret = gsim_proc_create(dev, ram, 100 + i, &runs[i].p);
		if (ret) {
			fprintf(stderr, "vsvm-guest-sim: process %u: %s\n",
				100 + i, strerror(-ret));
			failed++;
			break;
		}
		made++;
	}
	for (i = 0; i < made; i++)
		pthread_create(&threads[i], NULL, run_process, &runs[i]);
	for (i = 0; i < made; i++) {
		pthread_join(threads[i], NULL);
		passed += runs[i].passed;
		failed += runs[i].failed;
	}
	if (made) {
		fork_ok = !fork_cow_check(runs[0].p, dev, 900,
					  caps->num_devices);
		printf("  process %u fork: parent and child write the shared "
		       "buffer from the GPU: %s\n",
		       runs[0].p->pid, fork_ok ? "ok (copy-on-write held)" :
						 "FAIL");
		fork_ok ? passed++ : failed++;
	}
	report(runs, made);
	for (i = 0; i < made; i++)
		gsim_proc_exit(runs[i].p);
	vsvmg_dev_destroy(dev);
out_gpu:
	gsim_gpu_disconnect(gpu);
out_ram:
	leak_ok = gsim_ram_pages_used(ram) == baseline;
	if (!leak_ok) {
		printf("guest RAM leak: %" PRIu64 " pages still allocated\n",
		       gsim_ram_pages_used(ram) - baseline);
		failed++;
	}
	gsim_ram_destroy(ram);
	if (!dev)
		return 1;
	printf("vsvm-guest-sim: %s: %u checks passed, %u failed; %u processes "
	       "shared VAs%s\n",
	       failed ? "FAIL" : "PASS", passed, failed, made,
	       failed ? "" : ", none saw another's data");
	return failed ? 1 : 0;
}
