package ratchet

// DecodeRecordFast exposes the fast-path record decoder (decode.go) to the
// tests of package ratchet_test.
var DecodeRecordFast = decodeRecordFast
