//go:build !silttest

package main

// holdShutdown does nothing: production builds read no test variables.
func holdShutdown() {}
