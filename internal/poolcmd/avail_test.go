package poolcmd

import (
	"testing"

	"hull/internal/pool"
)

func TestAvail(t *testing.T) {
	const g = int64(1) << 30
	for _, tt := range []struct {
		name       string
		d          pool.Dataset
		free, want int64
	}{
		{"no quota: the pool's free space", pool.Dataset{Name: "zones/a", Refer: g}, 5 * g, 5 * g},
		{"quota nearer than the pool's end", pool.Dataset{Name: "zones/a", Quota: 2 * g, Refer: g}, 5 * g, g},
		{"pool fuller than the quota allows", pool.Dataset{Name: "zones/a", Quota: 10 * g, Refer: g}, 3 * g, 3 * g},
		{"quota used up", pool.Dataset{Name: "zones/a", Quota: g, Refer: 2 * g}, 3 * g, 0},
		{"pool free unknown", pool.Dataset{Name: "zones/a", Quota: 2 * g, Refer: g}, -1, g},
		{"snapshot", pool.Dataset{Name: "zones/a@s", Refer: g}, 5 * g, -1},
	} {
		if got := avail(tt.d, tt.free); got != tt.want {
			t.Errorf("%s: avail = %d, want %d", tt.name, got, tt.want)
		}
	}
}
