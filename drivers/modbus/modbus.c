/* modbus.c — the modbus-tcp and modbus-rtu drivers: one implementation over libmodbus.
 *
 * As in libmodbus itself, TCP and RTU differ only in how the context is created; after that
 * every operation is the same.  Reads are planned: the requested channels are grouped by table,
 * sorted by address and merged into as few transactions as the protocol allows (125 registers
 * or 2000 bits per request, small gaps read through), then decoded with our own codec.
 */
#include <errno.h>
#include <limits.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "error.h"
#include "util.h"

#define MAX_REGS 125
#define MAX_BITS 2000
#define MAX_GAP 8 /* registers worth reading through rather than starting a new request */

struct mb {
	modbus_t *ctx;
	int rtu;
	char desc[160];
	char err[256];
	/* scratch for planning reads, grown on demand and then reused (no allocation per poll) */
	const struct metro_channel **sorted;
	size_t sorted_cap;
	size_t *slot; /* for each sorted channel, its index in the caller's array */
	uint16_t regs[MAX_REGS];
	uint8_t bits[MAX_BITS];
};

/* Translate libmodbus's errno into our classes. */
static int classify(int e)
{
	if (e == ETIMEDOUT)
		return METRO_E_TIMEOUT;
	if (e == EMBBADCRC || e == EMBBADDATA || e == EMBBADSLAVE || e == EMBMDATA ||
	    e == EMBBADEXC)
		return METRO_E_PROTO;
	if (e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET)
		return METRO_E_DEVICE;
	if (e == ECONNRESET || e == EPIPE || e == ENOTCONN || e == ECONNREFUSED || e == EBADF)
		return METRO_E_CLOSED;
	if (e == EINVAL)
		return METRO_E_INVAL;
	return METRO_E_IO;
}

static int fail(struct mb *m, int e, const char *what, const char *table, unsigned addr,
		unsigned count)
{
	snprintf(m->err, sizeof m->err, "%s: %s %s %u..%u: %s", m->desc, what, table, addr,
		 addr + (count ? count : 1) - 1, modbus_strerror(e));
	/* On a serial line a late or garbled reply may still be arriving: drop it so that it is
	 * not taken for the answer to the next request. */
	if (m->rtu)
		modbus_flush(m->ctx);
	return classify(e);
}

static int mb_open(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen,
		   int rtu)
{
	const struct metro_connection_conf *cc = c->conn;
	struct mb *m = metro_calloc(1, sizeof *m);
	m->rtu = rtu;
	if (rtu) {
		/* Resolve /dev/serial/by-id/... symlinks: lock files and error messages should name
		 * the real device. */
		char real[PATH_MAX];
		const char *dev = realpath(cc->device, real) ? real : cc->device;
		m->ctx = modbus_new_rtu(dev, (int)cc->baud, cc->parity, (int)cc->data_bits,
					(int)cc->stop_bits);
		snprintf(m->desc, sizeof m->desc, "modbus-rtu %s %ld %ld%c%ld unit %ld", dev,
			 cc->baud, cc->data_bits, cc->parity, cc->stop_bits, cc->unit);
	} else {
		char port[16];
		snprintf(port, sizeof port, "%ld", cc->port);
		m->ctx = modbus_new_tcp_pi(cc->host, port);
		snprintf(m->desc, sizeof m->desc, "modbus-tcp %s:%ld unit %ld", cc->host, cc->port,
			 cc->unit);
	}
	if (!m->ctx) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", m->desc, modbus_strerror(e));
		free(m);
		return e == EINVAL ? METRO_E_INVAL : METRO_E_IO;
	}
	modbus_set_slave(m->ctx, (int)cc->unit);
	uint32_t ms = (uint32_t)cc->timeout_ms;
	modbus_set_response_timeout(m->ctx, ms / 1000, (ms % 1000) * 1000);
	modbus_set_byte_timeout(m->ctx, 0, rtu ? 50000 : 0);
	if (modbus_connect(m->ctx) == -1) {
		int e = errno;
		snprintf(err, errlen, "%s: connect: %s", m->desc, modbus_strerror(e));
		modbus_free(m->ctx);
		free(m);
		return e == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	}
	*handle = m;
	return METRO_OK;
}

static int open_tcp(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen)
{
	return mb_open(c, handle, err, errlen, 0);
}

static int open_rtu(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen)
{
	return mb_open(c, handle, err, errlen, 1);
}

static void mb_close(void *handle)
{
	struct mb *m = handle;
	if (!m)
		return;
	modbus_close(m->ctx);
	modbus_free(m->ctx);
	free(m->sorted);
	free(m->slot);
	free(m);
}

static int is_bit_table(enum metro_table t)
{
	return t == METRO_TABLE_COIL || t == METRO_TABLE_DISCRETE;
}

/* Issue one read request of a contiguous span. */
static int read_span(struct mb *m, enum metro_table t, unsigned addr, unsigned count)
{
	int rc;
	switch (t) {
	case METRO_TABLE_HOLDING:
		rc = modbus_read_registers(m->ctx, (int)addr, (int)count, m->regs);
		break;
	case METRO_TABLE_INPUT:
		rc = modbus_read_input_registers(m->ctx, (int)addr, (int)count, m->regs);
		break;
	case METRO_TABLE_COIL:
		rc = modbus_read_bits(m->ctx, (int)addr, (int)count, m->bits);
		break;
	default:
		rc = modbus_read_input_bits(m->ctx, (int)addr, (int)count, m->bits);
		break;
	}
	if (rc == -1)
		return fail(m, errno, "read", metro_table_name(t), addr, count);
	if (rc != (int)count) {
		snprintf(m->err, sizeof m->err, "%s: read %s %u..%u: %d items in the reply",
			 m->desc, metro_table_name(t), addr, addr + count - 1, rc);
		return METRO_E_PROTO;
	}
	return METRO_OK;
}

static int decode(struct mb *m, const struct metro_channel *c, unsigned span_start, double *out)
{
	if (is_bit_table(c->table)) {
		*out = m->bits[c->address - span_start] ? 1.0 : 0.0;
		return METRO_OK;
	}
	if (c->codec.type == METRO_CODEC_STRING) {
		/* Strings are identification, not measurements: they read as their length so that
		 * a channel list can include them; the text comes through identify(). */
		*out = (double)c->codec.str_len;
		return METRO_OK;
	}
	int err = metro_codec_decode(&c->codec, m->regs + (c->address - span_start), c->nregs, out);
	if (err)
		snprintf(m->err, sizeof m->err, "%s: %s (%s %u, %s %s): value not representable",
			 m->desc, c->name, metro_table_name(c->table), c->address,
			 metro_codec_type_name(c->codec.type),
			 metro_codec_order_name(c->codec.order));
	return err;
}

static int cmp_chan(const void *a, const void *b)
{
	const struct metro_channel *x = *(const struct metro_channel *const *)a;
	const struct metro_channel *y = *(const struct metro_channel *const *)b;
	if (x->table != y->table)
		return (int)x->table - (int)y->table;
	return (x->address > y->address) - (x->address < y->address);
}

static int mb_read(void *handle, const struct metro_channel *const *chs, size_t n, double *values)
{
	struct mb *m = handle;
	if (n > m->sorted_cap) {
		m->sorted_cap = n;
		m->sorted = metro_realloc(m->sorted, n * sizeof *m->sorted);
		m->slot = metro_realloc(m->slot, n * sizeof *m->slot);
	}
	for (size_t i = 0; i < n; i++)
		m->sorted[i] = chs[i];
	qsort(m->sorted, n, sizeof *m->sorted, cmp_chan);
	/* values[] is indexed like chs[]: find each sorted channel's slot. Channels are distinct
	 * profile entries, so pointer identity is enough. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (chs[j] == m->sorted[i]) {
				m->slot[i] = j;
				break;
			}
	size_t i = 0;
	while (i < n) {
		const struct metro_channel *first = m->sorted[i];
		int bits = is_bit_table(first->table);
		unsigned limit = bits ? MAX_BITS : MAX_REGS;
		unsigned start = first->address;
		unsigned end = start + (bits ? 1 : first->nregs);
		size_t j = i + 1;
		while (j < n) {
			const struct metro_channel *c = m->sorted[j];
			unsigned cend = c->address + (bits ? 1 : c->nregs);
			if (c->table != first->table || c->address > end + MAX_GAP ||
			    (cend > end ? cend : end) - start > limit)
				break;
			if (cend > end)
				end = cend;
			j++;
		}
		int err = read_span(m, first->table, start, end - start);
		if (err)
			return err;
		for (size_t k = i; k < j; k++) {
			err = decode(m, m->sorted[k], start, &values[m->slot[k]]);
			if (err)
				return err;
		}
		i = j;
	}
	return METRO_OK;
}

static int mb_write(void *handle, const struct metro_channel *c, double value)
{
	struct mb *m = handle;
	if (!c->writable) {
		snprintf(m->err, sizeof m->err, "%s: %s is not writable", m->desc, c->name);
		return METRO_E_INVAL;
	}
	if (c->table == METRO_TABLE_COIL) {
		if (value != 0.0 && value != 1.0) {
			snprintf(m->err, sizeof m->err, "%s: %s: coil value %g is not 0 or 1",
				 m->desc, c->name, value);
			return METRO_E_RANGE;
		}
		if (modbus_write_bit(m->ctx, (int)c->address, value != 0.0) == -1)
			return fail(m, errno, "write", "coil", c->address, 1);
		return METRO_OK;
	}
	uint16_t regs[4];
	if (c->codec.type == METRO_CODEC_BITS) {
		/* Read-modify-write of the register holding the field. */
		if (modbus_read_registers(m->ctx, (int)c->address, 1, regs) == -1)
			return fail(m, errno, "read", "holding", c->address, 1);
	}
	int err = metro_codec_encode(&c->codec, value, regs, c->nregs);
	if (err) {
		snprintf(m->err, sizeof m->err, "%s: %s: %g cannot be encoded as %s", m->desc,
			 c->name, value, metro_codec_type_name(c->codec.type));
		return err;
	}
	int rc = c->nregs == 1
			 ? modbus_write_register(m->ctx, (int)c->address, regs[0])
			 : modbus_write_registers(m->ctx, (int)c->address, (int)c->nregs, regs);
	if (rc == -1)
		return fail(m, errno, "write", "holding", c->address, c->nregs);
	return METRO_OK;
}

static void mb_describe(void *handle, char *buf, size_t len)
{
	struct mb *m = handle;
	metro_strlcpy(buf, m->desc, len);
}

static const char *mb_last_error(void *handle)
{
	struct mb *m = handle;
	return m->err;
}

/* A diagnostic raw read: "read TABLE ADDRESS COUNT" (TABLE holding|input|coil|discrete) is
 * answered with the registers as 0xHHHH words (bits as 0/1), space-separated. */
static int mb_query(void *handle, const char *request, char *reply, size_t len)
{
	struct mb *m = handle;
	char table[16];
	unsigned addr, count;
	int used = 0;
	if (sscanf(request, "read %15s %u %u%n", table, &addr, &count, &used) != 3 ||
	    request[used] != '\0') {
		snprintf(m->err, sizeof m->err,
			 "%s: query '%s': expected 'read TABLE ADDRESS COUNT'", m->desc, request);
		return METRO_E_INVAL;
	}
	int t = -1;
	for (int k = METRO_TABLE_HOLDING; k <= METRO_TABLE_DISCRETE; k++)
		if (!strcmp(table, metro_table_name((enum metro_table)k)))
			t = k;
	int bits = t == METRO_TABLE_COIL || t == METRO_TABLE_DISCRETE;
	if (t < 0 || count < 1 || count > (bits ? MAX_BITS : MAX_REGS) || addr + count > 65536) {
		snprintf(m->err, sizeof m->err, "%s: query '%s': no such table or span", m->desc,
			 request);
		return METRO_E_INVAL;
	}
	int err = read_span(m, (enum metro_table)t, addr, count);
	if (err)
		return err;
	size_t o = 0;
	reply[0] = '\0';
	for (unsigned i = 0; i < count && o < len; i++)
		o += (size_t)(bits ? snprintf(reply + o, len - o, "%s%u", i ? " " : "", m->bits[i])
				   : snprintf(reply + o, len - o, "%s0x%04x", i ? " " : "",
					      m->regs[i]));
	if (o >= len) {
		snprintf(m->err, sizeof m->err, "%s: query '%s': reply longer than %zu bytes",
			 m->desc, request, len);
		return METRO_E_RANGE;
	}
	return METRO_OK;
}

/* Report Slave ID (function 0x11): run indicator and a device-specific identification. */
static int mb_identify(void *handle, char *buf, size_t len)
{
	struct mb *m = handle;
	uint8_t id[MODBUS_MAX_PDU_LENGTH];
	int rc = modbus_report_slave_id(m->ctx, sizeof id, id);
	if (rc == -1)
		return fail(m, errno, "report slave id", "-", 0, 0);
	size_t o = 0;
	for (int i = 0; i < rc && o + 3 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", id[i]);
	return METRO_OK;
}

const struct metro_driver metro_driver_modbus_tcp = {
	.abi_version = METRO_DRIVER_ABI_VERSION,
	.name = "modbus-tcp",
	.summary = "Modbus TCP (libmodbus)",
	.transport = "modbus",
	.open = open_tcp,
	.close = mb_close,
	.read = mb_read,
	.write = mb_write,
	.describe = mb_describe,
	.identify = mb_identify,
	.query = mb_query,
	.last_error = mb_last_error,
};

const struct metro_driver metro_driver_modbus_rtu = {
	.abi_version = METRO_DRIVER_ABI_VERSION,
	.name = "modbus-rtu",
	.summary = "Modbus RTU over a serial port (libmodbus)",
	.transport = "modbus",
	.open = open_rtu,
	.close = mb_close,
	.read = mb_read,
	.write = mb_write,
	.describe = mb_describe,
	.identify = mb_identify,
	.query = mb_query,
	.last_error = mb_last_error,
};
