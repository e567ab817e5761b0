/* Test-only stand-in for Windows' bcryptprimitives.dll, for running Conclave under Debian 12's
 * Wine 8.0, which does not have that DLL (Wine 9 does; Windows has had it since Windows 8).
 * Rust's standard library (1.78 and later) draws its randomness from ProcessPrng there.
 * test-msi.sh and wine-screenshot.sh put it into their throwaway Wine prefix; it is never part
 * of the MSI. */
#include <windows.h>

/* advapi32's RtlGenRandom, which Wine 8 has. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) {
      return FALSE;
    }
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}
