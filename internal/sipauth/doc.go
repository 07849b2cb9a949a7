// Package sipauth authenticates SIP requests on the server side with HTTP
// digest (RFC 3261 §22, with the MD5 and SHA-256 algorithms of RFC 8760): it
// builds 401/407 challenges with stateless signed nonces, verifies the
// Authorization or Proxy-Authorization a client answers with, and slows down
// an address that keeps failing. Digest arithmetic is github.com/icholy/digest,
// the library sipgo uses on the client side.
package sipauth
