/* sim_modbus.h — the Modbus application layer of metrosim: request PDU in, reply PDU out.
 *
 * Framing (MBAP over TCP, unit + CRC over RTU) lives in sim_server.c, so that fault injection
 * there has every byte of the reply in hand.  Function codes served: 1 read coils, 2 read
 * discrete inputs, 3 read holding registers, 4 read input registers, 5 write single coil,
 * 6 write single register, 15 write multiple coils, 16 write multiple registers, 17 report
 * slave id.  Anything else is ILLEGAL FUNCTION.  A malformed request of a known function (bad
 * quantity, byte count or length, a coil value other than 0x0000/0xFF00) is ILLEGAL DATA
 * VALUE; an address outside the map, or a write to a register or coil no writable channel
 * covers, is ILLEGAL DATA ADDRESS (sim_image.h has the exact rules).
 */
#ifndef SIM_MODBUS_H
#define SIM_MODBUS_H

#include <stddef.h>
#include <stdint.h>

#include "sim_image.h"

#define SIM_MB_PDU_MAX 253

struct sim_mb {
	struct sim_image *img;
	int unit;
	char ident[64]; /* the text of the report-slave-id reply */
};

/* Serve one request PDU req[0..len) (function code first) into rsp (SIM_MB_PDU_MAX bytes).
 * Returns the reply PDU length; *wrote is set when the image changed. */
size_t sim_mb_serve(struct sim_mb *mb, const uint8_t *req, size_t len, uint8_t *rsp, int *wrote);
/* An exception reply for function fc; returns its length (2). */
size_t sim_mb_exception(uint8_t fc, int code, uint8_t *rsp);

/* RTU: the length of the request frame (unit id, PDU, CRC) at buf[0..len): > 0 when known,
 * 0 when more bytes are needed to tell, -1 for a function whose request length we cannot
 * know (the frame then ends at the next silent interval). */
long sim_mb_rtu_request_len(const uint8_t *buf, size_t len);

#endif
