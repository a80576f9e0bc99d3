package testenv

// Pid is the running influxd's process id (for CPU accounting).
func (i *Influx) Pid() int { return i.cmd.Process.Pid }
