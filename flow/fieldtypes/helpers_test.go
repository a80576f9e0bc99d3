package fieldtypes

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func counterValue(t testing.TB, s *Store) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.unchecked.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
