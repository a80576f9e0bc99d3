// mqflux patch: tests of the Receive Maximum flag.

package packets

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConnectValidateReceiveMaximumZero(t *testing.T) {
	connect := func(props ...byte) []byte {
		b := []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, byte(len(props))}
		b = append(b, props...)
		return append(b, 0, 2, 'i', 'd')
	}
	tests := []struct {
		name string
		body []byte
		want Code
	}{
		{"absent", connect(), CodeSuccess},
		{"10", connect(PropReceiveMaximum, 0, 10), CodeSuccess},
		{"0", connect(PropReceiveMaximum, 0, 0), ErrProtocolViolationZeroReceiveMaximum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pk := Packet{ProtocolVersion: 5, FixedHeader: FixedHeader{Type: Connect, Remaining: len(tt.body)}}
			require.NoError(t, pk.ConnectDecode(tt.body))
			require.Equal(t, tt.want, pk.ConnectValidate())
			require.Equal(t, len(tt.body) > len(connect()), pk.Properties.ReceiveMaximumFlag)
		})
	}
}
