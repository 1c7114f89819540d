#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libserialport.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "util.h"

struct metro_port {
	char path[PATH_MAX];
	struct sp_port *sp; /* libserialport backend */
	int fd;		    /* termios backend */
};

static speed_t speed_of(long baud)
{
	switch (baud) {
	case 1200:
		return B1200;
	case 2400:
		return B2400;
	case 4800:
		return B4800;
	case 19200:
		return B19200;
	case 38400:
		return B38400;
	case 57600:
		return B57600;
	case 115200:
		return B115200;
	case 230400:
		return B230400;
	default:
		return B9600;
	}
}

static int open_termios(struct metro_port *p, const struct metro_connection_conf *c, char *err,
			size_t errlen)
{
	p->fd = open(p->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (p->fd < 0) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		return errno == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	}
	struct termios t;
	if (tcgetattr(p->fd, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, speed_of(c->baud));
		cfsetospeed(&t, speed_of(c->baud));
		t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
		t.c_cflag |= (c->data_bits == 7 ? CS7 : CS8) | CLOCAL | CREAD;
		if (c->parity != 'N')
			t.c_cflag |= PARENB | (c->parity == 'O' ? PARODD : 0);
		if (c->stop_bits == 2)
			t.c_cflag |= CSTOPB;
		tcsetattr(p->fd, TCSANOW, &t);
	}
	return METRO_OK;
}

static int sp_fail(struct metro_port *p, const char *what, char *err, size_t errlen)
{
	char *msg = sp_last_error_message();
	snprintf(err, errlen, "%s: %s: %s", p->path, what, msg ? msg : "error");
	sp_free_error_message(msg);
	return METRO_E_IO;
}

static int open_sp(struct metro_port *p, const struct metro_connection_conf *c, char *err,
		   size_t errlen)
{
	if (sp_get_port_by_name(p->path, &p->sp) != SP_OK)
		return sp_fail(p, "no such port", err, errlen);
	if (sp_open(p->sp, SP_MODE_READ_WRITE) != SP_OK) {
		int rc = sp_fail(p, "open", err, errlen);
		sp_free_port(p->sp);
		p->sp = NULL;
		return rc;
	}
	enum sp_parity par = c->parity == 'E'	? SP_PARITY_EVEN
			     : c->parity == 'O' ? SP_PARITY_ODD
						: SP_PARITY_NONE;
	if (sp_set_baudrate(p->sp, (int)c->baud) != SP_OK ||
	    sp_set_bits(p->sp, (int)c->data_bits) != SP_OK || sp_set_parity(p->sp, par) != SP_OK ||
	    sp_set_stopbits(p->sp, (int)c->stop_bits) != SP_OK ||
	    sp_set_flowcontrol(p->sp, SP_FLOWCONTROL_NONE) != SP_OK) {
		int rc = sp_fail(p, "configure", err, errlen);
		sp_close(p->sp);
		sp_free_port(p->sp);
		p->sp = NULL;
		return rc;
	}
	return METRO_OK;
}

int metro_port_open(const struct metro_connection_conf *conn, struct metro_port **out, char *err,
		    size_t errlen)
{
	struct metro_port *p = metro_calloc(1, sizeof *p);
	p->fd = -1;
	if (!realpath(conn->device, p->path)) {
		snprintf(err, errlen, "%s: %s", conn->device, strerror(errno));
		free(p);
		*out = NULL;
		return errno == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	}
	int pty = !strncmp(p->path, "/dev/pts/", 9);
	int rc = pty ? open_termios(p, conn, err, errlen) : open_sp(p, conn, err, errlen);
	if (rc) {
		free(p);
		*out = NULL;
		return rc;
	}
	*out = p;
	return METRO_OK;
}

void metro_port_close(struct metro_port **pp)
{
	struct metro_port *p = *pp;
	if (!p)
		return;
	if (p->sp) {
		sp_close(p->sp);
		sp_free_port(p->sp);
	}
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	*pp = NULL;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {fd, events, 0};
	int rc;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int metro_port_write(struct metro_port *p, const void *buf, size_t n, int timeout_ms)
{
	if (p->sp) {
		int rc = sp_blocking_write(p->sp, buf, n, (unsigned)timeout_ms);
		if (rc < 0)
			return METRO_E_IO;
		return (size_t)rc == n ? METRO_OK : METRO_E_TIMEOUT;
	}
	const char *b = buf;
	uint64_t deadline = metro_now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (n) {
		ssize_t w = write(p->fd, b, n);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return METRO_E_IO;
		uint64_t now = metro_now_ns();
		if (now >= deadline)
			return METRO_E_TIMEOUT;
		if (wait_fd(p->fd, POLLOUT, (int)((deadline - now) / 1000000u) + 1) == 0)
			return METRO_E_TIMEOUT;
	}
	return METRO_OK;
}

int metro_port_read(struct metro_port *p, void *buf, size_t cap, int timeout_ms)
{
	if (p->sp) {
		int rc = sp_blocking_read_next(p->sp, buf, cap, (unsigned)timeout_ms);
		return rc < 0 ? METRO_E_IO : rc;
	}
	int rc = wait_fd(p->fd, POLLIN, timeout_ms);
	if (rc < 0)
		return METRO_E_IO;
	if (rc == 0)
		return 0;
	ssize_t r = read(p->fd, buf, cap);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : METRO_E_IO;
	if (r == 0)
		return METRO_E_CLOSED; /* the other end of the pty went away */
	return (int)r;
}

void metro_port_flush(struct metro_port *p)
{
	if (p->sp) {
		sp_flush(p->sp, SP_BUF_INPUT);
		return;
	}
	char junk[256];
	while (read(p->fd, junk, sizeof junk) > 0)
		;
	tcflush(p->fd, TCIFLUSH);
}

const char *metro_port_path(const struct metro_port *p)
{
	return p->path;
}

const char *metro_port_backend(const struct metro_port *p)
{
	return p->sp ? "libserialport" : "termios";
}
