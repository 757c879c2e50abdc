/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest side of an SMMUv3, as the test programs play a VM: the layouts
 * of the STE, the commands, the context descriptor (CD) and the stage-1
 * page tables, and writers of the guest structures the programs share.
 * The uAPI carries STEs and commands as raw little-endian words and the
 * SMMU reads the CDs and tables from the guest's RAM, so the bits are the
 * architecture's and are defined here.
 */
#ifndef TESTS_SMMU_GUEST_H
#define TESTS_SMMU_GUEST_H

#include <endian.h>
#include <stdint.h>

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

/*
 * TLBI_NH_VA and TLBI_NH_VAA as a range (SMMU_IDR3.RIL): with TG != 0 they
 * invalidate (NUM + 1) << SCALE pages of granule TG from ADDR, TTL the
 * level of the entries (0: no hint). SCALE bit 5 needs SMMU_IDR5.DS.
 */
#define CMD0_NUM(n)		((uint64_t)(n) << 12)	/* [16:12] */
#define CMD0_SCALE(s)		((uint64_t)(s) << 20)	/* [25:20] */
#define CMD1_TTL(l)		((uint64_t)(l) << 8)	/* [9:8] */
#define CMD1_TG(g)		((uint64_t)(g) << 10)	/* [11:10] */
#define TG_4K			1
#define TG_16K			2
#define TG_64K			3

/* ATC_INV: SubstreamID valid; 2^Size pages, 52: all, 53-63 reserved */
#define CMD0_SSV		(1ULL << 11)
#define CMD1_ATC_SIZE(s)	((uint64_t)(s) & 0x3f)	/* [5:0] */

/*
 * SMMU_IDR0-5 fields that decide which commands a guest may send
 * (IOMMU_GET_HW_INFO gives the registers in struct
 * iommu_hw_info_arm_smmuv3's idr[])
 */
#define IDR0_ATS		(1U << 10)
#define IDR1_SSIDSIZE(r)	(((r) >> 6) & 0x1f)	/* [10:6] */
#define IDR3_RIL		(1U << 10)
#define IDR5_DS			(1U << 7)

/*
 * A guest's stage 1 as the programs build it: 4K granule, 39-bit VA
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

/**
 * guest_wr64() - store a word of a structure the SMMU reads
 * @p: where, in the host's mapping of the guest's RAM
 * @val: the word, stored little-endian
 *
 * One store, never split or elided, as WRITE_ONCE() makes it: the SMMU may
 * read the word at any time. dma_fence() orders it against the SMMU's and
 * the device's accesses.
 */
static inline void guest_wr64(void *p, uint64_t val)
{
	*(volatile uint64_t *)p = htole64(val);
}

/**
 * s1_pte_page() - a guest's level-3 stage-1 descriptor of one 4K page
 * @ipa: the page's IPA
 * @attr: its memory type, an index into CD3_MAIR0
 *
 * Return: the descriptor of a page that is read/write at any EL, inner
 * shareable, accessed and not global, as io-pgtable-arm.c maps DMA.
 */
static inline uint64_t s1_pte_page(uint64_t ipa, unsigned int attr)
{
	return PTE_ADDR(ipa) | PTE_PAGE | PTE_ATTRIDX(attr) | PTE_AP_UNPRIV |
	       PTE_SH_IS | PTE_AF | PTE_NG;
}

/**
 * guest_cd_write() - write a guest's stage-1 CD, valid bit last
 * @cd: the CD, in the host's mapping of the guest's RAM
 * @ttb0: IPA of its level-1 table (4K granule, T0SZ: 39-bit VA)
 * @ips: its output size (IDR5.OAS encoding, at most 5 with 4K pages)
 * @asid: its ASID
 *
 * Words 1 (TTB0) and 3 (MAIR0 = CD3_MAIR0) first, then word 0 with V, each
 * step followed by dma_fence(), as a guest driver would. Word 2 and the
 * rest of the CD are left as they are: the caller zeroed them.
 */
static inline void guest_cd_write(void *cd, uint64_t ttb0, unsigned int ips,
				  unsigned int asid)
{
	uint64_t *w = cd;

	guest_wr64(&w[1], CD1_TTB0(ttb0));
	guest_wr64(&w[3], CD3_MAIR0);
	dma_fence();
	guest_wr64(&w[0], CD0_T0SZ(T0SZ) | CD0_TG0_4K | CD0_IRGN0_WBWA |
			  CD0_ORGN0_WBWA | CD0_SH0_ISH | CD0_EPD1 | CD0_V |
			  CD0_IPS(ips) | CD0_AA64 | CD0_R | CD0_A | CD0_ASET |
			  CD0_ASID(asid));
	dma_fence();
}

/* The guest STEs the programs switch a device between */
enum vste { VSTE_S1, VSTE_BYPASS, VSTE_ABORT };

/**
 * vste_words() - the words 0 and 1 of a guest STE, for a nested HWPT
 * @v: stage-1 translation, bypass or abort
 * @cd_ipa: for VSTE_S1, the IPA of its CD table: linear, one CD (S1Fmt 0,
 *	    S1CDMax 0)
 * @ste: the words, in CPU order
 */
static inline void vste_words(enum vste v, uint64_t cd_ipa, uint64_t ste[2])
{
	ste[1] = 0;
	switch (v) {
	case VSTE_S1:
		ste[0] = STE0_V | STE0_CFG(CFG_S1) | STE0_S1FMT(0) |
			 STE0_S1CTXPTR(cd_ipa) | STE0_S1CDMAX(0);
		/* CD fetches: inner/outer WB read-allocate, inner shareable */
		ste[1] = STE1_S1DSS(0) | STE1_S1CIR(1) | STE1_S1COR(1) |
			 STE1_S1CSH(3);
		break;
	case VSTE_BYPASS:
		ste[0] = STE0_V | STE0_CFG(CFG_BYPASS);
		break;
	default:
		ste[0] = STE0_V | STE0_CFG(CFG_ABORT);
		break;
	}
}

#endif
