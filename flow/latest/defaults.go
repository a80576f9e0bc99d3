package latest

// DefaultMaxSeries is how many series (device and measurement) a server's
// Store remembers unless configured otherwise.
const DefaultMaxSeries = 100_000

// DefaultMaxSeriesPerDevice is how many of those series one device may
// take unless configured otherwise: far more measurements than a device
// has, far fewer than it takes to crowd out the other devices.
const DefaultMaxSeriesPerDevice = 256
