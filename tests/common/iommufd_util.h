/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Thin wrappers of the iommufd ioctls the test programs share: each fills
 * the command's struct, returns 0 or -errno (errno is left set, for %m) and
 * on success the ID the kernel gave out.
 */
#ifndef TESTS_IOMMUFD_UTIL_H
#define TESTS_IOMMUFD_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>

/* IOMMU_DESTROY of object @id */
static inline int obj_destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

/* IOMMU_IOAS_ALLOC: its ID in *out_id */
static inline int ioas_alloc(int fd, uint32_t *out_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ioctl(fd, IOMMU_IOAS_ALLOC, &cmd) ? -errno : 0;

	if (!rc)
		*out_id = cmd.out_ioas_id;
	return rc;
}

/* IOMMU_IOAS_MAP of @len bytes at @va to IOVA @iova, readable, writeable */
static inline int ioas_map(int fd, uint32_t ioas_id, void *va, size_t len,
			   uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return ioctl(fd, IOMMU_IOAS_MAP, &cmd) ? -errno : 0;
}

static inline int ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova,
			     uint64_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};

	return ioctl(fd, IOMMU_IOAS_UNMAP, &cmd) ? -errno : 0;
}

/*
 * IOMMU_HWPT_ALLOC for device @dev_id on IOAS, parent HWPT or vIOMMU
 * @pt_id, with @data_len bytes of driver data of @data_type at @data
 * (IOMMU_HWPT_DATA_NONE, NULL, 0 for a paging HWPT)
 */
static inline int hwpt_alloc(int fd, uint32_t flags, uint32_t dev_id,
			     uint32_t pt_id, uint32_t data_type,
			     const void *data, uint32_t data_len,
			     uint32_t *out_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = data_len,
		.data_uptr = (uintptr_t)data,
	};
	int rc = ioctl(fd, IOMMU_HWPT_ALLOC, &cmd) ? -errno : 0;

	if (!rc)
		*out_id = cmd.out_hwpt_id;
	return rc;
}

/* IOMMU_VIOMMU_ALLOC of @type for device @dev_id on nesting parent @hwpt_id */
static inline int viommu_alloc(int fd, uint32_t flags, uint32_t type,
			       uint32_t dev_id, uint32_t hwpt_id,
			       uint32_t *out_id)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.type = type,
		.dev_id = dev_id,
		.hwpt_id = hwpt_id,
	};
	int rc = ioctl(fd, IOMMU_VIOMMU_ALLOC, &cmd) ? -errno : 0;

	if (!rc)
		*out_id = cmd.out_viommu_id;
	return rc;
}

/* IOMMU_VDEVICE_ALLOC; @out_id may be NULL */
static inline int vdevice_alloc(int fd, uint32_t viommu_id, uint32_t dev_id,
				uint64_t virt_id, uint32_t *out_id)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
	};
	int rc = ioctl(fd, IOMMU_VDEVICE_ALLOC, &cmd) ? -errno : 0;

	if (!rc && out_id)
		*out_id = cmd.out_vdevice_id;
	return rc;
}

/*
 * IOMMU_HWPT_INVALIDATE of a nested HWPT or a vIOMMU @id with the entries
 * of @entry_len bytes at @entries; *num is entry_num in and out
 */
static inline int invalidate(int fd, uint32_t id, uint32_t data_type,
			     const void *entries, uint32_t entry_len,
			     uint32_t *num)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = id,
		.data_uptr = (uintptr_t)entries,
		.data_type = data_type,
		.entry_len = entry_len,
		.entry_num = *num,
	};
	int rc = ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd) ? -errno : 0;

	*num = cmd.entry_num;
	return rc;
}

#endif
