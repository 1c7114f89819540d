/* sim_modbus.c — Modbus request handling against the register image (see sim_modbus.h). */
#include "sim_modbus.h"

#include <string.h>

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t sim_mb_exception(uint8_t fc, int code, uint8_t *rsp)
{
	rsp[0] = (uint8_t)(fc | 0x80);
	rsp[1] = (uint8_t)code;
	return 2;
}

static size_t read_bits(struct sim_mb *mb, enum metro_table t, const uint8_t *req, size_t len,
			uint8_t *rsp)
{
	if (len != 5)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	unsigned addr = be16(req + 1), n = be16(req + 3);
	if (n < 1 || n > 2000)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint8_t bits[2000];
	int exc = sim_image_read_bits(mb->img, t, addr, n, bits);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	unsigned nbytes = (n + 7) / 8;
	rsp[0] = req[0];
	rsp[1] = (uint8_t)nbytes;
	memset(rsp + 2, 0, nbytes);
	for (unsigned i = 0; i < n; i++)
		if (bits[i])
			rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
	return 2 + nbytes;
}

static size_t read_regs(struct sim_mb *mb, enum metro_table t, const uint8_t *req, size_t len,
			uint8_t *rsp)
{
	if (len != 5)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	unsigned addr = be16(req + 1), n = be16(req + 3);
	if (n < 1 || n > 125)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint16_t regs[125];
	int exc = sim_image_read_regs(mb->img, t, addr, n, regs);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	rsp[0] = req[0];
	rsp[1] = (uint8_t)(2 * n);
	for (unsigned i = 0; i < n; i++)
		put16(rsp + 2 + 2 * i, regs[i]);
	return 2 + 2 * n;
}

static size_t write_coil(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp,
			 int *wrote)
{
	if (len != 5)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	unsigned v = be16(req + 3);
	if (v != 0xff00 && v != 0x0000)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint8_t bit = v ? 1 : 0;
	int exc = sim_image_write_bits(mb->img, be16(req + 1), 1, &bit);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	*wrote = 1;
	memcpy(rsp, req, 5);
	return 5;
}

static size_t write_reg(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp, int *wrote)
{
	if (len != 5)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint16_t v = (uint16_t)be16(req + 3);
	int exc = sim_image_write_regs(mb->img, be16(req + 1), 1, &v);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	*wrote = 1;
	memcpy(rsp, req, 5);
	return 5;
}

static size_t write_coils(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp,
			  int *wrote)
{
	if (len < 6)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	unsigned addr = be16(req + 1), n = be16(req + 3), bc = req[5];
	if (n < 1 || n > 1968 || bc != (n + 7) / 8 || len != 6 + bc)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint8_t bits[1968];
	for (unsigned i = 0; i < n; i++)
		bits[i] = (req[6 + i / 8] >> (i % 8)) & 1;
	int exc = sim_image_write_bits(mb->img, addr, n, bits);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	*wrote = 1;
	memcpy(rsp, req, 5);
	return 5;
}

static size_t write_regs(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp,
			 int *wrote)
{
	if (len < 6)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	unsigned addr = be16(req + 1), n = be16(req + 3), bc = req[5];
	if (n < 1 || n > 123 || bc != 2 * n || len != 6 + bc)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	uint16_t regs[123];
	for (unsigned i = 0; i < n; i++)
		regs[i] = (uint16_t)be16(req + 6 + 2 * i);
	int exc = sim_image_write_regs(mb->img, addr, n, regs);
	if (exc)
		return sim_mb_exception(req[0], exc, rsp);
	*wrote = 1;
	memcpy(rsp, req, 5);
	return 5;
}

static size_t report_slave_id(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp)
{
	if (len != 1)
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_VALUE, rsp);
	size_t n = strlen(mb->ident);
	rsp[0] = req[0];
	rsp[1] = (uint8_t)(2 + n);
	rsp[2] = (uint8_t)mb->unit;
	rsp[3] = 0xff; /* run indicator: on */
	memcpy(rsp + 4, mb->ident, n);
	return 4 + n;
}

size_t sim_mb_serve(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp, int *wrote)
{
	*wrote = 0;
	if (len < 1)
		return 0;
	switch (req[0]) {
	case 1:
		return read_bits(mb, METRO_TABLE_COIL, req, len, rsp);
	case 2:
		return read_bits(mb, METRO_TABLE_DISCRETE, req, len, rsp);
	case 3:
		return read_regs(mb, METRO_TABLE_HOLDING, req, len, rsp);
	case 4:
		return read_regs(mb, METRO_TABLE_INPUT, req, len, rsp);
	case 5:
		return write_coil(mb, req, len, rsp, wrote);
	case 6:
		return write_reg(mb, req, len, rsp, wrote);
	case 15:
		return write_coils(mb, req, len, rsp, wrote);
	case 16:
		return write_regs(mb, req, len, rsp, wrote);
	case 17:
		return report_slave_id(mb, req, len, rsp);
	default:
		return sim_mb_exception(req[0], SIM_EXC_ILLEGAL_FUNCTION, rsp);
	}
}

long sim_mb_rtu_request_len(const uint8_t *buf, size_t len)
{
	if (len < 2)
		return 0;
	switch (buf[1]) {
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
		return 8; /* unit fc addr(2) n/value(2) crc(2) */
	case 7:
	case 11:
	case 12:
	case 17:
		return 4; /* unit fc crc(2) */
	case 8:
		return 8; /* unit fc sub(2) data(2) crc(2) */
	case 15:
	case 16:
		return len < 7 ? 0 : 9 + (long)buf[6]; /* ... n(2) bytecount data crc(2) */
	case 22:
		return 10; /* mask write: unit fc addr and-mask or-mask crc */
	case 23:
		return len < 11 ? 0 : 13 + (long)buf[10];
	default:
		return -1;
	}
}
