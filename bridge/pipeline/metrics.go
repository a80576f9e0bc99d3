package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received, spooled, pushedBack *prometheus.CounterVec // {source}
	rejected                      *prometheus.CounterVec // {source, reason}
	deadLettered                  *prometheus.CounterVec // {source}
	deadLetterErrors              prometheus.Counter
	influxRejected                prometheus.Counter
	writeRetries                  prometheus.Counter
	written                       prometheus.Counter
	batchSeconds                  prometheus.Histogram
	spoolRecords, spoolBytes      prometheus.GaugeFunc
}

func newMetrics(p *Pipeline) *metrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &metrics{
		received:         cv("mqflux_readings_received_total", "Readings received, by input.", "source"),
		spooled:          cv("mqflux_readings_spooled_total", "Readings appended to the spool (acknowledged to their sender).", "source"),
		pushedBack:       cv("mqflux_readings_pushed_back_total", "Readings refused because the spool was full; the sender keeps and resends them.", "source"),
		rejected:         cv("mqflux_readings_rejected_total", "Readings that can never become a point, by input and reason; each is in the dead-letter file.", "source", "reason"),
		deadLettered:     cv("mqflux_dead_letters_total", "Entries written to the dead-letter file, by where the rejection came from.", "source"),
		deadLetterErrors: c("mqflux_dead_letter_errors_total", "Dead-letter entries that could not be written (the reading was still counted and logged)."),
		influxRejected:   c("mqflux_readings_influx_rejected_total", "Spooled readings InfluxDB refused as malformed (dead-lettered)."),
		writeRetries:     c("mqflux_write_retries_total", "Batches the output answered with an error, offered again after a backoff (the InfluxDB writer retries inside its writes and never adds to this)."),
		written:          c("mqflux_readings_written_total", "Readings stored in InfluxDB and removed from the spool."),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mqflux_write_batch_seconds",
			Help:    "Time to store one batch, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		spoolRecords: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_spool_records", Help: "Readings in the spool, not yet stored in InfluxDB.",
		}, func() float64 { return float64(p.spool.Stats().Records) }),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_spool_bytes", Help: "Bytes of spool segment files on disk (what spool.max_bytes bounds).",
		}, func() float64 { return float64(p.spool.Stats().DiskBytes) }),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.received, m.spooled, m.pushedBack, m.rejected, m.deadLettered,
		m.deadLetterErrors, m.influxRejected, m.writeRetries, m.written, m.batchSeconds, m.spoolRecords, m.spoolBytes}
}
