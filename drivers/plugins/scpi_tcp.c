/* scpi_tcp.c — an example plugin driver: SCPI instruments over raw TCP (port 5025 style).
 *
 * Built as a shared object (build/plugins/scpi-tcp.so) and loaded at run time when a
 * configuration names it under `driver_plugins:`.  It shows what a plugin needs: one exported
 * symbol, `metro_driver_plugin`, holding the ops table with the ABI version it was built for.
 * Functions of metrod it calls (the line templates) are resolved against the daemon, which is
 * linked with -rdynamic.
 *
 * Protocol: one command per line ("\n"), one reply line per query, as SCPI instruments do on
 * their raw socket.  The channels come from a serial-line profile: read.command is the query
 * (MEAS:VOLT?), read.reply the template of the answer ("%f"), write.command the setting
 * (SOUR:VOLT %.3f); writes are not answered in SCPI, so a write reply template is refused.
 * `identify` sends *IDN?.
 *
 * Build with METRO_PLUGIN_BAD_ABI defined to get a plugin that declares another ABI version:
 * the tests use it to check that metrod refuses it.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"
#include "error.h"
#include "lineproto.h"
#include "log.h"

struct scpi {
	int fd;
	int timeout_ms;
	const struct metro_profile *profile;
	struct metro_line_tmpl **rcmd, **rrep, **wcmd;
	char desc[160];
	char err[320];
	char rx[1024];
	size_t rxlen;
};

static void scpi_close(void *handle)
{
	struct scpi *s = handle;
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; s->rcmd && i < s->profile->nchannels; i++) {
		metro_line_destroy(&s->rcmd[i]);
		metro_line_destroy(&s->rrep[i]);
		metro_line_destroy(&s->wcmd[i]);
	}
	free(s->rcmd);
	free(s->rrep);
	free(s->wcmd);
	free(s);
}

static int scpi_open(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen)
{
	const struct metro_profile *p = c->profile;
	struct scpi *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->fd = -1;
	s->profile = p;
	s->timeout_ms = (int)c->conn->timeout_ms;
	s->rcmd = calloc(p->nchannels, sizeof *s->rcmd);
	s->rrep = calloc(p->nchannels, sizeof *s->rrep);
	s->wcmd = calloc(p->nchannels, sizeof *s->wcmd);
	if (!s->rcmd || !s->rrep || !s->wcmd)
		abort();
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *ch = &p->channels[i];
		char why[200];
		if ((ch->read_cmd && metro_line_compile(ch->read_cmd, METRO_LINE_OUT, &s->rcmd[i],
							why, sizeof why)) ||
		    (ch->read_reply && metro_line_compile(ch->read_reply, METRO_LINE_IN,
							  &s->rrep[i], why, sizeof why)) ||
		    (ch->write_cmd && metro_line_compile(ch->write_cmd, METRO_LINE_OUT, &s->wcmd[i],
							 why, sizeof why))) {
			snprintf(err, errlen, "scpi-tcp: channel %s: %s", ch->name, why);
			scpi_close(s);
			return METRO_E_INVAL;
		}
		if (ch->write_reply) {
			snprintf(err, errlen, "scpi-tcp: channel %s: SCPI settings have no reply",
				 ch->name);
			scpi_close(s);
			return METRO_E_INVAL;
		}
	}
	char port[16];
	snprintf(port, sizeof port, "%ld", c->conn->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(c->conn->host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "scpi-tcp %s:%s: %s", c->conn->host, port, gai_strerror(rc));
		scpi_close(s);
		return METRO_E_IO;
	}
	for (struct addrinfo *a = res; a && s->fd < 0; a = a->ai_next) {
		s->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (s->fd >= 0 && connect(s->fd, a->ai_addr, a->ai_addrlen) < 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (s->fd < 0) {
		snprintf(err, errlen, "scpi-tcp %s:%s: connect: %s", c->conn->host, port,
			 strerror(errno));
		scpi_close(s);
		return METRO_E_IO;
	}
	snprintf(s->desc, sizeof s->desc, "scpi-tcp %s:%s", c->conn->host, port);
	*handle = s;
	return METRO_OK;
}

static int send_line(struct scpi *s, const char *line, size_t len)
{
	char buf[600];
	if (len + 1 > sizeof buf)
		return METRO_E_RANGE;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			snprintf(s->err, sizeof s->err, "%s: send: %s", s->desc, strerror(errno));
			return METRO_E_CLOSED;
		}
		off += (size_t)w;
	}
	return METRO_OK;
}

/* Receive one reply line (without "\n") into s->rx; returns its length or an error. */
static int recv_line(struct scpi *s, size_t *len)
{
	uint64_t deadline = metro_now_ns() + (uint64_t)s->timeout_ms * 1000000u;
	for (;;) {
		char *nl = memchr(s->rx, '\n', s->rxlen);
		if (nl) {
			*len = (size_t)(nl - s->rx);
			return METRO_OK;
		}
		uint64_t now = metro_now_ns();
		if (now >= deadline || s->rxlen == sizeof s->rx) {
			snprintf(s->err, sizeof s->err, "%s: no reply line within %d ms", s->desc,
				 s->timeout_ms);
			return now >= deadline ? METRO_E_TIMEOUT : METRO_E_PROTO;
		}
		struct pollfd pfd = {s->fd, POLLIN, 0};
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		ssize_t r = recv(s->fd, s->rx + s->rxlen, sizeof s->rx - s->rxlen, 0);
		if (r <= 0) {
			snprintf(s->err, sizeof s->err, "%s: connection closed", s->desc);
			return METRO_E_CLOSED;
		}
		s->rxlen += (size_t)r;
	}
}

static int scpi_read(void *handle, const struct metro_channel *const *chs, size_t n, double *values)
{
	struct scpi *s = handle;
	for (size_t i = 0; i < n; i++) {
		const struct metro_channel *ch = chs[i];
		char cmd[512], why[200];
		size_t len, rlen;
		struct metro_line_value arg = {.type = METRO_LINE_INT, .i = ch->position};
		if (metro_line_format(s->rcmd[ch->index], &arg,
				      metro_line_nvalues(s->rcmd[ch->index]), cmd, sizeof cmd, &len,
				      why, sizeof why)) {
			snprintf(s->err, sizeof s->err, "%s: %s: %s", s->desc, ch->name, why);
			return METRO_E_RANGE;
		}
		s->rxlen = 0;
		int rc = send_line(s, cmd, len);
		if (!rc)
			rc = recv_line(s, &rlen);
		if (rc)
			return rc;
		if (rlen && s->rx[rlen - 1] == '\r')
			rlen--;
		struct metro_line_value v[METRO_LINE_MAX_VALUES];
		size_t nv = METRO_LINE_MAX_VALUES;
		if (metro_line_parse(s->rrep[ch->index], s->rx, rlen, v, &nv, why, sizeof why) ||
		    nv != 1 || v[0].type == METRO_LINE_STR) {
			snprintf(s->err, sizeof s->err, "%s: %s: reply '%.*s': %s", s->desc,
				 ch->name, (int)rlen, s->rx, why);
			return METRO_E_PROTO;
		}
		values[i] = v[0].type == METRO_LINE_DOUBLE ? v[0].f
			    : v[0].type == METRO_LINE_INT  ? (double)v[0].i
							   : (double)v[0].u;
	}
	return METRO_OK;
}

static int scpi_write(void *handle, const struct metro_channel *ch, double value)
{
	struct scpi *s = handle;
	if (!s->wcmd[ch->index]) {
		snprintf(s->err, sizeof s->err, "%s: %s is not writable", s->desc, ch->name);
		return METRO_E_INVAL;
	}
	struct metro_line_value args[2] = {{.type = METRO_LINE_INT, .i = ch->position},
					   {.type = METRO_LINE_DOUBLE, .f = value}};
	size_t nargs = metro_line_nvalues(s->wcmd[ch->index]);
	if (nargs == 1)
		args[0] = args[1];
	char cmd[512], why[200];
	size_t len;
	if (metro_line_format(s->wcmd[ch->index], args, nargs, cmd, sizeof cmd, &len, why,
			      sizeof why)) {
		snprintf(s->err, sizeof s->err, "%s: %s: %s", s->desc, ch->name, why);
		return METRO_E_RANGE;
	}
	return send_line(s, cmd, len);
}

static void scpi_describe(void *handle, char *buf, size_t len)
{
	struct scpi *s = handle;
	snprintf(buf, len, "%s", s->desc);
}

static int scpi_identify(void *handle, char *buf, size_t len)
{
	struct scpi *s = handle;
	size_t rlen;
	s->rxlen = 0;
	int rc = send_line(s, "*IDN?", 5);
	if (!rc)
		rc = recv_line(s, &rlen);
	if (!rc)
		snprintf(buf, len, "%.*s", (int)rlen, s->rx);
	return rc;
}

static const char *scpi_last_error(void *handle)
{
	struct scpi *s = handle;
	return s->err;
}

#ifdef METRO_PLUGIN_BAD_ABI
#define ABI (METRO_DRIVER_ABI_VERSION + 100)
#else
#define ABI METRO_DRIVER_ABI_VERSION
#endif

/* The one symbol metrod looks for. */
extern const struct metro_driver metro_driver_plugin;
const struct metro_driver metro_driver_plugin = {
	.abi_version = ABI,
	.name = "scpi-tcp",
	.summary = "SCPI instrument on a raw TCP socket (example plugin)",
	.transport = "serial-line",
	.open = scpi_open,
	.close = scpi_close,
	.read = scpi_read,
	.write = scpi_write,
	.describe = scpi_describe,
	.identify = scpi_identify,
	.query = NULL,
	.last_error = scpi_last_error,
};
