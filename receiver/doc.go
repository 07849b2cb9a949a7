// Package receiver checks and decodes the webhooks switchhook sends: it
// verifies the Standard Webhooks signature (webhook-id, webhook-timestamp,
// webhook-signature) against the endpoint's secret, refuses stale or future
// timestamps, and parses the body into an Event with every field of the
// standard and extended payload profiles. A complete receiver:
//
//	func main() {
//		http.Handle("/webhooks", &receiver.Handler{
//			Secret: os.Getenv("SWITCHHOOK_SECRET"), // whsec_...
//			Handle: func(ctx context.Context, e *receiver.Event) error {
//				log.Printf("%s call %s from %s to %s", e.Kind, e.CallUUID, e.CallerIDNumber, e.DestinationNumber)
//				return nil // an error answers 500 and switchhook tries again later
//			},
//		})
//		log.Fatal(http.ListenAndServe(":8000", nil))
//	}
//
// Delivery is at least once: the same event can arrive twice, with the same
// WebhookID, so deduplicate on it. A call's events reach one endpoint in order.
package receiver
