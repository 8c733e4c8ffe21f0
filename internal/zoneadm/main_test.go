package zoneadm

import (
	"testing"

	"hull/internal/testenv"
)

// The hull binary the tests build is removed when they end.
func TestMain(m *testing.M) { testenv.Main(m) }
