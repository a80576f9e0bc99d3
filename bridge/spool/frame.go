package spool

import (
	"encoding/binary"
	"hash/crc32"
)

// A record on disk is framed as
//
//	uint32 little-endian payload length | uint32 little-endian CRC-32C | payload
//
// The checksum covers the length bytes too, so a zero-filled or garbled
// header is caught even when it happens to describe a plausible length.
const frameHeader = 8

// MaxRecordBytes bounds one record. Recovery treats a length beyond it as
// damage, so it must never shrink between releases.
const MaxRecordBytes = 16 << 20

type frameStatus int

const (
	frameOK          frameStatus = iota
	frameShort                   // the frame runs past the end of the bytes given
	frameBadLength               // the length field is zero or beyond MaxRecordBytes
	frameBadChecksum             // the frame is whole but its checksum does not match
)

func (st frameStatus) String() string {
	switch st {
	case frameOK:
		return "ok"
	case frameShort:
		return "partial record"
	case frameBadLength:
		return "invalid record length"
	case frameBadChecksum:
		return "checksum mismatch"
	}
	return "unknown"
}

func checksum(lenBytes, payload []byte) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli) // cached by hash/crc32 after the first call
	return crc32.Update(crc32.Update(0, tab, lenBytes), tab, payload)
}

// appendFrame appends the frame of rec to dst. The header is built in dst
// itself: a local array would escape through hash/crc32 and cost an
// allocation per record.
func appendFrame(dst, rec []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	hdr := dst[start:]
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(hdr[4:], checksum(hdr[:4], rec))
	return append(dst, rec...)
}

// decodeFrame reads the frame at the start of buf. size is the whole frame's
// length when the header could be read (even for frameShort and
// frameBadChecksum), so a caller can fetch the rest or report where it ends.
func decodeFrame(buf []byte) (rec []byte, size int, st frameStatus) {
	if len(buf) < frameHeader {
		return nil, frameHeader, frameShort
	}
	n := binary.LittleEndian.Uint32(buf)
	if n == 0 || n > MaxRecordBytes {
		return nil, 0, frameBadLength
	}
	size = frameHeader + int(n)
	if len(buf) < size {
		return nil, size, frameShort
	}
	if checksum(buf[:4], buf[frameHeader:size]) != binary.LittleEndian.Uint32(buf[4:]) {
		return nil, size, frameBadChecksum
	}
	return buf[frameHeader:size:size], size, frameOK
}
