package segment

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
const FrameHeader = 8

// MaxRecordBytes bounds one record. Recovery treats a length beyond it as
// damage, so it must never shrink between releases.
const MaxRecordBytes = 16 << 20

// Status says whether a frame reads back whole.
type Status int

const (
	OK          Status = iota
	Short              // the frame runs past the end of the bytes given
	BadLength          // the length field is zero or beyond MaxRecordBytes
	BadChecksum        // the frame is whole but its checksum does not match
)

func (st Status) String() string {
	switch st {
	case OK:
		return "ok"
	case Short:
		return "partial record"
	case BadLength:
		return "invalid record length"
	case BadChecksum:
		return "checksum mismatch"
	}
	return "unknown"
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, lenBytes), castagnoli, payload)
}

// AppendFrame appends the frame of rec to dst. The header is built in dst
// itself: a local array would escape through hash/crc32 and cost an
// allocation per record.
func AppendFrame(dst, rec []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, FrameHeader)...)
	hdr := dst[start:]
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(hdr[4:], checksum(hdr[:4], rec))
	return append(dst, rec...)
}

// DecodeFrame reads the frame at the start of buf. size is the whole frame's
// length when the header could be read (even for Short and BadChecksum), so
// a caller can fetch the rest or report where it ends.
func DecodeFrame(buf []byte) (rec []byte, size int, st Status) {
	if len(buf) < FrameHeader {
		return nil, FrameHeader, Short
	}
	n := binary.LittleEndian.Uint32(buf)
	if n == 0 || n > MaxRecordBytes {
		return nil, 0, BadLength
	}
	size = FrameHeader + int(n)
	if len(buf) < size {
		return nil, size, Short
	}
	if checksum(buf[:4], buf[FrameHeader:size]) != binary.LittleEndian.Uint32(buf[4:]) {
		return nil, size, BadChecksum
	}
	return buf[FrameHeader:size:size], size, OK
}
