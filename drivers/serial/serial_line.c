/* serial_line.c — the serial-line driver: ASCII request/response instruments.
 *
 * Every channel of a serial-line profile has a read command and reply template, and a writable
 * one a write command and (optionally) a reply template; see lineproto.h for the template
 * language and docs/drivers.md for profiles.  One request is outstanding at a time: write the
 * command and the output terminator, collect bytes until the input terminator, parse.  A reply
 * that does not match its template is an error, never a value; after any error the input is
 * flushed so a late reply cannot be taken for the answer to the next command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "error.h"
#include "lineproto.h"
#include "log.h"
#include "port.h"
#include "util.h"

struct tmpls {
	struct metro_line_tmpl *rcmd, *rrep, *wcmd, *wrep;
};

struct sl {
	struct metro_port *port;
	const struct metro_profile *profile;
	const struct metro_connection_conf *conn;
	struct tmpls *t; /* indexed by channel index */
	char oterm[8], iterm[8];
	size_t otermlen, itermlen;
	char desc[200];
	char err[400];
	char rx[4200];
	size_t rxlen;
};

static void free_tmpls(struct sl *s)
{
	if (!s->t)
		return;
	for (size_t i = 0; i < s->profile->nchannels; i++) {
		metro_line_destroy(&s->t[i].rcmd);
		metro_line_destroy(&s->t[i].rrep);
		metro_line_destroy(&s->t[i].wcmd);
		metro_line_destroy(&s->t[i].wrep);
	}
	free(s->t);
}

static void sl_close(void *handle)
{
	struct sl *s = handle;
	if (!s)
		return;
	metro_port_close(&s->port);
	free_tmpls(s);
	free(s);
}

static int compile(const char *src, enum metro_line_dir dir, struct metro_line_tmpl **out,
		   const struct metro_channel *c, char *err, size_t errlen)
{
	if (!src)
		return METRO_OK;
	char why[200];
	if (metro_line_compile(src, dir, out, why, sizeof why)) {
		snprintf(err, errlen, "profile %s: channel %s: template '%s': %s", c->name, c->name,
			 src, why);
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

static int sl_open(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen)
{
	struct sl *s = metro_calloc(1, sizeof *s);
	s->profile = c->profile;
	s->conn = c->conn;
	const struct metro_profile *p = c->profile;
	char why[200];
	if (metro_line_unescape(p->out_terminator ? p->out_terminator : "\r\n", s->oterm,
				sizeof s->oterm, &s->otermlen, why, sizeof why) ||
	    metro_line_unescape(p->in_terminator ? p->in_terminator : "\r\n", s->iterm,
				sizeof s->iterm, &s->itermlen, why, sizeof why) ||
	    !s->itermlen) {
		snprintf(err, errlen, "profile %s: bad terminator", p->path);
		free(s);
		return METRO_E_INVAL;
	}
	s->t = metro_calloc(p->nchannels, sizeof *s->t);
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *ch = &p->channels[i];
		if (compile(ch->read_cmd, METRO_LINE_OUT, &s->t[i].rcmd, ch, err, errlen) ||
		    compile(ch->read_reply, METRO_LINE_IN, &s->t[i].rrep, ch, err, errlen) ||
		    compile(ch->write_cmd, METRO_LINE_OUT, &s->t[i].wcmd, ch, err, errlen) ||
		    compile(ch->write_reply, METRO_LINE_IN, &s->t[i].wrep, ch, err, errlen)) {
			sl_close(s);
			return METRO_E_INVAL;
		}
	}
	int rc = metro_port_open(c->conn, &s->port, err, errlen);
	if (rc) {
		sl_close(s);
		return rc;
	}
	snprintf(s->desc, sizeof s->desc, "serial-line %s (%s) %ld %ld%c%ld",
		 metro_port_path(s->port), metro_port_backend(s->port), c->conn->baud,
		 c->conn->data_bits, c->conn->parity, c->conn->stop_bits);
	*handle = s;
	return METRO_OK;
}

/* Printable rendering of bytes for messages. */
static void show(const char *b, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)b[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X", ch);
	}
	out[o] = '\0';
}

/* Send one request and, if a reply template is given, receive and parse the reply. */
static int transact(struct sl *s, const struct metro_channel *ch, const char *what,
		    const struct metro_line_tmpl *cmd, const struct metro_line_value *args,
		    size_t nargs, const struct metro_line_tmpl *reply,
		    struct metro_line_value *vals, size_t *nvals)
{
	char req[512], why[200];
	size_t len;
	if (metro_line_format(cmd, args, nargs, req, sizeof req - s->otermlen, &len, why,
			      sizeof why)) {
		snprintf(s->err, sizeof s->err, "%s: %s %s: %s", s->desc, ch->name, what, why);
		return METRO_E_RANGE;
	}
	memcpy(req + len, s->oterm, s->otermlen);
	int timeout = (int)s->conn->timeout_ms;
	s->rxlen = 0;
	int rc = metro_port_write(s->port, req, len + s->otermlen, timeout);
	char shown[300];
	show(req, len, shown, sizeof shown);
	if (rc) {
		snprintf(s->err, sizeof s->err, "%s: %s %s '%s': %s", s->desc, ch->name, what,
			 shown, rc == METRO_E_TIMEOUT ? "write timed out" : "write failed");
		return rc;
	}
	if (!reply)
		return METRO_OK;
	uint64_t deadline = metro_now_ns() + (uint64_t)timeout * 1000000u;
	size_t frame = 0;
	for (;;) {
		int f = metro_line_frame(s->rx, s->rxlen, s->iterm, s->itermlen,
					 s->profile->max_reply, &frame);
		if (f == 1)
			break;
		if (f < 0) {
			snprintf(s->err, sizeof s->err,
				 "%s: %s %s '%s': reply longer than %u bytes", s->desc, ch->name,
				 what, shown, s->profile->max_reply);
			metro_port_flush(s->port);
			return METRO_E_PROTO;
		}
		uint64_t now = metro_now_ns();
		if (now >= deadline || s->rxlen >= sizeof s->rx) {
			char got[300];
			show(s->rx, s->rxlen, got, sizeof got);
			snprintf(s->err, sizeof s->err,
				 "%s: %s %s '%s': no complete reply within %d ms (got '%s')",
				 s->desc, ch->name, what, shown, timeout, got);
			metro_port_flush(s->port);
			return METRO_E_TIMEOUT;
		}
		int n = metro_port_read(s->port, s->rx + s->rxlen, sizeof s->rx - s->rxlen,
					(int)((deadline - now) / 1000000u) + 1);
		if (n < 0) {
			snprintf(s->err, sizeof s->err, "%s: %s %s '%s': read failed", s->desc,
				 ch->name, what, shown);
			return n;
		}
		s->rxlen += (size_t)n;
	}
	rc = metro_line_parse(reply, s->rx, frame, vals, nvals, why, sizeof why);
	if (rc) {
		char got[300];
		show(s->rx, frame, got, sizeof got);
		snprintf(s->err, sizeof s->err, "%s: %s %s '%s': reply '%s' %s", s->desc, ch->name,
			 what, shown, got, why);
		metro_port_flush(s->port);
		return METRO_E_PROTO;
	}
	/* Bytes after the frame belong to no request: drop them. */
	if (s->rxlen > frame + s->itermlen)
		metro_port_flush(s->port);
	return METRO_OK;
}

static double as_double(const struct metro_line_value *v)
{
	switch (v->type) {
	case METRO_LINE_INT:
		return (double)v->i;
	case METRO_LINE_UINT:
		return (double)v->u;
	default:
		return v->f;
	}
}

static int sl_read(void *handle, const struct metro_channel *const *chs, size_t n, double *values)
{
	struct sl *s = handle;
	for (size_t i = 0; i < n; i++) {
		const struct metro_channel *ch = chs[i];
		const struct tmpls *t = &s->t[ch->index];
		struct metro_line_value arg = {.type = METRO_LINE_INT, .i = ch->position};
		struct metro_line_value vals[METRO_LINE_MAX_VALUES];
		size_t nv = METRO_LINE_MAX_VALUES;
		if (!t->rcmd || !t->rrep) {
			snprintf(s->err, sizeof s->err, "%s: %s has no read command", s->desc,
				 ch->name);
			return METRO_E_INVAL;
		}
		int rc = transact(s, ch, "read", t->rcmd, &arg, metro_line_nvalues(t->rcmd),
				  t->rrep, vals, &nv);
		if (rc)
			return rc;
		if (nv != 1 || vals[0].type == METRO_LINE_STR) {
			snprintf(s->err, sizeof s->err,
				 "%s: %s: reply holds %zu values, not one number", s->desc,
				 ch->name, nv);
			return METRO_E_PROTO;
		}
		values[i] = as_double(&vals[0]);
	}
	return METRO_OK;
}

static int sl_write(void *handle, const struct metro_channel *ch, double value)
{
	struct sl *s = handle;
	const struct tmpls *t = &s->t[ch->index];
	if (!ch->writable || !t->wcmd) {
		snprintf(s->err, sizeof s->err, "%s: %s is not writable", s->desc, ch->name);
		return METRO_E_INVAL;
	}
	struct metro_line_value args[2];
	size_t nargs = metro_line_nvalues(t->wcmd);
	args[0] = (struct metro_line_value){.type = METRO_LINE_INT, .i = ch->position};
	args[nargs >= 2 ? 1 : 0] = (struct metro_line_value){.type = METRO_LINE_DOUBLE, .f = value};
	struct metro_line_value vals[METRO_LINE_MAX_VALUES];
	size_t nv = METRO_LINE_MAX_VALUES;
	return transact(s, ch, "write", t->wcmd, args, nargs, t->wrep, vals, &nv);
}

static void sl_describe(void *handle, char *buf, size_t len)
{
	struct sl *s = handle;
	metro_strlcpy(buf, s->desc, len);
}

static const char *sl_last_error(void *handle)
{
	struct sl *s = handle;
	return s->err;
}

const struct metro_driver metro_driver_serial_line = {
	.abi_version = METRO_DRIVER_ABI_VERSION,
	.name = "serial-line",
	.summary = "ASCII request/response over a serial port (libserialport; termios for ptys)",
	.transport = "serial-line",
	.open = sl_open,
	.close = sl_close,
	.read = sl_read,
	.write = sl_write,
	.describe = sl_describe,
	.identify = NULL,
	.query = NULL,
	.last_error = sl_last_error,
};
