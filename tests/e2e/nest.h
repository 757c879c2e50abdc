/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the nesting end-to-end tests (and the SMMUv3 stress and
 * benchmark): the VMM's side of an SMMUv3 vIOMMU, its nested HWPTs and
 * commands, the VFIO attach ioctls, and the SMMU's events in the kernel
 * log. The iommufd ioctl wrappers (iommufd_util.h), the SMMUv3 layouts
 * and guest structure writers (smmu_guest.h) and the kernel log reader
 * (kmsg.h) are in tests/common, shared with the other test programs.
 */
#ifndef E2E_NEST_H
#define E2E_NEST_H

#include <endian.h>

#include "edu.h"
#include "iommufd_util.h"
#include "kmsg.h"
#include "smmu_guest.h"

#define PAGE_SZ		4096UL

/* A nested HWPT from a vIOMMU and a guest STE (words 0 and 1) */
static inline int nested_alloc(int fd, uint32_t viommu_id, uint32_t dev_id,
			       uint64_t ste0, uint64_t ste1, uint32_t *out_id)
{
	struct iommu_hwpt_arm_smmuv3 vste = {
		.ste = { htole64(ste0), htole64(ste1) },
	};

	return hwpt_alloc(fd, 0, dev_id, viommu_id, IOMMU_HWPT_DATA_ARM_SMMUV3,
			  &vste, sizeof(vste), out_id);
}

/*
 * The SMMUv3 registers behind device @dev_id (IOMMU_GET_HW_INFO): 0,
 * -EPROTO if its IOMMU is not an SMMUv3, or -errno
 */
static inline int smmu_hw_info(int fd, uint32_t dev_id,
			       struct iommu_hw_info_arm_smmuv3 *hw)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.data_len = sizeof(*hw),
		.data_uptr = (uintptr_t)hw,
	};

	if (ioctl(fd, IOMMU_GET_HW_INFO, &cmd))
		return -errno;
	if (cmd.out_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
		return -EPROTO;
	return 0;
}

/* SMMUv3 commands through a vIOMMU, entry_len 16 */
static inline int
viommu_cmds(int fd, uint32_t viommu_id,
	    const struct iommu_viommu_arm_smmuv3_invalidate *cmds,
	    uint32_t *num)
{
	return invalidate(fd, viommu_id,
			  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, cmds,
			  sizeof(*cmds), num);
}

static inline void mkcmd(struct iommu_viommu_arm_smmuv3_invalidate *cmd,
			 uint64_t w0, uint64_t w1)
{
	cmd->cmd[0] = htole64(w0);
	cmd->cmd[1] = htole64(w1);
}

/* Attach or replace-attach a device to an IOAS or HWPT */
static inline int dev_attach(struct edu *e, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd), .pt_id = pt_id,
	};

	return ioctl(e->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd) ? -errno : 0;
}

static inline int dev_detach(struct edu *e)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };

	return ioctl(e->fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd) ? -errno : 0;
}

/*
 * Read what the kernel logged on kmsg fd since the last call and count the
 * events the arm-smmu-v3 driver reported (arm_smmu_evtq_thread() prints
 * "event 0xNN received:" and the event's words, each on a line of its own,
 * or says how many it suppressed). Those lines go to buf, one per line
 * (truncated to len). The count, or -errno.
 */
static inline int smmu_events(int fd, char *buf, size_t len)
{
	char rec[KMSG_REC_SIZE], *msg, *tab;
	int events = 0, words = 0, rc;
	size_t used = 0;

	if (len)
		buf[0] = 0;
	while ((rc = kmsg_next(fd, rec, &msg)) > 0) {
		if (strstr(msg, "arm-smmu-v3") && strstr(msg, "event 0x") &&
		    strstr(msg, "received")) {
			events++;
			words = 4;	/* EVTQ_ENT_DWORDS lines follow */
		} else if (strstr(msg, "arm_smmu_evtq_thread") &&
			   strstr(msg, "suppressed")) {
			events++;
		} else if (strstr(msg, "arm-smmu-v3") &&
			   strstr(msg, "EVTQ overflow")) {
			events++;
		} else if (words && strstr(msg, "arm-smmu-v3")) {
			words--;
			/* the driver's tab comes escaped */
			tab = strstr(msg, "\\x09");
			if (tab)
				memcpy(tab, "    ", 4);
		} else {
			continue;
		}
		if (used + 1 < len)
			used += snprintf(buf + used, len - used, "%s\n", msg);
		if (used >= len)
			used = len - 1;
	}
	return rc < 0 ? rc : events;
}

#endif
