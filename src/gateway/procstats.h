/* procstats.h -- the standard process metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_open_fds, process_start_time_seconds,
 * process_max_fds), read from /proc/self on each scrape as the Prometheus
 * client libraries do. They describe the process that answers /metrics
 * (worker 0 with --workers). */
#ifndef GW_PROCSTATS_H
#define GW_PROCSTATS_H

#include "buf.h"

/* Appends the metrics; those /proc does not give are left out. */
void gw_procstats_render(pc_buf *out);

#endif
