package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's Prometheus view of its counts (Stats): the
// counters are read from counts at scrape time, the histogram and the
// gauges are Prometheus' own.
type metrics struct {
	counts                   counts
	batchSeconds             prometheus.Histogram
	spoolRecords, spoolBytes prometheus.GaugeFunc
	collector                *countsCollector
	lag                      *lagCollector
}

func newMetrics(p *Pipeline) *metrics {
	m := &metrics{
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
	}
	m.collector, m.lag = &countsCollector{p: p}, &lagCollector{p: p}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.collector, m.batchSeconds, m.spoolRecords, m.spoolBytes, m.lag}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	receivedDesc   = desc("mqflux_readings_received_total", "Readings received, by input.", "source")
	spooledDesc    = desc("mqflux_readings_spooled_total", "Readings appended to the spool (acknowledged to their sender).", "source")
	pushedBackDesc = desc("mqflux_readings_pushed_back_total", "Readings refused because the spool was full; the sender keeps and resends them.", "source")
	rejectedDesc   = desc("mqflux_readings_rejected_total", "Readings that can never become a point, by input and reason; each is in the dead-letter file.", "source", "reason")
	deadDesc       = desc("mqflux_dead_letters_total", "Entries written to the dead-letter file, by where the rejection came from.", "source")
	deadErrDesc    = desc("mqflux_dead_letter_errors_total", "Dead-letter entries that could not be written (the reading was still counted and logged).")
	influxRejDesc  = desc("mqflux_readings_influx_rejected_total", "Spooled readings the first required output (InfluxDB) refused as malformed (dead-lettered); per output: mqflux_output_rejected_total.")
	retriesDesc    = desc("mqflux_write_retries_total", "Batches an output answered with an error, offered again after a backoff, all outputs together (the InfluxDB writer retries inside its writes and never adds to this).")
	writtenDesc    = desc("mqflux_readings_written_total", "Readings stored by the first required output (InfluxDB); per output: mqflux_output_written_total.")
	outWrittenDesc = desc("mqflux_output_written_total", "Readings an output stored.", "output")
	outRejDesc     = desc("mqflux_output_rejected_total", "Readings an output refused for good (dead-lettered with reason <output>_rejected).", "output")
	outRetriesDesc = desc("mqflux_output_retries_total", "Batches an output answered with an error, offered again after a backoff.", "output")
)

// countsCollector reports the pipeline's counts as they are at scrape time.
type countsCollector struct{ p *Pipeline }

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{receivedDesc, spooledDesc, pushedBackDesc, rejectedDesc, deadDesc, deadErrDesc,
		influxRejDesc, retriesDesc, writtenDesc, outWrittenDesc, outRejDesc, outRetriesDesc} {
		ch <- d
	}
}

func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	n := &c.p.m.counts
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	bySource := func(d *prometheus.Desc, v *counterVec) {
		v.each(func(source, _ string, n int64) { counter(d, n, source) })
	}
	bySource(receivedDesc, &n.received)
	bySource(spooledDesc, &n.spooled)
	bySource(pushedBackDesc, &n.pushedBack)
	n.rejected.each(func(source, reason string, v int64) { counter(rejectedDesc, v, source, reason) })
	bySource(deadDesc, &n.deadLettered)
	counter(deadErrDesc, n.deadLetterErrors.Load())
	counter(influxRejDesc, n.primaryRejected.Load())
	counter(retriesDesc, n.writeRetries.Load())
	counter(writtenDesc, n.written.Load())
	for _, o := range c.p.runs {
		counter(outWrittenDesc, o.written.Load(), o.Name)
		counter(outRejDesc, o.rejected.Load(), o.Name)
		counter(outRetriesDesc, o.retries.Load(), o.Name)
	}
}

// outputCounts are one output's counters, kept in its outputRun.
type outputCounts struct {
	written, rejected, retries atomic.Int64
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
