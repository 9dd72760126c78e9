// SPDX-License-Identifier: MIT
/*
 * dev_sim_cancel.c - vm_cancel() ends the VM's running launches at their
 * next chunk with VSVM_ERR_CANCELED (an endless pointer chase, a launch
 * that keeps faulting), touches no other VM's launches, and does not
 * affect launches started after it; vm_destroy() of a VM with a launch
 * still running ends it rather than free memory under it.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

/* A node that points to itself: a chase that never ends by itself. */
static uint64_t *loop_node(struct vp_device *dev, struct vp_dev_vm *vm,
			   uint64_t va)
{
	uint64_t *node = test_alloc(PAGE, PAGE);

	node[0] = va;
	node[1] = 1;
	assert_int_equal(dev->ops->vm_map(vm, va, PAGE, node, VP_PROT_READ), 0);
	return node;
}

static void start_endless_chase(struct vp_device *dev, struct vp_dev_vm *vm,
				struct test_launch *t, uint64_t va)
{
	test_launch_init(t, VSVM_KERNEL_CHASE,
			 (const uint64_t[]){ va, UINT64_MAX }, 2);
	test_launch_start(dev, vm, t);
}

static void cancel_ends_an_endless_chase(void **state)
{
	struct vp_device *dev = test_device(2, 64);
	struct test_launch t;
	struct vp_dev_vm *vm;
	uint64_t *node;

	(void)state;
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	node = loop_node(dev, vm, TEST_VA);
	start_endless_chase(dev, vm, &t, TEST_VA);
	test_sleep_us(20000);
	assert_false(test_launch_is_done(&t));
	dev->ops->vm_cancel(vm);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, -VSVM_ERR_CANCELED);
	assert_int_equal(t.l.result, 0);
	assert_true(t.l.elapsed_ns >= 20000000ull);
	test_launch_fini(&t);

	/* A launch after the cancel is not canceled. */
	node[0] = 0;
	start_endless_chase(dev, vm, &t, TEST_VA);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, 0);
	assert_int_equal(t.l.result, 1);
	test_launch_fini(&t);
	dev->ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(node);
}

/* A fault function that says "replay" but maps nothing. */
static int spurious_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
			  enum vp_access access)
{
	(void)owner;
	(void)vm;
	(void)va;
	(void)access;
	test_sleep_us(100);
	return 0;
}

static void cancel_ends_a_launch_that_keeps_faulting(void **state)
{
	struct vp_device *dev = test_device(4, 64);
	struct test_launch t;
	struct vp_vm_stats st;
	struct vp_dev_vm *vm;

	(void)state;
	assert_int_equal(
		dev->ops->vm_create(dev, 48, NULL, spurious_fault, &vm), 0);
	test_launch_init(&t, VSVM_KERNEL_FILL,
			 (const uint64_t[]){ TEST_VA, 1u << 20, 1 }, 3);
	test_launch_start(dev, vm, &t);
	test_sleep_us(20000);
	assert_false(test_launch_is_done(&t));
	dev->ops->vm_cancel(vm);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, -VSVM_ERR_CANCELED);
	assert_true(t.l.faults > 4);
	dev->ops->vm_stats(vm, &st);
	assert_int_equal(st.faults, t.l.faults);
	test_launch_fini(&t);
	dev->ops->vm_destroy(vm);
	dev->ops->destroy(dev);
}

static void cancel_touches_no_other_vm(void **state)
{
	struct vp_device *dev = test_device(2, 64);
	struct test_launch ta, tb;
	struct vp_dev_vm *a, *b;
	uint64_t *na, *nb;

	(void)state;
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &a), 0);
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &b), 0);
	na = loop_node(dev, a, TEST_VA);
	nb = loop_node(dev, b, TEST_VA);
	start_endless_chase(dev, a, &ta, TEST_VA);
	start_endless_chase(dev, b, &tb, TEST_VA);
	test_sleep_us(10000);
	dev->ops->vm_cancel(a);
	test_launch_wait(&ta);
	assert_int_equal(ta.l.status, -VSVM_ERR_CANCELED);
	test_sleep_us(20000);
	assert_false(test_launch_is_done(&tb));
	dev->ops->vm_cancel(b);
	test_launch_wait(&tb);
	assert_int_equal(tb.l.status, -VSVM_ERR_CANCELED);
	test_launch_fini(&ta);
	test_launch_fini(&tb);
	dev->ops->vm_destroy(a);
	dev->ops->vm_destroy(b);
	dev->ops->destroy(dev);
	free(na);
	free(nb);
}

static void vm_destroy_ends_a_running_launch(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	struct vp_device_info info;
	struct test_launch t;
	struct vp_dev_vm *vm;
	uint64_t *node;

	(void)state;
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	node = loop_node(dev, vm, TEST_VA);
	start_endless_chase(dev, vm, &t, TEST_VA);
	test_sleep_us(5000);
	/*
	 * Returns once the launch has left the VM; its done() may still be
	 * on its way (it must not use the VM, which lets done() itself
	 * destroy the VM).
	 */
	dev->ops->vm_destroy(vm);
	test_launch_wait(&t);
	assert_int_equal(t.l.status, -VSVM_ERR_CANCELED);
	test_launch_fini(&t);
	dev->ops->info(dev, &info);
	assert_int_equal(info.mem_used, 0);
	dev->ops->destroy(dev);
	free(node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cancel_ends_an_endless_chase),
		cmocka_unit_test(cancel_ends_a_launch_that_keeps_faulting),
		cmocka_unit_test(cancel_touches_no_other_vm),
		cmocka_unit_test(vm_destroy_ends_a_running_launch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
