/* Stand-in for glibc's <execinfo.h>, which MinGW does not have. WebRTC audio processing's
 * checks.cc includes it to print a backtrace when a fatal check fails; on Windows builds it
 * prints none. Used only by the Windows cross-build (packaging/windows/cross/config.site). */
#ifndef CONCLAVE_MINGW_EXECINFO_H
#define CONCLAVE_MINGW_EXECINFO_H

#include <stddef.h>

static inline int backtrace(void **buffer, int size) {
  (void)buffer;
  (void)size;
  return 0;
}

static inline char **backtrace_symbols(void *const *buffer, int size) {
  (void)buffer;
  (void)size;
  return NULL;
}

#endif
