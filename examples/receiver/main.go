// Command receiver is a webhook receiver for trying switchhook: it verifies
// each request's signature with the endpoint's secret and prints the event.
//
//	SWITCHHOOK_SECRET=whsec_... go run ./examples/receiver -listen 127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/switchhook/switchhook/receiver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	secret := os.Getenv("SWITCHHOOK_SECRET")
	if secret == "" {
		log.Fatal("set SWITCHHOOK_SECRET to the endpoint's secret (whsec_…)")
	}
	http.Handle("/", &receiver.Handler{
		Secret: secret,
		Handle: func(ctx context.Context, e *receiver.Event) error {
			fmt.Printf("verified %-12s call %s  %s -> %s  at %s  (webhook-id %s)\n",
				e.Kind, e.CallUUID, e.CallerIDNumber, e.DestinationNumber, e.Timestamp, e.WebhookID)
			return nil
		},
		Refused: func(r *http.Request, status int, err error) {
			hint := ""
			if errors.Is(err, receiver.ErrNoSignature) {
				hint = " (is SWITCHHOOK_SECRET the endpoint's current secret? see: switchhook endpoints show ID)"
			}
			log.Printf("refused %s webhook-id %q from %s with %d: %v%s", r.Method, r.Header.Get(receiver.HeaderID), r.RemoteAddr, status, err, hint)
		},
	})
	log.Printf("listening on http://%s/", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
