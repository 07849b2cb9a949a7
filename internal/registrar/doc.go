// Package registrar is the PBX's location service (RFC 3261 §10): it applies
// authenticated REGISTER requests to the bindings of each extension (several
// contacts per extension, expiry, removal of one contact or all with "*"),
// and answers which contacts an extension can be reached at. Bindings live in
// memory: phones re-register well within their expiry, so a restart loses
// nothing that is not restored in one registration interval.
package registrar
