/* WebRTC includes "Mmsystem.h"; mingw-w64 ships it as <mmsystem.h>, and Linux file names are
 * case-sensitive. Used only by the Windows cross-build (packaging/windows/cross/config.site). */
#include <mmsystem.h>
