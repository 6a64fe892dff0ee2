/* devices.c: vmwait-vmm's devices: "IO disk", "vhost-<pid>" and its UDP echo peer. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm.h"

#define DISK_FILE_BLOCKS	256
#define WAIT_BLOCKED_NS		2000000000ULL
#define NET_PACKET		64

/* Create the disk file, fill it, and reopen it for reads that reach the block device. */
static int disk_open(struct vmm *m, const char *disk_file, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	const char *dir;
	int fd, i, ret = -1;
	ssize_t n;

	if (disk_file) {
		snprintf(m->disk_path, sizeof(m->disk_path), "%s", disk_file);
	} else {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/var/tmp";
		snprintf(m->disk_path, sizeof(m->disk_path), "%s/vmwait-vmm-disk.%d", dir, m->pid);
	}
	fd = open(m->disk_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create disk file %s: %s", m->disk_path, strerror(errno));
		return -1;
	}
	m->disk_unlink = true;
	if (posix_memalign((void **)&buf, 4096, DISK_BLOCK)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < DISK_FILE_BLOCKS; i++) {
		memset(buf, 'a' + i % 26, DISK_BLOCK);
		if (pwrite(fd, buf, DISK_BLOCK, (off_t)i * DISK_BLOCK) != DISK_BLOCK) {
			snprintf(err, errlen, "cannot write disk file %s: %s", m->disk_path,
				 strerror(errno));
			goto out;
		}
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "cannot sync disk file %s: %s", m->disk_path, strerror(errno));
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	m->disk_blocks = DISK_FILE_BLOCKS;
	/* O_DIRECT where the filesystem has it (not tmpfs); else drop the cache before each read. */
	m->disk_fd = open(m->disk_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	m->disk_direct = m->disk_fd >= 0;
	if (m->disk_direct) {
		n = pread(m->disk_fd, buf, DISK_BLOCK, 0);
		if (n != DISK_BLOCK) {
			close(m->disk_fd);
			m->disk_direct = false;
		}
	}
	if (!m->disk_direct)
		m->disk_fd = open(m->disk_path, O_RDONLY | O_CLOEXEC);
	if (m->disk_fd < 0) {
		snprintf(err, errlen, "cannot open disk file %s: %s", m->disk_path, strerror(errno));
		goto out;
	}
	/* Open descriptors keep it: remove it now, so nothing is left behind even if we are killed. */
	unlink(m->disk_path);
	m->disk_unlink = false;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

/* The echo peer, a child process: send every datagram back to its sender. */
static void echo_main(int sock, pid_t parent)
{
	char buf[2048];
	struct sockaddr_in from;
	socklen_t len;
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "udp-echo");
	for (;;) {
		len = sizeof(from);
		n = recvfrom(sock, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		sendto(sock, buf, n, 0, (struct sockaddr *)&from, len);
	}
}

/* Start the UDP echo peer on 127.0.0.1 and connect the vhost socket to it. */
static int net_open(struct vmm *m, char *err, size_t errlen)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	socklen_t len = sizeof(a);
	int es;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	es = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (es < 0 || bind(es, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(es, (struct sockaddr *)&a, &len) < 0) {
		snprintf(err, errlen, "cannot bind a UDP socket on 127.0.0.1: %s", strerror(errno));
		if (es >= 0)
			close(es);
		return -1;
	}
	m->echo_port = ntohs(a.sin_port);
	m->echo_pid = fork();
	if (m->echo_pid < 0) {
		m->echo_pid = 0;
		snprintf(err, errlen, "cannot fork the echo peer: %s", strerror(errno));
		close(es);
		return -1;
	}
	if (m->echo_pid == 0)
		echo_main(es, m->pid);
	close(es);
	m->net_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (m->net_sock < 0 || connect(m->net_sock, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(m->net_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(err, errlen, "cannot connect to the echo peer: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Files, sockets and the echo process; call before any thread exists (it forks). */
int devices_open(struct vmm *m, const char *disk_file, char *err, size_t errlen)
{
	m->disk.efd = eventfd(0, EFD_CLOEXEC);
	m->net.efd = eventfd(0, EFD_CLOEXEC);
	if (m->disk.efd < 0 || m->net.efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if (disk_open(m, disk_file, err, errlen) < 0)
		return -1;
	return net_open(m, err, errlen);
}

/* Publish the calling thread's tid in D and name it. */
static void device_hello(struct vmm *m, struct device *d, const char *name)
{
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&m->lock);
	d->tid = gettid();
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Block until the device's doorbell rings; returns -1 when stopping. */
static int device_wait(struct vmm *m, struct device *d)
{
	uint64_t n;

	for (;;) {
		if (read(d->efd, &n, 8) == 8)
			return vmm_stopping(m) ? -1 : 0;
		if (errno != EINTR) {
			vmm_fail(m, "doorbell read: %s", strerror(errno));
			return -1;
		}
	}
}

/* The disk: read a block (O_DIRECT, or with the page cache dropped), then raise GSI_DISK. */
static void *disk_thread(void *arg)
{
	struct vmm *m = arg;
	struct kvm_irq_level irq = { .irq = GSI_DISK };
	int target;
	off_t off;

	device_hello(m, &m->disk, "IO disk");
	while (device_wait(m, &m->disk) == 0) {
		pthread_mutex_lock(&m->lock);
		target = m->disk.target;
		off = (off_t)(m->disk.block % m->disk_blocks) * DISK_BLOCK;
		pthread_mutex_unlock(&m->lock);
		if (!m->disk_direct)
			posix_fadvise(m->disk_fd, off, DISK_BLOCK, POSIX_FADV_DONTNEED);
		if (pread(m->disk_fd, m->mem + DISK_BUF, DISK_BLOCK, off) != DISK_BLOCK) {
			vmm_fail(m, "disk read of %s: %s", m->disk_path, strerror(errno));
			break;
		}
		if (vcpu_wait_blocked(m, &m->vcpus[target], WAIT_BLOCKED_NS) < 0)
			break;
		pthread_mutex_lock(&m->lock);
		m->disk.raise_ns = now_ns();
		pthread_mutex_unlock(&m->lock);
		irq.level = 1;	/* edge: assert, then deassert */
		if (ioctl(m->vm, KVM_IRQ_LINE, &irq) < 0) {
			vmm_fail(m, "KVM_IRQ_LINE %d: %s", GSI_DISK, strerror(errno));
			break;
		}
		irq.level = 0;
		ioctl(m->vm, KVM_IRQ_LINE, &irq);
	}
	return NULL;
}

/* The net backend: a UDP round trip to the echo peer, then an MSI to the vCPU. */
static void *vhost_thread(void *arg)
{
	struct vmm *m = arg;
	char name[16], pkt[NET_PACKET], reply[2048];
	struct kvm_msi msi = { .data = VEC_NET };	/* fixed, edge */
	uint64_t seq = 0;
	int target;
	ssize_t n;

	snprintf(name, sizeof(name), "vhost-%d", m->pid);
	device_hello(m, &m->net, name);
	while (device_wait(m, &m->net) == 0) {
		pthread_mutex_lock(&m->lock);
		target = m->net.target;
		if (m->net_ioeventfd)
			m->net.kick_ns = now_ns();
		pthread_mutex_unlock(&m->lock);
		memset(pkt, 0, sizeof(pkt));
		seq++;
		memcpy(pkt, &seq, sizeof(seq));
		if (send(m->net_sock, pkt, sizeof(pkt), 0) != sizeof(pkt)) {
			vmm_fail(m, "send to the echo peer: %s", strerror(errno));
			break;
		}
		do
			n = recv(m->net_sock, reply, sizeof(reply), 0);
		while (n < 0 && errno == EINTR);
		if (n != sizeof(pkt) || memcmp(reply, pkt, sizeof(pkt))) {
			vmm_fail(m, "no echo from 127.0.0.1:%d: %s", m->echo_port,
				 n < 0 ? strerror(errno) : "bad reply");
			break;
		}
		if (vcpu_wait_blocked(m, &m->vcpus[target], WAIT_BLOCKED_NS) < 0)
			break;
		msi.address_lo = LAPIC_BASE | (target << 12);	/* physical destination */
		pthread_mutex_lock(&m->lock);
		m->net.raise_ns = now_ns();
		pthread_mutex_unlock(&m->lock);
		if (ioctl(m->vm, KVM_SIGNAL_MSI, &msi) < 0) {
			vmm_fail(m, "KVM_SIGNAL_MSI: %s", strerror(errno));
			break;
		}
	}
	return NULL;
}

/* Start a device thread and wait for its tid. */
static int device_start(struct vmm *m, struct device *d, void *(*fn)(void *), const char *what)
{
	int r = pthread_create(&d->thread, NULL, fn, m);

	if (r) {
		vmm_fail(m, "cannot start the %s thread: %s", what, strerror(r));
		return -1;
	}
	d->started = true;
	pthread_mutex_lock(&m->lock);
	while (!d->tid && !m->stop)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	return vmm_stopping(m) ? -1 : 0;
}

/* Register the net doorbell as an ioeventfd (as vhost does) and start the device threads. */
int devices_start(struct vmm *m)
{
	struct kvm_ioeventfd ev = {
		.addr = PORT_NET, .len = 1, .fd = m->net.efd, .flags = KVM_IOEVENTFD_FLAG_PIO,
	};

	/* Without ioeventfd the vCPU thread forwards the doorbell from its exit. */
	m->net_ioeventfd = ioctl(m->vm, KVM_IOEVENTFD, &ev) == 0;
	if (device_start(m, &m->disk, disk_thread, "disk") < 0)
		return -1;
	return device_start(m, &m->net, vhost_thread, "vhost");
}

/* Wake the device threads so they see the stop flag, and join them. */
void devices_stop(struct vmm *m)
{
	uint64_t one = 1;
	struct device *ds[2] = { &m->disk, &m->net };
	int i;

	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < 2; i++) {
		if (!ds[i]->started)
			continue;
		if (write(ds[i]->efd, &one, 8) != 8)
			pthread_kill(ds[i]->thread, SIGUSR1);
		pthread_join(ds[i]->thread, NULL);
		ds[i]->started = false;
	}
}

/* Close files and sockets, remove the disk file, end the echo peer. */
void devices_close(struct vmm *m)
{
	if (m->echo_pid > 0) {
		kill(m->echo_pid, SIGKILL);
		waitpid(m->echo_pid, NULL, 0);
		m->echo_pid = 0;
	}
	if (m->net_sock >= 0)
		close(m->net_sock);
	if (m->disk_fd >= 0)
		close(m->disk_fd);
	if (m->disk_unlink)
		unlink(m->disk_path);
	if (m->disk.efd >= 0)
		close(m->disk.efd);
	if (m->net.efd >= 0)
		close(m->net.efd);
}
