/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included (-include) when mainline's iommu selftests are built
 * against this series' exported uAPI headers and iommufd_test.h: the uAPI
 * of the features the series does not carry, so that mainline's test files
 * build unchanged. Every test using these is on tests/upstream/expected-fail
 * (the kernel refuses the ioctl or the flag). Only the C library's gaps and
 * such uAPI go here; nothing the series carries.
 */
#ifndef UPSTREAM_COMPAT_H
#define UPSTREAM_COMPAT_H

#include <linux/memfd.h>	/* MFD_HUGETLB: bookworm's glibc lacks it */
#include <linux/iommufd.h>

/* PASID attach (not carried): mainline's flag value */
#define IOMMU_HWPT_ALLOC_PASID (1 << 3)

/* IOMMU_IOAS_CHANGE_PROCESS (not carried): mainline's number and layout */
struct iommu_ioas_change_process {
	__u32 size;
	__u32 __reserved;
};
#define IOMMU_IOAS_CHANGE_PROCESS _IO(IOMMUFD_TYPE, 0x92)

#endif
