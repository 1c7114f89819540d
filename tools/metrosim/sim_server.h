/* sim_server.h — metrosim's transports and event loop: Modbus TCP (several clients), Modbus RTU
 * and the serial line over a pty, with fault injection applied to the bytes of each reply.
 *
 * One thread, one poll loop.  Before a request is served the model is advanced to the moment
 * it arrived; a ~10 ms timer keeps the model moving between requests.  A connection (or the
 * pty) has at most one reply in flight: while a reply waits for its due time (late fault,
 * wire-time pacing) further requests on it are buffered, not served, as a real single-threaded
 * instrument behaves.
 */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "sim_fault.h"
#include "sim_line.h"
#include "sim_model.h"
#include "sim_modbus.h"

enum sim_mode {
	SIM_MODE_TCP,
	SIM_MODE_RTU,
	SIM_MODE_LINE,
};

struct sim_server_conf {
	enum sim_mode mode;
	const char *host; /* TCP */
	long port;	  /* TCP; 0 picks a free port */
	int unit;
	long baud; /* pty: termios speed and the RTU silent interval */
	int pace;  /* pty: hold replies for the wire time at baud */
	const char *pty_link;
	int verbose;
	const char *ident; /* report-slave-id text */
};

struct sim_server;

/* Open the transport and print its first line on stdout ("listening HOST:PORT" or the pty
 * path), flushed.  mb is used in the Modbus modes, line in the serial-line mode.  Returns 0 and
 * *out, or METRO_E_IO / METRO_E_INVAL with a message in err. */
int sim_server_open(const struct sim_server_conf *conf, struct sim_rig *rig, struct sim_image *img,
		    struct sim_fault *fault, struct sim_line *line, struct sim_server **out,
		    char *err, size_t errlen);
/* Serve until *stop is set.  Signals in waitmask's complement are delivered only while the
 * loop waits (ppoll), so a flag set by a handler is never missed.  Returns 0 or METRO_E_IO. */
int sim_server_run(struct sim_server *s, const sigset_t *waitmask, volatile sig_atomic_t *stop);
void sim_server_close(struct sim_server **ps);

#endif
