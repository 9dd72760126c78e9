// SPDX-License-Identifier: MIT
/*
 * core_dev_create_validates_capset.c - vsvmg_dev_create() reads the svm
 * capset and accepts it only if it passes protocol.md 17.2 (magic, size,
 * reserved, counts and limits in range); a longer capset from a later
 * minor and another major are accepted; a bad config or transport is
 * refused.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

static __u8 raw[128];

/* The host's capset as bytes, for a test to damage. */
static __u32 capset_bytes(struct core_fx *fx)
{
	struct vsvm_writer w;

	memset(raw, 0, sizeof(raw));
	vsvm_writer_init(&w, raw, sizeof(raw));
	assert_int_equal(vsvm_encode_capset(&w, &fx->h->caps), 64);
	return 64;
}

static void put32(__u32 off, __u32 v)
{
	raw[off] = (__u8)v;
	raw[off + 1] = (__u8)(v >> 8);
	raw[off + 2] = (__u8)(v >> 16);
	raw[off + 3] = (__u8)(v >> 24);
}

static struct vsvmg_dev *create_raw(struct core_fx *fx, __u32 len)
{
	fx->h->capset_raw = raw;
	fx->h->capset_raw_len = len;
	return vsvmg_dev_create(&fh_ops, fx->h, NULL);
}

static void test_good_capset(void **state)
{
	struct core_fx *fx = *state;
	const struct vsvm_caps *caps;

	fx->h->caps.max_fault_batch = 17;
	fx->h->caps.num_devices = 3;
	fx->dev = vsvmg_dev_create(&fh_ops, fx->h, NULL);
	assert_non_null(fx->dev);
	caps = vsvmg_dev_caps(fx->dev);
	assert_int_equal(caps->num_devices, 3);
	assert_int_equal(caps->max_fault_batch, 17);
	assert_int_equal(caps->va_bits, 48);
}

static void expect_refused(struct core_fx *fx, __u32 off, __u32 val)
{
	__u32 len = capset_bytes(fx);

	put32(off, val);
	assert_null(create_raw(fx, len));
}

static void test_bad_capsets(void **state)
{
	struct core_fx *fx = *state;

	expect_refused(fx, 0, 0x12345678); /* magic */
	expect_refused(fx, 8, 32);	   /* size below 64 */
	expect_refused(fx, 8, 68);	   /* size not a multiple of 8 */
	expect_refused(fx, 8, 128);	   /* size beyond what came */
	expect_refused(fx, 60, 1);	   /* reserved */
	expect_refused(fx, 12, 1u << 5);   /* unknown feature */
	expect_refused(fx, 16, 0);	   /* num_devices */
	expect_refused(fx, 16, 65);
	expect_refused(fx, 20, 40);	  /* va_bits */
	expect_refused(fx, 24, 1u << 13); /* no 4 KiB pages */
	expect_refused(fx, 36, 64);	  /* max_submit_bytes < 88 */
	expect_refused(fx, 36, (1u << 20) + 8);
	expect_refused(fx, 40, 0); /* max_cmds */
	expect_refused(fx, 44, 0); /* max_fault_batch */
	expect_refused(fx, 44, 257);
	expect_refused(fx, 48, 513); /* max_map_runs */
	/* Too short to be a capset at all. */
	capset_bytes(fx);
	assert_null(create_raw(fx, 32));
}

static void test_later_minor_and_other_major(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_dev *dev;
	__u32 len = capset_bytes(fx);

	/* 72 bytes: a field appended by a later minor. */
	put32(8, 72);
	put32(64, 0xabcdef);
	dev = create_raw(fx, 72);
	assert_non_null(dev);
	vsvmg_dev_destroy(dev);
	/* Major 2: the device may serve 1 too; INIT decides. */
	len = capset_bytes(fx);
	raw[4] = 2;
	dev = create_raw(fx, len);
	assert_non_null(dev);
	vsvmg_dev_destroy(dev);
}

static void test_transport_and_config(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_transport_ops ops = fh_ops;
	struct vsvmg_config cfg = { 0 };
	struct vsvmg_dev *dev;

	fx->h->capset_err = -EIO;
	assert_null(vsvmg_dev_create(&fh_ops, fx->h, NULL));
	fx->h->capset_err = 0;

	ops.submit = NULL;
	assert_null(vsvmg_dev_create(&ops, fx->h, NULL));
	assert_null(vsvmg_dev_create(NULL, fx->h, NULL));

	cfg.fault_window = 12 << 10; /* not a power of two */
	assert_null(vsvmg_dev_create(&fh_ops, fx->h, &cfg));
	cfg.fault_window = 2048; /* below a page */
	assert_null(vsvmg_dev_create(&fh_ops, fx->h, &cfg));
	cfg.fault_window = 4 << 20; /* beyond 2 MiB */
	assert_null(vsvmg_dev_create(&fh_ops, fx->h, &cfg));
	cfg.fault_window = 2 << 20;
	cfg.populate = 1;
	dev = vsvmg_dev_create(&fh_ops, fx->h, &cfg);
	assert_non_null(dev);
	vsvmg_dev_destroy(dev);
	cfg.fault_window = 0; /* the default */
	dev = vsvmg_dev_create(&fh_ops, fx->h, &cfg);
	assert_non_null(dev);
	vsvmg_dev_destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_capset, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_capsets, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_later_minor_and_other_major, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_transport_and_config,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
