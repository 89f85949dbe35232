/*
 * datadir.h — where the installed data (the rule files) is, found from the
 * program's own location, so that the binary works from any directory.
 *
 * The layout is the usual one: PREFIX/bin/contactd and
 * PREFIX/share/contactd/rules, whatever PREFIX (or DESTDIR) `make install`
 * used. The build tree has the same shape: build/MODE/contactd next to
 * build/share/contactd/rules, a link to the source tree's rules/.
 *
 * Precedence, for every command: --rules DIR (or `rules` in run's config
 * file), then $CONTACTD_RULES, then this default.
 */
#ifndef CD_UTIL_DATADIR_H
#define CD_UTIL_DATADIR_H

/*
 * The default rules directory: <dir of the executable>/../share/contactd/rules,
 * or "rules" when the executable's path cannot be read. Computed once; the
 * string is static (never freed). Call it from the main thread first.
 */
const char *cd_datadir_rules(void);

#endif
