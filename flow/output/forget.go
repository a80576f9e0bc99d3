package output

import "context"

// DeviceDeleter is a Config whose store can delete everything one device
// wrote: DELETE /v1/devices/{device}?data=true asks the first output when
// its configuration is one. A kind implements it in its store's own
// language (InfluxQL DROP SERIES, SQL DELETE), with the device name passed
// as data, never spliced into a statement unquoted.
type DeviceDeleter interface {
	// DeleteDevice deletes every point tagged with device. Deleting a
	// device the store never held is not an error.
	DeleteDevice(ctx context.Context, device string) error
}
