// Package hulld is the node daemon: it re-adopts zones when it starts,
// autoboots VMs, cleans up after zones whose init exited, keeps console
// logs bounded and serves the node's API on a unix socket. Zones do not
// depend on it: they keep running when it stops, crashes or is upgraded.
package hulld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"hull/internal/node"
	"hull/internal/vm"
)

// ConsoleMax bounds each zone's console log.
const ConsoleMax = 1 << 20

const usage = "Usage: hulld\n\nThe hull node daemon. HULL_ROOT selects the node's state directory.\n"

// Main runs hulld until SIGTERM or SIGINT. It takes no arguments: -h
// prints the usage (exit 0), anything else is a usage error (exit 2).
func Main(args []string, open func() (*node.Node, error), stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "hulld: unexpected argument %q\n%s", args[0], usage)
		return 2
	}
	n, err := open()
	if err != nil {
		log.Error("cannot open node", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, n, log); err != nil {
		log.Error("hulld", "err", err)
		return 1
	}
	return 0
}

// Run serves until ctx ends.
func Run(ctx context.Context, n *node.Node, log *slog.Logger) error {
	sock := n.Socket()
	// A socket left by a killed hulld is stale; a live one means another
	// hulld owns this node.
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another hulld is serving %s", sock)
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	os.Chmod(sock, 0o600)
	md := StartMetadata(ctx, n, log)
	defer md.Close()

	// The hulld before this one has stopped: the binaries other versions
	// of hull copied for their zones can go.
	if k, err := n.PruneBinaries(); err != nil {
		log.Warn("prune old hull binaries", "err", err)
	} else if k > 0 {
		log.Info("removed old hull binaries", "count", k)
	}

	n.WarmUserns = true
	adopted := n.Reconcile(ctx, log)
	// Managed networks' bridges, gateway addresses and NAT, made again
	// after a node reboot; addresses whose VM never came to be go back.
	if err := n.AllNetworksUp(); err != nil {
		log.Warn("managed networks", "err", err)
	}
	if err := n.PruneNetworks(); err != nil {
		log.Warn("managed networks: prune", "err", err)
	}
	if dh, err := n.DHCPServer(); err == nil {
		dh.Log = log
		go dh.Run(ctx)
	}
	vms, _ := n.List()
	running := 0
	for _, v := range vms {
		if v.State == "running" {
			running++
		}
	}
	log.Info("hulld started", "root", n.Root, "vms", len(vms), "running", running, "rebooted", len(adopted))
	// The API is served while VMs autoboot (per-VM locks keep the two
	// apart): a long autoboot must not leave vmadm without its daemon.
	srv := &http.Server{Handler: API(n), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	if !n.AutobootOnce(ctx, log) {
		log.Info("autoboot: done already since the host booted")
	}
	go n.WarmNextUserns()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("hulld stopping; zones keep running")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case <-tick.C:
			n.Reconcile(ctx, log)
			n.RotateConsoles(ConsoleMax)
		}
	}
}

// API is the node's HTTP API (JSON over the unix socket): the VM objects
// and the lifecycle actions, as the CLI and, later, a headnode use them.
func API(n *node.Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]string{"ping": "pong"})
	})
	mux.HandleFunc("GET /vms", func(w http.ResponseWriter, r *http.Request) {
		vms, err := n.ListShown()
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, vms)
	})
	mux.HandleFunc("GET /vms/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		v, err := n.GetShown(r.PathValue("uuid"))
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, v)
	})
	mux.HandleFunc("POST /vms", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			fail(w, err)
			return
		}
		v, err := n.Create(r.Context(), b)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, v)
	})
	mux.HandleFunc("POST /vms/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		uuid := r.PathValue("uuid")
		var err error
		switch r.URL.Query().Get("action") {
		case "start":
			err = n.Start(r.Context(), uuid)
		case "stop":
			secs, _ := strconv.Atoi(r.URL.Query().Get("timeout"))
			err = n.Stop(r.Context(), uuid, r.URL.Query().Get("force") == "true", time.Duration(secs)*time.Second)
		case "reboot":
			err = n.Reboot(r.Context(), uuid, r.URL.Query().Get("force") == "true")
		case "boot": // zoneadm's: autoboot left as it is
			err = n.Boot(r.Context(), uuid)
		case "halt":
			err = n.Halt(r.Context(), uuid, r.URL.Query().Get("force") == "true")
		case "update":
			b, rerr := io.ReadAll(io.LimitReader(r.Body, 8<<20))
			if rerr != nil {
				fail(w, rerr)
				return
			}
			_, err = n.Update(r.Context(), uuid, b)
		case "reprovision":
			b, rerr := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if rerr != nil {
				fail(w, rerr)
				return
			}
			img, perr := vm.ReprovisionImage(b)
			if perr != nil {
				reply(w, http.StatusBadRequest, map[string]string{"message": perr.Error()})
				return
			}
			err = n.Reprovision(r.Context(), uuid, img)
		default:
			reply(w, http.StatusBadRequest, map[string]string{"message": "unknown action"})
			return
		}
		switch {
		case errors.Is(err, node.ErrAlreadyRunning):
			reply(w, http.StatusConflict, map[string]string{"message": err.Error(), "code": codeAlreadyRunning})
			return
		case errors.Is(err, node.ErrNotRunning):
			reply(w, http.StatusConflict, map[string]string{"message": err.Error(), "code": codeNotRunning})
			return
		case errors.Is(err, node.ErrStopTimeout):
			reply(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		case err != nil:
			fail(w, err)
			return
		}
		v, err := n.Get(uuid)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, v)
	})
	mux.HandleFunc("DELETE /vms/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		if err := n.Delete(r.Context(), r.PathValue("uuid")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Codes of the conflicts the CLI reports as nothing-to-do.
const (
	codeAlreadyRunning = "EALREADYRUNNING"
	codeNotRunning     = "ENOTRUNNING"
)

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, node.ErrNoSuchVM) {
		code = http.StatusNotFound
	}
	reply(w, code, map[string]string{"message": err.Error()})
}
