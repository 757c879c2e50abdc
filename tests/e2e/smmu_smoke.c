// SPDX-License-Identifier: GPL-2.0
/*
 * Baseline of the arm64 test VM: an SMMUv3 is there, both edu devices sit
 * behind it in groups of their own and are bound to vfio-pci, and a device
 * opened through its VFIO cdev and bound to iommufd does DMA through an
 * IOAS both ways. The nesting tests build on exactly this path.
 */
#include "edu.h"
#include "kselftest_harness.h"

#define IOVA_BASE 0x100000ULL

static int read_link_base(const char *path, char *buf, size_t len)
{
	char tmp[512];
	ssize_t n = readlink(path, tmp, sizeof(tmp) - 1);

	if (n < 0)
		return -1;
	tmp[n] = 0;
	snprintf(buf, len, "%s", strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp);
	return 0;
}

TEST(smmu_present)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/sys/class/iommu");

	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "smmu3.", 6)) {
			TH_LOG("IOMMU %s", de->d_name);
			n++;
		}
	closedir(d);
	ASSERT_EQ(1, n);
}

TEST(edu_devices_behind_smmu)
{
	char bdf[2][256], cdev[2][300], group[2][512], path[512], link[512];
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, edu_find(i, bdf[i], sizeof(bdf[i]), cdev[i],
				      sizeof(cdev[i])));
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/iommu_group", bdf[i]);
		ASSERT_EQ(0, read_link_base(path, group[i], sizeof(group[i])));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu",
			 bdf[i]);
		ASSERT_EQ(0, read_link_base(path, link, sizeof(link)));
		ASSERT_EQ(0, strncmp(link, "smmu3.", 6));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver",
			 bdf[i]);
		ASSERT_EQ(0, read_link_base(path, link, sizeof(link)));
		ASSERT_STREQ("vfio-pci", link);
		ASSERT_EQ(0, access(cdev[i], R_OK | W_OK));
		TH_LOG("edu %s: group %s, %s", bdf[i], group[i], cdev[i]);
	}
	ASSERT_STRNE(group[0], group[1]);
}

FIXTURE(ioas_dma)
{
	int iommufd;
	uint32_t ioas_id;
	struct edu edu;
	uint8_t *buf;
	size_t len;
};

FIXTURE_SETUP(ioas_dma)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	self->edu.fd = -1;
	self->len = 2 * 4096;
	self->buf = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	self->iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, self->iommufd);
	ASSERT_EQ(0, ioctl(self->iommufd, IOMMU_IOAS_ALLOC, &alloc));
	self->ioas_id = alloc.out_ioas_id;
	ASSERT_EQ(0, edu_open(&self->edu, 0, self->iommufd));
}

FIXTURE_TEARDOWN(ioas_dma)
{
	edu_close(&self->edu);
	if (self->iommufd >= 0)
		close(self->iommufd);
	munmap(self->buf, self->len);
}

TEST_F(ioas_dma, hw_info)
{
	struct iommu_hw_info info = {
		.size = sizeof(info), .dev_id = self->edu.dev_id,
	};

	ASSERT_EQ(0, ioctl(self->iommufd, IOMMU_GET_HW_INFO, &info));
	TH_LOG("hw_info type %u", info.out_data_type);
}

TEST_F(ioas_dma, dma_both_ways)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach), .pt_id = self->ioas_id,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = self->ioas_id,
		.user_va = (uintptr_t)self->buf,
		.length = self->len,
		.iova = IOVA_BASE,
	};
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = self->ioas_id,
		.iova = IOVA_BASE, .length = self->len,
	};
	uint8_t *src = self->buf, *dst = self->buf + 4096;
	int i;

	ASSERT_EQ(0, ioctl(self->edu.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
			   &attach));
	ASSERT_EQ(0, ioctl(self->iommufd, IOMMU_IOAS_MAP, &map));
	for (i = 0; i < 4096; i++) {
		src[i] = (uint8_t)(i * 7 + 1);
		dst[i] = 0;
	}
	/* memory -> edu -> memory, each way through the IOMMU */
	ASSERT_EQ(0, edu_dma(&self->edu, IOVA_BASE, 0, 4096, true));
	ASSERT_EQ(0, edu_dma(&self->edu, IOVA_BASE + 4096, 0, 4096, false));
	ASSERT_EQ(0, memcmp(src, dst, 4096));
	TH_LOG("4096 bytes went to the device and back through IOVA 0x%llx",
	       IOVA_BASE);

	/* Once unmapped, the same DMA must not reach the pages */
	ASSERT_EQ(0, ioctl(self->iommufd, IOMMU_IOAS_UNMAP, &unmap));
	memset(dst, 0, 4096);
	edu_dma(&self->edu, IOVA_BASE + 4096, 0, 4096, false);
	ASSERT_EQ(0, dst[0] | dst[100] | dst[4095]);
}

TEST_HARNESS_MAIN
