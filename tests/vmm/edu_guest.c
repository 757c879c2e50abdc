// SPDX-License-Identifier: GPL-2.0
/*
 * edu_guest: a driver for QEMU's edu PCI device (1234:11e8), loaded in the
 * L2 guest of the real-VMM suites. It uses only the DMA API and MSI, so its
 * DMA goes through the guest's own SMMUv3 (QEMU's accelerated vSMMU), whose
 * stage 1 the L1 host installed as a nested HWPT from the guest's STE, and
 * its interrupts through the MSI window the vSMMU's IORT RMR describes.
 *
 * Each check prints "edu_guest: ok - NAME" or "edu_guest: not ok - NAME" to
 * the kernel log, details as "edu_guest: # ...". The guest's init collects
 * those lines; the L1 side (tests/vmm/vmm-guest) turns them into TAP.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/acpi.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/iommu.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#define EDU_REG_ID		0x00
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_CNT		0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_DMA_START		BIT(0)
#define EDU_DMA_FROM_DEV	BIT(1)	/* edu buffer -> RAM */
#define EDU_BUF			0x40000
#define EDU_BUF_SIZE		4096
#define EDU_DMA_BITS		28
#define EDU_MSI_ROUNDS		3

struct edu_guest {
	struct pci_dev *pdev;
	void __iomem *bar;
	struct completion irq;
	u32 irq_status;
	bool has_irq;
};

static void report(struct edu_guest *eg, bool ok, const char *name)
{
	pr_info("%sok - %s %s\n", ok ? "" : "not ", pci_name(eg->pdev), name);
}

/* One transfer of the edu DMA engine; edu runs it from a timer. */
static int edu_dma(struct edu_guest *eg, dma_addr_t iova, bool from_dev)
{
	unsigned long end = jiffies + 5 * HZ;

	writeq(from_dev ? EDU_BUF : iova, eg->bar + EDU_REG_DMA_SRC);
	writeq(from_dev ? iova : EDU_BUF, eg->bar + EDU_REG_DMA_DST);
	writeq(EDU_BUF_SIZE, eg->bar + EDU_REG_DMA_CNT);
	writeq(EDU_DMA_START | (from_dev ? EDU_DMA_FROM_DEV : 0),
	       eg->bar + EDU_REG_DMA_CMD);
	while (readq(eg->bar + EDU_REG_DMA_CMD) & EDU_DMA_START) {
		if (time_after(jiffies, end))
			return -ETIMEDOUT;
		usleep_range(1000, 2000);
	}
	return 0;
}

static void fill(u8 *buf, u8 seed)
{
	int i;

	for (i = 0; i < EDU_BUF_SIZE; i++)
		buf[i] = seed + i * 7;
}

static bool check_iommu(struct edu_guest *eg)
{
	struct device *dev = &eg->pdev->dev;
	struct iommu_fwspec *fwspec = dev_iommu_fwspec_get(dev);
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	pr_info("# %s: firmware %s, IOMMU %s, StreamID 0x%x, domain %s\n",
		pci_name(eg->pdev), acpi_disabled ? "DT" : "ACPI",
		dev->iommu && dev->iommu->iommu_dev ?
		dev_name(dev->iommu->iommu_dev->dev) : "none",
		fwspec && fwspec->num_ids ? fwspec->ids[0] : 0,
		!domain ? "none" :
		domain->type == IOMMU_DOMAIN_DMA ? "DMA (strict)" :
		domain->type == IOMMU_DOMAIN_DMA_FQ ? "DMA (lazy)" :
		domain->type == IOMMU_DOMAIN_IDENTITY ? "identity" : "other");
	if (fwspec && fwspec->num_ids)
		pr_info("# sid %s 0x%x\n", pci_name(eg->pdev), fwspec->ids[0]);
	/* Strict: every dma_unmap_*() invalidates before it returns. */
	return !acpi_disabled && fwspec && fwspec->num_ids == 1 && domain &&
	       domain->type == IOMMU_DOMAIN_DMA;
}

/* RAM -> edu -> RAM through two coherent buffers. */
static bool check_coherent(struct edu_guest *eg)
{
	struct device *dev = &eg->pdev->dev;
	dma_addr_t src_iova, dst_iova;
	u8 *src, *dst;
	bool ok = false;

	src = dma_alloc_coherent(dev, EDU_BUF_SIZE, &src_iova, GFP_KERNEL);
	dst = dma_alloc_coherent(dev, EDU_BUF_SIZE, &dst_iova, GFP_KERNEL);
	if (!src || !dst)
		goto out;
	fill(src, 0x11);
	memset(dst, 0, EDU_BUF_SIZE);
	if (edu_dma(eg, src_iova, false) || edu_dma(eg, dst_iova, true))
		goto out;
	ok = !memcmp(src, dst, EDU_BUF_SIZE);
	pr_info("# coherent: IOVA %pad -> edu -> IOVA %pad: %s\n", &src_iova,
		&dst_iova, ok ? "4096 bytes match" : "mismatch");
out:
	if (dst)
		dma_free_coherent(dev, EDU_BUF_SIZE, dst, dst_iova);
	if (src)
		dma_free_coherent(dev, EDU_BUF_SIZE, src, src_iova);
	return ok;
}

/* dma_map_single() both ways. */
static bool check_streaming(struct edu_guest *eg)
{
	struct device *dev = &eg->pdev->dev;
	dma_addr_t to_iova, from_iova;
	u8 *to, *from;
	bool ok = false;
	int ret;

	to = kmalloc(EDU_BUF_SIZE, GFP_KERNEL);
	from = kzalloc(EDU_BUF_SIZE, GFP_KERNEL);
	if (!to || !from)
		goto out;
	fill(to, 0x22);
	to_iova = dma_map_single(dev, to, EDU_BUF_SIZE, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, to_iova))
		goto out;
	from_iova = dma_map_single(dev, from, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, from_iova)) {
		dma_unmap_single(dev, to_iova, EDU_BUF_SIZE, DMA_TO_DEVICE);
		goto out;
	}
	ret = edu_dma(eg, to_iova, false) ?: edu_dma(eg, from_iova, true);
	dma_unmap_single(dev, from_iova, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	dma_unmap_single(dev, to_iova, EDU_BUF_SIZE, DMA_TO_DEVICE);
	ok = !ret && !memcmp(to, from, EDU_BUF_SIZE);
	pr_info("# streaming: IOVA %pad -> edu -> IOVA %pad: %s\n", &to_iova,
		&from_iova, ok ? "4096 bytes match" : "mismatch");
out:
	kfree(from);
	kfree(to);
	return ok;
}

/*
 * Map a page, let edu write it, unmap it (strict: the guest's TLBI goes
 * out through the vIOMMU before dma_unmap_single() returns), clear it, and
 * let edu write the same IOVA again: the page must stay clear. A host that
 * dropped the guest's invalidation would leave the old translation in the
 * SMMU's TLB and the second write would land.
 */
static bool check_unmap(struct edu_guest *eg)
{
	struct device *dev = &eg->pdev->dev;
	dma_addr_t src_iova, iova;
	u8 *src, *page = NULL;
	bool ok = false;
	int i;

	src = dma_alloc_coherent(dev, EDU_BUF_SIZE, &src_iova, GFP_KERNEL);
	page = kzalloc(EDU_BUF_SIZE, GFP_KERNEL);
	if (!src || !page)
		goto out;
	fill(src, 0x33);
	if (edu_dma(eg, src_iova, false))
		goto out;
	iova = dma_map_single(dev, page, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, iova))
		goto out;
	if (edu_dma(eg, iova, true)) {
		dma_unmap_single(dev, iova, EDU_BUF_SIZE, DMA_FROM_DEVICE);
		goto out;
	}
	dma_unmap_single(dev, iova, EDU_BUF_SIZE, DMA_FROM_DEVICE);
	if (memcmp(page, src, EDU_BUF_SIZE)) {
		pr_info("# unmap: the DMA before the unmap did not arrive\n");
		goto out;
	}
	memset(page, 0, EDU_BUF_SIZE);
	if (edu_dma(eg, iova, true))
		goto out;
	for (i = 0; i < EDU_BUF_SIZE && !page[i]; i++)
		;
	ok = i == EDU_BUF_SIZE;
	pr_info("# unmap: IOVA %pad reached the page before the unmap; after it %s\n",
		&iova, ok ? "the page stayed clear" : "the DMA still landed");
out:
	kfree(page);
	if (src)
		dma_free_coherent(dev, EDU_BUF_SIZE, src, src_iova);
	return ok;
}

static irqreturn_t edu_guest_irq(int irq, void *data)
{
	struct edu_guest *eg = data;
	u32 status = readl(eg->bar + EDU_REG_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	writel(status, eg->bar + EDU_REG_IRQ_ACK);
	eg->irq_status = status;
	complete(&eg->irq);
	return IRQ_HANDLED;
}

static bool check_msi(struct edu_guest *eg)
{
	struct pci_dev *pdev = eg->pdev;
	u32 lo = 0, hi = 0;
	u16 data = 0;
	int i, got = 0, ret;

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (ret < 0) {
		pr_info("# msi: no MSI vector (%d)\n", ret);
		return false;
	}
	ret = request_irq(pci_irq_vector(pdev, 0), edu_guest_irq, 0,
			  KBUILD_MODNAME, eg);
	if (ret) {
		pci_free_irq_vectors(pdev);
		pr_info("# msi: request_irq failed (%d)\n", ret);
		return false;
	}
	eg->has_irq = true;
	pci_read_config_dword(pdev, pdev->msi_cap + PCI_MSI_ADDRESS_LO, &lo);
	pci_read_config_dword(pdev, pdev->msi_cap + PCI_MSI_ADDRESS_HI, &hi);
	pci_read_config_word(pdev, pdev->msi_cap + PCI_MSI_DATA_64, &data);
	for (i = 0; i < EDU_MSI_ROUNDS; i++) {
		u32 bits = 0x100u << i;

		reinit_completion(&eg->irq);
		writel(bits, eg->bar + EDU_REG_IRQ_RAISE);
		if (wait_for_completion_timeout(&eg->irq, 2 * HZ) &&
		    eg->irq_status == bits)
			got++;
	}
	pr_info("# msi: vector %d, address 0x%08x%08x data 0x%x: %d of %d interrupts arrived\n",
		pci_irq_vector(pdev, 0), hi, lo, data, got, EDU_MSI_ROUNDS);
	return got == EDU_MSI_ROUNDS;
}

static int edu_guest_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu_guest *eg;
	int ret;

	eg = devm_kzalloc(&pdev->dev, sizeof(*eg), GFP_KERNEL);
	if (!eg)
		return -ENOMEM;
	eg->pdev = pdev;
	init_completion(&eg->irq);
	pci_set_drvdata(pdev, eg);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), KBUILD_MODNAME);
	if (ret)
		return ret;
	eg->bar = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(EDU_DMA_BITS));
	if (ret)
		return ret;

	pr_info("# %s: edu id 0x%08x\n", pci_name(pdev),
		readl(eg->bar + EDU_REG_ID));
	report(eg, check_iommu(eg),
	       "is behind an SMMUv3 found through IORT, in a strict DMA domain");
	report(eg, check_coherent(eg),
	       "DMA through dma_alloc_coherent() returns the right bytes");
	report(eg, check_streaming(eg),
	       "DMA through dma_map_single() both ways returns the right bytes");
	report(eg, check_unmap(eg),
	       "after dma_unmap_single() the IOVA no longer reaches the page");
	report(eg, check_msi(eg), "MSIs arrive");
	return 0;
}

static void edu_guest_remove(struct pci_dev *pdev)
{
	struct edu_guest *eg = pci_get_drvdata(pdev);

	if (eg->has_irq) {
		free_irq(pci_irq_vector(pdev, 0), eg);
		pci_free_irq_vectors(pdev);
	}
}

static const struct pci_device_id edu_guest_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_guest_ids);

static struct pci_driver edu_guest_driver = {
	.name = KBUILD_MODNAME,
	.id_table = edu_guest_ids,
	.probe = edu_guest_probe,
	.remove = edu_guest_remove,
};
module_pci_driver(edu_guest_driver);

MODULE_DESCRIPTION("edu DMA and MSI checks for the L2 guest of the real-VMM suites");
MODULE_LICENSE("GPL");
