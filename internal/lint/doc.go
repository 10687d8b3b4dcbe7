// Package lint holds tests that enforce the project's dependency rules
// (ARCHITECTURE.md, "Dependency rules"), as Pebble's forbidden-imports lint
// test does for Pebble.
package lint
