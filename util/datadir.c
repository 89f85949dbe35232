/*
 * datadir.c — the installed default of the rules directory (see datadir.h).
 *
 * /proc/self/exe rather than argv[0]: it is the real file even when the
 * program was found on PATH or through a symlink (a symlink in /usr/bin to
 * /opt/contactd/bin/contactd still finds /opt/contactd/share).
 */
#include "util/datadir.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *cd_datadir_rules(void)
{
	static char dir[PATH_MAX + 32];
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1) {
		snprintf(dir, sizeof(dir), "rules");
		return dir;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	/* <bindir>/../share: the bin directory's parent is the prefix */
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(dir, sizeof(dir), "%s/share/contactd/rules", slash ? exe : ".");
	return dir;
}
