// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_guest_main.c - module entry and virtio driver of the guest shim.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Overview
 *
 * vsvm_guest.ko is the guest side of vsvm: a virtio driver for the
 * virtio-gpu device that speaks the "svm" context type.  It will hold one
 * SVM context per guest process, mirror that process's mappings to the host
 * (mmu_interval_notifier, hmm_range_fault), answer the GPU faults the host
 * forwards, block an invalidation until the host acknowledges it, and offer
 * hints, prefetch, migration and kernel launch to userspace (libvsvm).
 *
 * This file is the skeleton: it binds the device, finds its two virtqueues
 * ("control" and "cursor", as virtio-gpu names them) and reads the number of
 * capability sets from the device's config space.  No command is sent yet.
 *
 * Binding.  The stock virtio_gpu DRM driver also matches VIRTIO_ID_GPU, and
 * whichever driver probes first owns the device.  Until the guest-shim issue
 * settles the final approach, the operator must keep virtio_gpu off the
 * device: blacklist the virtio_gpu module, or unbind it and set the
 * device's driver_override to "vsvm_guest".  For the same reason the
 * module has no MODULE_DEVICE_TABLE: it is loaded on purpose, never
 * auto-loaded beside virtio_gpu.
 *
 * Stand-in device (tests only).  Without KVM, QEMU 7.2 refuses
 * vhost-user-gpu-pci, so the tests carry the same two virtqueues over
 * vhost-user-gpio-pci instead.  With standin=1 the module registers a
 * second virtio driver that matches VIRTIO_ID_GPIO.  That id entry exists
 * for testing only; a stand-in has a virtio-gpio config space, which the
 * driver does not read.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ids.h>

#include <vsvm/vsvm_codec.h>

static bool standin;
module_param(standin, bool, 0444);
MODULE_PARM_DESC(standin, "Also bind virtio-gpio devices as a test stand-in for virtio-gpu (default false)");

enum vsvmg_vq {
	VSVMG_VQ_CONTROL,
	VSVMG_VQ_CURSOR,
	VSVMG_NR_VQS,
};

/**
 * struct vsvmg_device - one bound virtio device
 * @vdev: the virtio device; its priv points back here
 * @controlq: control virtqueue, carries commands and their replies
 * @cursorq: cursor virtqueue, unused by the svm context type
 * @num_capsets: capability sets the device offers (0 on a stand-in)
 */
struct vsvmg_device {
	struct virtio_device *vdev;
	struct virtqueue *controlq;
	struct virtqueue *cursorq;
	u32 num_capsets;
};

static int vsvmg_probe(struct virtio_device *vdev)
{
	static const char * const names[VSVMG_NR_VQS] = {
		[VSVMG_VQ_CONTROL] = "control",
		[VSVMG_VQ_CURSOR] = "cursor",
	};
	/* No completions are consumed yet, so no vq callbacks. */
	vq_callback_t *callbacks[VSVMG_NR_VQS] = { NULL, NULL };
	struct virtqueue *vqs[VSVMG_NR_VQS];
	struct vsvmg_device *gdev;
	int ret;

	gdev = kzalloc(sizeof(*gdev), GFP_KERNEL);
	if (!gdev)
		return -ENOMEM;
	gdev->vdev = vdev;
	vdev->priv = gdev;

	if (vdev->id.device == VIRTIO_ID_GPU)
		virtio_cread_le(vdev, struct virtio_gpu_config, num_capsets,
				&gdev->num_capsets);

	ret = virtio_find_vqs(vdev, VSVMG_NR_VQS, vqs, callbacks, names, NULL);
	if (ret)
		goto err_free;
	gdev->controlq = vqs[VSVMG_VQ_CONTROL];
	gdev->cursorq = vqs[VSVMG_VQ_CURSOR];

	virtio_device_ready(vdev);

	if (vdev->id.device == VIRTIO_ID_GPU)
		dev_info(&vdev->dev, "virtio-gpu, %u capsets\n",
			 gdev->num_capsets);
	else
		dev_info(&vdev->dev, "test stand-in (virtio id %u)\n",
			 vdev->id.device);
	return 0;

err_free:
	vdev->priv = NULL;
	kfree(gdev);
	return ret;
}

static void vsvmg_remove(struct virtio_device *vdev)
{
	struct vsvmg_device *gdev = vdev->priv;

	/* Stop the device before freeing the rings it may still write. */
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	vdev->priv = NULL;
	kfree(gdev);
}

static const struct virtio_device_id vsvmg_gpu_id_table[] = {
	{ VIRTIO_ID_GPU, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct virtio_driver vsvmg_gpu_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.id_table = vsvmg_gpu_id_table,
	.probe = vsvmg_probe,
	.remove = vsvmg_remove,
};

/* Test only: QEMU's vhost-user-gpio-pci standing in for a virtio-gpu. */
static const struct virtio_device_id vsvmg_standin_id_table[] = {
	{ VIRTIO_ID_GPIO, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct virtio_driver vsvmg_standin_driver = {
	.driver.name = KBUILD_MODNAME "_standin",
	.driver.owner = THIS_MODULE,
	.id_table = vsvmg_standin_id_table,
	.probe = vsvmg_probe,
	.remove = vsvmg_remove,
};

/*
 * Proves at load time that the shared codec linked into this module and
 * decodes: a module whose wire codec is broken must not bind anything.
 */
static int vsvmg_codec_selfcheck(void)
{
	const struct vsvm_cmd_empty cmd = {
		.hdr.op = cpu_to_le16(VSVM_CMD_QUERY),
		.hdr.len = cpu_to_le32(sizeof(cmd)),
	};
	struct vsvm_request req;

	if (vsvm_decode_request(&cmd, sizeof(cmd), &req) != sizeof(cmd) ||
	    req.op != VSVM_CMD_QUERY)
		return -EINVAL;
	return 0;
}

static int __init vsvmg_init(void)
{
	int ret;

	ret = vsvmg_codec_selfcheck();
	if (ret) {
		pr_err("protocol codec self-check failed\n");
		return ret;
	}

	ret = register_virtio_driver(&vsvmg_gpu_driver);
	if (ret)
		return ret;

	if (standin) {
		ret = register_virtio_driver(&vsvmg_standin_driver);
		if (ret)
			goto err_unregister_gpu;
	}
	return 0;

err_unregister_gpu:
	unregister_virtio_driver(&vsvmg_gpu_driver);
	return ret;
}

static void __exit vsvmg_exit(void)
{
	if (standin)
		unregister_virtio_driver(&vsvmg_standin_driver);
	unregister_virtio_driver(&vsvmg_gpu_driver);
}

module_init(vsvmg_init);
module_exit(vsvmg_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vsvm guest shim: GPU shared virtual memory over virtio-gpu");
MODULE_AUTHOR("The vsvm authors");
