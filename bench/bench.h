/* SPDX-License-Identifier: MIT */
/*
 * bench.h - vsvm-bench: what the metric families share.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * vsvm-bench measures the cost of virtualization as ratios taken in one
 * run: every figure of the forwarded path (guest simulator -> vhost-user
 * -> vsvm-proxy -> simulated GPU) is divided by a baseline measured in the
 * same repetition on the same machine: host-native SVM (proxy/native.h),
 * the partitioned VA space (proxy/partition.h), a raw cross-process
 * wake-up, or memcpy.  Each family of metrics lives in one file:
 *
 *   floor.c     raw wake-up round trip and memcpy bandwidth (the floors)
 *   fault.c     1. fault service latency; 2. mirror throughput;
 *               3. invalidation round trip
 *   migrate.c   4. guest-driven MIGRATE and the copy engine vs memcpy
 *   workload.c  5. workloads, virtualized vs host-native, cold and warm,
 *               and 150% oversubscription on a proxy of its own
 *   scale.c     6. contexts, memory per context, page-table bytes,
 *               per-process tables vs the partitioned space
 *   env.c       the forwarded path: an in-process vsvm-proxy server and
 *               simulated VMs connected to it over a UNIX socket
 *   timed_dev.c a device wrapper that times each fault as the device sees
 *               it (miss -> fault function returns), on both paths alike
 *   report.c    the metric table, report.json, report.md, gnuplot plots
 *
 * Each metric is repeated (opts.reps) and kept as min/median/max; its ratio
 * is computed per repetition against the baseline of that repetition, then
 * summarised the same way.  A target is judged on the median ratio (or
 * value) and only recorded: nothing here fails because a target is missed.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "policy.h"

#define BENCH_MAX_REPS	 16
#define BENCH_MAX_DEVS	 2

struct bench_opts {
	int quick;		/* CI smoke sizes */
	int reps;		/* repetitions of each metric */
	const char *out_dir;	/* report.json, report.md, plots/ */
	const char *only;	/* run only this family (debugging) */
};

extern struct bench_opts bench_opts;

/* ---- time, samples, spread (stats.c) ---------------------------------- */

uint64_t bench_now_ns(void);

struct bench_samples {
	double *v;
	size_t n;
	size_t cap;
};

void bench_samples_init(struct bench_samples *s, size_t cap);
void bench_samples_add(struct bench_samples *s, double x);
void bench_samples_free(struct bench_samples *s);
/* The p-th percentile (0..100) by nearest rank; sorts s. NAN if empty. */
double bench_pct(struct bench_samples *s, double p);
/* Write the sorted samples as an empirical CDF "x y" to path. */
int bench_samples_cdf(struct bench_samples *s, const char *path);

struct bench_spread {
	double min;
	double median;
	double max;
	int n;
};

void bench_spread_of(const double *v, int n, struct bench_spread *out);
double bench_median(const double *v, int n);

/* "[  12.3 s] fmt" on stderr: progress while it runs. */
void bench_progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* A scratch file path under the output directory (static buffer). */
const char *bench_path(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* ---- the metric table (report.c) ------------------------------------- */

enum bench_cmp {
	BENCH_NO_TARGET,
	BENCH_LE,	/* met when the median is <= target */
	BENCH_GE,
};

enum bench_on {
	BENCH_ON_VALUE,
	BENCH_ON_RATIO,
};

struct bench_metric;

/* A new metric; family is "1 fault service" etc., id unique. */
struct bench_metric *bench_metric(const char *id, const char *family,
				  const char *title, const char *unit);
/* Its absolute value in each repetition. */
void bench_metric_values(struct bench_metric *m, const double *v, int n);
/* Its ratio to baseline in each repetition. */
void bench_metric_ratio(struct bench_metric *m, const char *baseline,
			const double *r, int n);
void bench_metric_target(struct bench_metric *m, enum bench_cmp cmp,
			 double target, enum bench_on on, const char *text);
void bench_metric_note(struct bench_metric *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A metric the run could not measure, and why (never a made-up number). */
void bench_not_measured(const char *id, const char *family, const char *title,
			const char *target_text, const char *why);

/* A plot: data files already written under plots/, one series each. */
struct bench_plot_series {
	const char *file;	/* relative to plots/ */
	const char *title;
	const char *using;	/* gnuplot "using" clause, e.g. "1:2" */
	const char *style;	/* "lines", "linespoints" */
};

void bench_plot(const char *name, const char *title, const char *xlabel,
		const char *ylabel, int logx, int logy,
		const struct bench_plot_series *series, int nr);

/* Write report.json, report.md and the plots; 0 or -1. */
int bench_report_write(double seconds);

/* ---- the families ---------------------------------------------------- */

/* floor.c: one measurement each, for pairing with a repetition. */
int bench_wake_rtt(unsigned int rounds, struct bench_samples *out);
double bench_memcpy_bps(void *dst, const void *src, size_t bytes);
void bench_floor_run(void);

void bench_fault_run(void);
void bench_migrate_run(void);
void bench_workload_run(void);
void bench_scale_run(void);

/* ---- timed_dev.c ------------------------------------------------------ */

/* A device that forwards every op to inner and times each fault. */
struct vp_device *bench_timed_dev_create(struct vp_device *inner);
/*
 * Record the latency (ns) of every fault that ends from now on into
 * buf[0..cap); NULL stops.  Returns faults seen since the last call.
 */
size_t bench_timed_dev_record(struct vp_device *dev, double *buf, size_t cap);

/* ---- env.c: the forwarded path --------------------------------------- */

struct gsim_ram;
struct gsim_gpu;
struct vsvmg_dev;
struct vp_server;

struct bench_host {
	struct vp_device *sim[BENCH_MAX_DEVS];	 /* simulated GPUs */
	struct vp_device *dev[BENCH_MAX_DEVS];	 /* timed wrappers of them */
	uint32_t nr_devs;
	struct vp_server *server;
	struct vp_policy policy;
	char dir[64];
	char sock[96];
};

/*
 * Device 0: 4 execution units (the proxy's default), the workloads' and
 * migration's device.  Device 1: 64 execution units, so that up to 64
 * faults can be in flight at once for the batched fault figures.
 */
#define BENCH_DEV_MAIN	0
#define BENCH_DEV_WIDE	1

int bench_host_up(struct bench_host *h);
/* Any other host: nr_devs devices of mem bytes; policy NULL: defaults. */
int bench_host_up_with(struct bench_host *h, uint32_t nr_devs,
		       const uint32_t *eus, uint64_t mem,
		       const struct vp_policy *policy);
void bench_host_down(struct bench_host *h);
extern struct bench_host bench_host;

struct bench_vm {
	struct gsim_ram *ram;
	struct gsim_gpu *gpu;
	struct vsvmg_dev *dev;
};

/* A simulated VM on the host's socket; window/populate: its shim config. */
int bench_vm_up(struct bench_vm *vm, uint64_t ram_bytes, uint32_t window,
		int populate);
int bench_vm_up_on(struct bench_host *h, struct bench_vm *vm,
		   uint64_t ram_bytes, uint32_t window, int populate);
void bench_vm_down(struct bench_vm *vm);

/* Anonymous host memory, 2 MiB aligned + skew bytes; 0-filled, resident. */
void *bench_host_alloc(uint64_t bytes, uint64_t skew);
void bench_host_free(void *p, uint64_t bytes, uint64_t skew);

#endif /* BENCH_H */
