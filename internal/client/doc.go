// Package client is a typed Go client of switchhook's management API, one
// method per route. The CLI talks to a running server through it, and tests
// can drive a server with it. A refused request comes back as an *Error
// carrying the API's own message and the field it names.
package client
