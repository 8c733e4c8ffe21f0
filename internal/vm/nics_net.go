package vm

import "hull/internal/network/bw"

// validMaxBW checks nics.*.maxbw, Crossbow's bandwidth cap: a number with
// an optional K, M or G suffix (megabits without one), at least 1.2M;
// "0" or "" lifts the cap.
func validMaxBW(s string) bool {
	_, err := bw.Parse(s)
	return err == nil
}
