// Package all links in every kind of input, one file per kind holding a
// blank import of the kind's package (whose init registers it), so that
// adding a kind touches no file the server owns. The server imports
// this package.
package all
