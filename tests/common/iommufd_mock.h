/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wrappers of the mock driver's test commands (CONFIG_IOMMUFD_TEST,
 * IOMMU_TEST_CMD) that the programs on the mock share; 0 or -errno, as
 * those of iommufd_util.h.
 */
#ifndef TESTS_IOMMUFD_MOCK_H
#define TESTS_IOMMUFD_MOCK_H

#include "iommufd_util.h"
#include "iommufd_test.h"

/*
 * A mock device attached to IOAS @ioas_id: its selftest object's ID (whose
 * DESTROY unbinds it) in *stdev_id, its device ID in *idev_id
 */
static inline int mock_domain(int fd, uint32_t ioas_id, uint32_t *stdev_id,
			      uint32_t *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc = ioctl(fd, IOMMU_TEST_CMD, &cmd) ? -errno : 0;

	if (!rc) {
		*stdev_id = cmd.mock_domain.out_stdev_id;
		*idev_id = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

/* Replace-attach the mock device of selftest object @stdev_id to @pt_id */
static inline int mock_replace(int fd, uint32_t stdev_id, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev_id,
		.mock_domain_replace.pt_id = pt_id,
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd) ? -errno : 0;
}

/*
 * A mock nested HWPT for device @dev_id on nesting parent or vIOMMU
 * @pt_id, its IOTLB entries at IOMMU_TEST_IOTLB_DEFAULT
 */
static inline int mock_nested_alloc(int fd, uint32_t dev_id, uint32_t pt_id,
				    uint32_t *out_id)
{
	struct iommu_hwpt_selftest data = {
		.iotlb = IOMMU_TEST_IOTLB_DEFAULT,
	};

	return hwpt_alloc(fd, 0, dev_id, pt_id, IOMMU_HWPT_DATA_SELFTEST,
			  &data, sizeof(data), out_id);
}

#endif
