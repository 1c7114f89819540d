/* metroctl_calc.h — `metroctl calc FORM ...`, the verifier's calculator (metroctl_calc.c):
 * round, water, water-retest, electricity, start, creep, pulses, gas. */
#ifndef METROCTL_CALC_H
#define METROCTL_CALC_H

#include "metroctl_cmd.h"

int metroctl_calc(int argc, char **argv, const struct metroctl_opts *o);

#endif
