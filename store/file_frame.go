package store

import (
	"encoding/binary"
	"hash/crc32"
)

// The frame format of a File store's write-ahead log. The layout is
// documented on File; the functions here are pure and shared by the writer,
// the scanner and Read.

const (
	// walMagic and walVersion open every log file (walHeaderSize bytes).
	walMagic      = "RTCHTWAL"
	walVersion    = 1
	walHeaderSize = 16

	// frameMagic opens every frame, little-endian (bytes c3 52 a7 1e).
	frameMagic = 0x1ea752c3
	// frameHeaderSize is the size of a frame's fixed header.
	frameHeaderSize = 24
	// maxFrameBody is the largest frame body the store writes or reads.
	maxFrameBody = 1 << 30
)

// frameKind says what a frame records.
type frameKind byte

// The frame kinds.
const (
	kindCreate frameKind = 1 // a run's creation: its RunInfo and first records
	kindAppend frameKind = 2 // one Batch: records and the new Meta
	kindLease  frameKind = 3 // a lease change: the run's new Lease
	kindDelete frameKind = 4 // a run's deletion
)

// frame is a decoded frame body.
type frame struct {
	kind  frameKind
	runID string
	// seq is the sequence of the first record (create: 1; append:
	// Expected+1; lease and delete: 0).
	seq     uint64
	records [][]byte
	// state is JSON: a RunInfo (create), a Meta (append) or a Lease
	// (lease); empty for a delete.
	state []byte
}

// frameHeader is a frame's decoded fixed header.
type frameHeader struct {
	size    uint32 // body length
	group   int64  // file offset of the first frame of the commit group
	bodyCRC uint32
}

// crc returns the CRC-32C (Castagnoli) checksum of b.
func crc(b []byte) uint32 {
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// bodySize returns an upper bound on the length of the body appendBody
// encodes.
func bodySize(runID string, records [][]byte, state []byte) int {
	n := 1 + uvarintLen(uint64(len(runID))) + len(runID) + binary.MaxVarintLen64 + uvarintLen(uint64(len(records)))
	for _, r := range records {
		n += uvarintLen(uint64(len(r))) + len(r)
	}
	return n + uvarintLen(uint64(len(state))) + len(state)
}

// appendBody appends the encoding of a frame body to dst:
//
//	kind byte, runID (uvarint length + bytes), seq (uvarint),
//	record count (uvarint), each record (uvarint length + bytes),
//	state (uvarint length + bytes).
func appendBody(dst []byte, fr frame) []byte {
	dst = append(dst, byte(fr.kind))
	dst = appendBytes(dst, []byte(fr.runID))
	dst = binary.AppendUvarint(dst, fr.seq)
	dst = binary.AppendUvarint(dst, uint64(len(fr.records)))
	for _, r := range fr.records {
		dst = appendBytes(dst, r)
	}
	return appendBytes(dst, fr.state)
}

// appendBytes appends b with a uvarint length prefix.
func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// uvarintLen returns the length of x's uvarint encoding.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendFrame appends a frame (header and body) to dst. bodyCRC must be
// crc(body).
func appendFrame(dst []byte, group int64, body []byte, bodyCRC uint32) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], frameMagic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(body)))
	binary.LittleEndian.PutUint64(h[8:], uint64(group))
	binary.LittleEndian.PutUint32(h[16:], bodyCRC)
	binary.LittleEndian.PutUint32(h[20:], crc(h[:20]))
	dst = append(dst, h[:]...)
	return append(dst, body...)
}

// parseHeader decodes and checks the frame header at the start of b, which
// must hold at least frameHeaderSize bytes. The error says what is wrong.
func parseHeader(b []byte) (frameHeader, error) {
	if binary.LittleEndian.Uint32(b[0:]) != frameMagic {
		return frameHeader{}, errorf(ErrCorrupt, "bad frame magic")
	}
	if got, want := crc(b[:20]), binary.LittleEndian.Uint32(b[20:]); got != want {
		return frameHeader{}, errorf(ErrCorrupt, "frame header checksum mismatch")
	}
	h := frameHeader{
		size:    binary.LittleEndian.Uint32(b[4:]),
		group:   int64(binary.LittleEndian.Uint64(b[8:])),
		bodyCRC: binary.LittleEndian.Uint32(b[16:]),
	}
	if h.size > maxFrameBody {
		return frameHeader{}, errorf(ErrCorrupt, "frame body length %d over limit", h.size)
	}
	return h, nil
}

// decodeBody decodes a frame body. The returned frame's records alias b,
// each with its capacity capped at its length.
func decodeBody(b []byte) (frame, error) {
	var fr frame
	if len(b) == 0 {
		return fr, errorf(ErrCorrupt, "empty frame body")
	}
	fr.kind = frameKind(b[0])
	if fr.kind < kindCreate || fr.kind > kindDelete {
		return fr, errorf(ErrCorrupt, "unknown frame kind %d", b[0])
	}
	d := decoder{b: b[1:]}
	fr.runID = string(d.bytes())
	fr.seq = d.uvarint()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every record takes at least one byte
		return fr, errorf(ErrCorrupt, "frame record count %d over body length", n)
	}
	if n > 0 {
		fr.records = make([][]byte, n)
		for i := range fr.records {
			fr.records[i] = d.bytes()
		}
	}
	fr.state = d.bytes()
	if d.err != nil {
		return frame{}, d.err
	}
	if len(d.b) != 0 {
		return frame{}, errorf(ErrCorrupt, "%d stray bytes after frame body", len(d.b))
	}
	return fr, nil
}

// decoder reads uvarints and length-prefixed byte strings, remembering the
// first error.
type decoder struct {
	b   []byte
	err error
}

// uvarint reads a uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errorf(ErrCorrupt, "bad varint in frame body")
		return 0
	}
	d.b = d.b[n:]
	return x
}

// bytes reads a length-prefixed byte string, aliasing the input.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errorf(ErrCorrupt, "byte string length %d over frame body", n)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// decodeFrames decodes the frames at the start of b. It returns the frames
// decoded, the length of the valid prefix of b they fill, and why decoding
// stopped before the end of b (nil if it did not). Frame records alias b.
// The file scanner applies the same checks to a stream.
func decodeFrames(b []byte) ([]frame, int, error) {
	var frames []frame
	off := 0
	for off < len(b) {
		fr, n, err := decodeFrame(b[off:])
		if err != nil {
			return frames, off, err
		}
		frames = append(frames, fr)
		off += n
	}
	return frames, off, nil
}

// decodeFrame decodes the frame at the start of b and returns it with its
// total length.
func decodeFrame(b []byte) (frame, int, error) {
	if len(b) < frameHeaderSize {
		return frame{}, 0, errorf(ErrCorrupt, "short frame header: %d bytes", len(b))
	}
	h, err := parseHeader(b)
	if err != nil {
		return frame{}, 0, err
	}
	end := frameHeaderSize + int(h.size)
	if len(b) < end {
		return frame{}, 0, errorf(ErrCorrupt, "short frame body: %d of %d bytes", len(b)-frameHeaderSize, h.size)
	}
	body := b[frameHeaderSize:end]
	if crc(body) != h.bodyCRC {
		return frame{}, 0, errorf(ErrCorrupt, "frame body checksum mismatch")
	}
	fr, err := decodeBody(body)
	if err != nil {
		return frame{}, 0, err
	}
	return fr, end, nil
}
