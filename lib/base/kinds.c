/* kinds.c — the one table of rig kinds (kinds.h). */
#include "kinds.h"

const char *const metro_rig_kind_names[METRO_RIG_KINDS] = {
	[METRO_RIG_FLOW_BENCH] = "flow-bench",
	[METRO_RIG_ELECTRICITY_BENCH] = "electricity-bench",
	[METRO_RIG_BELL_PROVER] = "bell-prover",
};

const char *metro_rig_kind_name(enum metro_rig_kind k)
{
	return (unsigned)k < METRO_RIG_KINDS ? metro_rig_kind_names[k] : "unknown";
}
