package svcadm

import "hull/internal/smf/manifest"

func matches(pat, fmri string) bool { return manifest.Match(pat, fmri) }
