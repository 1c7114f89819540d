/* sim_pty.h — the pseudo-terminal metrosim serves RTU and serial-line clients on. */
#ifndef SIM_PTY_H
#define SIM_PTY_H

#include <stddef.h>

struct sim_pty {
	int master;	/* what metrosim reads and writes */
	int slave_keep; /* a slave descriptor kept open (see sim_pty.c) */
	char path[128]; /* the slave device a client opens */
	char *link;	/* --pty-link, or NULL */
};

/* Create a pty in raw mode at baud (termios speed, informative on a pty).  Returns 0, or
 * METRO_E_IO with a message in err. */
int sim_pty_open(struct sim_pty *p, long baud, char *err, size_t errlen);
/* Make link a symlink to the slave, replacing an existing symlink (never a regular file or a
 * directory).  Returns 0 or METRO_E_IO / METRO_E_EXISTS with a message in err. */
int sim_pty_link(struct sim_pty *p, const char *link, char *err, size_t errlen);
/* Close the pty and remove the link if it still points to this pty's slave. */
void sim_pty_close(struct sim_pty *p);

#endif
