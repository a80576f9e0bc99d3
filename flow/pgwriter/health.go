package pgwriter

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// classify names a failure for the retries count and health, and says
// whether it is one to retry: anything of the connection, the server's
// state, the login, privileges or a missing database or schema. What is
// left is PostgreSQL refusing the statement for its data.
func classify(err error) (reason string, retry bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "network", true
	}
	// pgx ends a COPY whose rows it cannot encode by failing it, which the
	// server reports as a cancelled query: a refusal of the data, for
	// bisecting, not an outage.
	if pe.Code == "57014" && strings.HasPrefix(pe.Message, "COPY from stdin failed") {
		return "refused", false
	}
	switch pe.Code[:2] {
	case "08":
		return "network", true
	case "28":
		return "unauthorized", true
	case "3D", "3F":
		return "not_found", true
	case "53", "57", "40":
		return "busy", true
	case "58", "XX":
		return "server_error", true
	}
	switch pe.Code {
	case "42501": // insufficient_privilege
		return "unauthorized", true
	case "55P03", "55006": // lock_not_available, object_in_use
		return "busy", true
	case "42P10":
		// No unique index matching ON CONFLICT: another writer is
		// rebuilding the table's key for a new tag in its transaction.
		// Retried, the table is learnt again with the new key.
		return "busy", true
	}
	return "refused", false
}

// hint tells the operator what to look at for each kind of failure.
func hint(reason string) string {
	switch reason {
	case "unauthorized":
		return "the user and password in url, and that the user may CREATE in the schema and write its tables"
	case "not_found":
		return "the database in url and the schema key: both must exist (CREATE SCHEMA)"
	case "busy":
		return "PostgreSQL is starting, shutting down, out of connections or resources"
	case "server_error":
		return "the PostgreSQL server's own log"
	default:
		return "url: is PostgreSQL running and reachable from here?"
	}
}
