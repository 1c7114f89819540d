/* sim_fault.h — metrosim's fault injection: the --faults grammar, a seeded random stream,
 * per-request decisions and the counters reported at exit.
 *
 * Determinism.  Two independent random streams are derived from --seed: the request stream
 * decides the fate of each request (one draw per configured probabilistic fault kind, always in
 * the same order, whether or not an earlier kind already hit), the pulse stream decides lost
 * pulses and counts.  So a given seed and the same sequence of requests give the same faults,
 * and a physical model that runs at a wall-clock-dependent pace cannot disturb the protocol
 * faults a test counts.
 *
 * SPEC grammar (docs/simulator.md):
 *   SPEC  := ITEM { "," ITEM }
 *   ITEM  := "noreply=" P | "late=" P ":" MS | "exception=" P ":" CODE | "crc=" P
 *          | "wrongunit=" P | "lostpulses=" P | "stuck=" CHANNEL [ ":" AFTER_S ]
 *          | "disconnect=" AFTER_S ":" DOWN_S [ ":" COUNT ]
 *          | "ignorewrites=" ( CHANNEL | "*" ) [ ":" AFTER_S ]
 *   P is a probability 0..1, MS 0..60000, CODE 1..255, AFTER_S and DOWN_S seconds (real time,
 *   decimals allowed), COUNT the number of outages (0 = forever, default 1).  stuck and
 *   ignorewrites may be given several times, every other kind at most once.
 */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A splitmix64 generator: tiny, fast, and good enough for fault decisions. */
struct sim_rng {
	uint64_t s;
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim_rng_uniform(struct sim_rng *r);

enum sim_fault_kind {
	SIM_F_NOREPLY,
	SIM_F_LATE,
	SIM_F_EXCEPTION,
	SIM_F_CRC,
	SIM_F_WRONGUNIT,
	SIM_F_STUCK,
	SIM_F_LOSTPULSES,
	SIM_F_DISCONNECT,
	SIM_F_IGNOREWRITES,
	SIM_F_NKINDS,
};

/* A fault on one channel that starts after_s real seconds after start: stuck (the channel
 * freezes) or ignorewrites (clients' writes are answered but not applied; channel "*": every
 * writable channel). */
struct sim_chan_fault {
	char *channel;
	double after_s; /* real seconds after start */
	int active;
};

struct sim_fault {
	int configured[SIM_F_NKINDS];
	double p[SIM_F_NKINDS]; /* probabilities of the probabilistic kinds */
	unsigned late_ms;
	int exception_code;
	double disc_after_s, disc_down_s;
	long disc_count; /* 0: forever */
	struct sim_chan_fault *stuck;
	size_t nstuck;
	struct sim_chan_fault *ignore; /* ignorewrites */
	size_t nignore;
	/* which kinds the transport can inject (crc needs a checksum, wrongunit a unit id) */
	int applicable[SIM_F_NKINDS];
	uint64_t faulted; /* requests that got at least one fault */
	struct sim_rng req_rng, pulse_rng;
	uint64_t seed;
	char *spec;
	unsigned long long counts[SIM_F_NKINDS];
	unsigned long long requests; /* requests received (faulted or not) */
};

/* What to do with one request. */
struct sim_fault_action {
	int noreply;   /* drop the request: it is neither applied nor answered */
	int exception; /* 0, or the Modbus exception code to answer with instead */
	int crc;       /* corrupt the reply's checksum */
	int wrongunit; /* answer from another unit id */
	unsigned delay_ms;
};

/* Parse spec (NULL or "" means no faults) into *f, seeded with seed.  Returns 0, or
 * METRO_E_INVAL with a message in err. */
int sim_fault_parse(struct sim_fault *f, const char *spec, uint64_t seed, char *err, size_t errlen);
void sim_fault_free(struct sim_fault *f);
const char *sim_fault_name(enum sim_fault_kind k);

/* Decide the fate of the next request (draws from the request stream, counts the faults that
 * apply).  Precedence: noreply, then exception, crc, wrongunit (at most one of these); late
 * comes on top of any reply. */
void sim_fault_decide(struct sim_fault *f, struct sim_fault_action *a);
/* One draw from the pulse stream: nonzero when a meter pulse (or count) is lost; counts it. */
int sim_fault_lose_pulse(struct sim_fault *f);

/* "faults injected: noreply=12 crc=3" (configured kinds only; "none" without faults). */
void sim_fault_summary(const struct sim_fault *f, FILE *out);
/* Write the counts as JSON to path.  Returns 0 or METRO_E_IO. */
int sim_fault_write_log(const struct sim_fault *f, const char *path);

#endif
