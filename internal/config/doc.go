// Package config reads switchhook's YAML configuration. Every key has a
// default, so an absent file or an empty one runs a working demo; unknown keys
// and bad values are refused with the path of the key (webhooks[0].timeout)
// and what is wrong with it, before anything starts.
package config
