#include "internal.h"

RESQL_API const char *resql_version(void) { return RESQL_VERSION; }

RESQL_API int resql_version_number(void) { return RESQL_VERSION_NUMBER; }

RESQL_API int resql_abi_version(void) { return RESQL_ABI_VERSION; }
