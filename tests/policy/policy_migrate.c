// SPDX-License-Identifier: MIT
/*
 * policy_migrate.c - MIGRATE (docs/protocol.md 7.8) against simulated
 * devices: guest RAM -> device -> guest RAM and device -> device keep the
 * data intact, PTEs follow the data on every device, a device-to-device
 * move uses the destination's copy engine and never touches guest RAM,
 * every state check of 7.8 fails as specified and changes nothing, and
 * UNMAP, DESTROY and CTX_DESTROY give all device memory back.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "policy_test.h"

#define LEN (4 * P_2M)

static int setup(void **state)
{
	struct p_env *e = malloc(sizeof(*e));

	p_env_up(e, 32ull << 20, NULL);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	p_env_down(*state);
	free(*state);
	return 0;
}

static void device_memory_is_advertised(void **state)
{
	struct p_env *e = *state;
	struct vsvm_caps caps;
	uint8_t buf[128];
	int n;

	p_ctx(e, 1);
	assert_int_equal(p_features(e, 1) &
				 (VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION),
			 VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION);
	n = vp_svm_capset(e->svm, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(vsvm_decode_capset(buf, (uint32_t)n, &caps) > 0);
	assert_true(caps.features & VSVM_F_PEER_MIGRATION);
	vp_svm_ctx_destroy(e->svm, 1);
}

static void system_device_system_round_trip_is_intact(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, LEN), back = p_gpa_alloc(e, LEN);
	uint64_t bytes, mem0, used0;
	struct vp_ctx_stats st;
	uint32_t prot;

	p_ctx(e, 2);
	p_pattern(e->ram + gpa, LEN, 7);
	assert_int_equal(p_map(e, 2, P_VA, gpa, LEN, RW), VSVM_OK);
	mem0 = p_ctx_mem(e, 2, 0);
	used0 = p_dev_used(e, 0);
	assert_int_equal(p_migrate(e, 2, P_VA, LEN, 0, gpa, 0, &bytes),
			 VSVM_OK);
	assert_int_equal(bytes, LEN);
	/* 7.8: mem_used of the device grows by len. */
	assert_int_equal(p_ctx_mem(e, 2, 0), mem0 + LEN);
	assert_true(p_dev_used(e, 0) >= used0 + LEN);
	/* The guest may reuse its pages now: the device has the data. */
	memset(e->ram + gpa, 0x5a, LEN);
	/* A kernel on device 0 writes the first page: it runs locally. */
	assert_int_equal(p_fill(e, 2, 0, P_VA, 1024, 0xfeedf00d).status,
			 VSVM_OK);
	assert_int_equal(p_pte_where(e, 2, 0, P_VA, &prot), 2 + 0);
	assert_int_equal(prot, RW);
	/* Back to guest RAM at other pages. */
	assert_int_equal(p_migrate(e, 2, P_VA, LEN, VSVM_LOC_SYSTEM, back, 0,
				   &bytes),
			 VSVM_OK);
	assert_int_equal(bytes, LEN);
	/* Device 0 had PTEs: they come back, to the new guest pages. */
	assert_int_equal(p_pte_where(e, 2, 0, P_VA, &prot), 1);
	assert_int_equal(prot, RW);
	{
		uint32_t *w = (uint32_t *)(e->ram + back);
		uint8_t *ref = malloc(LEN);
		unsigned int i;

		for (i = 0; i < 1024; i++)
			assert_int_equal(w[i], 0xfeedf00d);
		p_pattern(ref, LEN, 7);
		assert_memory_equal(e->ram + back + P_PG, ref + P_PG,
				    LEN - P_PG);
		free(ref);
	}
	assert_int_equal(p_ctx_mem(e, 2, 0) < mem0 + LEN, 1);
	st = p_stats(e, 2);
	assert_int_equal(st.migrations_to[0], 1);
	assert_int_equal(st.migrations_from[0], 1);
	assert_int_equal(st.bytes_to[0], LEN);
	assert_int_equal(st.bytes_from[0], LEN);
	assert_int_equal(st.bytes_to[VSVM_MAX_DEVICES], LEN);
	assert_int_equal(st.migrate_cmds, 2);
	vp_svm_ctx_destroy(e->svm, 2);
	assert_int_equal(p_dev_used(e, 0), 0);
}

static void device_to_device_moves_directly(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, LEN), back = p_gpa_alloc(e, LEN);
	struct dev_sim_stats s0, s1, a0, a1;
	uint64_t bytes, mem1;

	p_ctx(e, 3);
	p_pattern(e->ram + gpa, LEN, 9);
	assert_int_equal(p_map(e, 3, P_VA, gpa, LEN, RW), VSVM_OK);
	assert_int_equal(p_migrate(e, 3, P_VA, LEN, 0, gpa, 0, NULL), VSVM_OK);
	memset(e->ram + gpa, 0x77, LEN);	/* the guest reused it */
	/* Devices 0 and 2 map it; device 1 does not. */
	assert_int_equal(p_fill(e, 3, 0, P_VA + LEN - P_PG, 1, 42).status,
			 VSVM_OK);
	assert_int_equal(p_fill(e, 3, 2, P_VA + LEN - 2 * P_PG, 1, 43).status,
			 VSVM_OK);
	assert_int_equal(p_pte_where(e, 3, 2, P_VA + LEN - 2 * P_PG, NULL),
			 2 + 0);
	dev_sim_get_stats(e->devs[0], &s0);
	dev_sim_get_stats(e->devs[1], &s1);
	mem1 = p_ctx_mem(e, 3, 1);
	assert_int_equal(p_migrate(e, 3, P_VA, LEN, 1, ~0ull, 0, &bytes),
			 VSVM_OK);
	assert_int_equal(bytes, LEN);
	dev_sim_get_stats(e->devs[0], &a0);
	dev_sim_get_stats(e->devs[1], &a1);
	/* The destination's copy engine moved it; guest RAM untouched. */
	assert_int_equal(a1.copy_bytes - s1.copy_bytes, LEN);
	assert_int_equal(a0.copy_bytes, s0.copy_bytes);
	{
		uint64_t i;

		for (i = 0; i < LEN; i++)
			if (e->ram[gpa + i] != 0x77)
				fail_msg("guest RAM byte %llu changed",
					 (unsigned long long)i);
	}
	assert_true(p_ctx_mem(e, 3, 1) >= mem1 + LEN);
	/* Every device that mapped it points at device 1 now. */
	assert_int_equal(p_pte_where(e, 3, 0, P_VA + LEN - P_PG, NULL), 2 + 1);
	assert_int_equal(p_pte_where(e, 3, 2, P_VA + LEN - 2 * P_PG, NULL),
			 2 + 1);
	assert_int_equal(p_pte_where(e, 3, 1, P_VA, NULL), 0);
	/* Already there: nothing moves, still OK. */
	assert_int_equal(p_migrate(e, 3, P_VA, LEN, 1, ~0ull, 0, &bytes),
			 VSVM_OK);
	assert_int_equal(bytes, 0);
	assert_int_equal(p_migrate(e, 3, P_VA, LEN, VSVM_LOC_SYSTEM, back, 0,
				   NULL),
			 VSVM_OK);
	assert_true(p_pattern_ok(e->ram + back, LEN - 2 * P_PG, 9));
	assert_int_equal(*(uint32_t *)(e->ram + back + LEN - P_PG), 42);
	assert_int_equal(*(uint32_t *)(e->ram + back + LEN - 2 * P_PG), 43);
	assert_int_equal(p_stats(e, 3).bytes_from[0], LEN);
	vp_svm_ctx_destroy(e->svm, 3);
}

static void migrate_state_checks(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, LEN), other = p_gpa_alloc(e, LEN);
	uint64_t bytes;

	/* 1: not initialised. */
	assert_int_equal(vp_svm_ctx_create(e->svm, 4, VSVM_CAPSET_ID),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, 0, gpa, 0, NULL),
			 VSVM_ERR_STATE);
	vp_svm_ctx_destroy(e->svm, 4);
	p_ctx(e, 4);
	assert_int_equal(p_map(e, 4, P_VA, gpa, LEN, RW), VSVM_OK);
	/* 4: beyond the context's va_bits. */
	assert_int_equal(p_migrate(e, 4, 1ull << 48, P_PG, 0, gpa, 0, NULL),
			 VSVM_ERR_RANGE);
	/* 5: no such device. */
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, P_NDEV, gpa, 0, NULL),
			 VSVM_ERR_NODEV);
	/* 6: a run outside guest RAM. */
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, 0, P_RAM_SIZE, 0, NULL),
			 VSVM_ERR_RANGE);
	/* 7: to a device, a page not mapped. */
	assert_int_equal(p_migrate(e, 4, P_VA + LEN - P_PG, 2 * P_PG, 0,
				   other, 0, NULL),
			 VSVM_ERR_STATE);
	/* 7: to SYSTEM, data still in guest RAM. */
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, VSVM_LOC_SYSTEM, other, 0,
				   NULL),
			 VSVM_ERR_STATE);
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, 0, gpa, 0, NULL),
			 VSVM_OK);
	/* 7: to a device, part already in device memory. */
	assert_int_equal(p_migrate(e, 4, P_VA, 2 * P_PG, 1, gpa, 0, NULL),
			 VSVM_ERR_STATE);
	/* 7: to SYSTEM, part still in guest RAM. */
	assert_int_equal(p_migrate(e, 4, P_VA, 2 * P_PG, VSVM_LOC_SYSTEM,
				   other, 0, NULL),
			 VSVM_ERR_STATE);
	/* 8: more than the device has (32 MiB). */
	assert_int_equal(p_map(e, 4, P_VA + P_2M * 64, other, 36ull << 20, RW),
			 VSVM_OK);
	assert_int_equal(p_migrate(e, 4, P_VA + P_2M * 64, 36ull << 20, 2,
				   other, 0, NULL),
			 VSVM_ERR_NOSPC);
	/* ... and nothing changed: still guest RAM, nothing allocated. */
	assert_int_equal(p_ctx_mem(e, 4, 2), 0);
	assert_int_equal(p_migrate(e, 4, P_VA + P_2M * 64, P_PG,
				   VSVM_LOC_SYSTEM, other, 0, NULL),
			 VSVM_ERR_STATE);
	/* A request id that names nothing is ignored. */
	assert_int_equal(p_migrate(e, 4, P_VA, P_PG, VSVM_LOC_SYSTEM, other,
				   12345, &bytes),
			 VSVM_OK);
	assert_int_equal(bytes, P_PG);
	assert_int_equal(p_stats(e, 4).migrate_reqs_answered, 0);
	vp_svm_ctx_destroy(e->svm, 4);
}

/* A copy of the simulated device's ops without some optional ones. */
static struct vp_device_ops cut_ops[P_NDEV];
static const struct vp_device_ops *orig_ops[P_NDEV];

static void cut_devices(struct p_env *e, bool mem)
{
	int i;

	for (i = 0; i < P_NDEV; i++) {
		orig_ops[i] = e->devs[i]->ops;
		cut_ops[i] = *orig_ops[i];
		cut_ops[i].peer_access = NULL;
		if (mem) {
			cut_ops[i].mem_alloc = NULL;
			cut_ops[i].mem_free = NULL;
			cut_ops[i].copy = NULL;
		}
		e->devs[i]->ops = &cut_ops[i];
	}
}

static void restore_devices(struct p_env *e)
{
	int i;

	for (i = 0; i < P_NDEV; i++)
		e->devs[i]->ops = orig_ops[i];
}

static void without_device_memory_migrate_is_state(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, P_2M);
	struct vsvm_event_val ev[4];
	struct vsvm_response rsp;

	cut_devices(e, true);
	p_ctx(e, 5);
	assert_int_equal(p_features(e, 5) &
				 (VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION),
			 0);
	assert_int_equal(p_map(e, 5, P_VA, gpa, P_2M, RW), VSVM_OK);
	/* 2: the context's features lack VSVM_F_DEVICE_MEMORY. */
	assert_int_equal(p_migrate(e, 5, P_VA, P_2M, 0, gpa, 0, NULL),
			 VSVM_ERR_STATE);
	/* Guest RAM counts as every location: ASYNC completes OK at once. */
	assert_int_equal(p_prefetch(e, 5, P_VA, P_2M, 1, VSVM_PREFETCH_F_ASYNC,
				    &rsp),
			 VSVM_OK);
	assert_int_equal(p_events(e, 5, ev, 4), 1);
	assert_int_equal(ev[0].type, VSVM_EVENT_PREFETCH_DONE);
	assert_int_equal(ev[0].id, rsp.u.prefetch.token);
	assert_int_equal(ev[0].arg, VSVM_OK);
	vp_svm_ctx_destroy(e->svm, 5);
	restore_devices(e);
}

static void without_peer_access_device_to_device_is_state(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, P_2M);

	cut_devices(e, false);
	p_ctx(e, 6);
	assert_int_equal(p_features(e, 6) &
				 (VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION),
			 VSVM_F_DEVICE_MEMORY);
	assert_int_equal(p_map(e, 6, P_VA, gpa, P_2M, RW), VSVM_OK);
	assert_int_equal(p_migrate(e, 6, P_VA, P_2M, 0, gpa, 0, NULL),
			 VSVM_OK);
	/* 7: device data elsewhere needs VSVM_F_PEER_MIGRATION. */
	assert_int_equal(p_migrate(e, 6, P_VA, P_2M, 1, ~0ull, 0, NULL),
			 VSVM_ERR_STATE);
	/* Nothing elsewhere: allowed (the decline form of 10.4). */
	assert_int_equal(p_migrate(e, 6, P_VA, P_2M, 0, ~0ull, 0, NULL),
			 VSVM_OK);
	vp_svm_ctx_destroy(e->svm, 6);
	restore_devices(e);
}

static void unmap_and_destroy_give_device_memory_back(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, LEN), start[P_NDEV];
	struct vsvm_request req = { .op = VSVM_CMD_DESTROY };
	uint64_t before;
	int d;

	for (d = 0; d < P_NDEV; d++)
		start[d] = p_dev_used(e, (uint32_t)d);
	p_ctx(e, 7);
	assert_int_equal(p_map(e, 7, P_VA, gpa, LEN, RW), VSVM_OK);
	assert_int_equal(p_migrate(e, 7, P_VA, LEN, 1, gpa, 0, NULL), VSVM_OK);
	before = p_ctx_mem(e, 7, 1);
	/* UNMAP of device-resident pages frees their device memory. */
	assert_int_equal(p_unmap(e, 7, P_VA + P_PG, P_2M, 1), VSVM_OK);
	assert_int_equal(p_ctx_mem(e, 7, 1), before - P_2M);
	/* The rest is still there, intact where the kernel reads it. */
	assert_int_equal(p_migrate(e, 7, P_VA, P_PG, 2, ~0ull, 0, NULL),
			 VSVM_OK);
	/* DESTROY frees everything; the pools are back where they were. */
	assert_int_equal(p_one(e, 7, &req, NULL), VSVM_OK);
	for (d = 0; d < P_NDEV; d++)
		assert_int_equal(p_dev_used(e, (uint32_t)d), start[d]);
	/* And again through CTX_DESTROY (connection-level teardown). */
	req.op = VSVM_CMD_INIT;
	req.u.init.major = VSVM_PROTO_MAJOR;
	assert_int_equal(p_one(e, 7, &req, NULL), VSVM_OK);
	assert_int_equal(p_map(e, 7, P_VA, gpa, LEN, RW), VSVM_OK);
	assert_int_equal(p_migrate(e, 7, P_VA, LEN, 2, gpa, 0, NULL), VSVM_OK);
	assert_true(p_dev_used(e, 2) >= start[2] + LEN);
	vp_svm_ctx_destroy(e->svm, 7);
	for (d = 0; d < P_NDEV; d++)
		assert_int_equal(p_dev_used(e, (uint32_t)d), start[d]);
	/* The connection's counters keep what destroyed contexts did. */
	{
		struct vp_ctx_stats sum;

		vp_svm_get_stats(e->svm, &sum);
		assert_true(sum.bytes_to[2] >= LEN);
		assert_true(sum.bytes_to[1] >= LEN);
		assert_true(sum.migrate_cmds >= 3);
	}
}

static void remap_replaces_device_backing(void **state)
{
	struct p_env *e = *state;
	uint64_t gpa = p_gpa_alloc(e, P_2M), fresh = p_gpa_alloc(e, P_2M);

	p_ctx(e, 8);
	assert_int_equal(p_map(e, 8, P_VA, gpa, P_2M, RW), VSVM_OK);
	assert_int_equal(p_migrate(e, 8, P_VA, P_2M, 0, gpa, 0, NULL),
			 VSVM_OK);
	assert_int_equal(p_ctx_mem(e, 8, 0), P_2M);
	/* A MAP over it replaces the mapping and frees the device copy. */
	memset(e->ram + fresh, 0, P_2M);
	assert_int_equal(p_map(e, 8, P_VA, fresh, P_2M, RW), VSVM_OK);
	assert_int_equal(p_fill(e, 8, 0, P_VA, 16, 0x1234).status, VSVM_OK);
	assert_int_equal(*(uint32_t *)(e->ram + fresh), 0x1234);
	assert_int_equal(p_pte_where(e, 8, 0, P_VA, NULL), 1);
	vp_svm_ctx_destroy(e->svm, 8);
}

/* Little-endian stores, whatever the host: the wire's byte order. */
static void put(uint8_t *p, uint64_t v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A raw MIGRATE (nr_runs runs of gpa/len each) or, with runs < 0, a raw
 * PREFETCH: the encoder refuses malformed commands, the device must too.
 */
static uint16_t raw(struct p_env *e, uint32_t ctx, uint64_t va, uint64_t len,
		    uint32_t loc, uint32_t flags, int runs, uint64_t gpa,
		    uint64_t rlen)
{
	struct p_sub *t = p_sub_new(ctx);
	struct vsvm_response rsp;
	uint8_t *c = t->cmds;
	uint32_t n = runs < 0 ? 32 : 40 + 16 * (uint32_t)runs;
	int i;

	memset(c, 0, n);
	put(c, runs < 0 ? VSVM_CMD_PREFETCH : VSVM_CMD_MIGRATE, 2);
	put(c + 4, n, 4);
	put(c + 8, va, 8);
	put(c + 16, len, 8);
	put(c + 24, loc, 4);
	if (runs < 0) {
		put(c + 28, flags, 4);
	} else {
		put(c + 32, (uint32_t)runs, 4);
		put(c + 36, flags, 4);
		for (i = 0; i < runs; i++) {
			put(c + 40 + 16 * i, gpa, 8);
			put(c + 48 + 16 * i, rlen, 8);
		}
	}
	t->s.cmds_len = n;
	vp_svm_submit(e->svm, &t->s);
	p_wait(t);
	assert_int_equal(t->s.resp_type, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	p_reply(t, 0, &rsp);
	p_sub_free(t);
	return rsp.status;
}

static void malformed_migrate_and_prefetch_are_rejected(void **state)
{
	struct p_env *e = *state;

	p_ctx(e, 9);
	/* Field checks of 7.8, in order. */
	assert_int_equal(raw(e, 9, P_VA + 1, P_PG, 0, 0, 1, P_2M, P_PG),
			 VSVM_ERR_ALIGN);
	assert_int_equal(raw(e, 9, P_VA, P_PG, VSVM_MAX_DEVICES, 0, 1, P_2M,
			     P_PG),
			 VSVM_ERR_VALUE);
	assert_int_equal(raw(e, 9, P_VA, P_PG, VSVM_LOC_UNSET, 0, 1, P_2M,
			     P_PG),
			 VSVM_ERR_VALUE);
	assert_int_equal(raw(e, 9, P_VA, P_PG, 0, 1, 1, P_2M, P_PG),
			 VSVM_ERR_RESERVED);
	assert_int_equal(raw(e, 9, P_VA, P_PG, VSVM_LOC_SYSTEM, 0, 0, 0, 0),
			 VSVM_ERR_COUNT);
	assert_int_equal(raw(e, 9, P_VA, P_PG, 0, 0, 1, P_2M + 8, P_PG),
			 VSVM_ERR_ALIGN);	/* G1 */
	assert_int_equal(raw(e, 9, P_VA, P_PG, 0, 0, 1, P_2M, 2 * P_PG),
			 VSVM_ERR_COUNT);	/* G3 */
	/* Field checks of 7.7. */
	assert_int_equal(raw(e, 9, P_VA, 0, 0, 0, -1, 0, 0), VSVM_ERR_RANGE);
	assert_int_equal(raw(e, 9, P_VA, P_PG, VSVM_LOC_UNSET, 0, -1, 0, 0),
			 VSVM_ERR_VALUE);
	assert_int_equal(raw(e, 9, P_VA, P_PG, 0, 2, -1, 0, 0),
			 VSVM_ERR_RESERVED);
	/* Nothing was applied. */
	assert_int_equal(p_stats(e, 9).migrate_cmds, 0);
	assert_int_equal(p_stats(e, 9).prefetches, 0);
	vp_svm_ctx_destroy(e->svm, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(device_memory_is_advertised),
		cmocka_unit_test(system_device_system_round_trip_is_intact),
		cmocka_unit_test(device_to_device_moves_directly),
		cmocka_unit_test(migrate_state_checks),
		cmocka_unit_test(without_device_memory_migrate_is_state),
		cmocka_unit_test(without_peer_access_device_to_device_is_state),
		cmocka_unit_test(unmap_and_destroy_give_device_memory_back),
		cmocka_unit_test(remap_replaces_device_backing),
		cmocka_unit_test(malformed_migrate_and_prefetch_are_rejected),
	};

	return cmocka_run_group_tests_name("policy_migrate", tests, setup,
					   teardown);
}
