// Package metadatatest has scripted metadata hosts for tests of the
// protocol's clients: hosts that speak only V1, or hang up mid-request,
// which the real server never does.
package metadatatest

import (
	"bufio"
	"io"
	"net"
	"strings"
)

// Host serves one end of a pipe and returns the other, the client's:
// handle answers each request line (given without its newline); when it
// says !ok, the host hangs up instead.
func Host(handle func(line string) (answer string, ok bool)) net.Conn {
	cs, ss := net.Pipe()
	go func() {
		defer ss.Close()
		br := bufio.NewReader(ss)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			out, ok := handle(strings.TrimSuffix(l, "\n"))
			if !ok {
				return
			}
			if _, err := io.WriteString(ss, out); err != nil {
				return
			}
		}
	}()
	return cs
}

// V1Host is a host from before V2: it answers NEGOTIATE with FAILURE, as
// an unknown command, and every other line with handle.
func V1Host(handle func(line string) string) net.Conn {
	return Host(func(l string) (string, bool) {
		if strings.HasPrefix(l, "NEGOTIATE") {
			return "FAILURE\n", true
		}
		return handle(l), true
	})
}
