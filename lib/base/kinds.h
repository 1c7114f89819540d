/* kinds.h — the kinds of rig, listed once.  A procedure names the kind it is written for, a
 * profile the kind of rig it describes, a configuration the kind of each rig, the simulator the
 * kind it models: all of them use this one table. */
#ifndef METRO_KINDS_H
#define METRO_KINDS_H

enum metro_rig_kind {
	METRO_RIG_FLOW_BENCH,	     /* water meters: flow bench (JJG 162) */
	METRO_RIG_ELECTRICITY_BENCH, /* electricity meters (JJG 596) */
	METRO_RIG_BELL_PROVER,	     /* gas meters: bell prover (JJG 577) */
	METRO_RIG_KINDS
};

/* The names as written in files ("flow-bench", "electricity-bench", "bell-prover"). */
extern const char *const metro_rig_kind_names[METRO_RIG_KINDS];
/* The name of k, or "unknown". */
const char *metro_rig_kind_name(enum metro_rig_kind k);

#endif
