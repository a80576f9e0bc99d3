package latest

// DefaultMaxSeries is how many series (device and measurement) a server's
// Store remembers unless configured otherwise.
const DefaultMaxSeries = 100_000
