/* How this SQLite's sqlite3_preupdate_old/new number a row's columns, found
 * once by probing a private in-memory database, so resql does not depend on
 * version-specific behaviour it cannot see. Seen on SQLite 3.40:
 *  - rowid tables: stored columns in table order (VIRTUAL ones skipped);
 *  - WITHOUT ROWID tables: table positions, a VIRTUAL column leaving a gap,
 *    except the new row of an UPDATE, which is numbered like a rowid table;
 *  - a row written before ALTER TABLE ADD COLUMN ... DEFAULT gives a shared
 *    NULL object for that column instead of the default (fixed in 3.47). */
#ifndef RESQL_PREUPDATE_LAYOUT_H
#define RESQL_PREUPDATE_LAYOUT_H

#include <sqlite3.h>

enum { RESQL_IMAGE_OLD, RESQL_IMAGE_INSERT, RESQL_IMAGE_UPDATE_NEW, RESQL_IMAGES };

typedef struct resql_layout {
    int by_position[2][RESQL_IMAGES];   /* [without_rowid][image]: 1 = table positions */
    const sqlite3_value *missing;       /* the "column not in this record" object, or NULL */
} resql_layout;

const resql_layout *resql__preupdate_layout(void);

#endif
