/* metroctl_probe.h — `metroctl probe ...` (metroctl_probe.c): a rig's channels read (and
 * written) through the drivers, without the daemon. */
#ifndef METROCTL_PROBE_H
#define METROCTL_PROBE_H

#include "metroctl_cmd.h"

int metroctl_probe(int argc, char **argv, const struct metroctl_opts *o);

#endif
