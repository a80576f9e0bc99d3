//go:build !linux

package broker

func setMaxUnsent(uintptr, int) {}
