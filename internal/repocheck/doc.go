// Package repocheck holds the checks of the repository itself that make
// test runs: what may and may not be committed.
package repocheck
