// SPDX-License-Identifier: MIT
/*
 * main.c - vsvm-proxy: the host proxy that serves GPU shared virtual
 *          memory to VMs, as a vhost-user backend of vhost-user-gpu.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Starts the devices, listens on the socket, serves every VM that
 * connects (each on its own thread) until SIGINT or SIGTERM, then prints
 * what it served.  docs/operator-guide.md says how QEMU connects.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_kernel.h"
#include "dev_sim.h"
#include "policy.h"
#include "vhost_user.h"

#define MAX_DEVICES 16

struct options {
	const char *socket_path;
	uint32_t devices;
	uint64_t mem_mib;
	uint32_t exec_units;
	uint32_t va_bits;
	uint32_t max_contexts;
	enum vp_standin standin;
	int verbosity;
	bool kernel; /* --device kernel: vsvm_host.ko, not simulated GPUs */
};

static volatile sig_atomic_t stop;

/* --policy: the placement policy of every context (policy.h). */
static struct vp_policy policy;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vsvm-proxy --socket PATH [options]\n"
		"  -s, --socket PATH        vhost-user socket to listen on\n"
		"  -d, --devices N          GPUs (1..%d, default 2)\n"
		"  -m, --device-mem MIB     device memory per GPU (default 256)\n"
		"  -e, --exec-units N       execution units per GPU (default 4)\n"
		"      --va-bits N          GPU VA bits per context, 47..57 "
		"(default 48)\n"
		"      --max-contexts N     svm contexts per VM (default 4096)\n"
		"      --device sim|kernel  device backend (default sim)\n"
		"      --standin gpio       answer as QEMU's vhost-user-gpio-pci\n"
		"                           (tests without KVM; see docs)\n"
		"  -v, --verbose            more log (repeat for more)\n"
		"  -q, --quiet              errors only\n"
		"  -h, --help\n"
		"      --policy KEY=VALUE[,KEY=VALUE]\n"
		"                           placement policy (docs/memory-hints.md):\n",
		MAX_DEVICES);
	vp_policy_print_help(f);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max,
		     const char *what, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr,
			"vsvm-proxy: %s must be a number in %" PRIu64
			"..%" PRIu64 ", not '%s'\n",
			what, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "devices", required_argument, NULL, 'd' },
		{ "device-mem", required_argument, NULL, 'm' },
		{ "exec-units", required_argument, NULL, 'e' },
		{ "va-bits", required_argument, NULL, 'b' },
		{ "max-contexts", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'D' },
		{ "standin", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "policy", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "s:d:m:e:vqh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			o->socket_path = optarg;
			break;
		case 'd':
			if (parse_u64(optarg, 1, MAX_DEVICES, "--devices", &v))
				return -1;
			o->devices = (uint32_t)v;
			break;
		case 'm':
			if (parse_u64(optarg, 1, 1 << 20, "--device-mem", &v))
				return -1;
			o->mem_mib = v;
			break;
		case 'e':
			if (parse_u64(optarg, 1, DEV_SIM_MAX_EXEC_UNITS,
				      "--exec-units", &v))
				return -1;
			o->exec_units = (uint32_t)v;
			break;
		case 'b':
			if (parse_u64(optarg, VSVM_VA_BITS_MIN,
				      VSVM_VA_BITS_MAX, "--va-bits", &v))
				return -1;
			o->va_bits = (uint32_t)v;
			break;
		case 'c':
			if (parse_u64(optarg, 1, 1 << 20, "--max-contexts", &v))
				return -1;
			o->max_contexts = (uint32_t)v;
			break;
		case 'D':
			o->kernel = !strcmp(optarg, "kernel");
			if (o->kernel || !strcmp(optarg, "sim"))
				break;
			fprintf(stderr, "vsvm-proxy: --device %s: unknown "
				"backend (sim or kernel)\n", optarg);
			return -1;
		case 'S':
			if (strcmp(optarg, "gpio")) {
				fprintf(stderr,
					"vsvm-proxy: --standin takes 'gpio'\n");
				return -1;
			}
			o->standin = VP_STANDIN_GPIO;
			break;
		case 'P': {
			char err[160];

			if (vp_policy_parse(&policy, optarg, err, sizeof(err))) {
				fprintf(stderr, "vsvm-proxy: %s\n", err);
				return -1;
			}
			break;
		}
		case 'v':
			o->verbosity++;
			break;
		case 'q':
			o->verbosity = VP_LOG_ERR;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !o->socket_path) {
		fprintf(stderr, "vsvm-proxy: %s\n",
			optind != argc ? "unexpected argument" :
					 "--socket PATH is required");
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {
		.devices = 2,
		.mem_mib = 256,
		.exec_units = DEV_SIM_DEFAULT_EXEC_UNITS,
		.va_bits = 48,
		.max_contexts = 4096,
		.verbosity = VP_LOG_INFO,
	};
	struct vp_device *devs[MAX_DEVICES] = { NULL };
	struct vp_server_config cfg = { 0 };
	struct vp_server_stats st;
	struct vp_device_info info;
	struct vp_server *server;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = 1;
	uint32_t i;

	policy = vp_policy_defaults;
	if (parse_args(argc, argv, &o))
		return 2;
	for (i = 0; i < o.devices && o.kernel; i++) {
		struct dev_kernel_config kc = {
			.index = i,
			.exec_units = o.exec_units,
			.verbosity = o.verbosity,
		};

		/* It prints why (module not loaded, too few devices). */
		devs[i] = dev_kernel_create(&kc);
		if (!devs[i])
			goto out;
	}
	for (i = 0; i < o.devices && !o.kernel; i++) {
		struct dev_sim_config dc = {
			.index = i,
			.exec_units = o.exec_units,
			.mem_size = o.mem_mib << 20,
		};

		devs[i] = dev_sim_create(&dc);
		if (!devs[i]) {
			fprintf(stderr, "vsvm-proxy: device %u: %s\n", i,
				strerror(errno));
			goto out;
		}
	}
	cfg.socket_path = o.socket_path;
	cfg.standin = o.standin;
	cfg.verbosity = o.verbosity;
	cfg.svm = (struct vp_svm_config){
		.devices = devs,
		.num_devices = o.devices,
		.va_bits = o.va_bits,
		.max_contexts = o.max_contexts,
		.max_ranges = 1 << 16,
		.max_launches = 64,
		.max_fault_batch = VSVM_MAX_FAULT_BATCH,
		.max_submit_bytes = 256 << 10,
		.policy = &policy,
	};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	server = vp_server_start(&cfg);
	if (!server) {
		fprintf(stderr, "vsvm-proxy: cannot serve %s: %s\n",
			o.socket_path, strerror(errno));
		goto out;
	}
	devs[0]->ops->info(devs[0], &info);
	if (o.verbosity >= VP_LOG_INFO)
		fprintf(stderr,
			"vsvm-proxy: serving %s with %u %s GPU(s), "
			"%" PRIu64 " MiB each%s\n",
			o.socket_path, o.devices,
			o.kernel ? "vsvm_host.ko" : "simulated",
			o.kernel ? info.mem_size >> 20 : o.mem_mib,
			o.standin ? " (gpio stand-in)" : "");
	while (!stop)
		pause();
	vp_server_get_stats(server, &st);
	vp_server_stop(server);
	fprintf(stderr,
		"vsvm-proxy: served %" PRIu64 " connection(s), %" PRIu64
		" message(s), %" PRIu64 " command(s), %" PRIu64 " error(s)\n",
		st.connections_served, st.messages, st.commands, st.errors);
	fprintf(stderr,
		"vsvm-proxy: %" PRIu64 " launch(es), %" PRIu64
		" device fault(s) (%" PRIu64 " forwarded to guests), %" PRIu64
		" migration(s) (%" PRIu64 " KiB), %" PRIu64
		" eviction(s), %" PRIu64 " thrashing pin(s)\n",
		st.launches, st.faults, st.faults_forwarded, st.migrations,
		st.migrated_bytes >> 10, st.evictions, st.thrash_pins);
	ret = 0;
out:
	for (i = 0; i < o.devices; i++)
		if (devs[i])
			devs[i]->ops->destroy(devs[i]);
	return ret;
}
