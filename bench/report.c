// SPDX-License-Identifier: MIT
/*
 * report.c - the metric table and its three outputs: report.json,
 *            report.md and PNG plots drawn by gnuplot.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * JSON is written by hand here rather than through a library: the report
 * is output only (nothing in vsvm parses JSON), its shape is fixed and
 * flat, and the only care it needs is string escaping and non-finite
 * numbers, both handled in json_str()/json_num().  The smoke test parses
 * the file with Python's json module, so a malformed report fails there.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_METRICS 160
#define MAX_PLOTS   16
#define MAX_SERIES  6

struct bench_metric {
	char id[64];
	char family[48];
	char title[128];
	char unit[24];
	int measured;
	struct bench_spread value;
	int has_value;
	int has_ratio;
	char baseline[96];
	struct bench_spread ratio;
	enum bench_cmp cmp;
	enum bench_on on;
	double target;
	char target_text[96];
	int met;		/* 1 met, 0 missed, -1 no target or unmeasured */
	char note[512];
};

struct plot {
	char name[32];
	char title[96];
	char xlabel[64];
	char ylabel[64];
	int logx, logy;
	int nr;
	struct {
		char file[64];
		char title[64];
		char using[32];
		char style[24];
	} s[MAX_SERIES];
};

static struct bench_metric metrics[MAX_METRICS];
static int nr_metrics;
static struct plot plots[MAX_PLOTS];
static int nr_plots;

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

struct bench_metric *bench_metric(const char *id, const char *family,
				  const char *title, const char *unit)
{
	struct bench_metric *m;

	if (nr_metrics == MAX_METRICS) {
		fprintf(stderr, "vsvm-bench: too many metrics\n");
		abort();
	}
	m = &metrics[nr_metrics++];
	memset(m, 0, sizeof(*m));
	copy(m->id, sizeof(m->id), id);
	copy(m->family, sizeof(m->family), family);
	copy(m->title, sizeof(m->title), title);
	copy(m->unit, sizeof(m->unit), unit);
	m->measured = 1;
	m->met = -1;
	return m;
}

static void judge(struct bench_metric *m)
{
	const struct bench_spread *s = m->on == BENCH_ON_RATIO ? &m->ratio :
								 &m->value;
	int have = m->on == BENCH_ON_RATIO ? m->has_ratio : m->has_value;

	if (m->cmp == BENCH_NO_TARGET || !m->measured || !have ||
	    isnan(s->median)) {
		m->met = -1;
		return;
	}
	m->met = m->cmp == BENCH_LE ? s->median <= m->target :
				      s->median >= m->target;
}

void bench_metric_values(struct bench_metric *m, const double *v, int n)
{
	bench_spread_of(v, n, &m->value);
	m->has_value = 1;
	judge(m);
}

void bench_metric_ratio(struct bench_metric *m, const char *baseline,
			const double *r, int n)
{
	copy(m->baseline, sizeof(m->baseline), baseline);
	bench_spread_of(r, n, &m->ratio);
	m->has_ratio = 1;
	judge(m);
}

void bench_metric_target(struct bench_metric *m, enum bench_cmp cmp,
			 double target, enum bench_on on, const char *text)
{
	m->cmp = cmp;
	m->target = target;
	m->on = on;
	copy(m->target_text, sizeof(m->target_text), text);
	judge(m);
}

void bench_metric_note(struct bench_metric *m, const char *fmt, ...)
{
	size_t len = strlen(m->note);
	va_list ap;

	if (len && len < sizeof(m->note) - 2) {
		strcat(m->note, " ");
		len++;
	}
	va_start(ap, fmt);
	vsnprintf(m->note + len, sizeof(m->note) - len, fmt, ap);
	va_end(ap);
}

void bench_not_measured(const char *id, const char *family, const char *title,
			const char *target_text, const char *why)
{
	struct bench_metric *m = bench_metric(id, family, title, "");

	m->measured = 0;
	copy(m->target_text, sizeof(m->target_text), target_text);
	bench_metric_note(m, "not measured: %s", why);
	bench_progress("%s: not measured (%s)", id, why);
}

void bench_plot(const char *name, const char *title, const char *xlabel,
		const char *ylabel, int logx, int logy,
		const struct bench_plot_series *series, int nr)
{
	struct plot *p;
	int i;

	if (nr_plots == MAX_PLOTS || nr > MAX_SERIES)
		return;
	p = &plots[nr_plots++];
	copy(p->name, sizeof(p->name), name);
	copy(p->title, sizeof(p->title), title);
	copy(p->xlabel, sizeof(p->xlabel), xlabel);
	copy(p->ylabel, sizeof(p->ylabel), ylabel);
	p->logx = logx;
	p->logy = logy;
	p->nr = nr;
	for (i = 0; i < nr; i++) {
		copy(p->s[i].file, sizeof(p->s[i].file), series[i].file);
		copy(p->s[i].title, sizeof(p->s[i].title), series[i].title);
		copy(p->s[i].using, sizeof(p->s[i].using), series[i].using);
		copy(p->s[i].style, sizeof(p->s[i].style), series[i].style);
	}
}

/* ---- JSON ---------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* JSON has no NaN or infinity: an unknown figure is null. */
static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_spread(FILE *f, const struct bench_spread *s)
{
	fputs("{\"min\": ", f);
	json_num(f, s->min);
	fputs(", \"median\": ", f);
	json_num(f, s->median);
	fputs(", \"max\": ", f);
	json_num(f, s->max);
	fprintf(f, ", \"n\": %d}", s->n);
}

static void read_first_line(const char *path, const char *key, char *out,
			    size_t cap)
{
	char line[256];
	FILE *f = fopen(path, "r");

	copy(out, cap, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c;

		if (key && strncmp(line, key, strlen(key)))
			continue;
		c = key ? strchr(line, ':') : line - 1;
		if (!c)
			continue;
		c++;
		while (*c == ' ' || *c == '\t')
			c++;
		c[strcspn(c, "\n")] = 0;
		copy(out, cap, c);
		break;
	}
	fclose(f);
}

static void json_machine(FILE *f)
{
	char cpu[128], mem[64], load[64], host[128] = "";
	struct utsname u;

	uname(&u);
	read_first_line("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	read_first_line("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	read_first_line("/proc/loadavg", NULL, load, sizeof(load));
	gethostname(host, sizeof(host) - 1);
	fputs("  \"machine\": {\n    \"cpu\": ", f);
	json_str(f, cpu);
	fprintf(f, ",\n    \"online_cpus\": %ld,\n    \"memory\": ",
		sysconf(_SC_NPROCESSORS_ONLN));
	json_str(f, mem);
	fputs(",\n    \"kernel\": ", f);
	json_str(f, u.release);
	fputs(",\n    \"arch\": ", f);
	json_str(f, u.machine);
	fputs(",\n    \"loadavg_at_end\": ", f);
	json_str(f, load);
	fputs(",\n    \"compiler\": ", f);
	json_str(f, "gcc " __VERSION__);
	fputs(",\n    \"build\": \"-O2, no sanitizers\"\n  },\n", f);
}

static const char *met_word(const struct bench_metric *m)
{
	if (!m->measured)
		return "not measured";
	if (m->met < 0)
		return m->cmp == BENCH_NO_TARGET ? "" : "n/a";
	return m->met ? "met" : "missed";
}

static int write_json(double seconds, int met, int missed, int unmeasured)
{
	FILE *f = fopen(bench_path("report.json"), "w");
	char date[64];
	time_t now = time(NULL);
	int i;

	if (!f)
		return -1;
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fputs("{\n  \"schema\": \"vsvm-bench/1\",\n  \"mode\": ", f);
	json_str(f, bench_opts.quick ? "quick" : "full");
	fprintf(f, ",\n  \"repetitions\": %d,\n  \"date\": ", bench_opts.reps);
	json_str(f, date);
	fputs(",\n  \"duration_s\": ", f);
	json_num(f, seconds);
	fputs(",\n", f);
	json_machine(f);
	fprintf(f,
		"  \"targets\": {\"met\": %d, \"missed\": %d, "
		"\"not_measured\": %d},\n  \"metrics\": [\n",
		met, missed, unmeasured);
	for (i = 0; i < nr_metrics; i++) {
		const struct bench_metric *m = &metrics[i];

		fputs("    {\"id\": ", f);
		json_str(f, m->id);
		fputs(", \"family\": ", f);
		json_str(f, m->family);
		fputs(", \"title\": ", f);
		json_str(f, m->title);
		fprintf(f, ", \"measured\": %s, \"unit\": ",
			m->measured ? "true" : "false");
		json_str(f, m->unit);
		fputs(",\n     \"value\": ", f);
		if (m->has_value)
			json_spread(f, &m->value);
		else
			fputs("null", f);
		fputs(", \"ratio\": ", f);
		if (m->has_ratio) {
			fputs("{\"baseline\": ", f);
			json_str(f, m->baseline);
			fputs(", \"spread\": ", f);
			json_spread(f, &m->ratio);
			fputs("}", f);
		} else {
			fputs("null", f);
		}
		fputs(",\n     \"target\": ", f);
		if (m->target_text[0]) {
			fputs("{\"text\": ", f);
			json_str(f, m->target_text);
			fputs(", \"on\": ", f);
			json_str(f, m->on == BENCH_ON_RATIO ? "ratio" : "value");
			fputs(", \"status\": ", f);
			json_str(f, met_word(m));
			fputs("}", f);
		} else {
			fputs("null", f);
		}
		fputs(", \"note\": ", f);
		json_str(f, m->note);
		fprintf(f, "}%s\n", i + 1 < nr_metrics ? "," : "");
	}
	fputs("  ],\n  \"plots\": [", f);
	/* Plot names are identifiers chosen in bench/ sources: nothing to escape. */
	for (i = 0; i < nr_plots; i++)
		fprintf(f, "%s\"plots/%s.png\"", i ? ", " : "", plots[i].name);
	fputs("]\n}\n", f);
	return fclose(f);
}

/* ---- Markdown --------------------------------------------------------- */

static void md_num(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("-", f);
	else if (fabs(v) >= 1e6 || (fabs(v) < 1e-3 && v != 0))
		fprintf(f, "%.3g", v);
	else
		fprintf(f, "%.4g", v);
}

/* "median [min - max]", or "-" where there is none. */
static void md_spread(FILE *f, const struct bench_spread *s)
{
	if (!s) {
		fputs("-", f);
		return;
	}
	md_num(f, s->median);
	fputs(" [", f);
	md_num(f, s->min);
	fputs(" - ", f);
	md_num(f, s->max);
	fputs("]", f);
}

static int write_md(double seconds, int met, int missed, int unmeasured)
{
	FILE *f = fopen(bench_path("report.md"), "w");
	const char *family = "";
	char cpu[128], load[64];
	int i;

	if (!f)
		return -1;
	read_first_line("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	read_first_line("/proc/loadavg", NULL, load, sizeof(load));
	fprintf(f,
		"# vsvm-bench report (%s mode)\n\n"
		"%d repetitions per metric; value and ratio are median "
		"[min - max] over them.  %.0f s on %s, %ld CPUs, load "
		"average at the end %s.  Absolute times are for reading, "
		"never targets.\n\n"
		"Targets: %d met, %d missed, %d not measured.\n",
		bench_opts.quick ? "quick" : "full", bench_opts.reps, seconds,
		cpu, sysconf(_SC_NPROCESSORS_ONLN), load, met, missed,
		unmeasured);
	for (i = 0; i < nr_metrics; i++) {
		const struct bench_metric *m = &metrics[i];

		if (strcmp(family, m->family)) {
			family = m->family;
			fprintf(f,
				"\n## %s\n\n| metric | value | unit | ratio | "
				"baseline | target | status |\n"
				"|---|---|---|---|---|---|---|\n",
				family);
		}
		fprintf(f, "| %s | ", m->title);
		md_spread(f, m->has_value ? &m->value : NULL);
		fprintf(f, " | %s | ", m->unit);
		md_spread(f, m->has_ratio ? &m->ratio : NULL);
		fprintf(f, " | %s | %s | %s |\n", m->has_ratio ? m->baseline : "",
			m->target_text, met_word(m));
	}
	fputs("\n## Notes\n\n", f);
	for (i = 0; i < nr_metrics; i++)
		if (metrics[i].note[0])
			fprintf(f, "- **%s**: %s\n", metrics[i].title,
				metrics[i].note);
	if (nr_plots) {
		fputs("\n## Plots\n\n", f);
		for (i = 0; i < nr_plots; i++)
			fprintf(f, "- [%s](plots/%s.png)\n", plots[i].title,
				plots[i].name);
	}
	return fclose(f);
}

/* ---- plots ------------------------------------------------------------ */

static int write_plots(void)
{
	FILE *f;
	int i, j, ret = 0;
	char cmd[768];

	if (!nr_plots)
		return 0;
	f = fopen(bench_path("plots/plots.gp"), "w");
	if (!f)
		return -1;
	fputs("# Written by vsvm-bench; run from this directory.\n"
	      "set terminal png size 900,560\nset grid\nset key below\n",
	      f);
	for (i = 0; i < nr_plots; i++) {
		const struct plot *p = &plots[i];

		fprintf(f,
			"\nset output '%s.png'\nset title \"%s\"\n"
			"set xlabel \"%s\"\nset ylabel \"%s\"\n%s\n%s\nplot ",
			p->name, p->title, p->xlabel, p->ylabel,
			p->logx ? "set logscale x" : "unset logscale x",
			p->logy ? "set logscale y" : "unset logscale y");
		for (j = 0; j < p->nr; j++)
			fprintf(f, "%s'%s' using %s with %s title \"%s\"",
				j ? ", \\\n     " : "", p->s[j].file,
				p->s[j].using, p->s[j].style, p->s[j].title);
		fputs("\n", f);
	}
	if (fclose(f))
		return -1;
	snprintf(cmd, sizeof(cmd), "cd '%s/plots' && gnuplot plots.gp",
		 bench_opts.out_dir);
	if (system(cmd)) {
		fprintf(stderr, "vsvm-bench: gnuplot failed: %s\n", cmd);
		ret = -1;
	}
	return ret;
}

int bench_report_write(double seconds)
{
	int met = 0, missed = 0, unmeasured = 0, i, ret = 0;

	for (i = 0; i < nr_metrics; i++) {
		if (!metrics[i].measured)
			unmeasured++;
		else if (metrics[i].met == 1)
			met++;
		else if (metrics[i].met == 0)
			missed++;
	}
	if (write_plots())
		ret = -1;
	if (write_json(seconds, met, missed, unmeasured) ||
	    write_md(seconds, met, missed, unmeasured))
		ret = -1;
	return ret;
}
