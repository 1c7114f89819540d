/* sim_image.h — the simulated device's memory: what clients read and write.
 *
 * For a Modbus profile the image is four register tables (holding, input, coil, discrete)
 * built from the profile's channels; values go in and out through the shared register codec,
 * so the simulator encodes exactly what metrod decodes.  For a serial-line profile it is one
 * number per channel, formatted by the reply templates.  The physical models only ever speak
 * in channel values (sim_image_set / sim_image_get); the protocol servers only in registers or
 * channel values; neither knows the other.
 *
 * Address map.  A register (or bit) is "mapped" when a channel covers it.  Reads may also cover
 * unmapped holes of at most SIM_IMAGE_HOLE_MAX registers between mapped ones, which read as 0:
 * many devices lay out blocks like this, and metrod's Modbus driver reads through small gaps to
 * save transactions.  Any other unmapped register in a read is ILLEGAL DATA ADDRESS.  A write
 * must cover only registers of writable channels (else ILLEGAL DATA ADDRESS), and every writable
 * channel it touches must still decode afterwards (a NaN setpoint, say), else ILLEGAL DATA VALUE
 * and nothing is written.  A write to a channel whose writes are ignored (ignorewrites fault) is
 * checked the same way and answered, but leaves the channel as it was.
 */
#ifndef SIM_IMAGE_H
#define SIM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

#define SIM_IMAGE_HOLE_MAX 16

/* Modbus exception codes. */
enum {
	SIM_EXC_ILLEGAL_FUNCTION = 1,
	SIM_EXC_ILLEGAL_ADDRESS = 2,
	SIM_EXC_ILLEGAL_VALUE = 3,
	SIM_EXC_GATEWAY_TARGET = 11,
};

struct sim_image;

/* An image for profile p (borrowed: it must outlive the image). */
struct sim_image *sim_image_new(const struct metro_profile *p);
void sim_image_destroy(struct sim_image **pimg);

/* --- the model's side: channel values --------------------------------------------------- */

/* Set a channel the model produces.  A value the channel cannot hold is clamped to its range
 * (a real transmitter saturates); a NULL channel (absent from the profile) or a frozen one
 * (stuck fault) is left alone. */
void sim_image_set(struct sim_image *img, const struct metro_channel *ch, double v);
/* Set a counter: integer channels wrap modulo their range, like a device's counter does.
 * count is in raw units (register counts, before scale and offset). */
void sim_image_set_count(struct sim_image *img, const struct metro_channel *ch, uint64_t count);
/* Set a string channel (Modbus string type); other channels ignore it. */
void sim_image_set_str(struct sim_image *img, const struct metro_channel *ch, const char *s);
/* The current value of a channel (what a client wrote, for writable ones); 0 when absent or
 * not decodable. */
double sim_image_get(const struct sim_image *img, const struct metro_channel *ch);
/* Freeze a channel at its current value: later sim_image_set() calls are ignored. */
void sim_image_freeze(struct sim_image *img, const struct metro_channel *ch);
/* From now on, clients' writes to channel ch (NULL: to every channel) are checked and answered
 * as before but not applied: the channel keeps its value, like a device that does not take a
 * setpoint.  Each write (Modbus request or serial-line command) that was not applied, wholly or
 * in part, adds 1 to *count (the last count given is used). */
void sim_image_ignore_writes(struct sim_image *img, const struct metro_channel *ch,
			     unsigned long long *count);

/* --- the Modbus server's side: registers -------------------------------------------------- */

/* Read n registers (holding or input) or bits (coil or discrete) starting at addr.  Returns 0
 * or a Modbus exception code. */
int sim_image_read_regs(const struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
			uint16_t *out);
int sim_image_read_bits(const struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
			uint8_t *out);
/* Write holding registers or coils.  Returns 0 or a Modbus exception code (nothing written). */
int sim_image_write_regs(struct sim_image *img, unsigned addr, unsigned n, const uint16_t *v);
int sim_image_write_bits(struct sim_image *img, unsigned addr, unsigned n, const uint8_t *v);

/* --- the serial-line server's side: channel values ---------------------------------------- */

/* The value a read reply reports, and a client's write (writable channels only: returns
 * METRO_E_DENIED otherwise). */
double sim_image_value(const struct sim_image *img, const struct metro_channel *ch);
int sim_image_put(struct sim_image *img, const struct metro_channel *ch, double v);

#endif
