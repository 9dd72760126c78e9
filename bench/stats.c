// SPDX-License-Identifier: MIT
/*
 * stats.c - clocks, sample sets, percentiles and spreads for vsvm-bench.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Percentiles are nearest-rank over the sorted samples: no interpolation,
 * so a reported p99 is a latency that was actually observed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static uint64_t bench_t0;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_samples_init(struct bench_samples *s, size_t cap)
{
	s->n = 0;
	s->cap = cap ? cap : 16;
	s->v = malloc(s->cap * sizeof(*s->v));
	if (!s->v)
		abort();
}

void bench_samples_add(struct bench_samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap *= 2;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			abort();
	}
	s->v[s->n++] = x;
}

void bench_samples_free(struct bench_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_pct(struct bench_samples *s, double p)
{
	size_t rank;

	if (!s->n)
		return NAN;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

int bench_samples_cdf(struct bench_samples *s, const char *path)
{
	FILE *f = fopen(path, "w");
	size_t i, step;

	if (!f)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	/* At most ~2000 points: enough for a smooth curve, small files. */
	step = s->n > 2000 ? s->n / 2000 : 1;
	for (i = 0; i < s->n; i += step)
		fprintf(f, "%.6g %.6g\n", s->v[i], (double)(i + 1) / (double)s->n);
	if (s->n)
		fprintf(f, "%.6g 1\n", s->v[s->n - 1]);
	return fclose(f);
}

double bench_median(const double *v, int n)
{
	double *c;
	double m;

	if (n <= 0)
		return NAN;
	c = malloc((size_t)n * sizeof(*c));
	if (!c)
		abort();
	memcpy(c, v, (size_t)n * sizeof(*c));
	qsort(c, (size_t)n, sizeof(*c), cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

void bench_spread_of(const double *v, int n, struct bench_spread *out)
{
	int i;

	out->n = n;
	out->min = out->max = n ? v[0] : NAN;
	for (i = 1; i < n; i++) {
		if (v[i] < out->min)
			out->min = v[i];
		if (v[i] > out->max)
			out->max = v[i];
	}
	out->median = bench_median(v, n);
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	if (!bench_t0)
		bench_t0 = bench_now_ns();
	fprintf(stderr, "[%7.1f s] ", (double)(bench_now_ns() - bench_t0) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *bench_path(const char *fmt, ...)
{
	static char buf[512];
	int n;
	va_list ap;

	n = snprintf(buf, sizeof(buf), "%s/", bench_opts.out_dir);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}
