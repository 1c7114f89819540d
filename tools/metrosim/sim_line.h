/* sim_line.h — the serial-line (ASCII request/response) side of metrosim.
 *
 * A profile's templates are written from the client's point of view: the read and write
 * commands are output templates (formatted by the client), the replies input templates (parsed
 * by the client).  The instrument needs the mirror image: commands become input templates it
 * matches incoming lines against, replies output templates it formats.  sim_line_mirror() turns
 * a template into its opposite-direction form; see docs/simulator.md for the rules.
 */
#ifndef SIM_LINE_H
#define SIM_LINE_H

#include <stddef.h>

#include "lineproto.h"
#include "profile.h"
#include "sim_image.h"

/* Conversions of a mirrored template, in order. */
struct sim_line_convs {
	char conv[METRO_LINE_MAX_VALUES * 2];
	int skip[METRO_LINE_MAX_VALUES * 2]; /* it was a skipped (%*X) field of an input template */
	size_t n;
	int ends_csum; /* the template ends with a checksum */
};

/* Mirror template src, written for direction from, into out (cap bytes) for the opposite
 * direction.  Output -> input: flags and precision are dropped (%-5.2f becomes %5f).  Input ->
 * output: skips become ordinary conversions (%*d becomes %d), recorded in convs so that the
 * caller supplies a value for them.  Text, escapes and checksums are copied.  Returns 0, or
 * METRO_E_INVAL / METRO_E_RANGE with a message in err. */
int sim_line_mirror(const char *src, enum metro_line_dir from, char *out, size_t cap,
		    struct sim_line_convs *convs, char *err, size_t errlen);

struct sim_line;

/* Compile the mirror of every template of profile p (a serial-line profile).  Returns 0 and
 * *out, or METRO_E_INVAL with a message naming the channel in err. */
int sim_line_new(const struct metro_profile *p, struct sim_image *img, struct sim_line **out,
		 char *err, size_t errlen);
void sim_line_destroy(struct sim_line **pl);

/* The terminator that ends commands (the profile's out_terminator) and replies
 * (in_terminator), after unescaping. */
const char *sim_line_cmd_term(const struct sim_line *l, size_t *len);
const char *sim_line_reply_term(const struct sim_line *l, size_t *len);

/* Serve one command line cmd[0..len) (without its terminator): a read gets its reply, a write
 * changes the channel (*wrote = 1) and gets the write reply if the profile has one.  Writes the
 * reply with its terminator into out and returns its length; 0 means no reply.  A command
 * that matches no channel is answered with SIM_LINE_ERROR. */
size_t sim_line_serve(struct sim_line *l, const char *cmd, size_t len, char *out, size_t cap,
		      int *wrote);
/* Corrupt the last reply served, reply[0..len) without its terminator, for the crc fault in a
 * way every client detects: a reply that ends with a checksum gets a wrong checksum digit, any
 * other reply a DEL byte (0x7F, which no template matches) in place of its last byte. */
void sim_line_corrupt(const struct sim_line *l, char *reply, size_t len);
/* The error reply (SIM_LINE_ERROR and the reply terminator); returns its length. */
size_t sim_line_error_reply(struct sim_line *l, char *out, size_t cap);

#define SIM_LINE_ERROR "ERR"

#endif
