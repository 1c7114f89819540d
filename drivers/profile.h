/* profile.h — rig profiles: what each channel of a rig model means and where it lives.
 *
 * A profile (config/profiles/NAME.yaml, docs/drivers.md) names the rig's channels and maps each to
 * a Modbus table/address/type/order/scale or to a serial-line command and reply template.
 * Per-position channels are written once as `pos[N].name` with a stride and expanded here for
 * the rig's number of positions (positions count from 1, as labs number them).
 *
 * Each rig kind has channels the procedure engine relies on (flow.setpoint on a flow bench,
 * source.on on an electricity bench, ...); the loader checks that a profile provides them with
 * the right writability, so a profile mistake is found at load time and not mid-run.
 */
#ifndef METRO_PROFILE_H
#define METRO_PROFILE_H

#include <stddef.h>

#include "codec.h"
#include "diag.h"

enum metro_table {
	METRO_TABLE_HOLDING,
	METRO_TABLE_INPUT,
	METRO_TABLE_COIL,
	METRO_TABLE_DISCRETE,
};

enum metro_transport {
	METRO_TRANSPORT_MODBUS,
	METRO_TRANSPORT_SERIAL_LINE,
};

struct metro_line_tmpl;

/* How a write to a channel is confirmed (`readback:` and `expect:` in the profile). */
enum metro_readback {
	METRO_READBACK_EXACT,  /* read back, must equal what was written (the default) */
	METRO_READBACK_NONE,   /* `readback: false`: the device's acknowledgement only */
	METRO_READBACK_EXPECT, /* `expect: V`: must read V within expect_ms (self-clearing bits) */
};

/* The device behaviour a profile can describe: sequences run on connecting, before a run and
 * after it (`on_connect:`, `before_run:`, `after_run:`).  A step writes a channel (read back
 * as the channel says), waits until a channel reads a value, or pauses. */
enum metro_seq_when {
	METRO_SEQ_ON_CONNECT,
	METRO_SEQ_BEFORE_RUN,
	METRO_SEQ_AFTER_RUN,
	METRO_SEQS,
};

enum metro_step_kind {
	METRO_STEP_WRITE,
	METRO_STEP_WAIT,
	METRO_STEP_DELAY,
};

struct metro_seq_step {
	enum metro_step_kind kind;
	int channel;	 /* index in profile->channels (write, wait) */
	double value;	 /* write: the value; wait: the value awaited */
	long timeout_ms; /* wait: the longest wait; delay: the pause */
	unsigned line, col;
};

struct metro_sequence {
	struct metro_seq_step *steps;
	size_t n;
};

struct metro_channel {
	char *name;   /* "flow.actual", "pos[3].volume" */
	char *base;   /* the name without the position: "volume" for "pos[3].volume" */
	int position; /* 0 for a rig-level channel, 1..N for a position's */
	char *unit;   /* may be NULL */
	int writable;
	int index; /* index in profile->channels */
	/* Modbus */
	enum metro_table table;
	unsigned address;
	unsigned nregs; /* registers (0 for coils and discrete inputs) */
	struct metro_codec codec;
	/* Serial line: templates; the position number is the first argument of a position's
	 * command, the value to write the last. */
	char *read_cmd, *read_reply, *write_cmd, *write_reply;
	/* How a write is confirmed; expect/expect_ms for METRO_READBACK_EXPECT. */
	enum metro_readback readback;
	double expect;
	long expect_ms;
	unsigned line, col; /* where the channel was defined */
	int invalid;	    /* had a problem at load (only seen while loading) */
};

/* Profiles are immutable once loaded and shared between a configuration and the rig actors
 * started from it: metro_profile_ref() takes a reference, metro_profile_destroy() drops one. */
struct metro_profile {
	int refs;
	char sha256[65]; /* of the file's content: a changed profile restarts its rig on reload */
	char *path;
	char *kind; /* flow-bench | electricity-bench | bell-prover */
	char *model;
	enum metro_transport transport;
	int positions;
	/* serial line */
	char *out_terminator, *in_terminator;
	unsigned max_reply;
	struct metro_channel *channels;
	size_t nchannels;
	struct metro_sequence seq[METRO_SEQS];
};

/* Load and validate a profile for a rig with `positions` positions.  Returns 0 and *out, or
 * METRO_E_INVAL with every problem in diag. */
int metro_profile_load(const char *path, int positions, struct metro_diag *diag,
		       struct metro_profile **out);
/* Drop a reference (freeing on the last); takes NULL, clears *pp. */
void metro_profile_destroy(struct metro_profile **pp);
/* Take a reference; returns p (NULL for NULL). */
struct metro_profile *metro_profile_ref(struct metro_profile *p);

/* A channel by full name ("flow.actual", "pos[2].volume"); NULL if absent. */
const struct metro_channel *metro_profile_channel(const struct metro_profile *p, const char *name);
/* A position's channel by base name and position (1-based); NULL if absent. */
const struct metro_channel *metro_profile_pos_channel(const struct metro_profile *p,
						      const char *base, int position);

const char *metro_table_name(enum metro_table t);
/* "on_connect", "before_run", "after_run". */
const char *metro_seq_name(enum metro_seq_when w);

/* The longest wait a sequence step or an `expect:` may ask for, milliseconds: the rig actor
 * is blocked meanwhile. */
#define METRO_SEQ_MAX_WAIT_MS 60000
/* `expect:` without `expect_ms:`: how long a self-clearing bit may take to clear. */
#define METRO_EXPECT_MS_DEFAULT 1000

#endif
