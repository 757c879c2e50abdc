/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the nesting end-to-end tests: the SMMUv3 STE and
 * command layouts (the uAPI carries them as raw little-endian words, so the
 * bits are the architecture's and are defined here) and thin wrappers of
 * the iommufd and VFIO ioctls that build a vIOMMU and its nested HWPTs.
 */
#ifndef E2E_NEST_H
#define E2E_NEST_H

#include <endian.h>

#include "edu.h"

#define PAGE_SZ		4096UL

/* STE word 0 */
#define STE0_V			(1ULL << 0)
#define STE0_CFG(c)		((uint64_t)(c) << 1)	/* [3:1] */
#define CFG_ABORT		0x0
#define CFG_BYPASS		0x4
#define CFG_S1			0x5
#define CFG_S2			0x6
#define CFG_NESTED		0x7
#define STE0_S1FMT(f)		((uint64_t)(f) << 4)	/* [5:4] */
#define STE0_S1CTXPTR(pa)	((uint64_t)(pa) & 0x000fffffffffffc0ULL)
#define STE0_S1CDMAX(n)		((uint64_t)(n) << 59)

/* STE word 1 */
#define STE1_S1DSS(x)		((uint64_t)(x) << 0)	/* [1:0] */
#define STE1_S1CIR(x)		((uint64_t)(x) << 2)	/* [3:2] */
#define STE1_S1COR(x)		((uint64_t)(x) << 4)	/* [5:4] */
#define STE1_S1CSH(x)		((uint64_t)(x) << 6)	/* [7:6] */
#define STE1_S1STALLD		(1ULL << 27)
#define STE1_EATS(x)		((uint64_t)(x) << 28)	/* [29:28] */
/* Host-owned fields of word 1, not for the guest */
#define STE1_STRW(x)		((uint64_t)(x) << 30)
#define STE1_SHCFG(x)		((uint64_t)(x) << 44)

/* Commands: opcode in word 0 [7:0] */
#define OP_PREFETCH_CFG		0x01
#define OP_CFGI_STE		0x03
#define OP_CFGI_ALL		0x04
#define OP_CFGI_CD		0x05
#define OP_CFGI_CD_ALL		0x06
#define OP_TLBI_NH_ALL		0x10
#define OP_TLBI_NH_ASID		0x11
#define OP_TLBI_NH_VA		0x12
#define OP_TLBI_NH_VAA		0x13
#define OP_TLBI_EL2_ALL		0x20
#define OP_TLBI_S12_VMALL	0x28
#define OP_TLBI_S2_IPA		0x2a
#define OP_TLBI_NSNH_ALL	0x30
#define OP_ATC_INV		0x40
#define OP_CMD_SYNC		0x46

/* CFGI_* and ATC_INV: StreamID, SubstreamID; TLBI_*: VMID, ASID */
#define CMD0_SID(sid)		((uint64_t)(sid) << 32)
#define CMD0_SSID(ssid)		((uint64_t)(ssid) << 12)
#define CMD0_VMID(vmid)		((uint64_t)(vmid) << 32)
#define CMD0_ASID(asid)		((uint64_t)(asid) << 48)
#define CMD1_LEAF		(1ULL << 0)
#define CMD1_ADDR(a)		((uint64_t)(a) & ~0xfffULL)

/* ioctl wrappers: 0 or -errno */

static inline int obj_destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

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

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &cmd))
		return -errno;
	*out_id = cmd.out_hwpt_id;
	return 0;
}

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

	if (ioctl(fd, IOMMU_VIOMMU_ALLOC, &cmd))
		return -errno;
	*out_id = cmd.out_viommu_id;
	return 0;
}

static inline int vdevice_alloc(int fd, uint32_t viommu_id, uint32_t dev_id,
				uint64_t virt_id, uint32_t *out_id)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
	};

	if (ioctl(fd, IOMMU_VDEVICE_ALLOC, &cmd))
		return -errno;
	*out_id = cmd.out_vdevice_id;
	return 0;
}

/* IOMMU_HWPT_INVALIDATE; *num is entry_num in and out */
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
 * The kernel log from now on (/dev/kmsg, non-blocking, at its end): an fd
 * for smmu_events(), or -errno.
 */
static inline int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
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
	char rec[8192], *msg, *end, *tab;
	size_t used = 0;
	int events = 0, words = 0;
	ssize_t n;

	if (len)
		buf[0] = 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" and maybe " KEY=value" lines */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = 0;
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
	return events;
}

/*
 * A guest's stage 1 as the e2e programs build it: 4K granule, 39-bit VA
 * walked from level 1, one CD per device.
 */
#define T0SZ		25	/* 39-bit VA: 4K walk from level 1 */
#define L1_IDX(va)	(((va) >> 30) & 511)
#define L2_IDX(va)	(((va) >> 21) & 511)
#define L3_IDX(va)	(((va) >> 12) & 511)

/* CD words 0, 1 and 3, as arm_smmu_make_s1_cd() builds them */
#define CD0_T0SZ(x)	((uint64_t)(x) << 0)
#define CD0_TG0_4K	(0ULL << 6)
#define CD0_IRGN0_WBWA	(1ULL << 8)
#define CD0_ORGN0_WBWA	(1ULL << 10)
#define CD0_SH0_ISH	(3ULL << 12)
#define CD0_EPD1	(1ULL << 30)
#define CD0_V		(1ULL << 31)
#define CD0_IPS(x)	((uint64_t)(x) << 32)
#define CD0_AA64	(1ULL << 41)
#define CD0_R		(1ULL << 45)
#define CD0_A		(1ULL << 46)
#define CD0_ASET	(1ULL << 47)
#define CD0_ASID(x)	((uint64_t)(x) << 48)
#define CD1_TTB0(ipa)	((ipa) & 0x000ffffffffffff0ULL)
/* MAIR0: index 0 normal WB RW-allocate, 1 normal non-cacheable, 2 device */
#define CD3_MAIR0	0x0444ffULL

/* AArch64 stage-1 descriptors, as io-pgtable-arm.c writes them */
#define PTE_TABLE	3ULL		/* levels 0-2 */
#define PTE_PAGE	3ULL		/* level 3 */
#define PTE_ATTRIDX(i)	((uint64_t)(i) << 2)
#define PTE_AP_UNPRIV	(1ULL << 6)	/* read/write, any EL */
#define PTE_SH_IS	(3ULL << 8)
#define PTE_AF		(1ULL << 10)
#define PTE_NG		(1ULL << 11)
#define PTE_ADDR(ipa)	((ipa) & 0x0000fffffffff000ULL)

/* Order CPU stores to DMA'd memory against the MMIO that starts a DMA */
static inline void dma_fence(void)
{
#ifdef __aarch64__
	asm volatile("dsb sy" ::: "memory");
#else
	__sync_synchronize();
#endif
}

#endif
