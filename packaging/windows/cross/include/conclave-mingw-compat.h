/* Force-included (-include) into the Windows cross-build of WebRTC audio processing
 * (packaging/windows/cross/config.site). GCC has no MSVC structured exception handling, and
 * WebRTC's rtc::SetCurrentThreadName wraps a debugger "thread name" RaiseException in
 * __try/__except. libstdc++ already defines __try as `try`; this turns __except into
 * `catch (...)` so the file compiles. Only system_wrappers' ThreadWrapper calls that
 * function, and the audio processing module starts no thread, so it is never reached. */
#ifndef CONCLAVE_MINGW_COMPAT_H
#define CONCLAVE_MINGW_COMPAT_H
#if defined(__cplusplus) && defined(__MINGW32__) && !defined(_MSC_VER)
#define __except(filter) catch (...)
#endif
#endif
