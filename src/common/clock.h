/* clock.h -- wall and monotonic clocks in milliseconds. */
#ifndef PC_CLOCK_H
#define PC_CLOCK_H

#include <stdint.h>

uint64_t pc_unix_ms(void); /* CLOCK_REALTIME, ms since the epoch */
uint64_t pc_mono_ms(void); /* CLOCK_MONOTONIC, ms */

#endif
