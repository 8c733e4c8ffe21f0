package vm

import (
	"regexp"
	"sync"
)

// lazyRE compiles its pattern on first use: every hull command links
// this package, and most never validate, so start-up need not pay for
// compiling every pattern.
type lazyRE struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

func newLazyRE(src string) *lazyRE { return &lazyRE{src: src} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.src) })
	return l.re
}

func (l *lazyRE) MatchString(s string) bool { return l.get().MatchString(s) }

func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
