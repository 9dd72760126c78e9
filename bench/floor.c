// SPDX-License-Identifier: MIT
/*
 * floor.c - the physical floors: a raw cross-process wake-up round trip
 *           and memcpy bandwidth on this machine, now.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The wake-up is two processes ping-ponging over a pair of eventfds: the
 * cheapest way one process can make another run and answer, and the same
 * primitive vhost-user uses for kicks and calls.  A forwarded fault or an
 * invalidation needs at least one such round trip (guest <-> proxy), so
 * targets are stated as multiples of it.  The families call these
 * functions inside each repetition, so that a ratio compares figures
 * taken under the same load.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int efd_wait(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static int efd_kick(int fd)
{
	uint64_t v = 1;

	return write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

int bench_wake_rtt(unsigned int rounds, struct bench_samples *out)
{
	int ping = eventfd(0, 0), pong = eventfd(0, 0), status;
	unsigned int i;
	pid_t child;

	if (ping < 0 || pong < 0)
		goto err;
	child = fork();
	if (child < 0)
		goto err;
	if (!child) {
		/* Only async-signal-safe calls in a forked threaded process. */
		for (i = 0; i < rounds + 1; i++)
			if (efd_wait(ping) || efd_kick(pong))
				_exit(1);
		_exit(0);
	}
	/* One round trip unmeasured: the child's first run is a cold start. */
	efd_kick(ping);
	efd_wait(pong);
	for (i = 0; i < rounds; i++) {
		uint64_t t0 = bench_now_ns();

		if (efd_kick(ping) || efd_wait(pong))
			break;
		bench_samples_add(out, (double)(bench_now_ns() - t0));
	}
	waitpid(child, &status, 0);
	close(ping);
	close(pong);
	return i == rounds ? 0 : -EIO;
err:
	if (ping >= 0)
		close(ping);
	if (pong >= 0)
		close(pong);
	return -errno;
}

double bench_memcpy_bps(void *dst, const void *src, size_t bytes)
{
	uint64_t t0, t1;

	memcpy(dst, src, bytes);	/* warm: both sides resident, cached */
	t0 = bench_now_ns();
	memcpy(dst, src, bytes);
	t1 = bench_now_ns();
	/* The compiler must not drop a copy whose result nobody reads. */
	__asm__ volatile("" : : "r"(dst) : "memory");
	return (double)bytes / ((double)(t1 - t0) / 1e9);
}

/* The floors as metrics of their own, with their distributions plotted. */
void bench_floor_run(void)
{
	const unsigned int rounds = bench_opts.quick ? 2000 : 20000;
	const size_t bytes = bench_opts.quick ? 16u << 20 : 64u << 20;
	double p50[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], bw[BENCH_MAX_REPS];
	struct bench_plot_series ser = { "wake_rtt.cdf", "eventfd ping-pong",
					 "($1/1000):2", "lines" };
	struct bench_samples s;
	struct bench_metric *m;
	void *a = bench_host_alloc(bytes, 0), *b = bench_host_alloc(bytes, 0);
	int r;

	bench_samples_init(&s, rounds);
	for (r = 0; r < bench_opts.reps; r++) {
		bench_progress("floor: wake-up and memcpy, repetition %d/%d",
			       r + 1, bench_opts.reps);
		s.n = 0;
		bench_wake_rtt(rounds, &s);
		p50[r] = bench_pct(&s, 50) / 1000;
		p99[r] = bench_pct(&s, 99) / 1000;
		bw[r] = a && b ? bench_memcpy_bps(a, b, bytes) / 1e9 : 0;
	}
	bench_samples_cdf(&s, bench_path("plots/wake_rtt.cdf"));
	bench_samples_free(&s);
	m = bench_metric("floor.wake_rtt.p50", "0 physical floors",
			 "raw cross-process wake-up round trip p50", "us");
	bench_metric_values(m, p50, bench_opts.reps);
	bench_metric_note(m, "two processes, eventfd ping-pong, %u round trips "
			  "per repetition", rounds);
	m = bench_metric("floor.wake_rtt.p99", "0 physical floors",
			 "raw cross-process wake-up round trip p99", "us");
	bench_metric_values(m, p99, bench_opts.reps);
	m = bench_metric("floor.memcpy", "0 physical floors",
			 "memcpy bandwidth, one thread", "GB/s");
	bench_metric_values(m, bw, bench_opts.reps);
	bench_metric_note(m, "%zu MiB, resident source and destination",
			  bytes >> 20);
	bench_plot("wake_rtt", "Raw cross-process wake-up round trip (CDF)",
		   "microseconds", "fraction of round trips", 1, 0, &ser, 1);
	bench_host_free(a, bytes, 0);
	bench_host_free(b, bytes, 0);
}
