/* metroctl_keygen.h — `metroctl keygen NAME [--dir DIR]` (metroctl_keygen.c): a CURVE key
 * pair for a client or the daemon. */
#ifndef METROCTL_KEYGEN_H
#define METROCTL_KEYGEN_H

#include "metroctl_cmd.h"

int metroctl_keygen(int argc, char **argv, const struct metroctl_opts *o);

#endif
