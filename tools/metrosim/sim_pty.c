/* sim_pty.c — pseudo-terminal for the RTU and serial-line modes.
 *
 * The master side is metrosim's end of the "cable", the slave device (/dev/pts/N) is what a
 * client opens as its serial port.  Two details matter:
 *   - The line is put in raw mode at once.  A fresh pty echoes and translates CR/LF; a client
 *     that opens it with its own termios settings fixes its side, but bytes sent before that
 *     (or by a client that does not touch termios) must not be echoed back into our replies.
 *   - metrosim keeps one descriptor of the slave open itself.  Without it, every time the last
 *     client closes the slave, reads on the master fail with EIO (and poll reports POLLHUP)
 *     until somebody opens it again: a client that reconnects must find the simulator as it
 *     left it, like a real instrument on a real cable.
 */
#include "sim_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

static speed_t speed_of(long baud)
{
	static const struct {
		long baud;
		speed_t s;
	} tab[] = {
		{1200, B1200},	   {2400, B2400},     {4800, B4800},	 {9600, B9600},
		{19200, B19200},   {38400, B38400},   {57600, B57600},	 {115200, B115200},
		{230400, B230400}, {460800, B460800}, {921600, B921600},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(tab); i++)
		if (tab[i].baud == baud)
			return tab[i].s;
	return B115200;
}

int sim_pty_open(struct sim_pty *p, long baud, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->master = p->slave_keep = -1;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, p->path, sizeof p->path)) {
		snprintf(err, errlen, "cannot create a pseudo-terminal: %s", strerror(errno));
		if (m >= 0)
			close(m);
		return METRO_E_IO;
	}
	int s = open(p->path, O_RDWR | O_NOCTTY);
	if (s < 0) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		close(m);
		return METRO_E_IO;
	}
	struct termios t;
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		cfsetispeed(&t, speed_of(baud));
		cfsetospeed(&t, speed_of(baud));
		tcsetattr(s, TCSANOW, &t);
	}
	/* The master side in raw mode too: nothing we write may be translated. */
	if (tcgetattr(m, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(m, TCSANOW, &t);
	}
	int fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);
	fcntl(m, F_SETFD, FD_CLOEXEC);
	fcntl(s, F_SETFD, FD_CLOEXEC);
	p->master = m;
	p->slave_keep = s;
	return METRO_OK;
}

int sim_pty_link(struct sim_pty *p, const char *link, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(link, &st) == 0 && !S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "--pty-link %s: exists and is not a symbolic link", link);
		return METRO_E_EXISTS;
	}
	/* Create the new link beside the old one and rename it over: a client never sees the
	 * path missing. */
	char *tmp = metro_asprintf("%s.%ld.tmp", link, (long)getpid());
	unlink(tmp);
	if (symlink(p->path, tmp) || rename(tmp, link)) {
		snprintf(err, errlen, "--pty-link %s: %s", link, strerror(errno));
		unlink(tmp);
		free(tmp);
		return METRO_E_IO;
	}
	free(tmp);
	p->link = metro_strdup(link);
	return METRO_OK;
}

void sim_pty_close(struct sim_pty *p)
{
	if (p->link) {
		char target[PATH_MAX];
		ssize_t n = readlink(p->link, target, sizeof target - 1);
		if (n > 0) {
			target[n] = '\0';
			if (!strcmp(target, p->path))
				unlink(p->link);
		}
		free(p->link);
		p->link = NULL;
	}
	if (p->slave_keep >= 0)
		close(p->slave_keep);
	if (p->master >= 0)
		close(p->master);
	p->slave_keep = p->master = -1;
}
