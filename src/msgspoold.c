/* msgspoold: placeholder until the daemon issue; prints help. */
#include "config.h"
#include <stdio.h>
#include <sysexits.h>

int main(void)
{
	fputs("msgspoold: not built yet; use 'msgspool send'\n", stderr);
	return EX_UNAVAILABLE;
}
