/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the end-to-end tests: QEMU's "edu" PCI device (1234:11e8)
 * bound to vfio-pci and used through the VFIO cdev and iommufd. edu has a
 * 4 KiB buffer at device address 0x40000 and a DMA engine with a 28-bit
 * mask that copies between that buffer and an IOVA, and one MSI vector
 * that fires whenever software sets interrupt status bits.
 */
#ifndef E2E_EDU_H
#define E2E_EDU_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_REG_ID 0x00
#define EDU_REG_IRQ_STATUS 0x24	/* read: the pending status bits */
#define EDU_REG_IRQ_RAISE 0x60	/* write: set bits, interrupt */
#define EDU_REG_IRQ_ACK 0x64	/* write: clear bits */
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_CNT 0x90
#define EDU_REG_DMA_CMD 0x98
#define EDU_DMA_START 0x1
#define EDU_DMA_FROM_DEV 0x2 /* edu buffer -> IOVA; clear: IOVA -> buffer */
#define EDU_BUF 0x40000
#define EDU_BUF_SIZE 4096
#define EDU_DMA_MASK ((1ULL << 28) - 1)

struct edu {
	char bdf[256];
	int fd;			/* /dev/vfio/devices/vfioN */
	volatile uint8_t *bar0;
	size_t bar0_size;
	uint32_t dev_id;	/* iommufd device ID after bind */
};

/* A hex value from /sys/bus/pci/devices/BDF/ATTR, or 0 */
static inline unsigned int sysfs_hex(const char *bdf, const char *attr)
{
	unsigned int val = 0;
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%x", &val) != 1)
		val = 0;
	fclose(f);
	return val;
}

/* Find the idx-th edu device and its vfio cdev name; 0 on success. */
static inline int edu_find(int idx, char *bdf, size_t bdflen, char *cdev,
			   size_t cdevlen)
{
	struct dirent **names;
	int n, i, found = -1;

	n = scandir("/sys/bus/pci/devices", &names, NULL, alphasort);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char path[512];
		unsigned int v, d;

		if (names[i]->d_name[0] == '.')
			continue;
		v = sysfs_hex(names[i]->d_name, "vendor");
		d = sysfs_hex(names[i]->d_name, "device");
		if (v != EDU_VENDOR || d != EDU_DEVICE || idx--)
			continue;
		snprintf(bdf, bdflen, "%s", names[i]->d_name);
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/vfio-dev", names[i]->d_name);
		{
			DIR *dir = opendir(path);
			struct dirent *de;

			if (!dir)
				break;
			while ((de = readdir(dir)))
				if (!strncmp(de->d_name, "vfio", 4))
					snprintf(cdev, cdevlen,
						 "/dev/vfio/devices/%s",
						 de->d_name);
			closedir(dir);
		}
		found = 0;
		break;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return found;
}

/* Open the idx-th edu, bind it to iommufd and map its BAR0. */
static inline int edu_open(struct edu *e, int idx, int iommufd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = iommufd,
	};
	struct vfio_region_info reg = {
		.argsz = sizeof(reg), .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	struct vfio_region_info cfg = {
		.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	char cdev[300] = "";
	uint16_t cmd;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (edu_find(idx, e->bdf, sizeof(e->bdf), cdev, sizeof(cdev)) ||
	    !cdev[0])
		return -ENODEV;
	e->fd = open(cdev, O_RDWR);
	if (e->fd < 0)
		return -errno;
	if (ioctl(e->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	e->dev_id = bind.out_devid;
	if (ioctl(e->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) ||
	    ioctl(e->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		return -errno;
	e->bar0_size = reg.size;
	e->bar0 = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       e->fd, reg.offset);
	if (e->bar0 == MAP_FAILED) {
		e->bar0 = NULL;
		return -errno;
	}
	/* Let the device master the bus, or its DMA goes nowhere */
	if (pread(e->fd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		return -EIO;
	cmd |= PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY;
	if (pwrite(e->fd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		return -EIO;
	return 0;
}

static inline void edu_close(struct edu *e)
{
	if (e->bar0)
		munmap((void *)e->bar0, e->bar0_size);
	if (e->fd >= 0)
		close(e->fd);
	e->bar0 = NULL;
	e->fd = -1;
}

static inline uint32_t edu_rd32(struct edu *e, unsigned int off)
{
	return *(volatile uint32_t *)(e->bar0 + off);
}

static inline void edu_wr32(struct edu *e, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(e->bar0 + off) = v;
}

static inline void edu_wr64(struct edu *e, unsigned int off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar0 + off) = v;
}

/*
 * Run one DMA of len bytes between IOVA iova and the edu buffer at offset
 * off; to_dev copies IOVA -> buffer. 0 when the engine finished; the
 * caller checks the bytes (a blocked DMA finishes too, moving nothing).
 */
static inline int edu_dma(struct edu *e, uint64_t iova, unsigned int off,
			  unsigned int len, bool to_dev)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	if (iova & ~EDU_DMA_MASK || off + len > EDU_BUF_SIZE)
		return -EINVAL;
	edu_wr64(e, EDU_REG_DMA_SRC, to_dev ? iova : EDU_BUF + off);
	edu_wr64(e, EDU_REG_DMA_DST, to_dev ? EDU_BUF + off : iova);
	edu_wr64(e, EDU_REG_DMA_CNT, len);
	edu_wr64(e, EDU_REG_DMA_CMD,
		 EDU_DMA_START | (to_dev ? 0 : EDU_DMA_FROM_DEV));
	for (i = 0; i < 5000; i++) {
		if (!(edu_rd32(e, EDU_REG_DMA_CMD) & EDU_DMA_START))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/*
 * Interrupts. edu signals its MSI on every write to EDU_REG_IRQ_RAISE
 * while MSI is enabled (else it asserts INTx until the status is clear).
 * The MSI is a memory write of the device, so it needs bus mastering,
 * which edu_open() turns on.
 */
static inline int edu_set_irqs(struct edu *e, uint32_t flags, uint32_t count,
			       int efd)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),	/* the fd unused for count 0 */
			.flags = flags | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSI_IRQ_INDEX,
			.count = count,
		},
		.fd = efd,
	};

	return ioctl(e->fd, VFIO_DEVICE_SET_IRQS, &irq) ? -errno : 0;
}

/* MSI on, signalling eventfd efd */
static inline int edu_msi_enable(struct edu *e, int efd)
{
	return edu_set_irqs(e, VFIO_IRQ_SET_DATA_EVENTFD, 1, efd);
}

static inline int edu_msi_disable(struct edu *e)
{
	return edu_set_irqs(e, VFIO_IRQ_SET_DATA_NONE, 0, -1);
}

static inline void edu_raise_irq(struct edu *e, uint32_t val)
{
	edu_wr32(e, EDU_REG_IRQ_RAISE, val);
}

static inline void edu_ack_irq(struct edu *e, uint32_t val)
{
	edu_wr32(e, EDU_REG_IRQ_ACK, val);
}

static inline uint32_t edu_irq_status(struct edu *e)
{
	return edu_rd32(e, EDU_REG_IRQ_STATUS);
}

/*
 * The MSI message the host kernel programmed into the device, from the
 * real config space in sysfs (VFIO shows the user a virtualized MSI
 * capability). 1 if MSI is enabled, 0 if not, or -errno.
 */
static inline int edu_msi_msg(struct edu *e, uint64_t *addr, uint32_t *data)
{
	uint8_t cfg[256];
	char path[512];
	unsigned int pos, n = 0;
	uint16_t flags;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", e->bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	len = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (len != sizeof(cfg))
		return -EIO;
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return -ENOENT;
	for (pos = cfg[PCI_CAPABILITY_LIST] & ~3; pos && n++ < 48;
	     pos = cfg[pos + PCI_CAP_LIST_NEXT] & ~3) {
		if (pos > sizeof(cfg) - 16)
			break;
		if (cfg[pos + PCI_CAP_LIST_ID] != PCI_CAP_ID_MSI)
			continue;
		memcpy(&flags, &cfg[pos + PCI_MSI_FLAGS], 2);
		*addr = 0;
		memcpy(addr, &cfg[pos + PCI_MSI_ADDRESS_LO], 4);
		*data = 0;
		if (flags & PCI_MSI_FLAGS_64BIT) {
			memcpy((uint8_t *)addr + 4,
			       &cfg[pos + PCI_MSI_ADDRESS_HI], 4);
			memcpy(data, &cfg[pos + PCI_MSI_DATA_64], 2);
		} else {
			memcpy(data, &cfg[pos + PCI_MSI_DATA_32], 2);
		}
		return !!(flags & PCI_MSI_FLAGS_ENABLE);
	}
	return -ENOENT;
}

/*
 * Wait up to timeout_ms for eventfd efd: its count (> 0, and reset to 0),
 * 0 on timeout, or -errno. timeout_ms 0 only looks.
 */
static inline int eventfd_wait(int efd, int timeout_ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t cnt;
	int rc;

	do {
		rc = poll(&pfd, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (!rc)
		return 0;
	if (read(efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return errno == EAGAIN ? 0 : -errno;
	return cnt > INT32_MAX ? INT32_MAX : (int)cnt;
}

#endif
