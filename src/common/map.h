/* map.h -- hash map from byte-string keys to pointers.
 *
 * Open addressing with linear probing and a per-process random hash seed
 * (keys may come from the network). The map copies keys; it never frees
 * values. Deleting the entry an iteration is standing on is allowed. */
#ifndef PC_MAP_H
#define PC_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pc_map pc_map;

pc_map *pc_map_new(void);    /* NULL when out of memory */
void pc_map_free(pc_map *m); /* NULL is fine; values are not freed */
size_t pc_map_count(const pc_map *m);
void *pc_map_get(const pc_map *m, const void *key, size_t klen);
/* Inserts or replaces. Returns 0, or -1 when out of memory (map unchanged). */
int pc_map_put(pc_map *m, const void *key, size_t klen, void *val);
/* Removes key; returns its value, or NULL if absent. */
void *pc_map_del(pc_map *m, const void *key, size_t klen);
/* Iteration: start with *pos = 0; returns false at the end. Key pointers
 * stay valid until the entry is deleted or the map grows (a put). */
bool pc_map_next(const pc_map *m, size_t *pos, const char **key, size_t *klen, void **val);

#endif
