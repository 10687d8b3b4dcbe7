// Package crashtest drives a real syncd from the outside: it builds the
// binary, runs it as a child process on a free port with a temporary data
// directory, talks to it over HTTP (Client), kills it with SIGKILL at a
// random moment and restarts it on the same data directory. The crash test
// in this package checks that every acknowledged op survives and that
// versions stay gap-free; the reliability work reuses the harness for
// fault scenarios of its own.
package crashtest
