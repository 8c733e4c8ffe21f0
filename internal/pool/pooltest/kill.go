package pooltest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hull/internal/pool"
)

// Opener opens a driver's pool kept in store with datasets under
// mountRoot, as the driver's New does.
type Opener func(store, mountRoot string) (pool.Driver, error)

// CrashChild is the child's side of Crash: when the environment variable
// env is set (to "store:mountRoot"), the test binary is a child that
// Crash started, and it opens the pool and churns until it is killed.
// A driver's crash test calls it first.
func CrashChild(env string, open Opener) {
	v := os.Getenv(env)
	if v == "" {
		return
	}
	store, mroot, _ := strings.Cut(v, ":")
	d, err := open(store, mroot)
	if err == nil {
		err = Churn(d, 1000)
	}
	fmt.Fprintln(os.Stderr, "churn:", err)
	os.Exit(1)
}

// Crash starts the running test again as a child (see CrashChild) for
// rounds rounds (5 with -short), kills it after minDelay plus up to
// 300 ms, and after each kill reopens the pool and checks it with
// CheckChurn.
func Crash(t *testing.T, env, store, mountRoot string, rounds int, minDelay time.Duration, open Opener) {
	t.Helper()
	if testing.Short() {
		rounds = 5
	}
	for i := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
		cmd.Env = append(os.Environ(), env+"="+store+":"+mountRoot)
		out := new(strings.Builder)
		cmd.Stderr = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(minDelay + time.Duration(rand.IntN(300))*time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if strings.Contains(out.String(), "churn:") {
			t.Fatalf("round %d: child stopped before the kill: %s", i, out)
		}
		d, err := open(store, mountRoot)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", i, err)
		}
		CheckChurn(t, d)
		if t.Failed() {
			t.Fatalf("round %d: pool inconsistent after the kill", i)
		}
	}
}
