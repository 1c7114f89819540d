/* port.h — the byte transport under the serial-line driver.
 *
 * Production opens serial ports with libserialport.  libserialport refuses pseudo-terminals
 * (they have no sysfs entry and TIOCMGET fails on them), yet the simulator and the tests speak
 * over ptys; so a second backend drives the line with plain termios.  metro_port_open() picks
 * the backend by the resolved device path: /dev/pts/N and /dev/ptmx-style devices use termios,
 * everything else libserialport.  Symlinks (/dev/serial/by-id/...) are resolved first.
 */
#ifndef METRO_PORT_H
#define METRO_PORT_H

#include <stddef.h>

#include "driver.h"

struct metro_port;

/* Open and configure the port (baud, parity, data and stop bits from conn).  Returns 0 and
 * *out, or METRO_E_NOTFOUND / METRO_E_IO with the reason in err. */
int metro_port_open(const struct metro_connection_conf *conn, struct metro_port **out, char *err,
		    size_t errlen);
void metro_port_close(struct metro_port **pp);
/* Write all n bytes within timeout_ms.  Returns 0, METRO_E_TIMEOUT or METRO_E_IO. */
int metro_port_write(struct metro_port *p, const void *buf, size_t n, int timeout_ms);
/* Read what is available, waiting up to timeout_ms for the first byte.  Returns the number of
 * bytes read (0 on timeout) or a negative error. */
int metro_port_read(struct metro_port *p, void *buf, size_t cap, int timeout_ms);
/* Discard unread input. */
void metro_port_flush(struct metro_port *p);
/* Resolved device path and backend name ("libserialport" or "termios"). */
const char *metro_port_path(const struct metro_port *p);
const char *metro_port_backend(const struct metro_port *p);

#endif
