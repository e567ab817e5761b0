/* WebRTC includes <Windows.h>; mingw-w64 ships it as <windows.h>, and Linux file names are
 * case-sensitive. Used only by the Windows cross-build (packaging/windows/cross/config.site). */
#include <windows.h>
