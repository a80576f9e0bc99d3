package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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
	// Per output, labelled {output}.
	outWritten, outRejected, outRetries *prometheus.CounterVec
	outLag                              *lagCollector
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
		influxRejected:   c("mqflux_readings_influx_rejected_total", "Spooled readings the first required output (InfluxDB) refused as malformed (dead-lettered); per output: mqflux_output_rejected_total."),
		writeRetries:     c("mqflux_write_retries_total", "Batches an output answered with an error, offered again after a backoff, all outputs together (the InfluxDB writer retries inside its writes and never adds to this)."),
		written:          c("mqflux_readings_written_total", "Readings stored by the first required output (InfluxDB); per output: mqflux_output_written_total."),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mqflux_write_batch_seconds",
			Help:    "Time the first required output took to store one batch, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		spoolRecords: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_spool_records", Help: "Readings in the spool not yet stored by every required output (the count of the one furthest behind).",
		}, func() float64 { return float64(p.spool.Stats().Records) }),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_spool_bytes", Help: "Bytes of spool segment files on disk (what spool.max_bytes bounds).",
		}, func() float64 { return float64(p.spool.Stats().DiskBytes) }),
		outWritten:  cv("mqflux_output_written_total", "Readings an output stored.", "output"),
		outRejected: cv("mqflux_output_rejected_total", "Readings an output refused for good (dead-lettered with reason <output>_rejected).", "output"),
		outRetries:  cv("mqflux_output_retries_total", "Batches an output answered with an error, offered again after a backoff.", "output"),
		outLag:      &lagCollector{p: p},
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.received, m.spooled, m.pushedBack, m.rejected, m.deadLettered,
		m.deadLetterErrors, m.influxRejected, m.writeRetries, m.written, m.batchSeconds, m.spoolRecords, m.spoolBytes,
		m.outWritten, m.outRejected, m.outRetries, m.outLag}
}

// lagCollector reports each output's spool reader as it is at scrape time.
type lagCollector struct{ p *Pipeline }

var (
	lagSkippedDesc = prometheus.NewDesc("mqflux_output_skipped_total",
		"Readings an optional output skipped because it fell more than its max_lag behind or held the spool full.", []string{"output"}, nil)
	lagRecordsDesc = prometheus.NewDesc("mqflux_output_lag_records",
		"Readings in the spool an output has not stored yet.", []string{"output"}, nil)
	lagBytesDesc = prometheus.NewDesc("mqflux_output_lag_bytes",
		"Bytes of spool an output has not stored yet.", []string{"output"}, nil)
	lagSecondsDesc = prometheus.NewDesc("mqflux_output_lag_seconds",
		"Age of the oldest reading an output has not stored yet; 0 when it is up to date.", []string{"output"}, nil)
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagSkippedDesc
	ch <- lagRecordsDesc
	ch <- lagBytesDesc
	ch <- lagSecondsDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, o := range c.p.runs {
		st := o.rd.Stats()
		age := 0.0
		if !st.Oldest.IsZero() {
			age = now.Sub(st.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(lagSkippedDesc, prometheus.CounterValue, float64(st.Skipped), o.Name)
		ch <- prometheus.MustNewConstMetric(lagRecordsDesc, prometheus.GaugeValue, float64(st.LagRecords), o.Name)
		ch <- prometheus.MustNewConstMetric(lagBytesDesc, prometheus.GaugeValue, float64(st.LagBytes), o.Name)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, age, o.Name)
	}
}
