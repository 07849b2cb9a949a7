// Package signature signs and verifies webhook requests as the Standard
// Webhooks specification says: an HMAC-SHA256 over "id.timestamp.body",
// keyed with the base64 bytes of a "whsec_" secret, sent as "v1,<base64>" in
// the webhook-signature header, several space-separated while a rotated-out
// secret is still valid. The sender and the public receiver package share it.
package signature
