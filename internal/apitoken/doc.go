// Package apitoken makes, stores and checks the bearer token of the
// updater's HTTP API.
//
// A token is "bput_" and 32 random bytes in unpadded base64url. Only its
// SHA-256 is stored, in a small YAML file (apiVersion/kind, the hash, when
// it was made) of mode 0600 in the state folder, written atomically; the
// token itself is shown once, by `better-paas-updater token create` or
// `token rotate`, and exists nowhere else. A Verifier compares a presented
// token with the stored hash in constant time and notices a rotated file
// without a restart of the daemon.
package apitoken
