// Package e2e holds the end-to-end tests of mqflux: real `mqflux serve`
// processes, real Debian mosquitto clients and brokers, a real InfluxDB.
// It has no code of its own beyond this file.
package e2e
