// Package deploy holds no code: it is the home of the Dockerfile, the
// docker-compose stack, the Grafana provisioning, the systemd unit and the
// operator's guide (README.md), and of the tests that check them against
// real components: the dashboard's InfluxQL queries run on a real InfluxDB, the
// Dockerfile's build command runs here, the unit file is parsed and, where
// systemd-analyze exists, verified.
package deploy
