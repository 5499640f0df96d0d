/*
 * Stand-in for Windows' bcryptprimitives.dll, for the wine lane only (scripts/wine-lane).
 *
 * Go >= 1.22 on Windows takes its random bytes from ProcessPrng in bcryptprimitives.dll, which wine 8
 * lacks, so every Go Windows binary dies at start under wine 8 with "bcryptprimitives.dll not found".
 * This DLL exports ProcessPrng and fills the buffer from RtlGenRandom (advapi32's SystemFunction036),
 * wine's own CSPRNG. It is never shipped: real Windows has the real DLL.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
