package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// benchRelayEnv, when set to the receiver's URL, makes the test binary the
// benchmark's bare relay: the least that any service taking events in over
// HTTP and delivering them over HTTP does, with Go's HTTP server and client
// as switchhook uses them, and nothing else: no store, no signing, no
// retries, no order. Its CPU per event is the floor under switchhook's on
// the same machine and load:
//
//   - POST /relay (path relay, the floor of path test) reads the body,
//     answers 202 and hands the body to one of 64 workers, which post it to
//     the receiver with the webhook-id the request had;
//   - POST /pump?n=N&rate=R (path pump, the floor of path sim) makes N
//     events itself at R a second, one timer wake-up each, stamped with
//     their occurred_at, and hands them to the same workers.
const benchRelayEnv = "SWITCHHOOK_BENCH_RELAY"

// benchRelayWorkers matches the endpoint's max_in_flight in switchhook's
// runs.
const benchRelayWorkers = 64

func benchRelayMain(target string) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	type msg struct {
		id   string
		body []byte
	}
	work := make(chan msg, 4096)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchRelayWorkers, IdleConnTimeout: time.Minute}}
	for range benchRelayWorkers {
		go func() {
			for m := range work {
				if err := benchPost(client, target, m.id, m.body); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
			}
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /relay", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		work <- msg{id: r.Header.Get("webhook-id"), body: body}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /pump", func(w http.ResponseWriter, r *http.Request) {
		n, err1 := strconv.Atoi(r.FormValue("n"))
		rate, err2 := strconv.Atoi(r.FormValue("rate"))
		if err1 != nil || err2 != nil || n < 0 || rate <= 0 {
			http.Error(w, "pump: n and rate (> 0) are whole numbers", http.StatusBadRequest)
			return
		}
		go func() {
			start := time.Now()
			interval := time.Second / time.Duration(rate)
			for i := range n {
				if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
					time.Sleep(wait)
				}
				id := fmt.Sprintf("pump_%d", i)
				work <- msg{id: id, body: rawBody(id, i)}
			}
		}()
		w.WriteHeader(http.StatusAccepted)
	})
	exitWithTest()
	fmt.Printf("http://%s\n", l.Addr())
	http.Serve(l, mux)
	return 0
}

// exitWithTest ends a helper process when its standard input closes (the
// test ended), or after two hours.
func exitWithTest() {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	go func() {
		time.Sleep(2 * time.Hour)
		os.Exit(0)
	}()
}
