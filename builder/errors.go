package builder

import (
	"regexp"
	"strings"
)

// firstErrorPatterns match the lines that name a build's first real error,
// in order of preference.
var firstErrorPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^\S+:\d+:\d+: (fatal )?error: .*`), // gcc/clang: file:line:col: error: msg
	regexp.MustCompile(`^\S+:\d+: error: .*`),              // ld, as
	regexp.MustCompile(`(undefined reference to|multiple definition of) .*`),
	regexp.MustCompile(`^\S+:\d+: \*\*\* .*`),                   // make: Makefile:12: *** message
	regexp.MustCompile(`^(\*\*\*|ERROR:|Error:|error:) .*`),     // kconfig, modpost, scripts
	regexp.MustCompile(`^make(\[\d+\])?: \*\*\* .*Error \d+.*`), // last resort: make's own summary
}

// FirstError returns the first line of a build log that names an error,
// preferring compiler and linker diagnostics (with file:line) over make's
// summaries. It returns "" when no line matches.
func FirstError(log []byte) string {
	lines := strings.Split(string(log), "\n")
	for _, re := range firstErrorPatterns {
		for _, l := range lines {
			l = strings.TrimRight(l, "\r")
			if m := re.FindString(l); m != "" {
				return strings.TrimSpace(l)
			}
		}
	}
	return ""
}
