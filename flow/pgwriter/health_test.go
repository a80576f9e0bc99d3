package pgwriter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// What is retried and what is a refusal of the data, by SQLSTATE.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string
		retry  bool
	}{
		{errors.New("dial tcp: connection refused"), "network", true},
		{&pgconn.PgError{Code: "08006"}, "network", true},
		{&pgconn.PgError{Code: "28P01"}, "unauthorized", true},
		{&pgconn.PgError{Code: "42501"}, "unauthorized", true},
		{&pgconn.PgError{Code: "3D000"}, "not_found", true},
		{&pgconn.PgError{Code: "3F000"}, "not_found", true},
		{&pgconn.PgError{Code: "57P01"}, "busy", true},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, "busy", true},
		{&pgconn.PgError{Code: "57014", Message: `COPY from stdin failed: unable to encode "hot" into binary format for float8`}, "refused", false},
		{&pgconn.PgError{Code: "53300"}, "busy", true},
		{&pgconn.PgError{Code: "40P01"}, "busy", true},
		{&pgconn.PgError{Code: "XX000"}, "server_error", true},
		{&pgconn.PgError{Code: "42804"}, "refused", false},
		{&pgconn.PgError{Code: "23514"}, "refused", false},
		{&pgconn.PgError{Code: "22P02"}, "refused", false},
		{fmt.Errorf("read the columns: %w", &pgconn.PgError{Code: "42P01"}), "refused", false},
	} {
		reason, retry := classify(tc.err)
		if reason != tc.reason || retry != tc.retry {
			t.Errorf("classify(%v) = %s, %v; want %s, %v", tc.err, reason, retry, tc.reason, tc.retry)
		}
	}
}
