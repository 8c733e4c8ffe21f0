//go:build !zone

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"hull/internal/imgapi"
)

func init() { register("imgapi", runIMGAPI, false) }

const imgapiUsage = `Usage: hull imgapi serve --dir DIR --listen ADDR [--token TOKEN] [--channels FILE]

Serves the images in DIR over the IMGAPI protocol (GET /ping, /images,
/images/:uuid, /images/:uuid/file). With a token (or HULL_IMGAPI_TOKEN),
publishing (imgadm publish) is allowed to clients that present it.
With --channels (a JSON array of {"name", "description", "default"}),
the images are kept in those channels (GET /channels, ?channel=NAME).
`

func runIMGAPI(args []string) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprint(os.Stderr, imgapiUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("imgapi serve", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory holding the images")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	token := fs.String("token", os.Getenv("HULL_IMGAPI_TOKEN"), "token that publishing clients present")
	channelsFile := fs.String("channels", "", "JSON file of the server's channels")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprint(os.Stderr, imgapiUsage)
		return 2
	}
	repo, err := imgapi.OpenRepo(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hull imgapi:", err)
		return 1
	}
	var channels []imgapi.Channel
	if *channelsFile != "" {
		if channels, err = imgapi.LoadChannels(*channelsFile); err != nil {
			fmt.Fprintln(os.Stderr, "hull imgapi:", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hull imgapi:", err)
		return 1
	}
	srv := &http.Server{
		Handler:           &imgapi.Server{Repo: repo, Token: *token, Channels: channels},
		ReadHeaderTimeout: imgapi.ReadHeaderTimeout,
	}
	fmt.Fprintf(os.Stderr, "hull imgapi: serving %s on http://%s\n", *dir, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "hull imgapi:", err)
		return 1
	}
	return 0
}
